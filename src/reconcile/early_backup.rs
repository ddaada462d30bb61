//! The backup copy started beside the source's HEAD, from what the event says (bucket, key,
//! ETag, size): a new object then takes two round trips (HEAD and backup copy together, then
//! the rewrite) where it took three, with the same three requests.
//!
//! It is exactly as careful as the copy made after HEAD. It writes only where nothing is
//! (`If-None-Match: *`), copies only the object the event names (the current object, with
//! `x-amz-copy-source-if-match` set to the event's ETag), and is made only when the event alone
//! decides the rule and its backup: no rule that could match looks at the content type, and the
//! event's size is one CopyObject's. The plan made after HEAD must then ask for this very copy,
//! of the object HEAD saw; when it does not (the object changed, or HEAD shows a website
//! redirect, which the copy could not restate), the backup location is read and the object
//! planned again (a backup of the same bytes without the redirect is replaced, `If-Match` its
//! ETag), and the report still lists the copy made. A 412 means something is there (or the
//! source changed): the backup location is read first, as after any refused backup copy. Any
//! other failure is as if no copy had been tried: the plan's own copy asks for an empty
//! destination again, and its failure is reported.

use crate::apply::{BackupSource, backup_request};
use crate::object::{ObjectHead, ObjectLocation, ObjectRef};
use crate::plan::{Action, backup_into_empty_location};
use crate::policy::Policy;
use crate::store::{CopyRequest, ObjectStore, StoreError};

use super::{ObjectReport, Options, Outcome};

/// A backup copy the event alone decides, ready to send beside the HEAD.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EarlyBackup {
    /// The backup action, as the plan gives it for a backup location not read.
    action: Action,
    /// The CopyObject request that makes it.
    request: CopyRequest,
}

/// How the early backup copy went.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EarlyCopy {
    /// Not made: the event does not decide the backup, the settings rule it out, or the copy
    /// failed other than with 412 (then possibly made: the plan's copy asks again).
    NotTried,
    /// Made: the object the event names is now at the backup location.
    Written {
        /// What was copied where, and the request that did it.
        copy: Box<EarlyBackup>,
    },
    /// Refused with 412 (an object is there, or the source changed): nothing written, and the
    /// backup location is read first.
    NotWritten,
}

impl EarlyBackup {
    /// The early backup copy for `object`, when the event decides it and the settings allow:
    /// not in a dry run, not on a server that ignores `If-None-Match`, not for a key whose
    /// encoding is uncertain, and only for one CopyObject's size.
    pub(super) fn prepare(policy: &Policy, object: &ObjectRef, options: &Options) -> Option<Self> {
        if options.dry_run || !options.server.copy_if_none_match || object.alternate_key.is_some() {
            return None;
        }
        let (etag, size) = (object.etag.as_ref()?, object.size?);
        if !options.copy.is_single_copy(size) {
            return None;
        }
        let location = &object.location;
        let rule = policy.rule_before_head(&location.bucket, &location.key, size)?;
        let source = ObjectLocation::current(&location.bucket, &location.key);
        let action = backup_into_empty_location(rule, &source, size, policy.ia_min_size)?;
        let source = BackupSource {
            location: source,
            etag: etag.clone(),
            website_redirect: None,
            // Copied as they are: only HEAD tells them, and this copy goes out beside it.
            headers: None,
        };
        let request = backup_request(&action, source)?;
        Some(Self { action, request })
    }

    /// Prepares and sends the copy, when the event decides it and the backup bucket keeps
    /// versions. The copy cannot carry the backup's record of its source (only HEAD tells the
    /// metadata it would have to restate), and a backup without a record can be replaced later
    /// only where the replaced object is kept: in a versioned bucket. Elsewhere the plan's own
    /// copy, made after HEAD and recorded, is the backup.
    pub(super) async fn start<S: ObjectStore>(
        store: &S,
        policy: &Policy,
        object: &ObjectRef,
        options: &Options,
    ) -> EarlyCopy {
        let Some(early) = Self::prepare(policy, object, options) else {
            return EarlyCopy::NotTried;
        };
        match options
            .facts
            .versioning_of(store, &early.request.destination.bucket)
            .await
        {
            Some(versioning) if versioning.keeps_replaced() => Self::run(store, early).await,
            _ => EarlyCopy::NotTried,
        }
    }

