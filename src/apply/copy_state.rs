//! A multipart copy's recorded identity, so that a copy larger than one invocation can be
//! resumed by the next attempt without ever taking an upload that is not its own.
//!
//! S3 records nothing about an open upload but its key, start time, class and initiator, and
//! nothing about which source a part was copied from. So "this open upload belongs to this
//! copy" cannot be inferred from what S3 lists: a producer's upload of a new version, another
//! attempt's copy of another version, or a copy with another part layout all look alike. The
//! function therefore records each multipart copy it starts, in a small JSON object in a
//! location it owns (`COPY_STATE=s3://bucket/prefix/`), named by the SHA-256 of everything that
//! makes two copies the same copy: source bucket, key, version and ETag, its size and checksum,
//! the destination, the part layout, and the new object's class, encryption, headers,
//! metadata, tags and checksum algorithm. The record names the upload id and a lease:
//!
//! - an attempt claims a copy by writing its record with `If-None-Match: *` (after creating
//!   its upload; losing that race aborts the upload it just created, which is its own);
//! - the record carries a lease until the attempt's invocation deadline (plus a skew
//!   margin); a command-line copy, which has no deadline, renews its lease as it goes;
//! - an attempt that finds a record whose lease is live, and whose upload still exists, leaves
//!   the copy alone (`CopyInProgress`, transient: the delivery path retries it); one that finds
//!   the lease released (a paused copy), expired (an attempt that died) or its upload gone (an
//!   attempt that finished but could not delete the record) takes it over with `If-Match` on
//!   the record's ETag, so of two attempts at most one succeeds, and continues that upload;
//! - a paused copy releases its lease; a finished or failed copy deletes its record (a failed
//!   one aborts its upload first).
//!
//! Open uploads that no record names are never listed, continued, completed or aborted: a
//! producer's upload is left to the producer, and an orphan of the function's own (a crash
//! between creating an upload and recording it) to the bucket's
//! `AbortIncompleteMultipartUpload` lifecycle rule. The lease is the only use of a clock, and it
//! decides only whether an attempt of the function's own may still be running, never whose
//! data something is. Independently of the record, the completion carries the source's size
//! and full-object checksum, so S3 itself refuses an upload whose parts are not the source's
//! bytes ([`crate::store::ExpectedObject`]).
//!
//! Without a state location, copies are not recorded: a multipart copy must then finish in
//! one attempt, and one stopped by the deadline aborts its own upload.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::object::{ContentHeaders, ObjectHead, ObjectLocation};
use crate::policy::Policy;
use crate::store::{CopyRequest, MultipartStart, ObjectStore, StoreError, WriteCondition};

use super::copy::CopyError;

/// Added to an invocation's deadline before its lease is taken to have ended: clocks of two
/// Lambda instances can differ a little.
pub const LEASE_SKEW: Duration = Duration::from_secs(60);
/// A lease without an invocation deadline (the command line), renewed as the copy goes.
pub const OPEN_LEASE: Duration = Duration::from_secs(15 * 60);

/// Where copy state records live: a bucket and a key prefix the function owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStateLocation {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, ending in `/`.
    pub prefix: String,
}

/// The default prefix when `COPY_STATE` names only a bucket: it starts with `_`, which no
/// bucket name can, so it never lies under a backup prefix of the form `{bucket}/`.
pub const DEFAULT_STATE_PREFIX: &str = "_s3pp/copy-state/";

