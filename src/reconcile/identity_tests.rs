//! Recorded identity, end to end on the in-memory store (which models S3's conditions,
//! versioned buckets, Object Lock and a role's missing read permissions, and lets another
//! writer act at an exact moment): whose backup, whose upload, whose tags and locks the function
//! touches is decided from records and S3's own conditions, never from timestamps, key names or
//! a missing header. Each test names the defect of the identity issue it covers.

use super::test_support::{Store, memory, store};
use super::*;
use crate::apply::copy::{CopySettings, MAX_SINGLE_COPY};
use crate::apply::copy_state::CopyStateLocation;
use crate::backup_record::SourceRecord;
use crate::policy::document::parse_policy;
use crate::store::intercept::Operation;
use crate::store::memory::{MemoryStore, StoredObject, etag_of, full_object_checksum};

const MIB: u64 = 1024 * 1024;

fn store_with(buckets: &[&str]) -> Store {
    let memory = MemoryStore::new();
    for bucket in buckets {
        memory.create_bucket(bucket);
    }
    store(memory)
}

/// S3 with a role whose read permissions are not asserted (the command line's default).
fn options() -> Options {
    super::test_support::options(MAX_SINGLE_COPY, 5 * MIB, ServerSupport::S3)
}

fn event(bucket: &str, key: &str) -> ObjectRef {
    ObjectRef {
        location: ObjectLocation::current(bucket, key),
        etag: None,
        size: None,
        sequencer: None,
        event_name: Some("ObjectCreated:Put".into()),
        alternate_key: None,
    }
}

fn version_event(bucket: &str, key: &str, version: &str) -> ObjectRef {
    ObjectRef {
        location: ObjectLocation {
            version_id: Some(version.into()),
            ..ObjectLocation::current(bucket, key)
        },
        ..event(bucket, key)
    }
}

fn object(body: &[u8]) -> StoredObject {
    StoredObject {
        body: body.to_vec(),
        etag: etag_of(body),
        checksum: full_object_checksum("CRC64NVME", body),
        content_type: Some("text/plain".into()),
        ..StoredObject::default()
    }
}

/// A backup of `body` from `bucket`, as the function writes it (with its record).
fn recorded_backup(bucket: &str, body: &[u8]) -> StoredObject {
    let mut backup = object(body);
    backup.metadata = [
        (
            crate::backup_record::SOURCE_BUCKET.to_owned(),
            bucket.to_owned(),
        ),
        (crate::backup_record::SOURCE_ETAG.to_owned(), etag_of(body)),
    ]
    .into();
    backup
}

/// Defect 3: two source buckets under one catch-all rule never share a backup key: each
/// object's backup is under its bucket's name and records that bucket.
#[tokio::test]
async fn backups_of_two_buckets_never_share_a_key() {
    let store = store_with(&["bucket-a", "bucket-b", "backup-bucket"]);
    memory(&store).put("bucket-a", "config.json", b"{\"a\":1}", "application/json");
    memory(&store).put("bucket-b", "config.json", b"{\"b\":2}", "application/json");
    let policy = parse_policy("backup: backup-bucket").unwrap();
    for bucket in ["bucket-a", "bucket-b"] {
        let report = reconcile(&store, &policy, &event(bucket, "config.json"), &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    }
    for (bucket, body) in [("bucket-a", &b"{\"a\":1}"[..]), ("bucket-b", b"{\"b\":2}")] {
        let backup = memory(&store)
            .object("backup-bucket", &format!("{bucket}/config.json"))
            .unwrap();
        assert_eq!(backup.body, body);
        assert_eq!(
            SourceRecord::read(&backup.metadata).map(|r| r.bucket),
            Some(bucket.to_owned())
        );
    }
    assert_eq!(memory(&store).keys("backup-bucket").len(), 2);
}

/// Defect 5: the replacement of a backup lands only on the object it was planned against.
/// Between the backup's HEAD and the replacing copy, somebody writes there: the copy is
/// refused (`If-Match`), the location is read again, and what is found (unrecorded, in a
/// bucket without versioning) is kept.
#[tokio::test]
async fn a_replacement_never_lands_on_what_it_did_not_see() {
    let store = store_with(&["src-bucket", "backup-bucket"]);
    let policy = parse_policy("backup: backup-bucket").unwrap();
    memory(&store).put("src-bucket", "k", b"monday", "text/plain");
    reconcile(&store, &policy, &event("src-bucket", "k"), &options()).await;
    memory(&store).put("src-bucket", "k", b"tuesday", "text/plain");
    // Copy 1 asks for an empty location and is refused; copy 2 replaces Monday's backup:
    // just before it, another writer puts its own object there.
    memory(&store).interleave("CopyObject", 2, |memory| {
        memory.put("backup-bucket", "src-bucket/k", b"theirs", "text/plain");
    });
    let report = reconcile(&store, &policy, &event("src-bucket", "k"), &options()).await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("not recorded as a backup")),
        "{report:?}"
    );
    let kept = memory(&store)
        .object("backup-bucket", "src-bucket/k")
        .unwrap();
    assert_eq!(kept.body, b"theirs");
}

