//! Restates annotations on a copy that did not carry them (a multipart copy): each one read
//! from the source version and written onto the copy only while the copy's ETag is still the
//! one completed (`x-amz-object-if-match`), so they never land on another write.

use crate::object::ObjectLocation;
use crate::store::{ObjectStore, StoreError};

/// Copies the annotations `names` from `from` onto `to`, whose ETag must be `onto_etag`; one
/// deleted from the source since it was listed is passed over.
pub async fn copy_annotations<S: ObjectStore>(
    store: &S,
    from: &ObjectLocation,
    to: &ObjectLocation,
    onto_etag: &str,
    names: &[String],
) -> Result<(), StoreError> {
    for name in names {
        let payload = match store.get_annotation(from, name).await {
            Ok(payload) => payload,
            // Deleted from the source since it was listed: nothing of it to copy.
            Err(StoreError::NotFound { .. }) => continue,
            Err(StoreError::Service { code, .. }) if code == "NoSuchAnnotation" => continue,
            Err(err) => return Err(err),
        };
        store.put_annotation(to, name, &payload, onto_etag).await?;
    }
    Ok(())
}

/// A completed copy that reported no ETag: its annotations cannot be written onto it alone
/// (`x-amz-object-if-match` needs one), so the copy fails and is retried.
pub fn copy_without_etag() -> StoreError {
    StoreError::Service {
        operation: "CompleteMultipartUpload",
        code: "MissingETag".into(),
        status: 200,
        message:
            "the copy reported no ETag, so its annotations cannot be written on it alone; retried"
                .into(),
    }
}
