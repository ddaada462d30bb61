//! One server-side copy, whatever the size: a single CopyObject up to the multipart threshold,
//! above it CreateMultipartUpload + UploadPartCopy (byte ranges, a bounded number in flight) +
//! CompleteMultipartUpload. A multipart copy is recorded ([`super::copy_state`]) so that a
//! nearing deadline can leave its upload open for the next attempt, which continues exactly
//! that upload and no other; its completion carries the source's size and full-object
//! checksum, so S3 refuses parts that are not the source's bytes. A failure aborts the upload
//! the copy created (never another), so no parts are left behind. A multipart copy restates
//! what CopyObject would have copied: metadata, content headers, tags, redirect, checksum
//! algorithm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{self, StreamExt};

use super::copy_state::{Claim, CopyIdentity, CopyStateLocation, Tracker};
use crate::object::{Checksum, ObjectHead};
use crate::store::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, ExpectedObject, MetadataDirective,
    MultipartStart, ObjectStore, PartCopy, StoreError, TagDirective, UploadedPart,
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
    /// Where multipart copies are recorded so a later attempt can resume them (`COPY_STATE`);
    /// `None`: not recorded, so a multipart copy must finish within one attempt.
    pub state: Option<CopyStateLocation>,
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
            state: None,
        }
    }
}

/// Why a copy failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// A storage call failed (after aborting the multipart upload the copy created).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Lambda deadline was near. A recorded copy leaves its upload open for the next
    /// attempt; an unrecorded one aborted it.
    #[error(
        "stopped before the Lambda deadline after {parts_done} of {parts_total} parts; {}",
        if *resumable { "the upload stays open and the next attempt continues it" } else { "the upload was aborted: set COPY_STATE so that copies larger than one invocation can resume" }
    )]
    DeadlineNear {
        /// Parts copied before stopping.
        parts_done: usize,
        /// Parts in the copy.
        parts_total: usize,
        /// Whether the next attempt continues the upload.
        resumable: bool,
    },
    /// Another attempt holds the copy (or its record cannot be used); nothing was touched.
    #[error("the copy is recorded at {record} and not taken: {why}")]
    Busy {
        /// The copy state record.
        record: String,
        /// Why it was not taken.
        why: String,
    },
}

impl CopyError {
    /// The storage error, if that is what failed.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            Self::Store(err) => Some(err),
            Self::DeadlineNear { .. } | Self::Busy { .. } => None,
        }
    }
}

