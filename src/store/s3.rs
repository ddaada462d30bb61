//! [`ObjectStore`] on aws-sdk-s3: the only module that names SDK types.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    AccessControlPolicy, ChecksumMode, CompletedMultipartUpload, CompletedPart as SdkCompletedPart,
    GlacierJobParameters, Grant as SdkGrant, Grantee as SdkGrantee, MetadataDirective, Owner,
    Permission, RestoreRequest, ServerSideEncryption, StorageClass as SdkStorageClass, Tag,
    Tagging, TaggingDirective, Tier, Type as GranteeType,
};

use super::{
    CompletedPart, CopyOutcome, CopyRequest, ListedObject, MultipartStart, ObjectPage, ObjectStore,
    PartCopy, StoreError, TagDirective,
};
use crate::keys::copy_source;
use crate::object::{
    Acl, ActualEncryption, ArchiveState, Checksum, ContentHeaders, Grant, Grantee, ObjectHead,
    ObjectLocation, StorageClass, Tags, normalize_etag,
};
use crate::policy::EncryptionSpec;

/// An [`ObjectStore`] backed by a real (or S3-compatible) endpoint.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
}

/// Attempts per S3 request (the first plus retries).
pub const MAX_ATTEMPTS: u32 = 5;

impl S3Store {
    /// Builds the S3 client once from the shared SDK config; `force_path_style` is for local
    /// servers that do not serve virtual-hosted bucket names.
    pub fn new(sdk_config: &aws_config::SdkConfig, force_path_style: bool) -> Self {
        let builder =
            aws_sdk_s3::config::Builder::from(sdk_config).force_path_style(force_path_style);
        Self {
            client: Client::from_conf(with_resilience(builder).build()),
        }
    }

    /// Wraps an existing client.
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }
}

/// The retry and timeout settings every S3 client of the function uses: standard retries
/// (exponential backoff with jitter, which also backs off on `SlowDown`/throttling and retries
/// 5xx, transport errors and `200`-with-error copies) with [`MAX_ATTEMPTS`] attempts, first backoff
/// 100 ms, capped at 5 s; a 3 s connect timeout. No per-attempt timeout: a large CopyObject or
/// UploadPartCopy legitimately takes minutes, and the invocation deadline bounds it anyway.
pub fn with_resilience(builder: aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder {
    builder
        .retry_config(
            aws_sdk_s3::config::retry::RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(std::time::Duration::from_millis(100))
                .with_max_backoff(std::time::Duration::from_secs(5)),
        )
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(3))
                .build(),
        )
}

fn classify<E>(operation: &'static str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(context) = &err {
        let status = context.raw().status().as_u16();
        let code = context.err().code().unwrap_or_default().to_owned();
        let message = context.err().message().unwrap_or_default().to_owned();
        return match (status, code.as_str()) {
            (_, "PreconditionFailed") | (412, _) => StoreError::PreconditionFailed { operation },
            (_, "InvalidObjectState") => StoreError::InvalidObjectState { operation },
            (404, "NoSuchKey" | "NotFound" | "NoSuchVersion" | "") => {
                StoreError::NotFound { operation }
            }
            _ => StoreError::Service {
                operation,
                code: if code.is_empty() {
                    format!("Http{status}")
                } else {
                    code
                },
                status,
                message,
            },
        };
    }
    StoreError::Transport {
        operation,
        message: DisplayErrorContext(&err).to_string(),
    }
}

