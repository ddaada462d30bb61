//! Conformance for today's S3 operations (issue 21), on LocalStack 2026.3.0, which implements
//! neither UpdateObjectEncryption nor annotations: the function's fallback is tested for real
//! here; the requests themselves are pinned by tests/contracts.rs and S3's answers are
//! modelled in the in-memory store (docs/testing.md says which is which).

use aws_sdk_s3::types::ServerSideEncryption;
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::server::ServerSupport;

use super::support::*;
use super::{Env, buckets, put_event};

/// Relies on: LocalStack answering UpdateObjectEncryption with 501 (InternalFailure, "not yet
/// emulated") and keeping the object as it was; its KMS keys; CopyObject applying SSE-KMS with
/// the named key. With the operation turned on (as `S3_UPDATE_OBJECT_ENCRYPTION=true` would),
/// the first object is re-keyed by one copy after the refusal, its bytes intact, and the second
/// object of the bucket is not asked again: one UpdateObjectEncryption in all.
pub async fn a_server_without_update_object_encryption_gets_one_try_then_copies(env: &Env) {
    let (s3, kms) = (env.s3(), env.kms());
    let (source, _) = buckets(&s3, "rekey-fallback").await;
    let key_arn = kms
        .create_key()
        .send()
        .await
        .expect("create key")
        .key_metadata()
        .and_then(|m| m.arn().map(str::to_owned))
        .expect("key arn");
    let bodies = [b"first object".as_slice(), b"second object".as_slice()];
    for (key, body) in ["a.txt", "b.txt"].iter().zip(bodies) {
        put_bytes(&s3, &source, key, body).await;
    }
    let processor = processor_trusting(
        &s3,
        policy(&format!(
            "encryption: {{ algorithm: aws:kms, kms_key_id: \"{key_arn}\" }}"
        )),
        ServerSupport {
            update_object_encryption: true,
            ..LOCALSTACK
        },
    );
    for (key, original) in ["a.txt", "b.txt"].iter().zip(bodies) {
        let report = processor
            .handle(&put_event(&source, key, None, None))
            .await
            .expect("invocation");
        assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
        assert_eq!(
            body(&s3, &source, key).await,
            original,
            "{key} kept its bytes"
        );
        let head = head_of(&s3, &source, key).await;
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert_eq!(head.ssekms_key_id(), Some(key_arn.as_str()), "{key}");
    }
    let counts = processor.store().counts();
    assert_eq!((counts.rekeys, counts.copies), (1, 2), "{counts:?}");
}

/// Relies on: LocalStack answering PutObjectAnnotation with 200 and storing the payload as the
/// object (as moto does). Pinned, because it is why annotation requests are never sent to an
/// endpoint override unless `S3_OBJECT_ANNOTATIONS=true` says the server keeps them.
pub async fn localstack_takes_an_annotation_for_a_put_of_its_payload(env: &Env) {
    let s3 = env.s3();
    let (source, _) = buckets(&s3, "annotation-danger").await;
    put_bytes(&s3, &source, "doc.txt", b"the user's bytes".to_vec()).await;
    let sent = s3
        .put_object_annotation()
        .bucket(&source)
        .key("doc.txt")
        .annotation_name("review")
        .annotation_payload(aws_sdk_s3::primitives::ByteStream::from_static(b"PAYLOAD"))
        .send()
        .await;
    let now = body(&s3, &source, "doc.txt").await;
    assert_eq!(
        now, b"PAYLOAD",
        "LocalStack no longer replaces the object (answer {sent:?}): revisit the S3_OBJECT_ANNOTATIONS default and docs/testing.md"
    );
}
