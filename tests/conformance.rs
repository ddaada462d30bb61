//! Conformance against LocalStack, the faithful local S3 server (see docs/testing.md, "Which server is
//! trusted for what"): the behaviours that protect data and keys, where moto would let a defect
//! through. Each test names the server behaviour it relies on. One LocalStack serves the whole
//! binary (it takes seconds to start), so this file has its own harness (libtest-mimic: same
//! output and summary line as libtest); each test uses its own buckets.

mod support;

#[path = "conformance/identity.rs"]
mod identity;
#[path = "conformance/todays_s3.rs"]
mod todays_s3;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ObjectCannedAcl, ServerSideEncryption, StorageClass,
};
use libtest_mimic::{Arguments, Failed, Trial};
use s3_policy_processor::apply::copy::CopySettings;
use s3_policy_processor::apply::copy_state::CopyStateLocation;
use s3_policy_processor::handler::{InvocationError, Processor};
use s3_policy_processor::plan::{Action, BackupCondition};
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::StoreError;
use s3_policy_processor::store::counting::CountingStore;
use s3_policy_processor::store::intercept::{CallHook, Intercepted, Operation};
use s3_policy_processor::store::s3::S3Store;
use s3_policy_processor::store::server::ServerSupport;
use serde_json::{Value, json};
use support::localstack::LocalStack;
use support::race_proxy::{Moment, RaceProxy, Upload};
use support::*;

const MIB: u64 = 1024 * 1024;

/// What every test gets: the server's endpoint.
struct Env {
    endpoint: String,
}

type TestFn = for<'a> fn(&'a Env) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

macro_rules! tests {
    ($($name:path),* $(,)?) => {
        vec![$((stringify!($name), (|env| Box::pin($name(env))) as TestFn)),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let tests: Vec<(&str, TestFn)> = tests![
        kms_alias_policy_sends_the_resolved_key_and_redelivery_writes_nothing,
        class_change_on_a_kms_object_keeps_its_customer_key_and_bucket_key,
        stale_event_is_skipped_without_writing,
        compliant_object_gets_no_self_copy,
        metadata_headers_and_awkward_tags_survive_rewrite_and_backup,
        localstack_notifications_with_awkward_keys_through_sqs,
        multipart_rewrite_keeps_checksum_algorithm_and_expires_and_leaves_no_uploads,
        versioned_bucket_backs_up_the_exact_version,
        every_version_of_a_key_is_listed_over_several_pages,
        matching_checksums_make_redelivery_copy_nothing,
        public_acl_grants_are_removed,
        newer_upload_before_multipart_completion_is_not_overwritten,
        newer_upload_during_single_copy_is_not_overwritten,
        decoded_and_raw_keys_both_existing_pick_the_events_object,
        archived_objects_get_tags_without_a_restore_and_are_skipped,
        sse_c_objects_are_skipped_not_failed,
        small_objects_are_backed_up_in_standard,
        all_versions_does_not_copy_a_noncurrent_version_again,
        large_copies_resume_across_invocations,
        a_source_changed_between_invocations_restarts_the_copy,
        backup_copy_asks_for_an_empty_destination_and_never_replaces_a_newer_object,
        backup_copy_beside_head_copies_only_the_events_object_to_an_empty_location,
        identity::producers_uploads_survive_a_multipart_rewrite,
        identity::a_paused_copy_of_one_write_never_feeds_another,
        identity::s3_refuses_a_completion_whose_parts_are_not_the_sources,
        identity::two_source_buckets_never_share_a_backup_key,
        identity::a_late_version_never_displaces_the_current_backup,
        identity::a_slow_backup_never_completes_over_a_newer_one,
        identity::two_attempts_at_one_copy_never_share_an_upload,
        identity::locked_objects_are_found_without_trusting_head,
        todays_s3::a_server_without_update_object_encryption_gets_one_try_then_copies,
        todays_s3::localstack_takes_an_annotation_for_a_put_of_its_payload,
    ];
    if args.list {
        let trials = tests
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }
    let server = LocalStack::start();
    let env = Arc::new(Env {
        endpoint: server.endpoint.clone(),
    });
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let env = env.clone();
            Trial::test(name, move || run(&env, test))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(server); // stopped by PID before exiting (exit skips destructors)
    conclusion.exit();
}

fn run(env: &Env, test: TestFn) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?;
    runtime.block_on(test(env));
    Ok(())
}

impl Env {
    fn s3(&self) -> Client {
        client_for(&self.endpoint)
    }

    fn kms(&self) -> aws_sdk_kms::Client {
        kms_client_for(&self.endpoint)
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        sqs_client_for(&self.endpoint)
    }

    /// `host:port` of the server, for proxies.
    fn upstream(&self) -> String {
        self.endpoint.trim_start_matches("http://").to_owned()
    }
}

/// Creates the buckets `<name>-src` and `<name>-bak`; returns their names.
async fn buckets(s3: &Client, name: &str) -> (String, String) {
    let (source, backup) = (format!("{name}-src"), format!("{name}-bak"));
    for bucket in [&source, &backup] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }
    (source, backup)
}

/// An S3 notification as S3 sends it (key form-encoded by the caller).
fn put_event(bucket: &str, encoded_key: &str, etag: Option<&str>, version: Option<&str>) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket},
        "object": {"key": encoded_key, "eTag": etag, "versionId": version, "sequencer": "01"}}}]})
}

/// An S3 notification with the object's ETag and size, as S3 sends them.
fn put_event_with_size(bucket: &str, key: &str, etag: Option<&str>, size: i64) -> Value {
    let mut event = put_event(bucket, &form_encoded(key), etag, None);
    event["Records"][0]["s3"]["object"]["size"] = json!(size);
    event
}

