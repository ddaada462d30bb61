//! The same verdict for every row of the same shape: a current version's verdict depends only
//! on what [`crate::plan::plan`] reads of it, and of a row that is its rule, its bucket, whether
//! it is below `ia_min_size`, and the reported storage class, Intelligent-Tiering tier,
//! encryption, bucket key and Object Lock state (the key, ETag and version change what the
//! actions name, not what they are). So each shape is planned once and its verdict shared; an
//! inventory of millions of rows has a few hundred shapes. The cache is bounded: past
//! [`MAX_SHAPES`] (only an inventory of made-up classes gets there) rows are planned each time.

use std::collections::HashMap;

use super::Row;
use super::judge::{Judge, LockState, Prejudged, lock_state};
use super::verdict::Verdict;

/// Most shapes kept.
pub const MAX_SHAPES: usize = 100_000;

/// A [`Judge`] that plans each shape of row once.
#[derive(Debug)]
pub struct CachedJudge<'p> {
    judge: Judge<'p>,
    verdicts: HashMap<Vec<u8>, Verdict<'p>, foldhash::fast::RandomState>,
    shape: Vec<u8>,
}

impl<'p> CachedJudge<'p> {
    /// Caches `judge`'s verdicts.
    pub fn new(judge: Judge<'p>) -> Self {
        Self {
            judge,
            verdicts: HashMap::default(),
            shape: Vec::with_capacity(128),
        }
    }

    /// The verdict on `row`: [`Judge::judge`]'s, planned once per shape.
    pub fn judge(&mut self, row: &Row<'_>) -> Verdict<'p> {
        let (size, rule) = match self.judge.prejudge(row) {
            Prejudged::Done(verdict) => return verdict,
            Prejudged::Current { size, rule } => (size, rule),
        };
        let rules = &self.judge.policy().rules;
        let index = rules
            .iter()
            .position(|r| std::ptr::eq(r, rule))
            .unwrap_or(usize::MAX);
        self.shape.clear();
        let lock = match lock_state(row, self.judge.as_of()) {
            LockState::NotReported => b'n',
            LockState::Unlocked => b'u',
            LockState::Locked => b'l',
        };
        let below_minimum = size < self.judge.policy().ia_min_size;
        self.shape.extend_from_slice(&index.to_le_bytes());
        self.shape.push(lock);
        self.shape.push(u8::from(below_minimum));
        // Each text field is ended by a 0 byte (which no field holds); 1 marks a field the
        // report does not have.
        for text in [
            Some(row.bucket),
            row.storage_class,
            row.access_tier,
            row.encryption_status,
            row.bucket_key_status,
        ] {
            match text {
                Some(text) => self.shape.extend_from_slice(text.as_bytes()),
                None => self.shape.push(1),
            }
            self.shape.push(0);
        }
        if let Some(verdict) = self.verdicts.get(self.shape.as_slice()) {
            return verdict.clone();
        }
        let verdict = self.judge.judge_current(row, size, rule);
        if self.verdicts.len() < MAX_SHAPES {
            self.verdicts.insert(self.shape.clone(), verdict.clone());
        }
        verdict
    }

    /// Shapes planned so far.
    pub fn shapes(&self) -> usize {
        self.verdicts.len()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::inventory::Timestamp;
    use crate::policy::document::parse_policy;

    const POLICY: &str = "\
ia_min_size: 131072
rules:
  - name: logs
    match: { prefix: logs/ }
    storage_class: STANDARD_IA
    encryption: { algorithm: aws:kms, kms_key_id: arn:aws:kms:us-east-1:111122223333:key/k1, bucket_key: true }
  - name: kept
    match: { prefix: kept/, buckets: [src] }
    encryption: AES256
    backup: { bucket: bak, prefix: copies/ }
    tags: { team: t }
  - name: archive
    match: { prefix: archive/ }
    storage_class: GLACIER
    restore: { days: 1, tier: Bulk }
  - name: rest
    encryption: AES256
";

    /// Every shape the cache sees is judged as the judge judges it without a cache, whatever the
    /// key, ETag and version of the rows that share it.
    #[test]
    fn cached_verdicts_are_the_judges_own() {
        let policy = parse_policy(POLICY).unwrap();
        let judge = Judge::new(&policy, 1_000_000, true);
        let mut cached = CachedJudge::new(judge.clone());
        let classes = [
            Some("STANDARD"),
            Some("STANDARD_IA"),
            Some("GLACIER"),
            Some("INTELLIGENT_TIERING"),
            None,
        ];
        let tiers = [None, Some("ARCHIVE_ACCESS")];
        let encryptions = [
            Some("SSE-S3"),
            Some("SSE-KMS"),
            Some("NOT-SSE"),
            Some("SSE-C"),
            Some("DSSE-KMS"),
            None,
        ];
        let bucket_keys = [Some("ENABLED"), Some("DISABLED"), None];
        let locks = [
            (Some(""), Some("OFF"), None),
            (
                Some("COMPLIANCE"),
                Some("OFF"),
                Some(Timestamp::Millis(2_000_000_000)),
            ),
            (
                Some("GOVERNANCE"),
                Some("OFF"),
                Some(Timestamp::Millis(5_000)),
            ),
            (Some(""), Some("ON"), None),
            (None, None, None),
        ];
        let mut rows = 0;
        for (i, prefix) in ["logs/", "kept/", "archive/", "other/"].iter().enumerate() {
            for class in classes {
                for tier in tiers {
                    for encryption in encryptions {
                        for bucket_key in bucket_keys {
                            for (mode, hold, until) in locks {
                                for size in [100, 1 << 20] {
                                    for copy in 0..2 {
                                        let key = format!("{prefix}{i}-{copy}.bin");
                                        let etag = format!("etag-{copy}");
                                        let row = Row {
                                            bucket: "src",
                                            key: Cow::Owned(key),
                                            version_id: (copy == 1).then_some("v1"),
                                            is_latest: Some(true),
                                            is_delete_marker: Some(false),
                                            size: Some(size),
                                            last_modified: None,
                                            etag: Some(&etag),
                                            storage_class: class,
                                            multipart: Some(false),
                                            encryption_status: encryption,
                                            lock_retain_until: until,
                                            lock_mode: mode,
                                            legal_hold: hold,
                                            access_tier: tier,
                                            bucket_key_status: bucket_key,
                                            checksum_algorithm: None,
                                        };
                                        assert_eq!(
                                            cached.judge(&row),
                                            judge.judge(&row),
                                            "{row:?}"
                                        );
                                        rows += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(rows * 2, 2 * 4 * 5 * 2 * 6 * 3 * 5 * 2 * 2);
        assert!(
            cached.shapes() * 2 <= rows,
            "{} shapes for {rows} rows",
            cached.shapes()
        );
    }
}
