//! Each inventory row judged through the function's own rule matching
//! ([`Policy::rule_by_key_and_size`]) and planner ([`plan`]), never a second copy of the rules.
//!
//! An inventory row says less than HEAD: never the KMS key id, the tags, the content type, the
//! ACL or the backup's state, and some reports leave out fields. Where the row is silent, the
//! object is planned twice: once assuming each unknown is already as the rule wants (the
//! *best case*), once assuming it is not (the *worst case*). Work in the best case is certain:
//! the object needs work. Work only in the worst case depends on what the inventory cannot say:
//! the object is *to check*, never compliant. Only an object with no work in either is
//! compliant. Whatever the verdict, the function decides again from HEAD when it runs.

use std::rc::Rc;

use super::verdict::{Outcome, Reason, ReasonSet, Step, Verdict};
use super::{Row, Timestamp};
use crate::annotations::Annotations;
use crate::object::{
    ActualEncryption, ArchiveState, ObjectHead, ObjectLocation, ObjectLock, StorageClass, Tags,
};
use crate::plan::{Action, BackupState, Plan, PlanInput, plan};
use crate::policy::{EncryptionSpec, KeyAndSizeMatch, Policy, Rule};

/// Judges rows against one policy.
#[derive(Debug, Clone)]
pub struct Judge<'p> {
    policy: &'p Policy,
    /// When the inventory was taken (seconds since the epoch): a retention that ended before
    /// it has ended.
    as_of: i64,
    /// Whether an encryption-only change may use UpdateObjectEncryption, as the function would.
    update_encryption: bool,
    /// The steps of a verdict without work, shared.
    no_steps: Rc<[Step]>,
}

/// What a row is before its plan: judged already, or a current version to plan.
pub enum Prejudged<'p> {
    /// Judged without planning (delete marker, backup, no rule, content type, noncurrent).
    Done(Verdict<'p>),
    /// A current version of `size` bytes that `rule` covers: plan it.
    Current {
        /// Its size.
        size: u64,
        /// Its rule.
        rule: &'p Rule,
    },
}

