//! The core against a real S3-compatible server (moto on 127.0.0.1): sample events in, bucket
//! state out. Each test starts its own server and stops it by PID when done.

mod support;

use std::collections::BTreeMap;

use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use s3_policy_processor::handler::InvocationError;
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::server::ServerSupport;
use serde_json::json;
use support::*;

const REPORT_KEY: &str = "reports/2026/q3 summary.csv";

#[tokio::test]
async fn put_event_brings_object_into_policy_and_backs_it_up() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let source_before = head_of(&s3, SOURCE, REPORT_KEY).await;
    let processor = processor(&s3, example_policy());

    let report = processor
        .handle(&event("put-single.json"))
        .await
        .expect("invocation succeeds");
    assert_eq!(report.objects.len(), 1);
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(report.objects[0].rule.as_deref(), Some("reports"));

    let original = sample("report");
    let head = head_of(&s3, SOURCE, REPORT_KEY).await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(head.content_type(), Some("text/csv"));
    assert_eq!(
        head.metadata()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        original.metadata
    );
    let mut expected_tags = original.tags.clone();
    expected_tags.insert("processed-by".into(), "s3-policy-processor".into());
    assert_eq!(tags(&s3, SOURCE, REPORT_KEY).await, expected_tags);
    assert_eq!(
        body(&s3, SOURCE, REPORT_KEY).await,
        original.body,
        "source bytes unchanged"
    );

    let backup = head_of(&s3, BACKUP, REPORT_KEY).await;
    assert_eq!(backup.storage_class(), Some(&StorageClass::GlacierIr));
    assert_eq!(backup.content_type(), Some("text/csv"));
    assert_eq!(user_metadata(&backup), original.metadata);
    assert_eq!(
        recorded_source(&backup),
        Some((
            SOURCE.to_owned(),
            source_before
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned()
        )),
        "the backup records the write it was copied from"
    );
    assert_eq!(
        tags(&s3, BACKUP, REPORT_KEY).await,
        original.tags,
        "backup carries the source's tags"
    );
    assert_eq!(body(&s3, BACKUP, REPORT_KEY).await, original.body);

    let counts = processor.store().counts();
    assert_eq!(
        (counts.copies, counts.put_tags),
        (2, 0),
        "one backup copy and ONE rewrite carrying the tags: {counts:?}"
    );
}

#[tokio::test]
async fn duplicate_delivery_and_own_copy_event_write_nothing() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let first = processor(&s3, example_policy());
    first
        .handle(&event("put-single.json"))
        .await
        .expect("first delivery");
    let before = head_of(&s3, SOURCE, REPORT_KEY).await;
    let backup_before = head_of(&s3, BACKUP, REPORT_KEY).await;

    for name in ["put-single.json", "copy-self.json"] {
        let again = processor(&s3, example_policy());
        let report = again
            .handle(&event(name))
            .await
            .expect("redelivery succeeds");
        assert_eq!(
            report.objects[0].outcome,
            Outcome::Compliant,
            "{name}: {report:?}"
        );
        let counts = again.store().counts();
        assert_eq!(
            counts.writes(),
            0,
            "{name}: no writes on a compliant object: {counts:?}"
        );
    }
    let after = head_of(&s3, SOURCE, REPORT_KEY).await;
    let backup_after = head_of(&s3, BACKUP, REPORT_KEY).await;
    assert_eq!(before.last_modified(), after.last_modified());
    assert_eq!(before.e_tag(), after.e_tag());
    assert_eq!(backup_before.last_modified(), backup_after.last_modified());
}

#[tokio::test]
async fn encoded_keys_are_decoded_and_copied_exactly() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let processor = processor(&s3, example_policy());
    let report = processor
        .handle(&event("put-encoded-keys.json"))
        .await
        .expect("invocation succeeds");
    assert!(
        report.objects.iter().all(|o| o.outcome == Outcome::Applied),
        "{report:?}"
    );

    for id in ["notes", "cpp", "long"] {
        let object = sample(id);
        let backup_key = format!("other/{}", object.key);
        assert_eq!(
            body(&s3, BACKUP, &backup_key).await,
            object.body,
            "backup of {:?}",
            object.key
        );
        let head = head_of(&s3, BACKUP, &backup_key).await;
        assert_eq!(head.content_type(), Some(object.content_type.as_str()));
        let mut expected = object.tags.clone();
        expected.insert("processed-by".into(), "s3-policy-processor".into());
        assert_eq!(
            tags(&s3, SOURCE, &object.key).await,
            expected,
            "tags of {:?}",
            object.key
        );
    }
    let mut backups = keys(&s3, BACKUP).await;
    backups.sort();
    assert_eq!(
        backups.len(),
        3,
        "exactly the three backups, under their decoded keys: {backups:?}"
    );
    assert!(backups.contains(&"other/a b/c+d ü %.txt".to_owned()));
    assert!(backups.contains(&"other/c++/x".to_owned()));
}

