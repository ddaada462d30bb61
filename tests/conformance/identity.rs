//! Conformance for recorded identity (issue 20), on LocalStack: whose upload, whose backup and
//! which write of a source the function touches is decided from its records and S3's own
//! conditions and checksums. Each test names the LocalStack behaviour it relies on; moto
//! ignores the copy conditions and the completion checksum these depend on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus, ObjectLockRetention,
    ObjectLockRetentionMode,
};
use s3_policy_processor::handler::Processor;
use s3_policy_processor::object::{Checksum, ObjectLocation};
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::counting::CountingStore;
use s3_policy_processor::store::s3::S3Store;
use s3_policy_processor::store::server::ServerSupport;
use s3_policy_processor::store::{
    CompleteRequest, ExpectedObject, ObjectStore, PartCopy, WriteCondition,
};

use super::support::race_proxy::{Moment, RaceProxy, Upload};
use super::support::*;
use super::{
    Env, MIB, buckets, copy_state, invoke_until_applied, pending_uploads, put_event,
    slow_processor, small_parts,
};

/// Bytes of a 26 MiB object (six 5 MiB parts), different per seed.
fn large(seed: u8) -> Vec<u8> {
    (0..26 * MIB)
        .map(|i| ((i % 241) as u8).wrapping_mul(3).wrapping_add(seed))
        .collect()
}

async fn etag_of(s3: &Client, bucket: &str, key: &str) -> String {
    head_of(s3, bucket, key)
        .await
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

/// A producer's multipart upload at `key` (a second writer, a Spark committer): with one part
/// of `part` bytes when given; returns its id and its parts.
async fn producer_upload(
    s3: &Client,
    bucket: &str,
    key: &str,
    part: Option<Vec<u8>>,
) -> (String, Vec<CompletedPart>) {
    let upload_id = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("producer starts an upload")
        .upload_id()
        .expect("upload id")
        .to_owned();
    let mut parts = Vec::new();
    if let Some(bytes) = part {
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(1)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .expect("producer uploads a part");
        parts.push(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(out.e_tag().unwrap_or_default())
                .build(),
        );
    }
    (upload_id, parts)
}

async fn open_upload_ids(s3: &Client, bucket: &str) -> Vec<String> {
    s3.list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_owned))
        .collect()
}

/// Relies on: LocalStack's multipart uploads (several open at one key, ListParts). Defect 1:
/// a multipart rewrite of a key (paused by its deadline, then resumed) never continues,
/// completes or aborts the uploads a producer has open at that key, with parts or without;
/// the producer then completes its own upload.
pub async fn producers_uploads_survive_a_multipart_rewrite(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-producer").await;
    put_bytes(&s3, &source, "table.parquet", large(1)).await;
    let (with_part, parts) = producer_upload(
        &s3,
        &source,
        "table.parquet",
        Some(b"the producer's new table".to_vec()),
    )
    .await;
    let (empty, _) = producer_upload(&s3, &source, "table.parquet", None).await;
    let processor = slow_processor(
        &s3,
        &format!("match: {{ buckets: [{source}] }}\nstorage_class: STANDARD_IA"),
        &backup,
    );
    let event = put_event(&source, "table.parquet", None, None);
    let paused = invoke_until_applied(&processor, &event, 10).await;
    assert!(
        paused >= 1,
        "the rewrite paused and resumed ({paused} paused)"
    );
    let head = head_of(&s3, &source, "table.parquet").await;
    assert_eq!(
        head.storage_class(),
        Some(&aws_sdk_s3::types::StorageClass::StandardIa)
    );
    assert_eq!(body(&s3, &source, "table.parquet").await, large(1));
    let open = open_upload_ids(&s3, &source).await;
    assert_eq!(
        open.len(),
        2,
        "only the producer's uploads are open: {open:?}"
    );
    assert!(
        open.contains(&with_part) && open.contains(&empty),
        "{open:?}"
    );
    assert_eq!(processor.store().counts().multipart_aborts, 0);

    s3.complete_multipart_upload()
        .bucket(&source)
        .key("table.parquet")
        .upload_id(&with_part)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("the producer completes its upload");
    assert_eq!(
        body(&s3, &source, "table.parquet").await,
        b"the producer's new table"
    );
}

