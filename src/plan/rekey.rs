//! Re-keying without copying: S3's UpdateObjectEncryption changes an object's server-side
//! encryption from SSE-S3 to SSE-KMS, to another KMS key, or turns the S3 Bucket Key on or off,
//! without moving data — no new version, the same ETag, Last-Modified, storage class, checksums
//! and annotations, archived objects re-keyed without a restore, any size in one request. This
//! module decides when a plan may use it instead of the in-place copy: only the encryption must
//! change (a class change still takes the copy, which carries both), the object is SSE-S3 or
//! SSE-KMS, and the target is SSE-KMS with a key named by its ARN (the operation takes no alias,
//! no bare key id, and has no "AWS-managed key"). What it cannot do is never tried: SSE-S3 as
//! the target, DSSE-KMS, SSE-C or unreported sources, directory buckets.

use crate::object::{ActualEncryption, ObjectHead};
use crate::policy::{EncryptionSpec, KmsKey};

/// The SSE-KMS encryption UpdateObjectEncryption can give `head`'s object so that it meets
/// `wanted`, or `None` when only a copy can.
pub(super) fn target(head: &ObjectHead, wanted: &EncryptionSpec) -> Option<EncryptionSpec> {
    if is_directory_bucket(&head.location.bucket) {
        return None;
    }
    let EncryptionSpec::Kms { key, bucket_key } = wanted else {
        return None;
    };
    let (own_key, own_bucket_key) = match &head.encryption {
        ActualEncryption::Aes256 => (None, None),
        ActualEncryption::Kms { key_id, bucket_key } => (key_id.as_deref(), Some(*bucket_key)),
        ActualEncryption::NotReported | ActualEncryption::Other { .. } => return None,
    };
    let arn = match key {
        Some(key) => key.key_arn()?.to_owned(),
        // Any KMS key: an object already under one keeps it (only the bucket key changes).
        None => own_key
            .filter(|id| crate::policy::kms::is_key_arn(id))?
            .to_owned(),
    };
    Some(EncryptionSpec::Kms {
        key: Some(KmsKey {
            configured: arn.clone(),
            resolved_arn: Some(arn),
        }),
        bucket_key: bucket_key.or(own_bucket_key),
    })
}

/// Directory buckets (`…--x-s3`) do not have the operation.
fn is_directory_bucket(bucket: &str) -> bool {
    bucket.ends_with("--x-s3")
}
