//! S3 Inventory reports read in the function's terms, for backfills planned before anything is
//! invoked: [`manifest`] (the delivery's `manifest.json`, its checksum and its files), [`columns`]
//! (which fields the report has, whatever the format), [`csv_rows`] and [`parquet_rows`] (one
//! row at a time, memory independent of the row count), [`judge`] (each row through the same
//! rule matching and the same [`crate::plan::plan`] as the function), [`drift`] (objects and
//! bytes per rule, outcome and reason), [`prices`] and [`cost`] (what bringing them in line
//! costs), [`job`] (the S3 Batch Operations `CreateJob` input for the objects that need work).

pub mod columns;
pub mod cost;
pub mod csv_rows;
pub mod drift;
pub mod job;
pub mod judge;
pub mod judge_cache;
pub mod manifest;
pub mod parquet_rows;
pub mod prices;
pub mod verdict;

use std::borrow::Cow;

/// Why an inventory cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// `manifest.json` is not an inventory manifest.
    #[error("not an S3 Inventory manifest.json: {0}")]
    Manifest(String),
    /// `manifest.json` does not hash to what `manifest.checksum` says.
    #[error(
        "manifest.json has MD5 {actual}, but manifest.checksum says {expected}; the delivery is incomplete or the files are not from one delivery"
    )]
    ManifestChecksum {
        /// What manifest.checksum says.
        expected: String,
        /// What manifest.json hashes to.
        actual: String,
    },
    /// A data file is not the one the manifest lists.
    #[error(
        "inventory file {key}: MD5 {actual}, but manifest.json says {expected}; the file is incomplete or not this delivery's"
    )]
    FileChecksum {
        /// The file's key.
        key: String,
        /// What manifest.json states.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// A field the judge cannot do without is not in the report.
    #[error(
        "the inventory has no {0} field; add it to the inventory configuration's optional fields (or use the stack's SourceInventory, which has every field the judge reads)"
    )]
    MissingField(&'static str),
    /// The file format is one this build does not read.
    #[error("inventory format {0:?} is not read; use CSV or Parquet (SourceInventoryFormat)")]
    Format(String),
    /// A data file cannot be decoded (not gzip, not Parquet, truncated).
    #[error("inventory file {file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// When an object version was last modified, as the format states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp<'a> {
    /// CSV: ISO 8601 text (`2026-01-02T03:04:05.000Z`).
    Text(&'a str),
    /// Parquet: milliseconds since the epoch.
    Millis(i64),
}

impl Timestamp<'_> {
    /// Seconds since the epoch, when the text is a date.
    pub fn epoch_seconds(&self) -> Option<i64> {
        match self {
            Self::Millis(ms) => Some(ms.div_euclid(1000)),
            Self::Text(text) => aws_sdk_s3::primitives::DateTime::from_str(
                text,
                aws_sdk_s3::primitives::DateTimeFormat::DateTime,
            )
            .ok()
            .map(|t| t.secs()),
        }
    }
}

/// One row of an inventory: one object version. A field is `None` when the report does not
/// have it, and `Some("")` when it has it but the object has no value (e.g. no Object Lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// The key, decoded (CSV reports URL-encode it).
    pub key: Cow<'a, str>,
    /// Version id (reports of versioned buckets, with all versions).
    pub version_id: Option<&'a str>,
    /// Whether this is the current version.
    pub is_latest: Option<bool>,
    /// Whether this version is a delete marker.
    pub is_delete_marker: Option<bool>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Last modified.
    pub last_modified: Option<Timestamp<'a>>,
    /// ETag (no quotes).
    pub etag: Option<&'a str>,
    /// Storage class.
    pub storage_class: Option<&'a str>,
    /// Whether it was uploaded in parts.
    pub multipart: Option<bool>,
    /// `NOT-SSE`, `SSE-S3`, `SSE-KMS`, `DSSE-KMS` or `SSE-C`.
    pub encryption_status: Option<&'a str>,
    /// Object Lock retain-until date.
    pub lock_retain_until: Option<Timestamp<'a>>,
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub lock_mode: Option<&'a str>,
    /// `ON` or `OFF`.
    pub legal_hold: Option<&'a str>,
    /// Intelligent-Tiering access tier.
    pub access_tier: Option<&'a str>,
    /// `ENABLED` or `DISABLED`.
    pub bucket_key_status: Option<&'a str>,
    /// The checksum algorithm of the object's checksum.
    pub checksum_algorithm: Option<&'a str>,
}
