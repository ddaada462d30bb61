//! S3 Batch Operations completion reports (format `Report_CSV_20180820`), read back in the
//! function's own terms: each row is `Bucket, Key, VersionId, TaskStatus, ErrorCode,
//! HTTPStatusCode, ResultMessage` (S3 User Guide, "Examples: S3 Batch Operations completion
//! reports"); the result message of a task the function answered is its own result string,
//! `bucket/key: Outcome[: code: error | : actions]`, so the summary counts outcomes and S3
//! error codes, not only succeeded / failed. A job's `manifest.json` lists the result files
//! with their MD5, which is checked.

use std::collections::BTreeMap;
use std::io::Read;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// Why a report cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A row is not CSV, or has too few fields.
    #[error(
        "row {row}: {message}; expected Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage (Report_CSV_20180820)"
    )]
    Row {
        /// 1-based row number.
        row: u64,
        /// What is wrong.
        message: String,
    },
    /// The job's manifest.json is not one.
    #[error("not a Batch Operations report manifest.json: {0}")]
    Manifest(String),
    /// A result file is not the one the manifest describes.
    #[error(
        "result file {key}: MD5 {actual}, but manifest.json says {expected}; the file is incomplete or not this job's"
    )]
    Checksum {
        /// The result file's key.
        key: String,
        /// What manifest.json states.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
}

/// One task of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Bucket.
    pub bucket: String,
    /// The key exactly as the report (and the manifest) wrote it: URL-encoded.
    pub encoded_key: String,
    /// Version id, when the manifest had one.
    pub version_id: Option<String>,
    /// `succeeded` or `failed`.
    pub status: String,
    /// `Succeeded`, `TemporaryFailure` or `PermanentFailure` (whichever code column holds it).
    pub result_code: String,
    /// The function's outcome for the object (`Applied`, `Compliant`, `Failed`, …), when the
    /// message is the function's result string.
    pub outcome: Option<String>,
    /// The S3 (or the function's) error code of a failed object.
    pub error_code: Option<String>,
    /// The result message as reported.
    pub message: String,
}

/// One result file of a job's report, as manifest.json lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ResultFile {
    /// `succeeded` or `failed`.
    pub task_execution_status: String,
    /// Bucket of the result file.
    pub bucket: String,
    /// Key of the result file.
    pub key: String,
    /// Its MD5, hex.
    #[serde(rename = "MD5Checksum")]
    pub md5_checksum: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReportManifest {
    format: String,
    results: Vec<ResultFile>,
}

/// The result files a job's `manifest.json` lists.
pub fn result_files(manifest_json: &[u8]) -> Result<Vec<ResultFile>, ReportError> {
    let manifest: ReportManifest =
        serde_json::from_slice(manifest_json).map_err(|e| ReportError::Manifest(e.to_string()))?;
    if manifest.format != "Report_CSV_20180820" {
        return Err(ReportError::Manifest(format!(
            "format {:?}; only Report_CSV_20180820 is read",
            manifest.format
        )));
    }
    Ok(manifest.results)
}

/// Checks a result file's bytes against the MD5 manifest.json states.
pub fn verify(file: &ResultFile, bytes: &[u8]) -> Result<(), ReportError> {
    check_md5(file, &md5_hex(Md5::digest(bytes).as_slice()))
}

/// Checks a result file's MD5 (hex, computed as it was read) against manifest.json's.
pub fn check_md5(file: &ResultFile, actual: &str) -> Result<(), ReportError> {
    if actual.eq_ignore_ascii_case(&file.md5_checksum) {
        Ok(())
    } else {
        Err(ReportError::Checksum {
            key: file.key.clone(),
            expected: file.md5_checksum.clone(),
            actual: actual.to_owned(),
        })
    }
}

