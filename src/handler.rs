//! One invocation: payload → units (messages, tasks, records) → objects → bounded concurrent
//! reconcile → the response its envelope expects. Objects with the same key run one after
//! another in `sequencer` order; different keys run concurrently.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::s3::batch_job::{S3BatchJobResponse, S3BatchJobResult};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::apply::copy::CopySettings;
use crate::event::{
    EnvelopeKind, EventError, Invocation, RecordItem, parse_invocation, parse_invocation_text,
};
use crate::object::{ObjectLocation, ObjectRef};
use crate::policy::Policy;
use crate::reconcile::{ObjectReport, Options, Outcome, reconcile};
use crate::record_deadline;
use crate::store::ObjectStore;
use crate::store::bucket_facts::BucketFacts;
use crate::store::server::ServerSupport;

/// Default number of objects reconciled at once, chosen by measurement (bench/RESULTS.md,
/// "Concurrency sweep"): with the backup copy beside the HEAD, throughput at a 512 MB CPU share
/// grows up to about 48 in flight (64 and 128 add nothing); at 128 MB it flattens from 24.
/// Each object in flight costs ~110 KiB (two requests, two connections).
pub const DEFAULT_MAX_CONCURRENCY: usize = 48;

/// How one unit (SQS message, Batch Operations task, or record) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitResult {
    /// Message id, task id or `record N`.
    pub id: String,
    /// Some object of the unit failed.
    pub failed: bool,
    /// Every failure of the unit may succeed on a retry (throttling, 5xx, timeouts).
    pub transient: bool,
    /// Short human-readable result.
    pub summary: String,
}

/// Everything an invocation did.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationReport {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Count of objects per outcome.
    pub summary: BTreeMap<Outcome, usize>,
    /// One report per object or record, in payload order.
    pub objects: Vec<ObjectReport>,
    /// The envelope.
    #[serde(skip)]
    pub kind: EnvelopeKind,
    /// Per-unit results, in payload order.
    #[serde(skip)]
    pub units: Vec<UnitResult>,
}

impl InvocationReport {
    /// Objects or records that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ObjectReport> {
        self.objects.iter().filter(|r| r.outcome == Outcome::Failed)
    }

    /// The response the envelope expects, as a JSON value (see [`Self::into_response`]).
    pub fn response(&self) -> Value {
        serde_json::to_value(self.clone().into_response()).unwrap_or(Value::Null)
    }

    /// The response the envelope expects: the report itself; for SQS the report plus
    /// `batchItemFailures`; for Batch Operations the per-task results. Serialized straight to
    /// the runtime's response body, with no intermediate JSON tree.
    pub fn into_response(self) -> InvocationResponse {
        match &self.kind {
            EnvelopeKind::BatchOperations {
                schema_version,
                invocation_id,
            } => InvocationResponse::BatchOperations(batch_response(
                &self,
                schema_version,
                invocation_id,
            )),
            kind => {
                let batch_item_failures = (*kind == EnvelopeKind::Sqs).then(|| {
                    self.units
                        .iter()
                        .filter(|u| u.failed)
                        .map(|u| BatchItemFailure {
                            item_identifier: u.id.clone(),
                        })
                        .collect()
                });
                InvocationResponse::Report {
                    report: self,
                    batch_item_failures,
                }
            }
        }
    }
}

/// What the function returns to Lambda for one invocation.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InvocationResponse {
    /// Direct S3, SNS, EventBridge and SQS invocations: the audit report.
    Report {
        /// The audit report's fields, at the top level.
        #[serde(flatten)]
        report: InvocationReport,
        /// SQS only: the message ids Lambda should retry.
        #[serde(rename = "batchItemFailures", skip_serializing_if = "Option::is_none")]
        batch_item_failures: Option<Vec<BatchItemFailure>>,
    },
    /// S3 Batch Operations: per-task result codes.
    BatchOperations(S3BatchJobResponse),
}

