//! `s3pp scan`: list the objects under a prefix (page by page) and reconcile each with the
//! function's own [`reconcile`], a bounded number at once, into the function's report shape.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use futures::stream::{self, TryStreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, S3Url};
use crate::event::EnvelopeKind;
use crate::handler::InvocationReport;
use crate::object::{ObjectLocation, ObjectRef};
use crate::policy::Policy;
use crate::reconcile::{Options, reconcile};
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

/// Lists and reconciles every object under `target`; reports are sorted by key.
pub async fn scan<S: ObjectStore>(
    store: &S,
    policy: &Policy,
    target: &S3Url,
    options: &Options,
    concurrency: usize,
    progress: &ProgressBar,
) -> Result<InvocationReport, CliError> {
    let mut objects = list(store, target, progress)
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
            let report = reconcile(store, policy, &object, options).await;
            progress.inc(1);
            Ok::<_, StoreError>(report)
        })
        .try_buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await
        .map_err(|source| CliError::List {
            bucket: target.bucket.clone(),
            prefix: target.key.clone(),
            source,
        })?;
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    let mut summary = BTreeMap::new();
    for report in &objects {
        *summary.entry(report.outcome).or_insert(0) += 1;
    }
    Ok(InvocationReport {
        dry_run: options.dry_run,
        summary,
        objects,
        // Not serialized: the report's shape is the function's direct-invocation response.
        kind: EnvelopeKind::S3,
        units: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::parse_policy;
    use crate::reconcile::Outcome;
    use crate::store::counting::CountingStore;
    use crate::store::memory::MemoryStore;

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
        let hidden = ProgressBar::hidden();
        let report = scan(&store, &policy, &target, &dry, 8, &hidden)
            .await
            .unwrap();
        assert_eq!(report.objects.len(), 1203);
        assert_eq!(report.summary[&Outcome::Planned], 1203);
        assert_eq!(store.counts().lists, 2, "two pages of at most 1000");
        assert_eq!(store.counts().writes(), 0);

        let apply = Options::default();
        let report = scan(&store, &policy, &target, &apply, 8, &hidden)
            .await
            .unwrap();
        assert_eq!(report.summary[&Outcome::Applied], 1203);
        let again = scan(&store, &policy, &target, &apply, 8, &hidden)
            .await
            .unwrap();
        assert_eq!(again.summary[&Outcome::Compliant], 1203);
    }
}
