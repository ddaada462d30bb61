//! An in-memory [`ObjectStore`] that behaves like an unversioned S3 bucket in the ways the
//! processor depends on (copies reset class and encryption, self-copies must change something,
//! ETag preconditions, multipart copies that must restate metadata). Wrap it in
//! [`super::counting::CountingStore`] to count calls and [`super::faults::FaultInjectingStore`]
//! to inject failures.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, ListedObject, MultipartStart,
    ObjectPage, ObjectStore, OpenUpload, PartCopy, StoreError, TagDirective, UploadedPart,
    WriteCondition,
};

/// Most keys in one listing page, as on S3.
const PAGE_SIZE: usize = 1000;
use crate::object::{
    Acl, ActualEncryption, ArchiveState, Checksum, ContentHeaders, ObjectHead, ObjectLocation,
    StorageClass, Tags,
};
use crate::policy::EncryptionSpec;

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub body: Vec<u8>,
    /// ETag (a content hash; SSE-KMS objects get a unique one, as on S3).
    pub etag: String,
    /// Content-Type.
    pub content_type: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Storage class.
    pub storage_class: StorageClass,
    /// Encryption.
    pub encryption: ActualEncryption,
    /// Tags.
    pub tags: Tags,
    /// Logical modification time.
    pub last_modified: i64,
    /// The ACL (copies get a private one, as on S3).
    pub acl: Acl,
    /// Days of the last restore requested, if any (0: without `Days`, Intelligent-Tiering).
    pub restore_requested: Option<i32>,
    /// Website redirect location (a copy keeps it only when the request restates it, as S3).
    pub website_redirect: Option<String>,
}

#[derive(Debug)]
struct Upload {
    start: MultipartStart,
    parts: BTreeMap<i32, (CompletedPart, Vec<u8>)>,
    initiated: i64,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, BTreeMap<String, StoredObject>>,
    clock: i64,
    uploads: HashMap<String, Upload>,
    next_upload: u64,
    kms_decrypt_denied: bool,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

fn etag_of(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock only happens in a failing test; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn head(&self, location: &ObjectLocation, checksums: bool) -> Result<ObjectHead, StoreError> {
        let state = self.lock();
        let object = Self::get(&state, location, "HeadObject").map_err(|e| match e {
            // HEAD has no body, so a missing bucket looks like a missing key, as on S3.
            StoreError::Service { .. } => StoreError::NotFound {
                operation: "HeadObject",
            },
            other => other,
        })?;
        if checksums
            && state.kms_decrypt_denied
            && matches!(object.encryption, ActualEncryption::Kms { .. })
        {
            return Err(StoreError::Service {
                operation: "HeadObject",
                code: "Http403".into(),
                status: 403,
                message: String::new(),
            });
        }
        Ok(ObjectHead {
            location: ObjectLocation::current(&location.bucket, &location.key),
            etag: object.etag.clone(),
            size: object.body.len() as u64,
            last_modified: Some(object.last_modified),
            content_type: object.content_type.clone(),
            storage_class: object.storage_class.clone(),
            encryption: object.encryption.clone(),
            tag_count: Some(object.tags.len() as u32),
            archive: archive_state(object),
            website_redirect: object.website_redirect.clone(),
            // Reported only with checksum mode, as on S3.
            checksum: checksums.then(|| Checksum {
                algorithm: "CRC64NVME",
                value: etag_of(&object.body),
            }),
            metadata: object.metadata.clone(),
            content_headers: ContentHeaders::default(),
            archive_access_tier: None,
            object_lock: None,
        })
    }

    /// Models a role without `kms:Decrypt`: HEAD with checksum mode on an SSE-KMS object is
    /// refused with 403 (a HEAD's error has no body, so no code), as on S3.
    pub fn deny_kms_decrypt(&self) {
        self.lock().kms_decrypt_denied = true;
    }

    /// Creates an empty bucket.
    pub fn create_bucket(&self, bucket: &str) {
        self.lock().buckets.entry(bucket.to_owned()).or_default();
    }

    /// Stores an object as a plain PUT would (SSE-S3, STANDARD, no tags).
    pub fn put(&self, bucket: &str, key: &str, body: &[u8], content_type: &str) {
        self.put_object(
            bucket,
            key,
            StoredObject {
                body: body.to_vec(),
                etag: etag_of(body),
                content_type: Some(content_type.to_owned()),
                metadata: BTreeMap::new(),
                storage_class: StorageClass::Standard,
                encryption: ActualEncryption::Aes256,
                tags: Tags::new(),
                last_modified: 0,
                acl: Acl::default(),
                restore_requested: None,
                website_redirect: None,
            },
        );
    }

    /// Stores an object exactly as given (its `last_modified` is set by the store's clock).
    pub fn put_object(&self, bucket: &str, key: &str, mut object: StoredObject) {
        let mut state = self.lock();
        state.clock += 1;
        object.last_modified = state.clock;
        state
            .buckets
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), object);
    }

    /// The stored object, if any.
    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.lock().buckets.get(bucket)?.get(key).cloned()
    }

    /// Ids of multipart uploads neither completed nor aborted.
    pub fn pending_uploads(&self) -> Vec<String> {
        self.lock().uploads.keys().cloned().collect()
    }

    fn get<'a>(
        state: &'a State,
        location: &ObjectLocation,
        operation: &'static str,
    ) -> Result<&'a StoredObject, StoreError> {
        let bucket = state
            .buckets
            .get(&location.bucket)
            .ok_or_else(|| no_such_bucket(operation))?;
        bucket
            .get(&location.key)
            .ok_or(StoreError::NotFound { operation })
    }
}