#[tokio::test]
async fn failing_record_is_reported_while_the_others_complete() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let mut payload = event("put-multiple.json");
    let mut missing_bucket = payload["Records"][1].clone();
    missing_bucket["s3"]["bucket"]["name"] = json!("no-such-bucket");
    let records = payload["Records"].as_array_mut().unwrap();
    records.insert(1, missing_bucket);
    records.push(json!({"eventSource": "aws:s3", "not": "a record"}));

    // The example policy names its bucket; this one covers any, so the record for the missing
    // bucket is reconciled (and fails) too.
    let processor = processor(&s3, policy(ANY_BUCKET_POLICY));
    let err = processor
        .handle(&payload)
        .await
        .expect_err("a failed record fails the invocation");
    let InvocationError::RecordsFailed {
        failed,
        total,
        report,
        summary,
    } = err
    else {
        panic!("expected RecordsFailed, got {err:?}");
    };
    assert_eq!((failed, total), (2, 5), "{summary}");
    assert!(
        summary.contains("no-such-bucket") && summary.contains("NoSuchBucket"),
        "{summary}"
    );
    let outcomes: Vec<Outcome> = report.objects.iter().map(|o| o.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Applied,
            Outcome::Failed,
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Failed
        ]
    );
    assert_eq!(
        report.objects[1].error_code.as_deref(),
        Some("NoSuchBucket")
    );
    for id in ["report", "notes", "cpp"] {
        let object = sample(id);
        let key = if id == "report" {
            format!("reports-backup/{SOURCE}/{}", object.key)
        } else {
            format!("other/{SOURCE}/{}", object.key)
        };
        assert_eq!(
            body(&s3, BACKUP, &key).await,
            object.body,
            "good record {id} was processed"
        );
    }
}

#[tokio::test]
async fn deleted_object_is_a_warning_and_stale_event_is_skipped() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    s3.delete_object()
        .bucket(SOURCE)
        .key("c++/x")
        .send()
        .await
        .unwrap();
    // A newer object replaced the report after the event was sent: its ETag no longer matches.
    let mut newer = sample("report");
    newer.body = b"replaced".repeat(20_000);
    upload(&s3, &newer).await;

    let processor = processor(&s3, example_policy());
    let mut payload = event("put-multiple.json");
    payload["Records"].as_array_mut().unwrap().remove(1);
    let report = processor
        .handle(&payload)
        .await
        .expect("gone and stale are not failures");
    let outcomes: Vec<Outcome> = report.objects.iter().map(|o| o.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Stale, Outcome::Gone]);
    assert_eq!(processor.store().counts().writes(), 0);
    assert!(keys(&s3, BACKUP).await.is_empty());
}

#[tokio::test]
async fn kms_key_is_compared_by_key_and_rekeyed_when_it_differs() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let key_a = "arn:aws:kms:us-east-1:123456789012:key/11111111-aaaa-4aaa-8aaa-111111111111";
    let key_b = "22222222-bbbb-4bbb-8bbb-222222222222";
    let kms_policy = |key: &str| {
        policy(&format!(
            "encryption: {{ algorithm: \"aws:kms\", kms_key_id: \"{key}\", bucket_key: true }}\nbackup: {BACKUP}"
        ))
    };

    let first = processor(&s3, kms_policy(key_a));
    let report = first.handle(&event("put-single.json")).await.unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied);
    let head = head_of(&s3, SOURCE, REPORT_KEY).await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_a));
    assert_eq!(head.bucket_key_enabled(), Some(true));
    assert_eq!(head.storage_class(), None, "class stays STANDARD");

    // The same key named by its bare id is the same key: nothing to do.
    let bare_id = processor(&s3, kms_policy("11111111-aaaa-4aaa-8aaa-111111111111"));
    let report = bare_id.handle(&event("copy-self.json")).await.unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Compliant);
    assert_eq!(bare_id.store().counts().writes(), 0);

    let rekey = processor(&s3, kms_policy(key_b));
    let report = rekey.handle(&event("copy-self.json")).await.unwrap();
    assert_eq!(report.objects[0].outcome, Outcome::Applied);
    assert_eq!(
        rekey.store().counts().copies,
        1,
        "the backup is still current; only the rewrite runs"
    );
    let head = head_of(&s3, SOURCE, REPORT_KEY).await;
    assert_eq!(head.ssekms_key_id(), Some(key_b));
    assert_eq!(body(&s3, SOURCE, REPORT_KEY).await, sample("report").body);
}