impl CopyStateLocation {
    /// Parses `s3://bucket/prefix/` (`s3://bucket` alone uses [`DEFAULT_STATE_PREFIX`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            format!("{text:?} is not an S3 location; use s3://bucket/prefix/, e.g. s3://my-backup/_s3pp/copy-state/")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid_bucket {
            return Err(format!(
                "{bucket:?} is not a bucket name; use 3 to 63 lowercase letters, digits, '-' or '.'"
            ));
        }
        let prefix = match prefix {
            "" => DEFAULT_STATE_PREFIX.to_owned(),
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// Whether `bucket/key` is one of the records (or anything else under the prefix).
    pub fn holds(&self, bucket: &str, key: &str) -> bool {
        self.bucket == bucket && key.starts_with(&self.prefix)
    }

    /// Why this location cannot hold copy state beside `policy`, if it cannot: records must
    /// never be where a rule's backups go (a backup could land on a record's key), nor be
    /// objects a rule naming their bucket would reconcile.
    pub fn conflict_with(&self, policy: &Policy) -> Option<String> {
        let related = |a: &str, b: &str| a.starts_with(b) || b.starts_with(a);
        for rule in &policy.rules {
            if let Some(backup) = &rule.backup
                && backup.bucket == self.bucket
                && backup.prefix.may_overlap(&self.prefix)
            {
                return Some(format!(
                    "copy state under s3://{}/{} would share keys with rule `{}`'s backups (prefix {:?}); choose a prefix outside every backup location, e.g. {DEFAULT_STATE_PREFIX} with backups under {{bucket}}/",
                    self.bucket,
                    self.prefix,
                    rule.name,
                    backup.prefix.as_str()
                ));
            }
            let matcher = &rule.matcher;
            if matcher.buckets.contains(&self.bucket)
                && related(matcher.prefix.as_deref().unwrap_or_default(), &self.prefix)
            {
                return Some(format!(
                    "rule `{}` covers s3://{}/{}, so the function would reconcile its own copy state; choose a prefix the rule does not match",
                    rule.name, self.bucket, self.prefix
                ));
            }
        }
        None
    }

    /// Where the records of copies into one destination are: a directory per destination.
    fn directory(&self, identity: &CopyIdentity) -> String {
        let destination = format!(
            "{}/{}",
            identity.destination_bucket, identity.destination_key
        );
        format!("{}{}/", self.prefix, hex_sha256(destination.as_bytes()))
    }

    fn record(&self, identity: &CopyIdentity) -> ObjectLocation {
        ObjectLocation::current(
            &self.bucket,
            format!("{}{}.json", self.directory(identity), identity.name()),
        )
    }
}

/// Everything that makes two multipart copies the same copy; its digest names the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyIdentity {
    source_bucket: String,
    source_key: String,
    source_version: Option<String>,
    source_etag: Option<String>,
    source_size: u64,
    source_checksum: Option<String>,
    destination_bucket: String,
    destination_key: String,
    part_size: u64,
    parts: usize,
    storage_class: String,
    encryption: Option<String>,
    content_type: Option<String>,
    content_headers: [Option<String>; 5],
    metadata: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    website_redirect: Option<String>,
    checksum_algorithm: Option<String>,
}

impl CopyIdentity {
    /// The identity of copying `head` as `request` says into an upload started as `start`,
    /// in `ranges` (`part number, first byte, last byte`).
    pub fn new(
        head: &ObjectHead,
        request: &CopyRequest,
        start: &MultipartStart,
        ranges: &[(i32, u64, u64)],
    ) -> Self {
        let ContentHeaders {
            cache_control,
            content_disposition,
            content_encoding,
            content_language,
            expires,
        } = start.content_headers.clone();
        Self {
            source_bucket: request.source.bucket.clone(),
            source_key: request.source.key.clone(),
            source_version: request.source.version_id.clone(),
            source_etag: request.source_if_match.clone(),
            source_size: head.size,
            source_checksum: head
                .checksum
                .as_ref()
                .map(|c| format!("{}:{}", c.algorithm, c.value)),
            destination_bucket: start.destination.bucket.clone(),
            destination_key: start.destination.key.clone(),
            part_size: ranges
                .first()
                .map_or(0, |(_, first, last)| last - first + 1),
            parts: ranges.len(),
            storage_class: start.storage_class.to_string(),
            encryption: start
                .encryption
                .as_ref()
                .and_then(|e| serde_json::to_string(e).ok()),
            content_type: start.content_type.clone(),
            content_headers: [
                cache_control,
                content_disposition,
                content_encoding,
                content_language,
                expires,
            ],
            metadata: start
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tags: start
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            website_redirect: start.website_redirect.clone(),
            checksum_algorithm: start.checksum_algorithm.map(str::to_owned),
        }
    }

