//! The pure heart of the processor: given an object's actual state and its rule, the list of
//! actions that brings it into line. No I/O; the same inputs always give the same plan, and an
//! object that already complies gets an empty one (which is what makes redelivered events and
//! the `ObjectCreated:Copy` event of our own rewrite harmless).

mod annotations;
mod rekey;

use serde::Serialize;

use crate::annotations::Annotations;
use crate::backup_record::SourceRecord;
use crate::object::{
    Acl, ActualEncryption, ArchiveState, MAX_TAGS, ObjectHead, ObjectLocation, ObjectLock,
    StorageClass, Tags,
};
use crate::policy::{BackupSpec, EncryptionSpec, KmsKey, RestoreSpec, Rule};

/// Everything `plan` looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The source object as HEAD reported it.
    pub head: &'a ObjectHead,
    /// Its current tags (empty when the rule requires none and they were not read).
    pub tags: &'a Tags,
    /// What is known of the object at the backup destination.
    pub backup: &'a BackupState,
    /// Minimum size for moving into classes with a 128 KiB minimum billable size.
    pub ia_min_size: u64,
    /// The object's ACL, when the rule removes public grants.
    pub acl: Option<&'a Acl>,
    /// Whether an encryption-only change may use UpdateObjectEncryption (the server is known
    /// to implement it, and has not refused it for this bucket or object).
    pub update_encryption: bool,
    /// The object's annotations: read only where its copies are multipart (which do not carry
    /// them), `NotRead` otherwise.
    pub annotations: &'a Annotations,
    /// The annotations of the backup found with the object's bytes, when the object has some.
    pub backup_annotations: &'a Annotations,
}

/// What is known of the object at a rule's backup location before planning.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupState {
    /// Nothing is there (HEAD answered 404), or the rule has no backup.
    Absent,
    /// HEAD found this object there.
    Found(Box<ObjectHead>),
    /// Not looked at: the backup copy is then made only where nothing is (`If-None-Match: *`),
    /// and a 412 sends the caller to look and plan again.
    Unread,
}

/// The condition a backup write carries on its destination, checked by S3 when the write
/// completes (CopyObject, CompleteMultipartUpload): 412 when it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupCondition {
    /// Only where nothing is (`If-None-Match: *`).
    OnlyIfAbsent,
    /// Only over the object with this ETag (`If-Match`): the one the plan judged replaceable.
    Replacing(String),
}

/// What the evidence says about whether a backup holds the source's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameBytes {
    /// Proven the same: equal checksums, equal plain-MD5 ETags, or a record naming this write.
    Yes,
    /// Proven different: sizes, full-object checksums or plain-MD5 ETags differ, or the record
    /// names another write of the source.
    No,
    /// Nothing comparable (no common checksum, ETags that are not MD5s, no record).
    Unknown,
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
        /// What the copy may replace: nothing, or exactly the object seen there. Every backup
        /// write is conditional, so a copy never lands on what it was not planned against.
        condition: BackupCondition,
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
    /// Re-key the object in place with UpdateObjectEncryption: no copy, no new version, the
    /// same ETag, class and checksums (the exact version HEAD saw, in a versioned bucket).
    UpdateEncryption {
        /// The SSE-KMS encryption it gets (a key ARN, and the bucket-key setting).
        encryption: EncryptionSpec,
    },
    /// Copy annotations from the object to its backup (which a multipart copy did not carry),
    /// each only while the backup's ETag is the one planned on.
    CopyAnnotations {
        /// The backup (a specific version, when it was found in a versioned bucket).
        destination: ObjectLocation,
        /// The annotations to copy.
        names: Vec<String>,
        /// The backup's ETag; `None` for the backup copy this plan makes.
        #[serde(skip_serializing_if = "Option::is_none")]
        onto_etag: Option<String>,
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
    /// Request a restore of an archived object (its restore event brings it in line).
    Restore {
        /// Days the restored copy stays available; `None` for Intelligent-Tiering archive
        /// tiers, where S3 rejects `Days` (the object moves back to Frequent Access).
        #[serde(skip_serializing_if = "Option::is_none")]
        days: Option<i32>,
        /// Retrieval tier.
        tier: String,
    },
}

