//! How `s3pp inventory` prints its drift report: a table per rule, outcome and reasons, the
//! totals per outcome, the cost estimate and the rows that could not be read; or all of it as
//! JSON.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment};

use super::Format;
use super::output::table;

/// Seconds since the epoch as an ISO 8601 UTC time.
pub fn epoch_date(seconds: i64) -> String {
    aws_sdk_s3::primitives::DateTime::from_secs(seconds)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{seconds} s after the epoch"))
}

/// Bytes in the largest binary unit that keeps a number above 1 (`1.5 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `s3pp inventory`'s report: the drift per rule, outcome and reasons; totals per outcome; the
/// cost estimate; the rows that could not be read; then `notes` (what was written where).
pub fn write_inventory(
    out: &mut impl Write,
    run: &super::inventory::InventoryRun,
    notes: &[String],
    format: Format,
) -> io::Result<()> {
    if format == Format::Json {
        let value = serde_json::json!({
            "source_bucket": run.source_bucket,
            "taken": epoch_date(run.taken),
            "files": run.files,
            "manifest_rows": run.manifest_rows,
            "report": run.report,
            "notes": notes,
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        return writeln!(out);
    }
    let report = &run.report;
    writeln!(
        out,
        "inventory of s3://{} taken {}: {} files, {} objects, {}",
        run.source_bucket,
        epoch_date(run.taken),
        run.files,
        report.total.objects,
        human_bytes(report.total.bytes)
    )?;
    let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
    let mut drift = table(&["rule", "outcome", "reasons", "objects", "bytes"]);
    for group in &report.groups {
        let reasons: Vec<&str> = group.reasons.iter().map(|r| r.name()).collect();
        drift.add_row(vec![
            Cell::new(group.rule.as_deref().unwrap_or("-")),
            Cell::new(group.outcome.name()),
            Cell::new(if reasons.is_empty() {
                "-".to_owned()
            } else {
                reasons.join(", ")
            }),
            right(group.tally.objects.to_string()),
            right(human_bytes(group.tally.bytes)),
        ]);
    }
    writeln!(out, "{drift}")?;
    let mut outcomes = table(&["outcome", "objects", "bytes"]);
    for (outcome, tally) in &report.outcomes {
        outcomes.add_row(vec![
            Cell::new(outcome.name()),
            right(tally.objects.to_string()),
            right(human_bytes(tally.bytes)),
        ]);
    }
    outcomes.add_row(vec![
        Cell::new("to the function (needs_work + to_check)"),
        right(report.manifest.objects.to_string()),
        right(human_bytes(report.manifest.bytes)),
    ]);
    writeln!(out, "{outcomes}")?;
    if !report.costs.is_empty() {
        let mut costs = table(&["estimated cost", "quantity", "when", &report.currency]);
        let (mut once, mut monthly) = (0.0, 0.0);
        for line in &report.costs {
            if line.when == "once" {
                once += line.amount;
            } else {
                monthly += line.amount;
            }
            costs.add_row(vec![
                Cell::new(&line.item),
                Cell::new(&line.quantity),
                Cell::new(line.when),
                right(format!("{:.2}", line.amount)),
            ]);
        }
        costs.add_row(vec![
            Cell::new("total"),
            Cell::new(""),
            Cell::new("once"),
            right(format!("{once:.2}")),
        ]);
        costs.add_row(vec![
            Cell::new("total"),
            Cell::new(""),
            Cell::new("per month"),
            right(format!("{monthly:+.2}")),
        ]);
        writeln!(out, "{costs}")?;
        writeln!(
            out,
            "costs: an upper estimate (to-check objects counted as needing their unknown work), with {}",
            report.price_source
        )?;
    }
    if !report.bad_rows.is_empty() {
        let mut bad = table(&["file", "row", "cannot be read"]);
        for row in &report.bad_rows {
            bad.add_row(vec![
                Cell::new(&row.file),
                right(row.row.to_string()),
                Cell::new(&row.message),
            ]);
        }
        writeln!(out, "{bad}")?;
    }
    for note in notes {
        writeln!(out, "{note}")?;
    }
    Ok(())
}
