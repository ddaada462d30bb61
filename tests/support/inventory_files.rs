//! S3 Inventory deliveries written the way S3 writes them, for tests and the inventory bench:
//! `<root>/<source>/<config>/<date>/manifest.json` with `manifest.checksum` (MD5 hex of the
//! manifest), and the data files under `<root>/<source>/<config>/data/`, either gzip CSV (no
//! header, every field quoted, keys URL-encoded with `+` for a space) or Snappy Parquet
//! (snake-case columns, int64 sizes, `TIMESTAMP_MILLIS` dates, booleans, keys as they are).
//! Self-contained so `bench/inventory_gen.rs` can include it by path.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use md5::{Digest, Md5};
use parquet::basic::Compression as ParquetCompression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// The configuration id the stack gives its inventory.
pub const CONFIG_ID: &str = "s3pp-backfill";
/// The delivery's date folder.
pub const DATE_FOLDER: &str = "2026-12-01T01-00Z";
/// The delivery's creationTimestamp (2026-12-01T01:00:00Z), ms.
pub const CREATED_MS: i64 = 1_796_086_800_000;

/// The report's fields, in the order the stack's configuration lists them.
pub const CSV_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm, ObjectAccessControlList, ObjectOwner";

const PARQUET_SCHEMA: &str = "message s3.inventory {
  required binary bucket (UTF8);
  required binary key (UTF8);
  optional binary version_id (UTF8);
  optional boolean is_latest;
  optional boolean is_delete_marker;
  optional int64 size;
  optional int64 last_modified_date (TIMESTAMP_MILLIS);
  optional binary e_tag (UTF8);
  optional binary storage_class (UTF8);
  optional boolean is_multipart_uploaded;
  optional binary replication_status (UTF8);
  optional binary encryption_status (UTF8);
  optional int64 object_lock_retain_until_date (TIMESTAMP_MILLIS);
  optional binary object_lock_mode (UTF8);
  optional binary object_lock_legal_hold_status (UTF8);
  optional binary intelligent_tiering_access_tier (UTF8);
  optional binary bucket_key_status (UTF8);
  optional binary checksum_algorithm (UTF8);
  optional binary object_access_control_list (UTF8);
  optional binary object_owner (UTF8);
}";

/// One object version as the inventory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub is_latest: bool,
    pub is_delete_marker: bool,
    pub size: Option<u64>,
    pub last_modified_ms: i64,
    pub etag: String,
    pub storage_class: String,
    pub multipart: bool,
    pub encryption_status: String,
    pub lock_retain_until_ms: Option<i64>,
    pub lock_mode: Option<String>,
    pub legal_hold: String,
    pub access_tier: Option<String>,
    pub bucket_key_status: String,
    pub checksum_algorithm: Option<String>,
}

impl InventoryObject {
    /// A current STANDARD, SSE-S3 object of `size` bytes, unlocked, modified a year before
    /// the delivery.
    pub fn new(bucket: &str, key: &str, size: u64) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            version_id: None,
            is_latest: true,
            is_delete_marker: false,
            size: Some(size),
            last_modified_ms: CREATED_MS - 365 * 86_400_000,
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            storage_class: "STANDARD".into(),
            multipart: false,
            encryption_status: "SSE-S3".into(),
            lock_retain_until_ms: None,
            lock_mode: None,
            legal_hold: "OFF".into(),
            access_tier: None,
            bucket_key_status: "DISABLED".into(),
            checksum_algorithm: Some("CRC64NVME".into()),
        }
    }
}

/// Data file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

/// Where a written delivery is.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `manifest.json`.
    pub manifest: PathBuf,
    /// Every file written, relative to the root (to upload them under a prefix).
    pub files: Vec<String>,
}

