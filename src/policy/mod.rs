//! The policy: typed, validated rules that say what a compliant object looks like, and how an
//! object is matched to its rule. Parsing lives in [`document`]; KMS key comparison in [`kms`].

pub mod backup_location;
pub mod document;
pub mod kms;
pub mod schema;

use crate::object::{ObjectHead, StorageClass, Tags};

pub use backup_location::BackupPrefix;
pub use document::PolicyError;
pub use kms::KmsKey;

/// Default minimum size for moving an object into a class with a 128 KiB minimum billable size.
pub const DEFAULT_IA_MIN_SIZE: u64 = 128 * 1024;

/// The whole policy: ordered rules (first match wins) and global settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Rules in document order.
    pub rules: Vec<Rule>,
    /// Plan and report, but write nothing.
    pub dry_run: bool,
    /// Objects smaller than this are not moved into STANDARD_IA, ONEZONE_IA or GLACIER_IR.
    pub ia_min_size: u64,
}

/// One rule: which objects it covers and what they must look like.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Name used in logs and reports.
    pub name: String,
    /// Which objects the rule covers.
    pub matcher: Matcher,
    /// Required encryption, if any.
    pub encryption: Option<EncryptionSpec>,
    /// Required storage class, if any.
    pub storage_class: Option<StorageClass>,
    /// Backup copy to keep, if any.
    pub backup: Option<BackupSpec>,
    /// Tags the object must carry (other tags are kept).
    pub tags: Tags,
    /// Request a restore of archived objects (instead of only skipping them).
    pub restore: Option<RestoreSpec>,
    /// Remove `AllUsers` / `AuthenticatedUsers` grants from object ACLs.
    pub remove_public_acl: bool,
}

/// How to restore archived objects so they can be brought into policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestoreSpec {
    /// Days the restored copy stays available.
    pub days: i32,
    /// Retrieval tier: `Standard`, `Bulk` or `Expedited`.
    pub tier: String,
}

/// Conditions an object must meet for a rule to apply; all given conditions must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matcher {
    /// Bucket names; empty means any bucket.
    pub buckets: Vec<String>,
    /// Key prefix.
    pub prefix: Option<String>,
    /// Key suffix.
    pub suffix: Option<String>,
    /// Smallest size in bytes (inclusive).
    pub min_size: Option<u64>,
    /// Largest size in bytes (inclusive).
    pub max_size: Option<u64>,
    /// Content types; `type/*` matches a whole family; empty means any.
    pub content_types: Vec<String>,
}

/// Desired server-side encryption.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "algorithm")]
pub enum EncryptionSpec {
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS; with no key, any KMS key complies and S3's default `aws/s3` key is used.
    #[serde(rename = "aws:kms")]
    Kms {
        /// The key to use.
        #[serde(rename = "kms_key_id", skip_serializing_if = "Option::is_none")]
        key: Option<KmsKey>,
        /// Require the S3 Bucket Key on (`Some(true)`) or off (`Some(false)`).
        #[serde(skip_serializing_if = "Option::is_none")]
        bucket_key: Option<bool>,
    },
}

/// Where and how to keep a backup copy.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSpec {
    /// Destination bucket.
    pub bucket: String,
    /// Prefix put in front of the source key; may name the source bucket (`{bucket}/`).
    pub prefix: BackupPrefix,
    /// Storage class of the copy (STANDARD when unset).
    pub storage_class: Option<StorageClass>,
    /// Encryption of the copy (the backup bucket's default when unset).
    pub encryption: Option<EncryptionSpec>,
    /// Back up every version an event names, even one no longer current (versioned buckets).
    pub all_versions: bool,
    /// In a backup bucket without versioning, replace an object at a backup key that carries
    /// no source record (a backup made before backups were recorded); otherwise it is kept.
    pub replace_unrecorded: bool,
    /// The backup bucket's region, when known (skips discovery).
    pub region: Option<String>,
    /// The account that must own the backup bucket (`ExpectedBucketOwner` on every request).
    pub expected_owner: Option<String>,
}

impl BackupSpec {
    /// The backup key of the source object `source_bucket/source_key`.
    pub fn key_for(&self, source_bucket: &str, source_key: &str) -> String {
        self.prefix.key_for(source_bucket, source_key)
    }

    /// Whether `bucket/key` lies in this backup location (is a backup, for some source).
    pub fn holds(&self, bucket: &str, key: &str) -> bool {
        self.bucket == bucket && self.prefix.holds(key)
    }
}

