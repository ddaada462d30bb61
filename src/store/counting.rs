//! An [`ObjectStore`] wrapper that counts calls per operation, for tests and benchmarks that
//! must prove how many requests (and writes) a reconcile made against a real server.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{
    CompletedPart, CopyOutcome, CopyRequest, MultipartStart, ObjectStore, PartCopy, StoreError,
};
use crate::object::{Acl, ObjectHead, ObjectLocation, Tags};

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
}

impl Counts {
    /// Calls that create or change an object (copies, completed multipart copies, tag writes).
    pub fn writes(&self) -> usize {
        self.copies + self.put_tags + self.multipart_completes + self.put_acls
    }
}

/// Wraps a store and counts its calls.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    counters: [AtomicUsize; 12],
}

const HEAD: usize = 0;
const HEAD_BUCKET: usize = 1;
const GET_TAGS: usize = 2;
const PUT_TAGS: usize = 3;
const COPY: usize = 4;
const MP_START: usize = 5;
const PART_COPY: usize = 6;
const MP_COMPLETE: usize = 7;
const MP_ABORT: usize = 8;
const GET_ACL: usize = 9;
const PUT_ACL: usize = 10;
const RESTORE: usize = 11;

impl<S> CountingStore<S> {
    /// Starts counting from zero.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counters: Default::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let get = |i: usize| self.counters[i].load(Ordering::Relaxed);
        Counts {
            heads: get(HEAD),
            head_buckets: get(HEAD_BUCKET),
            get_tags: get(GET_TAGS),
            put_tags: get(PUT_TAGS),
            copies: get(COPY),
            multipart_starts: get(MP_START),
            part_copies: get(PART_COPY),
            multipart_completes: get(MP_COMPLETE),
            multipart_aborts: get(MP_ABORT),
            get_acls: get(GET_ACL),
            put_acls: get(PUT_ACL),
            restores: get(RESTORE),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn bump(&self, counter: usize) {
        self.counters[counter].fetch_add(1, Ordering::Relaxed);
    }
}

impl<S: ObjectStore> ObjectStore for CountingStore<S> {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        self.bump(HEAD);
        self.inner.head_object(location).await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.bump(HEAD_BUCKET);
        self.inner.head_bucket(bucket).await
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        self.bump(GET_TAGS);
        self.inner.get_tags(location).await
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        self.bump(PUT_TAGS);
        self.inner.put_tags(location, tags).await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        self.bump(COPY);
        self.inner.copy_object(request).await
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        self.bump(MP_START);
        self.inner.create_multipart_upload(request).await
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<String, StoreError> {
        self.bump(PART_COPY);
        self.inner.upload_part_copy(request).await
    }

    async fn complete_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CopyOutcome, StoreError> {
        self.bump(MP_COMPLETE);
        self.inner
            .complete_multipart_upload(destination, upload_id, parts)
            .await
    }

    async fn abort_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.bump(MP_ABORT);
        self.inner
            .abort_multipart_upload(destination, upload_id)
            .await
    }

    async fn get_acl(&self, location: &ObjectLocation) -> Result<Acl, StoreError> {
        self.bump(GET_ACL);
        self.inner.get_acl(location).await
    }

    async fn put_acl(&self, location: &ObjectLocation, acl: &Acl) -> Result<(), StoreError> {
        self.bump(PUT_ACL);
        self.inner.put_acl(location, acl).await
    }

    async fn restore_object(
        &self,
        location: &ObjectLocation,
        days: i32,
        tier: &str,
    ) -> Result<(), StoreError> {
        self.bump(RESTORE);
        self.inner.restore_object(location, days, tier).await
    }
}
