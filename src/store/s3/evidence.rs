//! Requests that give the function evidence, rather than change anything: whether a bucket
//! keeps versions or has Object Lock (the caller remembers the answers, see
//! [`crate::store::bucket_facts`]), the versions of a key, an object version's retention and
//! legal hold, and the one-byte read that tells why a HEAD was refused.

use aws_sdk_s3::primitives::DateTimeFormat;
use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled, ObjectLockLegalHoldStatus};

use super::{S3Store, normalize_etag, version_or_none};
use crate::object::ObjectLocation;
use crate::store::{StoreError, VersionEntry, Versioning};

/// The most versions one ListObjectVersions page holds.
pub(super) const MAX_VERSIONS_PAGE: i32 = 1000;

impl S3Store {
    pub(super) async fn versioning_of(&self, bucket: &str) -> Result<Versioning, StoreError> {
        let out = self
            .send(bucket, "GetBucketVersioning", |client| {
                client
                    .get_bucket_versioning()
                    .bucket(bucket)
                    .set_expected_bucket_owner(self.routing.owner(bucket))
                    .send()
            })
            .await?;
        Ok(match out.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::Disabled,
        })
    }

    pub(super) async fn versions_of(
        &self,
        location: &ObjectLocation,
    ) -> Result<Vec<VersionEntry>, StoreError> {
        let bucket = &location.bucket;
        let key = location.key.as_str();
        let mut entries = Vec::new();
        // S3 lists keys in order and each key's versions newest first, and the key sorts before
        // every other key it prefixes, so its versions come first and the pages go on while S3
        // stops inside it. `None`: the first page; `Some(version)`: on from that version of it.
        let mut resume: Option<Option<String>> = None;
        loop {
            let out = self
                .send(bucket, "ListObjectVersions", |client| {
                    client
                        .list_object_versions()
                        .bucket(bucket)
                        .prefix(key)
                        .max_keys(self.versions_page)
                        .set_key_marker(resume.is_some().then(|| key.to_owned()))
                        .set_version_id_marker(resume.clone().flatten())
                        .set_expected_bucket_owner(self.routing.owner(bucket))
                        .send()
                })
                .await?;
            entries.extend(
                out.versions()
                    .iter()
                    .filter(|v| v.key() == Some(key))
                    .filter_map(|v| {
                        Some(VersionEntry {
                            version_id: v.version_id()?.to_owned(),
                            etag: v.e_tag().map(normalize_etag).unwrap_or_default(),
                            size: v.size().unwrap_or(0).max(0).unsigned_abs(),
                            is_latest: v.is_latest().unwrap_or(false),
                        })
                    }),
            );
            if out.is_truncated() != Some(true) || out.next_key_marker() != Some(key) {
                return Ok(entries);
            }
            let next = out.next_version_id_marker().map(str::to_owned);
            // A page that would start where this one did: the listing cannot be finished, and a
            // partial one is never passed off as every version.
            if resume.as_ref() == Some(&next) {
                return Err(StoreError::Service {
                    operation: "ListObjectVersions",
                    code: "ListingDidNotAdvance".into(),
                    status: 200,
                    message: format!(
                        "the server sent the same next page marker twice after {} versions of \
                         {key}; the rest of its versions could not be listed",
                        entries.len()
                    ),
                });
            }
            resume = Some(next);
        }
    }

    pub(super) async fn object_lock_of(&self, bucket: &str) -> Result<bool, StoreError> {
        let answer = self
            .send(bucket, "GetObjectLockConfiguration", |client| {
                client
                    .get_object_lock_configuration()
                    .bucket(bucket)
                    .set_expected_bucket_owner(self.routing.owner(bucket))
                    .send()
            })
            .await;
        match answer {
            Ok(out) => Ok(out
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled)),
            // S3's answer for a bucket without Object Lock.
            Err(StoreError::Service { code, .. })
                if code == "ObjectLockConfigurationNotFoundError" =>
            {
                Ok(false)
            }
            Err(other) => Err(other),
        }
    }

    pub(super) async fn retention_of(
        &self,
        location: &ObjectLocation,
    ) -> Result<Option<String>, StoreError> {
        let answer = self
            .send(&location.bucket, "GetObjectRetention", |client| {
                client
                    .get_object_retention()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_version_id(version_or_none(location))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await;
        match answer {
            Ok(out) => Ok(out.retention().and_then(|r| {
                let mode = r.mode()?.as_str().to_owned();
                let until = r
                    .retain_until_date()
                    .and_then(|d| d.fmt(DateTimeFormat::DateTime).ok())
                    .unwrap_or_else(|| "an unknown date".into());
                Some(format!("{mode} retention until {until}"))
            })),
            Err(err) if no_lock_configuration(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub(super) async fn legal_hold_of(
        &self,
        location: &ObjectLocation,
    ) -> Result<bool, StoreError> {
        let answer = self
            .send(&location.bucket, "GetObjectLegalHold", |client| {
                client
                    .get_object_legal_hold()
                    .bucket(&location.bucket)
                    .key(&location.key)
                    .set_version_id(version_or_none(location))
                    .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                    .send()
            })
            .await;
        match answer {
            Ok(out) => {
                Ok(out.legal_hold().and_then(|h| h.status())
                    == Some(&ObjectLockLegalHoldStatus::On))
            }
            Err(err) if no_lock_configuration(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    pub(super) async fn probe(&self, location: &ObjectLocation) -> Result<(), StoreError> {
        self.send(&location.bucket, "GetObject", |client| {
            client
                .get_object()
                .bucket(&location.bucket)
                .key(&location.key)
                .set_version_id(version_or_none(location))
                .range("bytes=0-0")
                .set_expected_bucket_owner(self.routing.owner(&location.bucket))
                .send()
        })
        .await
        // The one byte is not read: dropping the body closes the stream.
        .map(|_| ())
    }
}

/// S3's answers for an object with no retention or legal hold: 404
/// `NoSuchObjectLockConfiguration`, or 400 `InvalidRequest` ("Bucket is missing Object Lock
/// Configuration") in a bucket without Object Lock.
fn no_lock_configuration(err: &StoreError) -> bool {
    match err {
        StoreError::Service { code, message, .. } => {
            code == "NoSuchObjectLockConfiguration"
                || (code == "InvalidRequest" && message.contains("Object Lock"))
        }
        StoreError::NotFound { .. } => true,
        _ => false,
    }
}