/// A digest as lowercase hex.
pub fn md5_hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads every task of one result file (CSV without a header), row by row.
pub fn tasks(reader: impl Read) -> impl Iterator<Item = Result<Task, ReportError>> {
    let rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader)
        .into_records();
    rows.enumerate().map(|(index, row)| {
        let number = index as u64 + 1;
        let row = row.map_err(|e| ReportError::Row {
            row: number,
            message: e.to_string(),
        })?;
        task(&row).ok_or_else(|| ReportError::Row {
            row: number,
            message: format!("{} fields", row.len()),
        })
    })
}

fn task(row: &csv::StringRecord) -> Option<Task> {
    if row.len() < 7 {
        return None;
    }
    let field = |i: usize| row.get(i).unwrap_or_default().to_owned();
    // AWS's own examples put the result code in either of the two code columns.
    let result_code = [field(4), field(5)]
        .into_iter()
        .find(|c| {
            matches!(
                c.as_str(),
                "Succeeded" | "TemporaryFailure" | "PermanentFailure"
            )
        })
        .unwrap_or_else(|| {
            if field(3) == "succeeded" {
                "Succeeded".to_owned()
            } else {
                "PermanentFailure".to_owned()
            }
        });
    let (bucket, encoded_key, message) = (field(0), field(1), field(6));
    // The function decodes a task's key like an event key (`+` is a space), and tries the key
    // as sent when that object does not exist; its result string names the key it used.
    let candidates = [
        crate::keys::decode_event_key(&encoded_key).ok(),
        Some(
            percent_encoding::percent_decode_str(&encoded_key)
                .decode_utf8_lossy()
                .into_owned(),
        ),
        Some(encoded_key.clone()),
    ];
    let (outcome, error_code) = candidates
        .iter()
        .flatten()
        .map(|key| function_result(&bucket, key, &message))
        .find(|(outcome, _)| outcome.is_some())
        .unwrap_or((None, None));
    Some(Task {
        bucket,
        encoded_key,
        version_id: Some(field(2)).filter(|v| !v.is_empty()),
        status: field(3),
        result_code,
        outcome,
        error_code,
        message,
    })
}

/// The outcome and error code in the function's result string `bucket/key: Outcome[: …]`.
fn function_result(bucket: &str, key: &str, message: &str) -> (Option<String>, Option<String>) {
    let Some(rest) = message.strip_prefix(&format!("{bucket}/{key}: ")) else {
        return (None, None);
    };
    let mut parts = rest.splitn(3, ": ");
    let outcome = parts.next().unwrap_or_default().trim();
    let known = [
        "Applied",
        "Compliant",
        "Planned",
        "NoRule",
        "Gone",
        "Stale",
        "Skipped",
        "Failed",
    ];
    let outcome = outcome
        .split(' ')
        .next()
        .filter(|o| known.contains(o))
        .map(str::to_owned);
    let error_code = match outcome.as_deref() {
        Some("Failed") => parts.next().map(str::to_owned),
        _ => None,
    };
    (outcome, error_code)
}

/// Counts of a whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Tasks read.
    pub tasks: u64,
    /// Tasks per Batch Operations result code.
    pub result_codes: BTreeMap<String, u64>,
    /// Tasks per function outcome (`other` when the message is not the function's answer,
    /// such as a Lambda error).
    pub outcomes: BTreeMap<String, u64>,
    /// Failed tasks per `result code / error code`.
    pub failures: BTreeMap<String, u64>,
}

