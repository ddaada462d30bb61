//! Rows of a CSV inventory file: gzip-compressed, no header, every field quoted, the fields in
//! `fileSchema`'s order, keys URL-encoded (S3 User Guide: "When using the CSV file format, the
//! key name is URL-encoded and must be decoded before you can use it"). One record buffer is
//! reused, so memory does not depend on the number of rows.

use std::borrow::Cow;
use std::io::{BufReader, Read};

use flate2::read::MultiGzDecoder;

use super::columns::{Columns, Field};
use super::{InventoryError, Row, Timestamp};
use crate::keys::decode_event_key;

/// A row that cannot be read, and why; the rows around it still are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based row number in its file.
    pub row: u64,
    /// What is wrong.
    pub message: String,
}

/// Calls `visit` with each row of the gzip-compressed CSV `file`: `Ok(row)` or the [`BadRow`]
/// it could not read. Stops at the first error `visit` returns, or when the file itself cannot
/// be decoded (named by `name`).
pub fn for_each_row<E: From<InventoryError>>(
    file: impl Read,
    name: &str,
    columns: &Columns,
    mut visit: impl FnMut(Result<Row<'_>, BadRow>) -> Result<(), E>,
) -> Result<(), E> {
    let decoder = MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, file));
    let mut reader = simd_csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(decoder);
    // A StringRecord checks a whole row's UTF-8 at once (cheaper than field by field).
    let mut record = simd_csv::StringRecord::new();
    let mut number = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                number += 1;
                visit(row(&record, columns).map_err(|message| BadRow {
                    row: number,
                    message,
                }))?;
            }
            Err(err) if err.is_io_error() => {
                return Err(InventoryError::File {
                    file: name.to_owned(),
                    message: format!("cannot decompress (not gzip, or truncated): {err}"),
                }
                .into());
            }
            Err(err) => {
                number += 1;
                let message = match err.kind() {
                    simd_csv::ErrorKind::Utf8Error => "the row is not UTF-8 text".to_owned(),
                    _ => err.to_string(),
                };
                visit(Err(BadRow {
                    row: number,
                    message,
                }))?;
            }
        }
    }
}

/// One record as a [`Row`].
fn row<'a>(record: &'a simd_csv::StringRecord, columns: &Columns) -> Result<Row<'a>, String> {
    if record.len() < columns.width() {
        return Err(format!(
            "{} fields where fileSchema lists {}",
            record.len(),
            columns.width()
        ));
    }
    let text = |field: Field| -> Result<Option<&'a str>, String> {
        Ok(columns.position(field).and_then(|i| record.get(i)))
    };
    let flag = |field: Field| -> Result<Option<bool>, String> {
        text(field)?
            .filter(|t| !t.is_empty())
            .map(|t| match t {
                "true" | "TRUE" | "True" => Ok(true),
                "false" | "FALSE" | "False" => Ok(false),
                other => Err(format!("{other:?} is not true or false")),
            })
            .transpose()
    };
    let raw_key = text(Field::Key)?.unwrap_or_default();
    let key = decode_key(raw_key)?;
    let size = text(Field::Size)?
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u64>()
                .map_err(|_| format!("Size {t:?} is not a number of bytes"))
        })
        .transpose()?;
    Ok(Row {
        bucket: text(Field::Bucket)?.unwrap_or_default(),
        key,
        version_id: text(Field::VersionId)?,
        is_latest: flag(Field::IsLatest)?,
        is_delete_marker: flag(Field::IsDeleteMarker)?,
        size,
        last_modified: text(Field::LastModifiedDate)?
            .filter(|t| !t.is_empty())
            .map(Timestamp::Text),
        etag: text(Field::ETag)?,
        storage_class: text(Field::StorageClass)?,
        multipart: flag(Field::IsMultipartUploaded)?,
        encryption_status: text(Field::EncryptionStatus)?,
        lock_retain_until: text(Field::ObjectLockRetainUntilDate)?.map(Timestamp::Text),
        lock_mode: text(Field::ObjectLockMode)?,
        legal_hold: text(Field::ObjectLockLegalHoldStatus)?,
        access_tier: text(Field::IntelligentTieringAccessTier)?,
        bucket_key_status: text(Field::BucketKeyStatus)?,
        checksum_algorithm: text(Field::ChecksumAlgorithm)?,
    })
}

