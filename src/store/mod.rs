//! The storage boundary: what the processor needs from S3, in our own types. `s3` implements it
//! with aws-sdk-s3; `memory` is an in-memory fake for unit tests; `intercept` wraps any store
//! with a per-call hook (`counting` and `faults` are such hooks); `server` says which of S3's
//! request-saving behaviours the server is trusted to have.

pub mod bucket_facts;
pub mod counting;
pub mod faults;
pub mod intercept;
pub mod memory;
pub mod routing;
pub mod s3;
pub mod server;

use std::future::Future;

use std::collections::BTreeMap;

use crate::object::{
    Acl, Checksum, ContentHeaders, ObjectHead, ObjectLocation, StorageClass, Tags,
};
use crate::policy::EncryptionSpec;

/// What happens to the tags in a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagDirective {
    /// Copy the source's tags.
    Copy,
    /// Write exactly these tags.
    Replace(Tags),
}

/// A condition on the object at a write's destination, which S3 checks when the write completes
/// (CopyObject, CompleteMultipartUpload): 412 Precondition Failed when it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    /// Write whatever is at the destination.
    #[default]
    None,
    /// Write only over the object with this ETag (`If-Match`): S3 checks a copy's source
    /// condition when it starts and writes the destination when it ends, so only this keeps a
    /// newer upload that lands meanwhile from being replaced by older bytes.
    IfMatch(String),
    /// Write only where no object is (`If-None-Match: *`).
    IfAbsent,
}

impl WriteCondition {
    /// The ETag for `If-Match`, when that is the condition.
    pub fn if_match(&self) -> Option<&str> {
        match self {
            Self::IfMatch(etag) => Some(etag),
            Self::None | Self::IfAbsent => None,
        }
    }

    /// `*` for `If-None-Match`, when that is the condition.
    pub fn if_none_match(&self) -> Option<&'static str> {
        matches!(self, Self::IfAbsent).then_some("*")
    }
}

/// An object's content headers and user metadata, stated explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectHeaders {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Other content headers.
    pub content_headers: ContentHeaders,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// What a copy does with the source's metadata and content headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MetadataDirective {
    /// Copy them as the source has them when the copy runs (`MetadataDirective=COPY`).
    #[default]
    Copy,
    /// Write these instead (`MetadataDirective=REPLACE`): the source's own, as HEAD saw them,
    /// with a backup's record of its source added.
    Replace(Box<ObjectHeaders>),
}

/// A server-side copy.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyRequest {
    /// Source object (a specific version when `version_id` is set).
    pub source: ObjectLocation,
    /// Copy only if the source's ETag is still this one.
    pub source_if_match: Option<String>,
    /// Destination bucket and key (`version_id` ignored).
    pub destination: ObjectLocation,
    /// The condition on the object at the destination.
    pub destination_condition: WriteCondition,
    /// Storage class of the new object.
    pub storage_class: StorageClass,
    /// Encryption of the new object; `None` means the destination bucket's default.
    pub encryption: Option<EncryptionSpec>,
    /// Tags of the new object.
    pub tags: TagDirective,
    /// Website redirect location to keep (a copy drops it otherwise).
    pub website_redirect: Option<String>,
    /// Metadata and content headers: copied, or stated.
    pub metadata: MetadataDirective,
}

/// Starts a multipart upload that will hold a copy: everything a single CopyObject would have
/// copied (metadata, content headers, tags, redirect) must be stated here.
#[derive(Debug, Clone, PartialEq)]
pub struct MultipartStart {
    /// Destination bucket and key.
    pub destination: ObjectLocation,
    /// Storage class of the new object.
    pub storage_class: StorageClass,
    /// Encryption of the new object; `None` means the destination bucket's default.
    pub encryption: Option<EncryptionSpec>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Other content headers.
    pub content_headers: ContentHeaders,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags of the new object.
    pub tags: Tags,
    /// Website redirect location.
    pub website_redirect: Option<String>,
    /// Checksum algorithm of the new object (the source's, as a single CopyObject keeps it):
    /// full-object for the CRCs, composite for SHA-1/SHA-256 (the only type S3 allows them).
    pub checksum_algorithm: Option<&'static str>,
}

