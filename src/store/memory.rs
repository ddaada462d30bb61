//! An in-memory [`ObjectStore`] that behaves like an unversioned S3 bucket in the ways the
//! processor depends on (copies reset class and encryption, self-copies must change something,
//! ETag preconditions), and can be told to fail the next call of an operation. Wrap it in
//! [`super::counting::CountingStore`] to count calls.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::{CopyOutcome, CopyRequest, ObjectStore, StoreError, TagDirective};
use crate::object::{ActualEncryption, Checksum, ObjectHead, ObjectLocation, StorageClass, Tags};
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
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, BTreeMap<String, StoredObject>>,
    clock: i64,
    failures: HashMap<&'static str, StoreError>,
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

    /// Makes the next call of `operation` (e.g. `"CopyObject"`) fail with `error`.
    pub fn fail_next(&self, operation: &'static str, error: StoreError) {
        self.lock().failures.insert(operation, error);
    }

    fn take_failure(state: &mut State, operation: &'static str) -> Result<(), StoreError> {
        state.failures.remove(operation).map_or(Ok(()), Err)
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
        let mut state = self.lock();
        Self::take_failure(&mut state, "HeadObject")?;
        let object = Self::get(&state, location, "HeadObject").map_err(|e| match e {
            // HEAD has no body, so a missing bucket looks like a missing key, as on S3.
            StoreError::Service { .. } => StoreError::NotFound {
                operation: "HeadObject",
            },
            other => other,
        })?;
        Ok(ObjectHead {
            location: ObjectLocation::current(&location.bucket, &location.key),
            etag: object.etag.clone(),
            size: object.body.len() as u64,
            last_modified: Some(object.last_modified),
            content_type: object.content_type.clone(),
            storage_class: object.storage_class.clone(),
            encryption: object.encryption.clone(),
            tag_count: Some(object.tags.len() as u32),
            archive: None,
            website_redirect: None,
            checksum: Some(Checksum {
                algorithm: "CRC64NVME",
                value: etag_of(&object.body),
            }),
        })
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        Self::take_failure(&mut state, "HeadBucket")?;
        if state.buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                operation: "HeadBucket",
            })
        }
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        let mut state = self.lock();
        Self::take_failure(&mut state, "GetObjectTagging")?;
        Ok(Self::get(&state, location, "GetObjectTagging")?
            .tags
            .clone())
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        let mut state = self.lock();
        Self::take_failure(&mut state, "PutObjectTagging")?;
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
        Self::take_failure(&mut state, OP)?;
        let source = Self::get(&state, &request.source, OP)?.clone();
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
        let mut etag = source.etag.clone();
        let encryption = encryption_from(request.encryption.as_ref(), &mut etag);
        let is_self_copy = request.source.bucket == request.destination.bucket
            && request.source.key == request.destination.key;
        if is_self_copy
            && request.storage_class == source.storage_class
            && encryption == source.encryption
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
}
