//! An inventory delivery's `manifest.json` (S3 User Guide, "Inventory manifest"): the source
//! bucket, when the report was taken, its format and field list, and each data file with its
//! MD5. `manifest.checksum`, delivered beside it, is the MD5 of `manifest.json` in hex: it is
//! checked first, so a manifest from a delivery still being written is never read.

use md5::{Digest, Md5};
use serde::Deserialize;

use super::InventoryError;
use super::columns::Columns;
use crate::batch_report::md5_hex;

/// A data file of the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DataFile {
    /// Its key in the destination bucket.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its MD5, hex.
    #[serde(rename = "MD5checksum")]
    pub md5_checksum: String,
}

/// The formats a report comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Gzip-compressed CSV, no header; fields as `fileSchema` lists them; keys URL-encoded.
    Csv,
    /// Parquet; fields named by the file's own schema.
    Parquet,
}

/// A parsed `manifest.json`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The bucket the report describes.
    pub source_bucket: String,
    /// The bucket the files are in (a name, from the manifest's ARN).
    pub destination_bucket: String,
    /// When the report was taken, seconds since the epoch.
    pub created: i64,
    /// The files' format.
    pub format: Format,
    /// The CSV columns (`None` for Parquet, whose files name their own).
    pub csv_columns: Option<Columns>,
    /// The data files.
    pub files: Vec<DataFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    source_bucket: String,
    destination_bucket: String,
    creation_timestamp: String,
    file_format: String,
    file_schema: String,
    files: Vec<DataFile>,
}

impl Manifest {
    /// Parses `manifest.json`, after checking it against `manifest.checksum`'s text.
    pub fn parse(json: &[u8], checksum: &str) -> Result<Self, InventoryError> {
        let actual = md5_hex(Md5::digest(json).as_slice());
        let expected = checksum.trim();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(InventoryError::ManifestChecksum {
                expected: expected.to_owned(),
                actual,
            });
        }
        let document: Document =
            serde_json::from_slice(json).map_err(|e| InventoryError::Manifest(e.to_string()))?;
        let created_ms: i64 = document.creation_timestamp.parse().map_err(|_| {
            InventoryError::Manifest(format!(
                "creationTimestamp {:?} is not milliseconds since the epoch",
                document.creation_timestamp
            ))
        })?;
        let (format, csv_columns) = match document.file_format.as_str() {
            "CSV" => (
                Format::Csv,
                Some(Columns::from_csv_schema(&document.file_schema)?),
            ),
            "Parquet" => (Format::Parquet, None),
            other => return Err(InventoryError::Format(other.to_owned())),
        };
        let destination_bucket = document
            .destination_bucket
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            source_bucket: document.source_bucket,
            destination_bucket,
            created: created_ms.div_euclid(1000),
            format,
            csv_columns,
            files: document.files,
        })
    }
}

/// Checks a data file's MD5 (hex, computed as it was fetched) against the manifest's.
pub fn check_file(file: &DataFile, actual: &str) -> Result<(), InventoryError> {
    if actual.eq_ignore_ascii_case(&file.md5_checksum) {
        Ok(())
    } else {
        Err(InventoryError::FileChecksum {
            key: file.key.clone(),
            expected: file.md5_checksum.clone(),
            actual: actual.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{
      "sourceBucket": "src", "destinationBucket": "arn:aws:s3:::backup",
      "version": "2016-11-30", "creationTimestamp": "1767225600000", "fileFormat": "CSV",
      "fileSchema": "Bucket, Key, Size, StorageClass",
      "files": [{"key": "inv/src/cfg/data/a.csv.gz", "size": 10, "MD5checksum": "00112233445566778899aabbccddeeff"}]
    }"#;

    fn checksum(json: &str) -> String {
        md5_hex(Md5::digest(json.as_bytes()).as_slice())
    }

    #[test]
    fn a_manifest_that_matches_its_checksum_is_read() {
        let manifest = Manifest::parse(JSON.as_bytes(), &format!("{}\n", checksum(JSON))).unwrap();
        assert_eq!(manifest.source_bucket, "src");
        assert_eq!(manifest.destination_bucket, "backup");
        assert_eq!(manifest.created, 1_767_225_600);
        assert_eq!(manifest.format, Format::Csv);
        assert_eq!(manifest.files[0].size, 10);
        assert!(manifest.csv_columns.is_some());
    }

    #[test]
    fn a_manifest_that_does_not_match_its_checksum_is_refused() {
        let err = Manifest::parse(JSON.as_bytes(), "d41d8cd98f00b204e9800998ecf8427e").unwrap_err();
        assert!(
            matches!(err, InventoryError::ManifestChecksum { .. }),
            "{err}"
        );
        let orc = JSON.replace("\"CSV\"", "\"ORC\"");
        let err = Manifest::parse(orc.as_bytes(), &checksum(&orc)).unwrap_err();
        assert!(err.to_string().contains("\"ORC\" is not read"), "{err}");
    }

    #[test]
    fn a_file_is_checked_against_its_md5() {
        let manifest = Manifest::parse(JSON.as_bytes(), &checksum(JSON)).unwrap();
        let file = &manifest.files[0];
        assert!(check_file(file, "00112233445566778899AABBCCDDEEFF").is_ok());
        assert!(check_file(file, "ffffffffffffffffffffffffffffffff").is_err());
    }
}
