//! How `s3pp` prints results: tables for people, the function's JSON report for programs, CSV
//! for spreadsheets.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::Format;
use crate::handler::InvocationReport;
use crate::plan::Action;
use crate::reconcile::{ObjectReport, Outcome};

fn table(header: &[&str]) -> Table {
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

/// Prints a scan's report in `format`.
pub fn write_scan(
    out: &mut impl Write,
    report: &InvocationReport,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Csv => write_csv(out, &report.objects),
        Format::Table => {
            let mut objects = table(&["key", "rule", "outcome", "actions / notes"]);
            let mut shown = 0;
            for object in &report.objects {
                if matches!(object.outcome, Outcome::Compliant | Outcome::NoRule)
                    && object.notes.is_empty()
                {
                    continue;
                }
                shown += 1;
                objects.add_row(vec![
                    Cell::new(&object.key),
                    Cell::new(object.rule.as_deref().unwrap_or("-")),
                    Cell::new(outcome_name(object.outcome)),
                    Cell::new(what(object)),
                ]);
            }
            if shown > 0 {
                writeln!(out, "{objects}")?;
            }
            let mut summary = table(&["outcome", "objects"]);
            for (outcome, count) in &report.summary {
                summary.add_row(vec![
                    Cell::new(outcome_name(*outcome)),
                    Cell::new(count).set_alignment(CellAlignment::Right),
                ]);
            }
            summary.add_row(vec![
                Cell::new("total"),
                Cell::new(report.objects.len()).set_alignment(CellAlignment::Right),
            ]);
            writeln!(out, "{summary}")?;
            if report.dry_run {
                writeln!(out, "dry run: nothing was written (add --apply to apply)")?;
            }
            Ok(())
        }
    }
}

/// Prints one object's plan in `format`.
pub fn write_plan(out: &mut impl Write, report: &ObjectReport, format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Csv => write_csv(out, std::slice::from_ref(report)),
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

/// One row per object: `bucket,key,rule,outcome,actions,error_code,error`.
fn write_csv(out: &mut impl Write, objects: &[ObjectReport]) -> io::Result<()> {
    writeln!(out, "bucket,key,rule,outcome,actions,error_code,error")?;
    for object in objects {
        let actions: Vec<&str> = object.actions.iter().map(Action::name).collect();
        let fields = [
            object.bucket.as_str(),
            object.key.as_str(),
            object.rule.as_deref().unwrap_or(""),
            outcome_name(object.outcome),
            &actions.join(" "),
            object.error_code.as_deref().unwrap_or(""),
            object.error.as_deref().unwrap_or(""),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
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