/// Relies on: LocalStack's ETag conditions on UploadPartCopy and CompleteMultipartUpload.
/// Defect 2: a backup copy of one write, paused by its deadline, is never continued by the
/// copy of a newer write of the same key (whose Last-Modified may be in the same second): the
/// newer write's copy makes its own upload and aborts the superseded one (the function's own,
/// named by its record), and the backup holds exactly the newer bytes.
pub async fn a_paused_copy_of_one_write_never_feeds_another(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-overlap").await;
    put_bytes(&s3, &source, "big.bin", large(1)).await;
    let first = etag_of(&s3, &source, "big.bin").await;
    let processor = slow_processor(
        &s3,
        &format!("match: {{ buckets: [{source}] }}\nbackup: {backup}"),
        &backup,
    );
    let deadline = Instant::now() + Duration::from_secs(1) + super::PART_WINDOW;
    let paused = processor
        .handle_until(
            &put_event(&source, "big.bin", Some(&first), None),
            Some(deadline),
        )
        .await;
    assert!(paused.is_err(), "the first copy pauses: {paused:?}");
    assert_eq!(pending_uploads(&s3, &backup).await, 1);

    put_bytes(&s3, &source, "big.bin", large(2)).await;
    let second = etag_of(&s3, &source, "big.bin").await;
    invoke_until_applied(
        &processor,
        &put_event(&source, "big.bin", Some(&second), None),
        10,
    )
    .await;
    assert_eq!(body(&s3, &backup, "big.bin").await, large(2), "never a mix");
    let copy = head_of(&s3, &backup, "big.bin").await;
    assert_eq!(recorded_source(&copy), Some((source.clone(), second)));
    assert_eq!(
        pending_uploads(&s3, &backup).await,
        0,
        "superseded upload aborted"
    );
    let late = processor
        .handle(&put_event(&source, "big.bin", Some(&first), None))
        .await
        .expect("invocation");
    assert_eq!(late.objects[0].outcome, Outcome::Stale, "{late:?}");
}

/// Relies on: LocalStack checking `x-amz-checksum-<crc>` with `x-amz-checksum-type:
/// FULL_OBJECT` and `x-amz-mp-object-size` on CompleteMultipartUpload (BadDigest /
/// InvalidRequest, the upload left open), as S3 does; moto accepts any. The function's
/// completion states both, so S3 itself refuses an upload whose parts are not the source's.
pub async fn s3_refuses_a_completion_whose_parts_are_not_the_sources(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-digest").await;
    put_bytes(&s3, &source, "a.bin", large(1)).await;
    put_bytes(&s3, &source, "b.bin", large(2)).await;
    let store = S3Store::from_client(s3.clone());
    // The SDK uploads with a CRC32 checksum, which S3 keeps as the object's full-object one.
    let checksum_of = |key: &'static str| {
        let store = store.clone();
        let source = source.clone();
        async move {
            let head = store
                .head_object_with_checksums(&ObjectLocation::current(&source, key))
                .await
                .expect("head");
            let checksum = head.checksum.expect("a checksum");
            assert!(checksum.full_object, "{checksum:?}");
            checksum
        }
    };
    let (a, b) = (checksum_of("a.bin").await, checksum_of("b.bin").await);
    assert_eq!(a.algorithm, b.algorithm);
    let algorithm = a.algorithm;
    let destination = ObjectLocation::current(&backup, "copy.bin");
    let upload_id = store
        .create_multipart_upload(&super::support::plain_multipart_start(
            destination.clone(),
            algorithm,
        ))
        .await
        .expect("create");
    let mut parts = Vec::new();
    for (number, first, last) in s3_policy_processor::apply::copy::part_ranges(26 * MIB, 5 * MIB) {
        parts.push(
            store
                .upload_part_copy(&PartCopy {
                    destination: destination.clone(),
                    upload_id: upload_id.clone(),
                    part_number: number,
                    source: ObjectLocation::current(&source, "a.bin"),
                    source_if_match: None,
                    first_byte: first,
                    last_byte: last,
                })
                .await
                .expect("part"),
        );
    }
    let complete = |checksum: Checksum, size: u64| CompleteRequest {
        destination: destination.clone(),
        upload_id: upload_id.clone(),
        parts: parts.clone(),
        condition: WriteCondition::IfAbsent,
        checksum_algorithm: Some(algorithm),
        expected: ExpectedObject {
            size: Some(size),
            checksum: Some(checksum),
        },
    };
    let refused = store
        .complete_multipart_upload(&complete(b, 26 * MIB))
        .await
        .expect_err("parts of a.bin are not b.bin's bytes");
    assert_eq!(refused.code(), "BadDigest", "{refused}");
    let refused = store
        .complete_multipart_upload(&complete(a.clone(), 26 * MIB + 1))
        .await
        .expect_err("the size is checked too");
    assert_eq!(refused.code(), "InvalidRequest", "{refused}");
    assert_eq!(
        pending_uploads(&s3, &backup).await,
        1,
        "left open, as S3 does"
    );
    store
        .complete_multipart_upload(&complete(a, 26 * MIB))
        .await
        .expect("the source's own checksum and size");
    assert_eq!(body(&s3, &backup, "copy.bin").await, large(1));
}