impl<'p> Judge<'p> {
    /// A judge for `policy`, for an inventory taken at `as_of`.
    pub fn new(policy: &'p Policy, as_of: i64, update_encryption: bool) -> Self {
        Self {
            policy,
            as_of,
            update_encryption,
            no_steps: Rc::from(Vec::new()),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// When the inventory was taken.
    pub fn as_of(&self) -> i64 {
        self.as_of
    }

    fn done(&self, rule: Option<&'p str>, outcome: Outcome, reason: Reason) -> Prejudged<'p> {
        Prejudged::Done(Verdict {
            rule,
            outcome,
            reasons: ReasonSet::of([reason]),
            steps: self.no_steps.clone(),
        })
    }

    /// The verdict on one row.
    pub fn judge(&self, row: &Row<'_>) -> Verdict<'p> {
        match self.prejudge(row) {
            Prejudged::Done(verdict) => verdict,
            Prejudged::Current { size, rule } => self.judge_current(row, size, rule),
        }
    }

    /// Everything decided before a plan: what the row is, and which rule covers it.
    pub fn prejudge(&self, row: &Row<'_>) -> Prejudged<'p> {
        if row.is_delete_marker == Some(true) {
            return self.done(None, Outcome::Ignored, Reason::DeleteMarker);
        }
        if let Some(rule) = self.policy.backup_rule_for(row.bucket, &row.key) {
            return self.done(Some(&rule.name), Outcome::Ignored, Reason::BackupCopy);
        }
        let Some(size) = row.size else {
            return self.done(None, Outcome::ToCheck, Reason::SizeUnknown);
        };
        let rule = match self.policy.rule_by_key_and_size(row.bucket, &row.key, size) {
            KeyAndSizeMatch::Rule(rule) => rule,
            KeyAndSizeMatch::NeedsContentType(rule) => {
                return self.done(
                    Some(&rule.name),
                    Outcome::ToCheck,
                    Reason::ContentTypeUnknown,
                );
            }
            KeyAndSizeMatch::NoRule => return self.done(None, Outcome::NotCovered, Reason::NoRule),
        };
        if row.is_latest == Some(false) {
            let keeps_versions = rule.backup.as_ref().is_some_and(|b| b.all_versions);
            return if keeps_versions {
                self.done(Some(&rule.name), Outcome::ToCheck, Reason::BackupUnknown)
            } else {
                self.done(
                    Some(&rule.name),
                    Outcome::Ignored,
                    Reason::NoncurrentVersion,
                )
            };
        }
        Prejudged::Current { size, rule }
    }

    /// The verdict on a current version `rule` covers, from its best-case and worst-case plans.
    pub fn judge_current(&self, row: &Row<'_>, size: u64, rule: &'p Rule) -> Verdict<'p> {
        let mut unknowns = Vec::new();
        let best_head = head(row, size, rule, self.as_of, Case::Best, &mut unknowns);
        let worst_head = head(row, size, rule, self.as_of, Case::Worst, &mut Vec::new());
        let backup_copy = rule.backup.as_ref().map(|spec| {
            let mut copy = best_head.clone();
            copy.location =
                ObjectLocation::current(&spec.bucket, spec.key_for(row.bucket, &row.key));
            BackupState::Found(Box::new(copy))
        });
        let best = plan(
            self.input(&best_head, &rule.tags, backup_copy.as_ref()),
            rule,
        );
        let no_tags = Tags::new();
        let worst = plan(self.input(&worst_head, &no_tags, None), rule);
        if !rule.tags.is_empty() {
            unknowns.push(Reason::TagsUnknown);
        }
        if worst
            .actions
            .iter()
            .any(|a| matches!(a, Action::Backup { .. }))
        {
            unknowns.push(Reason::BackupUnknown);
        }
        let name = Some(rule.name.as_str());
        let (outcome, mut reasons) = if !best.is_empty() {
            let reasons = best
                .actions
                .iter()
                .flat_map(|action| certain_reasons(action, &best_head, rule))
                .collect();
            (Outcome::NeedsWork, reasons)
        } else if !worst.is_empty() || rule.remove_public_acl {
            let mut reasons: Vec<Reason> = unknowns
                .iter()
                .copied()
                .filter(|reason| *reason != Reason::ObjectLockUnknown)
                .collect();
            if rule.remove_public_acl {
                reasons.push(Reason::AclUnknown);
            }
            (Outcome::ToCheck, reasons)
        } else if !worst.unmet.is_empty() {
            let reasons = unmet_reasons(&worst, &worst_head);
            if best.unmet.is_empty() || reasons.contains(&Reason::ObjectLockUnknown) {
                (Outcome::ToCheck, reasons)
            } else {
                (Outcome::Skipped, reasons)
            }
        } else {
            (Outcome::Compliant, Vec::new())
        };
        if reasons.is_empty() && matches!(outcome, Outcome::ToCheck | Outcome::Skipped) {
            reasons.push(Reason::OtherUnmet);
        }
        Verdict {
            rule: name,
            outcome,
            reasons: ReasonSet::of(reasons),
            steps: steps(&worst.actions, &worst_head.storage_class),
        }
    }

    fn input<'a>(
        &self,
        head: &'a ObjectHead,
        tags: &'a Tags,
        backup: Option<&'a BackupState>,
    ) -> PlanInput<'a> {
        PlanInput {
            head,
            tags,
            backup: backup.unwrap_or(&BackupState::Unread),
            ia_min_size: self.policy.ia_min_size,
            acl: None,
            update_encryption: self.update_encryption,
            annotations: &Annotations::NotRead,
            backup_annotations: &Annotations::NotRead,
        }
    }
}

/// Which assumption fills what the row does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// As the rule wants.
    Best,
    /// Not as the rule wants.
    Worst,
}

/// The object as HEAD would report it, where the row says; elsewhere as `case` assumes (each
/// assumption noted in `unknowns`).
fn head(
    row: &Row<'_>,
    size: u64,
    rule: &Rule,
    as_of: i64,
    case: Case,
    unknowns: &mut Vec<Reason>,
) -> ObjectHead {
    let storage_class = match row.storage_class.filter(|c| !c.is_empty()) {
        Some(class) => StorageClass::parse(class),
        None => {
            if rule.storage_class.is_some() {
                unknowns.push(Reason::StorageClassUnknown);
            }
            match (case, &rule.storage_class) {
                (Case::Best, Some(wanted)) => wanted.clone(),
                (Case::Best, None) => StorageClass::Standard,
                (Case::Worst, _) => StorageClass::Other("not in the inventory".into()),
            }
        }
    };
    let access_tier = row
        .access_tier
        .filter(|t| {
            t.eq_ignore_ascii_case("ARCHIVE_ACCESS")
                || t.eq_ignore_ascii_case("DEEP_ARCHIVE_ACCESS")
        })
        .map(str::to_ascii_uppercase);
    let archived = storage_class.is_archive() || access_tier.is_some();
    ObjectHead {
        location: ObjectLocation {
            bucket: row.bucket.to_owned(),
            key: row.key.clone().into_owned(),
            version_id: row.version_id.filter(|v| !v.is_empty()).map(str::to_owned),
        },
        etag: row.etag.unwrap_or_default().to_owned(),
        size,
        last_modified: None,
        content_type: None,
        encryption: encryption(row, rule, case, unknowns),
        storage_class,
        tag_count: None,
        archive: archived.then_some(ArchiveState::Archived),
        website_redirect: None,
        checksum: None,
        metadata: Default::default(),
        content_headers: Default::default(),
        archive_access_tier: access_tier,
        object_lock: object_lock(row, as_of, case, unknowns),
    }
}

/// The encryption the row states; the KMS key id and a missing field as `case` assumes.
fn encryption(
    row: &Row<'_>,
    rule: &Rule,
    case: Case,
    unknowns: &mut Vec<Reason>,
) -> ActualEncryption {
    let (wanted_key, wanted_bucket_key) = match &rule.encryption {
        Some(EncryptionSpec::Kms { key, bucket_key }) => (key.as_ref(), *bucket_key),
        _ => (None, None),
    };
    let bucket_key = match row.bucket_key_status.filter(|s| !s.is_empty()) {
        Some(status) => status.eq_ignore_ascii_case("ENABLED"),
        None => {
            if row.bucket_key_status.is_none() && wanted_bucket_key.is_some() {
                unknowns.push(Reason::EncryptionUnknown);
            }
            match case {
                Case::Best => wanted_bucket_key.unwrap_or(false),
                Case::Worst => !wanted_bucket_key.unwrap_or(true),
            }
        }
    };
    let kms = |unknowns: &mut Vec<Reason>| {
        if wanted_key.is_some() {
            unknowns.push(Reason::KmsKeyUnknown);
        }
        ActualEncryption::Kms {
            key_id: match case {
                Case::Best => wanted_key.map(|k| k.for_request().to_owned()),
                Case::Worst => None,
            },
            bucket_key,
        }
    };
    match row.encryption_status {
        Some(status) if status.eq_ignore_ascii_case("SSE-S3") => ActualEncryption::Aes256,
        Some(status) if status.eq_ignore_ascii_case("SSE-KMS") => kms(unknowns),
        Some(status) if status.eq_ignore_ascii_case("NOT-SSE") || status.is_empty() => {
            ActualEncryption::NotReported
        }
        Some(status) if status.eq_ignore_ascii_case("SSE-C") => ActualEncryption::Other {
            name: "SSE-C".into(),
        },
        Some(other) => ActualEncryption::Other {
            name: other.to_owned(),
        },
        None => {
            if rule.encryption.is_some() {
                unknowns.push(Reason::EncryptionUnknown);
            }
            match (case, &rule.encryption) {
                (Case::Best, Some(EncryptionSpec::Aes256))
                | (Case::Worst, Some(EncryptionSpec::Kms { .. })) => ActualEncryption::Aes256,
                (Case::Best, Some(EncryptionSpec::Kms { .. })) => kms(&mut Vec::new()),
                (Case::Worst, Some(EncryptionSpec::Aes256)) => ActualEncryption::NotReported,
                (_, None) => ActualEncryption::Aes256,
            }
        }
    }
}

/// What a row's Object Lock fields say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// The report has no Object Lock fields.
    NotReported,
    /// Neither a legal hold nor a retention still running when the inventory was taken.
    Unlocked,
    /// A legal hold `ON`, or a retention that had not ended when the inventory was taken.
    Locked,
}

