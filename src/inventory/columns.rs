//! Which fields an inventory report has, and at which position: CSV files have no header, so
//! the order is `manifest.json`'s `fileSchema` (`Bucket, Key, VersionId, …`); Parquet files name
//! their columns in snake case (`version_id`, `e_tag`). Both spellings reduce to the same
//! lowercase letters, so one table serves both, and fields this build does not read (and ones S3
//! adds later) are skipped wherever they are.

use super::InventoryError;

/// The fields the judge reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `Bucket`.
    Bucket,
    /// `Key`.
    Key,
    /// `VersionId`.
    VersionId,
    /// `IsLatest`.
    IsLatest,
    /// `IsDeleteMarker`.
    IsDeleteMarker,
    /// `Size`.
    Size,
    /// `LastModifiedDate`.
    LastModifiedDate,
    /// `ETag`.
    ETag,
    /// `StorageClass`.
    StorageClass,
    /// `IsMultipartUploaded`.
    IsMultipartUploaded,
    /// `EncryptionStatus`.
    EncryptionStatus,
    /// `ObjectLockRetainUntilDate`.
    ObjectLockRetainUntilDate,
    /// `ObjectLockMode`.
    ObjectLockMode,
    /// `ObjectLockLegalHoldStatus`.
    ObjectLockLegalHoldStatus,
    /// `IntelligentTieringAccessTier`.
    IntelligentTieringAccessTier,
    /// `BucketKeyStatus`.
    BucketKeyStatus,
    /// `ChecksumAlgorithm`.
    ChecksumAlgorithm,
}

/// Every field, in `fileSchema` spelling, in the order of [`Field`] (its index).
pub const FIELDS: [(Field, &str); 17] = [
    (Field::Bucket, "Bucket"),
    (Field::Key, "Key"),
    (Field::VersionId, "VersionId"),
    (Field::IsLatest, "IsLatest"),
    (Field::IsDeleteMarker, "IsDeleteMarker"),
    (Field::Size, "Size"),
    (Field::LastModifiedDate, "LastModifiedDate"),
    (Field::ETag, "ETag"),
    (Field::StorageClass, "StorageClass"),
    (Field::IsMultipartUploaded, "IsMultipartUploaded"),
    (Field::EncryptionStatus, "EncryptionStatus"),
    (
        Field::ObjectLockRetainUntilDate,
        "ObjectLockRetainUntilDate",
    ),
    (Field::ObjectLockMode, "ObjectLockMode"),
    (
        Field::ObjectLockLegalHoldStatus,
        "ObjectLockLegalHoldStatus",
    ),
    (
        Field::IntelligentTieringAccessTier,
        "IntelligentTieringAccessTier",
    ),
    (Field::BucketKeyStatus, "BucketKeyStatus"),
    (Field::ChecksumAlgorithm, "ChecksumAlgorithm"),
];

/// Where each field is in a row, when the report has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    positions: [Option<usize>; FIELDS.len()],
    width: usize,
}

impl Columns {
    /// The columns of a report whose fields are named, in order, by `names` (either spelling).
    /// Bucket, Key and Size are required.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InventoryError> {
        let mut positions = [None; FIELDS.len()];
        let mut width = 0;
        for (index, name) in names.into_iter().enumerate() {
            width = index + 1;
            let wanted = reduce(name);
            if let Some(slot) = FIELDS.iter().position(|(_, known)| reduce(known) == wanted) {
                positions[slot] = Some(index);
            }
        }
        let columns = Self { positions, width };
        for (field, name) in [
            (Field::Bucket, "Bucket"),
            (Field::Key, "Key"),
            (Field::Size, "Size"),
        ] {
            if columns.position(field).is_none() {
                return Err(InventoryError::MissingField(name));
            }
        }
        Ok(columns)
    }

    /// The columns a CSV `fileSchema` (`"Bucket, Key, Size, …"`) names.
    pub fn from_csv_schema(schema: &str) -> Result<Self, InventoryError> {
        Self::from_names(schema.split(',').map(str::trim))
    }

    /// The position of `field`, when the report has it.
    pub fn position(&self, field: Field) -> Option<usize> {
        self.positions[field as usize]
    }

    /// Whether the report has `field`.
    pub fn has(&self, field: Field) -> bool {
        self.position(field).is_some()
    }

    /// How many columns a row has.
    pub fn width(&self) -> usize {
        self.width
    }
}

/// A field name reduced to lowercase letters and digits: `ETag`, `e_tag` and `etag` are one.
fn reduce(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_name_the_same_fields_and_unknown_ones_are_skipped() {
        let csv = Columns::from_csv_schema(
            "Bucket, Key, VersionId, IsLatest, Size, ETag, ObjectOwner, LifecycleExpirationDate, BucketKeyStatus",
        )
        .unwrap();
        let parquet = Columns::from_names([
            "bucket",
            "key",
            "version_id",
            "is_latest",
            "size",
            "e_tag",
            "object_owner",
            "lifecycle_expiration_date",
            "bucket_key_status",
        ])
        .unwrap();
        assert_eq!(csv, parquet);
        assert_eq!(csv.position(Field::ETag), Some(5));
        assert_eq!(csv.position(Field::BucketKeyStatus), Some(8));
        assert_eq!(csv.width(), 9);
        assert!(!csv.has(Field::StorageClass));
    }

    #[test]
    fn a_report_without_size_is_refused_by_name() {
        let err = Columns::from_csv_schema("Bucket, Key, ETag").unwrap_err();
        assert!(err.to_string().contains("no Size field"), "{err}");
    }
}

#[cfg(test)]
mod order {
    use super::*;

    #[test]
    fn the_table_is_in_the_enums_order() {
        for (index, (field, _)) in FIELDS.iter().enumerate() {
            assert_eq!(*field as usize, index);
        }
    }
}
