//! Runs a plan against an [`ObjectStore`], in the safe order the plan gives: backup copy first
//! (from the exact version / ETag seen), then the single in-place rewrite, then tags.

pub mod copy;
pub mod resume;

use std::time::Instant;

use crate::object::{ObjectHead, ObjectLocation};
use crate::plan::{Action, Plan};
use crate::store::{CopyRequest, ObjectStore, TagDirective, WriteCondition};
use copy::{CopyError, CopySettings};

/// A plan step that failed; the steps before it were applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step} failed after {completed} of {total} actions: {source}")]
pub struct ApplyError {
    /// The action's name (`backup`, `rewrite`, `put_tags`, ...).
    pub step: &'static str,
    /// Actions completed before the failure.
    pub completed: usize,
    /// Actions in the plan.
    pub total: usize,
    /// What failed.
    #[source]
    pub source: CopyError,
}

/// Applies every action of `plan` to the object described by `head`.
pub async fn apply<S: ObjectStore>(
    store: &S,
    head: &ObjectHead,
    plan: &Plan,
    settings: &CopySettings,
    deadline: Option<Instant>,
) -> Result<(), ApplyError> {
    let total = plan.actions.len();
    for (completed, action) in plan.actions.iter().enumerate() {
        let fail = |step: &'static str| {
            move |source: CopyError| ApplyError {
                step,
                completed,
                total,
                source,
            }
        };
        match action {
            Action::Backup {
                destination,
                storage_class,
                encryption,
                only_if_absent,
            } => {
                let request = CopyRequest {
                    source: head.location.clone(),
                    source_if_match: Some(head.etag.clone()),
                    destination: destination.clone(),
                    // The plan saw what is at the backup location and judged it safe to
                    // replace (a new version in a versioned backup bucket), or did not look and
                    // asks for an empty destination.
                    destination_condition: if *only_if_absent {
                        WriteCondition::IfAbsent
                    } else {
                        WriteCondition::None
                    },
                    storage_class: storage_class.clone(),
                    encryption: encryption.clone(),
                    tags: TagDirective::Copy,
                    website_redirect: head.website_redirect.clone(),
                };
                copy::copy(store, head, &request, settings, deadline)
                    .await
                    .map_err(fail("backup"))?;
            }
            Action::Rewrite {
                storage_class,
                encryption,
                tags,
            } => {
                // Copy the *current* object guarded by the ETag we saw, at both ends: S3
                // checks the source condition when the copy starts and writes when it ends, so
                // the destination `If-Match` is what keeps a newer upload that lands meanwhile
                // from being replaced by these older bytes (412 → stale).
                let current = ObjectLocation::current(&head.location.bucket, &head.location.key);
                let request = CopyRequest {
                    source: current.clone(),
                    source_if_match: Some(head.etag.clone()),
                    destination: current,
                    destination_condition: WriteCondition::IfMatch(head.etag.clone()),
                    storage_class: storage_class.clone(),
                    encryption: encryption.clone(),
                    tags: tags
                        .clone()
                        .map_or(TagDirective::Copy, TagDirective::Replace),
                    website_redirect: head.website_redirect.clone(),
                };
                copy::copy(store, head, &request, settings, deadline)
                    .await
                    .map_err(fail("rewrite"))?;
            }
            Action::PutTags { tags } => {
                store
                    .put_tags(&head.location, tags)
                    .await
                    .map_err(|e| fail("put_tags")(CopyError::Store(e)))?;
            }
            Action::RemovePublicGrants { acl } => {
                store
                    .put_acl(&head.location, acl)
                    .await
                    .map_err(|e| fail("remove_public_grants")(CopyError::Store(e)))?;
            }
            Action::Restore { days, tier } => {
                store
                    .restore_object(&head.location, *days, tier)
                    .await
                    .map_err(|e| fail("restore")(CopyError::Store(e)))?;
            }
        }
    }
    Ok(())
}
