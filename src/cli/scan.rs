//! `s3pp scan`: list the objects under a prefix (page by page) and reconcile each with the
//! function's own [`reconcile`], a bounded number at once, handing each report on as it is
//! made (to the output and the journal): memory stays flat whatever the bucket holds, and a
//! stop (Ctrl-C) lets the objects in flight finish and starts no new one.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{self, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, S3Url};
use crate::object::{ObjectLocation, ObjectRef};
use crate::policy::Policy;
use crate::reconcile::{ObjectReport, Options, Outcome, reconcile};
use crate::store::{ListedObject, ObjectStore, StoreError};

/// A progress bar on stderr when it is a terminal; hidden otherwise (logs, pipes, CI).
pub fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} objects ({per_sec}) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Every object under `target` (paginated), as a stream: pages are fetched as the consumer
/// needs them, so the first objects are reconciled while later pages are still unlisted.
pub fn list<'a, S: ObjectStore>(
    store: &'a S,
    target: &'a S3Url,
    progress: &'a ProgressBar,
) -> impl futures::Stream<Item = Result<ListedObject, StoreError>> + 'a {
    stream::try_unfold(Some(None::<String>), move |state| async move {
        let Some(continuation) = state else {
            return Ok::<_, StoreError>(None);
        };
        let page = store
            .list_objects(&target.bucket, &target.key, continuation.as_deref())
            .await?;
        progress.inc_length(page.objects.len() as u64);
        let next_state = page.next.map(Some);
        Ok(Some((
            stream::iter(page.objects.into_iter().map(Ok::<_, StoreError>)),
            next_state,
        )))
    })
    .try_flatten()
}

/// What a scan counted; the reports themselves went to the caller one by one, as they were
/// made, so memory does not grow with the number of objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanTotals {
    /// Objects per outcome.
    pub summary: BTreeMap<Outcome, usize>,
    /// Objects reconciled.
    pub objects: usize,
    /// The scan was stopped before the listing ended (Ctrl-C): objects in flight finished, no
    /// new one started.
    pub interrupted: bool,
}

impl ScanTotals {
    /// Objects that failed.
    pub fn failed(&self) -> usize {
        self.summary.get(&Outcome::Failed).copied().unwrap_or(0)
    }
}

/// What a scan covers besides the current objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Also every noncurrent version of an object whose rule backs up all versions
    /// (`backup.all_versions`): each is reconciled like a late event for that version.
    pub versions: bool,
}

/// Lists and reconciles every object under `target`, `concurrency` at once, handing each
/// report to `each` as it is made (in completion order). When `stop` completes — or the
/// listing or `each` fails — no new object starts; those in flight finish and are handed over
/// (after a failure of `each`, still offered to it), so the output can be closed and the
/// journal holds every object that was worked on. The first such failure comes back beside
/// the totals.
#[allow(clippy::too_many_arguments)]
pub async fn scan<S, F>(
    store: &S,
    policy: &Policy,
    target: &S3Url,
    options: &Options,
    coverage: Coverage,
    concurrency: usize,
    progress: &ProgressBar,
    stop: F,
    mut each: impl FnMut(ObjectReport) -> Result<(), CliError>,
) -> (ScanTotals, Option<CliError>)
where
    S: ObjectStore,
    F: Future<Output = ()>,
{
    let stopped = AtomicBool::new(false);
    let halt = tokio::sync::Notify::new();
    let stop = async {
        tokio::select! {
            () = stop => stopped.store(true, Ordering::Relaxed),
            () = halt.notified() => {}
        }
    };
    let reports = list(store, target, progress)
        .take_until(stop)
        .map_ok(move |listed| async move {
            let object = ObjectRef {
                location: ObjectLocation::current(&target.bucket, &listed.key),
                // The listed ETag: an object replaced since it was listed is reported `stale`
                // (as a late event would be), never acted on with the listing's view of it.
                etag: listed.etag,
                size: Some(listed.size),
                sequencer: None,
                event_name: None,
                alternate_key: None,
            };
            let mut reports = vec![reconcile(store, policy, &object, options).await];
            if coverage.versions && keeps_every_version(policy, &object.location) {
                reports.extend(noncurrent_versions(store, policy, &object.location, options).await);
            }
            progress.inc(1);
            Ok::<_, StoreError>(reports)
        })
        .try_buffer_unordered(concurrency.max(1));
    let mut reports = std::pin::pin!(reports);
    let mut totals = ScanTotals::default();
    let mut failure: Option<CliError> = None;
    while let Some(done) = reports.next().await {
        let done = match done {
            Ok(done) => done,
            Err(source) => {
                failure.get_or_insert(CliError::List {
                    bucket: target.bucket.clone(),
                    prefix: target.key.clone(),
                    source,
                });
                halt.notify_one();
                continue;
            }
        };
        for report in done {
            *totals.summary.entry(report.outcome).or_insert(0) += 1;
            totals.objects += 1;
            if let Err(err) = each(report) {
                failure.get_or_insert(err);
                halt.notify_one();
            }
        }
    }
    totals.interrupted = stopped.load(Ordering::Relaxed) || failure.is_some();
    (totals, failure)
}

