//! Annotations end to end on the in-memory store, which models them as the S3 API reference
//! documents them: a single CopyObject copies them (and needs the read permission to), a
//! multipart copy does not, PutObjectAnnotation lands only on the named ETag, and a server
//! without them answers 501 (as LocalStack 2026.3.0 does).

use super::test_support::{Store, memory, store};
use super::*;
use crate::policy::document::parse_policy;
use crate::store::StoreError;
use crate::store::intercept::Operation;
use crate::store::memory::MemoryStore;

const MIB: usize = 1024 * 1024;

/// A 12 MiB object (three parts of 5 MiB at most) with two annotations.
fn setup(policy: &str) -> (Store, Policy) {
    let memory = MemoryStore::new();
    for bucket in ["src-bucket", "backup-bucket"] {
        memory.create_bucket(bucket);
    }
    memory.enable_versioning("backup-bucket");
    let body: Vec<u8> = (0..12 * MIB).map(|i| (i % 251) as u8).collect();
    memory.put("src-bucket", "big.bin", &body, "application/octet-stream");
    memory.annotate("src-bucket", "big.bin", "review", b"approved");
    memory.annotate("src-bucket", "big.bin", "lineage", b"{\"from\":\"etl\"}");
    let policy = parse_policy(policy).expect("test policy");
    (store(memory), policy)
}

/// Copies in parts above 5 MiB, on S3 with the template's role.
fn options() -> Options {
    super::test_support::options(5 * MIB as u64, 5 * MIB as u64, ServerSupport::S3_WITH_READS)
}

fn event() -> ObjectRef {
    ObjectRef {
        location: ObjectLocation::current("src-bucket", "big.bin"),
        etag: None,
        size: None,
        sequencer: None,
        event_name: Some("ObjectCreated:CompleteMultipartUpload".into()),
        alternate_key: None,
    }
}

fn backup_annotations(store: &Store) -> Vec<String> {
    memory(store)
        .object("backup-bucket", "src-bucket/big.bin")
        .map(|o| o.annotations.keys().cloned().collect())
        .unwrap_or_default()
}

/// The multipart backup gets every annotation after it completes, onto the version it made;
/// a redelivery finds it whole and writes nothing.
#[tokio::test]
async fn a_multipart_backup_carries_the_annotations() {
    let (store, policy) = setup("backup: backup-bucket");
    let report = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    assert_eq!(backup_annotations(&store), ["lineage", "review"]);
    let copy = memory(&store)
        .object("backup-bucket", "src-bucket/big.bin")
        .unwrap();
    assert_eq!(copy.annotations["review"], b"approved");
    assert_eq!(store.counts().annotation_writes, 2);
    let again = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(again.outcome, Outcome::Compliant, "{again:?}");
    assert_eq!(store.counts().annotation_writes, 2, "nothing written again");
}

/// A backup that stopped between its completion and its last annotation write (the failure
/// here) is reported failed, and the retry adds exactly the missing annotation.
#[tokio::test]
async fn a_backup_stopped_before_its_last_annotation_is_completed_by_the_retry() {
    let (store, policy) = setup("backup: backup-bucket");
    store.inner().fail_call(
        Operation::PutObjectAnnotation,
        2,
        StoreError::Transport {
            operation: "PutObjectAnnotation",
            message: "connection reset".into(),
        },
    );
    let report = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(backup_annotations(&store).len(), 1);
    let retry = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(retry.outcome, Outcome::Applied, "{retry:?}");
    let names: Vec<&str> = retry.actions.iter().map(Action::name).collect();
    assert_eq!(names, ["copy_annotations"], "no second copy of the bytes");
    assert_eq!(backup_annotations(&store), ["lineage", "review"]);
    assert_eq!(store.counts().multipart_completes, 1);
}

/// A class change of an annotated object over the multipart threshold is not made: the
/// object keeps its bytes, class and annotations, and is reported skipped, not compliant.
#[tokio::test]
async fn an_annotated_object_is_not_rewritten_in_parts() {
    let (store, policy) = setup("storage_class: STANDARD_IA");
    let before = memory(&store).object("src-bucket", "big.bin").unwrap();
    let report = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
    assert!(report.notes[0].contains("2 annotations"), "{report:?}");
    assert_eq!(
        memory(&store).object("src-bucket", "big.bin").unwrap(),
        before
    );
    assert_eq!(store.counts().writes(), 0);
}

