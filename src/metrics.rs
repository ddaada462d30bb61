//! CloudWatch metrics in the embedded metric format (EMF): one JSON line per invocation on
//! stdout, which CloudWatch Logs turns into metrics with no API call and no extra permission —
//! the way Powertools for AWS Lambda publishes them, and configured with its variables:
//! `POWERTOOLS_METRICS_NAMESPACE` (default `S3PolicyProcessor`), `POWERTOOLS_SERVICE_NAME`
//! (the `service` dimension, default `s3-policy-processor`), `POWERTOOLS_METRICS_DISABLED` (and
//! `POWERTOOLS_DEV`, which disables them unless `POWERTOOLS_METRICS_DISABLED=false`). Our own
//! `METRICS_DIMENSIONS` (`stage=prod,team=data`) adds dimensions to every metric.
//!
//! Counts come from the invocation report (objects by outcome, actions, bytes copied, failures
//! by error code); S3 requests are counted by a store wrapper ([`RequestCounter`]), so reconcile
//! itself knows nothing about metrics. `docs/metrics.md` lists the metrics and queries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use crate::handler::InvocationReport;
use crate::plan::Action;
use crate::reconcile::Outcome;
use crate::store::StoreError;
use crate::store::intercept::{CallHook, Intercepted, Operation};

/// Namespace when `POWERTOOLS_METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "S3PolicyProcessor";
/// Objects left out of line that no retry will bring in (plus a rejected payload): what the
/// template's object alarm watches. Transient failures are retried, and end in the failure or
/// dead-letter queue (alarmed there) if they never succeed.
pub const PERMANENT_FAILURES: &str = "FailuresPermanent";
/// `service` dimension when `POWERTOOLS_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE: &str = "s3-policy-processor";

/// Every outcome, so each invocation reports all of them (zeros included: sums stay honest).
const OUTCOMES: [Outcome; 8] = [
    Outcome::Applied,
    Outcome::Compliant,
    Outcome::Planned,
    Outcome::NoRule,
    Outcome::Gone,
    Outcome::Stale,
    Outcome::Skipped,
    Outcome::Failed,
];

/// Where metrics go: namespace and the `service` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// CloudWatch namespace.
    pub namespace: String,
    /// Value of the `service` dimension.
    pub service: String,
    /// Further dimensions (name, value), from `METRICS_DIMENSIONS`.
    pub dimensions: Vec<(String, String)>,
}

impl MetricsConfig {
    /// From the process environment; `None` when metrics are disabled.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (the environment, or a map in tests); `None` when
    /// `POWERTOOLS_METRICS_DISABLED` is `true`/`1`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let flag = |name: &str| {
            lookup(name).and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            })
        };
        let disabled = flag("POWERTOOLS_METRICS_DISABLED")
            .unwrap_or_else(|| flag("POWERTOOLS_DEV").unwrap_or(false));
        if disabled {
            return None;
        }
        let mut dimensions = Vec::new();
        for pair in lookup("METRICS_DIMENSIONS").unwrap_or_default().split(',') {
            match pair.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some((name, value))
                    if !name.is_empty() && !value.is_empty() && name != "service" =>
                {
                    dimensions.push((name.to_owned(), value.to_owned()));
                }
                _ if pair.trim().is_empty() => {}
                _ => tracing::warn!(
                    entry = pair,
                    "METRICS_DIMENSIONS: ignoring an entry that is not name=value"
                ),
            }
        }
        // CloudWatch allows 30 dimensions per metric; `service` is one.
        dimensions.truncate(29);
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Some(Self {
            namespace: non_empty("POWERTOOLS_METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            service: non_empty("POWERTOOLS_SERVICE_NAME")
                .unwrap_or_else(|| DEFAULT_SERVICE.to_owned()),
            dimensions,
        })
    }
}

/// Counts S3 requests per operation; [`RequestCounter::take`] reads and resets them, once per
/// invocation.
#[derive(Debug, Default)]
pub struct RequestCounter {
    counters: [AtomicU64; Operation::COUNT],
}

/// A store whose requests are counted for the metrics.
pub type MeteredStore<S> = Intercepted<S, RequestCounter>;

/// Wraps `store` so its requests are counted.
pub fn metered<S>(store: S) -> MeteredStore<S> {
    Intercepted::with_hook(store, RequestCounter::default())
}