/// The row's Object Lock, as of `as_of`: a retention that ended before the inventory was taken
/// has ended.
pub fn lock_state(row: &Row<'_>, as_of: i64) -> LockState {
    let (Some(mode), Some(hold)) = (row.lock_mode, row.legal_hold) else {
        return LockState::NotReported;
    };
    if hold.eq_ignore_ascii_case("ON") {
        return LockState::Locked;
    }
    if mode.is_empty() {
        return LockState::Unlocked;
    }
    match row.lock_retain_until.and_then(|t| t.epoch_seconds()) {
        Some(until) if until <= as_of => LockState::Unlocked,
        _ => LockState::Locked,
    }
}

/// Object Lock as HEAD would report it; a report without the fields as `case` assumes.
fn object_lock(row: &Row<'_>, as_of: i64, case: Case, unknowns: &mut Vec<Reason>) -> ObjectLock {
    match lock_state(row, as_of) {
        LockState::NotReported => {
            unknowns.push(Reason::ObjectLockUnknown);
            match case {
                Case::Best => ObjectLock::Unlocked,
                Case::Worst => {
                    ObjectLock::Unknown("the inventory has no Object Lock fields".into())
                }
            }
        }
        LockState::Unlocked => ObjectLock::Unlocked,
        LockState::Locked if row.legal_hold.is_some_and(|h| h.eq_ignore_ascii_case("ON")) => {
            ObjectLock::Locked("legal hold".into())
        }
        LockState::Locked => ObjectLock::Locked(format!(
            "{} retention until {}",
            row.lock_mode.unwrap_or_default().to_ascii_uppercase(),
            match row.lock_retain_until {
                Some(Timestamp::Text(t)) if !t.is_empty() => t.to_owned(),
                Some(Timestamp::Millis(ms)) => format!("{ms} ms after the epoch"),
                _ => "an unknown date".to_owned(),
            }
        )),
    }
}