/// Defect 5, multipart: a slow copy of one write finishes after another write's backup landed
/// at the backup location. Its completion carries `If-Match` on what it replaces, so it is
/// refused and its upload aborted; the newer write's backup stays, and the object is stale.
#[tokio::test]
async fn a_slow_multipart_copy_never_completes_over_a_newer_backup() {
    let store = store_with(&["src-bucket", "backup-bucket"]);
    let policy = parse_policy("backup: backup-bucket").unwrap();
    let options = Options {
        copy: CopySettings {
            multipart_threshold: 6 * MIB,
            state: Some(CopyStateLocation::parse("s3://backup-bucket/_s3pp/state/").unwrap()),
            ..options().copy
        },
        ..options()
    };
    let first = vec![1u8; (7 * MIB) as usize];
    memory(&store).put("src-bucket", "big", &first, "application/octet-stream");
    reconcile(&store, &policy, &event("src-bucket", "big"), &options).await;
    let second = vec![2u8; (7 * MIB) as usize];
    memory(&store).put("src-bucket", "big", &second, "application/octet-stream");
    let third = vec![3u8; (7 * MIB) as usize];
    let newer = third.clone();
    memory(&store).interleave("CompleteMultipartUpload", 1, move |memory| {
        memory.put("src-bucket", "big", &newer, "application/octet-stream");
        memory.put_object(
            "backup-bucket",
            "src-bucket/big",
            recorded_backup("src-bucket", &newer),
        );
    });
    let report = reconcile(&store, &policy, &event("src-bucket", "big"), &options).await;
    assert_eq!(report.outcome, Outcome::Stale, "{report:?}");
    let backup = memory(&store)
        .object("backup-bucket", "src-bucket/big")
        .unwrap();
    assert!(backup.body == third, "the newer write's backup stays");
    assert!(
        memory(&store).pending_uploads().is_empty(),
        "the copy's upload was aborted"
    );
    assert!(
        memory(&store)
            .keys("backup-bucket")
            .iter()
            .all(|k| !k.starts_with("_s3pp/")),
        "and its record removed"
    );
}

/// Both buckets versioned, every version kept: the setup for the late-event tests.
fn versioned_setup() -> (Store, Policy) {
    let store = store_with(&["src-bucket", "backup-bucket"]);
    memory(&store).enable_versioning("src-bucket");
    memory(&store).enable_versioning("backup-bucket");
    let policy = parse_policy("backup: { bucket: backup-bucket, all_versions: true }").unwrap();
    (store, policy)
}

/// Two versions of `src-bucket/k` ("one", then "two"), the current one's event handled;
/// returns their version ids.
async fn two_versions_current_handled(store: &Store, policy: &Policy) -> (String, String) {
    let put = |body: &[u8]| {
        memory(store)
            .put_object("src-bucket", "k", object(body))
            .expect("a versioned bucket")
    };
    let (v1, v2) = (put(b"one"), put(b"two"));
    reconcile(
        store,
        policy,
        &version_event("src-bucket", "k", &v2),
        &options(),
    )
    .await;
    (v1, v2)
}

/// Defect 4: a late event for an older version copies it into the backup key's history and
/// puts the current version's backup back on top; a duplicate of it copies nothing.
#[tokio::test]
async fn a_late_version_never_displaces_the_current_versions_backup() {
    let (store, policy) = versioned_setup();
    let (v1, _) = two_versions_current_handled(&store, &policy).await;
    assert_eq!(
        memory(&store)
            .object("backup-bucket", "src-bucket/k")
            .map(|o| o.body),
        Some(b"two".to_vec())
    );

    let late = reconcile(
        &store,
        &policy,
        &version_event("src-bucket", "k", &v1),
        &options(),
    )
    .await;
    assert_eq!(late.outcome, Outcome::Applied, "{late:?}");
    let backups = memory(&store).versions("backup-bucket", "src-bucket/k");
    let bodies: Vec<&[u8]> = backups.iter().map(|o| o.body.as_slice()).collect();
    assert_eq!(
        bodies,
        [&b"two"[..], b"one", b"two"],
        "history kept, current on top"
    );
    let records: Vec<Option<String>> = backups
        .iter()
        .map(|o| SourceRecord::read(&o.metadata).and_then(|r| r.version_id))
        .collect();
    assert_eq!(records[1].as_deref(), Some(v1.as_str()));

    let again = reconcile(
        &store,
        &policy,
        &version_event("src-bucket", "k", &v1),
        &options(),
    )
    .await;
    assert_eq!(again.outcome, Outcome::Stale, "{again:?}");
    assert!(again.actions.is_empty(), "{again:?}");
    assert_eq!(
        memory(&store).versions("backup-bucket", "src-bucket/k"),
        backups,
        "nothing copied again"
    );
}