/// A role that may not list annotations: nothing is taken as "none"; neither multipart copy
/// is made, and the object is skipped saying why.
#[tokio::test]
async fn annotations_the_role_may_not_list_hold_the_copies_back() {
    let (store, policy) = setup("backup: backup-bucket\nstorage_class: STANDARD_IA");
    memory(&store).deny_annotation_reads();
    let report = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
    assert!(
        report.notes.iter().all(|n| n.contains("AccessDenied")),
        "{report:?}"
    );
    assert_eq!(store.counts().writes(), 0);
    assert!(
        memory(&store)
            .object("backup-bucket", "src-bucket/big.bin")
            .is_none()
    );
}

/// A server that answers that it has no annotations (501) keeps none: the copies are made.
#[tokio::test]
async fn a_server_without_annotations_has_none_to_lose() {
    let (store, policy) = setup("backup: backup-bucket");
    memory(&store).without_annotations();
    let report = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    assert_eq!(store.counts().annotation_writes, 0);
}

/// Below the multipart threshold nothing about annotations is asked: the single CopyObject
/// carries them, in-place rewrites included.
#[tokio::test]
async fn single_copies_carry_annotations_without_a_request() {
    let (store, policy) = setup("backup: backup-bucket\nstorage_class: STANDARD_IA");
    let mut options = options();
    options.copy.multipart_threshold = 64 * MIB as u64;
    let report = reconcile(&store, &policy, &event(), &options).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    assert_eq!(backup_annotations(&store), ["lineage", "review"]);
    let object = memory(&store).object("src-bucket", "big.bin").unwrap();
    assert_eq!(object.annotations.len(), 2, "the rewrite kept them");
    let counts = store.counts();
    assert_eq!((counts.annotation_reads, counts.annotation_writes), (0, 0));
}

/// A server not known to keep annotations is never asked (a server that does not know
/// `?annotation` may take it for a GetObject or PutObject).
#[tokio::test]
async fn annotations_are_never_asked_of_a_server_not_known_to_keep_them() {
    let (store, policy) = setup("backup: backup-bucket");
    let mut options = options();
    options.server.object_annotations = false;
    let report = reconcile(&store, &policy, &event(), &options).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    let counts = store.counts();
    assert_eq!((counts.annotation_reads, counts.annotation_writes), (0, 0));
}

/// An annotation deleted from the source between the listing and its copy is passed over;
/// the others are still copied.
#[tokio::test]
async fn an_annotation_deleted_meanwhile_does_not_stop_the_others() {
    let (store, policy) = setup("backup: backup-bucket");
    memory(&store).interleave("GetObjectAnnotation", 1, |memory| {
        memory.remove_annotation("src-bucket", "big.bin", "lineage");
    });
    let report = reconcile(&store, &policy, &event(), &options()).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    assert_eq!(backup_annotations(&store), ["review"]);
}

/// A late event for an annotated noncurrent version (`all_versions`): its multipart copy into
/// the backup's history gets its annotations; one that stopped before its last annotation is
/// completed by the retry, which finds the version kept.
#[tokio::test]
async fn a_noncurrent_versions_copy_keeps_its_annotations() {
    let (store, policy) = setup("backup: { bucket: backup-bucket, all_versions: true }");
    memory(&store).enable_versioning("src-bucket");
    let old = memory(&store).object("src-bucket", "big.bin").unwrap();
    let v1 = memory(&store)
        .put_object("src-bucket", "big.bin", old)
        .expect("versioned");
    memory(&store).put("src-bucket", "big.bin", b"newer", "text/plain");
    store.inner().fail_call(
        Operation::PutObjectAnnotation,
        2,
        StoreError::Transport {
            operation: "PutObjectAnnotation",
            message: "connection reset".into(),
        },
    );
    let late = ObjectRef {
        location: ObjectLocation {
            version_id: Some(v1),
            ..event().location
        },
        ..event()
    };
    let first = reconcile(&store, &policy, &late, &options()).await;
    assert_eq!(first.outcome, Outcome::Failed, "{first:?}");
    let retry = reconcile(&store, &policy, &late, &options()).await;
    assert!(
        retry.actions.iter().any(|a| a.name() == "copy_annotations"),
        "{retry:?}"
    );
    let kept = memory(&store)
        .versions("backup-bucket", "src-bucket/big.bin")
        .into_iter()
        .find(|o| o.body.len() == 12 * MIB)
        .expect("the old version is in the backup's history");
    let names: Vec<&String> = kept.annotations.keys().collect();
    assert_eq!(names, ["lineage", "review"]);
}