impl Matcher {
    /// Whether bucket and key allow a match (checked before any S3 call).
    pub fn matches_key(&self, bucket: &str, key: &str) -> bool {
        (self.buckets.is_empty() || self.buckets.iter().any(|b| b == bucket))
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    /// Whether an object of this bucket, key and size matches, when these decide it: `None`
    /// when the matcher also names content types, which only HEAD tells.
    pub fn matches_key_and_size(&self, bucket: &str, key: &str, size: u64) -> Option<bool> {
        if !self.matches_key(bucket, key) {
            return Some(false);
        }
        if !self.content_types.is_empty() {
            return None;
        }
        Some(
            self.min_size.is_none_or(|min| size >= min)
                && self.max_size.is_none_or(|max| size <= max),
        )
    }

    /// Whether the object as HEAD reports it matches every condition.
    pub fn matches(&self, head: &ObjectHead) -> bool {
        self.matches_key(&head.location.bucket, &head.location.key)
            && self.min_size.is_none_or(|min| head.size >= min)
            && self.max_size.is_none_or(|max| head.size <= max)
            && (self.content_types.is_empty()
                || head.content_type.as_deref().is_some_and(|ct| {
                    self.content_types
                        .iter()
                        .any(|p| content_type_matches(p, ct))
                }))
    }
}

/// `text/*` matches `text/csv`; otherwise the media type (before any `;`) must be equal.
fn content_type_matches(pattern: &str, content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_suffix("/*") {
        Some(family) => media_type.split('/').next() == Some(family),
        None => media_type == pattern,
    }
}

impl Policy {
    /// Whether some rule could apply to this bucket and key (so a HEAD is worth making).
    pub fn may_cover(&self, bucket: &str, key: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.matcher.matches_key(bucket, key))
    }

    /// The rule whose backup location holds `bucket/key`, if any: such objects are backups,
    /// and the function leaves them as they were copied (a rule that covered them would
    /// otherwise back up its own backups, or rewrite them).
    pub fn backup_rule_for(&self, bucket: &str, key: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.backup.as_ref().is_some_and(|b| b.holds(bucket, key)))
    }

    /// The first rule that matches the object, if any.
    pub fn rule_for(&self, head: &ObjectHead) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(head))
    }

    /// The rule [`Policy::rule_for`] picks for an object of this bucket, key and size, when
    /// these decide it (as an event tells them, before any HEAD); `None` when no rule matches
    /// or one that might match looks at the content type.
    pub fn rule_before_head(&self, bucket: &str, key: &str, size: u64) -> Option<&Rule> {
        match self.rule_by_key_and_size(bucket, key, size) {
            KeyAndSizeMatch::Rule(rule) => Some(rule),
            KeyAndSizeMatch::NeedsContentType(_) | KeyAndSizeMatch::NoRule => None,
        }
    }

    /// What bucket, key and size alone tell of the rule [`Policy::rule_for`] picks: the rule, or
    /// the first rule that might match but looks at the content type, or that no rule matches.
    pub fn rule_by_key_and_size(&self, bucket: &str, key: &str, size: u64) -> KeyAndSizeMatch<'_> {
        for rule in &self.rules {
            match rule.matcher.matches_key_and_size(bucket, key, size) {
                Some(true) => return KeyAndSizeMatch::Rule(rule),
                Some(false) => {}
                None => return KeyAndSizeMatch::NeedsContentType(rule),
            }
        }
        KeyAndSizeMatch::NoRule
    }

    /// Every KMS key the policy names, for resolution at cold start.
    pub fn kms_keys_mut(&mut self) -> impl Iterator<Item = &mut KmsKey> {
        self.rules.iter_mut().flat_map(|rule| {
            let own = rule.encryption.as_mut();
            let backup = rule.backup.as_mut().and_then(|b| b.encryption.as_mut());
            own.into_iter().chain(backup).filter_map(|spec| match spec {
                EncryptionSpec::Kms { key, .. } => key.as_mut(),
                EncryptionSpec::Aes256 => None,
            })
        })
    }
}

/// What bucket, key and size alone tell of an object's rule ([`Policy::rule_by_key_and_size`]).
#[derive(Debug, Clone, Copy)]
pub enum KeyAndSizeMatch<'a> {
    /// This rule applies.
    Rule(&'a Rule),
    /// This rule, the first that might, applies only if the content type matches (which only
    /// HEAD tells).
    NeedsContentType(&'a Rule),
    /// No rule applies.
    NoRule,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_patterns() {
        assert!(content_type_matches("text/csv", "text/csv; charset=utf-8"));
        assert!(content_type_matches("text/*", "TEXT/plain"));
        assert!(!content_type_matches("text/*", "application/json"));
        assert!(!content_type_matches("text/csv", "text/csvx"));
    }
}
