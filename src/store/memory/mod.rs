//! An in-memory [`super::ObjectStore`] that behaves like S3 in the ways the processor depends
//! on: copies reset class and encryption, self-copies must change something, ETag conditions on
//! copies, completions and puts, multipart copies that must restate metadata, completions that
//! check the expected size and full-object checksum, versioned buckets, Object Lock, SSE-C
//! objects that refuse HEAD without their key, and a role that may not read tags or locks (HEAD
//! then omits them, as S3 does). Wrap it in [`super::counting::CountingStore`] to count calls
//! and [`super::faults::FaultInjectingStore`] to inject failures. The trait implementation is
//! in [`object_store`].

mod object_store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::{MultipartStart, StoreError, Versioning, WriteCondition};
use crate::object::{
    Acl, ActualEncryption, ArchiveState, Checksum, ContentHeaders, ObjectHead, ObjectLocation,
    ObjectLock, StorageClass, Tags,
};

/// Most keys in one listing page, as on S3.
const PAGE_SIZE: usize = 1000;

/// One stored object (one version, in a versioned bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub body: Vec<u8>,
    /// ETag (a content hash; SSE-KMS objects get a different one, as on S3).
    pub etag: String,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content headers other than Content-Type.
    pub content_headers: ContentHeaders,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Storage class.
    pub storage_class: StorageClass,
    /// Encryption (`Other { name: "SSE-C…" }` for an object with a customer-provided key).
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
    /// The version id, in a versioned bucket (set by the store).
    pub version_id: Option<String>,
    /// Object Lock retention or legal hold, in words, if the version has one.
    pub object_lock: Option<String>,
    /// The checksum S3 keeps with the object (CRC64NVME by default, as S3 adds it).
    pub checksum: Checksum,
    /// Annotations by name (a single CopyObject copies them; a multipart copy does not).
    pub annotations: BTreeMap<String, Vec<u8>>,
}

impl Default for StoredObject {
    fn default() -> Self {
        Self {
            body: Vec::new(),
            etag: etag_of(&[]),
            content_type: None,
            content_headers: ContentHeaders::default(),
            metadata: BTreeMap::new(),
            storage_class: StorageClass::Standard,
            encryption: ActualEncryption::Aes256,
            tags: Tags::new(),
            last_modified: 0,
            acl: Acl::default(),
            restore_requested: None,
            website_redirect: None,
            version_id: None,
            object_lock: None,
            checksum: full_object_checksum("CRC64NVME", &[]),
            annotations: BTreeMap::new(),
        }
    }
}

/// The checksum of `body` in `algorithm`, of the whole object (a single PUT or a copy).
pub fn full_object_checksum(algorithm: &'static str, body: &[u8]) -> Checksum {
    Checksum {
        algorithm,
        value: etag_of(body),
        full_object: true,
    }
}

#[derive(Debug)]
struct Upload {
    start: MultipartStart,
    parts: BTreeMap<i32, (super::CompletedPart, Vec<u8>)>,
}

#[derive(Debug, Default)]
struct State {
    /// Current objects.
    buckets: BTreeMap<String, BTreeMap<String, StoredObject>>,
    /// Noncurrent versions of objects in versioned buckets, oldest first.
    history: HashMap<(String, String), Vec<StoredObject>>,
    versioning: HashMap<String, Versioning>,
    object_lock_buckets: HashSet<String>,
    clock: i64,
    uploads: HashMap<String, Upload>,
    next_upload: u64,
    next_version: u64,
    kms_decrypt_denied: bool,
    tag_read_denied: bool,
    lock_read_denied: bool,
    update_encryption_unsupported: bool,
    annotation_read_denied: bool,
    annotations_unsupported: bool,
}

