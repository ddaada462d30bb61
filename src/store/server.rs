//! What the S3 server, and the role the function runs as, are trusted to do beyond answering
//! each request. Each is a setting, because getting one wrong costs data (tags replaced, a
//! locked object rewritten, a backup overwritten), and each default is the one that is safe
//! whatever the role: S3 leaves a header out both when there is nothing to report and when the
//! caller may not read it, so only the deployment that grants the read permissions can say
//! that an absent header means "none".

/// Behaviours of the S3 server and the role that save requests when they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSupport {
    /// HEAD sends `x-amz-tagging-count` whenever an object has tags, *and the role may read
    /// them* (`s3:GetObjectTagging`), so its absence means no tags and GetObjectTagging can
    /// be skipped (`S3_HEAD_REPORTS_TAG_COUNT`; the template sets it beside the grant).
    pub head_reports_tag_count: bool,
    /// HEAD sends the Object Lock headers whenever an object has a retention or legal hold,
    /// *and the role may read them* (`s3:GetObjectRetention`, `s3:GetObjectLegalHold`), so
    /// their absence means unlocked (`S3_HEAD_REPORTS_OBJECT_LOCK`; the template sets it
    /// beside the grants). Otherwise a rewrite first asks the bucket and the object.
    pub head_reports_object_lock: bool,
    /// CopyObject honours `If-None-Match: *` (412 when an object is at the destination), so
    /// the backup copy can be made without a HEAD of the backup first (`S3_COPY_IF_NONE_MATCH`).
    pub copy_if_none_match: bool,
    /// The server implements UpdateObjectEncryption (`S3_UPDATE_OBJECT_ENCRYPTION`; by default
    /// only Amazon S3's own endpoints are trusted with it). A server that does not may take
    /// `PUT /{key}?encryption` for a PutObject and replace the object's bytes with the request
    /// body (moto 5.2.5 does), so it is never sent where this is not known.
    pub update_object_encryption: bool,
    /// The server keeps object annotations and implements their operations
    /// (`S3_OBJECT_ANNOTATIONS`; by default only Amazon S3's own endpoints). When it does not,
    /// objects there have none, and no annotation request is sent: a server that does not know
    /// `?annotation` may take a PutObjectAnnotation for a PutObject.
    pub object_annotations: bool,
}

impl ServerSupport {
    /// Amazon S3, with a role whose read permissions are not known: conditional copies, but
    /// no trust in absent headers.
    pub const S3: Self = Self {
        head_reports_tag_count: false,
        head_reports_object_lock: false,
        copy_if_none_match: true,
        update_object_encryption: true,
        object_annotations: true,
    };
    /// Amazon S3 with a role that may read tags, retention and legal holds (the template's).
    pub const S3_WITH_READS: Self = Self {
        head_reports_tag_count: true,
        head_reports_object_lock: true,
        copy_if_none_match: true,
        update_object_encryption: true,
        object_annotations: true,
    };
    /// Trusts nothing: a request more per object, correct on any S3-compatible server.
    pub const MINIMAL: Self = Self {
        head_reports_tag_count: false,
        head_reports_object_lock: false,
        copy_if_none_match: false,
        update_object_encryption: false,
        object_annotations: false,
    };
}

impl Default for ServerSupport {
    fn default() -> Self {
        Self::S3
    }
}
