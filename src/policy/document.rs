//! The policy document (JSON or YAML) and its validation into a typed [`Policy`].
//!
//! Every error names the field it is about (`rules[1].backup.bucket`) and says how to fix it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::backup_location::check_distinct_backup_keys;
use super::{
    BackupPrefix, BackupSpec, DEFAULT_IA_MIN_SIZE, EncryptionSpec, KmsKey, Matcher, Policy,
    RestoreSpec, Rule,
};
use crate::object::{KNOWN_STORAGE_CLASSES, MAX_TAGS, StorageClass, Tags};

/// Why a policy document was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The text is not valid JSON/YAML or does not have the policy's shape.
    #[error("policy document is not valid {format}: {message}")]
    Syntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The parser's message, with field path and position where known.
        message: String,
    },
    /// A field has a value the policy cannot use.
    #[error("policy field `{field}`: {problem}")]
    Invalid {
        /// Path to the field, e.g. `rules[0].storage_class`.
        field: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

// The raw document types also derive `JsonSchema` (see `super::schema`): fields that accept
// a shorthand (a string or a mapping) are `Value` here and say their real shape with
// `schemars(with)`, so `s3pp schema` describes what this parser accepts.

/// A policy with a list of rules (first match wins).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Document")]
pub(super) struct RawDocument {
    /// Rules in order; the first rule that matches an object applies to it.
    #[schemars(length(min = 1))]
    rules: Vec<RawRule>,
    /// Plan and report, but write nothing.
    #[serde(default)]
    dry_run: bool,
    /// Objects smaller than this (bytes) are not moved into STANDARD_IA, ONEZONE_IA or
    /// GLACIER_IR (default 131072).
    ia_min_size: Option<u64>,
}

/// One rule: which objects it covers and what they must look like.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rule")]
pub(super) struct RawRule {
    /// Name shown in logs and reports (default `rule-<index>`); unique.
    name: Option<String>,
    /// Conditions an object must meet; all given conditions must hold.
    #[serde(rename = "match", default)]
    matcher: RawMatch,
    /// Required encryption: `AES256`, `aws:kms`, or a mapping.
    #[schemars(with = "Option<super::schema::EncryptionDoc>")]
    encryption: Option<Value>,
    /// Required storage class.
    #[schemars(with = "Option<super::schema::StorageClassName>")]
    storage_class: Option<String>,
    /// Backup copy: a bucket name, or a mapping.
    #[schemars(with = "Option<super::schema::BackupDoc>")]
    backup: Option<Value>,
    /// Tags the object must carry (other tags are kept); at most 10.
    #[serde(default)]
    #[schemars(extend("maxProperties" = 10))]
    tags: BTreeMap<String, String>,
    /// Request a restore of archived objects instead of skipping them.
    restore: Option<RawRestore>,
    /// Remove grants to AllUsers and AuthenticatedUsers from object ACLs.
    #[serde(default)]
    remove_public_acl: bool,
}

/// How to restore archived objects.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Restore")]
pub(super) struct RawRestore {
    /// Days the restored copy stays available (1 to 30000, default 1).
    #[serde(default = "default_restore_days")]
    #[schemars(range(min = 1, max = 30000))]
    days: i32,
    /// Retrieval tier (default Bulk).
    #[serde(default = "default_restore_tier")]
    #[schemars(with = "super::schema::RestoreTier")]
    tier: String,
}

fn default_restore_days() -> i32 {
    1
}

fn default_restore_tier() -> String {
    "Bulk".into()
}

/// Conditions an object must meet for a rule to apply.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Match")]
pub(super) struct RawMatch {
    /// Bucket names the rule covers (default: any).
    #[serde(default)]
    buckets: Vec<String>,
    /// Key prefix (decoded keys).
    prefix: Option<String>,
    /// Key suffix (decoded keys).
    suffix: Option<String>,
    /// Smallest size in bytes (inclusive).
    min_size: Option<u64>,
    /// Largest size in bytes (inclusive).
    max_size: Option<u64>,
    /// A content type or a list of them; `text/*` matches a family.
    #[schemars(with = "Option<super::schema::ContentTypeDoc>")]
    content_type: Option<Value>,
}

/// Encryption as a mapping.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EncryptionMapping")]
pub(super) struct RawEncryption {
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
    #[schemars(with = "super::schema::Algorithm")]
    algorithm: String,
    /// SSE-KMS only: key id, key ARN, alias name (`alias/x`) or alias ARN.
    kms_key_id: Option<String>,
    /// SSE-KMS only: require the S3 Bucket Key on (true) or off (false).
    bucket_key: Option<bool>,
}

/// Backup as a mapping.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BackupMapping")]
pub(super) struct RawBackup {
    /// Destination bucket.
    bucket: String,
    /// Prefix put in front of the source key; `{bucket}` in it stands for the source bucket's
    /// name and must be followed by `/` (default: `{bucket}/` when the rule can match several
    /// buckets, nothing when it names one).
    prefix: Option<String>,
    /// Storage class of the copy (default STANDARD).
    #[schemars(with = "Option<super::schema::StorageClassName>")]
    storage_class: Option<String>,
    /// Encryption of the copy (default: the backup bucket's default).
    #[schemars(with = "Option<super::schema::EncryptionDoc>")]
    encryption: Option<Value>,
    /// Versioned buckets: also back up versions that are no longer current (kept only in a
    /// versioned backup bucket).
    #[serde(default)]
    all_versions: bool,
    /// Backup buckets without versioning: an object at a backup key that carries no source
    /// record (a backup made before backups were recorded) may be replaced (default: kept).
    #[serde(default)]
    replace_unrecorded: bool,
    /// The backup bucket's region, e.g. `eu-west-1` (default: found once at run time).
    region: Option<String>,
    /// The 12-digit account id that must own the backup bucket (sent as ExpectedBucketOwner).
    expected_owner: Option<String>,
}

/// Parses and validates a policy document. JSON is recognised by a leading `{`; anything else
/// is read as YAML. A document without `rules` is one rule that covers every object.
pub fn parse_policy(text: &str) -> Result<Policy, PolicyError> {
    let value = parse_value(text)?;
    let format = if is_json(text) { "JSON" } else { "YAML" };
    let has_rules = value
        .as_mapping()
        .is_some_and(|m| m.contains_key(Value::from("rules")));
    let document = if has_rules {
        from_value::<RawDocument>(value, format, "")?
    } else {
        let rule = from_value::<RawRule>(value, format, "")?;
        RawDocument {
            rules: vec![rule],
            dry_run: false,
            ia_min_size: None,
        }
    };
    validate(document)
}

fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn parse_value(text: &str) -> Result<Value, PolicyError> {
    if text.trim().is_empty() {
        return Err(invalid(
            "(document)",
            "the policy is empty; give at least one rule, e.g. `backup: my-backup-bucket`",
        ));
    }
    if is_json(text) {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?;
        serde_yaml_ng::to_value(json).map_err(|e| PolicyError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| PolicyError::Syntax {
            format: "YAML",
            message: e.to_string(),
        })
    }
}

fn from_value<T: serde::de::DeserializeOwned>(
    value: Value,
    format: &'static str,
    field: &str,
) -> Result<T, PolicyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (field.is_empty(), inner == ".") {
            (true, _) => inner,
            (false, true) => field.to_owned(),
            (false, false) => format!("{field}.{inner}"),
        };
        PolicyError::Syntax {
            format,
            message: format!("at `{path}`: {}", e.into_inner()),
        }
    })
}