/// Defect 4: when putting the current version's backup back fails, the retry of the late
/// event repairs it (it was `stale` before, and left the late version on top for good).
#[tokio::test]
async fn a_failed_restore_of_the_current_backup_is_repaired_by_the_retry() {
    let (store, policy) = versioned_setup();
    let (v1, _) = two_versions_current_handled(&store, &policy).await;
    let calls = store.counts().copies;
    // The late version's copy succeeds; the copy that puts the current one back fails.
    store.inner().fail_call(
        Operation::CopyObject,
        2,
        StoreError::Service {
            operation: "CopyObject",
            code: "SlowDown".into(),
            status: 503,
            message: "Please reduce your request rate.".into(),
        },
    );
    let failed = reconcile(
        &store,
        &policy,
        &version_event("src-bucket", "k", &v1),
        &options(),
    )
    .await;
    assert_eq!(failed.outcome, Outcome::Failed, "{failed:?}");
    assert!(failed.transient);
    assert!(store.counts().copies > calls);
    let top = memory(&store)
        .object("backup-bucket", "src-bucket/k")
        .unwrap();
    assert_eq!(
        top.body, b"one",
        "the late version is on top until the retry"
    );

    let retried = reconcile(
        &store,
        &policy,
        &version_event("src-bucket", "k", &v1),
        &options(),
    )
    .await;
    assert_eq!(retried.outcome, Outcome::Applied, "{retried:?}");
    let top = memory(&store)
        .object("backup-bucket", "src-bucket/k")
        .unwrap();
    assert_eq!(top.body, b"two");
}

/// Defect 4: without versioning in the backup bucket a late version cannot be kept beside the
/// current one: it is not copied (the object is skipped with why), and the current version's
/// backup is untouched.
#[tokio::test]
async fn a_late_version_is_not_copied_into_a_bucket_without_versioning() {
    let store = store_with(&["src-bucket", "backup-bucket"]);
    memory(&store).enable_versioning("src-bucket");
    let policy = parse_policy("backup: { bucket: backup-bucket, all_versions: true }").unwrap();
    let (v1, _) = two_versions_current_handled(&store, &policy).await;
    let before = memory(&store).object("backup-bucket", "src-bucket/k");
    let late = reconcile(
        &store,
        &policy,
        &version_event("src-bucket", "k", &v1),
        &options(),
    )
    .await;
    assert_eq!(late.outcome, Outcome::Skipped, "{late:?}");
    assert!(
        late.notes
            .iter()
            .any(|n| n.contains("versioned backup bucket")),
        "{late:?}"
    );
    assert_eq!(
        memory(&store).object("backup-bucket", "src-bucket/k"),
        before
    );
}

/// Defect 7: a HEAD without `x-amz-tagging-count` is no evidence of "no tags" when the role
/// may not read tags (S3 omits it then too). Unless the deployment says its role may
/// (`S3_HEAD_REPORTS_TAG_COUNT`), the tags are read; refused, the object fails and keeps its
/// tags: they are never replaced with only the policy's, and a multipart copy never drops
/// them.
#[tokio::test]
async fn tags_are_never_replaced_on_a_missing_header() {
    let store = store_with(&["src-bucket"]);
    let mut tagged = object(&vec![7u8; (7 * MIB) as usize]);
    tagged.tags = [("team".to_owned(), "data".to_owned())].into();
    memory(&store).put_object("src-bucket", "k", tagged.clone());
    memory(&store).deny_tag_reads();
    let tagging = parse_policy("tags: { processed-by: s3pp }").unwrap();
    let report = reconcile(&store, &tagging, &event("src-bucket", "k"), &options()).await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(report.error_code.as_deref(), Some("AccessDenied"));
    let multipart = Options {
        copy: CopySettings {
            multipart_threshold: 6 * MIB,
            ..options().copy
        },
        ..options()
    };
    let reclass = parse_policy("storage_class: STANDARD_IA").unwrap();
    let report = reconcile(&store, &reclass, &event("src-bucket", "k"), &multipart).await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    let stored = memory(&store).object("src-bucket", "k").unwrap();
    assert_eq!(stored.tags, tagged.tags, "the object's own tags are kept");
    assert_eq!(stored.storage_class, tagged.storage_class);
    assert_eq!(store.counts().put_tags, 0);
}

