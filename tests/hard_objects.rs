//! The objects that break naive copies, against moto on 127.0.0.1: multipart copies (small
//! thresholds so the code path runs with small objects) whose bytes and metadata match the
//! source exactly, a part failure that leaves no multipart upload behind, and archived objects.

mod support;

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use s3_policy_processor::apply::copy::CopySettings;
use s3_policy_processor::handler::{DEFAULT_MAX_CONCURRENCY, Processor};
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::StoreError;
use s3_policy_processor::store::counting::CountingStore;
use s3_policy_processor::store::faults::FaultInjectingStore;
use s3_policy_processor::store::intercept::Operation;
use s3_policy_processor::store::s3::S3Store;
use serde_json::{Value, json};
use support::*;

const MIB: u64 = 1024 * 1024;
const BIG_KEY: &str = "data/big file+1.bin";

fn small_parts() -> CopySettings {
    CopySettings {
        multipart_threshold: 6 * MIB,
        part_size: 5 * MIB,
        parts_in_flight: 3,
        ..CopySettings::default()
    }
}

fn put_event(bucket: &str, encoded_key: &str) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket}, "object": {"key": encoded_key, "sequencer": "01"}}}]})
}

async fn upload_big(s3: &Client) -> Vec<u8> {
    create_buckets(s3).await;
    let body: Vec<u8> = (0..13 * MIB + 11).map(|i| (i * 7 % 253) as u8).collect();
    s3.put_object()
        .bucket(SOURCE)
        .key(BIG_KEY)
        .body(ByteStream::from(body.clone()))
        .content_type("application/x-parquet")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"big.bin\"")
        .metadata("owner", "data-team")
        .tagging("team=data&tier=raw")
        // Not an HTTP date ("0" is the classic "already expired"): S3 stores it as text, and
        // a copy must keep it (moto stores it as sent; LocalStack refuses it on PUT).
        .customize()
        .mutate_request(|request| {
            request.headers_mut().insert("expires", "0");
        })
        .send()
        .await
        .unwrap();
    body
}

async fn pending_uploads(s3: &Client, bucket: &str) -> usize {
    s3.list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}

#[tokio::test]
async fn large_copies_match_the_source_exactly_and_leave_no_uploads() {
    let server = S3Server::start();
    let s3 = server.client();
    let body = upload_big(&s3).await;
    let processor = processor(&s3, policy("match: { buckets: [s3pp-source] }\nencryption: AES256\nstorage_class: STANDARD_IA\nbackup: { bucket: s3pp-backup, storage_class: GLACIER_IR }\ntags: { processed-by: s3pp }"))
        .with_copy_settings(small_parts());
    let report = processor
        .handle(&put_event(SOURCE, "data/big+file%2B1.bin"))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    let counts = processor.store().counts();
    assert_eq!(
        (
            counts.copies,
            counts.multipart_starts,
            counts.part_copies,
            counts.multipart_completes
        ),
        (0, 2, 6, 2),
        "{counts:?}"
    );

    let expected_metadata: BTreeMap<String, String> =
        [("owner".to_owned(), "data-team".to_owned())].into();
    for (bucket, class, tags) in [
        (
            BACKUP,
            StorageClass::GlacierIr,
            vec![("team", "data"), ("tier", "raw")],
        ),
        (
            SOURCE,
            StorageClass::StandardIa,
            vec![("processed-by", "s3pp"), ("team", "data"), ("tier", "raw")],
        ),
    ] {
        assert_eq!(body_of(&s3, bucket).await, body, "{bucket}: bytes");
        let head = head_of(&s3, bucket, BIG_KEY).await;
        assert_eq!(head.storage_class(), Some(&class), "{bucket}");
        assert_eq!(
            head.content_type(),
            Some("application/x-parquet"),
            "{bucket}"
        );
        assert_eq!(head.cache_control(), Some("max-age=60"), "{bucket}");
        assert_eq!(head.expires_string(), Some("0"), "{bucket}: Expires kept");
        assert_eq!(
            head.content_disposition(),
            Some("attachment; filename=\"big.bin\""),
            "{bucket}"
        );
        assert_eq!(user_metadata(&head), expected_metadata, "{bucket}");
        assert_eq!(
            recorded_source(&head).map(|(bucket, _)| bucket),
            (bucket == BACKUP).then(|| SOURCE.to_owned()),
            "only the backup records its source: {bucket}"
        );
        let expected_tags: BTreeMap<String, String> = tags
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            support::tags(&s3, bucket, BIG_KEY).await,
            expected_tags,
            "{bucket}"
        );
        assert_eq!(pending_uploads(&s3, bucket).await, 0, "{bucket}");
    }
    let head = head_of(&s3, SOURCE, BIG_KEY).await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    // The Copy event of our own multipart rewrite plans nothing.
    let again = self::processor(&s3, policy("match: { buckets: [s3pp-source] }\nencryption: AES256\nstorage_class: STANDARD_IA\nbackup: { bucket: s3pp-backup, storage_class: GLACIER_IR }\ntags: { processed-by: s3pp }"))
        .with_copy_settings(small_parts());
    let report = again
        .handle(&put_event(SOURCE, "data/big+file%2B1.bin"))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Compliant, "{report:?}");
    assert_eq!(again.store().counts().writes(), 0);
}