fn validate(document: RawDocument) -> Result<Policy, PolicyError> {
    if document.rules.is_empty() {
        return Err(invalid("rules", "the list is empty; add at least one rule"));
    }
    let mut rules = Vec::with_capacity(document.rules.len());
    for (index, raw) in document.rules.into_iter().enumerate() {
        let rule = validate_rule(index, raw)?;
        if rules.iter().any(|r: &Rule| r.name == rule.name) {
            return Err(invalid(
                format!("rules[{index}].name"),
                format!(
                    "`{}` is used by an earlier rule; names must be unique",
                    rule.name
                ),
            ));
        }
        rules.push(rule);
    }
    check_backup_locations(&rules)?;
    check_distinct_backup_keys(&rules).map_err(|shared| {
        invalid(
            format!("rules[{}].backup.prefix", shared.rule),
            shared.problem,
        )
    })?;
    Ok(Policy {
        rules,
        dry_run: document.dry_run,
        ia_min_size: document.ia_min_size.unwrap_or(DEFAULT_IA_MIN_SIZE),
    })
}

fn validate_rule(index: usize, raw: RawRule) -> Result<Rule, PolicyError> {
    let path = format!("rules[{index}]");
    let name = match raw.name {
        Some(name) if name.trim().is_empty() => {
            return Err(invalid(format!("{path}.name"), "must not be empty"));
        }
        Some(name) => name,
        None => format!("rule-{index}"),
    };
    if raw.encryption.is_none()
        && raw.storage_class.is_none()
        && raw.backup.is_none()
        && raw.tags.is_empty()
        && !raw.remove_public_acl
    {
        return Err(invalid(
            &path,
            "the rule requires nothing; give at least one of encryption, storage_class, backup, tags, remove_public_acl",
        ));
    }
    let restore = raw
        .restore
        .map(|r| validate_restore(&format!("{path}.restore"), r))
        .transpose()?;
    let matcher = validate_match(&format!("{path}.match"), raw.matcher)?;
    let encryption = raw
        .encryption
        .map(|v| validate_encryption(&format!("{path}.encryption"), v))
        .transpose()?;
    let storage_class = raw
        .storage_class
        .map(|c| validate_storage_class(&format!("{path}.storage_class"), &c))
        .transpose()?;
    let backup = raw
        .backup
        .map(|v| validate_backup(&format!("{path}.backup"), v, &matcher.buckets))
        .transpose()?;
    let tags = validate_tags(&format!("{path}.tags"), raw.tags)?;
    Ok(Rule {
        name,
        matcher,
        encryption,
        storage_class,
        backup,
        tags,
        restore,
        remove_public_acl: raw.remove_public_acl,
    })
}

