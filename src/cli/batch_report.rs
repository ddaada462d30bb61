//! `s3pp batch-report`: reads a Batch Operations job's completion report back (its
//! `manifest.json`, which lists the result files and their MD5, or one result file; local or
//! `s3://`) into the function's terms — tasks per result code, per outcome, failures per S3
//! error code — and, with `--failed-manifest`, writes a manifest of the failed tasks to run
//! again. Rows are read one at a time; an `s3://` file is streamed to a temporary file while its
//! MD5 is computed, so memory does not grow with the report.

use std::io::{BufReader, Write};

use super::CliError;
pub use super::fetched::Source;
use super::fetched::{fetch, open, read_all};
use crate::batch_report::{ResultFile, Summary, Task, check_md5, result_files, tasks};

/// Failed tasks shown in the table (all go to `--failed-manifest`).
pub const SHOWN_FAILURES: usize = 20;

/// What reading a report found.
#[derive(Debug, Default)]
pub struct ReadReport {
    /// The counts.
    pub summary: Summary,
    /// The first failed tasks ([`SHOWN_FAILURES`]).
    pub failures: Vec<Task>,
    /// Result files read.
    pub files: usize,
}

/// Reads the report at `source`; failed tasks also go, as manifest rows, to `failed_manifest`.
pub async fn read(
    source: &Source,
    s3: Option<&aws_sdk_s3::Client>,
    mut failed_manifest: Option<&mut dyn Write>,
) -> Result<ReadReport, CliError> {
    let mut found = ReadReport::default();
    let files: Vec<(Source, Option<ResultFile>)> = if source.file_name() == "manifest.json" {
        let manifest = fetch(source, s3).await?;
        result_files(&read_all(&manifest, source)?)
            .map_err(CliError::Report)?
            .into_iter()
            .map(|file| {
                (
                    source.sibling(&file.bucket, &file.key, "results"),
                    Some(file),
                )
            })
            .collect()
    } else {
        vec![(source.clone(), None)]
    };
    for (location, listed) in files {
        let fetched = fetch(&location, s3).await?;
        if let Some(listed) = &listed {
            check_md5(listed, &fetched.md5).map_err(CliError::Report)?;
        }
        let file = open(&fetched, &location)?;
        for task in tasks(BufReader::new(file)) {
            let task = task.map_err(CliError::Report)?;
            found.summary.add(&task);
            if task.result_code != "Succeeded" {
                if let Some(out) = failed_manifest.as_mut() {
                    let version = task
                        .version_id
                        .as_deref()
                        .map(|v| format!(",{v}"))
                        .unwrap_or_default();
                    writeln!(out, "{},{}{version}", task.bucket, task.encoded_key)?;
                }
                if found.failures.len() < SHOWN_FAILURES {
                    found.failures.push(task);
                }
            }
        }
        found.files += 1;
    }
    if let Some(out) = failed_manifest {
        out.flush()?;
    }
    Ok(found)
}