    /// Sends the copy.
    async fn run<S: ObjectStore>(store: &S, early: Self) -> EarlyCopy {
        match store.copy_object(&early.request).await {
            Ok(_) => EarlyCopy::Written {
                copy: Box::new(early),
            },
            Err(StoreError::PreconditionFailed { .. }) => EarlyCopy::NotWritten,
            Err(err) => {
                tracing::debug!(
                    bucket = early.request.destination.bucket,
                    key = early.request.destination.key,
                    error = %err,
                    "backup copy beside HEAD failed; the plan's copy asks for an empty destination again"
                );
                EarlyCopy::NotTried
            }
        }
    }
}

impl EarlyCopy {
    /// The backup action already made, if any.
    pub(super) fn written(&self) -> Option<&Action> {
        match self {
            Self::Written { copy, .. } => Some(&copy.action),
            Self::NotTried | Self::NotWritten => None,
        }
    }

    /// Whether the plan made after HEAD takes the early copy over as its own backup: it asks
    /// for that very copy (`planned`), of the object HEAD saw (the ETag the copy required),
    /// which has no website redirect location (the copy could not restate one).
    pub(super) fn taken_over(&self, head: &ObjectHead, planned: Option<&Action>) -> bool {
        let Self::Written { copy, .. } = self else {
            return false;
        };
        planned == Some(&copy.action)
            && copy.request.source_if_match.as_deref() == Some(head.etag.as_str())
            && head.website_redirect.is_none()
    }

    /// Makes sure the report lists an early backup that was made, whatever happened after:
    /// a plan that did not take it over (the object changed, HEAD failed) does not hide it,
    /// and an object it changed is not reported as compliant.
    pub(super) fn account(&self, report: &mut ObjectReport) {
        let Some(action) = self.written() else {
            return;
        };
        if report.actions.contains(action) {
            return;
        }
        report.actions.insert(0, action.clone());
        report.notes.push(
            "the backup was copied beside HEAD, from the object the event names, before the rest was known"
                .into(),
        );
        if matches!(report.outcome, Outcome::Compliant | Outcome::NoRule) {
            report.outcome = Outcome::Applied;
        }
    }
}

#[cfg(test)]
mod tests {
    //! On the in-memory store (which, like S3, honours `If-None-Match: *` and
    //! `x-amz-copy-source-if-match` on CopyObject), with every call taking one modelled round
    //! trip on tokio's paused clock, so round trips are counted exactly.

    use std::time::Duration;

    use super::*;
    use crate::apply::copy::{CopySettings, MAX_SINGLE_COPY};
    use crate::object::ActualEncryption;
    use crate::policy::document::parse_policy;
    use crate::reconcile::reconcile;
    use crate::store::StoreError;
    use crate::store::Versioning;
    use crate::store::WriteCondition;
    use crate::store::bucket_facts::BucketFacts;
    use crate::store::counting::CountingStore;
    use crate::store::faults::FaultInjectingStore;
    use crate::store::intercept::{CallHook, Intercepted, Operation};
    use crate::store::memory::{MemoryStore, StoredObject};
    use crate::store::server::ServerSupport;

    const ROUND_TRIP: Duration = Duration::from_millis(10);

    /// Every call takes one round trip.
    struct RoundTrip;

    impl CallHook for RoundTrip {
        fn before(&self, _: Operation) -> Result<(), StoreError> {
            Ok(())
        }

