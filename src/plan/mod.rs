//! The pure heart of the processor: given an object's actual state and its rule, the list of
//! actions that brings it into line. No I/O; the same inputs always give the same plan, and an
//! object that already complies gets an empty one (which is what makes redelivered events and
//! the `ObjectCreated:Copy` event of our own rewrite harmless).

use serde::Serialize;

use crate::object::{
    Acl, ActualEncryption, ArchiveState, MAX_TAGS, ObjectHead, ObjectLocation, StorageClass, Tags,
};
use crate::policy::{EncryptionSpec, KmsKey, Rule};

/// Everything `plan` looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The source object as HEAD reported it.
    pub head: &'a ObjectHead,
    /// Its current tags (empty when the rule requires none and they were not read).
    pub tags: &'a Tags,
    /// The object at the backup destination, if the rule has a backup and one exists there.
    pub backup: Option<&'a ObjectHead>,
    /// Minimum size for moving into classes with a 128 KiB minimum billable size.
    pub ia_min_size: u64,
    /// The object's ACL, when the rule removes public grants.
    pub acl: Option<&'a Acl>,
}

/// One change to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Copy the object (metadata, content headers and tags included) to the backup location.
    Backup {
        /// Where the copy goes.
        destination: ObjectLocation,
        /// Storage class of the copy.
        storage_class: StorageClass,
        /// Encryption of the copy; `None` leaves it to the backup bucket's default.
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption: Option<EncryptionSpec>,
    },
    /// Copy the object onto itself once, with the target class and encryption (metadata and
    /// content headers kept; tags kept, or replaced by `tags` when those must change too).
    Rewrite {
        /// Storage class after the rewrite.
        storage_class: StorageClass,
        /// Encryption after the rewrite; `None` leaves it to the bucket default.
        #[serde(skip_serializing_if = "Option::is_none")]
        encryption: Option<EncryptionSpec>,
        /// The full tag set to write with the copy, when tags change too.
        #[serde(skip_serializing_if = "Option::is_none")]
        tags: Option<Tags>,
    },
    /// Replace the object's tag set (existing tags merged with the rule's).
    PutTags {
        /// The full tag set to write.
        tags: Tags,
    },
    /// Replace the object's ACL with one that has no public grants.
    RemovePublicGrants {
        /// The ACL to write.
        acl: Acl,
    },
    /// Request a temporary restore of an archived object (its restore event brings it in line).
    Restore {
        /// Days the restored copy stays available.
        days: i32,
        /// Retrieval tier.
        tier: String,
    },
}

impl Action {
    /// `backup`, `rewrite` or `put_tags`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Backup { .. } => "backup",
            Self::Rewrite { .. } => "rewrite",
            Self::PutTags { .. } => "put_tags",
            Self::RemovePublicGrants { .. } => "remove_public_grants",
            Self::Restore { .. } => "restore",
        }
    }
}

/// The actions for one object, with notes on what was deliberately left alone.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    /// Actions in the order they must run: backup, rewrite, tags.
    pub actions: Vec<Action>,
    /// Why something the rule asks for was not planned (cost guard, archived object, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether the object already complies (or nothing can be done now).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Adding the rule's tags would exceed S3's limit.
    #[error(
        "object has {existing} tags and the rule adds {added}; S3 allows at most {MAX_TAGS}, so remove tags from the object or the rule"
    )]
    TooManyTags {
        /// Tags on the object now.
        existing: usize,
        /// Tags the rule adds.
        added: usize,
    },
}

/// Computes the actions that bring `input.head` in line with `rule`.
pub fn plan(input: PlanInput<'_>, rule: &Rule) -> Result<Plan, PlanError> {
    let head = input.head;
    let mut plan = Plan::default();
    if let Some(archive) = &head.archive {
        match (&rule.restore, archive) {
            (Some(restore), ArchiveState::Archived) => {
                plan.notes.push(format!(
                    "object is archived in {}; restore requested, its ObjectRestore:Completed event brings it in line",
                    head.storage_class
                ));
                plan.actions.push(Action::Restore {
                    days: restore.days,
                    tier: restore.tier.clone(),
                });
            }
            (Some(_), ArchiveState::Restoring) => plan.notes.push(
                "a restore is in progress; its ObjectRestore:Completed event brings the object in line".into(),
            ),
            (None, _) => plan.notes.push(format!(
                "object is {archive:?} in {}; it cannot be copied until restored, so nothing is planned (set `restore` in the rule to request one)",
                head.storage_class
            )),
        }
        return Ok(plan);
    }

    if let Some(backup) = plan_backup(input, rule, &mut plan.notes) {
        plan.actions.push(backup);
    }

    let target_class = target_storage_class(input, rule, &mut plan.notes);
    let class_changes = target_class != head.storage_class;
    let encryption_changes = rule
        .encryption
        .as_ref()
        .is_some_and(|spec| !encryption_complies(spec, &head.encryption));
    let tag_set = plan_tags(input.tags, &rule.tags)?;

    if class_changes || encryption_changes {
        match rewrite_encryption(rule, &head.encryption) {
            Ok(encryption) => {
                plan.actions.push(Action::Rewrite {
                    storage_class: target_class,
                    encryption,
                    tags: tag_set,
                });
                if public_acl(input, rule).is_some() {
                    plan.notes.push(
                        "the rewrite drops the object's ACL (a copy is private), public grants included".into(),
                    );
                }
                return Ok(plan);
            }
            Err(note) => plan.notes.push(note),
        }
    }
    if let Some(tags) = tag_set {
        plan.actions.push(Action::PutTags { tags });
    }
    if let Some(acl) = public_acl(input, rule) {
        plan.actions.push(Action::RemovePublicGrants { acl });
    }
    Ok(plan)
}

