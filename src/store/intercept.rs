//! A store wrapper that runs a hook before every call, naming the S3 operation; the hook may
//! fail the call before it reaches the wrapped store. Counting ([`super::counting`]) and fault
//! injection ([`super::faults`]) are hooks, so the delegation below is written once.

use std::time::Duration;

use super::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, MultipartStart, ObjectPage,
    ObjectStore, PartCopy, StoreError, StoredRecord, UploadedPart, VersionEntry, Versioning,
    WriteCondition,
};
use crate::object::{Acl, ObjectHead, ObjectLocation, Tags};

/// The S3 operations of [`ObjectStore`], one per method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `head_object`.
    HeadObject,
    /// `head_bucket`.
    HeadBucket,
    /// `get_tags`.
    GetObjectTagging,
    /// `put_tags`.
    PutObjectTagging,
    /// `copy_object`.
    CopyObject,
    /// `create_multipart_upload`.
    CreateMultipartUpload,
    /// `upload_part_copy`.
    UploadPartCopy,
    /// `complete_multipart_upload`.
    CompleteMultipartUpload,
    /// `abort_multipart_upload`.
    AbortMultipartUpload,
    /// `list_parts`.
    ListParts,
    /// `get_acl`.
    GetObjectAcl,
    /// `put_acl`.
    PutObjectAcl,
    /// `restore_object`.
    RestoreObject,
    /// `list_objects`.
    ListObjectsV2,
    /// `bucket_versioning`.
    GetBucketVersioning,
    /// `list_versions`.
    ListObjectVersions,
    /// `get_record` and `probe_read`.
    GetObject,
    /// `put_record`.
    PutObject,
    /// `delete_record`.
    DeleteObject,
    /// `bucket_object_lock`.
    GetObjectLockConfiguration,
    /// `get_retention`.
    GetObjectRetention,
    /// `get_legal_hold`.
    GetObjectLegalHold,
    /// `update_object_encryption`.
    UpdateObjectEncryption,
    /// `list_annotations`.
    ListObjectAnnotations,
    /// `get_annotation`.
    GetObjectAnnotation,
    /// `put_annotation`.
    PutObjectAnnotation,
}

impl Operation {
    /// How many operations there are.
    pub const COUNT: usize = 26;

    /// S3's name for the operation (as in its API reference and error messages).
    pub fn name(self) -> &'static str {
        match self {
            Self::HeadObject => "HeadObject",
            Self::HeadBucket => "HeadBucket",
            Self::GetObjectTagging => "GetObjectTagging",
            Self::PutObjectTagging => "PutObjectTagging",
            Self::CopyObject => "CopyObject",
            Self::CreateMultipartUpload => "CreateMultipartUpload",
            Self::UploadPartCopy => "UploadPartCopy",
            Self::CompleteMultipartUpload => "CompleteMultipartUpload",
            Self::AbortMultipartUpload => "AbortMultipartUpload",
            Self::ListParts => "ListParts",
            Self::GetObjectAcl => "GetObjectAcl",
            Self::PutObjectAcl => "PutObjectAcl",
            Self::RestoreObject => "RestoreObject",
            Self::ListObjectsV2 => "ListObjectsV2",
            Self::GetBucketVersioning => "GetBucketVersioning",
            Self::ListObjectVersions => "ListObjectVersions",
            Self::GetObject => "GetObject",
            Self::PutObject => "PutObject",
            Self::DeleteObject => "DeleteObject",
            Self::GetObjectLockConfiguration => "GetObjectLockConfiguration",
            Self::GetObjectRetention => "GetObjectRetention",
            Self::GetObjectLegalHold => "GetObjectLegalHold",
            Self::UpdateObjectEncryption => "UpdateObjectEncryption",
            Self::ListObjectAnnotations => "ListObjectAnnotations",
            Self::GetObjectAnnotation => "GetObjectAnnotation",
            Self::PutObjectAnnotation => "PutObjectAnnotation",
        }
    }
}

/// Runs before each call of an [`Intercepted`] store.
pub trait CallHook: Send + Sync {
    /// Called before `operation` reaches the wrapped store; an error fails the call unsent.
    fn before(&self, operation: Operation) -> Result<(), StoreError>;

    /// How long `operation` waits before it reaches the wrapped store (a modelled round trip,
    /// for tests that count round trips on tokio's paused clock); none by default.
    fn latency(&self, _operation: Operation) -> Option<Duration> {
        None
    }
}

/// Wraps a store and runs a [`CallHook`] before every call.
#[derive(Debug, Default)]
pub struct Intercepted<S, H> {
    inner: S,
    hook: H,
}

