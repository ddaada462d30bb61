//! How `s3pp` prints results: tables for people, the function's JSON report for programs, CSV
//! for spreadsheets.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::Format;
use super::scan::ScanTotals;
use crate::plan::Action;
use crate::reconcile::{ObjectReport, Outcome};

/// A table with our style and this header.
pub(super) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    table
}

/// `backup, rewrite` (or the error, or the notes): what happened to one object, in a cell.
fn what(report: &ObjectReport) -> String {
    if let Some(error) = &report.error {
        return format!(
            "{}: {error}",
            report.error_code.as_deref().unwrap_or("Error")
        );
    }
    let mut parts: Vec<String> = report.actions.iter().map(describe).collect();
    parts.extend(report.notes.iter().cloned());
    parts.join("; ")
}

/// One action in words: `backup → s3://b/k (GLACIER_IR)`.
fn describe(action: &Action) -> String {
    match action {
        Action::Backup {
            destination,
            storage_class,
            ..
        } => format!("backup → {destination} ({storage_class})"),
        Action::Rewrite {
            storage_class,
            encryption,
            tags,
        } => {
            let mut text = format!("rewrite as {storage_class}");
            if let Some(encryption) = encryption {
                let json = serde_json::to_value(encryption).unwrap_or_default();
                text.push_str(&format!(", {}", json["algorithm"].as_str().unwrap_or("")));
            }
            if tags.is_some() {
                text.push_str(", tags");
            }
            text
        }
        Action::PutTags { tags } => format!("put_tags ({} tags)", tags.len()),
        other => other.name().to_owned(),
    }
}

/// The most objects a scan's table lists; the rest are counted (`--format csv` lists all).
pub const TABLE_ROWS: usize = 1000;

/// A scan's output, written as the reports come, so memory stays flat: JSON (the function's
/// report shape: `dry_run`, `objects` in completion order, then `summary`), one CSV row per
/// object, or a table of the objects that need (or got) something — at most [`TABLE_ROWS`] —
/// and a summary.
pub struct ScanOutput<W: Write> {
    out: W,
    format: Format,
    dry_run: bool,
    written: usize,
    rows: Vec<[String; 4]>,
    more_rows: usize,
}

impl<W: Write> ScanOutput<W> {
    /// Starts the output (JSON's opening, CSV's header).
    pub fn start(mut out: W, format: Format, dry_run: bool) -> io::Result<Self> {
        match format {
            Format::Json => write!(out, "{{\"dry_run\":{dry_run},\"objects\":[")?,
            Format::Csv => write_csv_header(&mut out)?,
            Format::Table => {}
        }
        Ok(Self {
            out,
            format,
            dry_run,
            written: 0,
            rows: Vec::new(),
            more_rows: 0,
        })
    }

    /// One object's report.
    pub fn object(&mut self, report: &ObjectReport) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let separator = if self.written == 0 { "\n" } else { ",\n" };
                write!(self.out, "{separator}")?;
                serde_json::to_writer(&mut self.out, report)?;
            }
            Format::Csv => write_csv_row(&mut self.out, report)?,
            Format::Table => {
                let notable = !matches!(report.outcome, Outcome::Compliant | Outcome::NoRule)
                    || !report.notes.is_empty();
                if notable && self.rows.len() < TABLE_ROWS {
                    self.rows.push([
                        report.key.clone(),
                        report.rule.clone().unwrap_or_else(|| "-".into()),
                        outcome_name(report.outcome).to_owned(),
                        what(report),
                    ]);
                } else if notable {
                    self.more_rows += 1;
                }
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Ends the output with the totals (and, for a table, the rows kept).
    pub fn finish(mut self, totals: &ScanTotals) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let summary = serde_json::to_string(&totals.summary)?;
                writeln!(
                    self.out,
                    "\n],\"summary\":{summary},\"interrupted\":{}}}",
                    totals.interrupted
                )?;
            }
            Format::Csv => {}
            Format::Table => {
                self.rows.sort();
                if !self.rows.is_empty() {
                    let mut objects = table(&["key", "rule", "outcome", "actions / notes"]);
                    for row in &self.rows {
                        objects.add_row(row.iter().map(Cell::new).collect::<Vec<_>>());
                    }
                    writeln!(self.out, "{objects}")?;
                }
                if self.more_rows > 0 {
                    writeln!(
                        self.out,
                        "… and {} more objects that need something (--format csv lists every object)",
                        self.more_rows
                    )?;
                }
                let mut summary = table(&["outcome", "objects"]);
                for (outcome, count) in &totals.summary {
                    summary.add_row(vec![
                        Cell::new(outcome_name(*outcome)),
                        Cell::new(count).set_alignment(CellAlignment::Right),
                    ]);
                }
                summary.add_row(vec![
                    Cell::new("total"),
                    Cell::new(totals.objects).set_alignment(CellAlignment::Right),
                ]);
                writeln!(self.out, "{summary}")?;
                if self.dry_run {
                    writeln!(
                        self.out,
                        "dry run: nothing was written (add --apply to apply)"
                    )?;
                }
            }
        }
        if totals.interrupted {
            eprintln!(
                "interrupted: {} objects were reconciled (those in flight finished); the rest were not started",
                totals.objects
            );
        }
        self.out.flush()
    }
}

