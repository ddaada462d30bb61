//! Generates an S3 Inventory delivery for `bench/inventory`: N rows of a realistic mix (storage
//! classes, encryptions, bucket keys, sizes from bytes to tens of GiB, Object Lock, keys with
//! spaces, `+`, commas and unicode), written the way S3 writes them (the same writer the tests
//! use). Deterministic: the same arguments give byte-identical files.
//!
//! Usage: inventory_gen ROWS csv|parquet OUT_DIR [ROWS_PER_FILE]

#[path = "../tests/support/inventory_files.rs"]
mod inventory_files;

use inventory_files::{CREATED_MS, FileFormat, InventoryObject, write_delivery};

const DAY_MS: i64 = 86_400_000;
const PREFIXES: [&str; 6] = [
    "logs/",
    "archive/",
    "docs/",
    "data/über straße/",
    "media/photos 2026/",
    "tmp/",
];
const SUFFIXES: [&str; 5] = [".log", ".csv", ".jpg", ".json", ".bin"];

fn object(rng: &mut fastrand::Rng, index: u64) -> InventoryObject {
    let prefix = PREFIXES[rng.usize(..PREFIXES.len())];
    let suffix = SUFFIXES[rng.usize(..SUFFIXES.len())];
    let key = match rng.u8(..10) {
        0 => format!(
            "{prefix}{}/report, final +v{index}{suffix}",
            2020 + u32::from(rng.u8(..7))
        ),
        1 => format!("{prefix}日本/ファイル {index}{suffix}"),
        _ => format!(
            "{prefix}{}/{:02}/object-{index}{suffix}",
            2020 + u32::from(rng.u8(..7)),
            rng.u8(1..13)
        ),
    };
    let size = match rng.u8(..100) {
        0..40 => rng.u64(0..128 * 1024),
        40..80 => rng.u64(128 * 1024..64 << 20),
        80..95 => rng.u64(64 << 20..5 << 30),
        _ => rng.u64(5 << 30..50 << 30),
    };
    let mut o = InventoryObject::new("bench-source", &key, size);
    o.last_modified_ms = CREATED_MS - rng.i64(0..730 * DAY_MS);
    o.etag = format!("{:016x}{:016x}", rng.u64(..), rng.u64(..));
    if size > 16 << 20 {
        o.multipart = true;
        o.etag.push_str(&format!("-{}", size.div_ceil(16 << 20)));
    }
    o.storage_class = match rng.u8(..100) {
        0..55 => "STANDARD",
        55..70 => "STANDARD_IA",
        70..80 => "INTELLIGENT_TIERING",
        80..88 => "GLACIER_IR",
        88..95 => "GLACIER",
        _ => "DEEP_ARCHIVE",
    }
    .into();
    if o.storage_class == "INTELLIGENT_TIERING" {
        o.access_tier = Some(
            match rng.u8(..10) {
                0..6 => "FREQUENT",
                6..8 => "INFREQUENT",
                8 => "ARCHIVE_INSTANT_ACCESS",
                _ => "ARCHIVE_ACCESS",
            }
            .into(),
        );
    }
    o.encryption_status = match rng.u8(..100) {
        0..65 => "SSE-S3",
        65..95 => "SSE-KMS",
        95..98 => "NOT-SSE",
        98 => "SSE-C",
        _ => "DSSE-KMS",
    }
    .into();
    if o.encryption_status == "SSE-KMS" && rng.bool() {
        o.bucket_key_status = "ENABLED".into();
    }
    match rng.u8(..100) {
        0..2 => {
            o.lock_mode = Some("COMPLIANCE".into());
            o.lock_retain_until_ms = Some(CREATED_MS + rng.i64(1..1000) * DAY_MS);
        }
        2 => o.legal_hold = "ON".into(),
        _ => {}
    }
    o.checksum_algorithm = match rng.u8(..10) {
        0..5 => Some("CRC64NVME".into()),
        5..7 => Some("CRC32".into()),
        7 => Some("SHA256".into()),
        _ => None,
    };
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: inventory_gen ROWS csv|parquet OUT_DIR [ROWS_PER_FILE]";
    let (Some(rows), Some(format), Some(out)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let rows: u64 = rows.parse().expect(usage);
    let format = match format.as_str() {
        "csv" => FileFormat::Csv,
        "parquet" => FileFormat::Parquet,
        _ => panic!("{usage}"),
    };
    let per_file: usize = args.get(4).map_or(1_000_000, |n| n.parse().expect(usage));
    let mut rng = fastrand::Rng::with_seed(20261202);
    let objects = (0..rows).map(move |i| object(&mut rng, i));
    let delivery = write_delivery(
        std::path::Path::new(out),
        "bench-inventory",
        "inventory/",
        "bench-source",
        format,
        false,
        objects,
        per_file,
    );
    println!("{}", delivery.manifest.display());
}