async fn body_of(s3: &Client, bucket: &str) -> Vec<u8> {
    body(s3, bucket, BIG_KEY).await
}

#[tokio::test]
async fn a_part_failing_mid_copy_leaves_no_multipart_upload_behind() {
    let server = S3Server::start();
    let s3 = server.client();
    upload_big(&s3).await;
    let faulty = FaultInjectingStore::new(S3Store::from_client(s3.clone()));
    faulty.fail_call(
        Operation::UploadPartCopy,
        2,
        StoreError::Service {
            operation: "UploadPartCopy",
            code: "InternalError".into(),
            status: 500,
            message: "injected".into(),
        },
    );
    let processor = Processor::new(
        CountingStore::new(faulty),
        policy("match: { buckets: [s3pp-source] }\nbackup: s3pp-backup"),
        DEFAULT_MAX_CONCURRENCY,
        false,
    )
    .with_server_support(MOTO)
    .with_copy_settings(small_parts());
    let err = processor
        .handle(&put_event(SOURCE, "data/big+file%2B1.bin"))
        .await
        .unwrap_err();
    let s3_policy_processor::handler::InvocationError::RecordsFailed { report, .. } = err else {
        panic!("expected a failed record: {err:?}");
    };
    assert_eq!(
        report.objects[0].error_code.as_deref(),
        Some("InternalError")
    );
    assert!(report.objects[0].transient, "a 500 may pass on retry");
    assert_eq!(processor.store().counts().multipart_aborts, 1);
    assert_eq!(
        pending_uploads(&s3, BACKUP).await,
        0,
        "ListMultipartUploads is empty"
    );
    assert!(keys(&s3, BACKUP).await.is_empty(), "no partial backup");

    // The retry (no fault now) completes.
    let report = processor
        .handle(&put_event(SOURCE, "data/big+file%2B1.bin"))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied);
    assert_eq!(pending_uploads(&s3, BACKUP).await, 0);
}

/// Creates the buckets and puts `cold.bin` straight into an archive class.
async fn put_archived(s3: &Client, class: StorageClass) {
    create_buckets(s3).await;
    s3.put_object()
        .bucket(SOURCE)
        .key("cold.bin")
        .body(ByteStream::from_static(b"frozen"))
        .storage_class(class)
        .send()
        .await
        .expect("put an archived object");
}

#[tokio::test]
async fn archived_objects_are_skipped_with_a_note_not_failed() {
    let server = S3Server::start();
    let s3 = server.client();
    put_archived(&s3, StorageClass::DeepArchive).await;
    let processor = processor(
        &s3,
        policy("match: { buckets: [s3pp-source] }\nstorage_class: STANDARD\nbackup: s3pp-backup"),
    );
    let report = processor
        .handle(&put_event(SOURCE, "cold.bin"))
        .await
        .unwrap();
    // Left undone on purpose, and said so: never reported compliant.
    assert_eq!(report.objects[0].outcome, Outcome::Skipped, "{report:?}");
    assert!(
        report.objects[0]
            .notes
            .iter()
            .any(|n| n.contains("restore")),
        "{report:?}"
    );
    assert_eq!(processor.store().counts().writes(), 0);
}

#[tokio::test]
async fn archived_objects_get_a_restore_when_asked_and_are_reconciled_after_it() {
    let server = S3Server::start();
    let s3 = server.client();
    put_archived(&s3, StorageClass::Glacier).await;
    let rule =
        "match: { buckets: [s3pp-source] }\nbackup: s3pp-backup\nrestore: { days: 2, tier: Bulk }";
    let processor = processor(&s3, policy(rule));
    let report = processor
        .handle(&put_event(SOURCE, "cold.bin"))
        .await
        .unwrap();
    // The restore was requested; the backup is still to come, so: skipped, with the action.
    assert_eq!(report.objects[0].outcome, Outcome::Skipped, "{report:?}");
    assert_eq!(report.objects[0].actions[0].name(), "restore");
    let head = head_of(&s3, SOURCE, "cold.bin").await;
    assert!(head.restore().is_some(), "restore requested");

    // The restore-completed event (moto restores at once) brings the object in line.
    let mut restored = put_event(SOURCE, "cold.bin");
    restored["Records"][0]["eventName"] = json!("ObjectRestore:Completed");
    let report = processor.handle(&restored).await.unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(body(&s3, BACKUP, "cold.bin").await, b"frozen");
}