/// The object HEAD saw `after` is the one it saw `before` (same ETag, same Last-Modified):
/// nothing wrote it in between.
fn assert_untouched(before: &HeadObjectOutput, after: &HeadObjectOutput) {
    assert_eq!(before.e_tag(), after.e_tag());
    assert_eq!(before.last_modified(), after.last_modified());
}

fn form_encoded(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes()).collect()
}

fn unquoted(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

async fn pending_uploads(s3: &Client, bucket: &str) -> usize {
    s3.list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .len()
}

fn small_parts() -> CopySettings {
    CopySettings {
        multipart_threshold: 6 * MIB,
        part_size: 5 * MIB,
        parts_in_flight: 3,
        ..CopySettings::default()
    }
}

fn big_body(seed: u64) -> Vec<u8> {
    (0..13 * MIB + 11)
        .map(|i| ((i * 7 + seed) % 253) as u8)
        .collect()
}

/// Relies on: LocalStack storing the key id a copy names as given (it does not resolve
/// aliases), so an object's key shows exactly what the function sent. S3 resolves aliases
/// itself; sending the alias text would follow a re-pointed alias to a key this warm instance
/// does not compare against (defect 3).
async fn kms_alias_policy_sends_the_resolved_key_and_redelivery_writes_nothing(env: &Env) {
    let (s3, kms) = (env.s3(), env.kms());
    let (source, _) = buckets(&s3, "cf-alias").await;
    let key = kms.create_key().send().await.expect("create key");
    let key_arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("key arn")
        .to_owned();
    kms.create_alias()
        .alias_name("alias/cf-alias")
        .target_key_id(&key_arn)
        .send()
        .await
        .expect("create alias");
    put_bytes(&s3, &source, "doc.txt", b"hello".as_slice()).await;

    let mut policy = policy("encryption: { algorithm: aws:kms, kms_key_id: alias/cf-alias }");
    s3_policy_processor::kms_aliases::resolve_aliases(&mut policy, &kms)
        .await
        .expect("alias resolves");
    let processor = s3_like_processor(&s3, policy);
    let event = put_event(&source, "doc.txt", None, None);
    let first = processor.handle(&event).await.expect("invocation");
    assert_eq!(first.objects[0].outcome, Outcome::Applied, "{first:?}");
    let head = head_of(&s3, &source, "doc.txt").await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(
        head.ssekms_key_id(),
        Some(key_arn.as_str()),
        "the copy must name the key the alias resolved to, not the alias"
    );

    let writes = processor.store().counts().writes();
    let again = processor.handle(&event).await.expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
    assert_eq!(
        processor.store().counts().writes(),
        writes,
        "redelivery writes nothing"
    );
}

/// Relies on: LocalStack applying `aws:kms` without a key id as S3 does (the AWS-managed
/// key) and reporting the key and bucket-key setting on HEAD. Defect 2: a class change under
/// an any-KMS rule moved objects off their customer key.
async fn class_change_on_a_kms_object_keeps_its_customer_key_and_bucket_key(env: &Env) {
    let (s3, kms) = (env.s3(), env.kms());
    let (source, _) = buckets(&s3, "cf-keep-key").await;
    let key = kms.create_key().send().await.expect("create key");
    let key_arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("key arn")
        .to_owned();
    s3.put_object()
        .bucket(&source)
        .key("k.bin")
        .body(ByteStream::from_static(b"customer data"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .bucket_key_enabled(true)
        .send()
        .await
        .expect("put");
    let processor = s3_like_processor(
        &s3,
        policy("ia_min_size: 0\nrules:\n  - storage_class: STANDARD_IA\n    encryption: aws:kms"),
    );
    let report = processor
        .handle(&put_event(&source, "k.bin", None, None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    let head = head_of(&s3, &source, "k.bin").await;
    assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(
        head.ssekms_key_id(),
        Some(key_arn.as_str()),
        "customer key kept"
    );
    assert_eq!(head.bucket_key_enabled(), Some(true), "bucket key kept");
}

/// Relies on: LocalStack enforcing `x-amz-copy-source-if-match` (moto ignores it). An event
/// for an older ETag is stale and writes nothing; the newer object is left as it is.
async fn stale_event_is_skipped_without_writing(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-stale").await;
    let old = s3
        .put_object()
        .bucket(&source)
        .key("s.txt")
        .body(ByteStream::from_static(b"old"))
        .send()
        .await
        .expect("put old");
    put_bytes(&s3, &source, "s.txt", b"new".as_slice()).await;
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "ia_min_size: 0\nrules:\n  - match: {{ buckets: [{source}] }}\n    storage_class: STANDARD_IA\n    backup: {backup}"
        )),
    );
    let etag = unquoted(old.e_tag());
    let report = processor
        .handle(&put_event(&source, "s.txt", Some(&etag), None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Stale, "{report:?}");
    assert_eq!(processor.store().counts().writes(), 0);
    assert_eq!(body(&s3, &source, "s.txt").await, b"new");
}

/// Relies on: LocalStack reporting SSE-S3 on plain PUTs (moto does not) and rejecting a
/// self-copy that changes nothing (moto accepts it): an already compliant object must plan
/// nothing, so no self-copy is even attempted.
async fn compliant_object_gets_no_self_copy(env: &Env) {
    let s3 = env.s3();
    let (source, _) = buckets(&s3, "cf-compliant").await;
    s3.put_object()
        .bucket(&source)
        .key("ok.txt")
        .body(ByteStream::from_static(b"fine"))
        .storage_class(StorageClass::StandardIa)
        .tagging("team=data")
        .send()
        .await
        .expect("put");
    let processor = s3_like_processor(
        &s3,
        policy(
            "ia_min_size: 0\nrules:\n  - { encryption: AES256, storage_class: STANDARD_IA, tags: { team: data } }",
        ),
    );
    let report = processor
        .handle(&put_event(&source, "ok.txt", None, None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Compliant, "{report:?}");
    let counts = processor.store().counts();
    assert_eq!(counts.writes(), 0, "{counts:?}");
}

/// Relies on: LocalStack copying metadata, content headers and tags with the COPY directives
/// and storing tag values with spaces, unicode, `+` and `=` exactly.
async fn metadata_headers_and_awkward_tags_survive_rewrite_and_backup(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-headers").await;
    let key = "dir/a b+c ü=.txt";
    let tagging = form_urlencoded::Serializer::new(String::new())
        .append_pair("note", "a b+c=d ü")
        .append_pair("owner", "data team")
        .finish();
    s3.put_object()
        .bucket(&source)
        .key(key)
        .body(ByteStream::from_static(b"payload"))
        .content_type("text/plain; charset=utf-8")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"a b.txt\"")
        .content_language("de")
        .metadata("origin", "scanner 7")
        .tagging(tagging)
        .send()
        .await
        .expect("put");
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "ia_min_size: 0\nrules:\n  - {{ match: {{ buckets: [{source}] }}, storage_class: STANDARD_IA, backup: {backup}, tags: {{ processed-by: s3pp }} }}"
        )),
    );
    let report = processor
        .handle(&put_event(&source, &form_encoded(key), None, None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    for bucket in [&source, &backup] {
        let head = head_of(&s3, bucket, key).await;
        assert_eq!(
            head.content_type(),
            Some("text/plain; charset=utf-8"),
            "{bucket}"
        );
        assert_eq!(head.cache_control(), Some("max-age=60"), "{bucket}");
        assert_eq!(
            head.content_disposition(),
            Some("attachment; filename=\"a b.txt\""),
            "{bucket}"
        );
        assert_eq!(head.content_language(), Some("de"), "{bucket}");
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get("origin"))
                .map(String::as_str),
            Some("scanner 7"),
            "{bucket}"
        );
        assert_eq!(body(&s3, bucket, key).await, b"payload", "{bucket}");
    }
    let mut expected: BTreeMap<String, String> = [
        ("note".to_owned(), "a b+c=d ü".to_owned()),
        ("owner".to_owned(), "data team".to_owned()),
    ]
    .into();
    assert_eq!(
        tags(&s3, &backup, key).await,
        expected,
        "backup has the source's tags"
    );
    expected.insert("processed-by".into(), "s3pp".into());
    assert_eq!(tags(&s3, &source, key).await, expected);
    assert_eq!(
        head_of(&s3, &source, key).await.storage_class(),
        Some(&StorageClass::StandardIa)
    );
}