impl CallHook for RequestCounter {
    fn before(&self, operation: Operation) -> Result<(), StoreError> {
        self.counters[operation as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

const OPERATIONS: [Operation; Operation::COUNT] = [
    Operation::HeadObject,
    Operation::HeadBucket,
    Operation::GetObjectTagging,
    Operation::PutObjectTagging,
    Operation::CopyObject,
    Operation::CreateMultipartUpload,
    Operation::UploadPartCopy,
    Operation::CompleteMultipartUpload,
    Operation::AbortMultipartUpload,
    Operation::ListParts,
    Operation::GetObjectAcl,
    Operation::PutObjectAcl,
    Operation::RestoreObject,
    Operation::ListObjectsV2,
    Operation::GetBucketVersioning,
    Operation::ListObjectVersions,
    Operation::GetObject,
    Operation::PutObject,
    Operation::DeleteObject,
    Operation::GetObjectLockConfiguration,
    Operation::GetObjectRetention,
    Operation::GetObjectLegalHold,
    Operation::UpdateObjectEncryption,
    Operation::ListObjectAnnotations,
    Operation::GetObjectAnnotation,
    Operation::PutObjectAnnotation,
];

impl RequestCounter {
    /// Requests per S3 operation since the last call (operations with none are left out).
    pub fn take(&self) -> BTreeMap<&'static str, u64> {
        OPERATIONS
            .iter()
            .filter_map(|&op| {
                let n = self.counters[op as usize].swap(0, Ordering::Relaxed);
                (n > 0).then_some((op.name(), n))
            })
            .collect()
    }
}

/// What one invocation did, in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationMetrics {
    /// Objects per outcome.
    pub objects: BTreeMap<Outcome, u64>,
    /// Actions applied (or planned, in a dry run) per action name.
    pub actions: BTreeMap<&'static str, u64>,
    /// Bytes copied server-side by applied backup copies and rewrites.
    pub bytes_copied: u64,
    /// S3 requests per operation.
    pub requests: BTreeMap<&'static str, u64>,
    /// Failed objects per error code.
    pub failures: BTreeMap<String, u64>,
    /// Failed objects a retry will not help (not transient: access, missing buckets, invalid
    /// records, requirements that cannot be met).
    pub permanent_failures: u64,
    /// The invocation's error type when the payload itself was rejected.
    pub invocation_error: Option<&'static str>,
}

impl InvocationMetrics {
    /// Counts from a report (the function's response, or `s3pp scan`'s).
    pub fn from_report(report: &InvocationReport) -> Self {
        let mut metrics = Self::default();
        for object in &report.objects {
            *metrics.objects.entry(object.outcome).or_default() += 1;
            for action in &object.actions {
                *metrics.actions.entry(action.name()).or_default() += 1;
                let copies = matches!(action, Action::Backup { .. } | Action::Rewrite { .. });
                if copies && object.outcome == Outcome::Applied {
                    metrics.bytes_copied += object.size.unwrap_or(0);
                }
            }
            if object.outcome == Outcome::Failed {
                let code = object.error_code.as_deref().unwrap_or("Unknown").to_owned();
                *metrics.failures.entry(code).or_default() += 1;
                metrics.permanent_failures += u64::from(!object.transient);
            }
        }
        metrics
    }

    /// Adds the S3 request counts.
    pub fn with_requests(mut self, requests: BTreeMap<&'static str, u64>) -> Self {
        self.requests = requests;
        self
    }

    /// The EMF log line: `_aws` metadata with one metric directive, dimension `service`, and
    /// each metric as a top-level member. `timestamp_ms` is milliseconds since the epoch.
    /// `properties` are added as plain (searchable, not metric) members.
    pub fn emf(
        &self,
        config: &MetricsConfig,
        timestamp_ms: u64,
        properties: &[(&str, Value)],
    ) -> Value {
        let mut values: Vec<(String, &str, u64)> = Vec::new();
        for outcome in OUTCOMES {
            let n = self.objects.get(&outcome).copied().unwrap_or(0);
            values.push((format!("Objects{}", outcome_name(outcome)), "Count", n));
        }
        for (action, n) in &self.actions {
            values.push((format!("Actions_{action}"), "Count", *n));
        }
        values.push(("BytesCopied".into(), "Bytes", self.bytes_copied));
        values.push(("S3Requests".into(), "Count", self.requests.values().sum()));
        for (operation, n) in &self.requests {
            values.push((format!("S3Requests_{operation}"), "Count", *n));
        }
        values.push((
            "Failures".into(),
            "Count",
            self.failures.values().sum::<u64>() + u64::from(self.invocation_error.is_some()),
        ));
        for (code, n) in &self.failures {
            values.push((format!("Failures_{code}"), "Count", *n));
        }
        values.push((
            PERMANENT_FAILURES.into(),
            "Count",
            self.permanent_failures + u64::from(self.invocation_error.is_some()),
        ));
        if let Some(error_type) = self.invocation_error {
            values.push((format!("Failures_{error_type}"), "Count", 1));
        }
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut dimension_names = vec!["service"];
        dimension_names.extend(config.dimensions.iter().map(|(name, _)| name.as_str()));
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": config.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        line.insert("service".into(), Value::from(config.service.clone()));
        for (name, value) in &config.dimensions {
            line.insert(name.clone(), Value::from(value.clone()));
        }
        for (name, value) in properties {
            line.insert((*name).to_owned(), value.clone());
        }
        for (name, _, n) in values {
            line.insert(name, Value::from(n));
        }
        Value::Object(line)
    }
}

/// `Applied`, `NoRule`, ...: the outcome in metric-name case.
fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "Applied",
        Outcome::Compliant => "Compliant",
        Outcome::Planned => "Planned",
        Outcome::NoRule => "NoRule",
        Outcome::Gone => "Gone",
        Outcome::Stale => "Stale",
        Outcome::Skipped => "Skipped",
        Outcome::Failed => "Failed",
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EnvelopeKind;
    use crate::object::{ObjectLocation, StorageClass};
    use crate::reconcile::ObjectReport;
    use std::collections::HashMap;

