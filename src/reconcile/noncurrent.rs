//! A late event: it names a version of a versioned source that is no longer current. When its
//! rule keeps every version (`backup.all_versions`), that version is copied into the backup
//! key's history, and the current version's backup is then put back on top by the reconcile
//! that always follows, so a noncurrent version's copy never stays the backup's current one.
//!
//! - Only in a versioned backup bucket (GetBucketVersioning, asked once per bucket): in one
//!   without versioning, the copy would replace the current version's backup for good.
//! - Only when no version of the backup key holds its bytes yet (by checksum, or the record a
//!   backup carries of the write it was copied from; never by Last-Modified), so duplicates
//!   of the event copy nothing.
//! - The copy lands only on the object it was planned against (`If-Match` the backup's current
//!   ETag, or `If-None-Match: *` where there is none), from that exact version (`versionId`,
//!   `x-amz-copy-source-if-match` its ETag), with its record.

use crate::apply::BackupSource;
use crate::apply::copy::{CopyError, copy};
use crate::backup_record::SourceRecord;
use crate::object::{ObjectHead, ObjectLocation, ObjectRef, StorageClass};
use crate::plan::{Action, BackupCondition, same_bytes};
use crate::policy::Policy;
use crate::store::{ObjectHeaders, ObjectStore, StoreError};

use super::{Options, annotation_evidence, head_maybe_with_checksums};
use crate::annotations::Annotations;

/// Versions of the backup key compared with the late version (same size, newest first).
const MAX_COMPARED_VERSIONS: usize = 10;

/// What was done for a late event's version.
pub(super) enum Noncurrent {
    /// The event is not about a version, or no rule keeps every version.
    NotWanted,
    /// A version of the backup key already holds its bytes.
    AlreadyKept,
    /// It cannot be kept, and why (a requirement left unmet).
    NotKept(String),
    /// It was copied into the backup key's history (or, in a dry run, would be).
    Copied(Action),
    /// A version of the backup key held its bytes but not every annotation: these were added.
    Completed(Action),
    /// Reading or copying it failed.
    Failed(StoreError),
}

/// Keeps the version a late event names, when its rule says so.
pub(super) async fn keep_version<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    object: &ObjectRef,
    current: &ObjectHead,
    options: &Options,
) -> Noncurrent {
    let Some(version_id) = &object.location.version_id else {
        return Noncurrent::NotWanted;
    };
    let wants_versions = policy
        .rules
        .iter()
        .any(|r| r.backup.as_ref().is_some_and(|b| b.all_versions));
    if !wants_versions {
        return Noncurrent::NotWanted;
    }
    let location = ObjectLocation {
        bucket: current.location.bucket.clone(),
        key: current.location.key.clone(),
        version_id: Some(version_id.clone()),
    };
    let old = match head_maybe_with_checksums(store, &location, true).await {
        Ok(old) => old,
        Err(StoreError::NotFound { .. }) => return Noncurrent::NotWanted,
        Err(err) => return Noncurrent::Failed(err),
    };
    let Some(spec) = policy
        .rule_for(&old)
        .and_then(|r| r.backup.as_ref())
        .filter(|b| b.all_versions)
    else {
        return Noncurrent::NotWanted;
    };
    if old.archive.is_some() {
        return Noncurrent::NotKept(format!(
            "version {version_id} is archived in {}; it is not copied into the backup's history until restored",
            old.storage_class
        ));
    }
    let destination = ObjectLocation::current(
        &spec.bucket,
        spec.key_for(&old.location.bucket, &old.location.key),
    );
    let backup = match head_maybe_with_checksums(store, &destination, true).await {
        Ok(backup) => Some(backup),
        Err(StoreError::NotFound { .. }) => None,
        Err(err) => return Noncurrent::Failed(err),
    };
    // GetBucketVersioning says whether the bucket keeps versions; where it cannot be asked,
    // a version id on the backup's HEAD shows that it does.
    let keeps_versions = match options.facts.versioning_of(store, &spec.bucket).await {
        Some(versioning) => versioning.keeps_replaced(),
        None => backup
            .as_ref()
            .is_some_and(|b| b.location.version_id.is_some()),
    };
    if !keeps_versions {
        return Noncurrent::NotKept(format!(
            "all_versions keeps noncurrent versions only in a versioned backup bucket; s3://{} is not known to keep versions, so version {version_id} is not copied (it would replace the current version's backup)",
            spec.bucket
        ));
    }
    // A multipart copy does not carry annotations: they are read first, and a version whose
    // annotations cannot be read is not copied (never taken as having none).
    let annotations = match annotation_evidence::where_copies_are_multipart(store, options, &old)
        .await
    {
        Ok(Annotations::Unknown(why)) => {
            return Noncurrent::NotKept(format!(
                "cannot list version {version_id}'s annotations ({why}); a copy of this size is a multipart copy, which does not carry them, so it is not copied into the backup's history until they can be read"
            ));
        }
        Ok(annotations) => annotations,
        Err(err) => return Noncurrent::Failed(err),
    };
    match kept_in_history(store, &old, &destination, backup.as_ref()).await {
        // Kept, perhaps without every annotation (a copy stopped before its last one).
        Ok(Some(_)) if options.dry_run => return Noncurrent::AlreadyKept,
        Ok(Some(kept)) => {
            return match annotation_evidence::complete_on(store, &old.location, &annotations, &kept)
                .await
            {
                Ok(None) => Noncurrent::AlreadyKept,
                Ok(Some(action)) => Noncurrent::Completed(action),
                Err(err) => Noncurrent::Failed(err),
            };
        }
        Ok(None) => {}
        Err(err) => return Noncurrent::Failed(err),
    }
    let action = Action::Backup {
        destination,
        storage_class: spec.storage_class.clone().unwrap_or(StorageClass::Standard),
        encryption: spec.encryption.clone(),
        condition: backup.map_or(BackupCondition::OnlyIfAbsent, |b| {
            BackupCondition::Replacing(b.etag)
        }),
    };
    if options.dry_run {
        return Noncurrent::Copied(action);
    }
    match copy_version(store, &old, &action, &annotations, options).await {
        Ok(()) => Noncurrent::Copied(action),
        Err(err) => Noncurrent::Failed(err),
    }
}