/// The cost-relevant steps of `actions`, for an object now in `class`.
fn steps(actions: &[Action], class: &StorageClass) -> Rc<[Step]> {
    actions
        .iter()
        .map(|action| match action {
            Action::Rewrite { storage_class, .. } => Step::Rewrite {
                to: storage_class.clone(),
                change: (storage_class != class).then(|| format!("{class} -> {storage_class}")),
            },
            Action::Backup { storage_class, .. } => Step::Backup {
                to: storage_class.clone(),
            },
            Action::UpdateEncryption { .. }
            | Action::PutTags { .. }
            | Action::RemovePublicGrants { .. } => Step::Write,
            Action::CopyAnnotations { names, .. } => Step::Annotations(names.len()),
            Action::Restore { tier, .. } => Step::Restore { tier: tier.clone() },
        })
        .collect()
}

/// Why a best-case action is needed.
fn certain_reasons(action: &Action, head: &ObjectHead, rule: &Rule) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let encryption_reason = |reasons: &mut Vec<Reason>| {
        if let Some(spec) = &rule.encryption
            && !crate::plan::encryption_complies(spec, &head.encryption)
        {
            let same_algorithm = matches!(
                (spec, &head.encryption),
                (EncryptionSpec::Kms { .. }, ActualEncryption::Kms { .. })
            );
            reasons.push(if same_algorithm {
                Reason::BucketKeySetting
            } else {
                Reason::NotEncryptedAsRequired
            });
        }
    };
    match action {
        Action::Rewrite { storage_class, .. } => {
            if *storage_class != head.storage_class {
                reasons.push(Reason::WrongStorageClass);
            }
            encryption_reason(&mut reasons);
        }
        Action::UpdateEncryption { .. } => encryption_reason(&mut reasons),
        Action::Restore { .. } => reasons.push(Reason::RestoreRequested),
        Action::Backup { .. } | Action::CopyAnnotations { .. } => {
            reasons.push(Reason::BackupUnknown)
        }
        Action::PutTags { .. } => reasons.push(Reason::TagsUnknown),
        Action::RemovePublicGrants { .. } => reasons.push(Reason::AclUnknown),
    }
    reasons
}