/// Whether a rule that may cover `location` backs up every version.
fn keeps_every_version(policy: &Policy, location: &ObjectLocation) -> bool {
    policy.rules.iter().any(|rule| {
        rule.backup.as_ref().is_some_and(|b| b.all_versions)
            && rule.matcher.matches_key(&location.bucket, &location.key)
    })
}

/// Reconciles each noncurrent version of `location` (oldest first), as a late event for that
/// version would be: copied into the backup key's history when no version there holds it.
/// A listing that fails is reported as that object's failure.
async fn noncurrent_versions<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    location: &ObjectLocation,
    options: &Options,
) -> Vec<ObjectReport> {
    let versions = match store.list_versions(location).await {
        Ok(versions) => versions,
        Err(err) => {
            let mut report = ObjectReport::new(location, Outcome::Failed);
            report.error_code = Some(err.code().to_owned());
            report.error = Some(format!("listing its versions (--versions) failed: {err}"));
            report.transient = err.is_transient();
            return vec![report];
        }
    };
    let mut reports = Vec::new();
    for version in versions.iter().rev().filter(|v| !v.is_latest) {
        let object = ObjectRef {
            location: ObjectLocation {
                version_id: Some(version.version_id.clone()),
                ..location.clone()
            },
            etag: Some(version.etag.clone()),
            size: Some(version.size),
            sequencer: None,
            event_name: None,
            alternate_key: None,
        };
        reports.push(reconcile(store, policy, &object, options).await);
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::parse_policy;
    use crate::store::counting::CountingStore;
    use crate::store::memory::MemoryStore;

    /// Scans to the end (no stop), 8 at once, and returns every report.
    async fn run<S: ObjectStore>(
        store: &S,
        policy: &Policy,
        target: &S3Url,
        options: &Options,
        coverage: Coverage,
    ) -> (ScanTotals, Vec<ObjectReport>) {
        let mut reports = Vec::new();
        let hidden = ProgressBar::hidden();
        let (totals, failure) = scan(
            store,
            policy,
            target,
            options,
            coverage,
            8,
            &hidden,
            std::future::pending(),
            |r| {
                reports.push(r);
                Ok(())
            },
        )
        .await;
        assert!(failure.is_none(), "{failure:?}");
        (totals, reports)
    }

    #[tokio::test]
    async fn scans_every_page_and_applies_only_when_asked() {
        let memory = MemoryStore::new();
        memory.create_bucket("src");
        memory.create_bucket("backup");
        for i in 0..1203 {
            memory.put("src", &format!("p/{i:05}"), b"x", "text/plain");
        }
        memory.put("src", "other", b"x", "text/plain");
        let store = CountingStore::new(memory);
        let policy = parse_policy("backup: backup").unwrap();
        let target: S3Url = "s3://src/p/".parse().unwrap();
        let dry = Options {
            dry_run: true,
            ..Options::default()
        };
        let (totals, reports) = run(&store, &policy, &target, &dry, Coverage::default()).await;
        assert_eq!((totals.objects, reports.len()), (1203, 1203));
        assert_eq!(totals.summary[&Outcome::Planned], 1203);
        assert!(!totals.interrupted);
        assert_eq!(store.counts().lists, 2, "two pages of at most 1000");
        assert_eq!(store.counts().writes(), 0);

        let apply = Options::default();
        let (totals, _) = run(&store, &policy, &target, &apply, Coverage::default()).await;
        assert_eq!(totals.summary[&Outcome::Applied], 1203);
        let (again, _) = run(&store, &policy, &target, &apply, Coverage::default()).await;
        assert_eq!(again.summary[&Outcome::Compliant], 1203);
    }

    /// `--versions`: the noncurrent versions of an object whose rule keeps every version are
    /// copied into the backup key's history (oldest first), the current one stays on top, and
    /// a second scan copies nothing.
    #[tokio::test]
    async fn versions_fill_the_backup_history_once() {
        let memory = MemoryStore::new();
        for bucket in ["src", "backup"] {
            memory.create_bucket(bucket);
            memory.enable_versioning(bucket);
        }
        for body in [&b"one"[..], b"two", b"three"] {
            memory.put("src", "k", body, "text/plain");
        }
        memory.put("src", "plain", b"x", "text/plain");
        let store = CountingStore::new(memory);
        let policy =
            parse_policy("backup: { bucket: backup, prefix: \"{bucket}/\", all_versions: true }")
                .unwrap();
        let target: S3Url = "s3://src".parse().unwrap();
        let versions = Coverage { versions: true };
        let options = Options::default();
        let (totals, reports) = run(&store, &policy, &target, &options, versions).await;
        assert_eq!(
            totals.objects, 4,
            "two objects, two noncurrent versions: {reports:?}"
        );
        let history: Vec<Vec<u8>> = store
            .inner()
            .versions("backup", "src/k")
            .into_iter()
            .map(|v| v.body)
            .collect();
        // Each noncurrent copy is followed by the current version's backup put back on top
        // (as for a late event), so the current bytes appear more than once.
        for body in [&b"one"[..], b"two", b"three"] {
            assert!(
                history.iter().any(|h| h == body),
                "every version of k is in the backup's history: {history:?}"
            );
        }
        let current = store.inner().object("backup", "src/k").unwrap();
        assert_eq!(
            current.body, b"three",
            "the current version's backup stays on top"
        );

        let kept = store.inner().versions("backup", "src/k").len();
        let (_, second) = run(&store, &policy, &target, &options, versions).await;
        // (Conditional copies S3 refuses with 412 are still requests, so count versions.)
        assert_eq!(
            store.inner().versions("backup", "src/k").len(),
            kept,
            "a second scan copies nothing: {second:?}"
        );
        assert!(second.iter().all(|r| r.actions.is_empty()), "{second:?}");
    }

    /// `count` objects to back up, more than a scan of 8 at once finishes before a stop.
    fn many_objects(count: usize) -> (CountingStore<MemoryStore>, Policy, S3Url) {
        let memory = MemoryStore::new();
        memory.create_bucket("src");
        memory.create_bucket("backup");
        for i in 0..count {
            memory.put("src", &format!("k{i:05}"), b"x", "text/plain");
        }
        let policy = parse_policy("backup: backup").unwrap();
        let target: S3Url = "s3://src".parse().unwrap();
        (CountingStore::new(memory), policy, target)
    }

    /// An applying scan of `many_objects`, 8 at once.
    async fn apply_all(
        store: &CountingStore<MemoryStore>,
        policy: &Policy,
        target: &S3Url,
        stop: impl Future<Output = ()>,
        each: impl FnMut(ObjectReport) -> Result<(), CliError>,
    ) -> (ScanTotals, Option<CliError>) {
        let hidden = ProgressBar::hidden();
        let options = Options::default();
        scan(
            store,
            policy,
            target,
            &options,
            Coverage::default(),
            8,
            &hidden,
            stop,
            each,
        )
        .await
    }

    /// A failure of `each` (the journal cannot be written) stops new work like a Ctrl-C: the
    /// objects in flight finish and are still offered, and the failure comes back.
    #[tokio::test]
    async fn a_failing_sink_stops_new_work_and_finishes_what_started() {
        let (store, policy, target) = many_objects(2500);
        let mut offered = 0;
        let (totals, failure) = apply_all(&store, &policy, &target, std::future::pending(), |_| {
            offered += 1;
            if offered == 50 {
                return Err(CliError::Usage("disk full".into()));
            }
            Ok(())
        })
        .await;
        assert!(matches!(failure, Some(CliError::Usage(_))), "{failure:?}");
        assert!(totals.interrupted);
        assert!(totals.objects < 2500, "stopped early: {}", totals.objects);
        assert_eq!(offered, totals.objects, "every finished object was offered");
        assert_eq!(store.inner().keys("backup").len(), totals.objects);
    }

    /// A stop (Ctrl-C) before the listing is done: no new object starts, every object that
    /// started is finished and handed over, and the totals say the scan was interrupted.
    #[tokio::test]
    async fn a_stop_finishes_what_started_and_starts_nothing_new() {
        let (store, policy, target) = many_objects(2500);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tx = Some(tx);
        let mut reports = Vec::new();
        let stop = async {
            let _ = rx.await;
        };
        let totals = apply_all(&store, &policy, &target, stop, |r| {
            reports.push(r);
            if reports.len() == 100 {
                tx.take().map(|tx| tx.send(()));
            }
            Ok(())
        })
        .await
        .0;
        assert!(totals.interrupted);
        assert!(totals.objects < 2500, "stopped early: {}", totals.objects);
        assert_eq!(totals.objects, reports.len());
        assert!(reports.iter().all(|r| r.outcome == Outcome::Applied));
        assert_eq!(
            store.inner().keys("backup").len(),
            totals.objects,
            "every object started was finished and reported"
        );
    }
}
