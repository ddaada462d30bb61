//! Our own vocabulary for S3 objects: where an object is, what an event says about it, and what a
//! HEAD reports. No AWS SDK types appear here.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// An object's tags, ordered so plans and logs are deterministic.
pub type Tags = BTreeMap<String, String>;

/// Most tags S3 allows on one object.
pub const MAX_TAGS: usize = 10;

/// Bucket, key and optionally a version: enough to address one object version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectLocation {
    /// Bucket name.
    pub bucket: String,
    /// Decoded object key.
    pub key: String,
    /// Version id, or `None` for the current version / unversioned buckets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

impl ObjectLocation {
    /// The current version of `bucket/key`.
    pub fn current(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            version_id: None,
        }
    }
}

impl fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)?;
        if let Some(version) = &self.version_id {
            write!(f, "?versionId={version}")?;
        }
        Ok(())
    }
}

/// What an event tells us about one object: which one to look at, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The object (and version, when the bucket is versioned) the event is about.
    pub location: ObjectLocation,
    /// ETag from the event, quotes stripped, used to detect stale events.
    pub etag: Option<String>,
    /// Size in bytes from the event, when it gives one (with the ETag, enough to start the
    /// backup copy beside the HEAD).
    pub size: Option<u64>,
    /// S3's per-key ordering token (hex), when the envelope carries one.
    pub sequencer: Option<String>,
    /// The event name, e.g. `ObjectCreated:Put`.
    pub event_name: Option<String>,
    /// The key exactly as the event sent it, tried when the decoded key does not exist (for
    /// envelopes whose key encoding is not certain).
    pub alternate_key: Option<String>,
}

/// Storage classes S3 knows; `Other` keeps anything newer than this list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StorageClass {
    /// S3 Standard (HEAD omits the header for it).
    Standard,
    /// Reduced redundancy (legacy).
    ReducedRedundancy,
    /// Standard-Infrequent Access.
    StandardIa,
    /// One Zone-Infrequent Access.
    OnezoneIa,
    /// Intelligent-Tiering.
    IntelligentTiering,
    /// Glacier Instant Retrieval.
    GlacierIr,
    /// Glacier Flexible Retrieval.
    Glacier,
    /// Glacier Deep Archive.
    DeepArchive,
    /// A class this build does not know by name.
    Other(String),
}

/// The storage class names a policy may use, in the spelling S3 uses.
pub const KNOWN_STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

impl StorageClass {
    /// Parses S3's spelling; unknown names become `Other`.
    pub fn parse(name: &str) -> Self {
        match name {
            "STANDARD" => Self::Standard,
            "REDUCED_REDUNDANCY" => Self::ReducedRedundancy,
            "STANDARD_IA" => Self::StandardIa,
            "ONEZONE_IA" => Self::OnezoneIa,
            "INTELLIGENT_TIERING" => Self::IntelligentTiering,
            "GLACIER_IR" => Self::GlacierIr,
            "GLACIER" => Self::Glacier,
            "DEEP_ARCHIVE" => Self::DeepArchive,
            other => Self::Other(other.to_owned()),
        }
    }

    /// S3's spelling of the class.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Standard => "STANDARD",
            Self::ReducedRedundancy => "REDUCED_REDUNDANCY",
            Self::StandardIa => "STANDARD_IA",
            Self::OnezoneIa => "ONEZONE_IA",
            Self::IntelligentTiering => "INTELLIGENT_TIERING",
            Self::GlacierIr => "GLACIER_IR",
            Self::Glacier => "GLACIER",
            Self::DeepArchive => "DEEP_ARCHIVE",
            Self::Other(name) => name,
        }
    }

    /// Classes that bill a minimum object size (128 KiB), so tiny objects cost more there.
    pub fn has_minimum_billable_size(&self) -> bool {
        matches!(self, Self::StandardIa | Self::OnezoneIa | Self::GlacierIr)
    }

    /// Classes whose objects cannot be copied until restored.
    pub fn is_archive(&self) -> bool {
        matches!(self, Self::Glacier | Self::DeepArchive)
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StorageClass {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Server-side encryption as HEAD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "algorithm")]
pub enum ActualEncryption {
    /// No SSE header was reported (some emulators; real S3 always reports one since 2023).
    #[default]
    #[serde(rename = "none")]
    NotReported,
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS with the key S3 reports (an ARN on real S3).
    #[serde(rename = "aws:kms")]
    Kms {
        /// Key id as reported.
        key_id: Option<String>,
        /// Whether an S3 Bucket Key was used.
        bucket_key: bool,
    },
    /// Anything else (DSSE-KMS, SSE-C, future algorithms): left untouched by plans.
    #[serde(rename = "other")]
    Other {
        /// The algorithm name S3 reported.
        name: String,
    },
}

/// Archive state of an object that needs a restore before it can be copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ArchiveState {
    /// In GLACIER/DEEP_ARCHIVE, or an Intelligent-Tiering archive tier, and not restored.
    Archived,
    /// A restore is in progress.
    Restoring,
}

