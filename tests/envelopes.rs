//! Every envelope against a real S3 server (moto on 127.0.0.1): SQS (with SNS-wrapped bodies,
//! test events and poison messages), SNS, EventBridge, S3 Batch Operations 1.0 and 2.0,
//! duplicate and out-of-order delivery, and notifications that moto itself publishes to SQS.

mod support;

use std::collections::BTreeSet;

use aws_sdk_s3::primitives::ByteStream;
use s3_policy_processor::reconcile::Outcome;
use serde_json::{Value, json};
use support::*;

fn outcomes(report: &s3_policy_processor::handler::InvocationReport) -> Vec<Outcome> {
    report.objects.iter().map(|o| o.outcome).collect()
}

fn failed_ids(response: &Value) -> BTreeSet<String> {
    response["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn sqs_batch_with_raw_and_sns_wrapped_bodies_and_a_test_event() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let processor = processor(&s3, example_policy());
    let report = processor
        .handle(&event("sqs-batch.json"))
        .await
        .expect("SQS batches never fail whole");
    assert_eq!(
        outcomes(&report),
        vec![Outcome::Applied, Outcome::Applied, Outcome::Skipped]
    );
    let response = report.response();
    assert!(failed_ids(&response).is_empty(), "{response}");
    assert_eq!(
        body(&s3, BACKUP, "other/a b/c+d ü %.txt").await,
        sample("notes").body
    );
}

#[tokio::test]
async fn sns_and_eventbridge_events_reconcile_their_object() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let processor = processor(&s3, example_policy());
    for (file, id) in [
        ("sns.json", "cpp"),
        ("eventbridge-object-created.json", "long"),
    ] {
        let report = processor.handle(&event(file)).await.expect(file);
        assert_eq!(outcomes(&report), vec![Outcome::Applied], "{file}");
        let object = sample(id);
        assert_eq!(
            body(&s3, BACKUP, &format!("other/{}", object.key)).await,
            object.body,
            "{file}"
        );
    }
    // EventBridge: other detail types are acknowledged and skipped.
    let mut deleted = event("eventbridge-object-created.json");
    deleted["detail-type"] = json!("Object Deleted");
    let report = processor.handle(&deleted).await.unwrap();
    assert_eq!(outcomes(&report), vec![Outcome::Skipped]);
}

#[tokio::test]
async fn batch_operations_report_per_task_result_codes() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    // Any bucket: the task for a missing one is reconciled and fails.
    let processor = processor(&s3, policy(ANY_BUCKET_POLICY));
    for file in ["batch-operations-1.0.json", "batch-operations-2.0.json"] {
        let job = event(file);
        let response = processor.handle(&job).await.expect(file).response();
        assert_eq!(
            response["invocationSchemaVersion"],
            job["invocationSchemaVersion"]
        );
        assert_eq!(response["invocationId"], job["invocationId"]);
        assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
        let results = response["results"].as_array().expect("results");
        assert_eq!(results.len(), 2, "{response}");
        for (task, result) in job["tasks"].as_array().unwrap().iter().zip(results) {
            assert_eq!(result["taskId"], task["taskId"]);
            assert_eq!(result["resultCode"], "Succeeded", "{result}");
            assert!(
                result["resultString"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Applied"),
                "{result}"
            );
        }
    }
    // A task for a missing bucket is a permanent failure; the job itself still answers.
    let mut job = event("batch-operations-2.0.json");
    job["tasks"][1]["s3Bucket"] = json!("no-such-bucket");
    job["tasks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"taskId": "broken"}));
    let response = processor.handle(&job).await.unwrap().response();
    let codes: Vec<&str> = response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resultCode"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        codes,
        ["Succeeded", "PermanentFailure", "PermanentFailure"],
        "{response}"
    );
    assert!(
        response["results"][1]["resultString"]
            .as_str()
            .unwrap_or_default()
            .contains("NoSuchBucket")
    );
}

fn sqs_message(id: &str, body: String) -> Value {
    json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})
}

fn s3_notification(bucket: &str, encoded_key: &str, sequencer: &str) -> String {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "A"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket},
        "object": {"key": encoded_key, "size": 1, "sequencer": sequencer}}}]})
    .to_string()
}

#[tokio::test]
async fn five_hundred_message_batch_reports_exactly_the_poison_messages() {
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    let uploads = (0..500).map(|i| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(SOURCE)
                .key(format!("batch/object {i}.txt"))
                .body(ByteStream::from(format!("body {i}").into_bytes()))
                .send()
                .await
        }
    });
    for result in futures::future::join_all(uploads).await {
        result.expect("upload");
    }
    let mut poison = BTreeSet::new();
    let messages: Vec<Value> = (0..500)
        .map(|i| {
            let id = format!("msg-{i:03}");
            let body = match i {
                13 => "{ not json".to_owned(),
                101 => s3_notification("no-such-bucket", &format!("batch/object+{i}.txt"), "01"),
                250 => s3_notification(SOURCE, "batch/%FF%FE", "01"),
                377 => json!({"unexpected": "shape"}).to_string(),
                _ => s3_notification(SOURCE, &format!("batch/object+{i}.txt"), "01"),
            };
            if [13, 101, 250, 377].contains(&i) {
                poison.insert(id.clone());
            }
            sqs_message(&id, body)
        })
        .collect();
    let processor = processor(
        &s3,
        policy("backup: { bucket: s3pp-backup }\ntags: { processed-by: s3pp }"),
    );
    let report = processor
        .handle(&json!({"Records": messages}))
        .await
        .expect("SQS batches never fail whole");
    let response = report.response();
    assert_eq!(
        failed_ids(&response),
        poison,
        "exactly the poison messages come back"
    );
    assert_eq!(report.summary.get(&Outcome::Applied), Some(&496));
    assert_eq!(keys(&s3, BACKUP).await.len(), 496);
}

