//! `s3pp inventory`: reads an S3 Inventory delivery (its `manifest.json`, checked against
//! `manifest.checksum`, and every data file, checked against the MD5 the manifest states; local
//! or `s3://`), judges each row through the function's rules and planner
//! ([`crate::inventory::judge`]), and writes the drift report, a Batch Operations manifest of
//! only the objects that need or may need work, and, with the manifest uploaded, the
//! `create-job` input that runs the function over it. One file and one row at a time: memory
//! does not grow with the inventory.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::CliError;
use super::fetched::{Source, fetch, read_all};
use crate::apply::copy::CopySettings;
use crate::inventory::cost::Facts;
use crate::inventory::drift::{DriftCounter, DriftReport};
use crate::inventory::judge::Judge;
use crate::inventory::judge_cache::CachedJudge;
use crate::inventory::manifest::{Format, Manifest, check_file};
use crate::inventory::prices::Prices;
use crate::inventory::{InventoryError, Row, csv_rows, parquet_rows};
use crate::policy::Policy;

impl From<InventoryError> for CliError {
    fn from(error: InventoryError) -> Self {
        CliError::Usage(error.to_string())
    }
}

/// What one run read and wrote.
#[derive(Debug)]
pub struct InventoryRun {
    /// The bucket the inventory describes.
    pub source_bucket: String,
    /// When it was taken, seconds since the epoch.
    pub taken: i64,
    /// Data files read.
    pub files: usize,
    /// The report.
    pub report: DriftReport,
    /// Rows written to the Batch Operations manifest.
    pub manifest_rows: u64,
    /// Whether those rows carry version ids (`Bucket,Key,VersionId`).
    pub with_versions: bool,
}

/// How the rows are judged and counted.
pub struct Settings<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Whether an encryption-only change may use UpdateObjectEncryption.
    pub update_encryption: bool,
    /// The price table.
    pub prices: &'a Prices,
    /// How the function copies (which sizes are multipart).
    pub copy: &'a CopySettings,
}

/// Reads the inventory whose `manifest.json` is `source`; each object that needs or may need
/// work goes, as a manifest row, to `manifest_out`.
pub async fn read(
    source: &Source,
    s3: Option<&aws_sdk_s3::Client>,
    settings: &Settings<'_>,
    mut manifest_out: Option<&mut dyn Write>,
) -> Result<InventoryRun, CliError> {
    if source.file_name() != "manifest.json" {
        return Err(CliError::Usage(format!(
            "{} is not an inventory's manifest.json; name the manifest.json of one delivery (its folder is <destination prefix>/<source bucket>/<configuration id>/<date>/)",
            source.display()
        )));
    }
    let manifest_file = fetch(source, s3).await?;
    let checksum_source = source.sibling_file("manifest.checksum");
    let checksum_file = fetch(&checksum_source, s3).await.map_err(|e| {
        CliError::Usage(format!(
            "{e}; S3 Inventory delivers manifest.checksum beside manifest.json, and the manifest is read only once it matches (copy both)"
        ))
    })?;
    let checksum =
        String::from_utf8_lossy(&read_all(&checksum_file, &checksum_source)?).into_owned();
    let manifest = Manifest::parse(&read_all(&manifest_file, source)?, &checksum)?;
    let mut judge = CachedJudge::new(Judge::new(
        settings.policy,
        manifest.created,
        settings.update_encryption,
    ));
    let mut counter = DriftCounter::new(manifest.created, settings.prices, settings.copy);
    let mut with_versions = None;
    let mut manifest_rows = 0;
    for file in &manifest.files {
        let location = data_file_location(source, &manifest.destination_bucket, &file.key);
        let fetched = fetch(&location, s3).await?;
        check_file(file, &fetched.md5)?;
        let name = location.display();
        let opened = super::fetched::open(&fetched, &location)?;
        let mut visit = |row: Result<Row<'_>, csv_rows::BadRow>| -> Result<(), CliError> {
            let row = match row {
                Ok(row) => row,
                Err(bad) => {
                    counter.bad_row(&name, bad.row, bad.message);
                    return Ok(());
                }
            };
            let versions = *with_versions.get_or_insert(row.version_id.is_some());
            let verdict = judge.judge(&row);
            if verdict.outcome.needs_invocation()
                && let Some(out) = manifest_out.as_mut()
            {
                write_row(out, &row, versions)?;
                manifest_rows += 1;
            }
            let facts = Facts {
                size: row.size.unwrap_or(0),
                class: row
                    .storage_class
                    .filter(|c| !c.is_empty())
                    .unwrap_or("STANDARD"),
                last_modified: row.last_modified,
                versioned: row.version_id.is_some(),
            };
            counter.add(&verdict, facts);
            Ok(())
        };
        match (manifest.format, &manifest.csv_columns) {
            (Format::Csv, Some(columns)) => {
                csv_rows::for_each_row(opened, &name, columns, &mut visit)?;
            }
            (Format::Parquet, _) => parquet_rows::for_each_row(opened, &name, &mut visit)?,
            (Format::Csv, None) => {
                return Err(InventoryError::Manifest("CSV without a fileSchema".into()).into());
            }
        }
    }
    if let Some(out) = manifest_out {
        out.flush()?;
    }
    Ok(InventoryRun {
        source_bucket: manifest.source_bucket,
        taken: manifest.created,
        files: manifest.files.len(),
        report: counter.finish(),
        manifest_rows,
        with_versions: with_versions.unwrap_or(false),
    })
}