/// One SQS message Lambda should make visible again.
#[derive(Debug, Serialize)]
pub struct BatchItemFailure {
    /// The message id.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

fn batch_response(
    report: &InvocationReport,
    schema_version: &str,
    invocation_id: &str,
) -> S3BatchJobResponse {
    let mut response = S3BatchJobResponse::default();
    response.invocation_schema_version = Some(schema_version.to_owned());
    response.treat_missing_keys_as = Some("PermanentFailure".to_owned());
    response.invocation_id = Some(invocation_id.to_owned());
    response.results = report
        .units
        .iter()
        .map(|unit| {
            let mut result = S3BatchJobResult::default();
            result.task_id = Some(unit.id.clone());
            result.result_code = Some(
                match (unit.failed, unit.transient) {
                    (false, _) => "Succeeded",
                    (true, true) => "TemporaryFailure",
                    (true, false) => "PermanentFailure",
                }
                .to_owned(),
            );
            result.result_string = Some(unit.summary.clone());
            result
        })
        .collect();
    response
}

/// Why an invocation reports an error (so Lambda retries the event).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The payload is not an event this function understands.
    #[error(transparent)]
    Unrecognised(#[from] EventError),
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
    copy: CopySettings,
    server: ServerSupport,
    /// What the instance has learned about buckets, kept across invocations.
    facts: Arc<BucketFacts>,
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
            copy: CopySettings::default(),
            server: ServerSupport::default(),
            facts: Arc::default(),
        }
    }

    /// Trusts the S3 server with what `server` says it does (S3's behaviour by default).
    pub fn with_server_support(mut self, server: ServerSupport) -> Self {
        self.server = server;
        self
    }

    /// Replaces the copy settings (multipart threshold, part size, parts in flight).
    pub fn with_copy_settings(mut self, copy: CopySettings) -> Self {
        self.copy = copy;
        self
    }

    /// The store, for callers that inspect it (tests, benchmarks).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one invocation. Direct S3, SNS and EventBridge invocations with failed records
    /// return an error (Lambda retries them); SQS and Batch Operations report failures per
    /// message / task in the response instead.
    pub async fn handle(&self, payload: &Value) -> Result<InvocationReport, InvocationError> {
        self.handle_until(payload, None).await
    }

    /// [`Self::handle`], knowing when the invocation times out: long multipart copies pause
    /// before then, leaving their upload open for the retry to continue.
    pub async fn handle_until(
        &self,
        payload: &Value,
        deadline: Option<Instant>,
    ) -> Result<InvocationReport, InvocationError> {
        let invocation = parse_invocation(payload)?;
        self.run(invocation, deadline).await
    }

    /// [`Self::handle_until`] for the payload as the runtime received it (JSON text): records
    /// are parsed one at a time and the text is freed before any S3 work, so a batch of
    /// thousands of records never sits in memory as a JSON tree.
    pub async fn handle_payload(
        &self,
        payload: Box<RawValue>,
        deadline: Option<Instant>,
    ) -> Result<InvocationReport, InvocationError> {
        let invocation = parse_invocation_text(payload.get())?;
        drop(payload);
        self.run(invocation, deadline).await
    }

    async fn run(
        &self,
        invocation: Invocation,
        deadline: Option<Instant>,
    ) -> Result<InvocationReport, InvocationError> {
        let options = Options {
            dry_run: self.dry_run,
            copy: self.copy.clone(),
            deadline,
            server: self.server,
            facts: self.facts.clone(),
        };
        let mut slots: Vec<(usize, Option<ObjectReport>)> = Vec::new();
        let mut objects = Vec::new();
        for (unit_index, unit) in invocation.units.iter().enumerate() {
            for item in &unit.items {
                let slot = slots.len();
                slots.push((unit_index, None));
                match item {
                    RecordItem::Object(object) => objects.push((slot, object.clone())),
                    RecordItem::Skipped(reason) => {
                        tracing::debug!(unit = unit.id, reason, "record skipped");
                        let mut report =
                            ObjectReport::new(&ObjectLocation::current("", ""), Outcome::Skipped);
                        report.notes.push(reason.clone());
                        slots[slot].1 = Some(report);
                    }
                    RecordItem::Invalid(err) => {
                        tracing::error!(unit = unit.id, error = %err, "record rejected");
                        let mut report =
                            ObjectReport::new(&ObjectLocation::current("", ""), Outcome::Failed);
                        report.error_code = Some("InvalidRecord".into());
                        report.error = Some(err.to_string());
                        slots[slot].1 = Some(report);
                    }
                }
            }
        }
        let cutoff = record_deadline::cutoff(deadline, self.copy.deadline_margin);
        let done: Vec<Vec<(usize, ObjectReport)>> = stream::iter(group_by_key(objects))
            .map(|group| self.reconcile_in_order(group, &options, cutoff))
            .buffer_unordered(self.max_concurrency)
            .collect()
            .await;
        for (slot, report) in done.into_iter().flatten() {
            slots[slot].1 = Some(report);
        }

        let mut units: Vec<UnitResult> = invocation
            .units
            .iter()
            .map(|u| UnitResult {
                id: u.id.clone(),
                failed: false,
                transient: true,
                summary: String::new(),
            })
            .collect();
        let mut reports = Vec::with_capacity(slots.len());
        for (unit_index, report) in slots {
            let Some(report) = report else { continue };
            let unit = &mut units[unit_index];
            if report.outcome == Outcome::Failed {
                unit.failed = true;
                unit.transient &= report.transient;
            }
            if !unit.summary.is_empty() {
                unit.summary.push_str("; ");
            }
            unit.summary.push_str(&report.short_summary());
            reports.push(report);
        }
        for unit in &mut units {
            unit.transient &= unit.failed;
        }
        let mut summary = BTreeMap::new();
        for report in &reports {
            *summary.entry(report.outcome).or_insert(0) += 1;
        }
        let report = InvocationReport {
            dry_run: self.dry_run,
            summary,
            objects: reports,
            kind: invocation.kind,
            units,
        };
        let failed = report.failures().count();
        let reports_per_unit = matches!(
            report.kind,
            EnvelopeKind::Sqs | EnvelopeKind::BatchOperations { .. }
        );
        if failed > 0 && !reports_per_unit {
            let summary = report
                .failures()
                .take(5)
                .map(ObjectReport::short_summary)
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
        options: &Options,
        cutoff: Option<Instant>,
    ) -> Vec<(usize, ObjectReport)> {
        let mut out = Vec::with_capacity(group.len());
        for (slot, object) in group {
            let work = reconcile(&self.store, &self.policy, &object, options);
            let report = record_deadline::within(cutoff, &object.location, work).await;
            out.push((slot, report));
        }
        out
    }
}

