//! One invocation: payload → records → bounded concurrent reconcile → response. Records for the
//! same key run one after another in `sequencer` order; different keys run concurrently.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::event::{RecordItem, parse_event};
use crate::object::{ObjectLocation, ObjectRef};
use crate::policy::Policy;
use crate::reconcile::{ObjectReport, Outcome, reconcile};
use crate::store::ObjectStore;

/// Default number of objects reconciled at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

/// The invocation response: per-object reports and totals.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationReport {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Count of objects per outcome.
    pub summary: BTreeMap<Outcome, usize>,
    /// One report per record, in record order.
    pub objects: Vec<ObjectReport>,
}

impl InvocationReport {
    /// Records that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ObjectReport> {
        self.objects.iter().filter(|r| r.outcome == Outcome::Failed)
    }
}

/// Why an invocation reports an error (so Lambda retries the event).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The payload is not an event this function understands.
    #[error(transparent)]
    Unrecognised(#[from] crate::event::EventError),
    /// Some records failed; the others were processed.
    #[error("{failed} of {total} records failed: {summary}")]
    RecordsFailed {
        /// Failed records.
        failed: usize,
        /// All records.
        total: usize,
        /// The first failures, `bucket/key: code: error`.
        summary: String,
        /// The full report.
        report: Box<InvocationReport>,
    },
}

/// Reconciles every object an invocation names.
#[derive(Debug)]
pub struct Processor<S> {
    store: S,
    policy: Policy,
    max_concurrency: usize,
    dry_run: bool,
}

impl<S: ObjectStore> Processor<S> {
    /// A processor over `store`; `dry_run` here or in the policy stops all writes.
    pub fn new(store: S, policy: Policy, max_concurrency: usize, dry_run: bool) -> Self {
        let dry_run = dry_run || policy.dry_run;
        Self {
            store,
            policy,
            max_concurrency: max_concurrency.max(1),
            dry_run,
        }
    }

    /// The store, for callers that inspect it (tests, benchmarks).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one invocation payload.
    pub async fn handle(&self, payload: &Value) -> Result<InvocationReport, InvocationError> {
        let items = parse_event(payload)?;
        let mut reports: Vec<Option<ObjectReport>> = vec![None; items.len()];
        let mut objects = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            match item {
                RecordItem::Object(object) => objects.push((index, object)),
                RecordItem::Skipped(reason) => {
                    tracing::debug!(record = index, reason, "record skipped");
                    let mut report =
                        ObjectReport::new(&ObjectLocation::current("", ""), Outcome::Skipped);
                    report.notes.push(reason);
                    reports[index] = Some(report);
                }
                RecordItem::Invalid(err) => {
                    tracing::error!(record = index, error = %err, "record rejected");
                    let mut report =
                        ObjectReport::new(&ObjectLocation::current("", ""), Outcome::Failed);
                    report.error_code = Some("InvalidRecord".into());
                    report.error = Some(err.to_string());
                    reports[index] = Some(report);
                }
            }
        }
        let groups = group_by_key(objects);
        let done: Vec<Vec<(usize, ObjectReport)>> = stream::iter(groups)
            .map(|group| self.reconcile_in_order(group))
            .buffer_unordered(self.max_concurrency)
            .collect()
            .await;
        for (index, report) in done.into_iter().flatten() {
            reports[index] = Some(report);
        }
        let objects: Vec<ObjectReport> = reports.into_iter().flatten().collect();
        let mut summary = BTreeMap::new();
        for report in &objects {
            *summary.entry(report.outcome).or_insert(0) += 1;
        }
        let report = InvocationReport {
            dry_run: self.dry_run,
            summary,
            objects,
        };
        let failed = report.failures().count();
        if failed > 0 {
            let summary = report
                .failures()
                .take(5)
                .map(|r| {
                    format!(
                        "{}/{}: {}: {}",
                        r.bucket,
                        r.key,
                        r.error_code.as_deref().unwrap_or_default(),
                        r.error.as_deref().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(InvocationError::RecordsFailed {
                failed,
                total: report.objects.len(),
                summary,
                report: Box::new(report),
            });
        }
        Ok(report)
    }

    async fn reconcile_in_order(
        &self,
        group: Vec<(usize, ObjectRef)>,
    ) -> Vec<(usize, ObjectReport)> {
        let mut out = Vec::with_capacity(group.len());
        for (index, object) in group {
            let report = reconcile(&self.store, &self.policy, &object, self.dry_run).await;
            out.push((index, report));
        }
        out
    }
}

/// Groups objects by bucket and key (first-seen order), each group sorted by sequencer.
fn group_by_key(objects: Vec<(usize, ObjectRef)>) -> Vec<Vec<(usize, ObjectRef)>> {
    let mut positions: HashMap<(String, String), usize> = HashMap::new();
    let mut groups: Vec<Vec<(usize, ObjectRef)>> = Vec::new();
    for (index, object) in objects {
        let id = (object.location.bucket.clone(), object.location.key.clone());
        let position = *positions.entry(id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[position].push((index, object));
    }
    for group in &mut groups {
        group.sort_by(|(ia, a), (ib, b)| {
            compare_sequencers(a.sequencer.as_deref(), b.sequencer.as_deref()).then(ia.cmp(ib))
        });
    }
    groups
}

/// Sequencers are hex strings of varying length: compare as numbers (longer is later).
fn compare_sequencers(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len()
                .cmp(&b.len())
                .then_with(|| a.to_ascii_uppercase().cmp(&b.to_ascii_uppercase()))
        }
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_compare_as_hex_numbers() {
        assert_eq!(
            compare_sequencers(Some("0A"), Some("09")),
            Ordering::Greater
        );
        assert_eq!(
            compare_sequencers(Some("100"), Some("FF")),
            Ordering::Greater
        );
        assert_eq!(
            compare_sequencers(Some("00ff"), Some("FF")),
            Ordering::Equal
        );
    }

    #[test]
    fn same_key_records_are_grouped_in_sequencer_order() {
        let object = |key: &str, seq: &str| ObjectRef {
            location: ObjectLocation::current("b", key),
            etag: None,
            sequencer: Some(seq.into()),
            event_name: None,
        };
        let groups = group_by_key(vec![
            (0, object("k", "0B")),
            (1, object("other", "01")),
            (2, object("k", "0A")),
        ]);
        assert_eq!(groups.len(), 2);
        let order: Vec<usize> = groups[0].iter().map(|(i, _)| *i).collect();
        assert_eq!(order, vec![2, 0]);
    }
}