/// One Batch Operations manifest row: `bucket,key` with the key URL-encoded as the function
/// decodes it, and, for inventories with versions, the version id (`null` for the null
/// version: Batch Operations takes that string, not an empty field).
fn write_row(out: &mut dyn Write, row: &Row<'_>, with_versions: bool) -> std::io::Result<()> {
    // Written piece by piece, not through `writeln!`: formatting was a measurable share of a
    // row's cost at millions of rows.
    out.write_all(row.bucket.as_bytes())?;
    out.write_all(b",")?;
    crate::keys::write_manifest_key(&mut *out, &row.key)?;
    if with_versions {
        let version = row.version_id.filter(|v| !v.is_empty()).unwrap_or("null");
        out.write_all(b",")?;
        out.write_all(version.as_bytes())?;
    }
    out.write_all(b"\n")
}

/// Where a data file the manifest lists is: in S3, its key in the destination bucket; locally
/// (a delivery copied with `aws s3 sync`), `data/` beside the dated folder of the manifest, or
/// beside the manifest itself.
fn data_file_location(manifest: &Source, destination_bucket: &str, key: &str) -> Source {
    let candidates =
        ["../data", "data", ""].map(|folder| manifest.sibling(destination_bucket, key, folder));
    let found = candidates.iter().find(|candidate| match candidate {
        Source::Local(path) => path.exists(),
        Source::S3 { .. } => true,
    });
    found.unwrap_or(&candidates[0]).clone()
}

/// Opens `path` for the manifest, buffered.
pub fn create_manifest_file(path: &PathBuf) -> Result<BufWriter<std::fs::File>, CliError> {
    std::fs::File::create(path)
        .map(|f| BufWriter::with_capacity(256 * 1024, f))
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))
}

/// What S3 answered to the manifest's upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Its ETag, quotes removed (the job names the manifest by it).
    pub etag: String,
    /// Its version id, in a versioned bucket.
    pub version_id: Option<String>,
}

/// Uploads the manifest at `path` to `target` with one PutObject.
pub async fn upload(
    client: &aws_sdk_s3::Client,
    path: &Path,
    target: &super::S3Url,
) -> Result<Uploaded, CliError> {
    let failed = |message: String| {
        CliError::Usage(format!(
            "cannot upload the manifest to s3://{}/{}: {message}",
            target.bucket, target.key
        ))
    };
    if target.key.is_empty() || target.key.ends_with('/') {
        return Err(failed(
            "name the object, e.g. s3://BUCKET/batch-manifests/backfill.csv".into(),
        ));
    }
    let body = aws_sdk_s3::primitives::ByteStream::from_path(path)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let answer = client
        .put_object()
        .bucket(&target.bucket)
        .key(&target.key)
        .content_type("text/csv")
        .body(body)
        .send()
        .await
        .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    let etag = answer
        .e_tag()
        .map(crate::object::normalize_etag)
        .ok_or_else(|| failed("S3 answered without an ETag".into()))?;
    Ok(Uploaded {
        etag,
        version_id: answer.version_id().map(str::to_owned),
    })
}