/// Relies on: LocalStack publishing its own S3 → SQS notifications (its key encoding: `%20`
/// for spaces, where AWS sends `+`; form decoding handles both). The messages are fed to the
/// handler exactly as the SQS event source would.
async fn localstack_notifications_with_awkward_keys_through_sqs(env: &Env) {
    let (s3, sqs) = (env.s3(), env.sqs());
    let (source, backup) = buckets(&s3, "cf-notify").await;
    let queue_url = sqs
        .create_queue()
        .queue_name("cf-notify")
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let queue_arn = "arn:aws:sqs:us-east-1:000000000000:cf-notify";
    s3.put_bucket_notification_configuration()
        .bucket(&source)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
        )
        .send()
        .await
        .expect("notification configuration");
    let keys = ["a b/c+d ü %.txt", "c++/x", "plain.txt"];
    for key in keys {
        s3.put_object()
            .bucket(&source)
            .key(key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .expect("put");
    }
    let mut messages = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in out.messages() {
            let body = message.body().unwrap_or_default();
            if body.contains("ObjectCreated") {
                messages.push(json!({"messageId": message.message_id(), "receiptHandle": "r",
                    "body": body, "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                    "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"}));
            }
        }
        if messages.len() >= keys.len() {
            break;
        }
    }
    assert_eq!(messages.len(), keys.len(), "one notification per upload");
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}"
        )),
    );
    let report = processor
        .handle(&json!({"Records": messages}))
        .await
        .expect("invocation");
    let mut decoded: Vec<String> = report.objects.iter().map(|o| o.key.clone()).collect();
    decoded.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    expected.sort();
    assert_eq!(decoded, expected, "{report:?}");
    assert!(
        report.objects.iter().all(|o| o.outcome == Outcome::Applied),
        "{report:?}"
    );
    for key in keys {
        assert_eq!(body(&s3, &backup, key).await, key.as_bytes(), "{key}");
    }
}

/// Relies on: LocalStack's multipart uploads keeping the checksum algorithm and type asked
/// for, computing the full-object CRC32 of the parts, and listing open uploads. Defect 5:
/// multipart copies dropped the source's checksum algorithm (a single CopyObject keeps it).
/// (An `Expires` that is not an HTTP date is tested on moto: LocalStack refuses to store one.)
async fn multipart_rewrite_keeps_checksum_algorithm_and_expires_and_leaves_no_uploads(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-multipart").await;
    let key = "data/big file+1.bin";
    let body_bytes = big_body(1);
    s3.put_object()
        .bucket(&source)
        .key(key)
        .body(ByteStream::from(body_bytes.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .content_type("application/x-parquet")
        .metadata("owner", "data-team")
        .expires(aws_sdk_s3::primitives::DateTime::from_secs(2_139_000_000))
        .send()
        .await
        .expect("put");
    let original = s3
        .head_object()
        .bucket(&source)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    let crc = original
        .checksum_crc32()
        .expect("source has a CRC32")
        .to_owned();
    let expires = original
        .expires_string()
        .expect("source has Expires")
        .to_owned();

    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nstorage_class: STANDARD_IA\nbackup: {backup}"
        )),
    )
    .with_copy_settings(small_parts());
    let report = processor
        .handle(&put_event(&source, &form_encoded(key), None, None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert!(
        processor.store().counts().multipart_completes >= 2,
        "both copies multipart"
    );
    for bucket in [&source, &backup] {
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.checksum_crc32(),
            Some(crc.as_str()),
            "{bucket}: CRC32 kept"
        );
        assert_eq!(head.expires_string(), Some(expires.as_str()), "{bucket}");
        assert_eq!(
            head.content_type(),
            Some("application/x-parquet"),
            "{bucket}"
        );
        assert_eq!(body(&s3, bucket, key).await, body_bytes, "{bucket}");
        assert_eq!(
            pending_uploads(&s3, bucket).await,
            0,
            "{bucket}: no orphaned upload"
        );
    }
    let writes = processor.store().counts().writes();
    let again = processor
        .handle(&put_event(&source, &form_encoded(key), None, None))
        .await
        .expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
    assert_eq!(processor.store().counts().writes(), writes);
}

