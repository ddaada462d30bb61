//! The function's own small objects (a multipart copy's recorded state, see
//! [`crate::apply::copy_state`]): read whole, written only under a condition (`If-None-Match:
//! *` to claim a key, `If-Match` to update what was read), deleted when the copy is done.

use aws_sdk_s3::primitives::ByteStream;

use super::{S3Store, normalize_etag, quoted};
use crate::object::ObjectLocation;
use crate::store::{StoreError, StoredRecord, WriteCondition};

impl S3Store {
    pub(super) async fn read_record(
        &self,
        location: &ObjectLocation,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let answer = self
            .send(&location.bucket, "GetObject", |client| {
                client
                    .get_object()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let etag = out.e_tag().map(normalize_etag).unwrap_or_default();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Transport {
                operation: "GetObject",
                message: e.to_string(),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(StoredRecord { body, etag }))
    }

    pub(super) async fn write_record(
        &self,
        location: &ObjectLocation,
        body: &[u8],
        condition: &WriteCondition,
    ) -> Result<String, StoreError> {
        let out = self
            .send(&location.bucket, "PutObject", |client| {
                client
                    .put_object()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .body(ByteStream::from(body.to_vec()))
                    .content_type("application/json")
                    .set_if_match(condition.if_match().map(quoted))
                    .set_if_none_match(condition.if_none_match().map(str::to_owned))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await?;
        Ok(out.e_tag().map(normalize_etag).unwrap_or_default())
    }

    pub(super) async fn remove_record(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.send(&location.bucket, "DeleteObject", |client| {
            client
                .delete_object()
                .bucket(&location.bucket)
                .key(&location.key)
                .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                .send()
        })
        .await
        .map(|_| ())
    }
}