impl Action {
    /// `backup`, `rewrite`, `update_encryption`, `copy_annotations`, `put_tags`,
    /// `remove_public_grants` or `restore`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Backup { .. } => "backup",
            Self::Rewrite { .. } => "rewrite",
            Self::UpdateEncryption { .. } => "update_encryption",
            Self::CopyAnnotations { .. } => "copy_annotations",
            Self::PutTags { .. } => "put_tags",
            Self::RemovePublicGrants { .. } => "remove_public_grants",
            Self::Restore { .. } => "restore",
        }
    }

    /// Whether the action copies the object (which an archive or SSE-C blocks).
    pub fn copies(&self) -> bool {
        matches!(self, Self::Backup { .. } | Self::Rewrite { .. })
    }
}

/// The actions for one object, and what the rule asks for that they leave undone.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    /// Actions in the order they must run: backup, rewrite, tags, ACL, restore.
    pub actions: Vec<Action>,
    /// Remarks that change nothing about compliance (a restore requested, an ACL dropped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Requirements left unmet on purpose, each saying why (archived, cost guard, SSE-C, DSSE,
    /// Object Lock, ...). The object is reported `skipped`, never `compliant`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    /// Requirements that cannot be met as the object stands (too many tags): the rest of the
    /// plan still runs, and the object is reported `failed` so it is seen and retried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<PlanError>,
}

impl Plan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// A requirement that cannot be met as the object stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code")]
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

impl PlanError {
    /// A short code for reports and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooManyTags { .. } => "TooManyTags",
        }
    }
}

/// Computes the actions that bring `input.head` in line with `rule`. Copies come first (backup,
/// then the one in-place rewrite that carries class, encryption and tags), then tag and ACL
/// writes; what cannot be done now is listed in `unmet` or `failures`, never dropped silently.
pub fn plan(input: PlanInput<'_>, rule: &Rule) -> Plan {
    let head = input.head;
    let mut plan = Plan::default();

    let backup = plan_backup(input, rule, &mut plan.unmet);
    annotations::add_backup(input, backup, &mut plan.actions, &mut plan.unmet);

    let target_class = target_storage_class(input, rule, &mut plan.unmet);
    let class_changes = target_class != head.storage_class;
    let encryption_changes = rule
        .encryption
        .as_ref()
        .is_some_and(|spec| !encryption_complies(spec, &head.encryption));
    let tag_set = match plan_tags(input.tags, &rule.tags) {
        Ok(tags) => tags,
        Err(err) => {
            plan.failures.push(err);
            None
        }
    };

    let mut tags_in_rewrite = false;
    // Only the encryption changes, and S3 can re-key without copying: no copy at all.
    let rekey = (encryption_changes && !class_changes && input.update_encryption)
        .then(|| {
            rule.encryption
                .as_ref()
                .and_then(|spec| rekey::target(head, spec))
        })
        .flatten();
    if class_changes || encryption_changes {
        let blocker = rewrite_blocker(head).or_else(|| {
            rekey
                .is_none()
                .then(|| annotations::rewrite_blocker(input))
                .flatten()
        });
        match blocker {
            Some(reason) => plan.unmet.push(reason),
            None if rekey.is_some() => {
                if let Some(encryption) = rekey {
                    plan.actions.push(Action::UpdateEncryption { encryption });
                }
            }
            None => match rewrite_encryption(rule, &head.encryption) {
                Ok(encryption) => {
                    plan.actions.push(Action::Rewrite {
                        storage_class: target_class,
                        encryption,
                        tags: tag_set.clone(),
                    });
                    tags_in_rewrite = true;
                    if public_acl(input, rule).is_some() {
                        plan.notes.push(
                            "the rewrite drops the object's ACL (a copy is private), public grants included".into(),
                        );
                    }
                }
                Err(reason) => plan.unmet.push(reason),
            },
        }
    }
    if !tags_in_rewrite && let Some(tags) = &tag_set {
        plan.actions.push(Action::PutTags { tags: tags.clone() });
    }
    if !tags_in_rewrite && let Some(acl) = public_acl(input, rule) {
        plan.actions.push(Action::RemovePublicGrants { acl });
    }
    if let Some(blocker) = copy_blocker(head) {
        hold_back_copies(&mut plan, input, rule, blocker);
    }
    plan
}

/// Whether `rule` asks `head`'s object to change class or encryption (which takes an in-place
/// rewrite, unless something holds it back): what decides whether its Object Lock must be
/// known before planning.
pub fn wants_rewrite(head: &ObjectHead, rule: &Rule, ia_min_size: u64) -> bool {
    let input = PlanInput {
        head,
        tags: &Tags::new(),
        backup: &BackupState::Absent,
        ia_min_size,
        acl: None,
        update_encryption: false,
        annotations: &Annotations::NotRead,
        backup_annotations: &Annotations::NotRead,
    };
    target_storage_class(input, rule, &mut Vec::new()) != head.storage_class
        || rule
            .encryption
            .as_ref()
            .is_some_and(|spec| !encryption_complies(spec, &head.encryption))
}

