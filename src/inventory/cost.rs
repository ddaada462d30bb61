//! What bringing the objects of an inventory in line costs: the work each verdict's worst-case
//! plan implies (so to-check objects count as if their unknown work were needed: an upper
//! estimate), tallied as requests, bytes and byte-days, then priced with a [`Prices`] table.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Timestamp;
use super::prices::Prices;
use super::verdict::{Step, Verdict};
use crate::apply::copy::{CopySettings, part_count};

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The object a verdict is about, as far as costs go.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Size in bytes.
    pub size: u64,
    /// Storage class as the inventory states it (`STANDARD` when it does not).
    pub class: &'a str,
    /// Last modified (parsed only when a rewrite's early-deletion charge needs it).
    pub last_modified: Option<Timestamp<'a>>,
    /// Whether the bucket keeps versions (the inventory has version ids): a rewrite leaves
    /// the old bytes as a noncurrent version instead of deleting them.
    pub versioned: bool,
}

/// The work counted so far.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Work {
    /// Objects in the manifest: one Batch Operations task and one invocation each.
    pub invocations: u64,
    /// HEADs the function makes of them, by storage class.
    pub heads: BTreeMap<String, u64>,
    /// Write requests (CopyObject, multipart parts, tagging, UpdateObjectEncryption), by the
    /// class written.
    pub writes: BTreeMap<String, u64>,
    /// Bytes read by copies from classes that charge retrieval, by class.
    pub retrieved_bytes: BTreeMap<String, u64>,
    /// Bytes moving between classes, by `FROM -> TO`.
    pub class_changes: BTreeMap<String, u64>,
    /// Byte-days of minimum storage duration left when a rewrite replaces an object too young
    /// to leave its class, by class.
    pub early_deletion_byte_days: BTreeMap<String, f64>,
    /// Rewrites whose early-deletion charge cannot be estimated (no LastModifiedDate).
    pub early_deletion_unknown: u64,
    /// Bytes rewrites leave behind as noncurrent versions (versioned buckets), by class.
    pub noncurrent_bytes: BTreeMap<String, u64>,
    /// Bytes of backup copies, by the backup's class.
    pub backup_bytes: BTreeMap<String, u64>,
    /// Restores requested, by `CLASS/Tier`: (requests, bytes).
    pub restores: BTreeMap<String, (u64, u64)>,
}

impl Work {
    /// Counts what `verdict`'s object may cost, if it goes to the function.
    pub fn add(
        &mut self,
        verdict: &Verdict<'_>,
        facts: Facts<'_>,
        as_of: i64,
        prices: &Prices,
        copy: &CopySettings,
    ) {
        if !verdict.outcome.needs_invocation() {
            return;
        }
        self.invocations += 1;
        bump(&mut self.heads, facts.class, 1);
        let requests = |size: u64| {
            if copy.is_single_copy(size) {
                1
            } else {
                part_count(size, copy.part_size) + 2
            }
        };
        for step in verdict.steps.iter() {
            match step {
                Step::Rewrite { to, change } => {
                    let to = to.as_str();
                    bump(&mut self.writes, to, requests(facts.size));
                    self.retrieval(facts);
                    if let Some(change) = change {
                        bump(&mut self.class_changes, change, facts.size);
                    }
                    if facts.versioned {
                        bump(&mut self.noncurrent_bytes, facts.class, facts.size);
                    } else if let Some(days) = prices.minimum_days.get(facts.class) {
                        match facts.last_modified.and_then(|t| t.epoch_seconds()) {
                            Some(modified) => {
                                let age_days = (as_of - modified).max(0) as f64 / 86_400.0;
                                let left = f64::from(*days) - age_days;
                                if left > 0.0 {
                                    bump(
                                        &mut self.early_deletion_byte_days,
                                        facts.class,
                                        left * facts.size as f64,
                                    );
                                }
                            }
                            None => self.early_deletion_unknown += 1,
                        }
                    }
                }
                Step::Backup { to } => {
                    bump(&mut self.writes, to.as_str(), requests(facts.size));
                    self.retrieval(facts);
                    bump(&mut self.backup_bytes, to.as_str(), facts.size);
                }
                Step::Write => bump(&mut self.writes, facts.class, 1),
                Step::Annotations(n) => bump(&mut self.writes, facts.class, *n as u64),
                Step::Restore { tier } => {
                    let entry = self
                        .restores
                        .entry(format!("{}/{tier}", facts.class))
                        .or_default();
                    entry.0 += 1;
                    entry.1 += facts.size;
                }
            }
        }
    }