fn validate_restore(path: &str, raw: RawRestore) -> Result<RestoreSpec, PolicyError> {
    if !(1..=30_000).contains(&raw.days) {
        return Err(invalid(
            format!("{path}.days"),
            format!("{} is not a number of days from 1 to 30000", raw.days),
        ));
    }
    if !["Standard", "Bulk", "Expedited"].contains(&raw.tier.as_str()) {
        return Err(invalid(
            format!("{path}.tier"),
            format!(
                "unknown tier {:?}; use Standard, Bulk or Expedited",
                raw.tier
            ),
        ));
    }
    Ok(RestoreSpec {
        days: raw.days,
        tier: raw.tier,
    })
}

fn validate_match(path: &str, raw: RawMatch) -> Result<Matcher, PolicyError> {
    for (i, bucket) in raw.buckets.iter().enumerate() {
        check_bucket_name(&format!("{path}.buckets[{i}]"), bucket)?;
    }
    if let (Some(min), Some(max)) = (raw.min_size, raw.max_size)
        && min > max
    {
        return Err(invalid(
            format!("{path}.min_size"),
            format!("{min} is larger than max_size {max}; swap them or drop one"),
        ));
    }
    let content_types = match raw.content_type {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one],
        Some(Value::Sequence(many)) => many
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(invalid(
                    format!("{path}.content_type[{i}]"),
                    format!("expected a content type such as \"text/csv\", found {other:?}"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(invalid(
                format!("{path}.content_type"),
                format!("expected a content type or a list of them, found {other:?}"),
            ));
        }
    };
    Ok(Matcher {
        buckets: raw.buckets,
        prefix: raw.prefix.filter(|p| !p.is_empty()),
        suffix: raw.suffix.filter(|s| !s.is_empty()),
        min_size: raw.min_size,
        max_size: raw.max_size,
        content_types,
    })
}

fn validate_encryption(path: &str, value: Value) -> Result<EncryptionSpec, PolicyError> {
    let raw = match value {
        Value::String(algorithm) => RawEncryption {
            algorithm,
            kms_key_id: None,
            bucket_key: None,
        },
        Value::Mapping(_) => from_value(value, "YAML", path)?,
        other => {
            return Err(invalid(
                path,
                format!(
                    "expected \"AES256\", \"aws:kms\" or a mapping with algorithm, kms_key_id, bucket_key; found {other:?}"
                ),
            ));
        }
    };
    match raw.algorithm.as_str() {
        "AES256" | "SSE-S3" | "sse-s3" => {
            if raw.kms_key_id.is_some() || raw.bucket_key.is_some() {
                return Err(invalid(
                    path,
                    "kms_key_id and bucket_key apply only to algorithm \"aws:kms\"; remove them or change the algorithm",
                ));
            }
            Ok(EncryptionSpec::Aes256)
        }
        "aws:kms" | "SSE-KMS" | "sse-kms" => {
            let key = match raw.kms_key_id {
                Some(id) if id.trim().is_empty() || id.chars().any(char::is_whitespace) => {
                    return Err(invalid(
                        format!("{path}.kms_key_id"),
                        format!(
                            "{id:?} is not a KMS key reference; use a key id, key ARN, or alias such as \"alias/my-key\""
                        ),
                    ));
                }
                Some(id) => Some(KmsKey::new(id)),
                None => None,
            };
            Ok(EncryptionSpec::Kms {
                key,
                bucket_key: raw.bucket_key,
            })
        }
        other => Err(invalid(
            format!("{path}.algorithm"),
            format!(
                "unknown algorithm {other:?}; use \"AES256\" (SSE-S3) or \"aws:kms\" (SSE-KMS)"
            ),
        )),
    }
}

fn validate_storage_class(path: &str, name: &str) -> Result<StorageClass, PolicyError> {
    match StorageClass::parse(name) {
        StorageClass::Other(_) => Err(invalid(
            path,
            format!(
                "unknown storage class {name:?}; use one of {}",
                KNOWN_STORAGE_CLASSES.join(", ")
            ),
        )),
        class => Ok(class),
    }
}

fn validate_backup(
    path: &str,
    value: Value,
    source_buckets: &[String],
) -> Result<BackupSpec, PolicyError> {
    let raw = match value {
        Value::String(bucket) => RawBackup {
            bucket,
            prefix: None,
            storage_class: None,
            encryption: None,
            all_versions: false,
            replace_unrecorded: false,
            region: None,
            expected_owner: None,
        },
        Value::Mapping(_) => from_value(value, "YAML", path)?,
        other => {
            return Err(invalid(
                path,
                format!(
                    "expected a bucket name or a mapping with bucket, prefix, storage_class, encryption, all_versions, replace_unrecorded, region, expected_owner; found {other:?}"
                ),
            ));
        }
    };
    check_bucket_name(&format!("{path}.bucket"), &raw.bucket)?;
    let prefix = match &raw.prefix {
        Some(template) => BackupPrefix::parse(template)
            .map_err(|problem| invalid(format!("{path}.prefix"), problem))?,
        None => BackupPrefix::default_for(source_buckets),
    };
    let storage_class = raw
        .storage_class
        .map(|c| validate_storage_class(&format!("{path}.storage_class"), &c))
        .transpose()?;
    let encryption = raw
        .encryption
        .map(|v| validate_encryption(&format!("{path}.encryption"), v))
        .transpose()?;
    if let Some(region) = &raw.region {
        check_region(&format!("{path}.region"), region)?;
    }
    if let Some(owner) = &raw.expected_owner
        && !(owner.len() == 12 && owner.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(invalid(
            format!("{path}.expected_owner"),
            format!(
                "{owner:?} is not an AWS account id; use the 12 digits of the account that owns the backup bucket"
            ),
        ));
    }
    if let (Some(region), Some(EncryptionSpec::Kms { key: Some(key), .. })) =
        (&raw.region, &encryption)
        && let Some(key_region) = key.region()
        && key_region != region
    {
        return Err(invalid(
            format!("{path}.encryption.kms_key_id"),
            format!(
                "the key is in {key_region} but the backup bucket is in {region}; S3 needs a KMS key in the bucket's own region"
            ),
        ));
    }
    Ok(BackupSpec {
        bucket: raw.bucket,
        prefix,
        storage_class,
        encryption,
        all_versions: raw.all_versions,
        replace_unrecorded: raw.replace_unrecorded,
        region: raw.region,
        expected_owner: raw.expected_owner,
    })
}

/// Characters S3 allows in tag keys and values besides letters, digits and spaces.
const TAG_PUNCTUATION: &str = "_.:/=+-@";

fn validate_tags(path: &str, tags: BTreeMap<String, String>) -> Result<Tags, PolicyError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(
            path,
            format!(
                "{} tags given; S3 allows at most {MAX_TAGS} per object",
                tags.len()
            ),
        ));
    }
    for (key, value) in &tags {
        let field = format!("{path}.{key}");
        check_tag_text(&field, "key", key, 1, 128)?;
        check_tag_text(&field, "value", value, 0, 256)?;
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(
                field,
                format!("tag key {key:?} uses the prefix `aws:`, which S3 reserves for AWS"),
            ));
        }
    }
    Ok(tags)
}

