//! Plans for objects whose copies are multipart, where annotations were read: restated on
//! the backup, never lost by a rewrite, never taken as none when they could not be listed.

use super::tests::{action_names, backup_of, head, rule};
use super::*;

const BIG: u64 = 6 * 1024 * 1024 * 1024;

fn listed(names: &[&str]) -> Annotations {
    Annotations::Listed(names.iter().map(|n| (*n).to_owned()).collect())
}

fn plan_with(
    rule: &Rule,
    head: &ObjectHead,
    backup: &BackupState,
    annotations: &Annotations,
    backup_annotations: &Annotations,
) -> Plan {
    plan(
        PlanInput {
            head,
            tags: &Tags::new(),
            backup,
            ia_min_size: 128 * 1024,
            acl: None,
            update_encryption: false,
            annotations,
            backup_annotations,
        },
        rule,
    )
}

#[test]
fn a_multipart_backup_restates_the_annotations_on_the_copy_it_makes() {
    let rule = rule("backup: backup-bucket");
    let source = head(BIG);
    let plan = plan_with(
        &rule,
        &source,
        &BackupState::Absent,
        &listed(&["review", "lineage"]),
        &Annotations::NotRead,
    );
    assert_eq!(action_names(&plan), ["backup", "copy_annotations"]);
    assert_eq!(
        plan.actions[1],
        Action::CopyAnnotations {
            destination: ObjectLocation::current("backup-bucket", "src-bucket/reports/q3.csv"),
            names: vec!["review".into(), "lineage".into()],
            onto_etag: None,
        }
    );
    let none = plan_with(
        &rule,
        &source,
        &BackupState::Absent,
        &listed(&[]),
        &Annotations::NotRead,
    );
    assert_eq!(action_names(&none), ["backup"]);
}

#[test]
fn a_backup_with_the_bytes_but_not_every_annotation_gets_the_missing_ones() {
    let rule = rule("backup: backup-bucket");
    let source = head(BIG);
    let found = backup_of(&source);
    let backup = BackupState::Found(Box::new(found.clone()));
    let plan = plan_with(
        &rule,
        &source,
        &backup,
        &listed(&["review", "lineage"]),
        &listed(&["review"]),
    );
    assert_eq!(
        plan.actions,
        vec![Action::CopyAnnotations {
            destination: found.location.clone(),
            names: vec!["lineage".into()],
            onto_etag: Some(found.etag.clone()),
        }]
    );
    let complete = plan_with(
        &rule,
        &source,
        &backup,
        &listed(&["review"]),
        &listed(&["review", "other"]),
    );
    assert!(
        complete.is_empty() && complete.unmet.is_empty(),
        "{complete:?}"
    );
    let unknown = plan_with(
        &rule,
        &source,
        &backup,
        &listed(&["review"]),
        &Annotations::Unknown("AccessDenied".into()),
    );
    assert!(unknown.is_empty(), "{unknown:?}");
    assert!(unknown.unmet[0].contains("AccessDenied"), "{unknown:?}");
}

#[test]
fn annotations_that_cannot_be_listed_hold_back_multipart_copies() {
    let rule = rule("backup: backup-bucket\nstorage_class: STANDARD_IA\ntags: { team: data }");
    let source = head(BIG);
    let plan = plan_with(
        &rule,
        &source,
        &BackupState::Absent,
        &Annotations::Unknown("ListObjectAnnotations answered AccessDenied".into()),
        &Annotations::NotRead,
    );
    // Tags need no copy: written directly; neither copy is made.
    assert_eq!(action_names(&plan), ["put_tags"]);
    assert_eq!(plan.unmet.len(), 2, "{plan:?}");
    assert!(
        plan.unmet.iter().all(|u| u.contains("AccessDenied")),
        "{plan:?}"
    );
}

#[test]
fn an_annotated_object_is_not_rewritten_by_a_multipart_copy() {
    let rule = rule("storage_class: STANDARD_IA\ntags: { team: data }");
    let source = head(BIG);
    let plan = plan_with(
        &rule,
        &source,
        &BackupState::Absent,
        &listed(&["review"]),
        &Annotations::NotRead,
    );
    assert_eq!(action_names(&plan), ["put_tags"]);
    assert!(plan.unmet[0].contains("1 annotation;"), "{plan:?}");
    // Without annotations (or below the multipart threshold, where they are not read) it is.
    for annotations in [listed(&[]), Annotations::NotRead] {
        let plan = plan_with(
            &rule,
            &source,
            &BackupState::Absent,
            &annotations,
            &Annotations::NotRead,
        );
        assert_eq!(action_names(&plan), ["rewrite"], "{annotations:?}");
    }
}

#[test]
fn an_encryption_only_change_re_keys_an_annotated_object_in_place() {
    let rule = rule(
        "encryption: { algorithm: aws:kms, kms_key_id: \"arn:aws:kms:us-east-1:111122223333:key/aaaa\" }",
    );
    let source = head(BIG);
    let plan = plan(
        PlanInput {
            head: &source,
            tags: &Tags::new(),
            backup: &BackupState::Absent,
            ia_min_size: 0,
            acl: None,
            update_encryption: true,
            annotations: &listed(&["review"]),
            backup_annotations: &Annotations::NotRead,
        },
        &rule,
    );
    assert_eq!(action_names(&plan), ["update_encryption"]);
}

#[test]
fn an_archived_objects_held_back_backup_takes_its_annotations_with_it() {
    let rule = rule("backup: backup-bucket");
    let mut source = head(BIG);
    source.storage_class = StorageClass::Glacier;
    source.archive = Some(ArchiveState::Archived);
    let plan = plan_with(
        &rule,
        &source,
        &BackupState::Absent,
        &listed(&["review"]),
        &Annotations::NotRead,
    );
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn a_backup_with_the_bytes_is_not_compliant_while_the_annotations_are_unknown() {
    let rule = rule("backup: backup-bucket");
    let source = head(BIG);
    let backup = BackupState::Found(Box::new(backup_of(&source)));
    let plan = plan_with(
        &rule,
        &source,
        &backup,
        &Annotations::Unknown("AccessDenied".into()),
        &Annotations::NotRead,
    );
    assert!(plan.is_empty(), "{plan:?}");
    assert!(
        plan.unmet.len() == 1 && plan.unmet[0].contains("whether its backup"),
        "{plan:?}"
    );
}