fn head_from_output(location: &ObjectLocation, out: &HeadObjectOutput) -> ObjectHead {
    let storage_class = out
        .storage_class()
        .map(|c| StorageClass::parse(c.as_str()))
        .unwrap_or(StorageClass::Standard);
    let encryption = if let Some(algorithm) = out.sse_customer_algorithm() {
        ActualEncryption::Other {
            name: format!("SSE-C ({algorithm})"),
        }
    } else {
        match out.server_side_encryption() {
            None => ActualEncryption::NotReported,
            Some(ServerSideEncryption::Aes256) => ActualEncryption::Aes256,
            Some(ServerSideEncryption::AwsKms) => ActualEncryption::Kms {
                key_id: out.ssekms_key_id().map(str::to_owned),
                bucket_key: out.bucket_key_enabled().unwrap_or(false),
            },
            Some(other) => ActualEncryption::Other {
                name: other.as_str().to_owned(),
            },
        }
    };
    ObjectHead {
        location: ObjectLocation {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
            version_id: out
                .version_id()
                .filter(|v| !v.is_empty() && *v != "null")
                .map(str::to_owned),
        },
        etag: out.e_tag().map(normalize_etag).unwrap_or_default(),
        size: out.content_length().unwrap_or(0).max(0).unsigned_abs(),
        last_modified: out.last_modified().map(|t| t.secs()),
        content_type: out.content_type().map(str::to_owned),
        archive: archive_state(
            &storage_class,
            out.restore(),
            out.archive_status().is_some(),
        ),
        storage_class,
        encryption,
        tag_count: out.tag_count().and_then(|n| u32::try_from(n).ok()),
        website_redirect: out.website_redirect_location().map(str::to_owned),
        checksum: checksum(out),
        metadata: out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        content_headers: ContentHeaders {
            cache_control: out.cache_control().map(str::to_owned),
            content_disposition: out.content_disposition().map(str::to_owned),
            content_encoding: out.content_encoding().map(str::to_owned),
            content_language: out.content_language().map(str::to_owned),
            expires: out.expires_string().map(str::to_owned),
        },
    }
}

/// The strongest content checksum HEAD reported.
fn checksum(out: &HeadObjectOutput) -> Option<Checksum> {
    [
        ("SHA256", out.checksum_sha256()),
        ("CRC64NVME", out.checksum_crc64_nvme()),
        ("SHA1", out.checksum_sha1()),
        ("CRC32C", out.checksum_crc32_c()),
        ("CRC32", out.checksum_crc32()),
    ]
    .into_iter()
    .find_map(|(algorithm, value)| {
        value.filter(|v| !v.is_empty()).map(|v| Checksum {
            algorithm,
            value: v.to_owned(),
        })
    })
}

/// Archived objects need a restore before copying; a finished restore (`ongoing-request="false"`)
/// makes them copyable.
fn archive_state(
    class: &StorageClass,
    restore: Option<&str>,
    in_archive_tier: bool,
) -> Option<ArchiveState> {
    let restored = restore.is_some_and(|r| r.contains("ongoing-request=\"false\""));
    let restoring = restore.is_some_and(|r| r.contains("ongoing-request=\"true\""));
    if !(class.is_archive() || in_archive_tier) || restored {
        None
    } else if restoring {
        Some(ArchiveState::Restoring)
    } else {
        Some(ArchiveState::Archived)
    }
}

fn encode_tags(tags: &Tags) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(tags.iter())
        .finish()
}

fn grant_from_sdk(grant: &SdkGrant) -> Option<Grant> {
    let grantee = grant.grantee()?;
    let grantee = match grantee.r#type() {
        GranteeType::CanonicalUser => Grantee::CanonicalUser(grantee.id()?.to_owned()),
        GranteeType::Group => Grantee::Group(grantee.uri()?.to_owned()),
        _ => Grantee::Email(grantee.email_address()?.to_owned()),
    };
    Some(Grant {
        grantee,
        permission: grant.permission()?.as_str().to_owned(),
    })
}

fn grant_to_sdk(grant: &Grant) -> Result<SdkGrant, aws_sdk_s3::error::BuildError> {
    let grantee = match &grant.grantee {
        Grantee::CanonicalUser(id) => SdkGrantee::builder()
            .r#type(GranteeType::CanonicalUser)
            .id(id),
        Grantee::Group(uri) => SdkGrantee::builder().r#type(GranteeType::Group).uri(uri),
        Grantee::Email(address) => SdkGrantee::builder()
            .r#type(GranteeType::AmazonCustomerByEmail)
            .email_address(address),
    }
    .build()?;
    Ok(SdkGrant::builder()
        .grantee(grantee)
        .permission(Permission::from(grant.permission.as_str()))
        .build())
}

fn version_or_none(location: &ObjectLocation) -> Option<String> {
    location.version_id.clone()
}