#[tokio::test]
async fn public_read_grants_are_removed_and_private_grants_kept() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket().bucket(SOURCE).send().await.unwrap();
    s3.put_object()
        .bucket(SOURCE)
        .key("tutorial.txt")
        .body(ByteStream::from_static(b"made public by a tutorial"))
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let is_public = |acl: &aws_sdk_s3::operation::get_object_acl::GetObjectAclOutput| {
        acl.grants().iter().any(|g| {
            g.grantee()
                .and_then(|e| e.uri())
                .is_some_and(|u| u.ends_with("/AllUsers"))
        })
    };
    let before = s3
        .get_object_acl()
        .bucket(SOURCE)
        .key("tutorial.txt")
        .send()
        .await
        .unwrap();
    assert!(is_public(&before), "setup: object is public");

    let processor = processor(&s3, policy("remove_public_acl: true"));
    let report = processor
        .handle(&put_event(SOURCE, "tutorial.txt"))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    let after = s3
        .get_object_acl()
        .bucket(SOURCE)
        .key("tutorial.txt")
        .send()
        .await
        .unwrap();
    assert!(!is_public(&after), "{after:?}");
    assert!(!after.grants().is_empty(), "the owner's grant is kept");
    assert_eq!(
        body(&s3, SOURCE, "tutorial.txt").await,
        b"made public by a tutorial"
    );

    let again = self::processor(&s3, policy("remove_public_acl: true"));
    let report = again
        .handle(&put_event(SOURCE, "tutorial.txt"))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Compliant);
    assert_eq!(again.store().counts().writes(), 0);
}

/// A key's versions are read over as many ListObjectVersions pages as S3 sends (moto pages
/// with `key-marker`/`version-id-marker` as S3 does); noncurrent backups and `scan --versions`
/// see them all. LocalStack: tests/conformance.rs.
#[tokio::test]
async fn every_version_of_a_key_is_listed_over_several_pages() {
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    assert_versions_listed_over_pages(&s3, SOURCE, 2).await;
}

#[tokio::test]
async fn versioned_buckets_back_up_the_exact_version_and_optionally_every_version() {
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    for bucket in [SOURCE, BACKUP] {
        enable_versioning(&s3, bucket).await;
    }
    let versions = put_versions(&s3, SOURCE, "doc.txt", &["version one", "version two"]).await;
    let event_for = |version: &str| {
        let mut event = put_event(SOURCE, "doc.txt");
        event["Records"][0]["s3"]["object"]["versionId"] = json!(version);
        event
    };
    // The current version's event backs up exactly that version.
    let keep_current = processor(
        &s3,
        policy("match: { buckets: [s3pp-source] }\nbackup: s3pp-backup"),
    );
    keep_current.handle(&event_for(&versions[1])).await.unwrap();
    assert_eq!(body(&s3, BACKUP, "doc.txt").await, b"version two");

    // A late event for version one: skipped as stale by default...
    let report = keep_current.handle(&event_for(&versions[0])).await.unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Stale);

    // ...backed up when the policy keeps every version, with the current version on top again.
    let every_version = processor(
        &s3,
        policy(
            "match: { buckets: [s3pp-source] }\nbackup: { bucket: s3pp-backup, all_versions: true }",
        ),
    );
    let report = every_version
        .handle(&event_for(&versions[0]))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(
        body(&s3, BACKUP, "doc.txt").await,
        b"version two",
        "backup's current version is the source's"
    );
    let backup_versions = s3
        .list_object_versions()
        .bucket(BACKUP)
        .prefix("doc.txt")
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for version in backup_versions.versions() {
        let object = s3
            .get_object()
            .bucket(BACKUP)
            .key("doc.txt")
            .version_id(version.version_id().unwrap())
            .send()
            .await
            .unwrap();
        bodies.push(
            String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap(),
        );
    }
    assert!(bodies.contains(&"version one".to_owned()), "{bodies:?}");

    // A duplicate of the late event finds version one in the backup's history: nothing new.
    let report = every_version
        .handle(&event_for(&versions[0]))
        .await
        .unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Stale, "{report:?}");
    let again = s3
        .list_object_versions()
        .bucket(BACKUP)
        .prefix("doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(again.versions().len(), backup_versions.versions().len());
}

#[tokio::test]
async fn kms_aliases_are_resolved_at_cold_start_so_re_keyed_objects_compare_equal() {
    let server = S3Server::start();
    let s3 = server.client();
    let kms = kms_client_for(&server.endpoint);
    let key = kms.create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    kms.create_alias()
        .alias_name("alias/reports")
        .target_key_id(&key_arn)
        .send()
        .await
        .unwrap();

    let mut policy = policy("encryption: { algorithm: aws:kms, kms_key_id: alias/reports }");
    s3_policy_processor::kms_aliases::resolve_aliases(&mut policy, &kms)
        .await
        .unwrap();
    let resolved: Vec<Option<String>> = policy
        .kms_keys_mut()
        .map(|k| k.resolved_arn.clone())
        .collect();
    assert_eq!(resolved, vec![Some(key_arn.clone())]);

    let mut missing = self::policy("encryption: { algorithm: aws:kms, kms_key_id: alias/nope }");
    let err = s3_policy_processor::kms_aliases::resolve_aliases(&mut missing, &kms)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("alias/nope"), "{err}");

    // An object under the key's ARN complies with the alias policy.
    s3.create_bucket().bucket(SOURCE).send().await.unwrap();
    s3.put_object()
        .bucket(SOURCE)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .send()
        .await
        .unwrap();
    let processor = processor(&s3, policy);
    let report = processor.handle(&put_event(SOURCE, "k")).await.unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Compliant, "{report:?}");
}
