//! An [`super::ObjectStore`] wrapper that counts calls per operation, for tests and benchmarks that
//! must prove how many requests (and writes) a reconcile made against a real server.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::StoreError;
use super::intercept::{CallHook, Intercepted, Operation};

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// HeadObject calls.
    pub heads: usize,
    /// HeadBucket calls.
    pub head_buckets: usize,
    /// GetObjectTagging calls.
    pub get_tags: usize,
    /// PutObjectTagging calls.
    pub put_tags: usize,
    /// CopyObject calls.
    pub copies: usize,
    /// CreateMultipartUpload calls.
    pub multipart_starts: usize,
    /// UploadPartCopy calls.
    pub part_copies: usize,
    /// CompleteMultipartUpload calls.
    pub multipart_completes: usize,
    /// AbortMultipartUpload calls.
    pub multipart_aborts: usize,
    /// GetObjectAcl calls.
    pub get_acls: usize,
    /// PutObjectAcl calls.
    pub put_acls: usize,
    /// RestoreObject calls.
    pub restores: usize,
    /// ListParts calls (resuming large copies).
    pub upload_listings: usize,
    /// ListObjectsV2 calls.
    pub lists: usize,
    /// GetBucketVersioning calls.
    pub versionings: usize,
    /// ListObjectVersions calls.
    pub version_listings: usize,
    /// GetObject calls (copy state records, and probes after a refused HEAD).
    pub gets: usize,
    /// PutObject calls (copy state records).
    pub puts: usize,
    /// DeleteObject calls (copy state records).
    pub deletes: usize,
    /// GetObjectLockConfiguration, GetObjectRetention and GetObjectLegalHold calls.
    pub lock_reads: usize,
    /// UpdateObjectEncryption calls.
    pub rekeys: usize,
    /// ListObjectAnnotations and GetObjectAnnotation calls.
    pub annotation_reads: usize,
    /// PutObjectAnnotation calls.
    pub annotation_writes: usize,
}

impl Counts {
    /// Calls that create or change an object (copies, completed multipart copies, re-keys, tag,
    /// ACL and annotation writes).
    pub fn writes(&self) -> usize {
        self.copies
            + self.put_tags
            + self.multipart_completes
            + self.put_acls
            + self.rekeys
            + self.annotation_writes
    }

    /// Every request counted.
    pub fn requests(&self) -> usize {
        let Self {
            heads,
            head_buckets,
            get_tags,
            put_tags,
            copies,
            multipart_starts,
            part_copies,
            multipart_completes,
            multipart_aborts,
            get_acls,
            put_acls,
            restores,
            upload_listings,
            lists,
            versionings,
            version_listings,
            gets,
            puts,
            deletes,
            lock_reads,
            rekeys,
            annotation_reads,
            annotation_writes,
        } = *self;
        heads
            + head_buckets
            + get_tags
            + put_tags
            + copies
            + multipart_starts
            + part_copies
            + multipart_completes
            + multipart_aborts
            + get_acls
            + put_acls
            + restores
            + upload_listings
            + lists
            + versionings
            + version_listings
            + gets
            + puts
            + deletes
            + lock_reads
            + rekeys
            + annotation_reads
            + annotation_writes
    }
}

/// Counts calls per operation.
#[derive(Debug, Default)]
pub struct CallCounter {
    counters: [AtomicUsize; Operation::COUNT],
}

impl CallHook for CallCounter {
    fn before(&self, operation: Operation) -> Result<(), StoreError> {
        self.counters[operation as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Wraps a store and counts its calls.
pub type CountingStore<S> = Intercepted<S, CallCounter>;

impl<S> CountingStore<S> {
    /// Starts counting from zero.
    pub fn new(inner: S) -> Self {
        Self::with_hook(inner, CallCounter::default())
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let get =
            |operation: Operation| self.hook().counters[operation as usize].load(Ordering::Relaxed);
        Counts {
            heads: get(Operation::HeadObject),
            head_buckets: get(Operation::HeadBucket),
            get_tags: get(Operation::GetObjectTagging),
            put_tags: get(Operation::PutObjectTagging),
            copies: get(Operation::CopyObject),
            multipart_starts: get(Operation::CreateMultipartUpload),
            part_copies: get(Operation::UploadPartCopy),
            multipart_completes: get(Operation::CompleteMultipartUpload),
            multipart_aborts: get(Operation::AbortMultipartUpload),
            get_acls: get(Operation::GetObjectAcl),
            put_acls: get(Operation::PutObjectAcl),
            restores: get(Operation::RestoreObject),
            upload_listings: get(Operation::ListParts),
            lists: get(Operation::ListObjectsV2),
            versionings: get(Operation::GetBucketVersioning),
            version_listings: get(Operation::ListObjectVersions),
            gets: get(Operation::GetObject),
            puts: get(Operation::PutObject),
            deletes: get(Operation::DeleteObject),
            lock_reads: get(Operation::GetObjectLockConfiguration)
                + get(Operation::GetObjectRetention)
                + get(Operation::GetObjectLegalHold),
            rekeys: get(Operation::UpdateObjectEncryption),
            annotation_reads: get(Operation::ListObjectAnnotations)
                + get(Operation::GetObjectAnnotation),
            annotation_writes: get(Operation::PutObjectAnnotation),
        }
    }
}
