//! One server-side copy, whatever the size: a single CopyObject up to the multipart threshold,
//! above it CreateMultipartUpload + UploadPartCopy (byte ranges, a bounded number in flight) +
//! CompleteMultipartUpload. A failure aborts the upload so no parts are left behind; a nearing
//! deadline leaves it open for the retry to continue ([`super::resume`]). A multipart copy
//! restates what CopyObject would have copied: metadata, content headers, tags, redirect,
//! checksum algorithm.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::object::ObjectHead;
use crate::store::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, MultipartStart, ObjectStore,
    PartCopy, StoreError, TagDirective,
};

/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// Largest object one CopyObject can copy, and the default multipart threshold.
pub const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// How copies are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySettings {
    /// Objects larger than this are copied in parts (at most 5 GiB).
    pub multipart_threshold: u64,
    /// Preferred part size; raised when needed to stay within 10,000 parts.
    pub part_size: u64,
    /// Parts copied at once.
    pub parts_in_flight: usize,
    /// No new part starts when less than this remains before the Lambda deadline.
    pub deadline_margin: Duration,
}

impl CopySettings {
    /// Whether an object of `size` bytes is copied with one CopyObject (else in parts).
    pub fn is_single_copy(&self, size: u64) -> bool {
        size <= self.multipart_threshold.min(MAX_SINGLE_COPY)
    }
}

impl Default for CopySettings {
    fn default() -> Self {
        Self {
            multipart_threshold: MAX_SINGLE_COPY,
            part_size: 256 * 1024 * 1024,
            parts_in_flight: 8,
            deadline_margin: Duration::from_secs(20),
        }
    }
}

/// Why a copy failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// A storage call failed (after aborting any multipart upload).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Lambda deadline was near; the upload stays open and the retry continues it.
    #[error(
        "stopped before the Lambda deadline after {parts_done} of {parts_total} parts; the upload stays open and the retry continues from there"
    )]
    DeadlineNear {
        /// Parts copied before stopping.
        parts_done: usize,
        /// Parts in the copy.
        parts_total: usize,
    },
}

impl CopyError {
    /// The storage error, if that is what failed.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(err) => Some(err),
            Self::DeadlineNear { .. } => None,
        }
    }
}

/// The byte ranges `(part number, first, last)` of a multipart copy of `size` bytes.
pub fn part_ranges(size: u64, preferred_part_size: u64) -> Vec<(i32, u64, u64)> {
    let needed = size.div_ceil(MAX_PARTS);
    let part_size = preferred_part_size
        .max(needed)
        .clamp(MIN_PART_SIZE, MAX_PART_SIZE);
    let mut ranges = Vec::new();
    let mut first = 0;
    let mut number = 1;
    while first < size {
        let last = (first + part_size).min(size) - 1;
        ranges.push((number, first, last));
        first = last + 1;
        number += 1;
    }
    ranges
}

/// Copies `head`'s object as `request` says, choosing single or multipart by size.
pub async fn copy<S: ObjectStore>(
    store: &S,
    head: &ObjectHead,
    request: &CopyRequest,
    settings: &CopySettings,
    deadline: Option<Instant>,
) -> Result<CopyOutcome, CopyError> {
    if settings.is_single_copy(head.size) {
        return Ok(store.copy_object(request).await?);
    }
    let tags = match &request.tags {
        TagDirective::Replace(tags) => tags.clone(),
        TagDirective::Copy if head.tag_count == Some(0) => Default::default(),
        TagDirective::Copy => store.get_tags(&request.source).await?,
    };
    let start = MultipartStart {
        destination: request.destination.clone(),
        storage_class: request.storage_class.clone(),
        encryption: request.encryption.clone(),
        content_type: head.content_type.clone(),
        content_headers: head.content_headers.clone(),
        metadata: head.metadata.clone(),
        tags,
        website_redirect: request.website_redirect.clone(),
        checksum_algorithm: source_checksum_algorithm(store, head, request).await,
    };
    let ranges = part_ranges(head.size, settings.part_size);
    let (upload_id, done) = match super::resume::find(store, head, request, &ranges).await {
        Some(open) => (open.upload_id, open.parts),
        None => (store.create_multipart_upload(&start).await?, Vec::new()),
    };
    let upload = Upload {
        id: &upload_id,
        ranges,
        done,
        checksum_algorithm: start.checksum_algorithm,
    };
    let result = copy_parts(store, request, upload, settings, deadline).await;
    match result {
        Ok(outcome) => Ok(outcome),
        Err(err @ CopyError::DeadlineNear { .. }) => {
            tracing::info!(
                bucket = request.destination.bucket,
                key = request.destination.key,
                upload_id,
                error = %err,
                "multipart copy paused for the retry"
            );
            Err(err)
        }
        Err(err) => {
            if let Err(abort) = store
                .abort_multipart_upload(&request.destination, &upload_id)
                .await
            {
                tracing::error!(
                    bucket = request.destination.bucket,
                    key = request.destination.key,
                    upload_id,
                    error = %abort,
                    "could not abort multipart upload; a lifecycle rule (AbortIncompleteMultipartUpload) will remove its parts"
                );
            }
            Err(err)
        }
    }
}