    fn retrieval(&mut self, facts: Facts<'_>) {
        if matches!(facts.class, "STANDARD_IA" | "ONEZONE_IA" | "GLACIER_IR") {
            bump(&mut self.retrieved_bytes, facts.class, facts.size);
        }
    }
}

fn bump<V: Copy + std::ops::AddAssign + Default>(map: &mut BTreeMap<String, V>, key: &str, n: V) {
    match map.get_mut(key) {
        Some(total) => *total += n,
        None => {
            map.insert(key.to_owned(), n);
        }
    }
}

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    /// What is charged.
    pub item: String,
    /// How much of it (requests, GB, GB-days).
    pub quantity: String,
    /// Charged once (`once`) or every month from then on (`per month`).
    pub when: &'static str,
    /// The amount, in the table's currency (negative: a saving).
    pub amount: f64,
}

/// Prices `work`: one-time charges, then monthly changes.
pub fn estimate(work: &Work, prices: &Prices) -> Vec<CostLine> {
    let mut lines = Vec::new();
    let mut once = |item: String, quantity: String, amount: f64| {
        lines.push(CostLine {
            item,
            quantity,
            when: "once",
            amount,
        })
    };
    if work.invocations > 0 {
        let tasks = work.invocations as f64;
        once(
            "Batch Operations (job + tasks)".into(),
            format!("{} tasks", work.invocations),
            prices.batch_operations_per_job
                + tasks / 1e6 * prices.batch_operations_per_million_tasks,
        );
        let gb_seconds = tasks * prices.lambda_ms_per_object / 1000.0
            * f64::from(prices.lambda_memory_mb)
            / 1024.0;
        once(
            "Lambda (requests + duration)".into(),
            format!(
                "{} invocations x {} ms at {} MB",
                work.invocations, prices.lambda_ms_per_object, prices.lambda_memory_mb
            ),
            tasks / 1e6 * prices.lambda_per_million_requests
                + gb_seconds * prices.lambda_per_gb_second,
        );
    }
    for (class, n) in &work.heads {
        once(
            format!("HEAD ({class})"),
            format!("{n} requests"),
            *n as f64 * prices.get(class),
        );
    }
    for (class, n) in &work.writes {
        once(
            format!("writes to {class}"),
            format!("{n} requests"),
            *n as f64 * prices.put(class),
        );
    }
    for (class, bytes) in &work.retrieved_bytes {
        let gb = *bytes as f64 / GB;
        once(
            format!("retrieval from {class}"),
            format!("{gb:.1} GB"),
            gb * prices.retrieval_per_gb.get(class).copied().unwrap_or(0.0),
        );
    }
    for (class, byte_days) in &work.early_deletion_byte_days {
        let gb_days = byte_days / GB;
        once(
            format!("early deletion from {class}"),
            format!("{gb_days:.1} GB-days"),
            gb_days / 30.0 * prices.storage(class),
        );
    }
    for (key, (requests, bytes)) in &work.restores {
        let (class, tier) = key.split_once('/').unwrap_or((key, "Standard"));
        let price = prices.restore.get(class).and_then(|tiers| tiers.get(tier));
        let gb = *bytes as f64 / GB;
        once(
            format!("restore {class} ({tier})"),
            format!("{requests} requests, {gb:.1} GB"),
            price.map_or(0.0, |p| {
                *requests as f64 / 1000.0 * p.per_1000 + gb * p.per_gb
            }),
        );
    }
    for (change, bytes) in &work.class_changes {
        let gb = *bytes as f64 / GB;
        let (from, to) = change.split_once(" -> ").unwrap_or((change, change));
        lines.push(CostLine {
            item: format!("storage {change}"),
            quantity: format!("{gb:.1} GB"),
            when: "per month",
            amount: gb * (prices.storage(to) - prices.storage(from)),
        });
    }
    for (class, bytes) in &work.noncurrent_bytes {
        let gb = *bytes as f64 / GB;
        lines.push(CostLine {
            item: format!(
                "noncurrent versions left in {class} (until a lifecycle rule expires them)"
            ),
            quantity: format!("{gb:.1} GB"),
            when: "per month",
            amount: gb * prices.storage(class),
        });
    }
    for (class, bytes) in &work.backup_bytes {
        let gb = *bytes as f64 / GB;
        lines.push(CostLine {
            item: format!("backup copies in {class}"),
            quantity: format!("{gb:.1} GB"),
            when: "per month",
            amount: gb * prices.storage(class),
        });
    }
    lines
}
