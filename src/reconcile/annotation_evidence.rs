//! Reads an object's annotations where the plan depends on them: only where its copies are
//! multipart (a single CopyObject carries them) and the rule copies it, and only on a server
//! known to keep annotations. A refused listing is "unknown", never "none"; a server that
//! answers that it does not implement annotations keeps none; a transient failure fails the
//! object, so it is tried again.

use super::Options;
use crate::annotations::Annotations;
use crate::object::{ObjectHead, ObjectLocation};
use crate::plan::{BackupState, SameBytes, same_bytes, wants_rewrite};
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
    if !options.server.object_annotations || options.copy.is_single_copy(head.size) || !copied {
        return Ok(Annotations::NotRead);
    }
    read(store, &head.location).await
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