impl ObjectStore for S3Store {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        let out = self
            .client
            .head_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| classify("HeadObject", e))?;
        Ok(head_from_output(location, &out))
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("HeadBucket", e))
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        let out = self
            .client
            .get_object_tagging()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .send()
            .await
            .map_err(|e| classify("GetObjectTagging", e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn put_tags(&self, location: &ObjectLocation, tags: &Tags) -> Result<(), StoreError> {
        let invalid = |e: aws_sdk_s3::error::BuildError| StoreError::Service {
            operation: "PutObjectTagging",
            code: "InvalidTag".into(),
            status: 400,
            message: e.to_string(),
        };
        let tag_set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(invalid)?;
        self.client
            .put_object_tagging()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutObjectTagging", e))
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        let source = &request.source;
        let mut copy = self
            .client
            .copy_object()
            .copy_source(copy_source(
                &source.bucket,
                &source.key,
                source.version_id.as_deref(),
            ))
            .set_copy_source_if_match(request.source_if_match.as_ref().map(|e| format!("\"{e}\"")))
            .bucket(&request.destination.bucket)
            .key(&request.destination.key)
            .metadata_directive(MetadataDirective::Copy)
            .storage_class(SdkStorageClass::from(request.storage_class.as_str()))
            .set_website_redirect_location(request.website_redirect.clone());
        copy = match &request.encryption {
            None => copy,
            Some(EncryptionSpec::Aes256) => {
                copy.server_side_encryption(ServerSideEncryption::Aes256)
            }
            Some(EncryptionSpec::Kms { key, bucket_key }) => copy
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key.as_ref().map(|k| k.configured.clone()))
                .set_bucket_key_enabled(*bucket_key),
        };
        copy = match &request.tags {
            TagDirective::Copy => copy.tagging_directive(TaggingDirective::Copy),
            TagDirective::Replace(tags) => copy
                .tagging_directive(TaggingDirective::Replace)
                .tagging(encode_tags(tags)),
        };
        let out = copy.send().await.map_err(|e| classify("CopyObject", e))?;
        Ok(CopyOutcome {
            version_id: out.version_id().map(str::to_owned),
            etag: out
                .copy_object_result()
                .and_then(|r| r.e_tag())
                .map(normalize_etag),
        })
    }

    async fn get_acl(&self, location: &ObjectLocation) -> Result<Acl, StoreError> {
        let out = self
            .client
            .get_object_acl()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .send()
            .await
            .map_err(|e| classify("GetObjectAcl", e))?;
        Ok(Acl {
            owner_id: out.owner().and_then(|o| o.id()).map(str::to_owned),
            grants: out.grants().iter().filter_map(grant_from_sdk).collect(),
        })
    }

    async fn put_acl(&self, location: &ObjectLocation, acl: &Acl) -> Result<(), StoreError> {
        let invalid = |e: aws_sdk_s3::error::BuildError| StoreError::Service {
            operation: "PutObjectAcl",
            code: "InvalidArgument".into(),
            status: 400,
            message: e.to_string(),
        };
        let grants = acl
            .grants
            .iter()
            .map(grant_to_sdk)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let policy = AccessControlPolicy::builder()
            .set_grants(Some(grants))
            .set_owner(
                acl.owner_id
                    .as_ref()
                    .map(|id| Owner::builder().id(id).build()),
            )
            .build();
        self.client
            .put_object_acl()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .access_control_policy(policy)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutObjectAcl", e))
    }

    async fn restore_object(
        &self,
        location: &ObjectLocation,
        days: i32,
        tier: &str,
    ) -> Result<(), StoreError> {
        let job = GlacierJobParameters::builder()
            .tier(Tier::from(tier))
            .build()
            .map_err(|e| StoreError::Service {
                operation: "RestoreObject",
                code: "InvalidArgument".into(),
                status: 400,
                message: e.to_string(),
            })?;
        let request = RestoreRequest::builder()
            .days(days)
            .glacier_job_parameters(job)
            .build();
        match self
            .client
            .restore_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .restore_request(request)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify("RestoreObject", e) {
                // A restore already in progress is what we asked for.
                StoreError::Service { code, .. } if code == "RestoreAlreadyInProgress" => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        let headers = &request.content_headers;
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&request.destination.bucket)
            .key(&request.destination.key)
            .storage_class(SdkStorageClass::from(request.storage_class.as_str()))
            .set_content_type(request.content_type.clone())
            .set_cache_control(headers.cache_control.clone())
            .set_content_disposition(headers.content_disposition.clone())
            .set_content_encoding(headers.content_encoding.clone())
            .set_content_language(headers.content_language.clone())
            .set_expires(
                headers
                    .expires
                    .as_deref()
                    .and_then(|e| DateTime::from_str(e, DateTimeFormat::HttpDate).ok()),
            )
            .set_metadata((!request.metadata.is_empty()).then(|| {
                request
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .set_tagging((!request.tags.is_empty()).then(|| encode_tags(&request.tags)))
            .set_website_redirect_location(request.website_redirect.clone());
        create = match &request.encryption {
            None => create,
            Some(EncryptionSpec::Aes256) => {
                create.server_side_encryption(ServerSideEncryption::Aes256)
            }
            Some(EncryptionSpec::Kms { key, bucket_key }) => create
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key.as_ref().map(|k| k.configured.clone()))
                .set_bucket_key_enabled(*bucket_key),
        };
        let out = create
            .send()
            .await
            .map_err(|e| classify("CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Transport {
                operation: "CreateMultipartUpload",
                message: "response has no UploadId".into(),
            })
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<String, StoreError> {
        let source = &request.source;
        let out = self
            .client
            .upload_part_copy()
            .bucket(&request.destination.bucket)
            .key(&request.destination.key)
            .upload_id(&request.upload_id)
            .part_number(request.part_number)
            .copy_source(copy_source(
                &source.bucket,
                &source.key,
                source.version_id.as_deref(),
            ))
            .copy_source_range(format!(
                "bytes={}-{}",
                request.first_byte, request.last_byte
            ))
            .set_copy_source_if_match(request.source_if_match.as_ref().map(|e| format!("\"{e}\"")))
            .send()
            .await
            .map_err(|e| classify("UploadPartCopy", e))?;
        out.copy_part_result()
            .and_then(|r| r.e_tag())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Transport {
                operation: "UploadPartCopy",
                message: "response has no part ETag".into(),
            })
    }

    async fn complete_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CopyOutcome, StoreError> {
        let parts = parts
            .iter()
            .map(|p| {
                SdkCompletedPart::builder()
                    .part_number(p.part_number)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("CompleteMultipartUpload", e))?;
        Ok(CopyOutcome {
            version_id: out.version_id().map(str::to_owned),
            etag: out.e_tag().map(normalize_etag),
        })
    }

    async fn abort_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .upload_id(upload_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("AbortMultipartUpload", e))
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .set_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
            .set_continuation_token(continuation.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify("ListObjectsV2", e))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ListedObject {
                    key: o.key()?.to_owned(),
                    etag: o.e_tag().map(normalize_etag),
                    size: o.size().unwrap_or(0).max(0).unsigned_abs(),
                })
            })
            .collect();
        let next = if out.is_truncated() == Some(true) {
            out.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(ObjectPage { objects, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_states() {
        assert_eq!(archive_state(&StorageClass::Standard, None, false), None);
        assert_eq!(
            archive_state(&StorageClass::Glacier, None, false),
            Some(ArchiveState::Archived)
        );
        assert_eq!(
            archive_state(
                &StorageClass::DeepArchive,
                Some("ongoing-request=\"true\""),
                false
            ),
            Some(ArchiveState::Restoring)
        );
        assert_eq!(
            archive_state(
                &StorageClass::Glacier,
                Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""),
                false
            ),
            None
        );
        assert_eq!(
            archive_state(&StorageClass::IntelligentTiering, None, true),
            Some(ArchiveState::Archived)
        );
    }

    #[test]
    fn tags_are_form_encoded() {
        let tags: Tags = [
            ("a b".to_owned(), "c&d=e".to_owned()),
            ("k".into(), "v".into()),
        ]
        .into_iter()
        .collect();
        assert_eq!(encode_tags(&tags), "a+b=c%26d%3De&k=v");
    }
}