/// One UploadPartCopy: a byte range of the source into part `part_number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCopy {
    /// Destination bucket and key of the upload.
    pub destination: ObjectLocation,
    /// The upload id.
    pub upload_id: String,
    /// 1-based part number.
    pub part_number: i32,
    /// Source object (a specific version when `version_id` is set).
    pub source: ObjectLocation,
    /// Copy only if the source's ETag is still this one.
    pub source_if_match: Option<String>,
    /// First byte (inclusive).
    pub first_byte: u64,
    /// Last byte (inclusive).
    pub last_byte: u64,
}

/// A copied part: number, ETag and (when the upload has a checksum algorithm) the part's
/// checksum, for CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub part_number: i32,
    /// The part's ETag.
    pub etag: String,
    /// The part's checksum in the upload's algorithm, when it has one.
    pub checksum: Option<String>,
}

/// Finishes a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteRequest {
    /// Destination bucket and key of the upload.
    pub destination: ObjectLocation,
    /// The upload id.
    pub upload_id: String,
    /// The parts, in part-number order.
    pub parts: Vec<CompletedPart>,
    /// The condition on the object at the destination.
    pub condition: WriteCondition,
    /// The upload's checksum algorithm, naming which checksum each part carries.
    pub checksum_algorithm: Option<&'static str>,
    /// What the completed object must be, for S3 to check before it completes.
    pub expected: ExpectedObject,
}

/// What a completed multipart copy must hold, which S3 checks before it completes the upload
/// (400 and the upload left open otherwise): the source's size (`x-amz-mp-object-size`) and,
/// when the source has one, its full-object checksum (`x-amz-checksum-<algorithm>` with
/// `x-amz-checksum-type: FULL_OBJECT`). So S3 itself refuses an upload whose parts are not
/// the source's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpectedObject {
    /// The object's size in bytes.
    pub size: Option<u64>,
    /// The object's full-object checksum (CRC64NVME, CRC32 or CRC32C).
    pub checksum: Option<Checksum>,
}

/// Whether a bucket keeps versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Every write makes a new version; the replaced object stays as a noncurrent one.
    Enabled,
    /// Versioning was on and is suspended: writes replace the `null` version.
    Suspended,
    /// Never enabled: writes replace.
    Disabled,
}

impl Versioning {
    /// Whether a replaced object is kept (as a noncurrent version).
    pub fn keeps_replaced(self) -> bool {
        self == Self::Enabled
    }
}

/// One version of an object, as ListObjectVersions lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    /// The version id.
    pub version_id: String,
    /// Its ETag, quotes stripped.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is the current version.
    pub is_latest: bool,
}

/// A small object the function keeps for itself (a recorded copy's state), with its ETag for
/// the conditional write that updates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The object's bytes.
    pub body: Vec<u8>,
    /// Its ETag, quotes stripped.
    pub etag: String,
}

/// A part already uploaded to an open upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// Number, ETag and checksum, as CompleteMultipartUpload wants them.
    pub part: CompletedPart,
    /// Size in bytes.
    pub size: u64,
}

/// What a successful copy produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// Version id of the new object, in versioned buckets.
    pub version_id: Option<String>,
    /// ETag of the new object.
    pub etag: Option<String>,
}

/// One object of a bucket listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The key, decoded.
    pub key: String,
    /// ETag as listed (quotes stripped).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