/// The actual state of one object version, from HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Which object this is, with the version id HEAD reported.
    pub location: ObjectLocation,
    /// ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Last-Modified, seconds since the epoch.
    pub last_modified: Option<i64>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Storage class (STANDARD when HEAD omits it).
    pub storage_class: StorageClass,
    /// Server-side encryption.
    pub encryption: ActualEncryption,
    /// Number of tags, when S3 reports it.
    pub tag_count: Option<u32>,
    /// Set when the object cannot be copied until restored.
    pub archive: Option<ArchiveState>,
    /// Website redirect location, which a copy would otherwise drop.
    pub website_redirect: Option<String>,
    /// A checksum of the object's bytes (independent of encryption), when S3 has one.
    pub checksum: Option<Checksum>,
    /// User metadata (`x-amz-meta-*`), which a multipart copy must restate.
    pub metadata: BTreeMap<String, String>,
    /// Content headers other than Content-Type, which a multipart copy must restate.
    pub content_headers: ContentHeaders,
    /// Intelligent-Tiering archive tier (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`), if in one.
    pub archive_access_tier: Option<String>,
    /// Object Lock retention or legal hold: as HEAD reports it, then, where HEAD's silence is
    /// no evidence, as the bucket and the object say ([`ObjectLock`]).
    pub object_lock: ObjectLock,
}

/// What is known of an object version's Object Lock retention and legal hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ObjectLock {
    /// HEAD reported neither. S3 also leaves them out when the caller may not read them, so
    /// this is not evidence of "unlocked"; a rewrite is held back until it is resolved.
    #[default]
    NotReported,
    /// Neither a retention nor a legal hold (the role may read them, the bucket has no Object
    /// Lock, or GetObjectRetention and GetObjectLegalHold said so).
    Unlocked,
    /// A retention or legal hold, in words, e.g. `COMPLIANCE retention until 2030-01-01T…`.
    Locked(String),
    /// It could not be found out, and why.
    Unknown(String),
}

/// Content headers a multipart copy must set explicitly (a single CopyObject copies them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContentHeaders {
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Expires, as S3 sent it.
    pub expires: Option<String>,
}

/// A content checksum S3 stores with an object, e.g. `CRC64NVME` = base64 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Algorithm name as S3 spells it.
    pub algorithm: &'static str,
    /// The base64 value (composite checksums end in `-N`).
    pub value: String,
    /// A checksum of the whole object's bytes (`FULL_OBJECT`), comparable with any other
    /// object's of the same algorithm; a composite one (`COMPOSITE`, a checksum of the parts'
    /// checksums) depends on the part layout too.
    pub full_object: bool,
}

impl Checksum {
    /// A checksum whose type S3 did not say: composite values end in `-<parts>`.
    pub fn new(algorithm: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        Self {
            algorithm,
            full_object: !value.contains('-'),
            value,
        }
    }
}

/// Every checksum algorithm S3 has, as S3 spells them, in the order HEAD's fields are read.
pub const CHECKSUM_ALGORITHMS: [&str; 10] = [
    "CRC64NVME",
    "CRC32",
    "CRC32C",
    "SHA1",
    "SHA256",
    "SHA512",
    "MD5",
    "XXHASH3",
    "XXHASH64",
    "XXHASH128",
];

/// The two ways S3 checksums a multipart object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    /// A checksum of the whole object's bytes, whatever the parts (`FULL_OBJECT`).
    FullObject,
    /// A checksum of the parts' checksums (`COMPOSITE`, value `…-<parts>`).
    Composite,
}

/// The checksum type a multipart upload of `algorithm` gets. Only a CRC of the whole object can
/// be computed from the CRCs of its parts, so S3 keeps full-object checksums for the CRCs
/// (CRC64NVME has no other); the hashes (SHA-1, SHA-256, SHA-512, MD5) and the XXHASH family
/// are composite on a multipart object.
pub fn checksum_type_for_multipart(algorithm: &str) -> ChecksumKind {
    if algorithm.starts_with("CRC") {
        ChecksumKind::FullObject
    } else {
        ChecksumKind::Composite
    }
}

/// Removes the quotes S3 puts around ETags.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

/// The `AllUsers` group: anyone on the internet.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The `AuthenticatedUsers` group: any AWS account.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// An object ACL.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Acl {
    /// Canonical id of the owner.
    pub owner_id: Option<String>,
    /// The grants.
    pub grants: Vec<Grant>,
}

/// One ACL grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP` or `FULL_CONTROL`.
    pub permission: String,
}

/// The receiver of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id")]
pub enum Grantee {
    /// An account by canonical id.
    CanonicalUser(String),
    /// A predefined group by URI.
    Group(String),
    /// An account by e-mail address (legacy).
    Email(String),
}

impl Acl {
    /// Whether a grant makes the object readable or writable by everyone or every AWS account.
    pub fn is_public(grant: &Grant) -> bool {
        matches!(&grant.grantee, Grantee::Group(uri) if uri == ALL_USERS || uri == AUTHENTICATED_USERS)
    }

    /// The ACL without its public grants, if it has any.
    pub fn without_public_grants(&self) -> Option<Acl> {
        if !self.grants.iter().any(Self::is_public) {
            return None;
        }
        Some(Acl {
            owner_id: self.owner_id.clone(),
            grants: self
                .grants
                .iter()
                .filter(|g| !Self::is_public(g))
                .cloned()
                .collect(),
        })
    }
}