/// Writes a delivery of `objects` under `root` for the destination `bucket/prefix` (keys in
/// the manifest are prefixed with `prefix`), `per_file` rows to a data file. Only a
/// `versioned` report (all versions) has the VersionId and IsLatest fields, as S3 writes it.
#[allow(clippy::too_many_arguments)]
pub fn write_delivery(
    root: &Path,
    destination: &str,
    prefix: &str,
    source: &str,
    format: FileFormat,
    versioned: bool,
    objects: impl IntoIterator<Item = InventoryObject>,
    per_file: usize,
) -> Delivery {
    let base = format!("{source}/{CONFIG_ID}");
    fs::create_dir_all(root.join(&base).join("data")).unwrap();
    fs::create_dir_all(root.join(&base).join(DATE_FOLDER)).unwrap();
    let mut files = Vec::new();
    let mut listed = Vec::new();
    let mut batch = Vec::with_capacity(per_file.min(1 << 20));
    let mut objects = objects.into_iter().peekable();
    let mut index = 0;
    while objects.peek().is_some() || index == 0 {
        batch.clear();
        batch.extend(objects.by_ref().take(per_file));
        let (name, bytes) = match format {
            FileFormat::Csv => (
                format!("part-{index:05}.csv.gz"),
                csv_file(&batch, versioned),
            ),
            FileFormat::Parquet => (
                format!("part-{index:05}.parquet"),
                parquet_file(&batch, versioned),
            ),
        };
        let relative = format!("{base}/data/{name}");
        fs::write(root.join(&relative), &bytes).unwrap();
        listed.push(serde_json::json!({
            "key": format!("{prefix}{relative}"),
            "size": bytes.len(),
            "MD5checksum": md5_hex(&bytes),
        }));
        files.push(relative);
        index += 1;
    }
    let (file_format, file_schema) = match format {
        FileFormat::Csv => ("CSV", csv_schema(versioned)),
        FileFormat::Parquet => ("Parquet", parquet_schema(versioned).replace('\n', "")),
    };
    let manifest = serde_json::json!({
        "sourceBucket": source,
        "destinationBucket": format!("arn:aws:s3:::{destination}"),
        "version": "2016-11-30",
        "creationTimestamp": CREATED_MS.to_string(),
        "fileFormat": file_format,
        "fileSchema": file_schema,
        "files": listed,
    });
    let text = serde_json::to_vec_pretty(&manifest).unwrap();
    let manifest_path = root.join(&base).join(DATE_FOLDER).join("manifest.json");
    fs::write(&manifest_path, &text).unwrap();
    fs::write(
        manifest_path.with_file_name("manifest.checksum"),
        md5_hex(&text),
    )
    .unwrap();
    files.push(format!("{base}/{DATE_FOLDER}/manifest.json"));
    files.push(format!("{base}/{DATE_FOLDER}/manifest.checksum"));
    Delivery {
        manifest: manifest_path,
        files,
    }
}

/// MD5, lowercase hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key as inventory CSV encodes it: form encoding (`+` for a space, `%XX` for the rest but
/// letters, digits and `.-*_`).
pub fn csv_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for byte in key.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A time as inventory CSV writes it, always with milliseconds: `2026-12-01T01:00:00.000Z`.
fn iso(ms: i64) -> String {
    let text = aws_sdk_s3::primitives::DateTime::from_millis(ms)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap();
    match text.strip_suffix('Z') {
        Some(seconds) if !seconds.contains('.') => format!("{seconds}.000Z"),
        _ => text,
    }
}

/// Fields only a report of all versions has (positions 2 and 3).
const VERSION_FIELDS: [usize; 2] = [2, 3];