/// One page of a bucket listing (ListObjectsV2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectPage {
    /// The objects of this page, in key order.
    pub objects: Vec<ListedObject>,
    /// Pass this back to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A failed storage call, classified the way the processor reacts to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The object (or version) does not exist.
    #[error("{operation}: not found")]
    NotFound {
        /// The S3 operation.
        operation: &'static str,
    },
    /// A copy or write precondition (source or destination ETag) failed: the object changed
    /// since we looked.
    #[error("{operation}: precondition failed (the object changed since it was read)")]
    PreconditionFailed {
        /// The S3 operation.
        operation: &'static str,
    },
    /// The object is archived and must be restored first.
    #[error("{operation}: object is archived (InvalidObjectState)")]
    InvalidObjectState {
        /// The S3 operation.
        operation: &'static str,
    },
    /// Any other error answer from the service.
    #[error("{operation}: {code} (HTTP {status}): {message}")]
    Service {
        /// The S3 operation.
        operation: &'static str,
        /// S3 error code, e.g. `AccessDenied`, `NoSuchBucket`.
        code: String,
        /// HTTP status.
        status: u16,
        /// S3's message.
        message: String,
    },
    /// No answer: connection, timeout, or a response that could not be read.
    #[error("{operation}: request failed: {message}")]
    Transport {
        /// The S3 operation.
        operation: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl StoreError {
    /// Whether a retry may succeed: no answer, throttling, or a server-side error.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Service { code, status, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(
                        code.as_str(),
                        // By code too: S3 can send these inside a 200 response (CopyObject).
                        "InternalError"
                            | "ServiceUnavailable"
                            | "OperationAborted"
                            | "SlowDown"
                            | "Throttling"
                            | "ThrottlingException"
                            | "RequestTimeout"
                            | "RequestTimeTooSkewed"
                            // A conditional write raced another write to the same key (409):
                            // S3 says to read the ETag again and retry.
                            | "ConditionalRequestConflict"
                            // An open upload aborted by a concurrent attempt at the same copy:
                            // the retry starts or continues another.
                            | "NoSuchUpload"
                            // A completion whose parts S3 found not to be the source's bytes:
                            // the upload was aborted, and the retry copies afresh.
                            | "BadDigest"
                            // A completion naming a part ETag S3 no longer has: a part left in
                            // flight at a deadline landed after the retry copied it again. The
                            // upload is aborted, and the retry copies afresh.
                            | "InvalidPart"
                            // Credentials that expired mid-run: the SDK fetches new ones.
                            | "ExpiredToken"
                            | "TokenRefreshRequired"
                    )
            }
            _ => false,
        }
    }

    /// The S3 error code (or our classification) for logs and reports.
    pub fn code(&self) -> &str {
        match self {
            Self::NotFound { .. } => "NotFound",
            Self::PreconditionFailed { .. } => "PreconditionFailed",
            Self::InvalidObjectState { .. } => "InvalidObjectState",
            Self::Service { code, .. } => code,
            Self::Transport { .. } => "Transport",
        }
    }
}

