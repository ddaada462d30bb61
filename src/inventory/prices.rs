//! The price table cost estimates use: built-in list prices (US East, N. Virginia, in USD, as
//! published on the S3, S3 Batch Operations and Lambda pricing pages when this table was
//! written), which a user overrides with a YAML or JSON file of only the entries that differ
//! (`--prices FILE`): a region's prices, a negotiated rate, a measured Lambda duration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a price file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// Not YAML/JSON, or a field this table does not have.
    #[error(
        "price file {path}: {message}; write only the entries that differ, e.g. `storage_gb_month: {{STANDARD: 0.025}}` (`s3pp prices` prints the whole table)"
    )]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Retrieval of archived objects, per class and tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestorePrice {
    /// Per 1,000 restore requests.
    pub per_1000: f64,
    /// Per GB retrieved.
    pub per_gb: f64,
}

/// Every price the estimate uses. Storage classes are spelled as S3 spells them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// What the table is (printed with every estimate).
    pub source: String,
    /// Currency of every number.
    pub currency: String,
    /// Storage per GB-month.
    pub storage_gb_month: BTreeMap<String, f64>,
    /// PUT, COPY, POST (and tagging, multipart) requests per 1,000, by the class written.
    pub put_per_1000: BTreeMap<String, f64>,
    /// GET and HEAD requests per 1,000, by the object's class.
    pub get_per_1000: BTreeMap<String, f64>,
    /// Data retrieval per GB when an object is read (a copy's source) in this class.
    pub retrieval_per_gb: BTreeMap<String, f64>,
    /// Minimum storage duration in days: an object deleted or overwritten sooner is billed
    /// for the rest.
    pub minimum_days: BTreeMap<String, u32>,
    /// Restores by archive class, then tier (`Expedited`, `Standard`, `Bulk`).
    pub restore: BTreeMap<String, BTreeMap<String, RestorePrice>>,
    /// Per Batch Operations job.
    pub batch_operations_per_job: f64,
    /// Per million Batch Operations tasks (objects in the manifest).
    pub batch_operations_per_million_tasks: f64,
    /// Per million Lambda invocations.
    pub lambda_per_million_requests: f64,
    /// Per GB-second of Lambda duration (arm64, the template's default architecture).
    pub lambda_per_gb_second: f64,
    /// The function's memory setting, MB (the template's default).
    pub lambda_memory_mb: u32,
    /// Billed milliseconds per object (measure yours: the `Duration` metric's average).
    pub lambda_ms_per_object: f64,
}

/// The built-in table, as YAML (so `--print-prices` shows what a price file looks like).
pub const DEFAULT_PRICES: &str = r#"source: "built-in list prices, US East (N. Virginia), not checked against today's pricing pages; override with --prices FILE"
currency: USD
storage_gb_month:
  STANDARD: 0.023
  REDUCED_REDUNDANCY: 0.024
  STANDARD_IA: 0.0125
  ONEZONE_IA: 0.01
  INTELLIGENT_TIERING: 0.023
  GLACIER_IR: 0.004
  GLACIER: 0.0036
  DEEP_ARCHIVE: 0.00099
put_per_1000:
  STANDARD: 0.005
  REDUCED_REDUNDANCY: 0.005
  STANDARD_IA: 0.01
  ONEZONE_IA: 0.01
  INTELLIGENT_TIERING: 0.005
  GLACIER_IR: 0.02
  GLACIER: 0.03
  DEEP_ARCHIVE: 0.05
get_per_1000:
  STANDARD: 0.0004
  REDUCED_REDUNDANCY: 0.0004
  STANDARD_IA: 0.001
  ONEZONE_IA: 0.001
  INTELLIGENT_TIERING: 0.0004
  GLACIER_IR: 0.01
  GLACIER: 0.0004
  DEEP_ARCHIVE: 0.0004
retrieval_per_gb:
  STANDARD_IA: 0.01
  ONEZONE_IA: 0.01
  GLACIER_IR: 0.03
minimum_days:
  STANDARD_IA: 30
  ONEZONE_IA: 30
  GLACIER_IR: 90
  GLACIER: 90
  DEEP_ARCHIVE: 180