/// The ACL without public grants, when the rule removes them and the object has some.
fn public_acl(input: PlanInput<'_>, rule: &Rule) -> Option<Acl> {
    if !rule.remove_public_acl {
        return None;
    }
    input.acl.and_then(Acl::without_public_grants)
}

fn plan_backup(input: PlanInput<'_>, rule: &Rule, notes: &mut Vec<String>) -> Option<Action> {
    let spec = rule.backup.as_ref()?;
    let source = &input.head.location;
    if source.bucket == spec.bucket && source.key.starts_with(&spec.prefix) {
        notes.push("object is in the rule's backup location; it is not backed up again".into());
        return None;
    }
    if input
        .backup
        .is_some_and(|copy| backup_is_current(input.head, copy))
    {
        return None;
    }
    Some(Action::Backup {
        destination: ObjectLocation::current(&spec.bucket, spec.key_for(&source.key)),
        storage_class: spec.storage_class.clone().unwrap_or(StorageClass::Standard),
        encryption: spec.encryption.clone(),
    })
}

/// A backup is current when it holds the same bytes: equal content checksums (same algorithm),
/// else equal ETags where ETags are plain MD5s, else (SSE-KMS or multipart ETags, no common
/// checksum) equal size and written no earlier than the source.
fn backup_is_current(source: &ObjectHead, copy: &ObjectHead) -> bool {
    if source.size != copy.size {
        return false;
    }
    if let (Some(a), Some(b)) = (&source.checksum, &copy.checksum)
        && a.algorithm == b.algorithm
    {
        return a.value == b.value;
    }
    if source.etag == copy.etag {
        return true;
    }
    let comparable_etags = is_plain_md5_etag(source) && is_plain_md5_etag(copy);
    !comparable_etags
        && matches!((source.last_modified, copy.last_modified), (Some(s), Some(c)) if c >= s)
}

/// Plain (non-KMS, single-part) ETags are the MD5 of the bytes and so comparable across objects.
fn is_plain_md5_etag(head: &ObjectHead) -> bool {
    !head.etag.contains('-') && !matches!(head.encryption, ActualEncryption::Kms { .. })
}

fn target_storage_class(
    input: PlanInput<'_>,
    rule: &Rule,
    notes: &mut Vec<String>,
) -> StorageClass {
    let current = &input.head.storage_class;
    match &rule.storage_class {
        Some(wanted) if wanted != current => {
            if wanted.has_minimum_billable_size() && input.head.size < input.ia_min_size {
                notes.push(format!(
                    "cost guard: {} bytes is below ia_min_size {}; {wanted} would bill more than it saves, so the class stays {current}",
                    input.head.size, input.ia_min_size
                ));
                current.clone()
            } else {
                wanted.clone()
            }
        }
        _ => current.clone(),
    }
}

/// Whether the object's actual encryption satisfies the spec (algorithm and key, not just "is
/// it encrypted").
pub fn encryption_complies(spec: &EncryptionSpec, actual: &ActualEncryption) -> bool {
    match (spec, actual) {
        (EncryptionSpec::Aes256, ActualEncryption::Aes256) => true,
        (
            EncryptionSpec::Kms { key, bucket_key },
            ActualEncryption::Kms {
                key_id,
                bucket_key: actual_bucket_key,
            },
        ) => {
            key.as_ref().is_none_or(|k| k.matches(key_id.as_deref()))
                && bucket_key.is_none_or(|wanted| wanted == *actual_bucket_key)
        }
        _ => false,
    }
}

/// The encryption a rewrite must request: the rule's when the object does not comply with it;
/// otherwise the object's own, restated exactly (key and bucket-key setting). A copy that names
/// no key would fall back to the bucket default, and `aws:kms` without a key id means the
/// AWS-managed `aws/s3` key: an object already under a customer key must keep it.
fn rewrite_encryption(
    rule: &Rule,
    actual: &ActualEncryption,
) -> Result<Option<EncryptionSpec>, String> {
    if let Some(spec) = &rule.encryption
        && !encryption_complies(spec, actual)
    {
        return Ok(Some(spec.clone()));
    }
    match actual {
        ActualEncryption::NotReported => Ok(None),
        ActualEncryption::Aes256 => Ok(Some(EncryptionSpec::Aes256)),
        ActualEncryption::Kms { key_id, bucket_key } => Ok(Some(EncryptionSpec::Kms {
            key: key_id.as_ref().map(KmsKey::new),
            bucket_key: Some(*bucket_key),
        })),
        ActualEncryption::Other { name } => Err(format!(
            "object is encrypted with {name}, which a rewrite cannot keep; give the rule an encryption to change the storage class"
        )),
    }
}

/// The full tag set to write, or `None` when the object already carries the rule's tags.
fn plan_tags(current: &Tags, required: &Tags) -> Result<Option<Tags>, PlanError> {
    let missing = required
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .count();
    if missing == 0 {
        return Ok(None);
    }
    let mut merged = current.clone();
    merged.extend(required.iter().map(|(k, v)| (k.clone(), v.clone())));
    if merged.len() > MAX_TAGS {
        return Err(PlanError::TooManyTags {
            existing: current.len(),
            added: merged.len() - current.len(),
        });
    }
    Ok(Some(merged))
}

#[cfg(test)]
mod tests;