    /// The record's name: the hex SHA-256 of the identity's JSON.
    fn name(&self) -> String {
        hex_sha256(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Whether this copy, of the same source object's current version (no version id), was
    /// made from another write of it than `newer`: its parts can never be completed (each
    /// part's `x-amz-copy-source-if-match` names an ETag the source no longer has).
    fn is_superseded_by(&self, newer: &Self) -> bool {
        self.source_version.is_none()
            && newer.source_version.is_none()
            && self.source_bucket == newer.source_bucket
            && self.source_key == newer.source_key
            && self.source_etag != newer.source_etag
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What a record holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// The copy.
    identity: CopyIdentity,
    /// The upload the copy writes into.
    upload_id: String,
    /// Seconds since the epoch until which an attempt may still be copying; `None` when the
    /// last attempt paused and released it.
    lease_until: Option<u64>,
}

/// The state of one multipart copy as this attempt holds it.
#[derive(Debug)]
pub struct Tracker {
    /// Where the record goes (`None`: copies are not recorded).
    location: Option<ObjectLocation>,
    identity: CopyIdentity,
    /// The record's ETag once this attempt wrote or took it over.
    etag: Option<String>,
    /// This attempt's lease.
    lease_until: SystemTime,
    /// Whether the lease must be renewed as the copy goes (no invocation deadline).
    renews: bool,
}

/// What [`Tracker::claim`] found.
#[derive(Debug)]
pub struct Claim {
    /// The copy, as this attempt holds it.
    pub tracker: Tracker,
    /// The recorded upload to continue, when an earlier attempt paused or died.
    pub upload_id: Option<String>,
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl Tracker {
    /// Claims the copy: a record whose lease is live means another attempt is making it
    /// ([`CopyError::Busy`]); one released or expired is taken over (`If-Match`), and its
    /// upload is returned to continue; none means a new upload, recorded with
    /// [`Tracker::record_upload`]. `deadline_in` is the time left in the invocation, if any.
    pub async fn claim<S: ObjectStore>(
        store: &S,
        state: Option<&CopyStateLocation>,
        identity: CopyIdentity,
        deadline_in: Option<Duration>,
    ) -> Result<Claim, CopyError> {
        let now = SystemTime::now();
        let (lease_until, renews) = match deadline_in {
            Some(left) => (now + left + LEASE_SKEW, false),
            None => (now + OPEN_LEASE, true),
        };
        let location = state.map(|state| state.record(&identity));
        let mut tracker = Self {
            location,
            identity,
            etag: None,
            lease_until,
            renews,
        };
        let Some(location) = tracker.location.clone() else {
            return Ok(Claim {
                tracker,
                upload_id: None,
            });
        };
        let Some(found) = store.get_record(&location).await? else {
            if let Some(state) = state {
                sweep_superseded(store, state, &tracker.identity).await;
            }
            return Ok(Claim {
                tracker,
                upload_id: None,
            });
        };
        let record: Record = serde_json::from_slice(&found.body).map_err(|e| CopyError::Busy {
            record: location.to_string(),
            why: format!(
                "its copy state record cannot be read ({e}); delete it to let the copy start over"
            ),
        })?;
        if record.identity != tracker.identity {
            return Err(CopyError::Busy {
                record: location.to_string(),
                why:
                    "its copy state record names another copy; delete it to let the copy start over"
                        .into(),
            });
        }
        if let Some(until) = record.lease_until
            && until > epoch_seconds(now)
            && upload_exists(store, &record).await
        {
            return Err(CopyError::Busy {
                record: location.to_string(),
                why: format!(
                    "another attempt is making this copy; its lease runs until {until} (seconds since the epoch)"
                ),
            });
        }
        tracker.etag = Some(found.etag);
        tracker.write(store, &record.upload_id).await?;
        tracing::info!(
            record = %location,
            upload_id = record.upload_id,
            "took over a recorded multipart copy"
        );
        Ok(Claim {
            tracker,
            upload_id: Some(record.upload_id),
        })
    }

    /// Whether copies are recorded (and so can be paused and resumed).
    pub fn is_recorded(&self) -> bool {
        self.location.is_some()
    }

    /// Records `upload_id` as this copy's upload: claims the record (`If-None-Match: *`) when
    /// none was found, or updates the one taken over (`If-Match`). `Busy` when another
    /// attempt got there first; the caller then aborts the upload it created.
    pub async fn record_upload<S: ObjectStore>(
        &mut self,
        store: &S,
        upload_id: &str,
    ) -> Result<(), CopyError> {
        self.write(store, upload_id).await
    }

    /// Renews the lease when it is about to end (`margin` left) and the copy has no
    /// invocation deadline; `Busy` when another attempt took the copy over meanwhile.
    pub async fn renew_if_due<S: ObjectStore>(
        &mut self,
        store: &S,
        upload_id: &str,
        margin: Duration,
    ) -> Result<(), CopyError> {
        if !self.renews || !self.is_recorded() {
            return Ok(());
        }
        let now = SystemTime::now();
        if now + margin < self.lease_until {
            return Ok(());
        }
        self.lease_until = now + OPEN_LEASE;
        self.write(store, upload_id).await
    }

    /// When the lease ends, to stop starting parts before it does (`None` when it is renewed
    /// as the copy goes, or copies are not recorded).
    pub fn lease_end(&self) -> Option<SystemTime> {
        (self.renews && self.is_recorded()).then_some(self.lease_until)
    }

    /// The copy stopped before the deadline: the record stays, with its lease released, so the
    /// next attempt continues the upload.
    pub async fn release<S: ObjectStore>(mut self, store: &S, upload_id: &str) {
        let Some(location) = self.location.clone() else {
            return;
        };
        let record = Record {
            identity: self.identity.clone(),
            upload_id: upload_id.to_owned(),
            lease_until: None,
        };
        if let Err(err) = self.put(store, &location, &record).await {
            tracing::warn!(
                record = %location,
                error = %err,
                "could not release the copy's lease; the next attempt takes it over when the lease ends"
            );
        }
    }

    /// The copy is finished (completed, or failed and its upload aborted): the record goes.
    pub async fn finish<S: ObjectStore>(self, store: &S) {
        let Some(location) = &self.location else {
            return;
        };
        if self.etag.is_none() {
            return;
        }
        if let Err(err) = store.delete_record(location).await {
            tracing::warn!(
                record = %location,
                error = %err,
                "could not delete the copy state record; the state location's lifecycle rule will"
            );
        }
    }

    async fn write<S: ObjectStore>(&mut self, store: &S, upload_id: &str) -> Result<(), CopyError> {
        let Some(location) = self.location.clone() else {
            return Ok(());
        };
        let record = Record {
            identity: self.identity.clone(),
            upload_id: upload_id.to_owned(),
            lease_until: Some(epoch_seconds(self.lease_until)),
        };
        self.put(store, &location, &record)
            .await
            .map_err(|err| match err {
                StoreError::PreconditionFailed { .. } => CopyError::Busy {
                    record: location.to_string(),
                    why: "another attempt claimed this copy first".into(),
                },
                other => CopyError::Store(other),
            })
    }

    async fn put<S: ObjectStore>(
        &mut self,
        store: &S,
        location: &ObjectLocation,
        record: &Record,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_vec(record).unwrap_or_default();
        let condition = match &self.etag {
            Some(etag) => WriteCondition::IfMatch(etag.clone()),
            None => WriteCondition::IfAbsent,
        };
        let etag = store.put_record(location, &body, &condition).await?;
        self.etag = Some(etag);
        Ok(())
    }
}

/// Whether the upload a record names still exists. A leased record whose upload is gone was
/// left by an attempt that finished (completed or aborted its upload) but could not delete
/// the record: nothing can be using it, lease or not. Any other answer keeps the lease.
async fn upload_exists<S: ObjectStore>(store: &S, record: &Record) -> bool {
    let destination = ObjectLocation::current(
        &record.identity.destination_bucket,
        &record.identity.destination_key,
    );
    match store.list_parts(&destination, &record.upload_id).await {
        Err(StoreError::Service { code, .. }) if code == "NoSuchUpload" => false,
        Err(StoreError::NotFound { .. }) => false,
        _ => true,
    }
}

/// Aborts the paused or abandoned copies into the same destination that a newer write of the
/// same source has superseded (their uploads are the function's own, named by their records),
/// and deletes their records. A copy whose lease is live is left to its attempt, which fails
/// on its own source condition and cleans up after itself.
async fn sweep_superseded<S: ObjectStore>(
    store: &S,
    state: &CopyStateLocation,
    identity: &CopyIdentity,
) {
    let directory = state.directory(identity);
    let page = match store.list_objects(&state.bucket, &directory, None).await {
        Ok(page) => page,
        Err(err) => {
            tracing::debug!(error = %err, "cannot list the copy state of this destination");
            return;
        }
    };
    let now = epoch_seconds(SystemTime::now());
    for listed in page.objects {
        let location = ObjectLocation::current(&state.bucket, &listed.key);
        let Ok(Some(found)) = store.get_record(&location).await else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<Record>(&found.body) else {
            continue;
        };
        let live = record.lease_until.is_some_and(|until| until > now);
        if live || !record.identity.is_superseded_by(identity) {
            continue;
        }
        let destination = ObjectLocation::current(
            &record.identity.destination_bucket,
            &record.identity.destination_key,
        );
        tracing::info!(
            record = %location,
            upload_id = record.upload_id,
            "aborting a recorded copy of an older write of the source"
        );
        match store
            .abort_multipart_upload(&destination, &record.upload_id)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Service { code, .. }) if code == "NoSuchUpload" => {}
            Err(StoreError::NotFound { .. }) => {}
            Err(_) => continue,
        }
        let _ = store.delete_record(&location).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_a_default_prefix() {
        let parsed = CopyStateLocation::parse("s3://my-backup").unwrap();
        assert_eq!(parsed.prefix, DEFAULT_STATE_PREFIX);
        let parsed = CopyStateLocation::parse("s3://my-backup/state").unwrap();
        assert_eq!(
            (parsed.bucket.as_str(), parsed.prefix.as_str()),
            ("my-backup", "state/")
        );
        assert!(parsed.holds("my-backup", "state/x.json"));
        assert!(!parsed.holds("other", "state/x.json"));
        for bad in ["my-backup", "s3://B", "s3://"] {
            assert!(CopyStateLocation::parse(bad).is_err(), "{bad}");
        }
    }

    /// Records must be neither where backups go nor what a rule reconciles.
    #[test]
    fn a_location_beside_the_policy_is_checked() {
        use crate::policy::document::parse_policy;
        let state = CopyStateLocation::parse("s3://bak").unwrap();
        for fine in [
            "backup: bak",
            "match: { buckets: [src] }\nbackup: { bucket: bak, prefix: copies/ }",
            "match: { buckets: [src] }\nbackup: other-bak",
        ] {
            assert_eq!(
                state.conflict_with(&parse_policy(fine).unwrap()),
                None,
                "{fine}"
            );
        }
        for clash in [
            // Backups keep the source key: a source key under _s3pp/ would land on a record.
            "match: { buckets: [src] }\nbackup: bak",
            // A rule that reconciles the state bucket.
            "match: { buckets: [bak] }\ntags: { a: b }",
        ] {
            let problem = state.conflict_with(&parse_policy(clash).unwrap());
            assert!(problem.is_some(), "{clash}");
        }
    }
}