/// Why the object cannot be copied at all right now, if it cannot.
enum CopyBlocker {
    /// Archived (or being restored): copies need a restore first.
    Archive(ArchiveState),
    /// SSE-C: copies need the customer's key, which the function never has.
    CustomerKey,
}

fn copy_blocker(head: &ObjectHead) -> Option<CopyBlocker> {
    if let Some(state) = &head.archive {
        return Some(CopyBlocker::Archive(state.clone()));
    }
    matches!(&head.encryption, ActualEncryption::Other { name } if name.starts_with("SSE-C"))
        .then_some(CopyBlocker::CustomerKey)
}

/// Takes the copies out of a plan for an object that cannot be copied: the tags a rewrite
/// would have carried are written directly (S3 allows tag and ACL writes on archived objects
/// without a restore), and for archives a restore is requested when the rule says so, only
/// because a copy needs it.
fn hold_back_copies(plan: &mut Plan, input: PlanInput<'_>, rule: &Rule, blocker: CopyBlocker) {
    let head = input.head;
    let copies: Vec<Action> = plan
        .actions
        .iter()
        .filter(|a| a.copies())
        .cloned()
        .collect();
    if copies.is_empty() {
        return;
    }
    // Annotations restated on the backup copy go with it.
    plan.actions.retain(|a| {
        !a.copies()
            && !matches!(
                a,
                Action::CopyAnnotations {
                    onto_etag: None,
                    ..
                }
            )
    });
    plan.notes.retain(|n| !n.starts_with("the rewrite drops"));
    let mut held = Vec::new();
    for copy in &copies {
        match copy {
            Action::Backup { .. } => held.push("the backup copy"),
            Action::Rewrite {
                storage_class,
                encryption,
                tags,
            } => {
                if *storage_class != head.storage_class {
                    held.push("the storage class change");
                }
                if encryption.is_some() && rule.encryption.is_some() {
                    held.push("the encryption change");
                }
                if let Some(tags) = tags {
                    plan.actions
                        .insert(0, Action::PutTags { tags: tags.clone() });
                }
                if let Some(acl) = public_acl(input, rule) {
                    plan.actions.push(Action::RemovePublicGrants { acl });
                }
            }
            _ => {}
        }
    }
    let (held, needs) = match held.len() {
        0 => ("the copy".to_owned(), "needs"),
        1 => (held.join(""), "needs"),
        _ => (held.join(" and "), "need"),
    };
    match blocker {
        CopyBlocker::CustomerKey => plan.unmet.push(format!(
            "object is encrypted with a customer-provided key (SSE-C); {held} {needs} that key, which the function does not have"
        )),
        CopyBlocker::Archive(ArchiveState::Restoring) => plan.unmet.push(format!(
            "object is being restored from {}; {held} {} for its ObjectRestore:Completed event",
            head.storage_class,
            if needs == "need" { "wait" } else { "waits" }
        )),
        CopyBlocker::Archive(ArchiveState::Archived) => match &rule.restore {
            Some(restore) => {
                let (action, note) = restore_request(head, restore);
                plan.actions.push(action);
                plan.notes.extend(note);
                plan.unmet.push(format!(
                    "object is archived in {}; restore requested, {held} {} on its ObjectRestore:Completed event",
                    archive_name(head),
                    if needs == "need" { "follow" } else { "follows" }
                ));
            }
            None => plan.unmet.push(format!(
                "object is archived in {}; {held} {needs} a restore first (set `restore` in the rule to request one)",
                archive_name(head)
            )),
        },
    }
}

/// Where the object is archived, for notes.
fn archive_name(head: &ObjectHead) -> String {
    match &head.archive_access_tier {
        Some(tier) => format!("{} ({tier})", head.storage_class),
        None => head.storage_class.to_string(),
    }
}

/// The restore request S3 will accept for this object: no `Days` for Intelligent-Tiering
/// archive tiers, and `Standard` instead of `Expedited` where Expedited does not exist
/// (DEEP_ARCHIVE and Intelligent-Tiering's Deep Archive Access tier), with a note saying so.
fn restore_request(head: &ObjectHead, restore: &RestoreSpec) -> (Action, Option<String>) {
    let intelligent_tiering = head.storage_class == StorageClass::IntelligentTiering;
    let deep = head.storage_class == StorageClass::DeepArchive
        || head.archive_access_tier.as_deref() == Some("DEEP_ARCHIVE_ACCESS");
    let (tier, note) = if deep && restore.tier == "Expedited" {
        (
            "Standard".to_owned(),
            Some(format!(
                "Expedited retrieval does not exist for {}; requested Standard instead",
                archive_name(head)
            )),
        )
    } else {
        (restore.tier.clone(), None)
    };
    let action = Action::Restore {
        days: (!intelligent_tiering).then_some(restore.days),
        tier,
    };
    (action, note)
}

