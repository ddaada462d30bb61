//! [`ObjectStore`] for [`MemoryStore`]: each operation as S3 documents it, in memory.

use std::collections::BTreeMap;

use super::{
    MemoryStore, SSE_C_MESSAGE, State, StoredObject, Upload, access_denied, check_copyable,
    check_destination, etag_of, full_object_checksum, is_sse_c, no_such_bucket, no_such_upload,
};
use crate::object::{
    Acl, ActualEncryption, Checksum, ChecksumKind, ObjectHead, ObjectLocation, Tags,
    checksum_type_for_multipart,
};
use crate::policy::EncryptionSpec;
use crate::store::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, MetadataDirective, MultipartStart,
    ObjectPage, ObjectStore, PartCopy, StoreError, StoredRecord, TagDirective, UploadedPart,
    VersionEntry, Versioning, WriteCondition,
};

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

fn check_source(
    source: &StoredObject,
    source_if_match: Option<&String>,
    operation: &'static str,
) -> Result<(), StoreError> {
    check_copyable(source, operation)?;
    if is_sse_c(source) {
        return Err(StoreError::Service {
            operation,
            code: "InvalidRequest".into(),
            status: 400,
            message: SSE_C_MESSAGE.into(),
        });
    }
    if source_if_match.is_some_and(|e| *e != source.etag) {
        return Err(StoreError::PreconditionFailed { operation });
    }
    Ok(())
}

