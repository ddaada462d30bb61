//! What an object's annotations ask of a plan. A single CopyObject carries them; a multipart
//! copy does not, so where the object's copies are multipart (which is exactly when its
//! annotations were read) the backup copy restates them once it completes, a backup that holds
//! the bytes but lacks some of them gets them, and the in-place rewrite is not made: between
//! its completion and the last annotation write the user's object would stand without them,
//! and in a bucket without versioning a failure there would lose them for good. Annotations
//! that cannot be listed are never taken as none.

use super::{Action, BackupState, PlanInput, SameBytes, same_bytes};
use crate::annotations::Annotations;

/// Why the in-place rewrite (a multipart copy) must not run, if it must not.
pub(super) fn rewrite_blocker(input: PlanInput<'_>) -> Option<String> {
    match input.annotations {
        Annotations::Listed(names) if !names.is_empty() => Some(format!(
            "object has {} annotation{}; a rewrite of this size is a multipart copy, which does not carry them, and the object would stand without them until each was written again (for good, in a bucket without versioning, if that failed), so its class and encryption are left as they are",
            names.len(),
            if names.len() == 1 { "" } else { "s" }
        )),
        Annotations::Unknown(why) => Some(format!(
            "cannot list the object's annotations ({why}); a rewrite of this size is a multipart copy, which does not carry them, so its class and encryption are left as they are until they can be read (grant s3:ListObjectAnnotations)"
        )),
        _ => None,
    }
}

/// Adds the backup copy `backup` (when there is one) with what the annotations need, or, when
/// the backup already holds the bytes, the annotations it lacks.
pub(super) fn add_backup(
    input: PlanInput<'_>,
    backup: Option<Action>,
    actions: &mut Vec<Action>,
    unmet: &mut Vec<String>,
) {
    let Some(action) = backup else {
        add_missing_to_current_backup(input, actions, unmet);
        return;
    };
    match input.annotations {
        Annotations::Unknown(why) => unmet.push(format!(
            "cannot list the object's annotations ({why}); a backup of this size is a multipart copy, which does not carry them, so it is not made until they can be read (grant s3:ListObjectAnnotations and s3:GetObjectAnnotation)"
        )),
        Annotations::Listed(names) if !names.is_empty() => {
            let restate = match &action {
                Action::Backup { destination, .. } => Some(Action::CopyAnnotations {
                    destination: destination.clone(),
                    names: names.clone(),
                    onto_etag: None,
                }),
                _ => None,
            };
            actions.push(action);
            actions.extend(restate);
        }
        _ => actions.push(action),
    }
}

/// A backup found with the source's bytes that lacks some of its annotations (a copy that
/// stopped between its completion and its last annotation write) gets the missing ones.
fn add_missing_to_current_backup(
    input: PlanInput<'_>,
    actions: &mut Vec<Action>,
    unmet: &mut Vec<String>,
) {
    let BackupState::Found(copy) = input.backup else {
        return;
    };
    if same_bytes(input.head, copy) != SameBytes::Yes {
        return;
    }
    let location = format!("s3://{}/{}", copy.location.bucket, copy.location.key);
    if let Annotations::Unknown(why) = input.annotations {
        unmet.push(format!(
            "cannot list the object's annotations ({why}); whether its backup at {location} carries them is unknown"
        ));
        return;
    }
    if !input.annotations.any() {
        return;
    }
    match (
        input.annotations.missing_from(input.backup_annotations),
        input.backup_annotations,
    ) {
        (Some(missing), _) if missing.is_empty() => {}
        (Some(missing), _) => actions.push(Action::CopyAnnotations {
            destination: copy.location.clone(),
            names: missing,
            onto_etag: Some(copy.etag.clone()),
        }),
        (None, Annotations::Unknown(why)) => unmet.push(format!(
            "cannot list the annotations of the backup at {location} ({why}); whether it carries the object's annotations is unknown"
        )),
        (None, _) => unmet.push(format!(
            "the annotations of the backup at {location} were not read; whether it carries the object's annotations is unknown"
        )),
    }
}
