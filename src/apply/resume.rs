//! Resuming a multipart copy that an earlier attempt left open when its invocation's deadline
//! neared, so that copies larger than one invocation can copy still finish: the retry (Lambda's
//! own, SQS redelivery, Batch Operations' TemporaryFailure) lists the open uploads at the
//! destination and continues the one that belongs to this copy.
//!
//! Which upload belongs to this copy? S3 returns no metadata for open uploads
//! (ListMultipartUploads and ListParts give key, upload id, start time, storage class and
//! parts), and the function must not add metadata of its own to users' objects. So an upload is
//! this copy's when it was started after the source object was last written, for the same
//! storage class, and its parts fit this copy's part layout. Last-Modified has whole-second
//! precision, so "after" means at least one second later. Every other open upload at the key
//! is aborted: one started before the source changed holds older bytes.

use std::cmp::Reverse;

use crate::object::ObjectHead;
use crate::store::{CompletedPart, CopyRequest, ObjectStore, OpenUpload};

/// An open upload of this copy, with the parts it already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumable {
    /// The upload id.
    pub upload_id: String,
    /// Parts already copied, in part-number order.
    pub parts: Vec<CompletedPart>,
}

/// Finds the open upload this copy can continue, aborting the open uploads at the destination
/// that hold something else. `ranges` is the copy's part layout (`part number, first, last`).
/// Listing failures (e.g. no permission) mean "start a new upload", never a failed copy.
pub async fn find<S: ObjectStore>(
    store: &S,
    head: &ObjectHead,
    request: &CopyRequest,
    ranges: &[(i32, u64, u64)],
) -> Option<Resumable> {
    let destination = &request.destination;
    let mut uploads = match store.list_multipart_uploads(destination).await {
        Ok(uploads) => uploads,
        Err(err) => {
            tracing::warn!(
                bucket = destination.bucket,
                key = destination.key,
                error = %err,
                "cannot list open multipart uploads; starting a new one"
            );
            return None;
        }
    };
    uploads.sort_by_key(|u| Reverse(u.initiated));
    let mut found: Option<Resumable> = None;
    for upload in uploads {
        let stale = if found.is_some() {
            Some("a newer open upload of the same copy is continued instead")
        } else if !started_after(&upload, head.last_modified) {
            Some("it was started before the source object was last written")
        } else if upload.storage_class != request.storage_class {
            Some("it was started for another storage class")
        } else {
            match store.list_parts(destination, &upload.upload_id).await {
                Ok(parts) if fits(&parts, ranges) => {
                    let mut parts: Vec<CompletedPart> = parts.into_iter().map(|p| p.part).collect();
                    parts.sort_by_key(|p| p.part_number);
                    tracing::info!(
                        bucket = destination.bucket,
                        key = destination.key,
                        upload_id = upload.upload_id,
                        parts_done = parts.len(),
                        parts_total = ranges.len(),
                        "continuing an open multipart copy"
                    );
                    found = Some(Resumable {
                        upload_id: upload.upload_id.clone(),
                        parts,
                    });
                    None
                }
                Ok(_) => Some("its parts do not fit this copy's part layout"),
                Err(_) => Some("its parts cannot be listed"),
            }
        };
        if let Some(reason) = stale {
            abort_stale(store, request, &upload, reason).await;
        }
    }
    found
}

/// Whether the upload started at least a second after `last_modified` (whole seconds).
fn started_after(upload: &OpenUpload, last_modified: Option<i64>) -> bool {
    matches!((upload.initiated, last_modified), (Some(started), Some(written)) if started > written)
}

/// Whether every uploaded part is one of this copy's parts, with its exact size.
fn fits(parts: &[crate::store::UploadedPart], ranges: &[(i32, u64, u64)]) -> bool {
    parts.iter().all(|uploaded| {
        ranges.iter().any(|(number, first, last)| {
            *number == uploaded.part.part_number && uploaded.size == last - first + 1
        })
    })
}

async fn abort_stale<S: ObjectStore>(
    store: &S,
    request: &CopyRequest,
    upload: &OpenUpload,
    reason: &str,
) {
    let destination = &request.destination;
    tracing::info!(
        bucket = destination.bucket,
        key = destination.key,
        upload_id = upload.upload_id,
        reason,
        "aborting an open multipart upload that this copy cannot continue"
    );
    if let Err(err) = store
        .abort_multipart_upload(destination, &upload.upload_id)
        .await
    {
        tracing::warn!(
            bucket = destination.bucket,
            key = destination.key,
            upload_id = upload.upload_id,
            error = %err,
            "could not abort a stale multipart upload; the lifecycle rule will"
        );
    }
}