impl Summary {
    /// Counts one task.
    pub fn add(&mut self, task: &Task) {
        self.tasks += 1;
        *self
            .result_codes
            .entry(task.result_code.clone())
            .or_default() += 1;
        let outcome = task.outcome.clone().unwrap_or_else(|| "other".to_owned());
        *self.outcomes.entry(outcome).or_default() += 1;
        if task.result_code != "Succeeded" {
            let code = task.error_code.as_deref().unwrap_or("-");
            *self
                .failures
                .entry(format!("{} / {code}", task.result_code))
                .or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as the function's answers make them, plus AWS's own example of a Lambda timeout.
    const REPORT: &str = concat!(
        "src,a%20b/c%2Bd%20%C3%BC.txt,,succeeded,200,Succeeded,src/a b/c+d ü.txt: Applied: backup,rewrite\n",
        "src,ok.txt,3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY,succeeded,200,Succeeded,src/ok.txt: Compliant\n",
        "src,denied.txt,,failed,200,PermanentFailure,\"src/denied.txt: Failed: AccessDenied: access denied, \"\"by policy\"\"\"\n",
        "src,slow.bin,,failed,200,TemporaryFailure,src/slow.bin: Failed: DeadlineNear: stopped before the Lambda deadline\n",
        "src,two+words.txt,,succeeded,200,Succeeded,src/two words.txt: Compliant\n",
        "awsexamplebucket1,image_14975,,failed,200,PermanentFailure,\"Lambda returned function error: {\"\"errorMessage\"\":\"\"Task timed out after 3.00 seconds\"\"}\"\n",
    );

    #[test]
    fn rows_read_back_into_the_functions_outcomes_and_codes() {
        let tasks: Vec<Task> = tasks(REPORT.as_bytes()).collect::<Result<_, _>>().unwrap();
        assert_eq!(tasks.len(), 6);
        assert_eq!(
            tasks[4].outcome.as_deref(),
            Some("Compliant"),
            "a key decoded as the function decodes it"
        );
        assert_eq!(tasks[0].encoded_key, "a%20b/c%2Bd%20%C3%BC.txt");
        assert_eq!(tasks[0].outcome.as_deref(), Some("Applied"));
        assert_eq!(
            tasks[1].version_id.as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
        );
        assert_eq!(tasks[2].error_code.as_deref(), Some("AccessDenied"));
        assert!(tasks[2].message.contains("\"by policy\""));
        assert_eq!(tasks[3].result_code, "TemporaryFailure");
        assert_eq!(
            tasks[5].outcome, None,
            "a Lambda error is not the function's answer"
        );
        let mut summary = Summary::default();
        tasks.iter().for_each(|t| summary.add(t));
        assert_eq!(summary.tasks, 6);
        assert_eq!(summary.result_codes["Succeeded"], 3);
        assert_eq!(summary.outcomes["other"], 1);
        assert_eq!(summary.failures["PermanentFailure / AccessDenied"], 1);
        assert_eq!(summary.failures["TemporaryFailure / DeadlineNear"], 1);
        assert_eq!(summary.failures["PermanentFailure / -"], 1);
    }

    #[test]
    fn a_short_row_is_named() {
        let err = tasks("src,k,,failed\n".as_bytes())
            .next()
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().starts_with("row 1: 4 fields"), "{err}");
    }

    /// manifest.json as AWS documents it; result files are checked against their MD5.
    #[test]
    fn the_manifest_lists_result_files_whose_md5_is_checked() {
        let body = b"src,ok.txt,,succeeded,200,Succeeded,src/ok.txt: Compliant\n";
        let md5 = md5_hex(Md5::digest(body).as_slice());
        let manifest = format!(
            r#"{{"Format":"Report_CSV_20180820","ReportCreationDate":"2019-04-05T17:48:39.725Z",
            "Results":[{{"TaskExecutionStatus":"succeeded","Bucket":"reports","MD5Checksum":"{md5}",
            "Key":"job-1/results/a.csv"}}],"ReportSchema":"Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}}"#
        );
        let files = result_files(manifest.as_bytes()).unwrap();
        assert_eq!(files[0].key, "job-1/results/a.csv");
        verify(&files[0], body).unwrap();
        let err = verify(&files[0], b"truncated").unwrap_err();
        assert!(err.to_string().contains("incomplete"), "{err}");
        assert!(result_files(br#"{"Format":"Other","Results":[]}"#).is_err());
    }
}
