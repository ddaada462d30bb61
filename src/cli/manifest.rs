//! `s3pp manifest`: an S3 Batch Operations manifest (format `S3BatchOperations_CSV_20180820`,
//! fields `Bucket, Key`) of every object under a prefix. Batch Operations requires the keys
//! URL-encoded ([`crate::keys::manifest_key`]); it hands them to the function as `s3Key`, which
//! decodes them like event keys.

use std::io::Write;

use futures::TryStreamExt;
use indicatif::ProgressBar;

use super::{CliError, S3Url};
use crate::keys::manifest_key;
use crate::store::ObjectStore;

/// Writes one `bucket,key` row per object; returns how many.
pub async fn write_manifest<S: ObjectStore, W: Write>(
    store: &S,
    target: &S3Url,
    out: &mut W,
) -> Result<u64, CliError> {
    let hidden = ProgressBar::hidden();
    let mut objects = std::pin::pin!(super::scan::list(store, target, &hidden));
    let mut count = 0;
    while let Some(object) = objects.try_next().await.map_err(|source| CliError::List {
        bucket: target.bucket.clone(),
        prefix: target.key.clone(),
        source,
    })? {
        writeln!(out, "{},{}", target.bucket, manifest_key(&object.key))?;
        count += 1;
    }
    out.flush()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn rows_are_bucket_and_encoded_key() {
        let store = MemoryStore::new();
        store.create_bucket("src");
        store.put("src", "a b/c+d ü.txt", b"x", "text/plain");
        store.put("src", "z,1", b"x", "text/plain");
        let mut out = Vec::new();
        let target: S3Url = "s3://src".parse().unwrap();
        let count = write_manifest(&store, &target, &mut out).await.unwrap();
        assert_eq!(count, 2);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "src,a%20b/c%2Bd%20%C3%BC.txt\nsrc,z%2C1\n"
        );
    }
}
