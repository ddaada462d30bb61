//! What has been learned about buckets, so the function asks once per bucket and instance rather
//! than once per object: whether a bucket keeps versions, whether it has Object Lock. Both can be
//! changed by the bucket's owner, so an answer is kept for [`FACT_LIFETIME`] and then asked
//! again. Failed questions are not remembered (the caller decides what an unknown means). One
//! `BucketFacts` lives as long as the processor (an instance) or a command-line run.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{ObjectStore, StoreError, Versioning};

/// How long a learned fact is trusted before it is asked again.
pub const FACT_LIFETIME: Duration = Duration::from_secs(600);

/// Learned bucket facts, with when each was learned.
#[derive(Debug, Default)]
pub struct BucketFacts {
    versioning: Mutex<HashMap<String, (Versioning, Instant)>>,
    object_lock: Mutex<HashMap<String, (bool, Instant)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fresh<T: Copy>(map: &Mutex<HashMap<String, (T, Instant)>>, bucket: &str) -> Option<T> {
    lock(map)
        .get(bucket)
        .filter(|(_, learned)| learned.elapsed() < FACT_LIFETIME)
        .map(|(fact, _)| *fact)
}

impl BucketFacts {
    /// The bucket's versioning, if learned recently.
    pub fn versioning(&self, bucket: &str) -> Option<Versioning> {
        fresh(&self.versioning, bucket)
    }

    /// Remembers the bucket's versioning.
    pub fn learn_versioning(&self, bucket: &str, versioning: Versioning) {
        lock(&self.versioning).insert(bucket.to_owned(), (versioning, Instant::now()));
    }

    /// Whether the bucket has Object Lock, if learned recently.
    pub fn object_lock(&self, bucket: &str) -> Option<bool> {
        fresh(&self.object_lock, bucket)
    }

    /// Remembers whether the bucket has Object Lock.
    pub fn learn_object_lock(&self, bucket: &str, enabled: bool) {
        lock(&self.object_lock).insert(bucket.to_owned(), (enabled, Instant::now()));
    }
}

impl BucketFacts {
    /// The bucket's versioning: remembered, or asked (GetBucketVersioning) and remembered.
    pub async fn versioning_of<S: ObjectStore>(
        &self,
        store: &S,
        bucket: &str,
    ) -> Result<Versioning, StoreError> {
        if let Some(known) = self.versioning(bucket) {
            return Ok(known);
        }
        let versioning = store.bucket_versioning(bucket).await?;
        self.learn_versioning(bucket, versioning);
        Ok(versioning)
    }

    /// Whether the bucket has Object Lock: remembered, or asked (GetObjectLockConfiguration)
    /// and remembered.
    pub async fn object_lock_of<S: ObjectStore>(
        &self,
        store: &S,
        bucket: &str,
    ) -> Result<bool, StoreError> {
        if let Some(known) = self.object_lock(bucket) {
            return Ok(known);
        }
        let enabled = store.bucket_object_lock(bucket).await?;
        self.learn_object_lock(bucket, enabled);
        Ok(enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_kept_per_bucket() {
        let facts = BucketFacts::default();
        assert_eq!(facts.versioning("a"), None);
        facts.learn_versioning("a", Versioning::Enabled);
        facts.learn_object_lock("b", true);
        assert_eq!(facts.versioning("a"), Some(Versioning::Enabled));
        assert_eq!(facts.versioning("b"), None);
        assert_eq!(facts.object_lock("b"), Some(true));
        assert_eq!(facts.object_lock("a"), None);
    }
}