    fn report() -> InvocationReport {
        let mut applied = ObjectReport::new(&ObjectLocation::current("b", "k"), Outcome::Applied);
        applied.size = Some(100);
        applied.actions = vec![
            Action::Backup {
                destination: ObjectLocation::current("backup", "k"),
                storage_class: StorageClass::Standard,
                encryption: None,
                condition: crate::plan::BackupCondition::OnlyIfAbsent,
            },
            Action::PutTags {
                tags: Default::default(),
            },
        ];
        let mut failed = ObjectReport::new(&ObjectLocation::current("b", "x"), Outcome::Failed);
        failed.error_code = Some("AccessDenied".into());
        let compliant = ObjectReport::new(&ObjectLocation::current("b", "y"), Outcome::Compliant);
        let mut paused = ObjectReport::new(&ObjectLocation::current("b", "z"), Outcome::Failed);
        paused.error_code = Some("DeadlineNear".into());
        paused.transient = true;
        InvocationReport {
            dry_run: false,
            summary: BTreeMap::new(),
            objects: vec![applied, failed, compliant, paused],
            kind: EnvelopeKind::S3,
            units: Vec::new(),
        }
    }

    #[test]
    fn counts_come_from_the_report() {
        let metrics = InvocationMetrics::from_report(&report());
        assert_eq!(metrics.objects[&Outcome::Applied], 1);
        assert_eq!(metrics.actions["backup"], 1);
        assert_eq!(metrics.bytes_copied, 100, "the backup copies; tags do not");
        assert_eq!(metrics.failures["AccessDenied"], 1);
        assert_eq!(metrics.failures["DeadlineNear"], 1);
        assert_eq!(
            metrics.permanent_failures, 1,
            "a paused copy is retried, not a permanent failure"
        );
        let config = MetricsConfig::from_lookup(|_| None).unwrap();
        let line = metrics.emf(&config, 0, &[]);
        assert_eq!(line["Failures"], 2);
        assert_eq!(line[PERMANENT_FAILURES], 1);
    }

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let config = MetricsConfig::from_lookup(|_| None).unwrap();
        let line = InvocationMetrics::from_report(&report())
            .with_requests([("HeadObject", 3)].into_iter().collect())
            .emf(&config, 1, &[]);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], DEFAULT_NAMESPACE);
        assert_eq!(line["service"], DEFAULT_SERVICE);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} declared but not set");
        }
        assert_eq!(line["S3Requests"], 3);
        assert_eq!(line["Failures_AccessDenied"], 1);
        assert_eq!(line["ObjectsPlanned"], 0);
    }

    #[test]
    fn powertools_variables_configure_or_disable() {
        let vars: HashMap<&str, &str> = [
            ("POWERTOOLS_METRICS_NAMESPACE", "Acme"),
            ("POWERTOOLS_SERVICE_NAME", "uploads"),
            ("METRICS_DIMENSIONS", "stage=prod, bad, team=data"),
            ("POWERTOOLS_DEV", "true"),
            ("POWERTOOLS_METRICS_DISABLED", "false"),
        ]
        .into();
        let config = MetricsConfig::from_lookup(|n| vars.get(n).map(|v| v.to_string())).unwrap();
        let line = InvocationMetrics::default().emf(&config, 1, &[]);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service", "stage", "team"]])
        );
        assert_eq!(
            (line["stage"].as_str(), line["team"].as_str()),
            (Some("prod"), Some("data"))
        );
        assert_eq!(
            (config.namespace.as_str(), config.service.as_str()),
            ("Acme", "uploads")
        );
        assert!(
            MetricsConfig::from_lookup(
                |n| (n == "POWERTOOLS_METRICS_DISABLED").then(|| "true".into())
            )
            .is_none()
        );
        assert!(
            MetricsConfig::from_lookup(|n| (n == "POWERTOOLS_DEV").then(|| "1".into())).is_none()
        );
    }
}
