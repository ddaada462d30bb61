//! Files the commands read whole, from a local path or `s3://` (a completion report's or an
//! inventory's `manifest.json` and the files it lists): an S3 object is streamed into a private
//! temporary file while its MD5 is computed, so memory does not grow with its size and the
//! checksum its manifest states can be checked before a row is read.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::CliError;
use crate::batch_report::md5_hex;

/// Where a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local file.
    Local(PathBuf),
    /// An `s3://bucket/key`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl Source {
    /// `s3://bucket/key` or a path; `what` names the file in the error for an `s3://` URL
    /// without a key.
    pub fn parse(text: &str, what: &str) -> Result<Self, CliError> {
        match text.strip_prefix("s3://") {
            Some(rest) => match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(CliError::Usage(format!(
                    "{text:?} names no object; write s3://bucket/key of {what}"
                ))),
            },
            None => Ok(Self::Local(PathBuf::from(text))),
        }
    }

    /// The file's name (the last path segment).
    pub fn file_name(&self) -> &str {
        match self {
            Self::Local(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
            Self::S3 { key, .. } => key.rsplit('/').next().unwrap_or(""),
        }
    }

    /// A file beside this one's folder: `bucket/key` for S3 (manifests name their files by
    /// full key), else `relative_folder/<file name of key>` next to a local file.
    pub fn sibling(&self, bucket: &str, key: &str, relative_folder: &str) -> Self {
        match self {
            Self::S3 { .. } => Self::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            },
            Self::Local(path) => {
                let name = key.rsplit('/').next().unwrap_or(key);
                let folder = path.parent().unwrap_or(Path::new("."));
                Self::Local(folder.join(relative_folder).join(name))
            }
        }
    }

    /// The file named `name` in the same folder (or under the same prefix).
    pub fn sibling_file(&self, name: &str) -> Self {
        match self {
            Self::S3 { bucket, key } => Self::S3 {
                bucket: bucket.clone(),
                key: match key.rsplit_once('/') {
                    Some((folder, _)) => format!("{folder}/{name}"),
                    None => name.to_owned(),
                },
            },
            Self::Local(path) => Self::Local(path.with_file_name(name)),
        }
    }

    /// `s3://bucket/key` or the path, for messages.
    pub fn display(&self) -> String {
        match self {
            Self::Local(path) => path.display().to_string(),
            Self::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// A file on local disk (the file itself, or a temporary copy of an S3 object) and its MD5.
pub struct Fetched {
    /// Where to read it.
    pub path: PathBuf,
    /// Its MD5, lowercase hex.
    pub md5: String,
    _temporary: Option<tempfile::NamedTempFile>,
}

/// Brings `source` to local disk (S3 objects only) and computes its MD5.
pub async fn fetch(source: &Source, s3: Option<&aws_sdk_s3::Client>) -> Result<Fetched, CliError> {
    match source {
        Source::Local(path) => {
            let mut file = File::open(path).map_err(|e| unreadable(source, e))?;
            let mut md5 = Md5::new();
            let mut buffer = vec![0; 64 * 1024];
            loop {
                let n = file.read(&mut buffer).map_err(|e| unreadable(source, e))?;
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
                .prefix("s3pp-")
                .tempfile()
                .map_err(|e| unreadable(source, e))?;
            let path = temporary.path().to_owned();
            let mut out = BufWriter::new(temporary.reopen().map_err(|e| unreadable(source, e))?);
            let mut md5 = Md5::new();
            let mut body = object.body;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|e| CliError::Usage(format!("reading s3://{bucket}/{key} failed: {e}")))?
            {
                md5.update(&chunk);
                out.write_all(&chunk).map_err(|e| unreadable(source, e))?;
            }
            out.flush().map_err(|e| unreadable(source, e))?;
            Ok(Fetched {
                path,
                md5: md5_hex(md5.finalize().as_slice()),
                _temporary: Some(temporary),
            })
        }
    }
}

/// Reads a fetched file whole (small files only: manifests).
pub fn read_all(fetched: &Fetched, source: &Source) -> Result<Vec<u8>, CliError> {
    std::fs::read(&fetched.path).map_err(|e| unreadable(source, e))
}

/// Opens a fetched file.
pub fn open(fetched: &Fetched, source: &Source) -> Result<File, CliError> {
    File::open(&fetched.path).map_err(|e| unreadable(source, e))
}

/// A file that cannot be read, named.
pub fn unreadable(source: &Source, err: std::io::Error) -> CliError {
    CliError::Usage(format!("cannot read {}: {err}", source.display()))
}

/// An S3 client configured like the function's (`S3_FORCE_PATH_STYLE`, the SDK's variables),
/// made only when some source is in S3.
pub async fn client_for(sources: &[&Source]) -> Result<Option<aws_sdk_s3::Client>, CliError> {
    if !sources.iter().any(|s| matches!(s, Source::S3 { .. })) {
        return Ok(None);
    }
    s3_client().await.map(Some)
}

/// An S3 client configured like the function's (`S3_FORCE_PATH_STYLE`, the SDK's variables).
pub async fn s3_client() -> Result<aws_sdk_s3::Client, CliError> {
    let force_path_style = crate::config::force_path_style(|n| std::env::var(n).ok())?;
    let sdk_config = crate::setup::sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .force_path_style(force_path_style)
        .build();
    Ok(aws_sdk_s3::Client::from_conf(config))
}