/// S3's destination conditions: `If-Match` answers 412 when the object at the destination has
/// another ETag and 404 when there is none; `If-None-Match: *` answers 412 when there is one.
fn check_destination(
    state: &State,
    destination: &ObjectLocation,
    condition: &WriteCondition,
    operation: &'static str,
) -> Result<(), StoreError> {
    let current = state
        .buckets
        .get(&destination.bucket)
        .and_then(|b| b.get(&destination.key));
    match (condition, current) {
        (WriteCondition::None, _) | (WriteCondition::IfAbsent, None) => Ok(()),
        (WriteCondition::IfMatch(wanted), Some(current)) if current.etag == *wanted => Ok(()),
        (WriteCondition::IfMatch(_), None) => Err(StoreError::NotFound { operation }),
        (WriteCondition::IfMatch(_) | WriteCondition::IfAbsent, Some(_)) => {
            Err(StoreError::PreconditionFailed { operation })
        }
    }
}

/// GLACIER and DEEP_ARCHIVE objects are archived until a restore is requested (which this
/// store completes at once).
fn archive_state(object: &StoredObject) -> Option<ArchiveState> {
    (object.storage_class.is_archive() && object.restore_requested.is_none())
        .then_some(ArchiveState::Archived)
}

/// Copying an archived object fails with InvalidObjectState, as on S3.
fn check_copyable(object: &StoredObject, operation: &'static str) -> Result<(), StoreError> {
    match archive_state(object) {
        Some(_) => Err(StoreError::InvalidObjectState { operation }),
        None => Ok(()),
    }
}

fn no_such_bucket(operation: &'static str) -> StoreError {
    StoreError::Service {
        operation,
        code: "NoSuchBucket".into(),
        status: 404,
        message: "The specified bucket does not exist".into(),
    }
}

fn encryption_from(spec: Option<&EncryptionSpec>, copy_etag: &mut String) -> ActualEncryption {
    match spec {
        None | Some(EncryptionSpec::Aes256) => ActualEncryption::Aes256,
        Some(EncryptionSpec::Kms { key, bucket_key }) => {
            copy_etag.insert_str(0, "kms-");
            ActualEncryption::Kms {
                key_id: Some(key.as_ref().map_or("aws/s3".to_owned(), |k| {
                    k.resolved_arn
                        .clone()
                        .unwrap_or_else(|| k.configured.clone())
                })),
                bucket_key: bucket_key.unwrap_or(false),
            }
        }
    }
}

