//! An [`ObjectStore`] wrapper that injects failures (in the style of mountpoint-s3's failure
//! client): "fail the Nth call of operation X with error E". Used by tests to prove that a
//! failure at any step leaves no partial state (e.g. no orphaned multipart upload) and is
//! reported with the right classification.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::{
    CompletedPart, CopyOutcome, CopyRequest, MultipartStart, ObjectStore, PartCopy, StoreError,
};
use crate::object::{Acl, ObjectHead, ObjectLocation, Tags};

#[derive(Debug, Default)]
struct State {
    calls: HashMap<&'static str, usize>,
    faults: Vec<(&'static str, usize, StoreError)>,
}

/// Wraps a store and fails chosen calls.
#[derive(Debug, Default)]
pub struct FaultInjectingStore<S> {
    inner: S,
    state: Mutex<State>,
}

impl<S> FaultInjectingStore<S> {
    /// No faults until [`Self::fail_call`] adds some.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: Mutex::default(),
        }
    }

    /// Makes the `nth` (1-based, counted from now on) call of `operation` (S3's operation name,
    /// e.g. `UploadPartCopy`) fail with `error`.
    pub fn fail_call(&self, operation: &'static str, nth: usize, error: StoreError) {
        let mut state = self.lock();
        let seen = state.calls.get(operation).copied().unwrap_or(0);
        state.faults.push((operation, seen + nth, error));
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let call = {
            let count = state.calls.entry(operation).or_insert(0);
            *count += 1;
            *count
        };
        match state
            .faults
            .iter()
            .position(|(op, n, _)| *op == operation && *n == call)
        {
            Some(index) => Err(state.faults.remove(index).2),
            None => Ok(()),
        }
    }
}

impl<S: ObjectStore> ObjectStore for FaultInjectingStore<S> {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        self.check("HeadObject")?;
        self.inner.head_object(location).await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.check("HeadBucket")?;
        self.inner.head_bucket(bucket).await
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        self.check("GetObjectTagging")?;
        self.inner.get_tags(location).await
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        self.check("PutObjectTagging")?;
        self.inner.put_tags(location, tags).await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        self.check("CopyObject")?;
        self.inner.copy_object(request).await
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        self.check("CreateMultipartUpload")?;
        self.inner.create_multipart_upload(request).await
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<String, StoreError> {
        self.check("UploadPartCopy")?;
        self.inner.upload_part_copy(request).await
    }

    async fn complete_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CopyOutcome, StoreError> {
        self.check("CompleteMultipartUpload")?;
        self.inner
            .complete_multipart_upload(destination, upload_id, parts)
            .await
    }

    async fn abort_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.check("AbortMultipartUpload")?;
        self.inner
            .abort_multipart_upload(destination, upload_id)
            .await
    }

    async fn get_acl(&self, location: &ObjectLocation) -> Result<Acl, StoreError> {
        self.check("GetObjectAcl")?;
        self.inner.get_acl(location).await
    }

    async fn put_acl(&self, location: &ObjectLocation, acl: &Acl) -> Result<(), StoreError> {
        self.check("PutObjectAcl")?;
        self.inner.put_acl(location, acl).await
    }

    async fn restore_object(
        &self,
        location: &ObjectLocation,
        days: i32,
        tier: &str,
    ) -> Result<(), StoreError> {
        self.check("RestoreObject")?;
        self.inner.restore_object(location, days, tier).await
    }
}