fn locked_setup(lock_bucket: bool, locked: bool) -> (Store, Policy) {
    let store = store_with(&["src-bucket"]);
    if lock_bucket {
        memory(&store).enable_object_lock("src-bucket");
    }
    let mut stored = object(b"records");
    if locked {
        stored.object_lock = Some("COMPLIANCE retention until 2099-01-01T00:00:00Z".into());
    }
    memory(&store).put_object("src-bucket", "k", stored);
    (
        store,
        parse_policy("ia_min_size: 0\nrules:\n  - storage_class: GLACIER_IR").unwrap(),
    )
}

/// Defect 9: HEAD reports Object Lock only to a role that may read it. With the role unable
/// to read it, the rewrite is held back (the lock is unknown); able, the lock is found and
/// the rewrite held back; in a bucket without Object Lock one question per bucket shows no
/// object can be locked, and the rewrite happens.
#[tokio::test]
async fn the_object_lock_guard_works_whatever_the_role_may_read() {
    let (store, policy) = locked_setup(true, true);
    memory(&store).deny_lock_reads();
    let report = reconcile(&store, &policy, &event("src-bucket", "k"), &options()).await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
    assert!(report.notes[0].contains("cannot tell"), "{report:?}");
    assert_eq!(store.counts().copies, 0);

    let (store, policy) = locked_setup(true, true);
    let report = reconcile(&store, &policy, &event("src-bucket", "k"), &options()).await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
    assert!(report.notes[0].contains("COMPLIANCE"), "{report:?}");
    assert_eq!(store.counts().copies, 0);

    let (store, policy) = locked_setup(false, false);
    let options = options();
    for key in ["k", "k"] {
        let report = reconcile(&store, &policy, &event("src-bucket", key), &options).await;
        assert!(
            matches!(report.outcome, Outcome::Applied | Outcome::Compliant),
            "{report:?}"
        );
    }
    assert_eq!(store.counts().lock_reads, 1, "one question for the bucket");
    assert_eq!(
        memory(&store)
            .object("src-bucket", "k")
            .unwrap()
            .storage_class,
        crate::object::StorageClass::GlacierIr
    );

    // The template's role may read locks: HEAD's silence is evidence, no question asked.
    let (store, policy) = locked_setup(true, false);
    let trusting = Options {
        server: ServerSupport::S3_WITH_READS,
        ..options
    };
    let report = reconcile(&store, &policy, &event("src-bucket", "k"), &trusting).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    assert_eq!(store.counts().lock_reads, 0);
}

/// Defect 10: a tag write by key, in a bucket without versioning, while a new upload lands:
/// S3 cannot make it conditional, so the function checks afterwards and says what may have
/// happened (`stale`, with a note) instead of calling the object in line.
#[tokio::test]
async fn a_tag_write_that_may_have_hit_a_newer_object_is_reported() {
    let store = store_with(&["src-bucket"]);
    memory(&store).put("src-bucket", "k", b"old", "text/plain");
    memory(&store).interleave("PutObjectTagging", 1, |memory| {
        memory.put("src-bucket", "k", b"new upload", "text/plain");
    });
    let policy = parse_policy("tags: { processed-by: s3pp }").unwrap();
    let report = reconcile(&store, &policy, &event("src-bucket", "k"), &options()).await;
    assert_eq!(report.outcome, Outcome::Stale, "{report:?}");
    assert!(
        report.notes.iter().any(|n| n.contains("written by key")),
        "{report:?}"
    );
    // Without the race the same write is reported applied.
    let store = store_with(&["src-bucket"]);
    memory(&store).put("src-bucket", "k", b"old", "text/plain");
    let report = reconcile(&store, &policy, &event("src-bucket", "k"), &options()).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
}

/// The function's own copy state is never reconciled, whatever rule could match it.
#[tokio::test]
async fn copy_state_records_are_left_alone() {
    let store = store_with(&["backup-bucket"]);
    memory(&store).put(
        "backup-bucket",
        "_s3pp/state/x.json",
        b"{}",
        "application/json",
    );
    let policy = parse_policy("tags: { a: b }").unwrap();
    let options = Options {
        copy: CopySettings {
            state: Some(CopyStateLocation::parse("s3://backup-bucket/_s3pp/state/").unwrap()),
            ..options().copy
        },
        ..options()
    };
    let report = reconcile(
        &store,
        &policy,
        &event("backup-bucket", "_s3pp/state/x.json"),
        &options,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
    assert_eq!(store.counts(), Default::default(), "no request at all");
}
