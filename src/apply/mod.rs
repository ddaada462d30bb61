//! Runs a plan against an [`ObjectStore`], in the safe order the plan gives: backup copy first
//! (from the exact version / ETag seen), then the single in-place rewrite, then tags.

pub mod annotations;
pub mod copy;
pub mod copy_state;

use std::time::Instant;

use crate::backup_record::SourceRecord;
use crate::object::{ObjectHead, ObjectLocation};
use crate::plan::{Action, BackupCondition, Plan};
use crate::policy::EncryptionSpec;
use crate::store::{
    CopyOutcome, CopyRequest, MetadataDirective, ObjectHeaders, ObjectStore, TagDirective,
    WriteCondition,
};
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

/// The object a backup copies: which one, as long as its ETag is still this one.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSource {
    /// The source (a specific version when `version_id` is set; the current object, guarded by
    /// `etag`, for the backup of the current version).
    pub location: ObjectLocation,
    /// Its ETag (`x-amz-copy-source-if-match`).
    pub etag: String,
    /// Its website redirect location, which CopyObject drops unless it is restated.
    pub website_redirect: Option<String>,
    /// Its metadata and content headers with the backup's record of its source added, when
    /// known (after HEAD); `None` copies them as they are, without a record.
    pub headers: Option<ObjectHeaders>,
}

impl BackupSource {
    /// The current object `head` describes, guarded by its ETag, with the backup's record of it
    /// (or without one, with a warning, when S3's 2 KB metadata limit leaves no room).
    pub fn current(head: &ObjectHead) -> Self {
        let metadata = SourceRecord::of(head).stamp(&head.metadata);
        if metadata.is_none() {
            tracing::warn!(
                bucket = head.location.bucket,
                key = head.location.key,
                "the object's metadata leaves no room for the backup's source record under S3's 2 KB limit; the backup is made without one"
            );
        }
        Self {
            location: ObjectLocation::current(&head.location.bucket, &head.location.key),
            etag: head.etag.clone(),
            website_redirect: head.website_redirect.clone(),
            headers: metadata.map(|metadata| ObjectHeaders {
                content_type: head.content_type.clone(),
                content_headers: head.content_headers.clone(),
                metadata,
            }),
        }
    }
}

/// The CopyObject request that makes `action`, a backup, from `source` (`None` for any other
/// action): to an empty destination only (`If-None-Match: *`), or only over the object the
/// plan judged replaceable (`If-Match` its ETag), as the action's condition says.
pub fn backup_request(action: &Action, source: BackupSource) -> Option<CopyRequest> {
    let Action::Backup {
        destination,
        storage_class,
        encryption,
        condition,
    } = action
    else {
        return None;
    };
    let destination_condition = match condition {
        BackupCondition::OnlyIfAbsent => WriteCondition::IfAbsent,
        BackupCondition::Replacing(etag) => WriteCondition::IfMatch(etag.clone()),
    };
    Some(CopyRequest {
        source: source.location,
        source_if_match: Some(source.etag),
        destination: destination.clone(),
        destination_condition,
        storage_class: storage_class.clone(),
        encryption: encryption.clone(),
        tags: TagDirective::Copy,
        website_redirect: source.website_redirect,
        metadata: source.headers.map_or(MetadataDirective::Copy, |h| {
            MetadataDirective::Replace(Box::new(h))
        }),
    })
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
    // The backup copy this plan made, which annotations restated on it must name.
    let mut made_backup: Option<CopyOutcome> = None;
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
            Action::Backup { .. } => {
                // Always a request: the action is a backup.
                let Some(request) = backup_request(action, BackupSource::current(head)) else {
                    continue;
                };
                let outcome = copy::copy(store, head, &request, settings, deadline)
                    .await
                    .map_err(fail("backup"))?;
                made_backup = Some(outcome);
            }
            Action::CopyAnnotations {
                destination,
                names,
                onto_etag,
            } => {
                let (onto, etag) = match (onto_etag, &made_backup) {
                    (Some(etag), _) => (destination.clone(), etag.clone()),
                    (
                        None,
                        Some(CopyOutcome {
                            version_id,
                            etag: Some(etag),
                        }),
                    ) => (
                        ObjectLocation {
                            version_id: version_id.clone(),
                            ..destination.clone()
                        },
                        etag.clone(),
                    ),
                    (None, _) => {
                        return Err(fail("copy_annotations")(CopyError::Store(
                            annotations::copy_without_etag(),
                        )));
                    }
                };
                annotations::copy_annotations(store, &head.location, &onto, &etag, names)
                    .await
                    .map_err(|e| fail("copy_annotations")(CopyError::Store(e)))?;
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
                    metadata: MetadataDirective::Copy,
                };
                copy::copy(store, head, &request, settings, deadline)
                    .await
                    .map_err(fail("rewrite"))?;
            }
            Action::UpdateEncryption { encryption } => {
                // The exact version HEAD saw, in a versioned bucket (its version id); the current
                // object otherwise.
                let (key_arn, bucket_key) = match encryption {
                    EncryptionSpec::Kms {
                        key: Some(key),
                        bucket_key,
                    } => (key.for_request(), *bucket_key),
                    // The plan names a key ARN, always.
                    _ => continue,
                };
                store
                    .update_object_encryption(&head.location, key_arn, bucket_key)
                    .await
                    .map_err(|e| fail("update_encryption")(CopyError::Store(e)))?;
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