/// The byte ranges `(part number, first, last)` of a multipart copy of `size` bytes.
pub fn part_ranges(size: u64, preferred_part_size: u64) -> Vec<(i32, u64, u64)> {
    let part_size = part_size_for(size, preferred_part_size);
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

/// The part size a multipart copy of `size` bytes uses: the preferred size, raised so that no
/// more than `MAX_PARTS` parts are needed, within S3's part-size limits.
fn part_size_for(size: u64, preferred_part_size: u64) -> u64 {
    preferred_part_size
        .max(size.div_ceil(MAX_PARTS))
        .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// How many parts [`part_ranges`] splits `size` bytes into, without listing them.
pub fn part_count(size: u64, preferred_part_size: u64) -> u64 {
    size.div_ceil(part_size_for(size, preferred_part_size))
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
    let checksum = source_checksum(store, head, request).await;
    let start = multipart_start(store, head, request, checksum.as_ref()).await?;
    let ranges = part_ranges(head.size, settings.part_size);
    let identity = CopyIdentity::new(head, request, &start, &ranges);
    let deadline_in = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let Claim {
        mut tracker,
        upload_id,
    } = Tracker::claim(store, settings.state.as_ref(), identity, deadline_in).await?;
    let (upload_id, done) =
        open_upload(store, request, &start, &ranges, &mut tracker, upload_id).await?;
    let upload = Upload {
        id: &upload_id,
        ranges,
        done,
        checksum_algorithm: start.checksum_algorithm,
        expected: ExpectedObject {
            size: Some(head.size),
            checksum: checksum.filter(is_full_object_crc),
        },
    };
    let result = copy_parts(store, request, upload, settings, deadline, &mut tracker).await;
    match result {
        Ok(outcome) => {
            tracker.finish(store).await;
            Ok(outcome)
        }
        Err(CopyError::DeadlineNear {
            parts_done,
            parts_total,
            ..
        }) if tracker.is_recorded() => {
            tracing::info!(
                bucket = request.destination.bucket,
                key = request.destination.key,
                upload_id,
                parts_done,
                parts_total,
                "multipart copy paused for the next attempt"
            );
            tracker.release(store, &upload_id).await;
            Err(CopyError::DeadlineNear {
                parts_done,
                parts_total,
                resumable: true,
            })
        }
        // Another attempt took the copy over: the upload is its now.
        Err(err @ CopyError::Busy { .. }) => Err(err),
        Err(err) => {
            abort(store, request, &upload_id).await;
            tracker.finish(store).await;
            Err(err)
        }
    }
}

/// The upload the copy writes into, with the parts it already has: the recorded one an
/// earlier attempt left (when it is still there and its parts fit this copy's layout), or a
/// new one, recorded before any part is copied.
async fn open_upload<S: ObjectStore>(
    store: &S,
    request: &CopyRequest,
    start: &MultipartStart,
    ranges: &[(i32, u64, u64)],
    tracker: &mut Tracker,
    recorded: Option<String>,
) -> Result<(String, Vec<CompletedPart>), CopyError> {
    if let Some(upload_id) = recorded {
        match store.list_parts(&request.destination, &upload_id).await {
            Ok(parts) if fits(&parts, ranges) => {
                let mut parts: Vec<CompletedPart> = parts.into_iter().map(|p| p.part).collect();
                parts.sort_by_key(|p| p.part_number);
                tracing::info!(
                    bucket = request.destination.bucket,
                    key = request.destination.key,
                    upload_id,
                    parts_done = parts.len(),
                    parts_total = ranges.len(),
                    "continuing a recorded multipart copy"
                );
                return Ok((upload_id, parts));
            }
            // The recorded upload is the function's own: one whose parts do not fit is
            // aborted; one that is gone (completed by the attempt that died, or removed by
            // the lifecycle rule) is replaced.
            Ok(_) => abort(store, request, &upload_id).await,
            Err(StoreError::Service { code, .. }) if code == "NoSuchUpload" => {}
            Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let upload_id = store.create_multipart_upload(start).await?;
    if let Err(err) = tracker.record_upload(store, &upload_id).await {
        // Created by this attempt a moment ago and never recorded: only it knows the id.
        abort(store, request, &upload_id).await;
        return Err(err);
    }
    Ok((upload_id, Vec::new()))
}

/// Whether every uploaded part is one of this copy's parts, with its exact size.
fn fits(parts: &[UploadedPart], ranges: &[(i32, u64, u64)]) -> bool {
    parts.iter().all(|uploaded| {
        ranges.iter().any(|(number, first, last)| {
            *number == uploaded.part.part_number && uploaded.size == last - first + 1
        })
    })
}

/// Aborts an upload this copy created or holds the record of.
async fn abort<S: ObjectStore>(store: &S, request: &CopyRequest, upload_id: &str) {
    if let Err(err) = store
        .abort_multipart_upload(&request.destination, upload_id)
        .await
    {
        tracing::error!(
            bucket = request.destination.bucket,
            key = request.destination.key,
            upload_id,
            error = %err,
            "could not abort multipart upload; a lifecycle rule (AbortIncompleteMultipartUpload) will remove its parts"
        );
    }
}

/// What the upload is created with: everything a single CopyObject would have copied.
async fn multipart_start<S: ObjectStore>(
    store: &S,
    head: &ObjectHead,
    request: &CopyRequest,
    checksum: Option<&Checksum>,
) -> Result<MultipartStart, CopyError> {
    let tags = match &request.tags {
        TagDirective::Replace(tags) => tags.clone(),
        TagDirective::Copy if head.tag_count == Some(0) => Default::default(),
        TagDirective::Copy => store.get_tags(&request.source).await?,
    };
    let (content_type, content_headers, metadata) = match &request.metadata {
        MetadataDirective::Copy => (
            head.content_type.clone(),
            head.content_headers.clone(),
            head.metadata.clone(),
        ),
        MetadataDirective::Replace(headers) => (
            headers.content_type.clone(),
            headers.content_headers.clone(),
            headers.metadata.clone(),
        ),
    };
    Ok(MultipartStart {
        destination: request.destination.clone(),
        storage_class: request.storage_class.clone(),
        encryption: request.encryption.clone(),
        content_type,
        content_headers,
        metadata,
        tags,
        website_redirect: request.website_redirect.clone(),
        checksum_algorithm: checksum.map(|c| c.algorithm),
    })
}

/// Whether S3 can check a completed multipart upload against this checksum: a full-object
/// CRC (S3 has no full-object multipart SHA checksums).
fn is_full_object_crc(checksum: &Checksum) -> bool {
    checksum.full_object && checksum.algorithm.starts_with("CRC")
}

/// The source's checksum, which a single CopyObject would keep and which the completed copy
/// must have. A HEAD without checksum mode does not report it, so ask once (one request per
/// multipart copy); when that is refused (it needs `kms:Decrypt` on SSE-KMS objects), the
/// copy gets S3's default algorithm and is checked by size only.
async fn source_checksum<S: ObjectStore>(
    store: &S,
    head: &ObjectHead,
    request: &CopyRequest,
) -> Option<Checksum> {
    if let Some(checksum) = &head.checksum {
        return Some(checksum.clone());
    }
    match store.head_object_with_checksums(&request.source).await {
        Ok(with_checksums) if with_checksums.etag == head.etag => with_checksums.checksum,
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(
                bucket = request.source.bucket,
                key = request.source.key,
                error = %err,
                "could not read the source's checksum; the copy gets the default and is checked by size"
            );
            None
        }
    }
}

/// The upload a copy writes into: its id, the part layout, the parts already there, and what
/// S3 must find when it completes.
struct Upload<'a> {
    id: &'a str,
    ranges: Vec<(i32, u64, u64)>,
    done: Vec<CompletedPart>,
    checksum_algorithm: Option<&'static str>,
    expected: ExpectedObject,
}

/// Copies the parts the upload lacks, then completes it. A part starts only while the
/// invocation's deadline is more than the margin away and the copy's lease holds (renewed as
/// it goes when there is no deadline).
async fn copy_parts<S: ObjectStore>(
    store: &S,
    request: &CopyRequest,
    mut upload: Upload<'_>,
    settings: &CopySettings,
    deadline: Option<Instant>,
    tracker: &mut Tracker,
) -> Result<CopyOutcome, CopyError> {
    let parts_total = upload.ranges.len();
    loop {
        tracker
            .renew_if_due(store, upload.id, settings.deadline_margin)
            .await?;
        let lease_end = tracker.lease_end();
        let (copied, stopped) =
            copy_missing(store, request, &upload, settings, deadline, lease_end).await;
        upload.done.extend(copied);
        match stopped {
            None => break,
            // The lease, not the invocation, ran out: renew it and go on.
            Some(Stop::LeaseEnding) => continue,
            Some(Stop::DeadlineNear) => {
                return Err(CopyError::DeadlineNear {
                    parts_done: upload.done.len(),
                    parts_total,
                    resumable: false,
                });
            }
            Some(Stop::Failed(err)) => return Err(err.into()),
            // Only after a failure, which outranks it.
            Some(Stop::Cancelled) => continue,
        }
    }
    let mut parts = upload.done;
    parts.sort_by_key(|p| p.part_number);
    let complete = CompleteRequest {
        destination: request.destination.clone(),
        upload_id: upload.id.to_owned(),
        parts,
        // The parts were copied from the ETag seen; the destination must still hold what the
        // plan saw there when the upload completes, or a newer object would be replaced by
        // older bytes.
        condition: request.destination_condition.clone(),
        checksum_algorithm: upload.checksum_algorithm,
        expected: upload.expected,
    };
    Ok(store.complete_multipart_upload(&complete).await?)
}

/// Why copying parts stopped before every part was there.
enum Stop {
    /// The invocation's deadline is near.
    DeadlineNear,
    /// The copy's lease is about to end (it is renewed, and copying goes on).
    LeaseEnding,
    /// A part failed.
    Failed(StoreError),
    /// Not started, because another part failed.
    Cancelled,
}

impl Stop {
    /// Which reason is reported when parts stopped for several: a failure outranks a deadline,
    /// which outranks a lease renewal.
    fn rank(&self) -> u8 {
        match self {
            Self::Failed(_) => 3,
            Self::DeadlineNear => 2,
            Self::LeaseEnding => 1,
            Self::Cancelled => 0,
        }
    }
}

/// Copies the parts the upload lacks, a bounded number at once; returns the parts copied and,
/// when not all of them were, why it stopped.
async fn copy_missing<S: ObjectStore>(
    store: &S,
    request: &CopyRequest,
    upload: &Upload<'_>,
    settings: &CopySettings,
    deadline: Option<Instant>,
    lease_end: Option<SystemTime>,
) -> (Vec<CompletedPart>, Option<Stop>) {
    let already: std::collections::BTreeSet<i32> =
        upload.done.iter().map(|p| p.part_number).collect();
    let missing: Vec<(i32, u64, u64)> = upload
        .ranges
        .iter()
        .copied()
        .filter(|(number, _, _)| !already.contains(number))
        .collect();
    let failed = AtomicBool::new(false);
    let failed = &failed;
    let stop_waiting = crate::record_deadline::part_cutoff(deadline, settings.deadline_margin);
    let results: Vec<Result<CompletedPart, Stop>> = stream::iter(missing)
        .map(|(part_number, first_byte, last_byte)| async move {
            if failed.load(Ordering::Relaxed) {
                return Err(Stop::Cancelled);
            }
            if deadline.is_some_and(|d| Instant::now() + settings.deadline_margin >= d) {
                return Err(Stop::DeadlineNear);
            }
            if lease_end.is_some_and(|end| SystemTime::now() + settings.deadline_margin >= end) {
                return Err(Stop::LeaseEnding);
            }
            let part = PartCopy {
                destination: request.destination.clone(),
                upload_id: upload.id.to_owned(),
                part_number,
                source: request.source.clone(),
                source_if_match: request.source_if_match.clone(),
                first_byte,
                last_byte,
            };
            // A part still in flight at the part cut-off is left (the retry lists the parts
            // the upload has), so the copy pauses and releases its record in time.
            let copied = store.upload_part_copy(&part);
            let result = match stop_waiting {
                Some(at) => tokio::time::timeout_at(at.into(), copied)
                    .await
                    .map_err(|_| Stop::DeadlineNear)?,
                None => copied.await,
            };
            result.map_err(|err| {
                failed.store(true, Ordering::Relaxed);
                Stop::Failed(err)
            })
        })
        .buffer_unordered(settings.parts_in_flight.max(1))
        .collect()
        .await;
    let mut copied = Vec::new();
    let mut stopped = None;
    for result in results {
        match result {
            Ok(part) => copied.push(part),
            Err(stop) => {
                if stopped
                    .as_ref()
                    .is_none_or(|current: &Stop| stop.rank() > current.rank())
                {
                    stopped = Some(stop);
                }
            }
        }
    }
    (copied, stopped)
}

#[cfg(test)]
mod tests {
    //! On the in-memory store, which (like S3) checks copy and completion conditions, refuses a
    //! completion whose parts do not add up to the expected size and full-object checksum, and
    //! honours conditional writes of copy state records.

    use super::*;
    use crate::apply::copy_state::LEASE_SKEW;
    use crate::object::{ObjectLocation, StorageClass};
    use crate::store::WriteCondition;
    use crate::store::counting::CountingStore;
    use crate::store::faults::FaultInjectingStore;
    use crate::store::intercept::Operation;
    use crate::store::memory::{MemoryStore, StoredObject};

    const MIB: u64 = 1024 * 1024;
    const STATE: &str = "s3://backup-bucket/_s3pp/copy-state/";

    type Store = CountingStore<FaultInjectingStore<MemoryStore>>;

    fn small_parts() -> CopySettings {
        CopySettings {
            multipart_threshold: 6 * MIB,
            part_size: 5 * MIB,
            parts_in_flight: 2,
            deadline_margin: Duration::from_secs(5),
            state: Some(CopyStateLocation::parse(STATE).unwrap()),
        }
    }

    fn memory(store: &Store) -> &MemoryStore {
        store.inner().inner()
    }

    fn big_object(seed: u8) -> StoredObject {
        let body: Vec<u8> = (0..12 * MIB + 7)
            .map(|i| ((i % 251) as u8).wrapping_add(seed))
            .collect();
        StoredObject {
            etag: crate::store::memory::etag_of(&body),
            checksum: crate::store::memory::full_object_checksum("CRC64NVME", &body),
            body,
            content_type: Some("application/x-big".into()),
            metadata: [("owner".to_owned(), "me".to_owned())].into(),
            tags: [("team".to_owned(), "data".to_owned())].into(),
            ..StoredObject::default()
        }
    }

    async fn head_of(store: &Store) -> ObjectHead {
        store
            .head_object(&ObjectLocation::current("src-bucket", "big.bin"))
            .await
            .unwrap()
    }

    async fn setup() -> (Store, ObjectHead, Vec<u8>) {
        let memory = MemoryStore::new();
        memory.create_bucket("src-bucket");
        memory.create_bucket("backup-bucket");
        let object = big_object(0);
        let body = object.body.clone();
        memory.put_object("src-bucket", "big.bin", object);
        let store = CountingStore::new(FaultInjectingStore::new(memory));
        let head = head_of(&store).await;
        (store, head, body)
    }

    fn backup_request(head: &ObjectHead) -> CopyRequest {
        CopyRequest {
            source: ObjectLocation::current("src-bucket", "big.bin"),
            source_if_match: Some(head.etag.clone()),
            destination: ObjectLocation::current("backup-bucket", "big.bin"),
            destination_condition: WriteCondition::IfAbsent,
            storage_class: StorageClass::GlacierIr,
            encryption: None,
            tags: TagDirective::Copy,
            website_redirect: None,
            metadata: MetadataDirective::Copy,
        }
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(2))
    }

    /// The copy state records in the state location.
    fn records(store: &Store) -> Vec<String> {
        memory(store)
            .keys("backup-bucket")
            .into_iter()
            .filter(|k| k.starts_with("_s3pp/"))
            .collect()
    }

    #[tokio::test]
    async fn large_objects_are_copied_in_parts_with_metadata_and_tags() {
        let (store, head, body) = setup().await;
        copy(&store, &head, &backup_request(&head), &small_parts(), None)
            .await
            .unwrap();
        let copied = memory(&store).object("backup-bucket", "big.bin").unwrap();
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
        assert!(records(&store).is_empty(), "the record is gone once done");
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
            memory(&store).pending_uploads().is_empty(),
            "upload aborted"
        );
        assert!(memory(&store).object("backup-bucket", "big.bin").is_none());
        assert_eq!(store.counts().multipart_aborts, 1);
        assert!(records(&store).is_empty());
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
        assert!(memory(&store).pending_uploads().is_empty());
    }

    /// The completion states the source's size and full-object checksum, so the store (as S3)
    /// refuses parts that are not the source's bytes: here the source was replaced, ETag and
    /// all, by bytes the checksum does not match, while the parts were copied from it.
    #[tokio::test]
    async fn the_completion_names_the_sources_size_and_checksum() {
        let (store, head, _) = setup().await;
        let request = backup_request(&head);
        let checksum = store
            .head_object_with_checksums(&request.source)
            .await
            .unwrap()
            .checksum
            .unwrap();
        let mut forged = head.clone();
        forged.checksum = Some(Checksum {
            value: "not-the-sources".into(),
            ..checksum.clone()
        });
        let err = copy(&store, &forged, &request, &small_parts(), None)
            .await
            .unwrap_err();
        assert_eq!(err.store_error().map(StoreError::code), Some("BadDigest"));
        assert!(memory(&store).object("backup-bucket", "big.bin").is_none());
        assert!(memory(&store).pending_uploads().is_empty(), "aborted");
        assert!(records(&store).is_empty());
    }

    /// The memory store, as S3, refuses a completion whose parts do not add up to the size
    /// stated (`x-amz-mp-object-size`) and leaves the upload open.
    #[tokio::test]
    async fn the_store_checks_the_stated_size() {
        let (store, head, _) = setup().await;
        let request = backup_request(&head);
        let start = multipart_start(&store, &head, &request, None)
            .await
            .unwrap();
        let upload_id = store.create_multipart_upload(&start).await.unwrap();
        let part = store
            .upload_part_copy(&PartCopy {
                destination: request.destination.clone(),
                upload_id: upload_id.clone(),
                part_number: 1,
                source: request.source.clone(),
                source_if_match: None,
                first_byte: 0,
                last_byte: 9,
            })
            .await
            .unwrap();
        let complete = |size| CompleteRequest {
            destination: request.destination.clone(),
            upload_id: upload_id.clone(),
            parts: vec![part.clone()],
            condition: WriteCondition::None,
            checksum_algorithm: None,
            expected: ExpectedObject {
                size: Some(size),
                checksum: None,
            },
        };
        let err = store
            .complete_multipart_upload(&complete(11))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        assert_eq!(memory(&store).pending_uploads(), vec![upload_id.clone()]);
        store
            .complete_multipart_upload(&complete(10))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn near_the_deadline_no_part_starts_and_the_retry_continues_the_upload() {
        let (store, head, body) = setup().await;
        let request = backup_request(&head);
        let err = copy(&store, &head, &request, &small_parts(), soon())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CopyError::DeadlineNear {
                    parts_done: 0,
                    parts_total: 3,
                    resumable: true
                }
            ),
            "{err:?}"
        );
        assert_eq!(memory(&store).pending_uploads().len(), 1, "left open");
        assert_eq!(records(&store).len(), 1, "and recorded");
        assert_eq!(store.counts().part_copies, 0);

        copy(&store, &head, &request, &small_parts(), None)
            .await
            .expect("the retry finishes the copy");
        let counts = store.counts();
        assert_eq!(
            counts.multipart_starts, 1,
            "the recorded upload was continued"
        );
        assert_eq!(counts.part_copies, 3, "each part copied once");
        assert!(memory(&store).pending_uploads().is_empty());
        assert!(records(&store).is_empty());
        let copied = memory(&store).object("backup-bucket", "big.bin").unwrap();
        assert_eq!(copied.body, body);
    }

    /// Parts still in flight at the part cut-off (a slow UploadPartCopy) are not waited for:
    /// the copy pauses in time and releases its record, so the retry continues the upload at
    /// once instead of finding it held (`CopyInProgress`) until the lease runs out.
    #[tokio::test]
    async fn parts_in_flight_at_the_cutoff_are_left_and_the_record_released() {
        struct SlowParts;
        impl crate::store::intercept::CallHook for SlowParts {
            fn before(&self, _: Operation) -> Result<(), crate::store::StoreError> {
                Ok(())
            }
            fn latency(&self, operation: Operation) -> Option<Duration> {
                (operation == Operation::UploadPartCopy).then_some(Duration::from_secs(600))
            }
        }
        let (store, head, body) = setup().await;
        let slow = crate::store::intercept::Intercepted::with_hook(store, SlowParts);
        let request = backup_request(&head);
        let settings = CopySettings {
            deadline_margin: Duration::from_secs(1),
            ..small_parts()
        };
        let started = Instant::now();
        let deadline = started + Duration::from_millis(1500);
        let err = copy(&slow, &head, &request, &settings, Some(deadline))
            .await
            .unwrap_err();
        assert!(Instant::now() < deadline, "paused before the deadline");
        assert!(
            matches!(
                err,
                CopyError::DeadlineNear {
                    resumable: true,
                    ..
                }
            ),
            "{err:?}"
        );
        let store = slow.inner();
        assert_eq!(records(store).len(), 1, "recorded");
        copy(store, &head, &request, &settings, None)
            .await
            .expect("the retry takes the released copy over at once");
        assert_eq!(store.counts().multipart_starts, 1, "the same upload");
        let copied = memory(store).object("backup-bucket", "big.bin").unwrap();
        assert_eq!(copied.body, body);
        assert!(records(store).is_empty());
    }

    /// Without a state location a copy cannot be resumed: at the deadline it aborts the upload
    /// it created, and says how to let copies resume.
    #[tokio::test]
    async fn without_copy_state_a_paused_copy_aborts_its_own_upload() {
        let (store, head, _) = setup().await;
        let settings = CopySettings {
            state: None,
            ..small_parts()
        };
        let err = copy(&store, &head, &backup_request(&head), &settings, soon())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CopyError::DeadlineNear {
                    resumable: false,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("COPY_STATE"), "{err}");
        assert!(memory(&store).pending_uploads().is_empty());
        assert!(records(&store).is_empty());
    }

    /// Defect 1: an upload somebody else opened at the destination (a producer writing a new
    /// version of the key being rewritten, with parts or without) is never continued,
    /// completed or aborted; the copy makes and completes its own.
    #[tokio::test]
    async fn a_producers_open_uploads_are_never_touched() {
        let (store, head, body) = setup().await;
        let empty = memory(&store).start_foreign_upload("src-bucket", "big.bin");
        let busy = memory(&store).start_foreign_upload("src-bucket", "big.bin");
        let current = ObjectLocation::current("src-bucket", "big.bin");
        let rewrite = CopyRequest {
            source: current.clone(),
            source_if_match: Some(head.etag.clone()),
            destination: current,
            destination_condition: WriteCondition::IfMatch(head.etag.clone()),
            storage_class: StorageClass::StandardIa,
            encryption: None,
            tags: TagDirective::Copy,
            website_redirect: None,
            metadata: MetadataDirective::Copy,
        };
        // Paused once, then finished: both attempts leave the producer's uploads alone.
        copy(&store, &head, &rewrite, &small_parts(), soon())
            .await
            .unwrap_err();
        copy(&store, &head, &rewrite, &small_parts(), None)
            .await
            .unwrap();
        let pending = memory(&store).pending_uploads();
        assert!(
            pending.contains(&empty) && pending.contains(&busy),
            "{pending:?}"
        );
        assert_eq!(pending.len(), 2, "only the copy's own upload was completed");
        assert_eq!(store.counts().multipart_aborts, 0);
        let rewritten = memory(&store).object("src-bucket", "big.bin").unwrap();
        assert_eq!(rewritten.body, body);
        assert_eq!(rewritten.storage_class, StorageClass::StandardIa);
    }

    /// Defect 2: a paused copy of one write of the source is never continued by the copy of
    /// another write (overlapping uploads of one key): the new write's copy makes its own
    /// upload, the older one's (the function's own, recorded) is aborted as superseded, and the
    /// backup holds exactly the newer bytes.
    #[tokio::test]
    async fn a_copy_never_continues_another_writes_upload() {
        let (store, head, _) = setup().await;
        copy(
            &store,
            &head,
            &backup_request(&head),
            &small_parts(),
            soon(),
        )
        .await
        .unwrap_err();
        assert_eq!(memory(&store).pending_uploads().len(), 1);
        let newer = big_object(1);
        let newer_body = newer.body.clone();
        memory(&store).put_object("src-bucket", "big.bin", newer);
        let newer_head = head_of(&store).await;
        copy(
            &store,
            &newer_head,
            &backup_request(&newer_head),
            &small_parts(),
            None,
        )
        .await
        .expect("copy of the newer write");
        assert_eq!(store.counts().multipart_starts, 2, "a new upload");
        assert_eq!(store.counts().part_copies, 3, "no part of the old one used");
        assert_eq!(
            memory(&store)
                .object("backup-bucket", "big.bin")
                .unwrap()
                .body,
            newer_body
        );
        assert!(
            memory(&store).pending_uploads().is_empty(),
            "the superseded upload was aborted"
        );
        assert!(records(&store).is_empty());
    }

    /// Defect 6: two attempts at one copy (a duplicate delivery, or `s3pp scan --apply` beside
    /// the function): while one holds the copy's lease the other touches nothing and fails as
    /// transient; once the lease is released it continues the recorded upload.
    #[tokio::test]
    async fn a_copy_held_by_another_attempt_is_left_alone() {
        let (store, head, body) = setup().await;
        let request = backup_request(&head);
        let settings = small_parts();
        let identity = {
            let start = multipart_start(&store, &head, &request, None)
                .await
                .unwrap();
            let checksum = source_checksum(&store, &head, &request).await;
            let start = MultipartStart {
                checksum_algorithm: checksum.as_ref().map(|c| c.algorithm),
                ..start
            };
            CopyIdentity::new(
                &head,
                &request,
                &start,
                &part_ranges(head.size, settings.part_size),
            )
        };
        // The first attempt claims the copy with a long lease and is still running.
        let Claim { mut tracker, .. } = Tracker::claim(
            &store,
            settings.state.as_ref(),
            identity,
            Some(Duration::from_secs(600)),
        )
        .await
        .unwrap();
        let upload = store
            .create_multipart_upload(
                &multipart_start(&store, &head, &request, None)
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
        tracker.record_upload(&store, &upload).await.unwrap();
        let before = store.counts();
        let err = copy(&store, &head, &request, &settings, None)
            .await
            .unwrap_err();
        assert!(matches!(err, CopyError::Busy { .. }), "{err:?}");
        let after = store.counts();
        assert_eq!(
            (
                after.multipart_starts,
                after.part_copies,
                after.multipart_aborts
            ),
            (
                before.multipart_starts,
                before.part_copies,
                before.multipart_aborts
            ),
            "nothing touched"
        );
        // The holder pauses: the next attempt continues its upload.
        tracker.release(&store, &upload).await;
        copy(&store, &head, &request, &settings, None)
            .await
            .unwrap();
        assert_eq!(store.counts().multipart_starts, before.multipart_starts);
        assert_eq!(
            memory(&store)
                .object("backup-bucket", "big.bin")
                .unwrap()
                .body,
            body
        );
        assert!(memory(&store).pending_uploads().is_empty());
    }

    /// An attempt that finished (its upload aborted) but could not delete its record leaves a
    /// lease that nothing holds: the upload it names is gone, so the copy is taken over.
    #[tokio::test]
    async fn a_leased_record_whose_upload_is_gone_is_taken_over() {
        let (store, head, body) = setup().await;
        let request = backup_request(&head);
        let settings = small_parts();
        store.inner().fail_call(
            Operation::UploadPartCopy,
            1,
            StoreError::Service {
                operation: "UploadPartCopy",
                code: "InternalError".into(),
                status: 500,
                message: "injected".into(),
            },
        );
        store.inner().fail_call(
            Operation::DeleteObject,
            1,
            StoreError::Transport {
                operation: "DeleteObject",
                message: "reset".into(),
            },
        );
        copy(&store, &head, &request, &settings, None)
            .await
            .unwrap_err();
        assert_eq!(records(&store).len(), 1, "the record could not be deleted");
        assert!(
            memory(&store).pending_uploads().is_empty(),
            "its upload was aborted"
        );
        copy(&store, &head, &request, &settings, None)
            .await
            .expect("taken over despite the lease");
        assert_eq!(
            memory(&store)
                .object("backup-bucket", "big.bin")
                .unwrap()
                .body,
            body
        );
        assert!(records(&store).is_empty());
    }

    /// An attempt that died holding the lease (its invocation timed out) is taken over once
    /// the lease has run out: a lease is the deadline plus [`LEASE_SKEW`].
    #[tokio::test]
    async fn an_abandoned_copy_is_taken_over_after_its_lease() {
        let (store, head, body) = setup().await;
        let request = backup_request(&head);
        let settings = small_parts();
        let record_key = {
            copy(&store, &head, &request, &settings, soon())
                .await
                .unwrap_err();
            records(&store).remove(0)
        };
        // Rewrite the record as a live attempt that died would have left it: leased until a
        // moment ago.
        let location = ObjectLocation::current("backup-bucket", &record_key);
        let found = store.get_record(&location).await.unwrap().unwrap();
        let mut record: serde_json::Value = serde_json::from_slice(&found.body).unwrap();
        let past = SystemTime::now() - LEASE_SKEW;
        record["lease_until"] = serde_json::json!(
            past.duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        );
        store
            .put_record(
                &location,
                &serde_json::to_vec(&record).unwrap(),
                &WriteCondition::IfMatch(found.etag),
            )
            .await
            .unwrap();
        copy(&store, &head, &request, &settings, None)
            .await
            .unwrap();
        assert_eq!(
            store.counts().multipart_starts,
            1,
            "taken over, not restarted"
        );
        assert_eq!(
            memory(&store)
                .object("backup-bucket", "big.bin")
                .unwrap()
                .body,
            body
        );
    }

    /// Every checksum algorithm S3 has is restated by a multipart copy, as a single CopyObject
    /// keeps it: full-object for the CRCs (and stated at completion, for S3 to check), composite
    /// for the others.
    #[tokio::test]
    async fn every_checksum_algorithm_is_restated_by_a_multipart_copy() {
        for algorithm in crate::object::CHECKSUM_ALGORITHMS {
            let (store, _, body) = setup().await;
            let mut object = memory(&store).object("src-bucket", "big.bin").unwrap();
            object.checksum = crate::store::memory::full_object_checksum(algorithm, &body);
            memory(&store).put_object("src-bucket", "big.bin", object);
            let head = store
                .head_object_with_checksums(&ObjectLocation::current("src-bucket", "big.bin"))
                .await
                .unwrap();
            copy(&store, &head, &backup_request(&head), &small_parts(), None)
                .await
                .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
            let copied = memory(&store).object("backup-bucket", "big.bin").unwrap();
            assert_eq!(copied.body, body, "{algorithm}");
            assert_eq!(copied.checksum.algorithm, algorithm);
            let crc = algorithm.starts_with("CRC");
            assert_eq!(copied.checksum.full_object, crc, "{algorithm}");
            if crc {
                assert_eq!(
                    copied.checksum.value,
                    head.checksum.unwrap().value,
                    "{algorithm}"
                );
            } else {
                assert!(
                    copied.checksum.value.ends_with("-3"),
                    "{algorithm}: composite of 3 parts"
                );
            }
        }
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

    #[test]
    fn part_count_is_the_number_of_ranges() {
        for size in [1, 5 * MIB, 5 * MIB + 1, 12 * MIB + 1, 5 * 1024 * 1024 * MIB] {
            for preferred in [1, 5 * MIB, 64 * MIB] {
                assert_eq!(
                    part_count(size, preferred),
                    part_ranges(size, preferred).len() as u64,
                    "{size} bytes in parts of {preferred}"
                );
            }
        }
    }
}