/// Groups objects by bucket and key (first-seen order), each group sorted by sequencer.
fn group_by_key(objects: Vec<(usize, ObjectRef)>) -> Vec<Vec<(usize, ObjectRef)>> {
    let mut positions: HashMap<(String, String), usize> = HashMap::new();
    let mut groups: Vec<Vec<(usize, ObjectRef)>> = Vec::new();
    for (slot, object) in objects {
        let id = (object.location.bucket.clone(), object.location.key.clone());
        let position = *positions.entry(id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[position].push((slot, object));
    }
    for group in &mut groups {
        group.sort_by(|(ia, a), (ib, b)| {
            compare_sequencers(a.sequencer.as_deref(), b.sequencer.as_deref()).then(ia.cmp(ib))
        });
    }
    groups
}

/// Sequencers are hex strings of varying length: compare as numbers. Records without one come
/// after those with one (and keep their delivery order among themselves, by the caller's
/// tie-break), so the order is total: `sort_by` may panic on a comparator that is not.
fn compare_sequencers(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len()
                .cmp(&b.len())
                .then_with(|| a.to_ascii_uppercase().cmp(&b.to_ascii_uppercase()))
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::policy::document::parse_policy;
    use crate::store::StoreError;
    use crate::store::intercept::{CallHook, Intercepted, Operation};
    use crate::store::memory::MemoryStore;

    /// Every CopyObject takes longer than any invocation.
    struct SlowCopies;

    impl CallHook for SlowCopies {
        fn before(&self, _: Operation) -> Result<(), StoreError> {
            Ok(())
        }

        fn latency(&self, operation: Operation) -> Option<Duration> {
            (operation == Operation::CopyObject).then_some(Duration::from_secs(600))
        }
    }

    fn sqs_record(id: &str, key: &str) -> Value {
        let body = serde_json::json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
            "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "src"}, "object": {"key": key, "size": 4}}}]});
        serde_json::json!({"messageId": id, "receiptHandle": "r", "body": body.to_string(),
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {}, "md5OfBody": ""})
    }

    /// In an SQS batch one object whose copy outlasts the invocation is reported as that
    /// message's failure at the cut-off, and the batch's other messages succeed.
    #[tokio::test]
    async fn a_slow_record_fails_alone_before_the_deadline() {
        let memory = MemoryStore::new();
        for bucket in ["src", "backup"] {
            memory.create_bucket(bucket);
        }
        for key in ["fast-1", "slow/big", "fast-2"] {
            memory.put("src", key, b"data", "text/plain");
        }
        let policy = parse_policy(
            "rules:\n  - name: slow\n    match: { prefix: slow/ }\n    backup: backup\n  - name: rest\n    tags: { done: \"yes\" }",
        )
        .expect("policy");
        let copy = CopySettings {
            deadline_margin: Duration::from_secs(1),
            ..CopySettings::default()
        };
        let processor =
            Processor::new(Intercepted::with_hook(memory, SlowCopies), policy, 8, false)
                .with_copy_settings(copy);
        let payload = serde_json::json!({"Records": [
            sqs_record("m1", "fast-1"), sqs_record("m2", "slow/big"), sqs_record("m3", "fast-2"),
        ]});
        let started = Instant::now();
        let deadline = started + Duration::from_millis(600);
        let report = processor
            .handle_until(&payload, Some(deadline))
            .await
            .expect("an SQS batch reports per message");
        assert!(Instant::now() < deadline, "answered before the deadline");
        let outcomes: Vec<(&str, Outcome)> = report
            .objects
            .iter()
            .map(|o| (o.key.as_str(), o.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("fast-1", Outcome::Applied),
                ("slow/big", Outcome::Failed),
                ("fast-2", Outcome::Applied)
            ]
        );
        assert_eq!(
            report.objects[1].error_code.as_deref(),
            Some("DeadlineNear")
        );
        assert_eq!(
            report.response()["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "m2"}])
        );
    }

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
            size: None,
            sequencer: Some(seq.into()),
            event_name: None,
            alternate_key: None,
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

    /// Many same-key records, some without a sequencer: the sort must not panic (Rust's sort
    /// detects comparators that are not total orders) and must keep sequenced records in order.
    #[test]
    fn records_without_sequencers_are_ordered_consistently() {
        let object = |seq: Option<String>| ObjectRef {
            location: ObjectLocation::current("b", "k"),
            etag: None,
            size: None,
            sequencer: seq,
            event_name: None,
            alternate_key: None,
        };
        let records: Vec<(usize, ObjectRef)> = (0..200)
            .map(|i| {
                let seq = (i % 3 != 0).then(|| format!("{:04X}", (i * 7919) % 1000));
                (i, object(seq))
            })
            .collect();
        let groups = group_by_key(records);
        assert_eq!(groups.len(), 1);
        let group = &groups[0];
        let (with, without): (Vec<_>, Vec<_>) =
            group.iter().partition(|(_, o)| o.sequencer.is_some());
        assert_eq!(with.len() + without.len(), 200);
        assert!(
            group[..with.len()]
                .iter()
                .all(|(_, o)| o.sequencer.is_some()),
            "sequenced records first"
        );
        let values: Vec<u64> = with
            .iter()
            .map(|(_, o)| {
                u64::from_str_radix(o.sequencer.as_deref().unwrap_or("0"), 16).unwrap_or(0)
            })
            .collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        let unsequenced: Vec<usize> = without.iter().map(|(i, _)| *i).collect();
        assert!(
            unsequenced.windows(2).all(|w| w[0] < w[1]),
            "delivery order kept"
        );
    }
}