/// S3's tag rules: lengths in UTF-16 code units (as S3 counts them), and only letters, digits,
/// spaces and `_ . : / = + - @`. Anything else is refused by S3 with `InvalidTag` on every
/// object, so it is refused here, at cold start.
fn check_tag_text(
    field: &str,
    what: &str,
    text: &str,
    min: usize,
    max: usize,
) -> Result<(), PolicyError> {
    let length = text.encode_utf16().count();
    if length < min || length > max {
        return Err(invalid(
            field,
            format!("tag {what} {text:?} is {length} UTF-16 units long; S3 allows {min} to {max}"),
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == ' ' || TAG_PUNCTUATION.contains(*c)))
    {
        return Err(invalid(
            field,
            format!(
                "tag {what} {text:?} contains {bad:?}; S3 allows only letters, digits, spaces and _ . : / = + - @"
            ),
        ));
    }
    Ok(())
}

/// Refuses backup locations whose copies another rule (or the same one) would pick up again:
/// copies of copies, until keys reach S3's 1,024-byte limit. Only rules that name their
/// buckets are checked here; for rules that cover any bucket, objects in a backup location
/// are left alone at run time. A backup prefix that names the source bucket is checked for
/// each bucket its rule names, and by the text before `{bucket}` for a rule of any bucket.
fn check_backup_locations(rules: &[Rule]) -> Result<(), PolicyError> {
    for (index, rule) in rules.iter().enumerate() {
        let Some(backup) = &rule.backup else {
            continue;
        };
        let prefixes: Vec<String> =
            if backup.prefix.names_bucket() && !rule.matcher.buckets.is_empty() {
                rule.matcher
                    .buckets
                    .iter()
                    .map(|bucket| backup.prefix.expand(bucket).into_owned())
                    .collect()
            } else {
                vec![backup.prefix.literal_head().to_owned()]
            };
        for (other_index, other) in rules.iter().enumerate() {
            let matcher = &other.matcher;
            if !matcher.buckets.contains(&backup.bucket) {
                continue;
            }
            let prefix = matcher.prefix.as_deref().unwrap_or_default();
            let Some(backup_prefix) = prefixes
                .iter()
                .find(|p| p.starts_with(prefix) || prefix.starts_with(p.as_str()))
            else {
                continue;
            };
            let who = if other_index == index {
                "this rule's own match".to_owned()
            } else {
                format!("rule `{}` (rules[{other_index}].match)", other.name)
            };
            let fix = if backup_prefix.is_empty() {
                "the backup would overwrite the source objects; use another bucket or give a prefix that no rule matches"
            } else {
                "use a backup prefix that no rule matches, or narrow that rule's prefix"
            };
            return Err(invalid(
                format!("rules[{index}].backup.prefix"),
                format!(
                    "backups go to s3://{}/{backup_prefix}…, which {who} also covers, so backups would be processed again (copies of copies); {fix}",
                    backup.bucket
                ),
            ));
        }
    }
    Ok(())
}

/// An AWS region name such as `eu-west-1` or `us-gov-west-1`.
fn check_region(path: &str, region: &str) -> Result<(), PolicyError> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if !well_formed {
        return Err(invalid(
            path,
            format!("{region:?} is not an AWS region name; use one such as \"eu-west-1\""),
        ));
    }
    Ok(())
}

