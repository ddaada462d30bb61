//! `s3pp scan --journal FILE`: one JSON line per object the scan changed, tried to change
//! and failed on, or (in a dry run) would change — written and flushed the moment the object
//! is done, so an interrupted `--apply` leaves an exact record of what it changed. Appends:
//! the journals of several runs accumulate in one file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::CliError;
use crate::reconcile::{ObjectReport, Outcome};

/// The journal file.
pub struct Journal {
    path: PathBuf,
    file: BufWriter<File>,
    dry_run: bool,
}

/// One line: when, whether anything was written, and the object's report.
#[derive(Serialize)]
struct Line<'a> {
    at_ms: u64,
    dry_run: bool,
    #[serde(flatten)]
    report: &'a ObjectReport,
}

impl Journal {
    /// Opens (creating or appending to) the journal at `path`.
    pub fn open(path: &Path, dry_run: bool) -> Result<Self, CliError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| CliError::Journal {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            file: BufWriter::new(file),
            dry_run,
        })
    }

    /// Records `report` if the object was (or would be) written to, or failed.
    pub fn record(&mut self, report: &ObjectReport) -> Result<(), CliError> {
        if report.actions.is_empty() && report.outcome != Outcome::Failed {
            return Ok(());
        }
        let line = Line {
            at_ms: crate::metrics::now_ms(),
            dry_run: self.dry_run,
            report,
        };
        let written = serde_json::to_writer(&mut self.file, &line)
            .map_err(io::Error::from)
            .and_then(|()| self.file.write_all(b"\n"))
            .and_then(|()| self.file.flush());
        written.map_err(|source| CliError::Journal {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectLocation;
    use crate::plan::Action;

    #[test]
    fn only_objects_written_or_failed_are_recorded_and_each_line_is_flushed() {
        let path = std::env::temp_dir().join(format!("s3pp-journal-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut journal = Journal::open(&path, false).expect("open");
        let compliant =
            ObjectReport::new(&ObjectLocation::current("b", "same"), Outcome::Compliant);
        let mut applied =
            ObjectReport::new(&ObjectLocation::current("b", "a b+ü"), Outcome::Applied);
        applied.actions.push(Action::PutTags {
            tags: Default::default(),
        });
        let mut failed = ObjectReport::new(&ObjectLocation::current("b", "bad"), Outcome::Failed);
        failed.error_code = Some("AccessDenied".into());
        for report in [&compliant, &applied, &failed] {
            journal.record(report).expect("record");
        }
        // Read while the journal is still open: every line is already on disk.
        let text = std::fs::read_to_string(&path).expect("journal");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["key"], "a b+ü");
        assert_eq!(lines[0]["outcome"], "applied");
        assert_eq!(lines[0]["dry_run"], false);
        assert_eq!(lines[1]["error_code"], "AccessDenied");
        drop(journal);
        let mut again = Journal::open(&path, true).expect("reopen");
        again.record(&applied).expect("record");
        let text = std::fs::read_to_string(&path).expect("journal");
        assert_eq!(text.lines().count(), 3, "appended, not replaced");
        let _ = std::fs::remove_file(&path);
    }
}