/// The backup key's current object, or one of its recent versions of the same size, that
/// holds `old`'s bytes, if one does.
async fn kept_in_history<S: ObjectStore>(
    store: &S,
    old: &ObjectHead,
    destination: &ObjectLocation,
    current_backup: Option<&ObjectHead>,
) -> Result<Option<ObjectHead>, StoreError> {
    let Some(current_backup) = current_backup else {
        return Ok(None);
    };
    if same_bytes(old, current_backup) == crate::plan::SameBytes::Yes {
        return Ok(Some(current_backup.clone()));
    }
    let candidates: Vec<String> = store
        .list_versions(destination)
        .await?
        .into_iter()
        .filter(|v| v.size == old.size && !v.is_latest)
        .filter(|v| Some(&v.version_id) != current_backup.location.version_id.as_ref())
        .take(MAX_COMPARED_VERSIONS)
        .map(|v| v.version_id)
        .collect();
    for version_id in candidates {
        let location = ObjectLocation {
            version_id: Some(version_id),
            ..destination.clone()
        };
        match head_maybe_with_checksums(store, &location, true).await {
            Ok(version) if same_bytes(old, &version) == crate::plan::SameBytes::Yes => {
                return Ok(Some(version));
            }
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

/// Copies the exact version `old` as `action` says, with its record, and the annotations a
/// multipart copy does not carry.
async fn copy_version<S: ObjectStore>(
    store: &S,
    old: &ObjectHead,
    action: &Action,
    annotations: &Annotations,
    options: &Options,
) -> Result<(), StoreError> {
    let source = BackupSource {
        location: old.location.clone(),
        etag: old.etag.clone(),
        website_redirect: old.website_redirect.clone(),
        headers: SourceRecord::of(old)
            .stamp(&old.metadata)
            .map(|metadata| ObjectHeaders {
                content_type: old.content_type.clone(),
                content_headers: old.content_headers.clone(),
                metadata,
            }),
    };
    let Some(request) = crate::apply::backup_request(action, source) else {
        return Ok(());
    };
    match copy(store, old, &request, &options.copy, options.deadline).await {
        // A multipart copy does not carry annotations: restate them on the version it made.
        Ok(made) if annotations.any() => {
            let Some(etag) = made.etag else {
                return Err(crate::apply::annotations::copy_without_etag());
            };
            let onto = ObjectLocation {
                version_id: made.version_id,
                ..request.destination.clone()
            };
            let names = match annotations {
                Annotations::Listed(names) => names.as_slice(),
                _ => &[],
            };
            crate::apply::annotations::copy_annotations(store, &old.location, &onto, &etag, names)
                .await
        }
        Ok(_) => Ok(()),
        // The backup changed since it was read (another copy landed): nothing was written;
        // the retry reads it again.
        Err(CopyError::Store(StoreError::PreconditionFailed { operation })) => {
            Err(StoreError::Service {
                operation,
                code: "ConditionalRequestConflict".into(),
                status: 409,
                message: "the backup changed while a noncurrent version was copied into its history; retried".into(),
            })
        }
        Err(CopyError::Store(err)) => Err(err),
        Err(other) => Err(StoreError::Transport {
            operation: "CopyObject",
            message: other.to_string(),
        }),
    }
}