#[tokio::test]
async fn duplicate_events_in_one_invocation_write_once() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let mut payload = event("put-single.json");
    let record = payload["Records"][0].clone();
    payload["Records"]
        .as_array_mut()
        .unwrap()
        .extend([record.clone(), record]);
    let processor = processor(&s3, example_policy());
    let report = processor.handle(&payload).await.unwrap();
    assert_eq!(
        outcomes(&report),
        vec![Outcome::Applied, Outcome::Compliant, Outcome::Compliant]
    );
    assert_eq!(
        processor.store().counts().writes(),
        2,
        "one backup and one rewrite, not three of each"
    );
}

#[tokio::test]
async fn duplicate_invocations_running_concurrently_converge() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let first = processor(&s3, example_policy());
    let second = processor(&s3, example_policy());
    let payload = event("put-multiple.json");
    let (a, b) = tokio::join!(first.handle(&payload), second.handle(&payload));
    for report in [a.expect("first"), b.expect("second")] {
        assert!(report.failures().next().is_none(), "{report:?}");
    }
    let verify = processor(&s3, example_policy());
    let report = verify.handle(&payload).await.unwrap();
    assert!(
        report
            .objects
            .iter()
            .all(|o| o.outcome == Outcome::Compliant),
        "{report:?}"
    );
    assert_eq!(verify.store().counts().writes(), 0);
}

#[tokio::test]
async fn older_event_after_a_newer_version_is_stale_in_a_versioned_bucket() {
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    enable_versioning(&s3, SOURCE).await;
    let versions = put_versions(&s3, SOURCE, "doc.txt", &["first version", "second version"]).await;
    let record = |version: &str, sequencer: &str| {
        let mut value: Value =
            serde_json::from_str(&s3_notification(SOURCE, "doc.txt", sequencer)).unwrap();
        value["Records"][0]["s3"]["object"]["versionId"] = json!(version);
        value["Records"][0].clone()
    };
    // Delivered out of order: the newer version's event first.
    let payload = json!({"Records": [record(&versions[1], "0B"), record(&versions[0], "0A")]});
    let processor = processor(
        &s3,
        policy("match: { buckets: [s3pp-source] }\nbackup: s3pp-backup"),
    );
    let report = processor.handle(&payload).await.unwrap();
    assert_eq!(outcomes(&report), vec![Outcome::Applied, Outcome::Stale]);
    assert_eq!(body(&s3, BACKUP, "doc.txt").await, b"second version");
    assert_eq!(processor.store().counts().copies, 1);
}

#[tokio::test]
async fn notifications_published_by_the_s3_server_itself_through_sqs() {
    let server = S3Server::start();
    let s3 = server.client();
    let sqs = sqs_client_for(&server.endpoint);
    let queue_url = sqs
        .create_queue()
        .queue_name("object-events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap();
    create_buckets(&s3).await;
    let queue_config = aws_sdk_s3::types::QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(SOURCE)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(queue_config)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for object in sample_objects() {
        upload(&s3, &object).await;
    }

    let mut messages = Vec::new();
    for _ in 0..10 {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            messages.push(json!({
                "messageId": message.message_id().unwrap_or_default(),
                "receiptHandle": message.receipt_handle().unwrap_or_default(),
                "body": message.body().unwrap_or_default(),
                "attributes": {}, "messageAttributes": {},
                "md5OfBody": message.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:object-events",
                "awsRegion": "us-east-1"
            }));
        }
    }
    assert_eq!(
        messages.len(),
        5,
        "an s3:TestEvent and one event per upload: {messages:?}"
    );

    let processor = processor(&s3, example_policy());
    let report = processor
        .handle(&json!({"Records": messages}))
        .await
        .unwrap();
    assert!(failed_ids(&report.response()).is_empty(), "{report:?}");
    assert_eq!(
        report.summary.get(&Outcome::Skipped),
        Some(&1),
        "the s3:TestEvent"
    );
    assert_eq!(
        report.summary.get(&Outcome::Applied),
        Some(&4),
        "{report:?}"
    );
    for object in sample_objects() {
        let key = if object.id == "report" {
            object.key.clone()
        } else {
            format!("other/{}", object.key)
        };
        assert_eq!(body(&s3, BACKUP, &key).await, object.body, "{}", object.key);
    }
}
