//! UpdateObjectEncryption: an object version re-keyed to SSE-KMS in place. The request is
//! `PUT /{bucket}/{key}?encryption[&versionId=…]` with an `ObjectEncryption` XML body naming
//! the key ARN and the bucket-key setting (the S3 API reference's request syntax); the
//! function sends it only to servers known to implement it (`S3_UPDATE_OBJECT_ENCRYPTION`).

use aws_sdk_s3::types::{ObjectEncryption, SsekmsEncryption};

use super::{S3Store, version_or_none};
use crate::object::ObjectLocation;
use crate::store::StoreError;

impl S3Store {
    pub(super) async fn rekey(
        &self,
        location: &ObjectLocation,
        key_arn: &str,
        bucket_key: Option<bool>,
    ) -> Result<(), StoreError> {
        let encryption = SsekmsEncryption::builder()
            .kms_key_arn(key_arn)
            .set_bucket_key_enabled(bucket_key)
            .build()
            .map_err(|e| StoreError::Service {
                operation: "UpdateObjectEncryption",
                code: "InvalidRequest".into(),
                status: 400,
                message: e.to_string(),
            })?;
        self.send(&location.bucket, "UpdateObjectEncryption", |client| {
            client
                .update_object_encryption()
                .bucket(&location.bucket)
                .key(&location.key)
                .set_version_id(version_or_none(location))
                .object_encryption(ObjectEncryption::Ssekms(encryption.clone()))
                .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                .send()
        })
        .await
        .map(|_| ())
    }
}