fn check_bucket_name(path: &str, bucket: &str) -> Result<(), PolicyError> {
    let valid_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !(3..=63).contains(&bucket.len()) || !valid_chars {
        return Err(invalid(
            path,
            format!(
                "{bucket:?} is not a bucket name; use 3 to 63 lowercase letters, digits, '-' or '.'"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: PolicyError) -> String {
        match err {
            PolicyError::Invalid { field, .. } => field,
            PolicyError::Syntax { message, .. } => message,
        }
    }

    #[test]
    fn three_line_policy_is_one_catch_all_rule() {
        let policy =
            parse_policy("encryption: AES256\nstorage_class: STANDARD_IA\nbackup: my-backup\n")
                .unwrap();
        assert_eq!(policy.rules.len(), 1);
        let rule = &policy.rules[0];
        assert_eq!(rule.name, "rule-0");
        assert_eq!(rule.encryption, Some(EncryptionSpec::Aes256));
        assert_eq!(rule.storage_class, Some(StorageClass::StandardIa));
        assert_eq!(rule.backup.as_ref().unwrap().bucket, "my-backup");
        assert_eq!(policy.ia_min_size, DEFAULT_IA_MIN_SIZE);
        assert!(!policy.dry_run);
    }

    #[test]
    fn full_yaml_document_parses_every_field() {
        let text = r#"
dry_run: true
ia_min_size: 1
rules:
  - name: reports
    match: { buckets: [src-bucket], prefix: "reports/", suffix: ".csv", min_size: 10, max_size: 20, content_type: "text/*" }
    encryption: { algorithm: "aws:kms", kms_key_id: "alias/reports", bucket_key: true }
    storage_class: STANDARD_IA
    backup: { bucket: "my-backup", prefix: "reports/", storage_class: GLACIER_IR, encryption: AES256 }
    tags: { processed-by: s3-policy-processor }
"#;
        let policy = parse_policy(text).unwrap();
        assert!(policy.dry_run);
        assert_eq!(policy.ia_min_size, 1);
        let rule = &policy.rules[0];
        assert_eq!(rule.matcher.prefix.as_deref(), Some("reports/"));
        assert_eq!(rule.matcher.content_types, vec!["text/*"]);
        assert_eq!(
            rule.encryption,
            Some(EncryptionSpec::Kms {
                key: Some(KmsKey::new("alias/reports")),
                bucket_key: Some(true)
            })
        );
        let backup = rule.backup.as_ref().unwrap();
        assert_eq!(backup.storage_class, Some(StorageClass::GlacierIr));
        assert_eq!(backup.encryption, Some(EncryptionSpec::Aes256));
        assert_eq!(
            rule.tags.get("processed-by").map(String::as_str),
            Some("s3-policy-processor")
        );
    }

    #[test]
    fn json_documents_are_accepted() {
        let policy = parse_policy(r#"{"rules":[{"name":"all","tags":{"a":"b"}}]}"#).unwrap();
        assert_eq!(policy.rules[0].name, "all");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("storage_class: STANDARD-IA", "rules[0].storage_class"),
            (
                "encryption: { algorithm: AES128 }",
                "rules[0].encryption.algorithm",
            ),
            (
                "encryption: { algorithm: AES256, kms_key_id: k }",
                "rules[0].encryption",
            ),
            ("backup: { bucket: Bad_Bucket }", "rules[0].backup.bucket"),
            ("rules: []", "rules"),
            ("rules: [{ name: x }]", "rules[0]"),
            (
                "rules: [{ name: x, tags: {a: b}}, { name: x, tags: {a: b}}]",
                "rules[1].name",
            ),
            (
                "match: { min_size: 5, max_size: 1 }\ntags: {a: b}",
                "rules[0].match.min_size",
            ),
            (
                "match: { buckets: [src-bucket] }\nbackup: src-bucket",
                "rules[0].backup.prefix",
            ),
            ("tags: { \"aws:x\": y }", "rules[0].tags.aws:x"),
            (
                "storage_class: GLACIER\nrestore: { days: 0 }",
                "rules[0].restore.days",
            ),
            (
                "storage_class: GLACIER\nrestore: { tier: Fast }",
                "rules[0].restore.tier",
            ),
            (
                "backup: { bucket: b-bucket, region: Europe }",
                "rules[0].backup.region",
            ),
            (
                "backup: { bucket: b-bucket, expected_owner: \"12345\" }",
                "rules[0].backup.expected_owner",
            ),
            (
                "backup: { bucket: b-bucket, region: eu-west-1, encryption: { algorithm: aws:kms, kms_key_id: \"arn:aws:kms:us-east-1:111122223333:key/k\" } }",
                "rules[0].backup.encryption.kms_key_id",
            ),
        ];
        for (text, field) in cases {
            let err = parse_policy(text).expect_err(text);
            assert_eq!(field_of(err), field, "document: {text}");
        }
    }

    /// Tags S3 would answer `InvalidTag` for, on every object: refused at cold start, naming
    /// `rules[i].tags.<key>` and what S3 allows.
    #[test]
    fn tags_s3_would_reject_are_refused_with_their_key() {
        let long_key = "k".repeat(129);
        let long_value = "v".repeat(257);
        // 64 emoji are 128 UTF-16 units but only 64 characters: S3 counts units.
        let emoji_key = "\u{1F600}".repeat(65);
        let cases = [
            (
                "tags: { \"a&b\": x }".to_owned(),
                "rules[0].tags.a&b",
                "S3 allows only",
            ),
            (
                "tags: { k: \"x,y\" }".to_owned(),
                "rules[0].tags.k",
                "S3 allows only",
            ),
            (
                "tags: { k: \"(x)\" }".to_owned(),
                "rules[0].tags.k",
                "S3 allows only",
            ),
            (
                "tags: { \"#k\": x }".to_owned(),
                "rules[0].tags.#k",
                "S3 allows only",
            ),
            (
                "tags: { \"AWS:k\": x }".to_owned(),
                "rules[0].tags.AWS:k",
                "reserves",
            ),
            (
                format!("tags: {{ {long_key}: x }}"),
                "rules[0].tags.",
                "1 to 128",
            ),
            (
                format!("tags: {{ k: {long_value} }}"),
                "rules[0].tags.k",
                "0 to 256",
            ),
            (
                format!("tags: {{ \"{emoji_key}\": x }}"),
                "rules[0].tags.",
                "130 UTF-16 units",
            ),
            (
                "rules:\n  - tags: { ok: yes }\n  - tags: { \"bad|key\": x }".to_owned(),
                "rules[1].tags.bad|key",
                "S3 allows only",
            ),
        ];
        for (text, field, says) in cases {
            let err = parse_policy(&text).expect_err(&text);
            let message = err.to_string();
            assert!(field_of(err).starts_with(field), "{text}: {message}");
            assert!(message.contains(says), "{text}: {message}");
        }
        let ampersand = "tags: { \"team name\": \"data & co\" }";
        assert!(
            parse_policy(ampersand).is_err(),
            "& is not allowed in values either"
        );
        let allowed = "tags: { \"a_b.c:d/e=f+g-h@i j\": \"ü é 漢字 0-9\", empty: \"\" }";
        assert!(
            parse_policy(allowed).is_ok(),
            "letters, digits, spaces, _.:/=+-@ and empty values"
        );
    }

    /// Backup locations whose copies a rule would pick up again are refused at cold start.
    #[test]
    fn backup_locations_that_feed_rules_are_refused() {
        let cases = [
            (
                "match: { buckets: [src-bucket] }\nbackup: src-bucket",
                "rules[0].backup.prefix",
            ),
            (
                "match: { buckets: [src-bucket] }\nbackup: { bucket: src-bucket, prefix: copies/ }",
                "rules[0].backup.prefix",
            ),
            (
                "rules:\n  - match: { buckets: [a-bucket] }\n    backup: { bucket: b-bucket, prefix: in/ }\n  - match: { buckets: [b-bucket], prefix: in/ }\n    backup: { bucket: a-bucket, prefix: back/ }",
                "rules[0].backup.prefix",
            ),
            (
                "rules:\n  - match: { buckets: [a-bucket], prefix: data/ }\n    tags: { a: b }\n  - match: { buckets: [b-bucket] }\n    backup: { bucket: a-bucket, prefix: data/copies/ }",
                "rules[1].backup.prefix",
            ),
        ];
        for (text, field) in cases {
            let err = parse_policy(text).expect_err(text);
            let message = err.to_string();
            assert_eq!(field_of(err), field, "{text}: {message}");
            assert!(message.contains("processed again"), "{message}");
        }
        for fine in [
            "backup: my-backup",
            "match: { buckets: [src-bucket], prefix: data/ }\nbackup: { bucket: src-bucket, prefix: backup/ }",
            "match: { buckets: [src-bucket] }\nbackup: other-bucket",
        ] {
            assert!(parse_policy(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_reported_with_their_name() {
        let err = parse_policy("storag_class: STANDARD").unwrap_err();
        assert!(err.to_string().contains("storag_class"), "{err}");
        let err = parse_policy("{\"rules\": [").unwrap_err();
        assert!(
            matches!(err, PolicyError::Syntax { format: "JSON", .. }),
            "{err}"
        );
        let err = parse_policy("rules:\n  - tags: [1, 2]").unwrap_err();
        assert!(err.to_string().contains("tags"), "{err}");
    }

    #[test]
    fn too_many_tags_are_rejected() {
        let tags: Vec<String> = (0..11).map(|i| format!("k{i}: v")).collect();
        let text = format!("tags: {{ {} }}", tags.join(", "));
        assert_eq!(field_of(parse_policy(&text).unwrap_err()), "rules[0].tags");
    }
}