/// A key's versions are read over as many ListObjectVersions pages as LocalStack sends, with
/// a key it prefixes beside it (moto: tests/hard_objects.rs).
/// Relies on: LocalStack's ListObjectVersions paging (`max-keys`, `key-marker`,
/// `version-id-marker`, `NextKeyMarker`/`NextVersionIdMarker`), as S3 documents it.
async fn every_version_of_a_key_is_listed_over_several_pages(env: &Env) {
    let s3 = env.s3();
    let (source, _) = buckets(&s3, "cf-version-pages").await;
    assert_versions_listed_over_pages(&s3, &source, 2).await;
}

/// Relies on: LocalStack's versioning (version ids on PUT, copies from `?versionId=`).
async fn versioned_bucket_backs_up_the_exact_version(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-versions").await;
    enable_versioning(&s3, &source).await;
    let versions = put_versions(&s3, &source, "v.txt", &["first", "second"]).await;
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}"
        )),
    );
    let current = processor
        .handle(&put_event(&source, "v.txt", None, Some(&versions[1])))
        .await
        .expect("invocation");
    assert_eq!(current.objects[0].outcome, Outcome::Applied, "{current:?}");
    assert_eq!(body(&s3, &backup, "v.txt").await, b"second");
    let old = processor
        .handle(&put_event(&source, "v.txt", None, Some(&versions[0])))
        .await
        .expect("invocation");
    assert_eq!(old.objects[0].outcome, Outcome::Stale, "{old:?}");
    assert_eq!(
        body(&s3, &backup, "v.txt").await,
        b"second",
        "older bytes never win"
    );
}

/// Relies on: LocalStack reporting checksums with `ChecksumMode=ENABLED` (and only then).
/// Under SSE-KMS, ETags are not MD5s, so the backup's currency rests on the checksum.
async fn matching_checksums_make_redelivery_copy_nothing(env: &Env) {
    let (s3, kms) = (env.s3(), env.kms());
    let (source, backup) = buckets(&s3, "cf-checksums").await;
    let key = kms.create_key().send().await.expect("create key");
    let key_arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("key arn")
        .to_owned();
    s3.put_object()
        .bucket(&source)
        .key("c.txt")
        .body(ByteStream::from_static(b"checksummed"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("put");
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}"
        )),
    );
    let event = put_event(&source, "c.txt", None, None);
    let first = processor.handle(&event).await.expect("invocation");
    assert_eq!(first.objects[0].outcome, Outcome::Applied, "{first:?}");
    let copied = s3
        .head_object()
        .bucket(&backup)
        .key("c.txt")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head backup");
    assert!(
        copied.checksum_sha256().is_some(),
        "backup keeps the SHA-256"
    );
    let copies = processor.store().counts().copies;
    let again = processor.handle(&event).await.expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
    assert!(again.objects[0].actions.is_empty(), "{again:?}");
    // The only copy request is the backup's `If-None-Match: *` one, which S3 refuses.
    assert_eq!(processor.store().counts().copies, copies + 1);
    let after = s3
        .head_object()
        .bucket(&backup)
        .key("c.txt")
        .send()
        .await
        .expect("head backup");
    assert_eq!(
        after.last_modified(),
        copied.last_modified(),
        "no second backup copy"
    );
}