impl<S, H> Intercepted<S, H> {
    /// Wraps `inner` with `hook`.
    pub fn with_hook(inner: S, hook: H) -> Self {
        Self { inner, hook }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

impl<S, H: CallHook> Intercepted<S, H> {
    async fn before(&self, operation: Operation) -> Result<(), StoreError> {
        self.hook.before(operation)?;
        if let Some(latency) = self.hook.latency(operation) {
            tokio::time::sleep(latency).await;
        }
        Ok(())
    }
}

impl<S: ObjectStore, H: CallHook> ObjectStore for Intercepted<S, H> {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        self.before(Operation::HeadObject).await?;
        self.inner.head_object(location).await
    }

    async fn head_object_with_checksums(
        &self,
        location: &ObjectLocation,
    ) -> Result<ObjectHead, StoreError> {
        self.before(Operation::HeadObject).await?;
        self.inner.head_object_with_checksums(location).await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.before(Operation::HeadBucket).await?;
        self.inner.head_bucket(bucket).await
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        self.before(Operation::GetObjectTagging).await?;
        self.inner.get_tags(location).await
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        self.before(Operation::PutObjectTagging).await?;
        self.inner.put_tags(location, tags).await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        self.before(Operation::CopyObject).await?;
        self.inner.copy_object(request).await
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        self.before(Operation::CreateMultipartUpload).await?;
        self.inner.create_multipart_upload(request).await
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<CompletedPart, StoreError> {
        self.before(Operation::UploadPartCopy).await?;
        self.inner.upload_part_copy(request).await
    }

    async fn complete_multipart_upload(
        &self,
        request: &CompleteRequest,
    ) -> Result<CopyOutcome, StoreError> {
        self.before(Operation::CompleteMultipartUpload).await?;
        self.inner.complete_multipart_upload(request).await
    }

    async fn get_acl(&self, location: &ObjectLocation) -> Result<Acl, StoreError> {
        self.before(Operation::GetObjectAcl).await?;
        self.inner.get_acl(location).await
    }

    async fn put_acl(&self, location: &ObjectLocation, acl: &Acl) -> Result<(), StoreError> {
        self.before(Operation::PutObjectAcl).await?;
        self.inner.put_acl(location, acl).await
    }

    async fn restore_object(
        &self,
        location: &ObjectLocation,
        days: Option<i32>,
        tier: &str,
    ) -> Result<(), StoreError> {
        self.before(Operation::RestoreObject).await?;
        self.inner.restore_object(location, days, tier).await
    }

    async fn update_object_encryption(
        &self,
        location: &ObjectLocation,
        key_arn: &str,
        bucket_key: Option<bool>,
    ) -> Result<(), StoreError> {
        self.before(Operation::UpdateObjectEncryption).await?;
        self.inner
            .update_object_encryption(location, key_arn, bucket_key)
            .await
    }

    async fn list_annotations(&self, location: &ObjectLocation) -> Result<Vec<String>, StoreError> {
        self.before(Operation::ListObjectAnnotations).await?;
        self.inner.list_annotations(location).await
    }

    async fn get_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
    ) -> Result<Vec<u8>, StoreError> {
        self.before(Operation::GetObjectAnnotation).await?;
        self.inner.get_annotation(location, name).await
    }

    async fn put_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
        payload: &[u8],
        object_etag: &str,
    ) -> Result<(), StoreError> {
        self.before(Operation::PutObjectAnnotation).await?;
        self.inner
            .put_annotation(location, name, payload, object_etag)
            .await
    }

    async fn bucket_versioning(&self, bucket: &str) -> Result<Versioning, StoreError> {
        self.before(Operation::GetBucketVersioning).await?;
        self.inner.bucket_versioning(bucket).await
    }

    async fn list_versions(
        &self,
        location: &ObjectLocation,
    ) -> Result<Vec<VersionEntry>, StoreError> {
        self.before(Operation::ListObjectVersions).await?;
        self.inner.list_versions(location).await
    }

    async fn get_record(
        &self,
        location: &ObjectLocation,
    ) -> Result<Option<StoredRecord>, StoreError> {
        self.before(Operation::GetObject).await?;
        self.inner.get_record(location).await
    }

    async fn put_record(
        &self,
        location: &ObjectLocation,
        body: &[u8],
        condition: &WriteCondition,
    ) -> Result<String, StoreError> {
        self.before(Operation::PutObject).await?;
        self.inner.put_record(location, body, condition).await
    }

    async fn delete_record(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.before(Operation::DeleteObject).await?;
        self.inner.delete_record(location).await
    }

    async fn probe_read(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.before(Operation::GetObject).await?;
        self.inner.probe_read(location).await
    }

    async fn bucket_object_lock(&self, bucket: &str) -> Result<bool, StoreError> {
        self.before(Operation::GetObjectLockConfiguration).await?;
        self.inner.bucket_object_lock(bucket).await
    }

    async fn get_retention(&self, location: &ObjectLocation) -> Result<Option<String>, StoreError> {
        self.before(Operation::GetObjectRetention).await?;
        self.inner.get_retention(location).await
    }

    async fn get_legal_hold(&self, location: &ObjectLocation) -> Result<bool, StoreError> {
        self.before(Operation::GetObjectLegalHold).await?;
        self.inner.get_legal_hold(location).await
    }

    async fn list_parts(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        self.before(Operation::ListParts).await?;
        self.inner.list_parts(destination, upload_id).await
    }

    async fn abort_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.before(Operation::AbortMultipartUpload).await?;
        self.inner
            .abort_multipart_upload(destination, upload_id)
            .await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        self.before(Operation::ListObjectsV2).await?;
        self.inner.list_objects(bucket, prefix, continuation).await
    }
}
