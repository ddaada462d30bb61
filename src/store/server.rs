//! What the S3 server is trusted to do beyond answering each request: S3 itself does both of
//! these, some S3-compatible servers do not, and getting either wrong costs data (tags
//! replaced, a backup overwritten), so each is a setting with S3's behaviour as the default.

/// Behaviours of the S3 server that save requests when it has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSupport {
    /// HEAD sends `x-amz-tagging-count` whenever an object has tags, so its absence means no
    /// tags and GetObjectTagging can be skipped (`S3_HEAD_REPORTS_TAG_COUNT`).
    pub head_reports_tag_count: bool,
    /// CopyObject honours `If-None-Match: *` (412 when an object is at the destination), so
    /// the backup copy can be made without a HEAD of the backup first (`S3_COPY_IF_NONE_MATCH`).
    pub copy_if_none_match: bool,
}

impl ServerSupport {
    /// Amazon S3's behaviour: both.
    pub const S3: Self = Self {
        head_reports_tag_count: true,
        copy_if_none_match: true,
    };
    /// Trusts neither: a request more per object, correct on any S3-compatible server.
    pub const MINIMAL: Self = Self {
        head_reports_tag_count: false,
        copy_if_none_match: false,
    };
}

impl Default for ServerSupport {
    fn default() -> Self {
        Self::S3
    }
}