/// Relies on: LocalStack keeping objects of the same key in two buckets apart. Defect 3: one
/// rule for any bucket backs up `config.json` of two buckets to two keys (under each bucket's
/// name), each recording its source; a redelivery writes nothing.
pub async fn two_source_buckets_never_share_a_backup_key(env: &Env) {
    let s3 = env.s3();
    let (first, backup) = buckets(&s3, "cf-two-sources").await;
    let second = "cf-two-sources-other".to_owned();
    s3.create_bucket()
        .bucket(&second)
        .send()
        .await
        .expect("second source bucket");
    put_bytes(&s3, &first, "config.json", b"{\"first\":1}".to_vec()).await;
    put_bytes(&s3, &second, "config.json", b"{\"second\":2}".to_vec()).await;
    let processor = s3_like_processor(&s3, policy(&format!("backup: {backup}")));
    for bucket in [&first, &second] {
        let report = processor
            .handle(&put_event(bucket, "config.json", None, None))
            .await
            .expect("invocation");
        assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    }
    for (bucket, bytes) in [
        (&first, &b"{\"first\":1}"[..]),
        (&second, b"{\"second\":2}"),
    ] {
        let key = format!("{bucket}/config.json");
        assert_eq!(body(&s3, &backup, &key).await, bytes);
        let copy = head_of(&s3, &backup, &key).await;
        assert_eq!(recorded_source(&copy).map(|(b, _)| b), Some(bucket.clone()));
    }
    let again = processor
        .handle(&put_event(&first, "config.json", None, None))
        .await
        .expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
}

/// Relies on: LocalStack's versioned buckets (ListObjectVersions, HEAD by version) and
/// checksums. Defect 4: a late event for an older version puts that version into the backup
/// key's history and the current version's backup back on top; a duplicate adds nothing.
pub async fn a_late_version_never_displaces_the_current_backup(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-late-version").await;
    enable_versioning(&s3, &source).await;
    enable_versioning(&s3, &backup).await;
    let versions = put_versions(&s3, &source, "doc.txt", &["version one", "version two!"]).await;
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {{ bucket: {backup}, all_versions: true }}"
        )),
    );
    let current = processor
        .handle(&put_event(&source, "doc.txt", None, Some(&versions[1])))
        .await
        .expect("current version");
    assert_eq!(current.objects[0].outcome, Outcome::Applied, "{current:?}");
    let late = processor
        .handle(&put_event(&source, "doc.txt", None, Some(&versions[0])))
        .await
        .expect("late version");
    assert_eq!(late.objects[0].outcome, Outcome::Applied, "{late:?}");
    assert_eq!(body(&s3, &backup, "doc.txt").await, b"version two!");
    let kept = version_bodies(&s3, &backup, "doc.txt").await;
    assert!(
        kept.contains(&b"version one".to_vec()),
        "history holds version one"
    );
    let again = processor
        .handle(&put_event(&source, "doc.txt", None, Some(&versions[0])))
        .await
        .expect("duplicate late event");
    assert_eq!(again.objects[0].outcome, Outcome::Stale, "{again:?}");
    assert_eq!(
        version_bodies(&s3, &backup, "doc.txt").await.len(),
        kept.len(),
        "nothing added"
    );
}

