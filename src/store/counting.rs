//! An [`ObjectStore`] wrapper that counts calls per operation, for tests and benchmarks that
//! must prove how many requests (and writes) a reconcile made against a real server.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{CopyOutcome, CopyRequest, ObjectStore, StoreError};
use crate::object::{ObjectHead, ObjectLocation, Tags};

/// Wraps a store and counts its calls.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    heads: AtomicUsize,
    head_buckets: AtomicUsize,
    get_tags: AtomicUsize,
    put_tags: AtomicUsize,
    copies: AtomicUsize,
}

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
}

impl Counts {
    /// Calls that write (copies and tag writes).
    pub fn writes(&self) -> usize {
        self.copies + self.put_tags
    }
}

impl<S> CountingStore<S> {
    /// Starts counting from zero.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            heads: AtomicUsize::new(0),
            head_buckets: AtomicUsize::new(0),
            get_tags: AtomicUsize::new(0),
            put_tags: AtomicUsize::new(0),
            copies: AtomicUsize::new(0),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            heads: self.heads.load(Ordering::Relaxed),
            head_buckets: self.head_buckets.load(Ordering::Relaxed),
            get_tags: self.get_tags.load(Ordering::Relaxed),
            put_tags: self.put_tags.load(Ordering::Relaxed),
            copies: self.copies.load(Ordering::Relaxed),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

fn bump(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl<S: ObjectStore> ObjectStore for CountingStore<S> {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        bump(&self.heads);
        self.inner.head_object(location).await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        bump(&self.head_buckets);
        self.inner.head_bucket(bucket).await
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        bump(&self.get_tags);
        self.inner.get_tags(location).await
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        bump(&self.put_tags);
        self.inner.put_tags(location, tags).await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        bump(&self.copies);
        self.inner.copy_object(request).await
    }
}