        fn latency(&self, _: Operation) -> Option<Duration> {
            Some(ROUND_TRIP)
        }
    }

    type Store = Intercepted<CountingStore<FaultInjectingStore<MemoryStore>>, RoundTrip>;

    const POLICY: &str = "encryption: { algorithm: aws:kms, kms_key_id: key-1 }\nbackup: backup-bucket\ntags: { processed-by: s3pp }";

    /// Where the policy puts `src-bucket/k`'s backup (`{bucket}/`, as for any rule of any bucket).
    const BACKUP_KEY: &str = "src-bucket/k";

    /// The options of an instance that already knows the backup bucket keeps versions.
    fn options() -> Options {
        let facts = BucketFacts::default();
        facts.learn_versioning("backup-bucket", Versioning::Enabled);
        Options {
            facts: std::sync::Arc::new(facts),
            dry_run: false,
            copy: CopySettings {
                multipart_threshold: MAX_SINGLE_COPY,
                part_size: 8 * 1024 * 1024,
                parts_in_flight: 4,
                deadline_margin: Duration::from_secs(1),
                state: None,
            },
            deadline: None,
            server: ServerSupport::S3_WITH_READS,
        }
    }

    /// A source object and a versioned backup bucket (as the template creates).
    fn setup(policy: &str) -> (Store, Policy) {
        let memory = MemoryStore::new();
        memory.create_bucket("src-bucket");
        memory.create_bucket("backup-bucket");
        memory.enable_versioning("backup-bucket");
        memory.put("src-bucket", "k", b"hello", "text/plain");
        let faults = FaultInjectingStore::new(memory);
        let store = Intercepted::with_hook(CountingStore::new(faults), RoundTrip);
        (store, parse_policy(policy).unwrap())
    }

    fn memory(store: &Store) -> &MemoryStore {
        store.inner().inner().inner()
    }

    fn faults(store: &Store) -> &FaultInjectingStore<MemoryStore> {
        store.inner().inner()
    }

    fn stored(store: &Store, bucket: &str, key: &str) -> Option<StoredObject> {
        memory(store).object(bucket, key)
    }

    /// The event S3 sends for the object as it is now at `src-bucket/key`.
    fn event_for(store: &Store, key: &str) -> ObjectRef {
        let object = stored(store, "src-bucket", key).unwrap();
        ObjectRef {
            location: ObjectLocation::current("src-bucket", key),
            etag: Some(object.etag),
            size: Some(object.body.len() as u64),
            sequencer: None,
            event_name: Some("ObjectCreated:Put".into()),
            alternate_key: None,
        }
    }

    /// Reconciles and returns the report with the round trips it took.
    async fn timed(
        store: &Store,
        policy: &Policy,
        object: &ObjectRef,
        options: &Options,
    ) -> (ObjectReport, u128) {
        let start = tokio::time::Instant::now();
        let report = reconcile(store, policy, object, options).await;
        (report, start.elapsed().as_millis() / ROUND_TRIP.as_millis())
    }

