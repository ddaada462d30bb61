//! [`ObjectStore`] on aws-sdk-s3: the only module that names SDK types. The requests that give
//! evidence about buckets and objects (versioning, versions, Object Lock, a probe after a
//! refused HEAD) are in [`evidence`]; the function's own small objects (recorded copy state)
//! in [`records`].

mod annotations;
mod checksums;
mod evidence;
mod object_encryption;
mod records;

use std::future::Future;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    AccessControlPolicy, ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload,
    CompletedPart as SdkCompletedPart, GlacierJobParameters, Grant as SdkGrant,
    Grantee as SdkGrantee, MetadataDirective as SdkMetadataDirective, Owner, Permission,
    RestoreRequest, ServerSideEncryption, StorageClass as SdkStorageClass, Tag, Tagging,
    TaggingDirective, Tier, Type as GranteeType,
};

use super::routing::{BucketSettings, Routing};
use super::{
    CompleteRequest, CompletedPart, CopyOutcome, CopyRequest, ListedObject, MetadataDirective,
    MultipartStart, ObjectPage, ObjectStore, PartCopy, StoreError, StoredRecord, TagDirective,
    UploadedPart, VersionEntry, Versioning, WriteCondition,
};
use crate::keys::copy_source;
use crate::object::{
    Acl, ActualEncryption, ArchiveState, ContentHeaders, Grant, Grantee, ObjectHead,
    ObjectLocation, ObjectLock, StorageClass, Tags, normalize_etag,
};
use crate::policy::EncryptionSpec;

/// An [`ObjectStore`] backed by a real (or S3-compatible) endpoint, routing each request to
/// a client for its bucket's region.
#[derive(Debug, Clone)]
pub struct S3Store {
    routing: Arc<Routing>,
    /// Versions asked for per ListObjectVersions page.
    versions_page: i32,
}

/// Attempts per S3 request (the first plus retries).
pub const MAX_ATTEMPTS: u32 = 5;

impl S3Store {
    /// Builds the S3 client once from the shared SDK config; `force_path_style` is for local
    /// servers that do not serve virtual-hosted bucket names.
    pub fn new(sdk_config: &aws_config::SdkConfig, force_path_style: bool) -> Self {
        let builder =
            aws_sdk_s3::config::Builder::from(sdk_config).force_path_style(force_path_style);
        Self::from_client(Client::from_conf(with_resilience(builder).build()))
    }

    /// The function's store: one client per region from the shared SDK config, with the
    /// regions and owners the policy gives for its buckets.
    pub fn for_policy(
        sdk_config: &aws_config::SdkConfig,
        force_path_style: bool,
        policy: &crate::policy::Policy,
    ) -> Self {
        let builder =
            aws_sdk_s3::config::Builder::from(sdk_config).force_path_style(force_path_style);
        Self::with_settings(
            Client::from_conf(with_resilience(builder).build()),
            BucketSettings::from_policy(policy),
        )
    }

    /// Wraps an existing client (its region is the default one).
    pub fn from_client(client: Client) -> Self {
        Self::with_settings(client, BucketSettings::default())
    }

    /// Wraps an existing client, with the regions and owners the policy gives for buckets.
    pub fn with_settings(client: Client, settings: BucketSettings) -> Self {
        Self {
            routing: Arc::new(Routing::new(client, settings)),
            versions_page: evidence::MAX_VERSIONS_PAGE,
        }
    }

    /// Asks ListObjectVersions for `versions` per page instead of 1,000 (S3's maximum): small
    /// pages let a test reach a key's second page without writing a thousand versions.
    pub fn with_versions_page(mut self, versions: i32) -> Self {
        self.versions_page = versions.clamp(1, evidence::MAX_VERSIONS_PAGE);
        self
    }