impl ObjectStore for MemoryStore {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        self.head(location, false)
    }

    async fn head_object_with_checksums(
        &self,
        location: &ObjectLocation,
    ) -> Result<ObjectHead, StoreError> {
        self.head(location, true)
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let state = self.lock();
        if state.buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                operation: "HeadBucket",
            })
        }
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        let state = self.lock();
        Ok(Self::get(&state, location, "GetObjectTagging")?
            .tags
            .clone())
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        let mut state = self.lock();
        Self::get(&state, location, "PutObjectTagging")?;
        if let Some(object) = state
            .buckets
            .get_mut(&location.bucket)
            .and_then(|b| b.get_mut(&location.key))
        {
            object.tags = tags.clone();
        }
        Ok(())
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        const OP: &str = "CopyObject";
        let mut state = self.lock();
        let source = Self::get(&state, &request.source, OP)?.clone();
        check_copyable(&source, OP)?;
        if request
            .source_if_match
            .as_ref()
            .is_some_and(|e| *e != source.etag)
        {
            return Err(StoreError::PreconditionFailed { operation: OP });
        }
        if !state.buckets.contains_key(&request.destination.bucket) {
            return Err(no_such_bucket(OP));
        }
        check_destination(
            &state,
            &request.destination,
            &request.destination_condition,
            OP,
        )?;
        let mut etag = source.etag.clone();
        let encryption = encryption_from(request.encryption.as_ref(), &mut etag);
        let is_self_copy = request.source.bucket == request.destination.bucket
            && request.source.key == request.destination.key;
        if is_self_copy
            && request.storage_class == source.storage_class
            && encryption == source.encryption
            && request.website_redirect == source.website_redirect
        {
            return Err(StoreError::Service {
                operation: OP,
                code: "InvalidRequest".into(),
                status: 400,
                message: "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into(),
            });
        }
        let tags = match &request.tags {
            TagDirective::Copy => source.tags.clone(),
            TagDirective::Replace(tags) => tags.clone(),
        };
        state.clock += 1;
        let copy = StoredObject {
            etag: etag.clone(),
            storage_class: request.storage_class.clone(),
            encryption,
            tags,
            last_modified: state.clock,
            acl: Acl::default(),
            // A new object: archived again if copied into an archive class.
            restore_requested: None,
            website_redirect: request.website_redirect.clone(),
            ..source
        };
        state
            .buckets
            .entry(request.destination.bucket.clone())
            .or_default()
            .insert(request.destination.key.clone(), copy);
        Ok(CopyOutcome {
            version_id: None,
            etag: Some(etag),
        })
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        let mut state = self.lock();
        if !state.buckets.contains_key(&request.destination.bucket) {
            return Err(no_such_bucket("CreateMultipartUpload"));
        }
        state.next_upload += 1;
        state.clock += 1;
        let id = format!("upload-{}", state.next_upload);
        let initiated = state.clock;
        state.uploads.insert(
            id.clone(),
            Upload {
                start: request.clone(),
                parts: BTreeMap::new(),
                initiated,
            },
        );
        Ok(id)
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<CompletedPart, StoreError> {
        const OP: &str = "UploadPartCopy";
        let mut state = self.lock();
        let source = Self::get(&state, &request.source, OP)?;
        check_copyable(source, OP)?;
        if request
            .source_if_match
            .as_ref()
            .is_some_and(|e| *e != source.etag)
        {
            return Err(StoreError::PreconditionFailed { operation: OP });
        }
        let range = usize::try_from(request.first_byte).unwrap_or(usize::MAX)
            ..usize::try_from(request.last_byte.saturating_add(1)).unwrap_or(usize::MAX);
        let Some(bytes) = source.body.get(range).map(<[u8]>::to_vec) else {
            return Err(StoreError::Service {
                operation: OP,
                code: "InvalidRange".into(),
                status: 416,
                message: "The requested range is not satisfiable".into(),
            });
        };
        let etag = etag_of(&bytes);
        let upload = state
            .uploads
            .get_mut(&request.upload_id)
            .ok_or_else(|| no_such_upload(OP))?;
        let part = CompletedPart {
            part_number: request.part_number,
            checksum: upload.start.checksum_algorithm.map(|_| etag.clone()),
            etag,
        };
        upload
            .parts
            .insert(request.part_number, (part.clone(), bytes));
        Ok(part)
    }

    async fn complete_multipart_upload(
        &self,
        request: &CompleteRequest,
    ) -> Result<CopyOutcome, StoreError> {
        const OP: &str = "CompleteMultipartUpload";
        let mut state = self.lock();
        if !state.uploads.contains_key(&request.upload_id) {
            return Err(no_such_upload(OP));
        }
        // As on S3, a failed condition leaves the upload open (the caller aborts it).
        check_destination(&state, &request.destination, &request.condition, OP)?;
        let upload = state
            .uploads
            .remove(&request.upload_id)
            .ok_or_else(|| no_such_upload(OP))?;
        let destination = &request.destination;
        let parts = &request.parts;
        let mut body = Vec::new();
        for part in parts {
            let (_, bytes) =
                upload
                    .parts
                    .get(&part.part_number)
                    .ok_or_else(|| StoreError::Service {
                        operation: OP,
                        code: "InvalidPart".into(),
                        status: 400,
                        message: format!("part {} was not uploaded", part.part_number),
                    })?;
            body.extend_from_slice(bytes);
        }
        let mut etag = format!("{}-{}", etag_of(&body), parts.len());
        let start = upload.start;
        let object = StoredObject {
            encryption: encryption_from(start.encryption.as_ref(), &mut etag),
            etag: etag.clone(),
            body,
            content_type: start.content_type,
            metadata: start.metadata,
            storage_class: start.storage_class,
            tags: start.tags,
            last_modified: 0,
            acl: Acl::default(),
            restore_requested: None,
            website_redirect: start.website_redirect,
        };
        drop(state);
        self.put_object(&destination.bucket, &destination.key, object);
        Ok(CopyOutcome {
            version_id: None,
            etag: Some(etag),
        })
    }

    async fn list_multipart_uploads(
        &self,
        destination: &ObjectLocation,
    ) -> Result<Vec<OpenUpload>, StoreError> {
        Ok(self
            .lock()
            .uploads
            .iter()
            .filter(|(_, u)| {
                u.start.destination.bucket == destination.bucket
                    && u.start.destination.key == destination.key
            })
            .map(|(id, u)| OpenUpload {
                upload_id: id.clone(),
                initiated: Some(u.initiated),
                storage_class: u.start.storage_class.clone(),
            })
            .collect())
    }

    async fn list_parts(
        &self,
        _destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        let state = self.lock();
        let upload = state
            .uploads
            .get(upload_id)
            .ok_or_else(|| no_such_upload("ListParts"))?;
        Ok(upload
            .parts
            .values()
            .map(|(part, bytes)| UploadedPart {
                part: part.clone(),
                size: bytes.len() as u64,
            })
            .collect())
    }

    async fn abort_multipart_upload(
        &self,
        _destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.lock()
            .uploads
            .remove(upload_id)
            .map(|_| ())
            .ok_or_else(|| no_such_upload("AbortMultipartUpload"))
    }

    async fn get_acl(&self, location: &ObjectLocation) -> Result<Acl, StoreError> {
        let state = self.lock();
        Ok(Self::get(&state, location, "GetObjectAcl")?.acl.clone())
    }

    async fn put_acl(&self, location: &ObjectLocation, acl: &Acl) -> Result<(), StoreError> {
        let mut state = self.lock();
        Self::get(&state, location, "PutObjectAcl")?;
        if let Some(object) = state
            .buckets
            .get_mut(&location.bucket)
            .and_then(|b| b.get_mut(&location.key))
        {
            object.acl = acl.clone();
        }
        Ok(())
    }

    async fn restore_object(
        &self,
        location: &ObjectLocation,
        days: Option<i32>,
        _tier: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        Self::get(&state, location, "RestoreObject")?;
        if let Some(object) = state
            .buckets
            .get_mut(&location.bucket)
            .and_then(|b| b.get_mut(&location.key))
        {
            object.restore_requested = Some(days.unwrap_or(0));
        }
        Ok(())
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        self.list_page(bucket, prefix, continuation)
    }
}

impl MemoryStore {
    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        let state = self.lock();
        let objects = state
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket("ListObjectsV2"))?;
        let mut page: Vec<ListedObject> = objects
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| continuation.is_none_or(|after| key.as_str() > after))
            .take(PAGE_SIZE + 1)
            .map(|(key, object)| ListedObject {
                key: key.clone(),
                etag: Some(object.etag.clone()),
                size: object.body.len() as u64,
            })
            .collect();
        let next = (page.len() > PAGE_SIZE).then(|| {
            page.truncate(PAGE_SIZE);
            page.last().map(|o| o.key.clone()).unwrap_or_default()
        });
        Ok(ObjectPage {
            objects: page,
            next,
        })
    }
}

fn no_such_upload(operation: &'static str) -> StoreError {
    StoreError::Service {
        operation,
        code: "NoSuchUpload".into(),
        status: 404,
        message: "The specified multipart upload does not exist".into(),
    }
}
