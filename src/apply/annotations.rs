//! Restates annotations on a copy that did not carry them (a multipart copy): each one read
//! from the source version and written onto the copy only while the copy's ETag is still the
//! one completed (`x-amz-object-if-match`), so they never land on another write.

use crate::object::ObjectLocation;
use crate::store::{ObjectStore, StoreError};

/// Copies the annotations `names` from `from` onto `to`, whose ETag must be `onto_etag`.
pub async fn copy_annotations<S: ObjectStore>(
    store: &S,
    from: &ObjectLocation,
    to: &ObjectLocation,
    onto_etag: &str,
    names: &[String],
) -> Result<(), StoreError> {
    for name in names {
        let payload = store.get_annotation(from, name).await?;
        store.put_annotation(to, name, &payload, onto_etag).await?;
    }
    Ok(())
}

/// A copy's annotations to restate: every one the source version has. Asked only of a server
/// that keeps annotations; a listing that fails fails the copy, so that a backup is never
/// taken to carry annotations it may lack.
pub async fn restate_after_multipart<S: ObjectStore>(
    store: &S,
    from: &ObjectLocation,
    to: &ObjectLocation,
    onto_etag: &str,
) -> Result<(), StoreError> {
    let names = store.list_annotations(from).await?;
    copy_annotations(store, from, to, onto_etag, &names).await
}