    /// Which client serves which bucket (for tests and metrics).
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// The region of `bucket`: known, or asked with HeadBucket (which S3 answers with
    /// `x-amz-bucket-region`, even on a redirect) and then remembered.
    pub async fn discover_region(&self, bucket: &str) -> Result<String, StoreError> {
        if let Some(region) = self.routing.region_of(bucket) {
            return Ok(region);
        }
        let client = self.routing.client(bucket);
        let owner = self.routing.owner(bucket);
        let found = match client
            .head_bucket()
            .bucket(bucket)
            .set_expected_bucket_owner(owner)
            .send()
            .await
        {
            Ok(out) => out.bucket_region().map(str::to_owned),
            Err(err) => match redirect(&err) {
                Redirect::To(region) => Some(region),
                _ => return Err(classify("HeadBucket", err)),
            },
        };
        let region = found
            .or_else(|| self.routing.default_region())
            .ok_or_else(|| unknown_region("HeadBucket", bucket))?;
        self.routing.learn(bucket, &region);
        Ok(region)
    }

    /// Sends a request built by `request` with the client for `bucket`'s region. A redirect
    /// that names the bucket's region is learned and the request sent once more, to that
    /// region; a redirect that does not name it fails with a message that says what to do.
    async fn send<T, E, F, Fut>(
        &self,
        bucket: &str,
        operation: &'static str,
        request: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match request(self.routing.client(bucket)).await {
            Ok(out) => Ok(out),
            Err(err) => match redirect(&err) {
                Redirect::To(region) if self.routing.learn(bucket, &region) => {
                    request(self.routing.client(bucket))
                        .await
                        .map_err(|e| classify(operation, e))
                }
                Redirect::Unnamed => Err(unknown_region(operation, bucket)),
                _ => Err(classify(operation, err)),
            },
        }
    }
}

/// What a failed request says about the bucket's region.
enum Redirect {
    /// Not a redirect.
    None,
    /// S3 named the bucket's region (`x-amz-bucket-region`).
    To(String),
    /// A 301 that does not name the region.
    Unnamed,
}

fn redirect<E>(err: &SdkError<E, HttpResponse>) -> Redirect {
    let Some(response) = err.raw_response() else {
        return Redirect::None;
    };
    let status = response.status().as_u16();
    // S3 sends the header on 301 PermanentRedirect and with some 400s
    // (AuthorizationHeaderMalformed: signed for the wrong region).
    match response.headers().get("x-amz-bucket-region") {
        Some(region) if matches!(status, 301 | 307 | 400) && !region.is_empty() => {
            Redirect::To(region.to_owned())
        }
        _ if status == 301 => Redirect::Unnamed,
        _ => Redirect::None,
    }
}

