//! What judging an inventory row gives: an [`Outcome`], the [`Reason`]s for it as a compact
//! [`ReasonSet`], and the cost-relevant [`Step`]s of the worst-case plan. Verdicts are cheap to
//! clone (the steps are shared), because the same verdict serves every row of the same shape.

use std::rc::Rc;

use serde::Serialize;

use crate::object::StorageClass;

/// What the inventory says of an object, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Needs work whatever the inventory leaves unsaid.
    NeedsWork,
    /// May need work: what decides it is not in the inventory.
    ToCheck,
    /// In line as far as anything can be known without HEAD: no work in the worst case.
    Compliant,
    /// Left as it is on purpose (archived, locked, cost guard, a key the function cannot use).
    Skipped,
    /// No rule covers it.
    NotCovered,
    /// Not an object the function acts on: a delete marker, a noncurrent version no rule
    /// backs up, a backup copy.
    Ignored,
    /// The row could not be read.
    Unreadable,
}

impl Outcome {
    /// Whether the object goes into the Batch Operations manifest.
    pub fn needs_invocation(self) -> bool {
        matches!(self, Self::NeedsWork | Self::ToCheck)
    }

    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::NeedsWork => "needs_work",
            Self::ToCheck => "to_check",
            Self::Compliant => "compliant",
            Self::Skipped => "skipped",
            Self::NotCovered => "not_covered",
            Self::Ignored => "ignored",
            Self::Unreadable => "unreadable",
        }
    }
}

/// Why an object has its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// In another storage class than the rule's.
    WrongStorageClass,
    /// Not encrypted as the rule requires (another algorithm, or not encrypted).
    NotEncryptedAsRequired,
    /// SSE-KMS as required, but the S3 Bucket Key setting differs.
    BucketKeySetting,
    /// Archived; the rule requests a restore, and the copies follow it.
    RestoreRequested,
    /// SSE-KMS, but the inventory has no key id and the rule names a key.
    KmsKeyUnknown,
    /// The rule requires tags; the inventory has none.
    TagsUnknown,
    /// The rule keeps a backup; whether it is current is not in the inventory.
    BackupUnknown,
    /// The rule removes public ACL grants; the inventory has no ACL.
    AclUnknown,
    /// A rule that might cover it looks at the content type.
    ContentTypeUnknown,
    /// The report has no EncryptionStatus (or BucketKeyStatus) field.
    EncryptionUnknown,
    /// The report has no StorageClass (or IntelligentTieringAccessTier) field.
    StorageClassUnknown,
    /// The report has no Object Lock fields, and a rewrite depends on them.
    ObjectLockUnknown,
    /// The row has no size (which the rule's matching or cost guard needs).
    SizeUnknown,
    /// Archived, and the rule requests no restore.
    Archived,
    /// Under Object Lock (retention or legal hold): no rewrite.
    ObjectLocked,
    /// Below `ia_min_size` for the rule's class.
    CostGuard,
    /// SSE-C: the function never has the key.
    CustomerKey,
    /// An encryption a rewrite cannot keep (DSSE-KMS).
    EncryptionKept,
    /// Something else the plan leaves undone (its own words are in `s3pp plan`).
    OtherUnmet,
    /// No rule covers it.
    NoRule,
    /// A delete marker.
    DeleteMarker,
    /// A noncurrent version, and its rule keeps only the current one.
    NoncurrentVersion,
    /// In a rule's backup location.
    BackupCopy,
    /// The row could not be read.
    BadRow,
}

