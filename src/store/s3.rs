//! [`ObjectStore`] on aws-sdk-s3: the only module that names SDK types.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    AccessControlPolicy, ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload,
    CompletedPart as SdkCompletedPart, GlacierJobParameters, Grant as SdkGrant,
    Grantee as SdkGrantee, MetadataDirective, Owner, Permission, RestoreRequest,
    ServerSideEncryption, StorageClass as SdkStorageClass, Tag, Tagging, TaggingDirective, Tier,
    Type as GranteeType,
};

use super::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, MultipartStart, ObjectStore,
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
        archive_access_tier: out.archive_status().map(|s| s.as_str().to_owned()),
        object_lock: object_lock(out),
    }
}

/// Object Lock retention and legal hold as HEAD reports them (only to a caller allowed to read
/// them), in words for notes.
fn object_lock(out: &HeadObjectOutput) -> Option<String> {
    let retention = out.object_lock_mode().map(|mode| {
        let until = out
            .object_lock_retain_until_date()
            .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok())
            .unwrap_or_else(|| "an unknown date".into());
        format!("{} retention until {until}", mode.as_str())
    });
    let legal_hold = (out.object_lock_legal_hold_status()
        == Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On))
    .then(|| "legal hold".to_owned());
    match (retention, legal_hold) {
        (Some(r), Some(h)) => Some(format!("{r}, {h}")),
        (r, h) => r.or(h),
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

/// An ETag as the conditional headers want it: quoted.
fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// The checksum type a multipart copy asks for with `algorithm`: full-object for the CRCs (so
/// the copy's checksum equals a single-part source's), composite for SHA-1/SHA-256, which S3
/// only allows as composite on multipart uploads.
fn multipart_checksum_type(algorithm: &str) -> ChecksumType {
    if algorithm.starts_with("CRC") {
        ChecksumType::FullObject
    } else {
        ChecksumType::Composite
    }
}

/// Sets a part's checksum on the field of the upload's algorithm.
fn with_part_checksum(
    part: aws_sdk_s3::types::builders::CompletedPartBuilder,
    algorithm: Option<&str>,
    checksum: Option<&String>,
) -> aws_sdk_s3::types::builders::CompletedPartBuilder {
    let (Some(algorithm), Some(value)) = (algorithm, checksum) else {
        return part;
    };
    match algorithm {
        "CRC32" => part.checksum_crc32(value),
        "CRC32C" => part.checksum_crc32_c(value),
        "CRC64NVME" => part.checksum_crc64_nvme(value),
        "SHA1" => part.checksum_sha1(value),
        "SHA256" => part.checksum_sha256(value),
        _ => part,
    }
}

impl S3Store {
    async fn head(
        &self,
        location: &ObjectLocation,
        checksums: bool,
    ) -> Result<ObjectHead, StoreError> {
        let out = self
            .client
            .head_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .set_version_id(version_or_none(location))
            .set_checksum_mode(checksums.then_some(ChecksumMode::Enabled))
            .send()
            .await
            .map_err(|e| classify("HeadObject", e))?;
        Ok(head_from_output(location, &out))
    }
}

impl ObjectStore for S3Store {
    async fn head_object(&self, location: &ObjectLocation) -> Result<ObjectHead, StoreError> {
        self.head(location, false).await
    }

    async fn head_object_with_checksums(
        &self,
        location: &ObjectLocation,
    ) -> Result<ObjectHead, StoreError> {
        self.head(location, true).await
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
            .set_copy_source_if_match(request.source_if_match.as_deref().map(quoted))
            .set_if_match(request.destination_if_match.as_deref().map(quoted))
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
                .set_ssekms_key_id(key.as_ref().map(|k| k.for_request().to_owned()))
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
        days: Option<i32>,
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
            .set_days(days)
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
        let parsed_expires = headers
            .expires
            .as_deref()
            .and_then(|e| DateTime::from_str(e, DateTimeFormat::HttpDate).ok());
        // An `Expires` that is not an HTTP date (S3 stores any text) is restated verbatim:
        // CopyObject keeps it, so a multipart copy must not drop it.
        let raw_expires = headers.expires.clone().filter(|_| parsed_expires.is_none());
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
            .set_expires(parsed_expires.clone())
            .set_metadata((!request.metadata.is_empty()).then(|| {
                request
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .set_tagging((!request.tags.is_empty()).then(|| encode_tags(&request.tags)))
            .set_website_redirect_location(request.website_redirect.clone())
            .set_checksum_algorithm(request.checksum_algorithm.map(ChecksumAlgorithm::from))
            .set_checksum_type(request.checksum_algorithm.map(multipart_checksum_type));
        create = match &request.encryption {
            None => create,
            Some(EncryptionSpec::Aes256) => {
                create.server_side_encryption(ServerSideEncryption::Aes256)
            }
            Some(EncryptionSpec::Kms { key, bucket_key }) => create
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key.as_ref().map(|k| k.for_request().to_owned()))
                .set_bucket_key_enabled(*bucket_key),
        };
        let out = match raw_expires {
            None => create.send().await,
            Some(expires) => {
                create
                    .customize()
                    .mutate_request(move |http| {
                        http.headers_mut().insert("expires", expires.clone());
                    })
                    .send()
                    .await
            }
        }
        .map_err(|e| classify("CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Transport {
                operation: "CreateMultipartUpload",
                message: "response has no UploadId".into(),
            })
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<CompletedPart, StoreError> {
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
            .set_copy_source_if_match(request.source_if_match.as_deref().map(quoted))
            .send()
            .await
            .map_err(|e| classify("UploadPartCopy", e))?;
        let result = out.copy_part_result();
        let etag = result
            .and_then(|r| r.e_tag())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Transport {
                operation: "UploadPartCopy",
                message: "response has no part ETag".into(),
            })?;
        let checksum = result.and_then(|r| {
            [
                r.checksum_crc64_nvme(),
                r.checksum_crc32(),
                r.checksum_crc32_c(),
                r.checksum_sha1(),
                r.checksum_sha256(),
            ]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .map(str::to_owned)
        });
        Ok(CompletedPart {
            part_number: request.part_number,
            etag,
            checksum,
        })
    }

    async fn complete_multipart_upload(
        &self,
        request: &CompleteRequest,
    ) -> Result<CopyOutcome, StoreError> {
        let destination = &request.destination;
        let parts = request
            .parts
            .iter()
            .map(|p| {
                with_part_checksum(
                    SdkCompletedPart::builder()
                        .part_number(p.part_number)
                        .e_tag(&p.etag),
                    request.checksum_algorithm,
                    p.checksum.as_ref(),
                )
                .build()
            })
            .collect();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .upload_id(&request.upload_id)
            .set_if_match(request.if_match.as_deref().map(quoted))
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