/// A newer write of the source and its backup, landing at once (the race proxy's upload).
fn newer_write_and_its_backup(env: &Env, source: &str, backup: &str) -> Upload {
    let (s3, source, backup) = (env.s3(), source.to_owned(), backup.to_owned());
    Arc::new(move || {
        let (s3, source, backup) = (s3.clone(), source.clone(), backup.clone());
        Box::pin(async move {
            let newer = large(9);
            let put = s3
                .put_object()
                .bucket(&source)
                .key("big.bin")
                .body(ByteStream::from(newer.clone()))
                .send()
                .await
                .expect("the newer write");
            s3.put_object()
                .bucket(&backup)
                .key("big.bin")
                .body(ByteStream::from(newer))
                .metadata("s3pp-source-bucket", &source)
                .metadata(
                    "s3pp-source-etag",
                    put.e_tag().unwrap_or_default().trim_matches('"'),
                )
                .send()
                .await
                .expect("the newer write's backup");
        })
    })
}

/// Relies on: LocalStack enforcing `If-None-Match: *` on CompleteMultipartUpload and the
/// source condition on UploadPartCopy (412). Defect 5: a slow multipart backup of one write
/// finishes after a newer write's backup landed: its completion is refused, its upload
/// aborted, and the newer backup stays; the older write is stale.
pub async fn a_slow_backup_never_completes_over_a_newer_one(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-slow-backup").await;
    put_bytes(&s3, &source, "big.bin", large(1)).await;
    let proxy = RaceProxy::start(
        env.upstream(),
        format!("/{backup}/big.bin"),
        Moment::BeforeComplete,
        newer_write_and_its_backup(env, &source, &backup),
    )
    .await;
    let processor = s3_like_processor(
        &client_for(&proxy.endpoint),
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}"
        )),
    )
    .with_copy_settings(s3_policy_processor::apply::copy::CopySettings {
        state: Some(copy_state(&backup)),
        ..small_parts()
    });
    let report = processor
        .handle(&put_event(&source, "big.bin", None, None))
        .await
        .expect("invocation");
    assert!(
        proxy.fired(),
        "the newer backup landed before the completion"
    );
    assert_eq!(report.objects[0].outcome, Outcome::Stale, "{report:?}");
    assert_eq!(body(&s3, &backup, "big.bin").await, large(9));
    assert_eq!(
        pending_uploads(&s3, &backup).await,
        0,
        "the slow copy's upload aborted"
    );
}

type Counted = Processor<CountingStore<S3Store>>;

fn slow_instance(env: &Env, source: &str, backup: &str) -> Processor<super::SlowStore> {
    slow_processor(
        &env.s3(),
        &format!("match: {{ buckets: [{source}] }}\nbackup: {backup}"),
        backup,
    )
}