/// Relies on: LocalStack's object ACLs (canned `public-read` becomes an AllUsers READ grant).
async fn public_acl_grants_are_removed(env: &Env) {
    let s3 = env.s3();
    let (source, _) = buckets(&s3, "cf-acl").await;
    s3.put_object()
        .bucket(&source)
        .key("p.txt")
        .body(ByteStream::from_static(b"public"))
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .expect("put");
    let processor = s3_like_processor(
        &s3,
        policy("tags: { checked: yes }\nremove_public_acl: true"),
    );
    let report = processor
        .handle(&put_event(&source, "p.txt", None, None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    let acl = s3
        .get_object_acl()
        .bucket(&source)
        .key("p.txt")
        .send()
        .await
        .expect("get acl");
    assert!(
        acl.grants().iter().all(|g| g
            .grantee()
            .and_then(|g| g.uri())
            .is_none_or(|uri| !uri.contains("AllUsers"))),
        "{acl:?}"
    );
    assert!(!acl.grants().is_empty(), "the owner's grant stays");
}

/// A user upload that lands in the race proxy at `moment`, directly on the server.
fn newer_upload(env: &Env, bucket: &str, key: &str, body: &'static [u8]) -> Upload {
    let (s3, bucket, key) = (env.s3(), bucket.to_owned(), key.to_owned());
    Arc::new(move || {
        let (s3, bucket, key) = (s3.clone(), bucket.clone(), key.clone());
        Box::pin(async move {
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from_static(body))
                .send()
                .await
                .expect("the user's newer upload");
        })
    })
}

/// Relies on: LocalStack enforcing `If-Match` on CompleteMultipartUpload (412) and keeping
/// the upload open after it (the function aborts it). Defect 1: the parts were copied from
/// the old bytes, and completing the upload replaced the user's newer object with them.
async fn newer_upload_before_multipart_completion_is_not_overwritten(env: &Env) {
    let s3 = env.s3();
    let (source, _) = buckets(&s3, "cf-race-mpu").await;
    put_bytes(&s3, &source, "big.bin", big_body(2)).await;
    let proxy = RaceProxy::start(
        env.upstream(),
        format!("/{source}/big.bin"),
        Moment::BeforeComplete,
        newer_upload(env, &source, "big.bin", b"the user's newer upload"),
    )
    .await;
    let processor = s3_like_processor(
        &client_for(&proxy.endpoint),
        policy("storage_class: STANDARD_IA"),
    )
    .with_copy_settings(small_parts());
    let report = processor
        .handle(&put_event(&source, "big.bin", None, None))
        .await
        .expect("invocation");
    assert!(proxy.fired(), "the upload landed before completion");
    assert_eq!(report.objects[0].outcome, Outcome::Stale, "{report:?}");
    assert_eq!(
        body(&s3, &source, "big.bin").await,
        b"the user's newer upload"
    );
    assert_eq!(
        pending_uploads(&s3, &source).await,
        0,
        "the upload was aborted"
    );
}

/// Relies on: LocalStack enforcing `If-Match` on CopyObject (412). See the race proxy's docs
/// for how "the upload lands during the copy" is modelled.
async fn newer_upload_during_single_copy_is_not_overwritten(env: &Env) {
    let s3 = env.s3();
    let (source, _) = buckets(&s3, "cf-race-copy").await;
    put_bytes(&s3, &source, "small.txt", b"old bytes".as_slice()).await;
    let proxy = RaceProxy::start(
        env.upstream(),
        format!("/{source}/small.txt"),
        Moment::DuringCopy,
        newer_upload(env, &source, "small.txt", b"newer bytes"),
    )
    .await;
    let processor = s3_like_processor(
        &client_for(&proxy.endpoint),
        policy("ia_min_size: 0\nrules:\n  - storage_class: STANDARD_IA"),
    );
    let report = processor
        .handle(&put_event(&source, "small.txt", None, None))
        .await
        .expect("invocation");
    assert!(proxy.fired(), "the upload landed during the copy");
    assert_eq!(report.objects[0].outcome, Outcome::Stale, "{report:?}");
    assert_eq!(body(&s3, &source, "small.txt").await, b"newer bytes");
}

/// Relies on: LocalStack storing `a b` and `a+b` as distinct keys. Defect 6: EventBridge and
/// Batch Operations keys are tried decoded, then as sent; when both exist, the one whose ETag
/// the event names is the event's object.
async fn decoded_and_raw_keys_both_existing_pick_the_events_object(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-raw-key").await;
    for (key, body) in [("a b.txt", "decoded"), ("a+b.txt", "raw")] {
        s3.put_object()
            .bucket(&source)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .expect("put");
    }
    let raw_etag = unquoted(head_of(&s3, &source, "a+b.txt").await.e_tag());
    let event = json!({"version": "0", "id": "e1", "detail-type": "Object Created",
        "source": "aws.s3", "account": "000000000000", "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {"version": "0",
        "bucket": {"name": source}, "object": {"key": "a+b.txt", "size": 3, "etag": raw_etag,
        "sequencer": "01"}, "reason": "PutObject"}});
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}"
        )),
    );
    let report = processor.handle(&event).await.expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(report.objects[0].key, "a+b.txt", "{report:?}");
    assert_eq!(body(&s3, &backup, "a+b.txt").await, b"raw");
    assert!(
        s3.head_object()
            .bucket(&backup)
            .key("a b.txt")
            .send()
            .await
            .is_err(),
        "the other object is not the event's"
    );
}

/// Relies on: LocalStack allowing tagging calls on archived objects without a restore, as S3
/// does (moto refuses them) and refusing copies of them (InvalidObjectState).
async fn archived_objects_get_tags_without_a_restore_and_are_skipped(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-archived").await;
    s3.put_object()
        .bucket(&source)
        .key("cold.bin")
        .body(ByteStream::from_static(b"frozen"))
        .storage_class(StorageClass::Glacier)
        .send()
        .await
        .expect("put");
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}\ntags: {{ processed-by: s3pp }}"
        )),
    );
    let report = processor
        .handle(&put_event(&source, "cold.bin", None, None))
        .await
        .expect("invocation");
    let object = &report.objects[0];
    assert_eq!(object.outcome, Outcome::Skipped, "{report:?}");
    assert!(
        object.notes.iter().any(|n| n.contains("needs a restore")),
        "{report:?}"
    );
    assert_eq!(
        tags(&s3, &source, "cold.bin")
            .await
            .get("processed-by")
            .map(String::as_str),
        Some("s3pp"),
        "tags go on without a restore"
    );
    assert!(
        keys(&s3, &backup).await.is_empty(),
        "no copy of an archived object"
    );
}

/// Relies on: LocalStack answering HEAD without the customer key with 400, as S3 does for
/// SSE-C objects.
async fn sse_c_objects_are_skipped_not_failed(env: &Env) {
    // The customer key: 32 bytes of 0x07, base64, and the base64 of its MD5 (S3 wants both).
    const KEY_B64: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    const KEY_MD5_B64: &str = "y4HAEFCYWuvAXWFTtA1Qpg==";
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-sse-c").await;
    s3.put_object()
        .bucket(&source)
        .key("secret.bin")
        .body(ByteStream::from_static(b"customer keyed"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(KEY_B64)
        .sse_customer_key_md5(KEY_MD5_B64)
        .send()
        .await
        .expect("put with SSE-C");
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {backup}"
        )),
    );
    let report = processor
        .handle(&put_event(&source, "secret.bin", None, None))
        .await
        .expect("the invocation does not fail");
    assert_eq!(report.objects[0].outcome, Outcome::Skipped, "{report:?}");
    assert!(report.objects[0].notes[0].contains("SSE-C"), "{report:?}");
}