fn unknown_region(operation: &'static str, bucket: &str) -> StoreError {
    StoreError::Service {
        operation,
        code: "PermanentRedirect".into(),
        status: 301,
        message: format!(
            "bucket {bucket:?} is in another region and S3's answer did not say which; set `backup.region` for it in the policy"
        ),
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

fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
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
        checksum: checksums::head_checksum(out),
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
        object_lock: object_lock(out).map_or(ObjectLock::NotReported, ObjectLock::Locked),
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

/// `Expires` as the SDK takes it (an HTTP date), or, when it is not one (S3 stores any text),
/// the text to restate verbatim in the request's header: CopyObject keeps it, so a copy that
/// states the headers must not drop it.
fn expires_of(headers: &ContentHeaders) -> (Option<DateTime>, Option<String>) {
    let parsed = headers
        .expires
        .as_deref()
        .and_then(|e| DateTime::from_str(e, DateTimeFormat::HttpDate).ok());
    let raw = headers.expires.clone().filter(|_| parsed.is_none());
    (parsed, raw)
}

/// User metadata as the SDK takes it: none when empty.
fn metadata_of(
    metadata: &std::collections::BTreeMap<String, String>,
) -> Option<std::collections::HashMap<String, String>> {
    (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
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

impl S3Store {
    async fn head(
        &self,
        location: &ObjectLocation,
        checksums: bool,
    ) -> Result<ObjectHead, StoreError> {
        let out = self
            .send(&location.bucket, "HeadObject", |client| {
                client
                    .head_object()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_version_id(version_or_none(location))
                    .set_checksum_mode(checksums.then_some(ChecksumMode::Enabled))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await?;
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
        self.send(bucket, "HeadBucket", |client| {
            client
                .head_bucket()
                .bucket(bucket)
                .set_expected_bucket_owner(self.routing.owner(bucket))
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn get_tags(&self, location: &ObjectLocation) -> Result<Tags, StoreError> {
        let out = self
            .send(&location.bucket, "GetObjectTagging", |client| {
                client
                    .get_object_tagging()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_version_id(version_or_none(location))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await?;
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
        self.send(&location.bucket, "PutObjectTagging", |client| {
            client
                .put_object_tagging()
                .bucket(&location.bucket)
                .key(&location.key)
                .set_version_id(version_or_none(location))
                .tagging(tagging.clone())
                .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<CopyOutcome, StoreError> {
        let (source, destination) = (&request.source, &request.destination);
        let stated = match &request.metadata {
            MetadataDirective::Copy => None,
            MetadataDirective::Replace(headers) => Some(headers.as_ref()),
        };
        let (parsed_expires, raw_expires) =
            stated.map_or((None, None), |h| expires_of(&h.content_headers));
        // CopyObject goes to the destination bucket's region.
        let out = self
            .send(&destination.bucket, "CopyObject", |client| {
                let mut copy = client
                    .copy_object()
                    .copy_source(copy_source(
                        &source.bucket,
                        &source.key,
                        source.version_id.as_deref(),
                    ))
                    .set_copy_source_if_match(request.source_if_match.as_deref().map(quoted))
                    .set_if_match(request.destination_condition.if_match().map(quoted))
                    .set_if_none_match(
                        request
                            .destination_condition
                            .if_none_match()
                            .map(str::to_owned),
                    )
                    .bucket(&destination.bucket)
                    .key(&destination.key)
                    .set_expected_bucket_owner(self.routing.owner(&destination.bucket))
                    .set_expected_source_bucket_owner(self.routing.owner(&source.bucket))
                    .storage_class(SdkStorageClass::from(request.storage_class.as_str()))
                    .set_website_redirect_location(request.website_redirect.clone());
                copy = match stated {
                    None => copy.metadata_directive(SdkMetadataDirective::Copy),
                    Some(headers) => {
                        let content = &headers.content_headers;
                        copy.metadata_directive(SdkMetadataDirective::Replace)
                            .set_content_type(headers.content_type.clone())
                            .set_cache_control(content.cache_control.clone())
                            .set_content_disposition(content.content_disposition.clone())
                            .set_content_encoding(content.content_encoding.clone())
                            .set_content_language(content.content_language.clone())
                            .set_expires(parsed_expires)
                            .set_metadata(metadata_of(&headers.metadata))
                    }
                };
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
                let raw_expires = raw_expires.clone();
                copy.customize()
                    .mutate_request(move |http| {
                        if let Some(expires) = &raw_expires {
                            http.headers_mut().insert("expires", expires.clone());
                        }
                    })
                    .send()
            })
            .await?;
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
            .send(&location.bucket, "GetObjectAcl", |client| {
                client
                    .get_object_acl()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_version_id(version_or_none(location))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await?;
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
        self.send(&location.bucket, "PutObjectAcl", |client| {
            client
                .put_object_acl()
                .bucket(&location.bucket)
                .key(&location.key)
                .set_version_id(version_or_none(location))
                .access_control_policy(policy.clone())
                .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                .send()
        })
        .await
        .map(|_| ())
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
        let sent = self
            .send(&location.bucket, "RestoreObject", |client| {
                client
                    .restore_object()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_version_id(version_or_none(location))
                    .restore_request(request.clone())
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await;
        match sent {
            Ok(_) => Ok(()),
            // A restore already in progress is what we asked for.
            Err(StoreError::Service { code, .. }) if code == "RestoreAlreadyInProgress" => Ok(()),
            Err(other) => Err(other),
        }
    }

    async fn create_multipart_upload(
        &self,
        request: &MultipartStart,
    ) -> Result<String, StoreError> {
        let headers = &request.content_headers;
        let (parsed_expires, raw_expires) = expires_of(headers);
        let destination = &request.destination;
        let out = self
            .send(&destination.bucket, "CreateMultipartUpload", |client| {
                let mut create = client
                    .create_multipart_upload()
                    .bucket(&destination.bucket)
                    .key(&destination.key)
                    .set_expected_bucket_owner(self.routing.owner(&destination.bucket))
                    .storage_class(SdkStorageClass::from(request.storage_class.as_str()))
                    .set_content_type(request.content_type.clone())
                    .set_cache_control(headers.cache_control.clone())
                    .set_content_disposition(headers.content_disposition.clone())
                    .set_content_encoding(headers.content_encoding.clone())
                    .set_content_language(headers.content_language.clone())
                    .set_expires(parsed_expires)
                    .set_metadata(metadata_of(&request.metadata))
                    .set_tagging((!request.tags.is_empty()).then(|| encode_tags(&request.tags)))
                    .set_website_redirect_location(request.website_redirect.clone())
                    .set_checksum_algorithm(request.checksum_algorithm.map(ChecksumAlgorithm::from))
                    .set_checksum_type(
                        request
                            .checksum_algorithm
                            .map(checksums::multipart_checksum_type),
                    );
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
                let raw_expires = raw_expires.clone();
                create
                    .customize()
                    .mutate_request(move |http| {
                        if let Some(expires) = &raw_expires {
                            http.headers_mut().insert("expires", expires.clone());
                        }
                    })
                    .send()
            })
            .await?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Transport {
                operation: "CreateMultipartUpload",
                message: "response has no UploadId".into(),
            })
    }

    async fn upload_part_copy(&self, request: &PartCopy) -> Result<CompletedPart, StoreError> {
        let (source, destination) = (&request.source, &request.destination);
        let out = self
            .send(&destination.bucket, "UploadPartCopy", |client| {
                client
                    .upload_part_copy()
                    .bucket(&destination.bucket)
                    .key(&destination.key)
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
                    .set_expected_bucket_owner(self.routing.owner(&destination.bucket))
                    .set_expected_source_bucket_owner(self.routing.owner(&source.bucket))
                    .send()
            })
            .await?;
        let result = out.copy_part_result();
        let etag = result
            .and_then(|r| r.e_tag())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Transport {
                operation: "UploadPartCopy",
                message: "response has no part ETag".into(),
            })?;
        let checksum = result.and_then(checksums::copied_part_checksum);
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
        let parts: Vec<SdkCompletedPart> = request
            .parts
            .iter()
            .map(|p| {
                checksums::with_part_checksum(
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
            .send(&destination.bucket, "CompleteMultipartUpload", |client| {
                let complete = client
                    .complete_multipart_upload()
                    .bucket(&destination.bucket)
                    .key(&destination.key)
                    .upload_id(&request.upload_id)
                    .set_if_match(request.condition.if_match().map(quoted))
                    .set_if_none_match(request.condition.if_none_match().map(str::to_owned))
                    .set_expected_bucket_owner(self.routing.owner(&destination.bucket))
                    .set_mpu_object_size(
                        request
                            .expected
                            .size
                            .and_then(|size| i64::try_from(size).ok()),
                    );
                let complete = match &request.expected.checksum {
                    Some(checksum) => checksums::with_full_object_checksum(complete, checksum),
                    None => complete,
                };
                complete
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts.clone()))
                            .build(),
                    )
                    .send()
            })
            .await?;
        Ok(CopyOutcome {
            version_id: out.version_id().map(str::to_owned),
            etag: out.e_tag().map(normalize_etag),
        })
    }

    async fn list_parts(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, StoreError> {
        let mut parts = Vec::new();
        let mut marker = None::<String>;
        loop {
            let out = self
                .send(&destination.bucket, "ListParts", |client| {
                    client
                        .list_parts()
                        .bucket(&destination.bucket)
                        .key(&destination.key)
                        .upload_id(upload_id)
                        .set_part_number_marker(marker.clone())
                        .set_expected_bucket_owner(self.routing.owner(&destination.bucket))
                        .send()
                })
                .await?;
            parts.extend(out.parts().iter().filter_map(|p| {
                let checksum = checksums::listed_part_checksum(p);
                Some(UploadedPart {
                    part: CompletedPart {
                        part_number: p.part_number()?,
                        etag: p.e_tag()?.to_owned(),
                        checksum,
                    },
                    size: p.size().unwrap_or(0).max(0).unsigned_abs(),
                })
            }));
            if out.is_truncated() != Some(true) {
                return Ok(parts);
            }
            marker = out.next_part_number_marker().map(str::to_owned);
        }
    }

    async fn abort_multipart_upload(
        &self,
        destination: &ObjectLocation,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.send(&destination.bucket, "AbortMultipartUpload", |client| {
            client
                .abort_multipart_upload()
                .bucket(&destination.bucket)
                .key(&destination.key)
                .upload_id(upload_id)
                .set_expected_bucket_owner(self.routing.owner(&destination.bucket))
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn update_object_encryption(
        &self,
        location: &ObjectLocation,
        key_arn: &str,
        bucket_key: Option<bool>,
    ) -> Result<(), StoreError> {
        self.rekey(location, key_arn, bucket_key).await
    }

    async fn list_annotations(&self, location: &ObjectLocation) -> Result<Vec<String>, StoreError> {
        self.annotation_names(location).await
    }

    async fn get_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
    ) -> Result<Vec<u8>, StoreError> {
        self.annotation_payload(location, name).await
    }

    async fn put_annotation(
        &self,
        location: &ObjectLocation,
        name: &str,
        payload: &[u8],
        object_etag: &str,
    ) -> Result<(), StoreError> {
        self.annotate(location, name, payload, object_etag).await
    }

    async fn bucket_versioning(&self, bucket: &str) -> Result<Versioning, StoreError> {
        self.versioning_of(bucket).await
    }

    async fn list_versions(
        &self,
        location: &ObjectLocation,
    ) -> Result<Vec<VersionEntry>, StoreError> {
        self.versions_of(location).await
    }

    async fn get_record(
        &self,
        location: &ObjectLocation,
    ) -> Result<Option<StoredRecord>, StoreError> {
        self.read_record(location).await
    }

    async fn put_record(
        &self,
        location: &ObjectLocation,
        body: &[u8],
        condition: &WriteCondition,
    ) -> Result<String, StoreError> {
        self.write_record(location, body, condition).await
    }

    async fn delete_record(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.remove_record(location).await
    }

    async fn probe_read(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.probe(location).await
    }

    async fn bucket_object_lock(&self, bucket: &str) -> Result<bool, StoreError> {
        self.object_lock_of(bucket).await
    }

    async fn get_retention(&self, location: &ObjectLocation) -> Result<Option<String>, StoreError> {
        self.retention_of(location).await
    }

    async fn get_legal_hold(&self, location: &ObjectLocation) -> Result<bool, StoreError> {
        self.legal_hold_of(location).await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        let out = self
            .send(bucket, "ListObjectsV2", |client| {
                client
                    .list_objects_v2()
                    .bucket(bucket)
                    .set_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
                    .set_continuation_token(continuation.map(str::to_owned))
                    .set_expected_bucket_owner(self.routing.owner(bucket))
                    .send()
            })
            .await?;
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