/// Relies on: LocalStack honouring `If-None-Match: *` and `If-Match` on PutObject. Defect 6:
/// two attempts at one copy at once (a duplicate delivery, or `s3pp scan --apply` beside the
/// function) never share or abort each other's uploads: the one that finds the other's live
/// lease touches nothing and fails as transient; the other completes; the retry finds the
/// backup current.
pub async fn two_attempts_at_one_copy_never_share_an_upload(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-concurrent").await;
    put_bytes(&s3, &source, "big.bin", large(3)).await;
    let event = put_event(&source, "big.bin", None, None);
    let first = slow_instance(env, &source, &backup);
    let second = slow_instance(env, &source, &backup);
    let running = {
        let event = event.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let report = first.handle(&event).await;
                (report.map(|r| r.objects[0].outcome), first.store().counts())
            })
        })
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let beside = second.handle(&event).await;
    let (first_outcome, first_counts) = running.join().expect("first attempt");
    assert_eq!(first_outcome.ok(), Some(Outcome::Applied));
    let busy = beside.expect_err("the second attempt finds the copy taken");
    let s3_policy_processor::handler::InvocationError::RecordsFailed { report, .. } = busy else {
        panic!("{busy:?}");
    };
    assert_eq!(
        report.objects[0].error_code.as_deref(),
        Some("CopyInProgress")
    );
    assert!(report.objects[0].transient);
    let second_counts = second.store().counts();
    assert_eq!(
        (
            second_counts.multipart_starts,
            second_counts.part_copies,
            second_counts.multipart_aborts
        ),
        (0, 0, 0),
        "the second attempt touched nothing"
    );
    assert_eq!(first_counts.multipart_starts, 1);
    assert_eq!(body(&s3, &backup, "big.bin").await, large(3));
    assert_eq!(pending_uploads(&s3, &backup).await, 0);
    let retry = second.handle(&event).await.expect("the retry");
    assert_eq!(retry.objects[0].outcome, Outcome::Compliant, "{retry:?}");
}

/// Relies on: LocalStack's Object Lock (GetObjectLockConfiguration, GetObjectRetention and
/// GetObjectLegalHold). Defect 9: with a role whose right to read locks is not asserted
/// (`S3_HEAD_REPORTS_OBJECT_LOCK` unset), the function asks the bucket and the object before
/// a rewrite: a retained object is not rewritten, an object under a legal hold neither, and an
/// unlocked one in the same bucket is.
pub async fn locked_objects_are_found_without_trusting_head(env: &Env) {
    let s3 = env.s3();
    let bucket = "cf-object-lock-src";
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("bucket with Object Lock");
    for key in ["retained.txt", "held.txt", "free.txt"] {
        put_bytes(&s3, bucket, key, b"records".to_vec()).await;
    }
    s3.put_object_retention()
        .bucket(bucket)
        .key("retained.txt")
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(4_102_444_800))
                .build(),
        )
        .send()
        .await
        .expect("retention");
    s3.put_object_legal_hold()
        .bucket(bucket)
        .key("held.txt")
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .expect("legal hold");
    let processor: Counted = processor_trusting(
        &s3,
        policy(&format!(
            "ia_min_size: 0\nrules:\n  - match: {{ buckets: [{bucket}] }}\n    storage_class: STANDARD_IA"
        )),
        // As on S3 with a role whose read permissions are not known.
        ServerSupport {
            head_reports_tag_count: false,
            head_reports_object_lock: false,
            ..LOCALSTACK
        },
    );
    for (key, outcome, note) in [
        ("retained.txt", Outcome::Skipped, "GOVERNANCE"),
        ("held.txt", Outcome::Skipped, "legal hold"),
        ("free.txt", Outcome::Applied, ""),
    ] {
        let report = processor
            .handle(&put_event(bucket, key, None, None))
            .await
            .expect("invocation");
        let object = &report.objects[0];
        assert_eq!(object.outcome, outcome, "{key}: {report:?}");
        assert!(
            note.is_empty() || object.notes.iter().any(|n| n.contains(note)),
            "{key}: {report:?}"
        );
    }
    let counts = processor.store().counts();
    assert_eq!(
        counts.copies, 1,
        "only the unlocked object was rewritten: {counts:?}"
    );
    let head = head_of(&s3, bucket, "free.txt").await;
    assert_eq!(
        head.storage_class(),
        Some(&aws_sdk_s3::types::StorageClass::StandardIa)
    );
}