#[tokio::test]
async fn objects_no_rule_covers_are_not_touched_and_dry_run_writes_nothing() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let only_logs = processor(
        &s3,
        policy("rules: [{ match: { prefix: logs/ }, storage_class: GLACIER }]"),
    );
    let report = only_logs.handle(&event("put-multiple.json")).await.unwrap();
    assert!(
        report.objects.iter().all(|o| o.outcome == Outcome::NoRule),
        "{report:?}"
    );
    assert_eq!(
        only_logs.store().counts().heads,
        0,
        "no rule can match by key, so not even a HEAD"
    );

    let mut dry_policy = example_policy();
    dry_policy.dry_run = true;
    let dry = processor(&s3, dry_policy);
    let report = dry.handle(&event("put-multiple.json")).await.unwrap();
    assert!(report.dry_run);
    assert!(
        report
            .objects
            .iter()
            .all(|o| o.outcome == Outcome::Planned && !o.actions.is_empty()),
        "{report:?}"
    );
    assert_eq!(dry.store().counts().writes(), 0);
    assert!(keys(&s3, BACKUP).await.is_empty());
}

#[tokio::test]
async fn small_objects_are_kept_out_of_infrequent_access() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let processor = processor(
        &s3,
        policy("encryption: AES256\nstorage_class: STANDARD_IA"),
    );
    let report = processor
        .handle(&event("put-encoded-keys.json"))
        .await
        .unwrap();
    for object in &report.objects {
        // The encryption was applied; the class change was left undone on purpose, and the
        // outcome says so (never "applied" or "compliant" alone).
        assert_eq!(object.outcome, Outcome::Skipped, "{object:?}");
        assert_eq!(
            object.actions.len(),
            1,
            "the encryption rewrite: {object:?}"
        );
        assert!(
            object.notes.iter().any(|n| n.contains("cost guard")),
            "{object:?}"
        );
    }
    let head = head_of(&s3, SOURCE, "c++/x").await;
    assert_eq!(head.storage_class(), None, "tiny object stays STANDARD");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
}

#[tokio::test]
async fn backup_encryption_is_set_independently_of_the_source() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let backup_key = "arn:aws:kms:us-east-1:123456789012:key/33333333-cccc-4ccc-8ccc-333333333333";
    let processor = processor(
        &s3,
        policy(&format!(
            "match: {{ buckets: [{SOURCE}] }}\nencryption: AES256\nbackup: {{ bucket: {BACKUP}, encryption: {{ algorithm: \"aws:kms\", kms_key_id: \"{backup_key}\" }} }}"
        )),
    );
    processor.handle(&event("put-single.json")).await.unwrap();
    let source = head_of(&s3, SOURCE, REPORT_KEY).await;
    assert_eq!(
        source.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let backup = head_of(&s3, BACKUP, REPORT_KEY).await;
    assert_eq!(
        backup.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(backup.ssekms_key_id(), Some(backup_key));
}

/// Relies on: moto reporting `x-amz-tagging-count` on HEAD only when an object has tags, as
/// S3 does. The tags are read only for the object that has some (and kept in the merge); a
/// server trusted with nothing (`S3_HEAD_REPORTS_TAG_COUNT=false`) reads them for both.
#[tokio::test]
async fn tags_are_read_only_when_head_reports_some() {
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    for (key, tagging) in [("plain.txt", None), ("tagged.txt", Some("team=data"))] {
        s3.put_object()
            .bucket(SOURCE)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .set_tagging(tagging.map(str::to_owned))
            .send()
            .await
            .expect("put");
    }
    let tag_policy = "tags: { processed-by: s3pp }";
    let records: Vec<_> = ["plain.txt", "tagged.txt"]
        .iter()
        .map(|key| {
            json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": SOURCE}, "object": {"key": key}}})
        })
        .collect();
    let events = json!({ "Records": records });
    let trusting = processor(&s3, policy(tag_policy));
    let report = trusting.handle(&events).await.expect("invocation");
    assert!(
        report.objects.iter().all(|o| o.outcome == Outcome::Applied),
        "{report:?}"
    );
    assert_eq!(trusting.store().counts().get_tags, 1, "only tagged.txt's");
    let merged = tags(&s3, SOURCE, "tagged.txt").await;
    assert_eq!(merged.get("team").map(String::as_str), Some("data"));
    assert_eq!(merged.get("processed-by").map(String::as_str), Some("s3pp"));

    // Not trusted: a HEAD without a count says nothing, so an untagged object's tags are read.
    put_bytes(&s3, SOURCE, "later.txt", b"x".to_vec()).await;
    let untrusting = processor_trusting(&s3, policy(tag_policy), ServerSupport::MINIMAL);
    let later = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
        "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": SOURCE}, "object": {"key": "later.txt"}}}]});
    let report = untrusting.handle(&later).await.expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(untrusting.store().counts().get_tags, 1);
}
