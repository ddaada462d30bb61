//! `s3pp batch-report`: reads a Batch Operations job's completion report back (its
//! `manifest.json`, which lists the result files and their MD5, or one result file; local or
//! `s3://`) into the function's terms — tasks per result code, per outcome, failures per S3
//! error code — and, with `--failed-manifest`, writes a manifest of the failed tasks to run
//! again. Rows are read one at a time; an `s3://` file is streamed to a temporary file while its
//! MD5 is computed, so memory does not grow with the report.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::CliError;
use crate::batch_report::{ResultFile, Summary, Task, check_md5, md5_hex, result_files, tasks};

/// Failed tasks shown in the table (all go to `--failed-manifest`).
pub const SHOWN_FAILURES: usize = 20;

/// Where the report is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local `manifest.json` or result file.
    Local(PathBuf),
    /// An `s3://bucket/key` of either.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl Source {
    /// `s3://bucket/key` or a path.
    pub fn parse(text: &str) -> Result<Self, CliError> {
        match text.strip_prefix("s3://") {
            Some(rest) => match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(CliError::Usage(format!(
                    "{text:?} names no object; write s3://bucket/key of the report's manifest.json or a result file"
                ))),
            },
            None => Ok(Self::Local(PathBuf::from(text))),
        }
    }

    fn is_manifest(&self) -> bool {
        let name = match self {
            Self::Local(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
            Self::S3 { key, .. } => key.rsplit('/').next().unwrap_or(""),
        };
        name == "manifest.json"
    }
}

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
    let files: Vec<(Source, Option<ResultFile>)> = if source.is_manifest() {
        let manifest = fetch(source, s3).await?;
        let mut bytes = Vec::new();
        File::open(&manifest.path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| report_io(source, e))?;
        result_files(&bytes)
            .map_err(CliError::Report)?
            .into_iter()
            .map(|file| (result_location(source, &file), Some(file)))
            .collect()
    } else {
        vec![(source.clone(), None)]
    };
    for (location, listed) in files {
        let fetched = fetch(&location, s3).await?;
        if let Some(listed) = &listed {
            check_md5(listed, &fetched.md5).map_err(CliError::Report)?;
        }
        let file = File::open(&fetched.path).map_err(|e| report_io(&location, e))?;
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

/// A result file manifest.json lists, next to it: in the same bucket as written, or in the
/// local copy of the job's folder (`<manifest's folder>/results/<file>`).
fn result_location(manifest: &Source, file: &ResultFile) -> Source {
    match manifest {
        Source::S3 { .. } => Source::S3 {
            bucket: file.bucket.clone(),
            key: file.key.clone(),
        },
        Source::Local(path) => {
            let name = file.key.rsplit('/').next().unwrap_or(&file.key);
            let folder = path.parent().unwrap_or(Path::new("."));
            Source::Local(folder.join("results").join(name))
        }
    }
}

/// A file on local disk (the file itself, or a temporary copy of an S3 object) and its MD5.
struct Fetched {
    path: PathBuf,
    md5: String,
    _temporary: Option<tempfile::NamedTempFile>,
}

async fn fetch(source: &Source, s3: Option<&aws_sdk_s3::Client>) -> Result<Fetched, CliError> {
    match source {
        Source::Local(path) => {
            let mut file = File::open(path).map_err(|e| report_io(source, e))?;
            let mut md5 = Md5::new();
            let mut buffer = vec![0; 64 * 1024];
            loop {
                let n = file.read(&mut buffer).map_err(|e| report_io(source, e))?;
                if n == 0 {
                    break;
                }
                md5.update(&buffer[..n]);
            }
            Ok(Fetched {
                path: path.clone(),
                md5: md5_hex(md5.finalize().as_slice()),
                _temporary: None,
            })
        }
        Source::S3 { bucket, key } => {
            let client = s3.ok_or_else(|| CliError::Usage("no S3 client".into()))?;
            let object = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    CliError::Usage(format!(
                        "cannot read s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                })?;
            let temporary = tempfile::Builder::new()
                .prefix("s3pp-report-")
                .tempfile()
                .map_err(|e| report_io(source, e))?;
            let path = temporary.path().to_owned();
            let mut out = BufWriter::new(temporary.reopen().map_err(|e| report_io(source, e))?);
            let mut md5 = Md5::new();
            let mut body = object.body;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|e| CliError::Usage(format!("reading s3://{bucket}/{key} failed: {e}")))?
            {
                md5.update(&chunk);
                out.write_all(&chunk).map_err(|e| report_io(source, e))?;
            }
            out.flush().map_err(|e| report_io(source, e))?;
            Ok(Fetched {
                path,
                md5: md5_hex(md5.finalize().as_slice()),
                _temporary: Some(temporary),
            })
        }
    }
}

fn report_io(source: &Source, err: std::io::Error) -> CliError {
    let name = match source {
        Source::Local(path) => path.display().to_string(),
        Source::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
    };
    CliError::Usage(format!("cannot read {name}: {err}"))
}
