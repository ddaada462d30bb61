//! Rows of a Parquet inventory file (Snappy-compressed; columns in snake case, `size` int64,
//! dates int64 `TIMESTAMP_MILLIS`, flags boolean, keys as they are, not URL-encoded), read one
//! row at a time with the parquet crate's record reader, which holds one row group's pages at
//! a time, not the file.

use std::borrow::Cow;
use std::fs::File;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field as Value;

use super::columns::{Columns, Field};
use super::csv_rows::BadRow;
use super::{InventoryError, Row, Timestamp};

/// Calls `visit` with each row of the Parquet `file` (named `name` in errors), like
/// [`super::csv_rows::for_each_row`]. The file's own schema names the columns.
pub fn for_each_row<E: From<InventoryError>>(
    file: File,
    name: &str,
    mut visit: impl FnMut(Result<Row<'_>, BadRow>) -> Result<(), E>,
) -> Result<(), E> {
    let broken = |message: String| InventoryError::File {
        file: name.to_owned(),
        message,
    };
    let reader =
        SerializedFileReader::new(file).map_err(|e| broken(format!("not a Parquet file: {e}")))?;
    let columns = {
        let schema = reader.metadata().file_metadata().schema_descr();
        Columns::from_names(schema.root_schema().get_fields().iter().map(|f| f.name()))?
    };
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| broken(format!("cannot read its rows: {e}")))?;
    for (index, row) in rows.enumerate() {
        let number = index as u64 + 1;
        let row = row.map_err(|e| broken(format!("row {number}: {e}")))?;
        let values: Vec<&Value> = row.get_column_iter().map(|(_, value)| value).collect();
        visit(parse(&values, &columns).map_err(|message| BadRow {
            row: number,
            message,
        }))?;
    }
    Ok(())
}

fn parse<'a>(values: &[&'a Value], columns: &Columns) -> Result<Row<'a>, String> {
    let value = |field: Field| columns.position(field).and_then(|i| values.get(i).copied());
    let text = |field: Field| -> Result<Option<&'a str>, String> {
        match value(field) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some("")),
            Some(Value::Str(s)) => Ok(Some(s.as_str())),
            Some(Value::Bytes(b)) => std::str::from_utf8(b.data())
                .map(Some)
                .map_err(|_| format!("{field:?} is not UTF-8")),
            Some(other) => Err(format!("{field:?} is {other}, not text")),
        }
    };
    let flag = |field: Field| -> Result<Option<bool>, String> {
        match value(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!("{field:?} is {other}, not a boolean")),
        }
    };
    let time = |field: Field| -> Result<Option<Timestamp<'a>>, String> {
        match value(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::TimestampMillis(ms) | Value::Long(ms)) => Ok(Some(Timestamp::Millis(*ms))),
            Some(Value::TimestampMicros(us)) => Ok(Some(Timestamp::Millis(us.div_euclid(1000)))),
            Some(Value::Str(s)) => Ok(Some(Timestamp::Text(s.as_str()))),
            Some(other) => Err(format!("{field:?} is {other}, not a time")),
        }
    };
    let size = match value(Field::Size) {
        None | Some(Value::Null) => None,
        Some(Value::Long(n)) => {
            Some(u64::try_from(*n).map_err(|_| format!("Size {n} is not a number of bytes"))?)
        }
        Some(Value::Int(n)) => {
            Some(u64::try_from(*n).map_err(|_| format!("Size {n} is not a number of bytes"))?)
        }
        Some(other) => return Err(format!("Size is {other}, not a number of bytes")),
    };
    let key = text(Field::Key)?.unwrap_or_default();
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    // An absent lock column is "not in the report"; a null one is "no retention".
    let lock_retain_until = match (
        columns.has(Field::ObjectLockRetainUntilDate),
        time(Field::ObjectLockRetainUntilDate)?,
    ) {
        (false, _) => None,
        (true, Some(t)) => Some(t),
        (true, None) => Some(Timestamp::Text("")),
    };
    Ok(Row {
        bucket: text(Field::Bucket)?.unwrap_or_default(),
        key: Cow::Borrowed(key),
        version_id: text(Field::VersionId)?,
        is_latest: flag(Field::IsLatest)?,
        is_delete_marker: flag(Field::IsDeleteMarker)?,
        size,
        last_modified: time(Field::LastModifiedDate)?,
        etag: text(Field::ETag)?,
        storage_class: text(Field::StorageClass)?,
        multipart: flag(Field::IsMultipartUploaded)?,
        encryption_status: text(Field::EncryptionStatus)?,
        lock_retain_until,
        lock_mode: text(Field::ObjectLockMode)?,
        legal_hold: text(Field::ObjectLockLegalHoldStatus)?,
        access_tier: text(Field::IntelligentTieringAccessTier)?,
        bucket_key_status: text(Field::BucketKeyStatus)?,
        checksum_algorithm: text(Field::ChecksumAlgorithm)?,
    })
}