/// Why an in-place rewrite must not run even though class or encryption differ: the object
/// is under Object Lock, or it cannot be told that it is not.
fn rewrite_blocker(head: &ObjectHead) -> Option<String> {
    match &head.object_lock {
        ObjectLock::Unlocked => None,
        ObjectLock::Locked(lock) => Some(format!(
            "object is under Object Lock ({lock}); a rewrite would make a new version that does not carry this retention, so its class and encryption are left as they are"
        )),
        ObjectLock::Unknown(why) => Some(format!(
            "cannot tell whether the object is under Object Lock ({why}); a rewrite of a locked object would make a new version without its retention, so its class and encryption are left as they are"
        )),
        ObjectLock::NotReported => Some(
            "HEAD reported no Object Lock, which is no evidence when the role may not read it; its class and encryption are left as they are until that is known".into(),
        ),
    }
}

/// The ACL without public grants, when the rule removes them and the object has some.
fn public_acl(input: PlanInput<'_>, rule: &Rule) -> Option<Acl> {
    if !rule.remove_public_acl {
        return None;
    }
    input.acl.and_then(Acl::without_public_grants)
}

fn plan_backup(input: PlanInput<'_>, rule: &Rule, unmet: &mut Vec<String>) -> Option<Action> {
    let spec = rule.backup.as_ref()?;
    let head = input.head;
    let source = &head.location;
    if is_in_backup_location(source, spec) {
        unmet.push("object is in the rule's backup location; it is not backed up again".into());
        return None;
    }
    let storage_class = backup_storage_class(spec, head.size, input.ia_min_size, unmet);
    let BackupState::Found(copy) = input.backup else {
        // Nothing there (or not looked): the copy asks for an empty destination.
        return Some(backup_action(
            spec,
            source,
            storage_class,
            BackupCondition::OnlyIfAbsent,
        ));
    };
    let replacing = BackupCondition::Replacing(copy.etag.clone());
    if same_bytes(head, copy) == SameBytes::Yes {
        if copy.website_redirect == head.website_redirect {
            return None;
        }
        // The same bytes, without the redirect (an earlier copy that could not restate
        // it): only that object is replaced, so nothing else can be lost.
        return Some(backup_action(spec, source, storage_class, replacing));
    }
    match replaceable(head, copy, spec) {
        Ok(()) => Some(backup_action(spec, source, storage_class, replacing)),
        Err(reason) => {
            unmet.push(reason);
            None
        }
    }
}

/// Whether the object at the backup location, which does not hold this write's bytes (or
/// cannot be shown to), may be replaced by a copy of it. In a versioned backup bucket (HEAD
/// reported a version id) the replaced object stays as a noncurrent version, so it may. In a
/// bucket without versioning replacing loses it for good: only a backup recorded as this
/// source's (an earlier write of it) is replaced, or, when the rule allows it, an object with
/// no record at all (a backup made before backups were recorded). Which of two writes is
/// newer is never judged here, and never from Last-Modified: the copy is made from the
/// source's current object (`x-amz-copy-source-if-match` its ETag) and lands only on the
/// object seen (`If-Match`), so S3 refuses it when either has changed since.
fn replaceable(head: &ObjectHead, copy: &ObjectHead, spec: &BackupSpec) -> Result<(), String> {
    if copy.location.version_id.is_some() {
        return Ok(());
    }
    let location = format!("s3://{}/{}", copy.location.bucket, copy.location.key);
    match SourceRecord::read(&copy.metadata) {
        Some(record) if record.bucket == head.location.bucket => Ok(()),
        Some(record) => Err(format!(
            "the backup location {location} holds a backup of an object in bucket {}, in a bucket without versioning; it is not overwritten (give the rules' backups distinct prefixes, or use a versioned backup bucket)",
            record.bucket
        )),
        None if spec.replace_unrecorded => Ok(()),
        None => Err(format!(
            "the backup location {location} holds an object that is not recorded as a backup of this one, in a bucket without versioning; it is not overwritten (move it, use a versioned backup bucket, or set backup.replace_unrecorded if it is a backup made before backups were recorded)"
        )),
    }
}

