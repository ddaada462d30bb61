//! Reads an object's annotations where the plan depends on them: only where its copies are
//! multipart (a single CopyObject carries them) and the rule copies it, and only on a server
//! known to keep annotations. A refused listing is "unknown", never "none"; a server that
//! answers that it does not implement annotations keeps none; a transient failure fails the
//! object, so it is tried again.

use super::Options;
use crate::annotations::Annotations;
use crate::object::{ObjectHead, ObjectLocation};
use crate::plan::{Action, BackupState, SameBytes, same_bytes, wants_rewrite};
use crate::policy::Rule;
use crate::store::{ObjectStore, StoreError};

/// The source object's annotations, read when a copy of it (backup or rewrite) would be
/// multipart.
pub(super) async fn of_source<S: ObjectStore>(
    store: &S,
    options: &Options,
    rule: &Rule,
    ia_min_size: u64,
    head: &ObjectHead,
) -> Result<Annotations, StoreError> {
    let copied = rule.backup.is_some() || wants_rewrite(head, rule, ia_min_size);
    if !copied {
        return Ok(Annotations::NotRead);
    }
    where_copies_are_multipart(store, options, head).await
}

/// The annotations of `head`'s object version where a copy of it is multipart, on a server
/// that keeps annotations; `NotRead` otherwise.
pub(super) async fn where_copies_are_multipart<S: ObjectStore>(
    store: &S,
    options: &Options,
    head: &ObjectHead,
) -> Result<Annotations, StoreError> {
    if !options.server.object_annotations || options.copy.is_single_copy(head.size) {
        return Ok(Annotations::NotRead);
    }
    read(store, &head.location).await
}

/// Writes onto `copy` (a backup version holding the source's bytes) the annotations of the
/// source version at `source` that it lacks, and returns the action that did, if any: a
/// multipart copy stopped before its last annotation write is completed this way. An error
/// when the copy's own cannot be listed.
pub(super) async fn complete_on<S: ObjectStore>(
    store: &S,
    source: &ObjectLocation,
    annotations: &Annotations,
    copy: &ObjectHead,
) -> Result<Option<Action>, StoreError> {
    if !annotations.any() {
        return Ok(None);
    }
    let theirs = store.list_annotations(&copy.location).await?;
    let missing = annotations
        .missing_from(&Annotations::Listed(theirs))
        .unwrap_or_default();
    if missing.is_empty() {
        return Ok(None);
    }
    crate::apply::annotations::copy_annotations(
        store,
        source,
        &copy.location,
        &copy.etag,
        &missing,
    )
    .await?;
    Ok(Some(Action::CopyAnnotations {
        destination: copy.location.clone(),
        names: missing,
        onto_etag: Some(copy.etag.clone()),
    }))
}

/// The annotations of the backup found with the source's bytes, read when the source has some
/// (a multipart backup that stopped before its last annotation write lacks some).
pub(super) async fn of_backup<S: ObjectStore>(
    store: &S,
    source: &Annotations,
    backup: &BackupState,
    head: &ObjectHead,
) -> Result<Annotations, StoreError> {
    let BackupState::Found(copy) = backup else {
        return Ok(Annotations::NotRead);
    };
    if !source.any() || same_bytes(head, copy) != SameBytes::Yes {
        return Ok(Annotations::NotRead);
    }
    read(store, &copy.location).await
}

async fn read<S: ObjectStore>(
    store: &S,
    location: &ObjectLocation,
) -> Result<Annotations, StoreError> {
    match store.list_annotations(location).await {
        Ok(names) => Ok(Annotations::Listed(names)),
        Err(StoreError::Service { status, code, .. })
            if status == 501 || status == 405 || code == "NotImplemented" =>
        {
            Ok(Annotations::Listed(Vec::new()))
        }
        Err(err) if err.is_transient() => Err(err),
        Err(err) => Ok(Annotations::Unknown(err.to_string())),
    }
}