/// Something another writer does at a chosen moment (before the Nth call of an operation).
type Interleaved = Box<dyn FnOnce(&MemoryStore) + Send>;

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    interleaved: Mutex<Vec<(&'static str, usize, Interleaved)>>,
    calls: Mutex<HashMap<&'static str, usize>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A content hash standing in for both the ETag of a plain PUT and the CRC64NVME checksum.
pub fn etag_of(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn access_denied(operation: &'static str) -> StoreError {
    StoreError::Service {
        operation,
        code: "AccessDenied".into(),
        status: 403,
        message: "Access Denied".into(),
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

fn no_such_upload(operation: &'static str) -> StoreError {
    StoreError::Service {
        operation,
        code: "NoSuchUpload".into(),
        status: 404,
        message: "The specified multipart upload does not exist".into(),
    }
}

/// S3's answer to a GET of an SSE-C object without its key.
pub const SSE_C_MESSAGE: &str = "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.";

fn is_sse_c(object: &StoredObject) -> bool {
    matches!(&object.encryption, ActualEncryption::Other { name } if name.starts_with("SSE-C"))
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

    /// Runs `writer` (another writer's change: an upload, a copy of its own) just before the
    /// `nth` call (1-based, counted from now on) of `operation` (S3's name, e.g. `CopyObject`)
    /// reaches the store: a race at an exact moment.
    pub fn interleave(
        &self,
        operation: &'static str,
        nth: usize,
        writer: impl FnOnce(&MemoryStore) + Send + 'static,
    ) {
        let seen = self.calls_lock().get(operation).copied().unwrap_or(0);
        self.interleaved_lock()
            .push((operation, seen + nth, Box::new(writer)));
    }

    fn calls_lock(&self) -> MutexGuard<'_, HashMap<&'static str, usize>> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn interleaved_lock(&self) -> MutexGuard<'_, Vec<(&'static str, usize, Interleaved)>> {
        self.interleaved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a call of `operation` and runs what was interleaved before it.
    fn arrive(&self, operation: &'static str) {
        let call = {
            let mut calls = self.calls_lock();
            let count = calls.entry(operation).or_insert(0);
            *count += 1;
            *count
        };
        let due: Vec<Interleaved> = {
            let mut pending = self.interleaved_lock();
            let mut due = Vec::new();
            let mut index = 0;
            while index < pending.len() {
                if pending[index].0 == operation && pending[index].1 == call {
                    due.push(pending.remove(index).2);
                } else {
                    index += 1;
                }
            }
            due
        };
        for writer in due {
            writer(self);
        }
    }

    /// Models a role without `kms:Decrypt`: HEAD with checksum mode on an SSE-KMS object is
    /// refused with 403 (a HEAD's error has no body, so no code), as on S3.
    pub fn deny_kms_decrypt(&self) {
        self.lock().kms_decrypt_denied = true;
    }

    /// Models a role without `s3:GetObjectTagging`: HEAD omits `x-amz-tagging-count`, as S3
    /// does, tag reads are refused, and so are copies that copy tags.
    pub fn deny_tag_reads(&self) {
        self.lock().tag_read_denied = true;
    }

    /// Models a role without `s3:GetObjectRetention` / `s3:GetObjectLegalHold`: HEAD omits
    /// the Object Lock headers, as S3 does, and reading them is refused.
    pub fn deny_lock_reads(&self) {
        self.lock().lock_read_denied = true;
    }

    /// Models a server without UpdateObjectEncryption: it answers 501 `NotImplemented` and
    /// keeps the object, as LocalStack 2026.3.0 does.
    pub fn without_update_object_encryption(&self) {
        self.lock().update_encryption_unsupported = true;
    }

    /// Models a role without `s3:ListObjectAnnotations` / `s3:GetObjectAnnotation`: listing
    /// and reading annotations are refused, and so are copies of annotated objects (a
    /// CopyObject copies annotations by default, which needs the read permission).
    pub fn deny_annotation_reads(&self) {
        self.lock().annotation_read_denied = true;
    }

    /// Models a server without annotations: every annotation operation answers 501
    /// `NotImplemented`, as LocalStack 2026.3.0 does.
    pub fn without_annotations(&self) {
        self.lock().annotations_unsupported = true;
    }

    /// Attaches an annotation to the current object (as PutObjectAnnotation would).
    pub fn annotate(&self, bucket: &str, key: &str, name: &str, payload: &[u8]) {
        let mut state = self.lock();
        if let Some(object) = state.buckets.get_mut(bucket).and_then(|b| b.get_mut(key)) {
            object.annotations.insert(name.to_owned(), payload.to_vec());
        }
    }

    /// Deletes an annotation from the current object (as DeleteObjectAnnotation would).
    pub fn remove_annotation(&self, bucket: &str, key: &str, name: &str) {
        let mut state = self.lock();
        if let Some(object) = state.buckets.get_mut(bucket).and_then(|b| b.get_mut(key)) {
            object.annotations.remove(name);
        }
    }

    /// Creates an empty bucket.
    pub fn create_bucket(&self, bucket: &str) {
        self.lock().buckets.entry(bucket.to_owned()).or_default();
    }

    /// Turns versioning on for a bucket: from now on every write makes a new version.
    pub fn enable_versioning(&self, bucket: &str) {
        self.lock()
            .versioning
            .insert(bucket.to_owned(), Versioning::Enabled);
    }

    /// Turns Object Lock on for a bucket (its objects may then carry retention).
    pub fn enable_object_lock(&self, bucket: &str) {
        self.lock().object_lock_buckets.insert(bucket.to_owned());
    }

    /// Stores an object as a plain PUT would (SSE-S3, STANDARD, no tags, CRC64NVME).
    pub fn put(&self, bucket: &str, key: &str, body: &[u8], content_type: &str) {
        self.put_object(
            bucket,
            key,
            StoredObject {
                body: body.to_vec(),
                etag: etag_of(body),
                content_type: Some(content_type.to_owned()),
                checksum: full_object_checksum("CRC64NVME", body),
                ..StoredObject::default()
            },
        );
    }

    /// Stores an object exactly as given (its `last_modified` and, in a versioned bucket, its
    /// version id are set by the store); returns its version id.
    pub fn put_object(&self, bucket: &str, key: &str, object: StoredObject) -> Option<String> {
        let mut state = self.lock();
        Self::write(&mut state, bucket, key, object)
    }

    /// Writes `object` as the current one at `bucket/key`, keeping the one it replaces as a
    /// noncurrent version in a versioned bucket.
    fn write(
        state: &mut State,
        bucket: &str,
        key: &str,
        mut object: StoredObject,
    ) -> Option<String> {
        state.clock += 1;
        object.last_modified = state.clock;
        let versioned = state.versioning.get(bucket) == Some(&Versioning::Enabled);
        object.version_id = versioned.then(|| {
            state.next_version += 1;
            format!("v{}", state.next_version)
        });
        let version = object.version_id.clone();
        let replaced = state
            .buckets
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), object);
        if let (true, Some(replaced)) = (versioned, replaced) {
            state
                .history
                .entry((bucket.to_owned(), key.to_owned()))
                .or_default()
                .push(replaced);
        }
        version
    }

    /// The current object, if any.
    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.lock().buckets.get(bucket)?.get(key).cloned()
    }

    /// Every version of `bucket/key`, oldest first, the current one last.
    pub fn versions(&self, bucket: &str, key: &str) -> Vec<StoredObject> {
        let state = self.lock();
        let mut versions = state
            .history
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .unwrap_or_default();
        versions.extend(state.buckets.get(bucket).and_then(|b| b.get(key)).cloned());
        versions
    }

    /// Keys of the current objects in a bucket.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.lock()
            .buckets
            .get(bucket)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Ids of multipart uploads neither completed nor aborted.
    pub fn pending_uploads(&self) -> Vec<String> {
        self.lock().uploads.keys().cloned().collect()
    }

    /// Starts a multipart upload as a producer would (for tests of uploads the function did
    /// not create); returns its id.
    pub fn start_foreign_upload(&self, bucket: &str, key: &str) -> String {
        let mut state = self.lock();
        state.next_upload += 1;
        let id = format!("foreign-{}", state.next_upload);
        state.uploads.insert(
            id.clone(),
            Upload {
                start: MultipartStart {
                    destination: ObjectLocation::current(bucket, key),
                    storage_class: StorageClass::Standard,
                    encryption: None,
                    content_type: None,
                    content_headers: ContentHeaders::default(),
                    metadata: BTreeMap::new(),
                    tags: Tags::new(),
                    website_redirect: None,
                    checksum_algorithm: None,
                },
                parts: BTreeMap::new(),
            },
        );
        id
    }

    /// The object (or version) a location names.
    fn get<'a>(
        state: &'a State,
        location: &ObjectLocation,
        operation: &'static str,
    ) -> Result<&'a StoredObject, StoreError> {
        let bucket = state
            .buckets
            .get(&location.bucket)
            .ok_or_else(|| no_such_bucket(operation))?;
        let current = bucket.get(&location.key);
        let Some(version) = &location.version_id else {
            return current.ok_or(StoreError::NotFound { operation });
        };
        current
            .filter(|o| o.version_id.as_ref() == Some(version))
            .or_else(|| {
                state
                    .history
                    .get(&(location.bucket.clone(), location.key.clone()))?
                    .iter()
                    .find(|o| o.version_id.as_ref() == Some(version))
            })
            .ok_or(StoreError::NotFound { operation })
    }

    /// The object (or version) a location names, to change in place.
    fn get_mut<'a>(
        state: &'a mut State,
        location: &ObjectLocation,
        operation: &'static str,
    ) -> Result<&'a mut StoredObject, StoreError> {
        Self::get(state, location, operation)?;
        let matches = |o: &StoredObject| {
            location
                .version_id
                .as_ref()
                .is_none_or(|v| o.version_id.as_ref() == Some(v))
        };
        let in_current = state
            .buckets
            .get(&location.bucket)
            .and_then(|b| b.get(&location.key))
            .is_some_and(matches);
        let found = if in_current {
            state
                .buckets
                .get_mut(&location.bucket)
                .and_then(|b| b.get_mut(&location.key))
        } else {
            state
                .history
                .get_mut(&(location.bucket.clone(), location.key.clone()))
                .and_then(|versions| versions.iter_mut().find(|o| matches(o)))
        };
        found.ok_or(StoreError::NotFound { operation })
    }

    fn head(&self, location: &ObjectLocation, checksums: bool) -> Result<ObjectHead, StoreError> {
        self.arrive("HeadObject");
        let state = self.lock();
        let object = Self::get(&state, location, "HeadObject").map_err(|e| match e {
            // HEAD has no body, so a missing bucket looks like a missing key, as on S3.
            StoreError::Service { .. } => StoreError::NotFound {
                operation: "HeadObject",
            },
            other => other,
        })?;
        let bodiless = |status: u16| StoreError::Service {
            operation: "HeadObject",
            code: format!("Http{status}"),
            status,
            message: String::new(),
        };
        if is_sse_c(object) {
            return Err(bodiless(400));
        }
        if checksums
            && state.kms_decrypt_denied
            && matches!(object.encryption, ActualEncryption::Kms { .. })
        {
            return Err(bodiless(403));
        }
        Ok(ObjectHead {
            location: ObjectLocation {
                bucket: location.bucket.clone(),
                key: location.key.clone(),
                version_id: object.version_id.clone(),
            },
            etag: object.etag.clone(),
            size: object.body.len() as u64,
            last_modified: Some(object.last_modified),
            content_type: object.content_type.clone(),
            storage_class: object.storage_class.clone(),
            encryption: object.encryption.clone(),
            // S3 omits the count without tags, and to a role that may not read them.
            tag_count: (!state.tag_read_denied && !object.tags.is_empty())
                .then_some(object.tags.len() as u32),
            archive: archive_state(object),
            website_redirect: object.website_redirect.clone(),
            // Reported only with checksum mode, as on S3.
            checksum: checksums.then(|| object.checksum.clone()),
            metadata: object.metadata.clone(),
            content_headers: object.content_headers.clone(),
            archive_access_tier: None,
            object_lock: match &object.object_lock {
                Some(lock) if !state.lock_read_denied => ObjectLock::Locked(lock.clone()),
                _ => ObjectLock::NotReported,
            },
        })
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

impl MemoryStore {
    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<super::ObjectPage, StoreError> {
        let state = self.lock();
        let objects = state
            .buckets
            .get(bucket)
            .ok_or_else(|| no_such_bucket("ListObjectsV2"))?;
        let mut page: Vec<super::ListedObject> = objects
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| continuation.is_none_or(|after| key.as_str() > after))
            .take(PAGE_SIZE + 1)
            .map(|(key, object)| super::ListedObject {
                key: key.clone(),
                etag: Some(object.etag.clone()),
                size: object.body.len() as u64,
            })
            .collect();
        let next = (page.len() > PAGE_SIZE).then(|| {
            page.truncate(PAGE_SIZE);
            page.last().map(|o| o.key.clone()).unwrap_or_default()
        });
        Ok(super::ObjectPage {
            objects: page,
            next,
        })
    }
}