/// Prints what a Batch Operations completion report says.
pub fn write_batch_report(
    out: &mut impl Write,
    report: &super::batch_report::ReadReport,
    format: Format,
) -> io::Result<()> {
    if format == Format::Json {
        let value = serde_json::json!({
            "files": report.files,
            "summary": report.summary,
            "first_failures": report.failures,
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        return writeln!(out);
    }
    let counts = |title: &str, map: &std::collections::BTreeMap<String, u64>| {
        let mut t = table(&[title, "tasks"]);
        for (name, n) in map {
            t.add_row(vec![
                Cell::new(name),
                Cell::new(n).set_alignment(CellAlignment::Right),
            ]);
        }
        t
    };
    writeln!(
        out,
        "{}",
        counts("result code", &report.summary.result_codes)
    )?;
    writeln!(out, "{}", counts("outcome", &report.summary.outcomes))?;
    if !report.summary.failures.is_empty() {
        writeln!(
            out,
            "{}",
            counts("failed: result / error code", &report.summary.failures)
        )?;
        let mut failures = table(&["bucket", "key", "result", "message"]);
        for task in &report.failures {
            failures.add_row(vec![
                task.bucket.clone(),
                task.encoded_key.clone(),
                task.result_code.clone(),
                task.message.chars().take(200).collect(),
            ]);
        }
        writeln!(out, "{failures}")?;
    }
    writeln!(
        out,
        "{} tasks in {} result file(s)",
        report.summary.tasks, report.files
    )
}

/// Prints one object's plan in `format`.
pub fn write_plan(out: &mut impl Write, report: &ObjectReport, format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Csv => {
            write_csv_header(out)?;
            write_csv_row(out, report)
        }
        Format::Table => {
            let mut table = table(&["field", "value"]);
            table.add_row(vec![
                "object".to_owned(),
                format!("s3://{}/{}", report.bucket, report.key),
            ]);
            table.add_row(vec![
                "rule".to_owned(),
                report.rule.clone().unwrap_or_else(|| "-".into()),
            ]);
            table.add_row(vec![
                "outcome".to_owned(),
                outcome_name(report.outcome).to_owned(),
            ]);
            for action in &report.actions {
                table.add_row(vec!["action".to_owned(), describe(action)]);
            }
            for note in &report.notes {
                table.add_row(vec!["note".to_owned(), note.clone()]);
            }
            if let Some(error) = &report.error {
                table.add_row(vec![
                    report.error_code.clone().unwrap_or_else(|| "error".into()),
                    error.clone(),
                ]);
            }
            writeln!(out, "{table}")
        }
    }
}

/// The CSV header: `bucket,key,version_id,rule,outcome,actions,error_code,error`
/// (`version_id` is empty for current versions; `scan --versions` lists noncurrent ones too).
fn write_csv_header(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "bucket,key,version_id,rule,outcome,actions,error_code,error"
    )
}

/// One object as a CSV row.
fn write_csv_row(out: &mut impl Write, object: &ObjectReport) -> io::Result<()> {
    let actions: Vec<&str> = object.actions.iter().map(Action::name).collect();
    let fields = [
        object.bucket.as_str(),
        object.key.as_str(),
        object.version_id.as_deref().unwrap_or(""),
        object.rule.as_deref().unwrap_or(""),
        outcome_name(object.outcome),
        &actions.join(" "),
        object.error_code.as_deref().unwrap_or(""),
        object.error.as_deref().unwrap_or(""),
    ];
    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", row.join(","))
}

/// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The outcome as the JSON report spells it.
fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "applied",
        Outcome::Compliant => "compliant",
        Outcome::Planned => "planned",
        Outcome::NoRule => "no_rule",
        Outcome::Gone => "gone",
        Outcome::Stale => "stale",
        Outcome::Skipped => "skipped",
        Outcome::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a b"), "a b");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