    fn action_names(report: &ObjectReport) -> Vec<&'static str> {
        report.actions.iter().map(Action::name).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_object_takes_two_round_trips_and_three_requests() {
        let (store, policy) = setup(POLICY);
        let (report, round_trips) =
            timed(&store, &policy, &event_for(&store, "k"), &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(action_names(&report), ["backup", "rewrite"]);
        assert_eq!(
            round_trips, 2,
            "HEAD beside the backup copy, then the rewrite"
        );
        let counts = store.inner().counts();
        assert_eq!((counts.heads, counts.get_tags, counts.copies), (1, 0, 2));
        let backup = stored(&store, "backup-bucket", BACKUP_KEY).unwrap();
        assert_eq!(backup.body, b"hello");
        assert_eq!(backup.content_type.as_deref(), Some("text/plain"));
        let source = stored(&store, "src-bucket", "k").unwrap();
        assert!(matches!(source.encryption, ActualEncryption::Kms { .. }));

        // Without the event's ETag and size the copy waits for HEAD: one round trip more.
        let (store, policy) = setup(POLICY);
        let mut object = event_for(&store, "k");
        object.etag = None;
        let (report, round_trips) = timed(&store, &policy, &object, &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(round_trips, 3);

        // A cold instance first asks whether the backup bucket keeps versions (once).
        let (store, policy) = setup(POLICY);
        let cold = Options {
            facts: Default::default(),
            ..options()
        };
        let (report, round_trips) = timed(&store, &policy, &event_for(&store, "k"), &cold).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(
            round_trips, 3,
            "GetBucketVersioning before the copy beside HEAD"
        );
        assert_eq!(store.inner().counts().versionings, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn redelivered_events_change_nothing() {
        let (store, policy) = setup(POLICY);
        let put = event_for(&store, "k");
        reconcile(&store, &policy, &put, &options()).await;
        let rewritten = event_for(&store, "k");
        let before = (
            stored(&store, "src-bucket", "k"),
            stored(&store, "backup-bucket", BACKUP_KEY),
        );
        // The original Put again (its ETag is gone: SSE-KMS gave the rewrite a new one), and
        // the Copy event of the function's own rewrite, twice.
        let stale = reconcile(&store, &policy, &put, &options()).await;
        assert_eq!(stale.outcome, Outcome::Stale, "{stale:?}");
        assert!(stale.actions.is_empty(), "{stale:?}");
        for _ in 0..2 {
            let own = reconcile(&store, &policy, &rewritten, &options()).await;
            assert_eq!(own.outcome, Outcome::Compliant, "{own:?}");
        }
        let after = (
            stored(&store, "src-bucket", "k"),
            stored(&store, "backup-bucket", BACKUP_KEY),
        );
        assert_eq!(before, after, "objects and their Last-Modified unchanged");
    }

    /// Something else at the backup location: the copy beside HEAD is refused, the backup is
    /// read, and in the versioned bucket it is replaced only where it is (`If-Match`), staying
    /// as a noncurrent version.
    #[tokio::test(start_paused = true)]
    async fn an_object_at_the_backup_location_is_replaced_only_where_it_is_kept() {
        let (store, policy) = setup(POLICY);
        let event = event_for(&store, "k");
        memory(&store).put("backup-bucket", BACKUP_KEY, b"someone else's", "text/plain");
        let foreign = stored(&store, "backup-bucket", BACKUP_KEY).unwrap();
        let (report, round_trips) = timed(&store, &policy, &event, &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert!(
            matches!(&report.actions[0], Action::Backup { condition: crate::plan::BackupCondition::Replacing(etag), .. } if *etag == foreign.etag),
            "{report:?}"
        );
        let versions = memory(&store).versions("backup-bucket", BACKUP_KEY);
        assert_eq!(versions.len(), 2, "the replaced object is kept");
        assert_eq!(versions[0], foreign);
        assert_eq!(versions[1].body, b"hello");
        assert_eq!(
            round_trips, 4,
            "the refused copy beside HEAD, the backup's HEAD, the backup copy, the rewrite"
        );
    }

    /// Without versioning nothing is copied beside HEAD (a backup without its source record
    /// could never be replaced later); the plan's copy, which carries the record, asks for an
    /// empty destination, and an unrecorded object found there is kept.
    #[tokio::test(start_paused = true)]
    async fn without_versioning_the_backup_waits_for_head_and_keeps_what_it_finds() {
        let memory_store = MemoryStore::new();
        memory_store.create_bucket("src-bucket");
        memory_store.create_bucket("backup-bucket");
        memory_store.put("src-bucket", "k", b"hello", "text/plain");
        let store = Intercepted::with_hook(
            CountingStore::new(FaultInjectingStore::new(memory_store)),
            RoundTrip,
        );
        let policy = parse_policy(POLICY).unwrap();
        let options = Options {
            facts: Default::default(),
            ..options()
        };
        let (report, round_trips) = timed(&store, &policy, &event_for(&store, "k"), &options).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(
            round_trips, 3,
            "HEAD and GetBucketVersioning, the backup, the rewrite"
        );
        let backup = stored(&store, "backup-bucket", BACKUP_KEY).unwrap();
        assert_eq!(
            crate::backup_record::SourceRecord::read(&backup.metadata).map(|r| r.bucket),
            Some("src-bucket".into()),
            "the backup knows its source"
        );

        memory(&store).put("src-bucket", "other", b"x", "text/plain");
        memory(&store).put(
            "backup-bucket",
            "src-bucket/other",
            b"someone else's",
            "text/plain",
        );
        let foreign = stored(&store, "backup-bucket", "src-bucket/other");
        let report = reconcile(&store, &policy, &event_for(&store, "other"), &options).await;
        assert_eq!(report.outcome, Outcome::Skipped, "{report:?}");
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("not recorded as a backup")),
            "{report:?}"
        );
        assert_eq!(stored(&store, "backup-bucket", "src-bucket/other"), foreign);
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_replaced_after_its_event_is_not_copied() {
        let (store, policy) = setup(POLICY);
        let event = event_for(&store, "k");
        memory(&store).put("src-bucket", "k", b"newer bytes", "text/plain");
        let report = reconcile(&store, &policy, &event, &options()).await;
        assert_eq!(report.outcome, Outcome::Stale, "{report:?}");
        assert!(report.actions.is_empty(), "{report:?}");
        assert_eq!(stored(&store, "backup-bucket", BACKUP_KEY), None);
    }

    fn with_redirect(store: &Store, bucket: &str, key: &str) {
        let mut object = stored(store, bucket, key).unwrap();
        object.website_redirect = Some("/elsewhere".into());
        memory(store).put_object(bucket, key, object);
    }

    /// The copy beside HEAD could not restate a redirect it did not know: HEAD shows one, so
    /// the plan does not take the copy over; it replaces exactly that copy (`If-Match`).
    #[tokio::test(start_paused = true)]
    async fn a_website_redirect_is_restated_on_the_backup() {
        let (store, policy) = setup(POLICY);
        with_redirect(&store, "src-bucket", "k");
        let (report, round_trips) =
            timed(&store, &policy, &event_for(&store, "k"), &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(action_names(&report), ["backup", "backup", "rewrite"]);
        let backup = stored(&store, "backup-bucket", BACKUP_KEY).unwrap();
        assert_eq!(backup.website_redirect.as_deref(), Some("/elsewhere"));
        let counts = store.inner().counts();
        assert_eq!((counts.heads, counts.copies), (2, 3), "{counts:?}");
        assert_eq!(round_trips, 4);
    }

    /// A run that stopped after the copy beside HEAD (a crash, a timeout) left a backup
    /// without the redirect: the retry's copy is refused (412), and the plan, seeing the same
    /// bytes without the redirect, replaces only that object.
    #[tokio::test(start_paused = true)]
    async fn a_backup_left_without_the_redirect_is_completed_on_the_retry() {
        let (store, policy) = setup(POLICY);
        let source = stored(&store, "src-bucket", "k").unwrap();
        memory(&store).put_object("backup-bucket", BACKUP_KEY, source);
        with_redirect(&store, "src-bucket", "k");
        let report = reconcile(&store, &policy, &event_for(&store, "k"), &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(action_names(&report), ["backup", "rewrite"]);
        assert!(
            matches!(
                &report.actions[0],
                Action::Backup {
                    condition: crate::plan::BackupCondition::Replacing(_),
                    ..
                }
            ),
            "{report:?}"
        );
        let backup = stored(&store, "backup-bucket", BACKUP_KEY).unwrap();
        assert_eq!(backup.website_redirect.as_deref(), Some("/elsewhere"));
    }

    /// The object was deleted right after the copy beside HEAD: it is gone, and the report
    /// still says a backup was made.
    #[tokio::test(start_paused = true)]
    async fn a_copy_made_before_the_object_went_away_is_reported() {
        let (store, policy) = setup(POLICY);
        let not_found = StoreError::NotFound {
            operation: "HeadObject",
        };
        faults(&store).fail_call(Operation::HeadObject, 1, not_found);
        let report = reconcile(&store, &policy, &event_for(&store, "k"), &options()).await;
        assert_eq!(report.outcome, Outcome::Gone, "{report:?}");
        assert_eq!(action_names(&report), ["backup"]);
        assert!(
            report.notes.iter().any(|n| n.contains("beside HEAD")),
            "{report:?}"
        );
        assert!(stored(&store, "backup-bucket", BACKUP_KEY).is_some());
    }

    /// A failure other than 412 says nothing about the backup location: the plan's own copy
    /// asks for an empty destination again (no HEAD of the backup, no unconditional copy).
    #[tokio::test(start_paused = true)]
    async fn a_failed_copy_is_sent_again_with_its_condition() {
        let (store, policy) = setup(POLICY);
        let slow_down = StoreError::Service {
            operation: "CopyObject",
            code: "SlowDown".into(),
            status: 503,
            message: "Please reduce your request rate.".into(),
        };
        faults(&store).fail_call(Operation::CopyObject, 1, slow_down);
        let report = reconcile(&store, &policy, &event_for(&store, "k"), &options()).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        assert_eq!(action_names(&report), ["backup", "rewrite"]);
        assert!(
            matches!(
                &report.actions[0],
                Action::Backup {
                    condition: crate::plan::BackupCondition::OnlyIfAbsent,
                    ..
                }
            ),
            "{report:?}"
        );
        let counts = store.inner().counts();
        assert_eq!((counts.heads, counts.copies), (1, 3), "{counts:?}");
    }

    #[test]
    fn only_what_the_event_decides_is_copied_early() {
        let (store, policy) = setup(POLICY);
        let event = event_for(&store, "k");
        let early = EarlyBackup::prepare(&policy, &event, &options()).unwrap();
        assert_eq!(
            early.request.source,
            ObjectLocation::current("src-bucket", "k")
        );
        assert_eq!(early.request.source_if_match, event.etag);
        assert_eq!(
            early.request.destination_condition,
            WriteCondition::IfAbsent
        );

        let not_early = |object: &ObjectRef, options: &Options, policy: &Policy| {
            EarlyBackup::prepare(policy, object, options).is_none()
        };
        let dry_run = Options {
            dry_run: true,
            ..options()
        };
        let minimal = Options {
            server: ServerSupport::MINIMAL,
            ..options()
        };
        let small_copies = Options {
            copy: CopySettings {
                multipart_threshold: 4,
                ..options().copy
            },
            ..options()
        };
        assert!(not_early(&event, &dry_run, &policy));
        assert!(not_early(&event, &minimal, &policy));
        assert!(not_early(&event, &small_copies, &policy), "multipart size");
        for change in [
            |o: &mut ObjectRef| o.etag = None,
            |o: &mut ObjectRef| o.size = None,
            |o: &mut ObjectRef| o.alternate_key = Some("k".into()),
        ] {
            let mut object = event.clone();
            change(&mut object);
            assert!(not_early(&object, &options(), &policy), "{object:?}");
        }
        let by_type = "rules:\n  - name: text\n    match: { content_type: text/plain }\n    backup: backup-bucket\n  - name: rest\n    backup: backup-bucket\n";
        assert!(not_early(
            &event,
            &options(),
            &parse_policy(by_type).unwrap()
        ));
        let no_backup = parse_policy("encryption: AES256").unwrap();
        assert!(not_early(&event, &options(), &no_backup));
    }
}
