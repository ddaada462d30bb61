//! Object annotations: ListObjectAnnotations (`GET /{key}?annotation`, paged),
//! GetObjectAnnotation (`GET /{key}?annotation&annotationName=`) and PutObjectAnnotation
//! (`PUT /{key}?annotation&annotationName=`, guarded by `x-amz-object-if-match`), as the S3
//! API reference gives them. Sent only to servers known to keep annotations
//! (`S3_OBJECT_ANNOTATIONS`): one that does not may take the GET for a GetObject and the PUT
//! for a PutObject that replaces the object's bytes.

use aws_sdk_s3::primitives::ByteStream;

use super::{S3Store, quoted, version_or_none};
use crate::object::ObjectLocation;
use crate::store::StoreError;

/// Most names asked for per ListObjectAnnotations page (S3's maximum).
const PAGE: i32 = 1000;

impl S3Store {
    pub(super) async fn annotation_names(
        &self,
        location: &ObjectLocation,
    ) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .send(&location.bucket, "ListObjectAnnotations", |client| {
                    client
                        .list_object_annotations()
                        .bucket(&location.bucket)
                        .key(&location.key)
                        .set_version_id(version_or_none(location))
                        .max_annotation_results(PAGE)
                        .set_continuation_token(token.clone())
                        .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                        .send()
                })
                .await?;
            names.extend(
                out.annotations()
                    .iter()
                    .map(|entry| entry.annotation_name().to_owned()),
            );
            match out.next_continuation_token() {
                None | Some("") => return Ok(names),
                // A page that names itself as the next would loop; a listing cut short must
                // never be taken as complete.
                Some(next) if Some(next) == token.as_deref() => {
                    return Err(StoreError::Service {
                        operation: "ListObjectAnnotations",
                        code: "RepeatedContinuationToken".into(),
                        status: 200,
                        message: "the listing named the same page again; its annotations are not known in full".into(),
                    });
                }
                Some(next) => token = Some(next.to_owned()),
            }
        }
    }

    pub(super) async fn annotation_payload(
        &self,
        location: &ObjectLocation,
        name: &str,
    ) -> Result<Vec<u8>, StoreError> {
        let out = self
            .send(&location.bucket, "GetObjectAnnotation", |client| {
                client
                    .get_object_annotation()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .annotation_name(name)
                    .set_version_id(version_or_none(location))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await?;
        let body = out
            .annotation_payload
            .collect()
            .await
            .map_err(|e| StoreError::Transport {
                operation: "GetObjectAnnotation",
                message: e.to_string(),
            })?;
        Ok(body.into_bytes().to_vec())
    }

    pub(super) async fn annotate(
        &self,
        location: &ObjectLocation,
        name: &str,
        payload: &[u8],
        object_etag: &str,
    ) -> Result<(), StoreError> {
        self.send(&location.bucket, "PutObjectAnnotation", |client| {
            client
                .put_object_annotation()
                .bucket(&location.bucket)
                .key(&location.key)
                .set_version_id(version_or_none(location))
                .annotation_name(name)
                .annotation_payload(ByteStream::from(payload.to_vec()))
                .object_if_match(quoted(object_etag))
                .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                .send()
        })
        .await
        .map(|_| ())
    }
}