fn csv_schema(versioned: bool) -> String {
    CSV_SCHEMA
        .split(", ")
        .enumerate()
        .filter(|(i, _)| versioned || !VERSION_FIELDS.contains(i))
        .map(|(_, name)| name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parquet_schema(versioned: bool) -> String {
    PARQUET_SCHEMA
        .lines()
        .filter(|line| {
            versioned || !(line.contains(" version_id ") || line.contains(" is_latest;"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn csv_file(objects: &[InventoryObject], versioned: bool) -> Vec<u8> {
    // S3 writes inventory CSV with a standard gzip writer at its default level.
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut line = String::new();
    for o in objects {
        line.clear();
        let fields: [String; 20] = [
            o.bucket.clone(),
            csv_key(&o.key),
            o.version_id.clone().unwrap_or_default(),
            o.is_latest.to_string(),
            o.is_delete_marker.to_string(),
            o.size.map(|s| s.to_string()).unwrap_or_default(),
            iso(o.last_modified_ms),
            o.etag.clone(),
            o.storage_class.clone(),
            o.multipart.to_string(),
            String::new(),
            o.encryption_status.clone(),
            o.lock_retain_until_ms.map(iso).unwrap_or_default(),
            o.lock_mode.clone().unwrap_or_default(),
            o.legal_hold.clone(),
            o.access_tier.clone().unwrap_or_default(),
            o.bucket_key_status.clone(),
            o.checksum_algorithm.clone().unwrap_or_default(),
            String::new(),
            "owner-id".into(),
        ];
        let mut first = true;
        for (i, field) in fields.iter().enumerate() {
            if !versioned && VERSION_FIELDS.contains(&i) {
                continue;
            }
            if !first {
                line.push(',');
            }
            first = false;
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        }
        line.push('\n');
        gz.write_all(line.as_bytes()).unwrap();
    }
    gz.finish().unwrap()
}

fn parquet_file(objects: &[InventoryObject], versioned: bool) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(&parquet_schema(versioned)).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(ParquetCompression::SNAPPY)
            .build(),
    );
    let mut buffer = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut buffer, schema, props).unwrap();
    for rows in objects.chunks(ROW_GROUP) {
        let group = writer.next_row_group().unwrap();
        row_group(group, rows, versioned);
    }
    writer.close().unwrap();
    buffer
}

/// Rows per Parquet row group (the reader holds one group's pages at a time).
const ROW_GROUP: usize = 100_000;

fn row_group(
    mut group: parquet::file::writer::SerializedRowGroupWriter<'_, &mut Vec<u8>>,
    objects: &[InventoryObject],
    versioned: bool,
) {
    let text = |values: Vec<Option<String>>| -> (Vec<ByteArray>, Vec<i16>) {
        let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
        let data = values
            .into_iter()
            .flatten()
            .map(|s| ByteArray::from(s.into_bytes()))
            .collect();
        (data, levels)
    };
    let columns: Vec<Column> = vec![
        Column::Text(
            text(objects.iter().map(|o| Some(o.bucket.clone())).collect()),
            true,
        ),
        Column::Text(
            text(objects.iter().map(|o| Some(o.key.clone())).collect()),
            true,
        ),
        Column::Text(
            text(objects.iter().map(|o| o.version_id.clone()).collect()),
            false,
        ),
        Column::Flag(objects.iter().map(|o| Some(o.is_latest)).collect()),
        Column::Flag(objects.iter().map(|o| Some(o.is_delete_marker)).collect()),
        Column::Number(objects.iter().map(|o| o.size.map(|s| s as i64)).collect()),
        Column::Number(objects.iter().map(|o| Some(o.last_modified_ms)).collect()),
        Column::Text(
            text(objects.iter().map(|o| Some(o.etag.clone())).collect()),
            false,
        ),
        Column::Text(
            text(
                objects
                    .iter()
                    .map(|o| Some(o.storage_class.clone()))
                    .collect(),
            ),
            false,
        ),
        Column::Flag(objects.iter().map(|o| Some(o.multipart)).collect()),
        Column::Text(text(objects.iter().map(|_| None).collect()), false),
        Column::Text(
            text(
                objects
                    .iter()
                    .map(|o| Some(o.encryption_status.clone()))
                    .collect(),
            ),
            false,
        ),
        Column::Number(objects.iter().map(|o| o.lock_retain_until_ms).collect()),
        Column::Text(
            text(objects.iter().map(|o| o.lock_mode.clone()).collect()),
            false,
        ),
        Column::Text(
            text(objects.iter().map(|o| Some(o.legal_hold.clone())).collect()),
            false,
        ),
        Column::Text(
            text(objects.iter().map(|o| o.access_tier.clone()).collect()),
            false,
        ),
        Column::Text(
            text(
                objects
                    .iter()
                    .map(|o| Some(o.bucket_key_status.clone()))
                    .collect(),
            ),
            false,
        ),
        Column::Text(
            text(
                objects
                    .iter()
                    .map(|o| o.checksum_algorithm.clone())
                    .collect(),
            ),
            false,
        ),
        Column::Text(text(objects.iter().map(|_| None).collect()), false),
        Column::Text(
            text(
                objects
                    .iter()
                    .map(|_| Some("owner-id".to_owned()))
                    .collect(),
            ),
            false,
        ),
    ];
    for (i, column) in columns.into_iter().enumerate() {
        if !versioned && VERSION_FIELDS.contains(&i) {
            continue;
        }
        let mut writer = group.next_column().unwrap().unwrap();
        match column {
            Column::Text((data, levels), required) => {
                let levels = (!required).then_some(levels);
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&data, levels.as_deref(), None)
                    .unwrap();
            }
            Column::Flag(values) => {
                let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
                let data: Vec<bool> = values.into_iter().flatten().collect();
                writer
                    .typed::<BoolType>()
                    .write_batch(&data, Some(&levels), None)
                    .unwrap();
            }
            Column::Number(values) => {
                let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
                let data: Vec<i64> = values.into_iter().flatten().collect();
                writer
                    .typed::<Int64Type>()
                    .write_batch(&data, Some(&levels), None)
                    .unwrap();
            }
        }
        writer.close().unwrap();
    }
    group.close().unwrap();
}

enum Column {
    Text((Vec<ByteArray>, Vec<i16>), bool),
    Flag(Vec<Option<bool>>),
    Number(Vec<Option<i64>>),
}