restore:
  GLACIER:
    Expedited: {per_1000: 10.0, per_gb: 0.03}
    Standard: {per_1000: 0.05, per_gb: 0.01}
    Bulk: {per_1000: 0.0, per_gb: 0.0}
  DEEP_ARCHIVE:
    Standard: {per_1000: 0.10, per_gb: 0.02}
    Bulk: {per_1000: 0.025, per_gb: 0.0025}
  INTELLIGENT_TIERING:
    Standard: {per_1000: 0.0, per_gb: 0.0}
    Bulk: {per_1000: 0.0, per_gb: 0.0}
    Expedited: {per_1000: 10.0, per_gb: 0.03}
batch_operations_per_job: 0.25
batch_operations_per_million_tasks: 1.0
lambda_per_million_requests: 0.20
lambda_per_gb_second: 0.0000133334
lambda_memory_mb: 512
lambda_ms_per_object: 60
"#;

impl Default for Prices {
    fn default() -> Self {
        // The built-in table is a constant checked by a test; it always parses.
        serde_yaml_ng::from_str(DEFAULT_PRICES).unwrap_or_else(|_| Self::empty())
    }
}

impl Prices {
    fn empty() -> Self {
        Self {
            source: "empty".into(),
            currency: "USD".into(),
            storage_gb_month: BTreeMap::new(),
            put_per_1000: BTreeMap::new(),
            get_per_1000: BTreeMap::new(),
            retrieval_per_gb: BTreeMap::new(),
            minimum_days: BTreeMap::new(),
            restore: BTreeMap::new(),
            batch_operations_per_job: 0.0,
            batch_operations_per_million_tasks: 0.0,
            lambda_per_million_requests: 0.0,
            lambda_per_gb_second: 0.0,
            lambda_memory_mb: 0,
            lambda_ms_per_object: 0.0,
        }
    }

    /// The built-in table with `overrides` (YAML or JSON text of `path`) merged over it: maps
    /// entry by entry, everything else replaced.
    pub fn with_overrides(overrides: &str, path: &str) -> Result<Self, PriceError> {
        let invalid = |message: String| PriceError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut table: serde_json::Value = serde_yaml_ng::from_str(DEFAULT_PRICES)
            .map_err(|e| invalid(format!("built-in table: {e}")))?;
        let changes: serde_json::Value =
            serde_yaml_ng::from_str(overrides).map_err(|e| invalid(e.to_string()))?;
        if !changes.is_object() {
            return Err(invalid("not a mapping of price entries".into()));
        }
        merge(&mut table, changes);
        serde_json::from_value(table).map_err(|e| invalid(e.to_string()))
    }

    /// Storage per GB-month in `class` (0 when the table has no price for it).
    pub fn storage(&self, class: &str) -> f64 {
        self.storage_gb_month.get(class).copied().unwrap_or(0.0)
    }

    /// One write request to `class`.
    pub fn put(&self, class: &str) -> f64 {
        self.put_per_1000.get(class).copied().unwrap_or(0.0) / 1000.0
    }

    /// One read request of an object in `class`.
    pub fn get(&self, class: &str) -> f64 {
        self.get_per_1000.get(class).copied().unwrap_or(0.0) / 1000.0
    }
}

/// Merges `changes` into `table`: objects key by key, anything else replaced.
fn merge(table: &mut serde_json::Value, changes: serde_json::Value) {
    match (table, changes) {
        (serde_json::Value::Object(table), serde_json::Value::Object(changes)) => {
            for (key, value) in changes {
                merge(table.entry(key).or_insert(serde_json::Value::Null), value);
            }
        }
        (slot, value) => *slot = value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses() {
        let prices: Prices = serde_yaml_ng::from_str(DEFAULT_PRICES).unwrap();
        assert_eq!(prices, Prices::default());
        assert_eq!(prices.storage("STANDARD"), 0.023);
        assert_eq!(prices.minimum_days["GLACIER_IR"], 90);
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let prices = Prices::with_overrides(
            "storage_gb_month: {STANDARD: 0.025}\nlambda_ms_per_object: 12\n",
            "p.yaml",
        )
        .unwrap();
        assert_eq!(prices.storage("STANDARD"), 0.025);
        assert_eq!(prices.storage("STANDARD_IA"), 0.0125);
        assert_eq!(prices.lambda_ms_per_object, 12.0);
    }

    #[test]
    fn a_misspelt_entry_is_refused_by_name() {
        let err = Prices::with_overrides("storage_per_gb: {STANDARD: 1}", "p.yaml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("p.yaml") && text.contains("storage_per_gb"),
            "{text}"
        );
    }
}