/// A CSV report's key, decoded as the function decodes event keys (`+` is a space, then
/// percent-decoding); borrowed when there is nothing to decode.
fn decode_key(raw: &str) -> Result<Cow<'_, str>, String> {
    if raw.is_empty() {
        return Err("the key is empty".into());
    }
    if !raw.contains(['%', '+']) {
        return Ok(Cow::Borrowed(raw));
    }
    decode_event_key(raw)
        .map(Cow::Owned)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn read(text: &str, schema: &str) -> Vec<Result<String, BadRow>> {
        let columns = Columns::from_csv_schema(schema).unwrap();
        let mut seen = Vec::new();
        for_each_row::<InventoryError>(gz(text.as_bytes()).as_slice(), "f", &columns, |row| {
            seen.push(
                row.map(|r| format!("{}|{}|{:?}|{:?}", r.bucket, r.key, r.size, r.is_latest)),
            );
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn quoted_fields_and_encoded_keys_are_read() {
        let rows = read(
            "\"src\",\"a+b%2Bc/%C3%BC%2C1\",\"12\",\"true\"\n\"src\",\"plain\",\"\",\"false\"\n",
            "Bucket, Key, Size, IsLatest",
        );
        assert_eq!(
            rows,
            vec![
                Ok("src|a b+c/ü,1|Some(12)|Some(true)".to_owned()),
                Ok("src|plain|None|Some(false)".to_owned())
            ]
        );
    }

    #[test]
    fn a_bad_row_is_named_and_the_next_one_read() {
        let rows = read(
            "\"src\",\"k\",\"ten\",\"true\"\n\"src\",\"short\"\n\"src\",\"ok\",\"1\",\"true\"\n",
            "Bucket, Key, Size, IsLatest",
        );
        assert_eq!(rows.len(), 3);
        assert!(matches!(&rows[0], Err(BadRow { row: 1, message }) if message.contains("\"ten\"")));
        assert!(
            matches!(&rows[1], Err(BadRow { row: 2, message }) if message.contains("2 fields"))
        );
        assert_eq!(rows[2], Ok("src|ok|Some(1)|Some(true)".to_owned()));
    }

    #[test]
    fn quotes_commas_and_line_breaks_inside_fields_are_one_field() {
        let rows = read(
            "\"src\",\"k\",\"1\",\"true\",\"a \"\"b\"\", c\nd\"\n\"src\",\"next\",\"2\",\"false\",\"\"\n",
            "Bucket, Key, Size, IsLatest, ETag",
        );
        assert_eq!(
            rows,
            vec![
                Ok("src|k|Some(1)|Some(true)".to_owned()),
                Ok("src|next|Some(2)|Some(false)".to_owned())
            ]
        );
    }

    #[test]
    fn a_row_that_is_not_utf8_is_named_and_the_next_one_read() {
        let columns = Columns::from_csv_schema("Bucket, Key, Size").unwrap();
        let mut text = b"\"src\",\"k\xff\",\"1\"\n".to_vec();
        text.extend_from_slice(b"\"src\",\"ok\",\"2\"\n");
        let mut seen = Vec::new();
        for_each_row::<InventoryError>(gz(&text).as_slice(), "f", &columns, |row| {
            seen.push(row.map(|r| r.key.into_owned()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                Err(BadRow {
                    row: 1,
                    message: "the row is not UTF-8 text".into()
                }),
                Ok("ok".to_owned())
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_gzip_is_refused_by_name() {
        let columns = Columns::from_csv_schema("Bucket, Key, Size").unwrap();
        let err =
            for_each_row::<InventoryError>(&b"plain text"[..], "data/x.csv.gz", &columns, |_| {
                Ok(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("data/x.csv.gz"), "{err}");
    }
}