/// Why the plan leaves requirements unmet, from the object's facts (the plan's own words are
/// for people; these are for counting).
fn unmet_reasons(plan: &Plan, head: &ObjectHead) -> Vec<Reason> {
    plan.unmet
        .iter()
        .map(|text| {
            if text.starts_with("cost guard") {
                Reason::CostGuard
            } else if head.archive.is_some() {
                Reason::Archived
            } else if matches!(head.object_lock, ObjectLock::Locked(_)) {
                Reason::ObjectLocked
            } else if matches!(head.object_lock, ObjectLock::Unknown(_) | ObjectLock::NotReported) {
                Reason::ObjectLockUnknown
            } else if matches!(&head.encryption, ActualEncryption::Other { name } if name == "SSE-C") {
                Reason::CustomerKey
            } else if matches!(head.encryption, ActualEncryption::Other { .. }) {
                Reason::EncryptionKept
            } else {
                Reason::OtherUnmet
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::policy::document::parse_policy;

    /// A current, unlocked STANDARD SSE-S3 object of 1 MiB, every field reported.
    fn row(key: &str) -> Row<'_> {
        Row {
            bucket: "src",
            key: Cow::Borrowed(key),
            version_id: None,
            is_latest: None,
            is_delete_marker: Some(false),
            size: Some(1 << 20),
            last_modified: None,
            etag: Some("abc"),
            storage_class: Some("STANDARD"),
            multipart: Some(false),
            encryption_status: Some("SSE-S3"),
            lock_retain_until: Some(Timestamp::Text("")),
            lock_mode: Some(""),
            legal_hold: Some("OFF"),
            access_tier: None,
            bucket_key_status: Some("DISABLED"),
            checksum_algorithm: None,
        }
    }

    fn verdict(policy: &str, row: &Row<'_>) -> (Outcome, Vec<Reason>) {
        let policy = parse_policy(policy).unwrap();
        let verdict = Judge::new(&policy, 0, true).judge(row);
        (verdict.outcome, verdict.reasons.iter().collect())
    }

    #[test]
    fn what_the_inventory_cannot_say_is_to_check_never_compliant() {
        let backup = "rules:\n  - name: r\n    encryption: AES256\n    backup: { bucket: bak, all_versions: true }\n";
        assert_eq!(
            verdict(backup, &row("a")),
            (Outcome::ToCheck, vec![Reason::BackupUnknown])
        );
        let acl = "rules:\n  - name: r\n    encryption: AES256\n    remove_public_acl: true\n";
        assert_eq!(
            verdict(acl, &row("a")),
            (Outcome::ToCheck, vec![Reason::AclUnknown])
        );
        let plain = "rules:\n  - name: r\n    encryption: AES256\n    storage_class: STANDARD\n";
        assert_eq!(verdict(plain, &row("a")), (Outcome::Compliant, vec![]));
        let mut unreported = row("a");
        unreported.encryption_status = None;
        assert_eq!(
            verdict(plain, &unreported),
            (Outcome::ToCheck, vec![Reason::EncryptionUnknown])
        );
        let mut classless = row("a");
        classless.storage_class = None;
        assert_eq!(
            verdict(plain, &classless),
            (Outcome::ToCheck, vec![Reason::StorageClassUnknown])
        );
    }

    #[test]
    fn work_known_from_the_row_is_certain_even_where_the_lock_is_not_reported() {
        let policy = "rules:\n  - name: r\n    storage_class: STANDARD_IA\n";
        let mut lockless = row("a");
        lockless.lock_mode = None;
        lockless.legal_hold = None;
        lockless.lock_retain_until = None;
        assert_eq!(
            verdict(policy, &lockless),
            (Outcome::NeedsWork, vec![Reason::WrongStorageClass])
        );
        let mut held = row("a");
        held.legal_hold = Some("On");
        assert_eq!(
            verdict(policy, &held),
            (Outcome::Skipped, vec![Reason::ObjectLocked])
        );
    }

    #[test]
    fn archives_versions_and_backups_are_judged_as_the_function_would() {
        let restore = "rules:\n  - name: r\n    storage_class: STANDARD_IA\n    restore: { days: 2, tier: Bulk }\n";
        let mut archived = row("a");
        archived.storage_class = Some("GLACIER");
        assert_eq!(
            verdict(restore, &archived),
            (Outcome::NeedsWork, vec![Reason::RestoreRequested])
        );
        let mut tiered = row("a");
        tiered.storage_class = Some("INTELLIGENT_TIERING");
        tiered.access_tier = Some("DEEP_ARCHIVE_ACCESS");
        let plain = "rules:\n  - name: r\n    storage_class: STANDARD_IA\n";
        assert_eq!(
            verdict(plain, &tiered),
            (Outcome::Skipped, vec![Reason::Archived])
        );
        let versions = "rules:\n  - name: r\n    match: { buckets: [src] }\n    backup: { bucket: bak, prefix: copies/, all_versions: true }\n";
        let mut old = row("a");
        old.is_latest = Some(false);
        assert_eq!(
            verdict(versions, &old),
            (Outcome::ToCheck, vec![Reason::BackupUnknown])
        );
        assert_eq!(
            verdict(plain, &old),
            (Outcome::Ignored, vec![Reason::NoncurrentVersion])
        );
        let mut copy = row("copies/a");
        copy.bucket = "bak";
        assert_eq!(
            verdict(versions, &copy),
            (Outcome::Ignored, vec![Reason::BackupCopy])
        );
    }
}
