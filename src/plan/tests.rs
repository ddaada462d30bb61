//! Table tests of the pure plan.

use super::*;
use crate::object::{Acl, ArchiveState, Checksum};
use crate::policy::Policy;
use crate::policy::document::parse_policy;

const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/aaaa";
const KEY_B: &str = "arn:aws:kms:us-east-1:111122223333:key/bbbb";

pub(super) fn head(size: u64) -> ObjectHead {
    ObjectHead {
        location: ObjectLocation::current("src-bucket", "reports/q3.csv"),
        etag: "0f1e2d3c".into(),
        size,
        last_modified: Some(100),
        content_type: Some("text/csv".into()),
        storage_class: StorageClass::Standard,
        encryption: ActualEncryption::Aes256,
        tag_count: Some(0),
        archive: None,
        website_redirect: None,
        checksum: None,
        metadata: Default::default(),
        content_headers: Default::default(),
        archive_access_tier: None,
        object_lock: ObjectLock::Unlocked,
    }
}

fn kms(key: &str) -> ActualEncryption {
    ActualEncryption::Kms {
        key_id: Some(key.into()),
        bucket_key: false,
    }
}

pub(super) fn rule(yaml: &str) -> Rule {
    parse_policy(yaml).expect("test policy").rules.remove(0)
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn plan_for(
    rule: &Rule,
    head: &ObjectHead,
    current_tags: &Tags,
    backup: Option<&ObjectHead>,
) -> Plan {
    plan(
        PlanInput {
            head,
            tags: current_tags,
            backup: &backup.cloned().map_or(BackupState::Absent, |head| {
                BackupState::Found(Box::new(head))
            }),
            ia_min_size: 128 * 1024,
            acl: None,
            update_encryption: false,
            annotations: &Annotations::NotRead,
            backup_annotations: &Annotations::NotRead,
        },
        rule,
    )
}

pub(super) fn action_names(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(Action::name).collect()
}

/// A backup of `source` in a versioned backup bucket (as the template creates), with the
/// record a backup carries of the write it was copied from.
pub(super) fn backup_of(source: &ObjectHead) -> ObjectHead {
    let metadata = SourceRecord::of(source)
        .stamp(&source.metadata)
        .expect("room for the record");
    ObjectHead {
        location: ObjectLocation {
            version_id: Some("backup-version".into()),
            ..ObjectLocation::current("backup-bucket", &source.location.key)
        },
        metadata,
        ..source.clone()
    }
}

#[test]
fn table_of_cases() {
    let big = 200 * 1024;
    let mut in_ia_with_key_a = head(big);
    in_ia_with_key_a.storage_class = StorageClass::StandardIa;
    in_ia_with_key_a.encryption = kms(KEY_A);
    let mut archived = head(big);
    archived.storage_class = StorageClass::Glacier;
    archived.archive = Some(ArchiveState::Archived);
    let mut not_reported = head(big);
    not_reported.encryption = ActualEncryption::NotReported;
    let mut dsse = head(big);
    dsse.encryption = ActualEncryption::Other {
        name: "aws:kms:dsse".into(),
    };
    let mut bucket_key_on = in_ia_with_key_a.clone();
    bucket_key_on.encryption = ActualEncryption::Kms {
        key_id: Some(KEY_A.into()),
        bucket_key: true,
    };

    let kms_ia = format!(
        "storage_class: STANDARD_IA\nencryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_A}\" }}"
    );
    let kms_b = format!("encryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_B}\" }}");
    let kms_bucket_key_off =
        "encryption: { algorithm: aws:kms, kms_key_id: aaaa, bucket_key: false }".to_string();
    let none = Tags::new();
    let processed = tags(&[("processed-by", "s3pp")]);

    // (case, rule, object, current tags, expected actions)
    let cases: Vec<(&str, String, ObjectHead, Tags, Vec<&str>)> = vec![
        (
            "already compliant",
            kms_ia.clone(),
            in_ia_with_key_a.clone(),
            none.clone(),
            vec![],
        ),
        (
            "wrong key",
            kms_b.clone(),
            in_ia_with_key_a.clone(),
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "key given as bare id complies with its ARN",
            "encryption: { algorithm: aws:kms, kms_key_id: aaaa }".into(),
            in_ia_with_key_a.clone(),
            none.clone(),
            vec![],
        ),
        (
            "any KMS key complies when none is named",
            "encryption: aws:kms".into(),
            in_ia_with_key_a.clone(),
            none.clone(),
            vec![],
        ),
        (
            "SSE-S3 object under a KMS rule",
            kms_ia.clone(),
            head(big),
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "KMS object under an SSE-S3 rule",
            "encryption: AES256".into(),
            in_ia_with_key_a.clone(),
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "SSE not reported (emulator) under SSE-S3 rule",
            "encryption: AES256".into(),
            not_reported,
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "bucket key must be off",
            kms_bucket_key_off,
            bucket_key_on,
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "wrong class",
            "storage_class: STANDARD_IA".into(),
            head(big),
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "cost guard keeps a small object out of IA",
            "storage_class: STANDARD_IA".into(),
            head(1024),
            none.clone(),
            vec![],
        ),
        (
            "cost guard does not apply to GLACIER",
            "storage_class: GLACIER".into(),
            head(10),
            none.clone(),
            vec!["rewrite"],
        ),
        (
            "backup only, no backup yet",
            "backup: backup-bucket".into(),
            head(10),
            none.clone(),
            vec!["backup"],
        ),
        (
            "tags missing",
            "tags: { processed-by: s3pp }".into(),
            head(10),
            none.clone(),
            vec!["put_tags"],
        ),
        (
            "tags present",
            "tags: { processed-by: s3pp }".into(),
            head(10),
            processed.clone(),
            vec![],
        ),
        (
            "tag with another value",
            "tags: { processed-by: s3pp }".into(),
            head(10),
            tags(&[("processed-by", "x")]),
            vec!["put_tags"],
        ),
        (
            "everything at once",
            format!("{kms_ia}\nbackup: backup-bucket\ntags: {{ processed-by: s3pp }}"),
            head(big),
            none.clone(),
            vec!["backup", "rewrite"],
        ),
        (
            "archived object",
            "storage_class: STANDARD".into(),
            archived,
            none.clone(),
            vec![],
        ),
        (
            "DSSE object cannot be rewritten keeping its encryption",
            "storage_class: GLACIER".into(),
            dsse,
            none.clone(),
            vec![],
        ),
    ];
    for (case, yaml, object, current_tags, expected) in cases {
        let rule = rule(&yaml);
        let plan = plan_for(&rule, &object, &current_tags, None);
        assert_eq!(
            action_names(&plan),
            expected,
            "case: {case}; plan: {plan:?}"
        );
    }
}

#[test]
fn rewrite_carries_class_encryption_and_merged_tags_in_one_copy() {
    let rule = rule(&format!(
        "storage_class: STANDARD_IA\nencryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_B}\", bucket_key: true }}\ntags: {{ processed-by: s3pp }}"
    ));
    let plan = plan_for(&rule, &head(200 * 1024), &tags(&[("owner", "me")]), None);
    assert_eq!(
        plan.actions,
        vec![Action::Rewrite {
            storage_class: StorageClass::StandardIa,
            encryption: Some(EncryptionSpec::Kms {
                key: Some(KmsKey::new(KEY_B)),
                bucket_key: Some(true)
            }),
            tags: Some(tags(&[("owner", "me"), ("processed-by", "s3pp")])),
        }]
    );
}

#[test]
fn class_change_keeps_the_objects_own_kms_key() {
    let mut object = head(200 * 1024);
    object.encryption = ActualEncryption::Kms {
        key_id: Some(KEY_A.into()),
        bucket_key: true,
    };
    let plan = plan_for(
        &rule("storage_class: GLACIER_IR"),
        &object,
        &Tags::new(),
        None,
    );
    assert_eq!(
        plan.actions,
        vec![Action::Rewrite {
            storage_class: StorageClass::GlacierIr,
            encryption: Some(EncryptionSpec::Kms {
                key: Some(KmsKey::new(KEY_A)),
                bucket_key: Some(true)
            }),
            tags: None,
        }]
    );
}

/// Defect: `encryption: aws:kms` (any key) plus a class change sent `aws:kms` with no key id,
/// which S3 takes as the AWS-managed key: the object lost its customer key and bucket key.
#[test]
fn class_change_under_any_kms_rule_keeps_the_customer_key_and_bucket_key() {
    let mut object = head(200 * 1024);
    object.encryption = ActualEncryption::Kms {
        key_id: Some(KEY_A.into()),
        bucket_key: true,
    };
    for policy in [
        "storage_class: STANDARD_IA\nencryption: aws:kms".to_string(),
        format!(
            "storage_class: STANDARD_IA\nencryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_A}\" }}"
        ),
        "storage_class: STANDARD_IA\nencryption: { algorithm: aws:kms, kms_key_id: aaaa, bucket_key: true }".to_string(),
    ] {
        let plan = plan_for(&rule(&policy), &object, &Tags::new(), None);
        assert_eq!(
            plan.actions,
            vec![Action::Rewrite {
                storage_class: StorageClass::StandardIa,
                encryption: Some(EncryptionSpec::Kms {
                    key: Some(KmsKey::new(KEY_A)),
                    bucket_key: Some(true)
                }),
                tags: None,
            }],
            "{policy}"
        );
    }
}

/// When the encryption does not comply, the rewrite asks for the rule's, not the object's.
#[test]
fn non_compliant_encryption_is_replaced_by_the_rules() {
    let mut object = head(200 * 1024);
    object.encryption = kms(KEY_A);
    let plan = plan_for(
        &rule(&format!(
            "encryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_B}\" }}"
        )),
        &object,
        &Tags::new(),
        None,
    );
    assert_eq!(
        plan.actions,
        vec![Action::Rewrite {
            storage_class: StorageClass::Standard,
            encryption: Some(EncryptionSpec::Kms {
                key: Some(KmsKey::new(KEY_B)),
                bucket_key: None
            }),
            tags: None,
        }]
    );
}

#[test]
fn backup_goes_first_with_prefix_class_and_encryption() {
    let rule = rule(
        "storage_class: STANDARD_IA\nbackup: { bucket: backup-bucket, prefix: \"copies/{bucket}/\", storage_class: GLACIER_IR, encryption: AES256 }",
    );
    let plan = plan_for(&rule, &head(200 * 1024), &Tags::new(), None);
    assert_eq!(
        plan.actions[0],
        Action::Backup {
            destination: ObjectLocation::current(
                "backup-bucket",
                "copies/src-bucket/reports/q3.csv"
            ),
            storage_class: StorageClass::GlacierIr,
            encryption: Some(EncryptionSpec::Aes256),
            condition: BackupCondition::OnlyIfAbsent,
        }
    );
    assert!(matches!(plan.actions[1], Action::Rewrite { .. }));
}

/// Whether a backup holds the source's bytes is decided from evidence only: checksums, the
/// backup's record of the write it was copied from, plain MD5 ETags; never Last-Modified.
#[test]
fn backup_currency() {
    let rule = rule("backup: backup-bucket");
    let source = head(10);
    let current = backup_of(&source);
    assert_eq!(same_bytes(&source, &current), SameBytes::Yes);
    assert!(
        plan_for(&rule, &source, &Tags::new(), Some(&current)).is_empty(),
        "recorded as a copy of this write"
    );

    let mut other_size = current.clone();
    other_size.size = 11;
    assert_eq!(same_bytes(&source, &other_size), SameBytes::No);
    assert_eq!(
        action_names(&plan_for(&rule, &source, &Tags::new(), Some(&other_size))),
        ["backup"]
    );

    let mut unrecorded = current.clone();
    unrecorded.metadata = Default::default();
    unrecorded.etag = "other".into();
    assert_eq!(
        same_bytes(&source, &unrecorded),
        SameBytes::No,
        "plain MD5 ETags that differ mean different bytes"
    );

    // SSE-KMS ETags are not MD5s: without a checksum or a record nothing is known, whatever
    // the times say, and the copy is made again (conditionally).
    let mut kms_source = source.clone();
    kms_source.encryption = kms(KEY_A);
    let mut kms_copy = unrecorded.clone();
    kms_copy.encryption = kms(KEY_A);
    kms_copy.etag = "unrelated-kms-etag".into();
    for last_modified in [Some(50), Some(500)] {
        kms_copy.last_modified = last_modified;
        assert_eq!(same_bytes(&kms_source, &kms_copy), SameBytes::Unknown);
        assert_eq!(
            plan_for(&rule, &kms_source, &Tags::new(), Some(&kms_copy)).actions,
            vec![Action::Backup {
                destination: ObjectLocation::current("backup-bucket", "src-bucket/reports/q3.csv"),
                storage_class: StorageClass::Standard,
                encryption: None,
                condition: BackupCondition::Replacing("unrelated-kms-etag".into()),
            }],
            "every replacement names the object it replaces"
        );
    }
    // A record of another write of the source: not these bytes.
    let mut older_write = backup_of(&kms_source);
    older_write.etag = "backup-etag".into();
    older_write.metadata = SourceRecord::of(&ObjectHead {
        etag: "an-earlier-write".into(),
        ..kms_source.clone()
    })
    .stamp(&Default::default())
    .unwrap();
    assert_eq!(same_bytes(&kms_source, &older_write), SameBytes::No);
}

#[test]
fn objects_in_their_own_backup_location_are_not_backed_up_again() {
    // Any bucket's backups go under `{bucket}/` in src-bucket: `reports/q3.csv` reads as a
    // backup of bucket `reports`'s `q3.csv`.
    let rule = rule("backup: src-bucket");
    let plan = plan_for(&rule, &head(10), &Tags::new(), None);
    assert!(plan.is_empty());
    assert_eq!(plan.unmet.len(), 1);
}

#[test]
fn cost_guard_explains_itself() {
    let plan = plan_for(
        &rule("storage_class: ONEZONE_IA"),
        &head(1000),
        &Tags::new(),
        None,
    );
    assert!(plan.unmet[0].contains("cost guard"), "{:?}", plan.unmet);
}

/// A tag problem never blocks the important work: the backup and the rewrite still happen
/// (without the tag change), and the tag requirement is reported as a failure.
#[test]
fn too_many_tags_fails_the_tag_requirement_but_not_the_rest() {
    let existing: Tags = (0..10).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let plan = plan(
        PlanInput {
            head: &head(200 * 1024),
            tags: &existing,
            backup: &BackupState::Absent,
            ia_min_size: 0,
            acl: None,
            update_encryption: false,
            annotations: &Annotations::NotRead,
            backup_annotations: &Annotations::NotRead,
        },
        &rule("tags: { new: tag }\nstorage_class: STANDARD_IA\nbackup: backup-bucket"),
    );
    assert_eq!(
        plan.failures,
        vec![PlanError::TooManyTags {
            existing: 10,
            added: 1
        }]
    );
    assert_eq!(action_names(&plan), ["backup", "rewrite"]);
    assert!(
        matches!(&plan.actions[1], Action::Rewrite { tags: None, .. }),
        "{plan:?}"
    );
}

#[test]
fn rules_match_on_key_size_and_content_type_first_match_wins() {
    let policy: Policy = parse_policy(
        r#"
rules:
  - name: small-csv
    match: { prefix: reports/, suffix: .csv, max_size: 99, content_type: [text/csv] }
    tags: { size: small }
  - name: big-reports
    match: { buckets: [src-bucket], prefix: reports/, min_size: 100 }
    tags: { size: big }
"#,
    )
    .unwrap();
    assert_eq!(
        policy.rule_for(&head(10)).map(|r| r.name.as_str()),
        Some("small-csv")
    );
    assert_eq!(
        policy.rule_for(&head(100)).map(|r| r.name.as_str()),
        Some("big-reports")
    );
    let mut json = head(10);
    json.content_type = Some("application/json".into());
    assert_eq!(policy.rule_for(&json), None);
    let mut elsewhere = head(100);
    elsewhere.location.bucket = "other-bucket".into();
    assert_eq!(policy.rule_for(&elsewhere), None);
    assert!(policy.may_cover("src-bucket", "reports/x"));
    assert!(!policy.may_cover("src-bucket", "logs/x"));
}

#[test]
fn matching_checksums_make_a_backup_current_whatever_the_etags_and_times() {
    let rule = rule("backup: backup-bucket");
    let mut source = head(10);
    source.encryption = kms(KEY_A);
    source.etag = "kms-etag".into();
    source.checksum = Some(Checksum::new("CRC64NVME", "abc="));
    let mut copy = backup_of(&source);
    copy.metadata = Default::default();
    copy.etag = "plain".into();
    copy.last_modified = Some(1);
    assert!(plan_for(&rule, &source, &Tags::new(), Some(&copy)).is_empty());
    copy.checksum = Some(Checksum::new("CRC64NVME", "xyz="));
    copy.last_modified = Some(1000);
    assert_eq!(
        action_names(&plan_for(&rule, &source, &Tags::new(), Some(&copy))),
        ["backup"]
    );
    // Every algorithm S3 has compares the same way.
    for algorithm in crate::object::CHECKSUM_ALGORITHMS {
        source.checksum = Some(Checksum::new(algorithm, "same="));
        copy.checksum = Some(Checksum::new(algorithm, "same="));
        assert_eq!(same_bytes(&source, &copy), SameBytes::Yes, "{algorithm}");
        copy.checksum = Some(Checksum::new(algorithm, "other="));
        assert_eq!(same_bytes(&source, &copy), SameBytes::No, "{algorithm}");
    }
    // Composite checksums that differ may only differ in part layout: not evidence.
    source.checksum = Some(Checksum::new("SHA256", "abc=-2"));
    copy.checksum = Some(Checksum::new("SHA256", "xyz=-3"));
    assert_eq!(same_bytes(&source, &copy), SameBytes::Unknown);
}

#[test]
fn archived_objects_get_a_restore_only_when_the_rule_asks() {
    let mut archived = head(10);
    archived.storage_class = StorageClass::DeepArchive;
    archived.archive = Some(ArchiveState::Archived);
    let restore = rule("storage_class: STANDARD\nrestore: { days: 2, tier: Standard }");
    let plan = plan_for(&restore, &archived, &Tags::new(), None);
    assert_eq!(
        plan.actions,
        vec![Action::Restore {
            days: Some(2),
            tier: "Standard".into()
        }]
    );
    assert!(plan.unmet[0].contains("restore requested"), "{plan:?}");
    archived.archive = Some(ArchiveState::Restoring);
    let restoring = plan_for(&restore, &archived, &Tags::new(), None);
    assert!(restoring.is_empty());
    assert!(
        restoring.unmet[0].contains("being restored"),
        "{restoring:?}"
    );
    archived.archive = Some(ArchiveState::Archived);
    let no_restore = plan_for(
        &rule("storage_class: STANDARD"),
        &archived,
        &Tags::new(),
        None,
    );
    assert!(no_restore.is_empty());
    assert!(
        no_restore.unmet[0].contains("set `restore`"),
        "{no_restore:?}"
    );
}

/// Tags and ACLs are written to archived objects directly (S3 allows it without a restore);
/// a restore is requested only for a copy the archive blocks, so an object already in the
/// wanted archive class with no backup to make gets none.
#[test]
fn archived_objects_get_tags_directly_and_a_restore_only_for_copies() {
    let mut archived = head(200 * 1024);
    archived.storage_class = StorageClass::Glacier;
    archived.archive = Some(ArchiveState::Archived);
    let in_place = rule("storage_class: GLACIER\ntags: { team: data }\nrestore: {}");
    let plan = plan_for(&in_place, &archived, &Tags::new(), None);
    assert_eq!(action_names(&plan), ["put_tags"], "{plan:?}");
    assert!(plan.unmet.is_empty(), "{plan:?}");

    let with_backup = rule(
        "storage_class: STANDARD_IA\ntags: { team: data }\nbackup: backup-bucket\nrestore: {}",
    );
    let plan = plan_for(&with_backup, &archived, &Tags::new(), None);
    assert_eq!(action_names(&plan), ["put_tags", "restore"], "{plan:?}");
    assert!(
        plan.unmet[0].contains("the backup copy and the storage class change"),
        "{plan:?}"
    );
}

/// Intelligent-Tiering archive tiers reject `Days`; Expedited does not exist for
/// DEEP_ARCHIVE (or IT's Deep Archive Access tier), so Standard is requested with a note.
#[test]
fn restores_are_requests_s3_accepts() {
    let restore = rule("storage_class: STANDARD\nrestore: { days: 3, tier: Expedited }");
    let mut tiering = head(10);
    tiering.storage_class = StorageClass::IntelligentTiering;
    tiering.archive = Some(ArchiveState::Archived);
    tiering.archive_access_tier = Some("ARCHIVE_ACCESS".into());
    assert_eq!(
        plan_for(&restore, &tiering, &Tags::new(), None).actions,
        vec![Action::Restore {
            days: None,
            tier: "Expedited".into()
        }]
    );
    tiering.archive_access_tier = Some("DEEP_ARCHIVE_ACCESS".into());
    let deep_tier = plan_for(&restore, &tiering, &Tags::new(), None);
    assert_eq!(
        deep_tier.actions,
        vec![Action::Restore {
            days: None,
            tier: "Standard".into()
        }]
    );
    let mut deep = head(10);
    deep.storage_class = StorageClass::DeepArchive;
    deep.archive = Some(ArchiveState::Archived);
    let plan = plan_for(&restore, &deep, &Tags::new(), None);
    assert_eq!(
        plan.actions,
        vec![Action::Restore {
            days: Some(3),
            tier: "Standard".into()
        }]
    );
    assert!(plan.notes[0].contains("Expedited"), "{plan:?}");
}

/// SSE-C objects cannot be copied without the customer's key: no backup, no rewrite, and the
/// plan says why; tags still go on.
#[test]
fn sse_c_objects_get_no_copies_and_say_why() {
    let mut object = head(200 * 1024);
    object.encryption = ActualEncryption::Other {
        name: "SSE-C (AES256)".into(),
    };
    let plan = plan_for(
        &rule("storage_class: STANDARD_IA\nbackup: backup-bucket\ntags: { a: b }"),
        &object,
        &Tags::new(),
        None,
    );
    assert_eq!(action_names(&plan), ["put_tags"], "{plan:?}");
    assert!(plan.unmet[0].contains("SSE-C"), "{plan:?}");
}

/// The cost guard covers backups: a class with a minimum billable size or an archive
/// overhead is not used for small objects; the backup goes to STANDARD, and the plan says so.
#[test]
fn cost_guard_keeps_small_backups_in_standard() {
    for class in [
        "GLACIER_IR",
        "STANDARD_IA",
        "ONEZONE_IA",
        "GLACIER",
        "DEEP_ARCHIVE",
    ] {
        let rule = rule(&format!(
            "backup: {{ bucket: backup-bucket, storage_class: {class} }}"
        ));
        let plan = plan_for(&rule, &head(1000), &Tags::new(), None);
        assert!(
            matches!(
                &plan.actions[0],
                Action::Backup {
                    storage_class: StorageClass::Standard,
                    ..
                }
            ),
            "{class}: {plan:?}"
        );
        assert!(plan.unmet[0].contains("cost guard"), "{class}: {plan:?}");
        let big = plan_for(&rule, &head(200 * 1024), &Tags::new(), None);
        assert!(
            matches!(&big.actions[0], Action::Backup { storage_class, .. } if storage_class.as_str() == class),
            "{class}: {big:?}"
        );
        assert!(big.unmet.is_empty());
    }
}

/// Object Lock: the rewrite is skipped with a note (a new version would not carry the
/// retention); the backup and the tags still happen.
#[test]
fn object_lock_skips_the_rewrite_only() {
    let mut locked = head(200 * 1024);
    locked.object_lock =
        ObjectLock::Locked("COMPLIANCE retention until 2030-01-01T00:00:00Z".into());
    let plan = plan_for(
        &rule("storage_class: STANDARD_IA\nbackup: backup-bucket\ntags: { a: b }"),
        &locked,
        &Tags::new(),
        None,
    );
    assert_eq!(action_names(&plan), ["backup", "put_tags"], "{plan:?}");
    assert!(plan.unmet[0].contains("Object Lock"), "{plan:?}");
}

/// Object Lock that could not be read (HEAD's silence is no evidence, or the reads were
/// refused) holds the rewrite back, as a lock would; the backup and tags still happen.
#[test]
fn an_unknown_object_lock_holds_the_rewrite_back() {
    let rule = rule("storage_class: STANDARD_IA\nbackup: backup-bucket\ntags: { a: b }");
    for lock in [
        ObjectLock::NotReported,
        ObjectLock::Unknown("GetObjectRetention: AccessDenied".into()),
    ] {
        let mut head = head(200 * 1024);
        head.object_lock = lock;
        let plan = plan_for(&rule, &head, &Tags::new(), None);
        assert_eq!(action_names(&plan), ["backup", "put_tags"], "{plan:?}");
        assert!(plan.unmet[0].contains("Object Lock"), "{plan:?}");
        assert!(wants_rewrite(&head, &rule, 0));
    }
}

/// In a backup bucket without versioning, replacing loses what is there: only a backup
/// recorded as this source's is replaced (conditionally), or an unrecorded object when the
/// rule allows it; in a versioned bucket anything may be, as the replaced object is kept.
/// Which is newer is never judged from Last-Modified.
#[test]
fn only_recorded_backups_are_replaced_in_an_unversioned_bucket() {
    let rule_default = rule("backup: backup-bucket");
    let adopting = rule("backup: { bucket: backup-bucket, replace_unrecorded: true }");
    let source = head(10);
    let mut foreign = backup_of(&source);
    foreign.location.version_id = None;
    foreign.metadata = Default::default();
    foreign.etag = "someone-elses".into();
    foreign.size = 99;
    for last_modified in [Some(50), Some(500)] {
        foreign.last_modified = last_modified;
        let plan = plan_for(&rule_default, &source, &Tags::new(), Some(&foreign));
        assert!(plan.is_empty(), "{plan:?}");
        assert!(
            plan.unmet[0].contains("not recorded as a backup"),
            "{plan:?}"
        );
        let adopted = plan_for(&adopting, &source, &Tags::new(), Some(&foreign));
        assert!(
            matches!(&adopted.actions[..], [Action::Backup { condition: BackupCondition::Replacing(etag), .. }] if etag == "someone-elses"),
            "{adopted:?}"
        );
    }
    // A recorded backup of an earlier write of this source: replaced, only where it is.
    let mut earlier = backup_of(&ObjectHead {
        etag: "earlier".into(),
        size: 99,
        ..source.clone()
    });
    earlier.location.version_id = None;
    earlier.etag = "earlier-backup".into();
    let plan = plan_for(&rule_default, &source, &Tags::new(), Some(&earlier));
    assert!(
        matches!(&plan.actions[..], [Action::Backup { condition: BackupCondition::Replacing(etag), .. }] if etag == "earlier-backup"),
        "{plan:?}"
    );
    // A backup recorded as another bucket's: never replaced without versioning.
    let mut elsewhere = earlier.clone();
    elsewhere.metadata = SourceRecord::of(&ObjectHead {
        location: ObjectLocation::current("another-source", "reports/q3.csv"),
        ..source.clone()
    })
    .stamp(&Default::default())
    .unwrap();
    let plan = plan_for(&adopting, &source, &Tags::new(), Some(&elsewhere));
    assert!(
        plan.is_empty() && plan.unmet[0].contains("another-source"),
        "{plan:?}"
    );
    // Versioned: replaced, conditionally.
    foreign.location.version_id = Some("v2".into());
    assert_eq!(
        action_names(&plan_for(
            &rule_default,
            &source,
            &Tags::new(),
            Some(&foreign)
        )),
        ["backup"]
    );
}

#[test]
fn public_grants_are_removed_and_other_grants_kept() {
    use crate::object::{ALL_USERS, Grant, Grantee};
    let owner = Grant {
        grantee: Grantee::CanonicalUser("owner".into()),
        permission: "FULL_CONTROL".into(),
    };
    let public = Grant {
        grantee: Grantee::Group(ALL_USERS.into()),
        permission: "READ".into(),
    };
    let acl = Acl {
        owner_id: Some("owner".into()),
        grants: vec![owner.clone(), public],
    };
    let rule = rule("remove_public_acl: true");
    let input = PlanInput {
        head: &head(10),
        tags: &Tags::new(),
        backup: &BackupState::Absent,
        ia_min_size: 0,
        acl: Some(&acl),
        update_encryption: false,
        annotations: &Annotations::NotRead,
        backup_annotations: &Annotations::NotRead,
    };
    let plan = plan(input, &rule);
    assert_eq!(
        plan.actions,
        vec![Action::RemovePublicGrants {
            acl: Acl {
                owner_id: Some("owner".into()),
                grants: vec![owner.clone()]
            }
        }]
    );
    let private = Acl {
        owner_id: Some("owner".into()),
        grants: vec![owner],
    };
    let input = PlanInput {
        acl: Some(&private),
        ..input
    };
    assert!(super::plan(input, &rule).is_empty());
}

/// What the early backup copy is built from (the event's key and size) gives the same backup
/// action, and the same rule, as the plan made after HEAD: across sizes around the cost guard
/// and the matchers' size bounds.
#[test]
fn event_time_backup_and_rule_agree_with_the_plan() {
    let policy: Policy = parse_policy(
        "ia_min_size: 1000\nrules:\n  - name: small\n    match: { prefix: reports/, max_size: 99 }\n    backup: { bucket: backup-bucket, prefix: \"small/{bucket}/\", storage_class: GLACIER_IR }\n  - name: csv\n    match: { suffix: .csv, content_type: text/csv }\n    backup: { bucket: backup-bucket, prefix: \"csv/{bucket}/\" }\n  - name: rest\n    backup: { bucket: backup-bucket, prefix: \"rest/{bucket}/\", storage_class: STANDARD_IA, encryption: AES256 }\n",
    )
    .unwrap();
    for size in [0, 99, 100, 999, 1000, 5000] {
        let mut head = head(size);
        for key in ["reports/q3.csv", "reports/q3.txt", "other/x"] {
            head.location.key = key.into();
            let at_head = policy.rule_for(&head);
            match policy.rule_before_head("src-bucket", key, size) {
                Some(rule) => assert_eq!(Some(rule), at_head, "{key} {size}"),
                // Only a content-type rule that might match leaves it to HEAD.
                None => assert!(key.ends_with(".csv"), "{key} {size}"),
            }
            let Some(rule) = at_head else { continue };
            let planned = plan(
                PlanInput {
                    head: &head,
                    tags: &Tags::new(),
                    backup: &BackupState::Unread,
                    ia_min_size: policy.ia_min_size,
                    acl: None,
                    update_encryption: false,
                    annotations: &Annotations::NotRead,
                    backup_annotations: &Annotations::NotRead,
                },
                rule,
            );
            let planned_backup = planned
                .actions
                .iter()
                .find(|a| matches!(a, Action::Backup { .. }));
            let early = backup_into_empty_location(rule, &head.location, size, policy.ia_min_size);
            assert_eq!(planned_backup, early.as_ref(), "{key} {size}");
        }
    }
}

/// A backup with the source's bytes but not its website redirect (a copy that could not
/// restate it) is replaced, and only that object (`If-Match` its ETag); one with the redirect
/// is left alone.
#[test]
fn a_backup_without_the_sources_redirect_is_replaced_only_where_it_is() {
    let rule = rule("backup: backup-bucket");
    let mut source = head(500);
    source.website_redirect = Some("/elsewhere".into());
    let mut without = backup_of(&source);
    without.website_redirect = None;
    let plan = plan_for(&rule, &source, &Tags::new(), Some(&without));
    assert!(
        matches!(
            plan.actions.as_slice(),
            [Action::Backup { condition: BackupCondition::Replacing(etag), .. }] if *etag == without.etag
        ),
        "{plan:?}"
    );
    let with = backup_of(&source);
    assert!(plan_for(&rule, &source, &Tags::new(), Some(&with)).is_empty());
}

/// The plan for `head` under `rule` when UpdateObjectEncryption may be used.
fn plan_rekeying(rule: &Rule, head: &ObjectHead) -> Plan {
    plan(
        PlanInput {
            head,
            tags: &Tags::new(),
            backup: &BackupState::Absent,
            ia_min_size: 0,
            acl: None,
            update_encryption: true,
            annotations: &Annotations::NotRead,
            backup_annotations: &Annotations::NotRead,
        },
        rule,
    )
}

fn rekey_to(arn: &str, bucket_key: Option<bool>) -> Action {
    Action::UpdateEncryption {
        encryption: EncryptionSpec::Kms {
            key: Some(KmsKey {
                configured: arn.into(),
                resolved_arn: Some(arn.into()),
            }),
            bucket_key,
        },
    }
}

/// An encryption-only change uses UpdateObjectEncryption where S3 can do it: SSE-S3 or SSE-KMS
/// sources, a target key named by ARN (as written, or an alias resolved at cold start), the
/// bucket key turned on for the object's own key; tags and ACLs are written beside it. Anything
/// else takes the copy: a class change too, SSE-S3 as the target, the AWS-managed key, a bare
/// key id, an unresolved alias, DSSE or unreported encryption, a directory bucket.
#[test]
fn encryption_only_changes_re_key_without_copying() {
    let to_a = rule(&format!(
        "encryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_A}\", bucket_key: true }}\ntags: {{ a: b }}"
    ));
    let sse_s3 = head(10);
    assert_eq!(
        plan_rekeying(&to_a, &sse_s3).actions,
        vec![
            rekey_to(KEY_A, Some(true)),
            Action::PutTags {
                tags: tags(&[("a", "b")])
            }
        ]
    );
    let mut under_b = head(10);
    under_b.encryption = kms(KEY_B);
    assert_eq!(
        plan_rekeying(&to_a, &under_b).actions[0],
        rekey_to(KEY_A, Some(true))
    );
    // The bucket key on, for the object's own key.
    let bucket_key = rule("encryption: { algorithm: aws:kms, bucket_key: true }");
    assert_eq!(
        plan_rekeying(&bucket_key, &under_b).actions,
        vec![rekey_to(KEY_B, Some(true))]
    );
    // An alias resolved at cold start: its key ARN.
    let mut alias = rule("encryption: { algorithm: aws:kms, kms_key_id: alias/reports }");
    if let Some(EncryptionSpec::Kms { key: Some(key), .. }) = alias.encryption.as_mut() {
        key.resolved_arn = Some(KEY_A.into());
    }
    assert_eq!(
        plan_rekeying(&alias, &sse_s3).actions,
        vec![rekey_to(KEY_A, None)]
    );

    let mut directory = sse_s3.clone();
    directory.location.bucket = "fast--usw2-az1--x-s3".into();
    let mut dsse = sse_s3.clone();
    dsse.encryption = ActualEncryption::Other {
        name: "aws:kms:dsse".into(),
    };
    let mut not_reported = sse_s3.clone();
    not_reported.encryption = ActualEncryption::NotReported;
    for (case, rule, head) in [
        (
            "a class change too",
            rule(&format!(
                "storage_class: GLACIER_IR\nencryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_A}\" }}"
            )),
            sse_s3.clone(),
        ),
        (
            "SSE-S3 as the target",
            rule("encryption: AES256"),
            under_b.clone(),
        ),
        (
            "the AWS-managed key",
            rule("encryption: aws:kms"),
            sse_s3.clone(),
        ),
        (
            "a bare key id",
            rule(
                "encryption: { algorithm: aws:kms, kms_key_id: 1234abcd-12ab-34cd-56ef-1234567890ab }",
            ),
            sse_s3.clone(),
        ),
        (
            "an unresolved alias",
            rule("encryption: { algorithm: aws:kms, kms_key_id: alias/reports }"),
            sse_s3.clone(),
        ),
        ("a directory bucket", to_a.clone(), directory),
        ("unreported encryption", to_a.clone(), not_reported),
    ] {
        let plan = plan_rekeying(&rule, &head);
        assert_eq!(action_names(&plan)[0], "rewrite", "{case}: {plan:?}");
    }
    let plan = plan_rekeying(&to_a, &dsse);
    assert!(
        plan.actions.iter().all(|a| a.name() != "update_encryption"),
        "{plan:?}"
    );
}

/// Archived objects are re-keyed where they are (no restore, nothing held back for it); a
/// locked object is not (S3 refuses it, and a retention must not be worked around).
#[test]
fn archived_objects_re_key_without_a_restore_and_locked_ones_do_not() {
    let to_a = rule(&format!(
        "encryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY_A}\" }}\nrestore: {{ days: 1, tier: Bulk }}"
    ));
    let mut archived = head(10);
    archived.storage_class = StorageClass::DeepArchive;
    archived.archive = Some(ArchiveState::Archived);
    let plan = plan_rekeying(&to_a, &archived);
    assert_eq!(plan.actions, vec![rekey_to(KEY_A, None)]);
    assert!(plan.unmet.is_empty(), "{plan:?}");
    let mut locked = head(10);
    locked.object_lock = ObjectLock::Locked("legal hold".into());
    let plan = plan_rekeying(&to_a, &locked);
    assert!(
        plan.actions.is_empty() && plan.unmet[0].contains("Object Lock"),
        "{plan:?}"
    );
}