/// Relies on: LocalStack storing the class a copy asks for. The cost guard covers backups:
/// GLACIER_IR bills 128 KiB per object, so a tiny object's backup stays in STANDARD.
async fn small_objects_are_backed_up_in_standard(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-small-backup").await;
    put_bytes(&s3, &source, "tiny.txt", b"tiny".as_slice()).await;
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{source}] }}\nbackup: {{ bucket: {backup}, storage_class: GLACIER_IR }}"
        )),
    );
    let report = processor
        .handle(&put_event(&source, "tiny.txt", None, None))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Skipped, "{report:?}");
    assert!(
        report.objects[0].notes[0].contains("cost guard"),
        "{report:?}"
    );
    let copy = head_of(&s3, &backup, "tiny.txt").await;
    assert!(
        copy.storage_class()
            .is_none_or(|c| *c == StorageClass::Standard),
        "{copy:?}"
    );
}

/// Relies on: LocalStack's versioning and checksums. With `all_versions`, the duplicate of the
/// original Put event (its version made noncurrent by the function's own rewrite) finds that
/// version's bytes already backed up and copies nothing.
async fn all_versions_does_not_copy_a_noncurrent_version_again(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-all-versions").await;
    enable_versioning(&s3, &source).await;
    enable_versioning(&s3, &backup).await;
    let versions = put_versions(&s3, &source, "doc.txt", &["only version"]).await;
    let processor = s3_like_processor(
        &s3,
        policy(&format!(
            "ia_min_size: 0\nrules:\n  - match: {{ buckets: [{source}] }}\n    storage_class: STANDARD_IA\n    backup: {{ bucket: {backup}, all_versions: true }}"
        )),
    );
    let event = put_event(&source, "doc.txt", None, Some(&versions[0]));
    let first = processor.handle(&event).await.expect("invocation");
    assert_eq!(first.objects[0].outcome, Outcome::Applied, "{first:?}");
    let again = processor.handle(&event).await.expect("duplicate delivery");
    assert!(again.objects[0].actions.is_empty(), "{again:?}");
    let backup_versions = s3
        .list_object_versions()
        .bucket(&backup)
        .send()
        .await
        .expect("list versions");
    assert_eq!(backup_versions.versions().len(), 1, "one backup version");
}

/// Time each part copy takes at least: the hook sleeps this long before it (blocking the
/// test's one-thread runtime, like a slow copy would).
const PART_TIME: std::time::Duration = std::time::Duration::from_millis(500);
/// Time an invocation may start parts in: its deadline minus the copy settings' 1 s margin.
/// Part k starts no earlier than (k-1)·PART_TIME, so at most 2 parts start in 700 ms, and the
/// first always does: the bounds hold however fast the server is.
const PART_WINDOW: std::time::Duration = std::time::Duration::from_millis(700);

struct SlowParts;

impl CallHook for SlowParts {
    fn before(&self, operation: Operation) -> Result<(), StoreError> {
        if operation == Operation::UploadPartCopy {
            std::thread::sleep(PART_TIME);
        }
        Ok(())
    }
}

type SlowStore = CountingStore<Intercepted<S3Store, SlowParts>>;

/// A processor whose part copies are slow, recording its multipart copies in `state_bucket`.
fn slow_processor(s3: &Client, policy_text: &str, state_bucket: &str) -> Processor<SlowStore> {
    let store = CountingStore::new(Intercepted::with_hook(
        S3Store::from_client(s3.clone()),
        SlowParts,
    ));
    Processor::new(store, policy(policy_text), 4, false)
        .with_copy_settings(CopySettings {
            multipart_threshold: 6 * MIB,
            part_size: 5 * MIB,
            parts_in_flight: 1,
            deadline_margin: std::time::Duration::from_secs(1),
            state: Some(copy_state(state_bucket)),
        })
        // Amazon S3's defaults, less what LocalStack does not implement (never sent to it).
        .with_server_support(ServerSupport {
            update_object_encryption: false,
            object_annotations: false,
            ..ServerSupport::S3
        })
}

/// The copy state location the tests use: `_s3pp/copy-state/` in `bucket`.
fn copy_state(bucket: &str) -> CopyStateLocation {
    CopyStateLocation::parse(&format!("s3://{bucket}/_s3pp/copy-state/")).expect("state location")
}

