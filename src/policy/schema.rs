//! The JSON Schema of the policy document, generated from the types the parser reads
//! ([`super::document`]) so it cannot drift from what is accepted. The shorthand forms
//! (`encryption: AES256` or a mapping, `backup: bucket-name` or a mapping, one content type or a
//! list) are spelled out with the helper types below. `s3pp schema` prints it; a copy is
//! committed as `schema/policy.schema.json` for editors (YAML language server `$schema`).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

use super::document::{RawBackup, RawDocument, RawEncryption, RawRule};

/// The whole document: rules under `rules:`, or one catch-all rule written without it.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(
    title = "s3-policy-processor policy",
    description = "The policy document of s3-policy-processor: the encryption, storage class, backup copy and tags S3 objects must have. Either a mapping with `rules` (first match wins) or the fields of one rule that covers every object."
)]
#[allow(dead_code, clippy::large_enum_variant)] // never built: only its schema is used
enum PolicyDocument {
    /// A list of rules and global settings.
    Rules(RawDocument),
    /// One rule that covers every object.
    OneRule(RawRule),
}

/// Encryption: an algorithm name, or a mapping with algorithm, key and bucket key.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum EncryptionDoc {
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS with any key).
    Algorithm(Algorithm),
    /// The full form.
    Mapping(RawEncryption),
}

/// Encryption algorithms (S3's names and the SSE-* aliases).
#[derive(JsonSchema)]
#[allow(dead_code)]
pub(super) enum Algorithm {
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-S3.
    #[serde(rename = "SSE-S3")]
    SseS3,
    /// SSE-S3.
    #[serde(rename = "sse-s3")]
    SseS3Lower,
    /// SSE-KMS.
    #[serde(rename = "aws:kms")]
    AwsKms,
    /// SSE-KMS.
    #[serde(rename = "SSE-KMS")]
    SseKms,
    /// SSE-KMS.
    #[serde(rename = "sse-kms")]
    SseKmsLower,
}

/// Backup: a bucket name, or a mapping.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum BackupDoc {
    /// The backup bucket (copies keep the source key, class STANDARD).
    Bucket(String),
    /// The full form.
    Mapping(RawBackup),
}

/// One content type or a list of them.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum ContentTypeDoc {
    /// One content type, e.g. `text/csv` or `text/*`.
    One(String),
    /// Any of these.
    Many(Vec<String>),
}

/// Storage classes a policy may name.
#[derive(JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub(super) enum StorageClassName {
    /// S3 Standard.
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
}

/// Restore retrieval tiers.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub(super) enum RestoreTier {
    /// Standard retrieval.
    Standard,
    /// Bulk retrieval (cheapest).
    Bulk,
    /// Expedited retrieval (not for DEEP_ARCHIVE).
    Expedited,
}

/// The policy document's JSON Schema (draft-07, which editors and the YAML language server
/// support best), as pretty-printed JSON text with a trailing newline.
pub fn policy_schema() -> String {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<PolicyDocument>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_spells_out_the_shorthand_forms() {
        let schema: serde_json::Value = serde_json::from_str(&policy_schema()).unwrap();
        let text = schema.to_string();
        for needle in [
            "\"AES256\"",
            "\"aws:kms\"",
            "\"STANDARD_IA\"",
            "\"match\"",
            "\"rules\"",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert!(schema["anyOf"].as_array().is_some_and(|a| a.len() == 2));
    }
}