/// The backup copy `rule` asks for, for an object of `size` bytes at `source` whose backup
/// location was not read: exactly the action [`plan`] gives such an object with
/// [`BackupState::Unread`] when nothing (archive, SSE-C) holds copies back. `None` when the
/// rule keeps no backup or `source` is in its backup location. Known from an event alone, so
/// the copy can start before HEAD answers.
pub fn backup_into_empty_location(
    rule: &Rule,
    source: &ObjectLocation,
    size: u64,
    ia_min_size: u64,
) -> Option<Action> {
    let spec = rule.backup.as_ref()?;
    if is_in_backup_location(source, spec) {
        return None;
    }
    let storage_class = backup_storage_class(spec, size, ia_min_size, &mut Vec::new());
    Some(backup_action(
        spec,
        source,
        storage_class,
        BackupCondition::OnlyIfAbsent,
    ))
}

fn is_in_backup_location(source: &ObjectLocation, spec: &BackupSpec) -> bool {
    spec.holds(&source.bucket, &source.key)
}

fn backup_action(
    spec: &BackupSpec,
    source: &ObjectLocation,
    storage_class: StorageClass,
    condition: BackupCondition,
) -> Action {
    Action::Backup {
        destination: ObjectLocation::current(
            &spec.bucket,
            spec.key_for(&source.bucket, &source.key),
        ),
        storage_class,
        encryption: spec.encryption.clone(),
        condition,
    }
}

/// The backup's class, with the cost guard: classes that bill a minimum size (IA, Glacier IR)
/// or a per-object archive overhead (Glacier, Deep Archive) are not used below `ia_min_size`.
fn backup_storage_class(
    spec: &BackupSpec,
    size: u64,
    ia_min_size: u64,
    unmet: &mut Vec<String>,
) -> StorageClass {
    let wanted = spec.storage_class.clone().unwrap_or(StorageClass::Standard);
    let costly = wanted.has_minimum_billable_size() || wanted.is_archive();
    if costly && size < ia_min_size {
        unmet.push(format!(
            "cost guard: {size} bytes is below ia_min_size {ia_min_size}; the backup is kept in STANDARD, because {wanted} would bill more than it saves"
        ));
        return StorageClass::Standard;
    }
    wanted
}

/// Whether `copy` holds `source`'s bytes, from evidence only: sizes; content checksums of the
/// same algorithm (full-object ones prove a difference, equal ones prove sameness); the
/// copy's record of the write it was made from; plain MD5 ETags. Never Last-Modified: a
/// multipart upload's Last-Modified can be when it started, and it has whole-second precision.
pub fn same_bytes(source: &ObjectHead, copy: &ObjectHead) -> SameBytes {
    if source.size != copy.size {
        return SameBytes::No;
    }
    if let (Some(a), Some(b)) = (&source.checksum, &copy.checksum)
        && a.algorithm == b.algorithm
    {
        if a.value == b.value {
            return SameBytes::Yes;
        }
        if a.full_object && b.full_object {
            return SameBytes::No;
        }
    }
    if let Some(record) = SourceRecord::read(&copy.metadata)
        && record.bucket == source.location.bucket
    {
        return if record.names(source) {
            SameBytes::Yes
        } else {
            SameBytes::No
        };
    }
    if source.etag == copy.etag {
        return SameBytes::Yes;
    }
    if is_plain_md5_etag(source) && is_plain_md5_etag(copy) {
        return SameBytes::No;
    }
    SameBytes::Unknown
}

/// Whether the evidence proves that `copy` holds `source`'s bytes.
pub fn backup_is_current(source: &ObjectHead, copy: &ObjectHead) -> bool {
    same_bytes(source, copy) == SameBytes::Yes
}

/// Plain (non-KMS, single-part) ETags are the MD5 of the bytes and so comparable across objects.
fn is_plain_md5_etag(head: &ObjectHead) -> bool {
    !head.etag.contains('-') && !matches!(head.encryption, ActualEncryption::Kms { .. })
}

fn target_storage_class(
    input: PlanInput<'_>,
    rule: &Rule,
    unmet: &mut Vec<String>,
) -> StorageClass {
    let current = &input.head.storage_class;
    match &rule.storage_class {
        Some(wanted) if wanted != current => {
            if wanted.has_minimum_billable_size() && input.head.size < input.ia_min_size {
                unmet.push(format!(
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
mod annotation_tests;
#[cfg(test)]
mod tests;