/// The S3 operations the processor uses.
pub trait ObjectStore: Send + Sync {
    /// HEAD of an object version (the current one when `version_id` is `None`), without
    /// checksums.
    fn head_object(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<ObjectHead, StoreError>> + Send;

    /// HEAD with `ChecksumMode=ENABLED`, so content checksums are reported. On an SSE-KMS object
    /// with a checksum this needs `kms:Decrypt` on its key, which a plain HEAD does not.
    fn head_object_with_checksums(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<ObjectHead, StoreError>> + Send;

    /// Whether the bucket exists and is reachable (`NotFound` when it does not exist).
    fn head_bucket(&self, bucket: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The tag set of an object version.
    fn get_tags(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<Tags, StoreError>> + Send;

    /// Replaces the tag set of an object version.
    fn put_tags(
        &self,
        location: &ObjectLocation,
        tags: &Tags,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Server-side copy (up to 5 GiB).
    fn copy_object(
        &self,
        request: &CopyRequest,
    ) -> impl Future<Output = Result<CopyOutcome, StoreError>> + Send;

    /// Starts a multipart upload; returns its upload id.
    fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Copies a byte range of the source into one part; returns the part's ETag and checksum.
    fn upload_part_copy(
        &self,
        request: &PartCopy,
    ) -> impl Future<Output = Result<CompletedPart, StoreError>> + Send;

    /// Completes an upload from its parts (in part-number order).
    fn complete_multipart_upload(
        &self,
        request: &CompleteRequest,
    ) -> impl Future<Output = Result<CopyOutcome, StoreError>> + Send;

    /// The ACL of an object version.
    fn get_acl(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<Acl, StoreError>> + Send;

    /// Replaces the ACL of an object version.
    fn put_acl(
        &self,
        location: &ObjectLocation,
        acl: &Acl,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Requests a restore of an archived object (`days` is `None` for Intelligent-Tiering
    /// archive tiers, which reject it).
    fn restore_object(
        &self,
        location: &ObjectLocation,
        days: Option<i32>,
        tier: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The parts uploaded so far to an open upload.
    fn list_parts(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<UploadedPart>, StoreError>> + Send;

    /// Aborts an upload and frees its parts.
    fn abort_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Changes an object version's server-side encryption to SSE-KMS with `key_arn` in place
    /// (UpdateObjectEncryption: no data movement, no new version, the same ETag). Never sent to
    /// a server not known to implement it: one that does not may take it for a PutObject.
    fn update_object_encryption(
        &self,
        location: &ObjectLocation,
        key_arn: &str,
        bucket_key: Option<bool>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The names of an object version's annotations, every page (ListObjectAnnotations).
    /// Never sent to a server not known to keep annotations.
    fn list_annotations(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// One annotation's payload (GetObjectAnnotation).
    fn get_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;

    /// Attaches an annotation to an object version, only while the object's ETag is
    /// `object_etag` (PutObjectAnnotation with `x-amz-object-if-match`).
    fn put_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
        payload: &[u8],
        object_etag: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the bucket keeps versions (GetBucketVersioning).
    fn bucket_versioning(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Versioning, StoreError>> + Send;

    /// The versions of exactly this key, newest first (ListObjectVersions).
    fn list_versions(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<Vec<VersionEntry>, StoreError>> + Send;

    /// A small object the function keeps for itself (GetObject); `None` when there is none.
    fn get_record(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<Option<StoredRecord>, StoreError>> + Send;

    /// Writes a small object the function keeps for itself (PutObject) under `condition`
    /// (`If-None-Match: *` to claim a key, `If-Match` to update what was read); returns its
    /// ETag. 412 when the condition does not hold.
    fn put_record(
        &self,
        location: &ObjectLocation,
        body: &[u8],
        condition: &WriteCondition,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Deletes a small object the function keeps for itself (DeleteObject).
    fn delete_record(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads the object's first byte (GetObject with `Range: bytes=0-0`), only to learn why a
    /// HEAD was refused: unlike HEAD, a GET's error carries S3's code and message.
    fn probe_read(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether Object Lock is enabled on the bucket (GetObjectLockConfiguration): objects in a
    /// bucket without it can never be locked.
    fn bucket_object_lock(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The object version's retention, in words (`COMPLIANCE until …`), when it has one
    /// (GetObjectRetention).
    fn get_retention(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Whether the object version is under a legal hold (GetObjectLegalHold).
    fn get_legal_hold(
        &self,
        location: &ObjectLocation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One page of the current objects whose keys start with `prefix` (ListObjectsV2), from
    /// `continuation` (the previous page's `next`) on. Only the command line's `scan` and
    /// `manifest` list; a store that cannot list answers `NotImplemented`.
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> impl Future<Output = Result<ObjectPage, StoreError>> + Send {
        let _ = (bucket, prefix, continuation);
        async {
            Err(StoreError::Service {
                operation: "ListObjectsV2",
                code: "NotImplemented".into(),
                status: 501,
                message: "this store cannot list objects".into(),
            })
        }
    }
}