/// Invokes until the object is applied (at most `limit` times), each with a deadline that
/// lets one or two parts start; returns how many invocations paused.
async fn invoke_until_applied(
    processor: &Processor<SlowStore>,
    event: &Value,
    limit: usize,
) -> usize {
    let mut paused = 0;
    for _ in 0..limit {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1) + PART_WINDOW;
        match processor.handle_until(event, Some(deadline)).await {
            Ok(report) if report.objects[0].outcome == Outcome::Applied => return paused,
            Ok(report) => panic!("unexpected: {report:?}"),
            Err(InvocationError::RecordsFailed { report, .. }) => {
                let object = &report.objects[0];
                assert_eq!(
                    object.error_code.as_deref(),
                    Some("DeadlineNear"),
                    "{report:?}"
                );
                assert!(object.transient, "a paused copy is retried");
                paused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    panic!("not applied after {limit} invocations");
}

/// Relies on: LocalStack's ListMultipartUploads (with `Initiated`) and ListParts (with part
/// sizes). A copy too long for one invocation pauses before the deadline with its upload
/// open; the retries continue it, copying each part once.
async fn large_copies_resume_across_invocations(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-resume").await;
    let bytes: Vec<u8> = (0..26 * MIB + 5).map(|i| (i * 13 % 251) as u8).collect();
    put_bytes(&s3, &source, "huge.bin", bytes.clone()).await;
    // A >5 GB upload takes minutes; the event is handled well after Last-Modified.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let processor = slow_processor(
        &s3,
        &format!("match: {{ buckets: [{source}] }}\nbackup: {backup}"),
        &backup,
    );
    let event = put_event(&source, "huge.bin", None, None);
    let paused = invoke_until_applied(&processor, &event, 10).await;
    // 6 parts, at most 2 per invocation: at least 3 invocations, 2 of them paused.
    assert!(
        paused >= 2,
        "the copy needed several invocations ({paused} paused)"
    );
    let counts = processor.store().counts();
    assert_eq!(
        counts.multipart_starts, 1,
        "one upload, continued: {counts:?}"
    );
    assert_eq!(
        counts.part_copies, 6,
        "each of the 6 parts copied once: {counts:?}"
    );
    assert_eq!(body(&s3, &backup, "huge.bin").await, bytes);
    assert_eq!(pending_uploads(&s3, &backup).await, 0);
}

/// Relies on: LocalStack's `Initiated` and Last-Modified. An open upload started before the
/// source was replaced holds older bytes: it is aborted and the copy starts over.
async fn a_source_changed_between_invocations_restarts_the_copy(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-resume-changed").await;
    let old: Vec<u8> = (0..26 * MIB).map(|i| (i % 199) as u8).collect();
    put_bytes(&s3, &source, "huge.bin", old).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let processor = slow_processor(
        &s3,
        &format!("match: {{ buckets: [{source}] }}\nbackup: {backup}"),
        &backup,
    );
    let event = put_event(&source, "huge.bin", None, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1) + PART_WINDOW;
    let first = processor.handle_until(&event, Some(deadline)).await;
    assert!(first.is_err(), "the first invocation pauses: {first:?}");
    assert_eq!(pending_uploads(&s3, &backup).await, 1);

    let new: Vec<u8> = (0..26 * MIB).map(|i| (i % 211) as u8).collect();
    put_bytes(&s3, &source, "huge.bin", new.clone()).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    invoke_until_applied(&processor, &event, 10).await;
    let counts = processor.store().counts();
    assert_eq!(
        counts.multipart_aborts, 1,
        "the stale upload was aborted: {counts:?}"
    );
    assert_eq!(
        body(&s3, &backup, "huge.bin").await,
        new,
        "newer bytes, never a mix"
    );
    assert_eq!(pending_uploads(&s3, &backup).await, 0);
}

/// Relies on: LocalStack refusing CopyObject with `If-None-Match: *` (412) when an object is
/// at the destination, as S3 does (moto ignores it: there a redelivery would copy the backup
/// again and a newer object at the backup location would be replaced), and reporting
/// `x-amz-tagging-count` on HEAD only when there are tags, as S3 does. The common path is
/// three requests; a redelivery and a foreign object at the backup location are exactly as
/// safe as with a HEAD of the backup first.
async fn backup_copy_asks_for_an_empty_destination_and_never_replaces_a_newer_object(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-if-none-match").await;
    put_bytes(&s3, &source, "new.txt", b"fresh".to_vec()).await;
    put_bytes(&s3, &source, "taken.txt", b"mine".to_vec()).await;
    // S3's Last-Modified has whole seconds: the foreign object must be visibly newer.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put_bytes(&s3, &backup, "taken.txt", b"someone else's".to_vec()).await;
    let foreign = head_of(&s3, &backup, "taken.txt").await;
    let policy_text = format!(
        "ia_min_size: 0\nrules:\n  - match: {{ buckets: [{source}] }}\n    encryption: AES256\n    storage_class: STANDARD_IA\n    backup: {backup}\n    tags: {{ processed-by: s3pp }}"
    );
    let processor = s3_like_processor(&s3, policy(&policy_text));

    let first = processor
        .handle(&put_event(&source, "new.txt", None, None))
        .await
        .expect("invocation");
    assert_eq!(first.objects[0].outcome, Outcome::Applied, "{first:?}");
    let counts = processor.store().counts();
    assert_eq!(
        (counts.heads, counts.get_tags, counts.copies),
        (1, 0, 2),
        "HEAD, backup copy, rewrite: {counts:?}"
    );
    assert_eq!(body(&s3, &backup, "new.txt").await, b"fresh");
    let backup_before = head_of(&s3, &backup, "new.txt").await;
    let source_before = head_of(&s3, &source, "new.txt").await;

    let again = processor
        .handle(&put_event(&source, "new.txt", None, None))
        .await
        .expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
    let backup_after = head_of(&s3, &backup, "new.txt").await;
    let source_after = head_of(&s3, &source, "new.txt").await;
    assert_untouched(&backup_before, &backup_after);
    assert_eq!(source_before.last_modified(), source_after.last_modified());

    let taken = processor
        .handle(&put_event(&source, "taken.txt", None, None))
        .await
        .expect("invocation");
    assert_eq!(taken.objects[0].outcome, Outcome::Skipped, "{taken:?}");
    assert!(
        taken.objects[0]
            .notes
            .iter()
            .any(|n| n.contains("not overwritten")),
        "{taken:?}"
    );
    // Compared by HEAD: LocalStack never releases the read lock of a CopyObject destination
    // whose `If-None-Match` failed, so a GetObject of it hangs (HEAD answers).
    let kept = head_of(&s3, &backup, "taken.txt").await;
    assert_untouched(&foreign, &kept);
    assert_eq!(kept.content_length(), Some(14));
}

/// Relies on: LocalStack honouring `If-None-Match: *` (412 when an object is at the
/// destination) and `x-amz-copy-source-if-match` (412 when the source's ETag differs) on
/// CopyObject, as S3 does; moto ignores both, so this path is never taken with moto. An event
/// with an ETag and a size starts the backup copy beside HEAD: a new object still takes three
/// requests (in two round trips), the backup keeps content type and metadata, a redelivery
/// changes nothing, an object replaced after its event is not copied, a website redirect ends
/// up on the backup (destination `If-Match`, which LocalStack enforces), and an object already
/// at the backup location is replaced only where it is, staying as a noncurrent version. The
/// copy beside HEAD is made only into a versioned backup bucket (as the template's), where a
/// backup that carries no record of its source may later be replaced without loss.
async fn backup_copy_beside_head_copies_only_the_events_object_to_an_empty_location(env: &Env) {
    let s3 = env.s3();
    let (source, backup) = buckets(&s3, "cf-early-backup").await;
    enable_versioning(&s3, &backup).await;
    s3.put_object()
        .bucket(&source)
        .key("new file.txt")
        .body(ByteStream::from_static(b"fresh"))
        .content_type("text/markdown")
        .metadata("owner", "data-team")
        .send()
        .await
        .expect("put source");
    put_bytes(&s3, &source, "replaced.txt", b"first".to_vec()).await;
    put_bytes(&s3, &source, "taken.txt", b"mine".to_vec()).await;
    s3.put_object()
        .bucket(&source)
        .key("redirect.txt")
        .body(ByteStream::from_static(b"moved"))
        .website_redirect_location("/elsewhere")
        .send()
        .await
        .expect("put source with a redirect");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put_bytes(&s3, &backup, "taken.txt", b"someone else's".to_vec()).await;
    let foreign = head_of(&s3, &backup, "taken.txt").await;
    let policy_text = format!(
        "ia_min_size: 0\nrules:\n  - match: {{ buckets: [{source}] }}\n    encryption: AES256\n    storage_class: STANDARD_IA\n    backup: {backup}\n    tags: {{ processed-by: s3pp }}"
    );
    let processor = s3_like_processor(&s3, policy(&policy_text));
    let event_for = |head: &HeadObjectOutput, key: &str| {
        put_event_with_size(
            &source,
            key,
            head.e_tag(),
            head.content_length().unwrap_or(0),
        )
    };

    let new = head_of(&s3, &source, "new file.txt").await;
    let first = processor
        .handle(&event_for(&new, "new file.txt"))
        .await
        .expect("invocation");
    assert_eq!(first.objects[0].outcome, Outcome::Applied, "{first:?}");
    let counts = processor.store().counts();
    assert_eq!(
        (counts.heads, counts.get_tags, counts.copies),
        (1, 0, 2),
        "HEAD beside the backup copy, then the rewrite: {counts:?}"
    );
    assert_eq!(body(&s3, &backup, "new file.txt").await, b"fresh");
    let copy = head_of(&s3, &backup, "new file.txt").await;
    assert_eq!(copy.content_type(), Some("text/markdown"));
    assert_eq!(
        copy.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("data-team")
    );
    let source_before = head_of(&s3, &source, "new file.txt").await;

    let again = processor
        .handle(&event_for(&new, "new file.txt"))
        .await
        .expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
    let copy_after = head_of(&s3, &backup, "new file.txt").await;
    let source_after = head_of(&s3, &source, "new file.txt").await;
    assert_untouched(&copy, &copy_after);
    assert_eq!(source_before.last_modified(), source_after.last_modified());

    let replaced = head_of(&s3, &source, "replaced.txt").await;
    put_bytes(&s3, &source, "replaced.txt", b"second, longer".to_vec()).await;
    let before = processor.store().counts();
    let late = processor
        .handle(&event_for(&replaced, "replaced.txt"))
        .await
        .expect("invocation");
    assert_eq!(late.objects[0].outcome, Outcome::Stale, "{late:?}");
    let after = processor.store().counts();
    assert_eq!(
        (after.heads - before.heads, after.copies - before.copies),
        (1, 1),
        "the copy beside HEAD was sent and refused by its source condition"
    );
    let missing = s3
        .head_object()
        .bucket(&backup)
        .key("replaced.txt")
        .send()
        .await;
    assert!(
        missing.is_err(),
        "nothing copied for a replaced object: {missing:?}"
    );

    // The copy beside HEAD cannot restate a redirect; the plan replaces exactly that copy.
    let redirect = head_of(&s3, &source, "redirect.txt").await;
    let report = processor
        .handle(&event_for(&redirect, "redirect.txt"))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    let names: Vec<&str> = report.objects[0].actions.iter().map(|a| a.name()).collect();
    assert_eq!(names, ["backup", "backup", "rewrite"], "{report:?}");
    let copy = head_of(&s3, &backup, "redirect.txt").await;
    assert_eq!(copy.website_redirect_location(), Some("/elsewhere"));

    let taken = head_of(&s3, &source, "taken.txt").await;
    let report = processor
        .handle(&event_for(&taken, "taken.txt"))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert!(
        matches!(&report.objects[0].actions[0], Action::Backup { condition: BackupCondition::Replacing(etag), .. } if Some(format!("\"{etag}\"").as_str()) == foreign.e_tag()),
        "replaced only where it was seen: {report:?}"
    );
    // Compared by HEAD: a GetObject of a destination whose `If-None-Match` copy LocalStack
    // refused hangs (docs/testing.md).
    let kept = s3
        .head_object()
        .bucket(&backup)
        .key("taken.txt")
        .version_id(foreign.version_id().expect("versioned"))
        .send()
        .await
        .expect("the replaced object stays as a noncurrent version");
    assert_untouched(&foreign, &kept);
    assert_eq!(body(&s3, &backup, "taken.txt").await, b"mine");
}