/// The source's checksum algorithm, which a single CopyObject would keep. A HEAD without
/// checksum mode does not report it, so ask once (one request per multipart copy); when that
/// is refused (it needs `kms:Decrypt` on SSE-KMS objects), the copy gets S3's default.
async fn source_checksum_algorithm<S: ObjectStore>(
    store: &S,
    head: &ObjectHead,
    request: &CopyRequest,
) -> Option<&'static str> {
    if let Some(checksum) = &head.checksum {
        return Some(checksum.algorithm);
    }
    match store.head_object_with_checksums(&request.source).await {
        Ok(with_checksums) => with_checksums.checksum.map(|c| c.algorithm),
        Err(err) => {
            tracing::warn!(
                bucket = request.source.bucket,
                key = request.source.key,
                error = %err,
                "could not read the source's checksum algorithm; the copy gets the default"
            );
            None
        }
    }
}

/// The upload a copy writes into: its id, the part layout, and the parts already there.
struct Upload<'a> {
    id: &'a str,
    ranges: Vec<(i32, u64, u64)>,
    done: Vec<CompletedPart>,
    checksum_algorithm: Option<&'static str>,
}

async fn copy_parts<S: ObjectStore>(
    store: &S,
    request: &CopyRequest,
    upload: Upload<'_>,
    settings: &CopySettings,
    deadline: Option<Instant>,
) -> Result<CopyOutcome, CopyError> {
    let parts_total = upload.ranges.len();
    let already: std::collections::BTreeSet<i32> =
        upload.done.iter().map(|p| p.part_number).collect();
    let missing: Vec<(i32, u64, u64)> = upload
        .ranges
        .iter()
        .copied()
        .filter(|(number, _, _)| !already.contains(number))
        .collect();
    let started = std::sync::atomic::AtomicUsize::new(already.len());
    let copied: Vec<CompletedPart> = stream::iter(missing)
        .map(|(part_number, first_byte, last_byte)| {
            let started = &started;
            async move {
                if deadline.is_some_and(|d| Instant::now() + settings.deadline_margin >= d) {
                    return Err(CopyError::DeadlineNear {
                        parts_done: started.load(std::sync::atomic::Ordering::Relaxed),
                        parts_total,
                    });
                }
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let part = PartCopy {
                    destination: request.destination.clone(),
                    upload_id: upload.id.to_owned(),
                    part_number,
                    source: request.source.clone(),
                    source_if_match: request.source_if_match.clone(),
                    first_byte,
                    last_byte,
                };
                Ok::<_, CopyError>(store.upload_part_copy(&part).await?)
            }
        })
        .buffer_unordered(settings.parts_in_flight.max(1))
        .try_collect()
        .await?;
    let mut parts = upload.done;
    parts.extend(copied);
    parts.sort_by_key(|p| p.part_number);
    let complete = CompleteRequest {
        destination: request.destination.clone(),
        upload_id: upload.id.to_owned(),
        parts,
        // The parts were copied from the ETag seen; the destination must still hold it when
        // the upload completes, or a newer upload would be replaced by older bytes.
        condition: request.destination_condition.clone(),
        checksum_algorithm: upload.checksum_algorithm,
    };
    Ok(store.complete_multipart_upload(&complete).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{ObjectLocation, StorageClass};
    use crate::store::WriteCondition;
    use crate::store::counting::CountingStore;
    use crate::store::faults::FaultInjectingStore;
    use crate::store::intercept::Operation;
    use crate::store::memory::{MemoryStore, StoredObject};

    const MIB: u64 = 1024 * 1024;

    fn small_parts() -> CopySettings {
        CopySettings {
            multipart_threshold: 6 * MIB,
            part_size: 5 * MIB,
            parts_in_flight: 2,
            deadline_margin: Duration::from_secs(5),
        }
    }

    async fn setup() -> (
        CountingStore<FaultInjectingStore<MemoryStore>>,
        ObjectHead,
        Vec<u8>,
    ) {
        let memory = MemoryStore::new();
        memory.create_bucket("src-bucket");
        memory.create_bucket("backup-bucket");
        let body: Vec<u8> = (0..12 * MIB + 7).map(|i| (i % 251) as u8).collect();
        memory.put_object(
            "src-bucket",
            "big.bin",
            StoredObject {
                etag: "big-etag".into(),
                body: body.clone(),
                content_type: Some("application/x-big".into()),
                metadata: [("owner".to_owned(), "me".to_owned())].into(),
                storage_class: StorageClass::Standard,
                encryption: crate::object::ActualEncryption::Aes256,
                tags: [("team".to_owned(), "data".to_owned())].into(),
                last_modified: 0,
                acl: Default::default(),
                restore_requested: None,
                website_redirect: None,
            },
        );
        let store = CountingStore::new(FaultInjectingStore::new(memory));
        let head = store
            .head_object(&ObjectLocation::current("src-bucket", "big.bin"))
            .await
            .unwrap();
        (store, head, body)
    }

    fn backup_request(head: &ObjectHead) -> CopyRequest {
        CopyRequest {
            source: head.location.clone(),
            source_if_match: Some(head.etag.clone()),
            destination: ObjectLocation::current("backup-bucket", "big.bin"),
            destination_condition: WriteCondition::None,
            storage_class: StorageClass::GlacierIr,
            encryption: None,
            tags: TagDirective::Copy,
            website_redirect: None,
        }
    }

    #[tokio::test]
    async fn large_objects_are_copied_in_parts_with_metadata_and_tags() {
        let (store, head, body) = setup().await;
        copy(&store, &head, &backup_request(&head), &small_parts(), None)
            .await
            .unwrap();
        let copied = store
            .inner()
            .inner()
            .object("backup-bucket", "big.bin")
            .unwrap();
        assert_eq!(copied.body, body);
        assert_eq!(copied.content_type.as_deref(), Some("application/x-big"));
        assert_eq!(copied.metadata.get("owner").map(String::as_str), Some("me"));
        assert_eq!(copied.tags.get("team").map(String::as_str), Some("data"));
        assert_eq!(copied.storage_class, StorageClass::GlacierIr);
        let counts = store.counts();
        assert_eq!(
            (
                counts.copies,
                counts.multipart_starts,
                counts.part_copies,
                counts.multipart_completes
            ),
            (0, 1, 3, 1)
        );
    }

    #[tokio::test]
    async fn a_failed_part_aborts_the_upload() {
        let (store, head, _) = setup().await;
        store.inner().fail_call(
            Operation::UploadPartCopy,
            2,
            StoreError::Service {
                operation: "UploadPartCopy",
                code: "InternalError".into(),
                status: 500,
                message: "injected".into(),
            },
        );
        let err = copy(&store, &head, &backup_request(&head), &small_parts(), None)
            .await
            .unwrap_err();
        assert_eq!(
            err.store_error().map(StoreError::code),
            Some("InternalError")
        );
        assert!(
            store.inner().inner().pending_uploads().is_empty(),
            "upload aborted"
        );
        assert!(
            store
                .inner()
                .inner()
                .object("backup-bucket", "big.bin")
                .is_none()
        );
        assert_eq!(store.counts().multipart_aborts, 1);
    }

    #[tokio::test]
    async fn a_failed_completion_aborts_the_upload() {
        let (store, head, _) = setup().await;
        store.inner().fail_call(
            Operation::CompleteMultipartUpload,
            1,
            StoreError::Transport {
                operation: "CompleteMultipartUpload",
                message: "reset".into(),
            },
        );
        assert!(
            copy(&store, &head, &backup_request(&head), &small_parts(), None)
                .await
                .is_err()
        );
        assert!(store.inner().inner().pending_uploads().is_empty());
    }

    #[tokio::test]
    async fn near_the_deadline_no_part_starts_and_the_retry_continues_the_upload() {
        let (store, head, body) = setup().await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let request = backup_request(&head);
        let err = copy(&store, &head, &request, &small_parts(), Some(deadline))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CopyError::DeadlineNear {
                    parts_done: 0,
                    parts_total: 3
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            store.inner().inner().pending_uploads().len(),
            1,
            "left open"
        );
        assert_eq!(store.counts().part_copies, 0);

        copy(&store, &head, &request, &small_parts(), None)
            .await
            .expect("the retry finishes the copy");
        let counts = store.counts();
        assert_eq!(counts.multipart_starts, 1, "the open upload was continued");
        assert_eq!(counts.part_copies, 3, "each part copied once");
        assert!(store.inner().inner().pending_uploads().is_empty());
        let copied = store
            .inner()
            .inner()
            .object("backup-bucket", "big.bin")
            .unwrap();
        assert_eq!(copied.body, body);
    }

    /// An open upload started before the source was last written holds older bytes: it is
    /// aborted and the copy starts over.
    #[tokio::test]
    async fn an_upload_older_than_the_source_is_aborted_not_continued() {
        let (store, head, _) = setup().await;
        let request = backup_request(&head);
        let deadline = Instant::now() + Duration::from_secs(2);
        copy(&store, &head, &request, &small_parts(), Some(deadline))
            .await
            .unwrap_err();
        let memory = store.inner().inner();
        let mut newer = memory.object("src-bucket", "big.bin").unwrap();
        newer.body.iter_mut().for_each(|b| *b = b.wrapping_add(1));
        newer.etag = "newer-etag".into();
        memory.put_object("src-bucket", "big.bin", newer.clone());
        let head = store
            .head_object(&ObjectLocation::current("src-bucket", "big.bin"))
            .await
            .unwrap();
        let request = backup_request(&head);
        copy(&store, &head, &request, &small_parts(), None)
            .await
            .expect("copy of the newer object");
        assert_eq!(store.counts().multipart_starts, 2, "started over");
        assert_eq!(
            store.counts().multipart_aborts,
            1,
            "the stale upload was aborted"
        );
        assert!(memory.pending_uploads().is_empty());
        assert_eq!(
            memory.object("backup-bucket", "big.bin").unwrap().body,
            newer.body
        );
    }

    #[tokio::test]
    async fn small_objects_use_one_copy_object() {
        let (store, head, _) = setup().await;
        let settings = CopySettings {
            multipart_threshold: MAX_SINGLE_COPY,
            ..small_parts()
        };
        copy(&store, &head, &backup_request(&head), &settings, None)
            .await
            .unwrap();
        assert_eq!(
            (store.counts().copies, store.counts().multipart_starts),
            (1, 0)
        );
    }

    #[test]
    fn ranges_cover_every_byte_once() {
        let ranges = part_ranges(12 * MIB + 1, 5 * MIB);
        assert_eq!(
            ranges,
            vec![
                (1, 0, 5 * MIB - 1),
                (2, 5 * MIB, 10 * MIB - 1),
                (3, 10 * MIB, 12 * MIB)
            ]
        );
    }

    #[test]
    fn part_size_respects_s3_limits() {
        assert_eq!(part_ranges(20 * MIB, 1)[0].2, 5 * MIB - 1, "at least 5 MiB");
        let five_tib = 5 * 1024 * 1024 * MIB;
        let ranges = part_ranges(five_tib, 5 * MIB);
        assert!(ranges.len() as u64 <= MAX_PARTS, "{} parts", ranges.len());
        assert_eq!(ranges.last().map(|r| r.2), Some(five_tib - 1));
        assert!(
            part_ranges(100 * 1024 * 1024 * MIB, 10 * 1024 * MIB)
                .iter()
                .all(|(_, a, b)| b - a < MAX_PART_SIZE)
        );
    }
}
