//! Today's S3 operations against moto (5.2.5), which implements neither UpdateObjectEncryption
//! nor annotations and takes each of their PUTs for a PutObject that **replaces the object's
//! bytes** with the request body. The first two tests pin that danger (if moto ever changes,
//! they say so); the third proves the function, configured from the environment as it is for an
//! endpoint override, never sends either request, and still brings the object in line with a
//! copy. Each test starts its own moto and stops it by PID.

mod support;

use std::collections::HashMap;

use aws_sdk_s3::types::ServerSideEncryption;
use s3_policy_processor::config::Config;
use s3_policy_processor::handler::Processor;
use s3_policy_processor::object::ObjectLocation;
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::ObjectStore;
use s3_policy_processor::store::counting::CountingStore;
use s3_policy_processor::store::s3::S3Store;
use serde_json::json;
use support::*;

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const BODY: &[u8] = b"the user's bytes, which must never be replaced";

async fn bucket_with_object(server: &S3Server, bucket: &str) -> aws_sdk_s3::Client {
    let s3 = server.client();
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    put_bytes(&s3, bucket, "doc.txt", BODY).await;
    s3
}

/// Relies on: moto 5.2.5 answering `PUT /{key}?encryption` with 200 and storing the XML body
/// as the object. This is why UpdateObjectEncryption is off for endpoint overrides.
#[tokio::test]
async fn moto_takes_update_object_encryption_for_a_put_of_its_body() {
    let server = S3Server::start();
    let s3 = bucket_with_object(&server, "rekey-danger").await;
    let store = S3Store::from_client(s3.clone());
    let sent = store
        .update_object_encryption(
            &ObjectLocation::current("rekey-danger", "doc.txt"),
            KEY,
            None,
        )
        .await;
    let now = body(&s3, "rekey-danger", "doc.txt").await;
    assert!(
        sent.is_ok() && now.starts_with(b"<ObjectEncryption"),
        "moto no longer replaces the object (answer {sent:?}, body {:?}): revisit the S3_UPDATE_OBJECT_ENCRYPTION default and docs/testing.md",
        String::from_utf8_lossy(&now)
    );
}

/// Relies on: moto 5.2.5 answering PutObjectAnnotation with 200 and storing the payload as the
/// object (LocalStack 2026.3.0 does the same). This is why annotations are off for endpoint
/// overrides.
#[tokio::test]
async fn moto_takes_an_annotation_for_a_put_of_its_payload() {
    let server = S3Server::start();
    let s3 = bucket_with_object(&server, "annotation-danger").await;
    let etag = head_of(&s3, "annotation-danger", "doc.txt")
        .await
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    let store = S3Store::from_client(s3.clone());
    let sent = store
        .put_annotation(
            &ObjectLocation::current("annotation-danger", "doc.txt"),
            "review",
            b"PAYLOAD",
            &etag,
        )
        .await;
    let now = body(&s3, "annotation-danger", "doc.txt").await;
    assert_eq!(
        now, b"PAYLOAD",
        "moto no longer replaces the object (answer {sent:?}): revisit the S3_OBJECT_ANNOTATIONS default and docs/testing.md"
    );
}

/// Relies on: moto's CopyObject applying SSE-KMS with the named key id (it does not check the
/// key exists), and the two behaviours above. Configured from the environment with
/// `AWS_ENDPOINT_URL_S3` set (as on every local server), an encryption-only rule over a
/// multipart-size object with a backup sends neither UpdateObjectEncryption nor an
/// annotation request: the object keeps its bytes and is re-keyed by a copy.
#[tokio::test]
async fn configured_for_an_endpoint_override_the_function_never_sends_them() {
    let server = S3Server::start();
    let s3 = server.client();
    for bucket in ["today-src", "today-bak"] {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
    }
    let large: Vec<u8> = (0..11 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    put_bytes(&s3, "today-src", "doc.txt", BODY).await;
    put_bytes(&s3, "today-src", "large.bin", large.clone()).await;
    let policy =
        format!("backup: today-bak\nencryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY}\" }}");
    let environment: HashMap<&str, String> = HashMap::from([
        ("POLICY", policy),
        ("AWS_ENDPOINT_URL_S3", server.endpoint.clone()),
        ("MULTIPART_THRESHOLD", (6 * 1024 * 1024).to_string()),
        ("MULTIPART_PART_SIZE", (5 * 1024 * 1024).to_string()),
    ]);
    let config = Config::from_lookup(|name| environment.get(name).cloned()).expect("config");
    assert!(!config.server.update_object_encryption && !config.server.object_annotations);
    let processor = Processor::new(
        CountingStore::new(S3Store::from_client(s3.clone())),
        config.policy,
        config.max_concurrency,
        false,
    )
    .with_copy_settings(config.copy)
    .with_server_support(config.server);
    let records: Vec<_> = ["doc.txt", "large.bin"]
        .iter()
        .map(|key| {
            json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "today-src"}, "object": {"key": key}}})
        })
        .collect();
    let event = json!({ "Records": records });
    let report = processor.handle(&event).await.expect("invocation");
    for object in &report.objects {
        assert_eq!(object.outcome, Outcome::Applied, "{report:?}");
    }
    let counts = processor.store().counts();
    assert_eq!(
        (
            counts.rekeys,
            counts.annotation_reads,
            counts.annotation_writes
        ),
        (0, 0, 0),
        "{counts:?}"
    );
    assert_eq!(body(&s3, "today-src", "doc.txt").await, BODY);
    assert_eq!(body(&s3, "today-src", "large.bin").await, large);
    assert_eq!(body(&s3, "today-bak", "today-src/large.bin").await, large);
    let head = head_of(&s3, "today-src", "large.bin").await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(KEY));
}
