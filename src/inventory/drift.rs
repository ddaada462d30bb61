//! The drift report: objects and bytes per rule, outcome and reasons, the same per outcome, the
//! rows that could not be read, and the work (and so the cost) of the objects that go to the
//! function. Counted as rows stream past; only one entry per distinct (rule, outcome, reasons)
//! is kept, so memory does not grow with the number of rows.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::cost::{CostLine, Facts, Work, estimate};
use super::prices::Prices;
use super::verdict::{Outcome, Reason, ReasonSet, Verdict};
use crate::apply::copy::CopySettings;

/// Rows that could not be read, kept to show (all are counted).
pub const SHOWN_BAD_ROWS: usize = 20;

/// Objects and bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Objects (rows).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The rule (`None`: no rule, or not judged).
    pub rule: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reasons: Vec<Reason>,
    /// How many, how big.
    #[serde(flatten)]
    pub tally: Tally,
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRowNote {
    /// The file.
    pub file: String,
    /// 1-based row number.
    pub row: u64,
    /// What is wrong.
    pub message: String,
}

/// Counts verdicts as they come.
#[derive(Debug)]
pub struct DriftCounter<'p> {
    groups: HashMap<(Option<&'p str>, Outcome, ReasonSet), Tally, foldhash::fast::RandomState>,
    outcomes: BTreeMap<Outcome, Tally>,
    bad_rows: Vec<BadRowNote>,
    work: Work,
    as_of: i64,
    prices: &'p Prices,
    copy: &'p CopySettings,
}

impl<'p> DriftCounter<'p> {
    /// A counter for an inventory taken at `as_of`, priced with `prices`.
    pub fn new(as_of: i64, prices: &'p Prices, copy: &'p CopySettings) -> Self {
        Self {
            groups: HashMap::default(),
            outcomes: BTreeMap::new(),
            bad_rows: Vec::new(),
            work: Work::default(),
            as_of,
            prices,
            copy,
        }
    }

    /// Counts one judged object.
    pub fn add(&mut self, verdict: &Verdict<'p>, facts: Facts<'_>) {
        self.work
            .add(verdict, facts, self.as_of, self.prices, self.copy);
        self.outcomes
            .entry(verdict.outcome)
            .or_default()
            .add(facts.size);
        self.groups
            .entry((verdict.rule, verdict.outcome, verdict.reasons))
            .or_default()
            .add(facts.size);
    }

    /// Counts a row that could not be read.
    pub fn bad_row(&mut self, file: &str, row: u64, message: String) {
        self.outcomes.entry(Outcome::Unreadable).or_default().add(0);
        self.groups
            .entry((None, Outcome::Unreadable, ReasonSet::of([Reason::BadRow])))
            .or_default()
            .add(0);
        if self.bad_rows.len() < SHOWN_BAD_ROWS {
            self.bad_rows.push(BadRowNote {
                file: file.to_owned(),
                row,
                message,
            });
        }
    }

    /// The report.
    pub fn finish(self) -> DriftReport {
        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .map(|((rule, outcome, reasons), tally)| Group {
                rule: rule.map(str::to_owned),
                outcome,
                reasons: reasons.iter().collect(),
                tally,
            })
            .collect();
        groups.sort_by(|a, b| {
            (&a.rule, a.outcome, &a.reasons).cmp(&(&b.rule, b.outcome, &b.reasons))
        });
        let total = self
            .outcomes
            .values()
            .fold(Tally::default(), |sum, t| Tally {
                objects: sum.objects + t.objects,
                bytes: sum.bytes + t.bytes,
            });
        let manifest = self
            .outcomes
            .iter()
            .filter(|(outcome, _)| outcome.needs_invocation())
            .fold(Tally::default(), |sum, (_, t)| Tally {
                objects: sum.objects + t.objects,
                bytes: sum.bytes + t.bytes,
            });
        let costs = estimate(&self.work, self.prices);
        DriftReport {
            total,
            manifest,
            outcomes: self.outcomes,
            groups,
            bad_rows: self.bad_rows,
            price_source: self.prices.source.clone(),
            currency: self.prices.currency.clone(),
            work: self.work,
            costs,
        }
    }
}

/// The finished report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// Every row.
    pub total: Tally,
    /// The objects that go to the function (needs work or to check).
    pub manifest: Tally,
    /// Per outcome.
    pub outcomes: BTreeMap<Outcome, Tally>,
    /// Per rule, outcome and reasons.
    pub groups: Vec<Group>,
    /// The first rows that could not be read.
    pub bad_rows: Vec<BadRowNote>,
    /// Which price table the costs use.
    pub price_source: String,
    /// Its currency.
    pub currency: String,
    /// The work counted.
    pub work: Work,
    /// The estimate.
    pub costs: Vec<CostLine>,
}