impl MemoryStore {
    fn copy_locked(state: &mut State, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        const OP: &str = "CopyObject";
        let source = Self::get(state, &request.source, OP)?.clone();
        check_source(&source, request.source_if_match.as_ref(), OP)?;
        if !state.buckets.contains_key(&request.destination.bucket) {
            return Err(no_such_bucket(OP));
        }
        check_destination(
            state,
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
            && request.metadata == MetadataDirective::Copy
        {
            return Err(StoreError::Service {
                operation: OP,
                code: "InvalidRequest".into(),
                status: 400,
                message: "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into(),
            });
        }
        // Copying annotations (the default directive) needs the permission to read them.
        if state.annotation_read_denied && !source.annotations.is_empty() {
            return Err(access_denied(OP));
        }
        let tags = match &request.tags {
            // Copying tags needs the permission to read them, as on S3.
            TagDirective::Copy if state.tag_read_denied && !source.tags.is_empty() => {
                return Err(access_denied(OP));
            }
            TagDirective::Copy => source.tags.clone(),
            TagDirective::Replace(tags) => tags.clone(),
        };
        let (content_type, content_headers, metadata) = match &request.metadata {
            MetadataDirective::Copy => (
                source.content_type.clone(),
                source.content_headers.clone(),
                source.metadata.clone(),
            ),
            MetadataDirective::Replace(headers) => (
                headers.content_type.clone(),
                headers.content_headers.clone(),
                headers.metadata.clone(),
            ),
        };
        let copy = StoredObject {
            etag: etag.clone(),
            storage_class: request.storage_class.clone(),
            encryption,
            tags,
            content_type,
            content_headers,
            metadata,
            acl: Acl::default(),
            // A new object: archived again if copied into an archive class.
            restore_requested: None,
            website_redirect: request.website_redirect.clone(),
            // Retention is not copied.
            object_lock: None,
            ..source
        };
        let version_id = Self::write(
            state,
            &request.destination.bucket,
            &request.destination.key,
            copy,
        );
        Ok(CopyOutcome {
            version_id,
            etag: Some(etag),
        })
    }

    fn complete_locked(
        state: &mut State,
        request: &CompleteRequest,
    ) -> Result<CopyOutcome, StoreError> {
        const OP: &str = "CompleteMultipartUpload";
        let upload = state
            .uploads
            .get(&request.upload_id)
            .ok_or_else(|| no_such_upload(OP))?;
        let mut body = Vec::new();
        for part in &request.parts {
            let (uploaded, bytes) =
                upload
                    .parts
                    .get(&part.part_number)
                    .ok_or_else(|| StoreError::Service {
                        operation: OP,
                        code: "InvalidPart".into(),
                        status: 400,
                        message: format!("part {} was not uploaded", part.part_number),
                    })?;
            if uploaded.etag != part.etag {
                return Err(StoreError::Service {
                    operation: OP,
                    code: "InvalidPart".into(),
                    status: 400,
                    message: format!("part {} has another ETag", part.part_number),
                });
            }
            body.extend_from_slice(bytes);
        }
        // As on S3, a failed check leaves the upload open (the caller aborts it).
        if let Some(size) = request.expected.size
            && size != body.len() as u64
        {
            return Err(StoreError::Service {
                operation: OP,
                code: "InvalidRequest".into(),
                status: 400,
                message: format!(
                    "The provided 'x-amz-mp-object-size' header value {size} does not match what was computed: {}",
                    body.len()
                ),
            });
        }
        if let Some(checksum) = &request.expected.checksum
            && checksum.value != full_object_checksum(checksum.algorithm, &body).value
        {
            return Err(StoreError::Service {
                operation: OP,
                code: "BadDigest".into(),
                status: 400,
                message: format!(
                    "The {} you specified did not match the calculated checksum.",
                    checksum.algorithm.to_ascii_lowercase()
                ),
            });
        }
        check_destination(state, &request.destination, &request.condition, OP)?;
        let upload = state
            .uploads
            .remove(&request.upload_id)
            .ok_or_else(|| no_such_upload(OP))?;
        let mut etag = format!("{}-{}", etag_of(&body), request.parts.len());
        let start = upload.start;
        // The upload's algorithm (S3's default CRC64NVME without one): a full-object checksum
        // for the CRCs, a composite one (of the parts' checksums, `-<parts>`) for the others.
        let algorithm = start.checksum_algorithm.unwrap_or("CRC64NVME");
        let checksum = match checksum_type_for_multipart(algorithm) {
            ChecksumKind::FullObject => full_object_checksum(algorithm, &body),
            ChecksumKind::Composite => {
                let parts: Vec<u8> = request
                    .parts
                    .iter()
                    .flat_map(|p| p.checksum.clone().unwrap_or_default().into_bytes())
                    .collect();
                Checksum {
                    algorithm,
                    value: format!("{}-{}", etag_of(&parts), request.parts.len()),
                    full_object: false,
                }
            }
        };
        let object = StoredObject {
            encryption: encryption_from(start.encryption.as_ref(), &mut etag),
            etag: etag.clone(),
            body,
            content_type: start.content_type,
            content_headers: start.content_headers,
            metadata: start.metadata,
            storage_class: start.storage_class,
            tags: start.tags,
            website_redirect: start.website_redirect,
            checksum,
            ..StoredObject::default()
        };
        let version_id = Self::write(
            state,
            &request.destination.bucket,
            &request.destination.key,
            object,
        );
        Ok(CopyOutcome {
            version_id,
            etag: Some(etag),
        })
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
        self.arrive("GetObjectTagging");
        const OP: &str = "GetObjectTagging";
        let state = self.lock();
        let object = Self::get(&state, location, OP)?;
        if state.tag_read_denied {
            return Err(access_denied(OP));
        }
        Ok(object.tags.clone())
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        self.arrive("PutObjectTagging");
        let mut state = self.lock();
        Self::get_mut(&mut state, location, "PutObjectTagging")?.tags = tags.clone();
        Ok(())
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        self.arrive("CopyObject");
        let mut state = self.lock();
        Self::copy_locked(&mut state, request)
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        self.arrive("CreateMultipartUpload");
        let mut state = self.lock();
        if !state.buckets.contains_key(&request.destination.bucket) {
            return Err(no_such_bucket("CreateMultipartUpload"));
        }
        state.next_upload += 1;
        let id = format!("upload-{}", state.next_upload);
        state.uploads.insert(
            id.clone(),
            Upload {
                start: request.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<CompletedPart, StoreError> {
        self.arrive("UploadPartCopy");
        const OP: &str = "UploadPartCopy";
        let mut state = self.lock();
        let source = Self::get(&state, &request.source, OP)?;
        check_source(source, request.source_if_match.as_ref(), OP)?;
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
        self.arrive("CompleteMultipartUpload");
        let mut state = self.lock();
        Self::complete_locked(&mut state, request)
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
        self.arrive("PutObjectAcl");
        let mut state = self.lock();
        Self::get_mut(&mut state, location, "PutObjectAcl")?.acl = acl.clone();
        Ok(())
    }

    async fn restore_object(
        &self,
        location: &ObjectLocation,
        days: Option<i32>,
        _tier: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        Self::get_mut(&mut state, location, "RestoreObject")?.restore_requested =
            Some(days.unwrap_or(0));
        Ok(())
    }

    /// As the S3 API reference documents it: SSE-S3 or SSE-KMS sources only, a key ARN, no
    /// Object Lock; the bytes, ETag, version, Last-Modified, class and checksum stay; archived
    /// objects are re-keyed where they are.
    async fn update_object_encryption(
        &self,
        location: &ObjectLocation,
        key_arn: &str,
        bucket_key: Option<bool>,
    ) -> Result<(), StoreError> {
        const OP: &str = "UpdateObjectEncryption";
        self.arrive(OP);
        let mut state = self.lock();
        if state.update_encryption_unsupported {
            return Err(not_emulated(OP));
        }
        let invalid = |message: &str| StoreError::Service {
            operation: OP,
            code: "InvalidRequest".into(),
            status: 400,
            message: message.into(),
        };
        if !crate::policy::kms::is_key_arn(key_arn) {
            return Err(invalid(
                "Requests that modify an object's encryption type to SSE-KMS require a valid AWS KMS key ARN.",
            ));
        }
        let object = Self::get_mut(&mut state, location, OP)?;
        if !matches!(
            object.encryption,
            ActualEncryption::Aes256 | ActualEncryption::Kms { .. }
        ) {
            return Err(invalid(
                "Only source objects encrypted with SSE-S3 or SSE-KMS are supported.",
            ));
        }
        if object.object_lock.is_some() {
            return Err(access_denied(OP));
        }
        object.encryption = ActualEncryption::Kms {
            key_id: Some(key_arn.to_owned()),
            bucket_key: bucket_key.unwrap_or(false),
        };
        Ok(())
    }

    /// As the S3 API reference documents them: names listed per version; reads need the
    /// read permission; a write lands only while the object's ETag is the one named (412
    /// otherwise), with S3's limits (a payload of 1 byte to 1 MiB, 1,000 per object).
    async fn list_annotations(&self, location: &ObjectLocation) -> Result<Vec<String>, StoreError> {
        const OP: &str = "ListObjectAnnotations";
        self.arrive(OP);
        let state = self.lock();
        check_annotations_allowed(&state, OP, true)?;
        let object = Self::get(&state, location, OP)?;
        Ok(object.annotations.keys().cloned().collect())
    }

    async fn get_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
    ) -> Result<Vec<u8>, StoreError> {
        const OP: &str = "GetObjectAnnotation";
        self.arrive(OP);
        let state = self.lock();
        check_annotations_allowed(&state, OP, true)?;
        let object = Self::get(&state, location, OP)?;
        object
            .annotations
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::Service {
                operation: OP,
                code: "NoSuchAnnotation".into(),
                status: 404,
                message: "The specified annotation does not exist.".into(),
            })
    }

    async fn put_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
        payload: &[u8],
        object_etag: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "PutObjectAnnotation";
        self.arrive(OP);
        let mut state = self.lock();
        check_annotations_allowed(&state, OP, false)?;
        let object = Self::get_mut(&mut state, location, OP)?;
        if object.etag != object_etag {
            return Err(StoreError::PreconditionFailed { operation: OP });
        }
        let full =
            object.annotations.len() >= MAX_ANNOTATIONS && !object.annotations.contains_key(name);
        if payload.is_empty() || payload.len() > MAX_ANNOTATION_PAYLOAD || full {
            return Err(StoreError::Service {
                operation: OP,
                code: "InvalidRequest".into(),
                status: 400,
                message: "An annotation payload is 1 byte to 1 MiB, at most 1,000 per object"
                    .into(),
            });
        }
        object.annotations.insert(name.to_owned(), payload.to_vec());
        Ok(())
    }

    async fn bucket_versioning(&self, bucket: &str) -> Result<Versioning, StoreError> {
        let state = self.lock();
        if !state.buckets.contains_key(bucket) {
            return Err(no_such_bucket("GetBucketVersioning"));
        }
        Ok(state
            .versioning
            .get(bucket)
            .copied()
            .unwrap_or(Versioning::Disabled))
    }

    async fn list_versions(
        &self,
        location: &ObjectLocation,
    ) -> Result<Vec<VersionEntry>, StoreError> {
        let mut versions: Vec<VersionEntry> = self
            .versions(&location.bucket, &location.key)
            .into_iter()
            .filter_map(|o| {
                Some(VersionEntry {
                    version_id: o.version_id?,
                    etag: o.etag,
                    size: o.body.len() as u64,
                    is_latest: false,
                })
            })
            .collect();
        if let Some(last) = versions.last_mut() {
            last.is_latest = true;
        }
        versions.reverse();
        Ok(versions)
    }

    async fn get_record(
        &self,
        location: &ObjectLocation,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let state = self.lock();
        match Self::get(&state, location, "GetObject") {
            Ok(object) => Ok(Some(StoredRecord {
                body: object.body.clone(),
                etag: object.etag.clone(),
            })),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn put_record(
        &self,
        location: &ObjectLocation,
        body: &[u8],
        condition: &WriteCondition,
    ) -> Result<String, StoreError> {
        self.arrive("PutObject");
        const OP: &str = "PutObject";
        let mut state = self.lock();
        if !state.buckets.contains_key(&location.bucket) {
            return Err(no_such_bucket(OP));
        }
        check_destination(&state, location, condition, OP)?;
        // Each write gets its own ETag, as an SSE-KMS PUT's does.
        state.clock += 1;
        let etag = format!("{}-{}", etag_of(body), state.clock);
        let object = StoredObject {
            body: body.to_vec(),
            etag: etag.clone(),
            content_type: Some("application/json".into()),
            ..StoredObject::default()
        };
        Self::write(&mut state, &location.bucket, &location.key, object);
        Ok(etag)
    }

    async fn delete_record(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(bucket) = state.buckets.get_mut(&location.bucket) {
            bucket.remove(&location.key);
        }
        Ok(())
    }

    async fn probe_read(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        const OP: &str = "GetObject";
        let state = self.lock();
        let object = Self::get(&state, location, OP)?;
        if is_sse_c(object) {
            return Err(StoreError::Service {
                operation: OP,
                code: "InvalidRequest".into(),
                status: 400,
                message: SSE_C_MESSAGE.into(),
            });
        }
        Ok(())
    }

    async fn bucket_object_lock(&self, bucket: &str) -> Result<bool, StoreError> {
        let state = self.lock();
        if !state.buckets.contains_key(bucket) {
            return Err(no_such_bucket("GetObjectLockConfiguration"));
        }
        Ok(state.object_lock_buckets.contains(bucket))
    }

    async fn get_retention(&self, location: &ObjectLocation) -> Result<Option<String>, StoreError> {
        const OP: &str = "GetObjectRetention";
        let state = self.lock();
        let object = Self::get(&state, location, OP)?;
        if state.lock_read_denied {
            return Err(access_denied(OP));
        }
        Ok(object
            .object_lock
            .clone()
            .filter(|lock| lock.contains("retention")))
    }

    async fn get_legal_hold(&self, location: &ObjectLocation) -> Result<bool, StoreError> {
        const OP: &str = "GetObjectLegalHold";
        let state = self.lock();
        let object = Self::get(&state, location, OP)?;
        if state.lock_read_denied {
            return Err(access_denied(OP));
        }
        Ok(object
            .object_lock
            .as_deref()
            .is_some_and(|lock| lock.contains("legal hold")))
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

/// Most annotations on one object version.
const MAX_ANNOTATIONS: usize = 1000;
/// Largest annotation payload.
const MAX_ANNOTATION_PAYLOAD: usize = 1024 * 1024;

/// A server without annotations answers 501; a role without the read permission, 403.
fn check_annotations_allowed(
    state: &State,
    operation: &'static str,
    read: bool,
) -> Result<(), StoreError> {
    if state.annotations_unsupported {
        return Err(not_emulated(operation));
    }
    if read && state.annotation_read_denied {
        return Err(access_denied(operation));
    }
    Ok(())
}

/// A server's answer to an operation it does not implement (LocalStack 2026.3.0's, for
/// UpdateObjectEncryption and annotations): 501 `NotImplemented`, nothing changed.
fn not_emulated(operation: &'static str) -> StoreError {
    StoreError::Service {
        operation,
        code: "NotImplemented".into(),
        status: 501,
        message: format!("The {operation} operation is not yet emulated"),
    }
}
