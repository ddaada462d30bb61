//! The record a backup carries of the object it was copied from: the source bucket, version
//! and ETag, as user metadata on the backup (`x-amz-meta-s3pp-source-*`). It is written with
//! the copy itself (a copy that restates the source's metadata with the record added), so a
//! backup never exists without it, and it is what tells, later, whether an object at a backup
//! location is a backup of this source — and of which write of it — or somebody else's data.
//!
//! The source key is not recorded: the backup's key is the source key under a prefix that
//! names the source bucket where several buckets share a backup bucket, and the policy is
//! refused at cold start when two sources could map to one key. Nothing is ever added to a
//! source object's own metadata: in-place rewrites copy the metadata as it is.

use std::collections::BTreeMap;

use crate::object::ObjectHead;

/// Metadata key of the source bucket's name.
pub const SOURCE_BUCKET: &str = "s3pp-source-bucket";
/// Metadata key of the source version id (absent for unversioned sources).
pub const SOURCE_VERSION: &str = "s3pp-source-version-id";
/// Metadata key of the source ETag (without quotes).
pub const SOURCE_ETAG: &str = "s3pp-source-etag";

/// S3's limit on user metadata: 2 KB, counted over keys (with their `x-amz-meta-` prefix, to
/// be safe) and values in UTF-8.
pub const METADATA_LIMIT: usize = 2048;

/// Which write of which source a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// The source bucket.
    pub bucket: String,
    /// The source version, in versioned buckets.
    pub version_id: Option<String>,
    /// The source ETag, without quotes.
    pub etag: String,
}

impl SourceRecord {
    /// The record of a copy of `head`.
    pub fn of(head: &ObjectHead) -> Self {
        Self {
            bucket: head.location.bucket.clone(),
            version_id: head.location.version_id.clone(),
            etag: head.etag.clone(),
        }
    }

    /// The record in an object's metadata, if it carries one (bucket and ETag at least).
    pub fn read(metadata: &BTreeMap<String, String>) -> Option<Self> {
        Some(Self {
            bucket: metadata.get(SOURCE_BUCKET)?.clone(),
            version_id: metadata.get(SOURCE_VERSION).cloned(),
            etag: metadata.get(SOURCE_ETAG)?.clone(),
        })
    }

    /// `metadata` (a source's own, which may carry an older record if it was restored from a
    /// backup) with this record in it instead; `None` when the result would exceed S3's 2 KB
    /// metadata limit (the copy is then made without a record, and says so).
    pub fn stamp(&self, metadata: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
        let mut stamped = without_record(metadata);
        stamped.insert(SOURCE_BUCKET.into(), self.bucket.clone());
        stamped.insert(SOURCE_ETAG.into(), self.etag.clone());
        if let Some(version) = &self.version_id {
            stamped.insert(SOURCE_VERSION.into(), version.clone());
        }
        (metadata_size(&stamped) <= METADATA_LIMIT).then_some(stamped)
    }

    /// Whether this record names the write `head` describes: the same bucket and ETag (an
    /// object's ETag changes with every write of its key; a version id, where both have one,
    /// must agree too).
    pub fn names(&self, head: &ObjectHead) -> bool {
        self.bucket == head.location.bucket
            && self.etag == head.etag
            && match (&self.version_id, &head.location.version_id) {
                (Some(recorded), Some(version)) => recorded == version,
                _ => true,
            }
    }
}

/// `metadata` without the record's keys: what the source itself carried.
pub fn without_record(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter(|(key, _)| ![SOURCE_BUCKET, SOURCE_VERSION, SOURCE_ETAG].contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// User metadata size as S3 limits it (keys counted with their `x-amz-meta-` prefix).
fn metadata_size(metadata: &BTreeMap<String, String>) -> usize {
    metadata
        .iter()
        .map(|(k, v)| "x-amz-meta-".len() + k.len() + v.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectLocation;

    fn head(version: Option<&str>, etag: &str) -> ObjectHead {
        ObjectHead {
            location: ObjectLocation {
                bucket: "src".into(),
                key: "k".into(),
                version_id: version.map(str::to_owned),
            },
            etag: etag.into(),
            size: 1,
            last_modified: None,
            content_type: None,
            storage_class: crate::object::StorageClass::Standard,
            encryption: Default::default(),
            tag_count: None,
            archive: None,
            website_redirect: None,
            checksum: None,
            metadata: BTreeMap::new(),
            content_headers: Default::default(),
            archive_access_tier: None,
            object_lock: Default::default(),
        }
    }

    #[test]
    fn a_record_round_trips_through_metadata_and_replaces_an_older_one() {
        let own: BTreeMap<String, String> = [
            ("origin".to_owned(), "camera".to_owned()),
            (SOURCE_ETAG.to_owned(), "from-an-older-backup".to_owned()),
        ]
        .into();
        let record = SourceRecord::of(&head(Some("v2"), "e2"));
        let stamped = record.stamp(&own).unwrap();
        assert_eq!(SourceRecord::read(&stamped), Some(record.clone()));
        assert_eq!(stamped["origin"], "camera");
        assert_eq!(without_record(&stamped).len(), 1);
        assert!(record.names(&head(Some("v2"), "e2")));
        assert!(!record.names(&head(Some("v3"), "e2")), "another version");
        assert!(!record.names(&head(Some("v2"), "e3")), "another write");
        assert_eq!(SourceRecord::read(&own), None, "no bucket: no record");
    }

    #[test]
    fn a_record_that_would_break_the_metadata_limit_is_not_written() {
        let full: BTreeMap<String, String> = [("big".to_owned(), "x".repeat(1990))].into();
        assert_eq!(SourceRecord::of(&head(None, "e")).stamp(&full), None);
    }
}