impl Reason {
    /// The snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::WrongStorageClass => "wrong_storage_class",
            Self::NotEncryptedAsRequired => "not_encrypted_as_required",
            Self::BucketKeySetting => "bucket_key_setting",
            Self::RestoreRequested => "restore_requested",
            Self::KmsKeyUnknown => "kms_key_unknown",
            Self::TagsUnknown => "tags_unknown",
            Self::BackupUnknown => "backup_unknown",
            Self::AclUnknown => "acl_unknown",
            Self::ContentTypeUnknown => "content_type_unknown",
            Self::EncryptionUnknown => "encryption_unknown",
            Self::StorageClassUnknown => "storage_class_unknown",
            Self::ObjectLockUnknown => "object_lock_unknown",
            Self::SizeUnknown => "size_unknown",
            Self::Archived => "archived",
            Self::ObjectLocked => "object_locked",
            Self::CostGuard => "cost_guard",
            Self::CustomerKey => "customer_key",
            Self::EncryptionKept => "encryption_kept",
            Self::OtherUnmet => "other_unmet",
            Self::NoRule => "no_rule",
            Self::DeleteMarker => "delete_marker",
            Self::NoncurrentVersion => "noncurrent_version",
            Self::BackupCopy => "backup_copy",
            Self::BadRow => "bad_row",
        }
    }
}

/// Every reason, in declaration order (a [`ReasonSet`]'s bit `i` is `ALL_REASONS[i]`).
pub const ALL_REASONS: [Reason; 24] = [
    Reason::WrongStorageClass,
    Reason::NotEncryptedAsRequired,
    Reason::BucketKeySetting,
    Reason::RestoreRequested,
    Reason::KmsKeyUnknown,
    Reason::TagsUnknown,
    Reason::BackupUnknown,
    Reason::AclUnknown,
    Reason::ContentTypeUnknown,
    Reason::EncryptionUnknown,
    Reason::StorageClassUnknown,
    Reason::ObjectLockUnknown,
    Reason::SizeUnknown,
    Reason::Archived,
    Reason::ObjectLocked,
    Reason::CostGuard,
    Reason::CustomerKey,
    Reason::EncryptionKept,
    Reason::OtherUnmet,
    Reason::NoRule,
    Reason::DeleteMarker,
    Reason::NoncurrentVersion,
    Reason::BackupCopy,
    Reason::BadRow,
];

/// A set of reasons, one bit each: copied, compared and hashed without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReasonSet(u32);

impl ReasonSet {
    /// The set of `reasons`.
    pub fn of(reasons: impl IntoIterator<Item = Reason>) -> Self {
        let mut set = Self::default();
        for reason in reasons {
            set.insert(reason);
        }
        set
    }

    /// Adds `reason`.
    pub fn insert(&mut self, reason: Reason) {
        self.0 |= 1 << reason as u32;
    }

    /// Whether `reason` is in the set.
    pub fn contains(self, reason: Reason) -> bool {
        self.0 & (1 << reason as u32) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The reasons, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Reason> {
        ALL_REASONS.into_iter().filter(move |r| self.contains(*r))
    }
}

impl Serialize for ReasonSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// What one action of the worst-case plan costs, as the estimate counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An in-place copy of the object into `to`; `change` is `FROM -> TO` when the class changes.
    Rewrite {
        /// The class after the rewrite.
        to: StorageClass,
        /// `FROM -> TO`, when the class changes.
        change: Option<String>,
    },
    /// A backup copy into `to`.
    Backup {
        /// The backup's class.
        to: StorageClass,
    },
    /// One write request on the object (UpdateObjectEncryption, tagging, ACL).
    Write,
    /// Annotation writes.
    Annotations(usize),
    /// A restore request in `tier`.
    Restore {
        /// Retrieval tier.
        tier: String,
    },
}

/// The judgement of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'p> {
    /// The rule that covers it (or might, for [`Reason::ContentTypeUnknown`]).
    pub rule: Option<&'p str>,
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reasons: ReasonSet,
    /// The worst case's plan, as costs count it: all the function might do.
    pub steps: Rc<[Step]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_table_is_in_the_enums_order_and_sets_iterate_in_it() {
        for (index, reason) in ALL_REASONS.iter().enumerate() {
            assert_eq!(*reason as usize, index);
        }
        let set = ReasonSet::of([Reason::BadRow, Reason::WrongStorageClass]);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Reason::WrongStorageClass, Reason::BadRow]
        );
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["wrong_storage_class","bad_row"]"#
        );
    }
}
