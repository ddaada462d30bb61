//! What has been learned about buckets, so the function asks once per bucket and instance rather
//! than once per object: whether a bucket keeps versions, whether it has Object Lock. Both can be
//! changed by the bucket's owner, so an answer is kept for [`FACT_LIFETIME`] and then asked
//! again. A question that fails (a role without the permission, a server that cannot answer)
//! is remembered as unknown for as long, and logged once: the caller decides what an unknown
//! means. One `BucketFacts` lives as long as the processor (an instance) or a command-line run.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{ObjectStore, StoreError, Versioning};

/// How long a learned fact is trusted before it is asked again.
pub const FACT_LIFETIME: Duration = Duration::from_secs(600);

/// Learned bucket facts (`None`: asked, and could not be told), with when each was learned.
#[derive(Debug, Default)]
pub struct BucketFacts {
    versioning: Mutex<HashMap<String, (Option<Versioning>, Instant)>>,
    object_lock: Mutex<HashMap<String, (Option<bool>, Instant)>>,
    /// Buckets whose server answered UpdateObjectEncryption with "not implemented": not asked
    /// again for the life of the instance.
    without_update_encryption: Mutex<std::collections::HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fact learned recently, if any: `Some(None)` when it could not be told.
fn fresh<T: Copy>(
    map: &Mutex<HashMap<String, (Option<T>, Instant)>>,
    bucket: &str,
) -> Option<Option<T>> {
    lock(map)
        .get(bucket)
        .filter(|(_, learned)| learned.elapsed() < FACT_LIFETIME)
        .map(|(fact, _)| *fact)
}

fn remember<T>(map: &Mutex<HashMap<String, (Option<T>, Instant)>>, bucket: &str, fact: Option<T>) {
    lock(map).insert(bucket.to_owned(), (fact, Instant::now()));
}

impl BucketFacts {
    /// Remembers the bucket's versioning (as a test's or a warm instance's knowledge).
    pub fn learn_versioning(&self, bucket: &str, versioning: Versioning) {
        remember(&self.versioning, bucket, Some(versioning));
    }

    /// Whether UpdateObjectEncryption was found not implemented for the bucket.
    pub fn lacks_update_encryption(&self, bucket: &str) -> bool {
        lock(&self.without_update_encryption).contains(bucket)
    }

    /// Remembers that the bucket's server does not implement UpdateObjectEncryption.
    pub fn learn_lacks_update_encryption(&self, bucket: &str) {
        if lock(&self.without_update_encryption).insert(bucket.to_owned()) {
            tracing::warn!(
                bucket,
                "the server does not implement UpdateObjectEncryption; this instance re-keys objects of the bucket by copying"
            );
        }
    }

    /// The bucket's versioning: remembered, or asked (GetBucketVersioning) and remembered;
    /// `None` when it cannot be told.
    pub async fn versioning_of<S: ObjectStore>(
        &self,
        store: &S,
        bucket: &str,
    ) -> Option<Versioning> {
        if let Some(known) = fresh(&self.versioning, bucket) {
            return known;
        }
        let answer = store.bucket_versioning(bucket).await;
        let fact = told("versioning", bucket, answer);
        remember(&self.versioning, bucket, fact);
        fact
    }

    /// Whether the bucket has Object Lock: remembered, or asked (GetObjectLockConfiguration)
    /// and remembered; `None` when it cannot be told.
    pub async fn object_lock_of<S: ObjectStore>(&self, store: &S, bucket: &str) -> Option<bool> {
        if let Some(known) = fresh(&self.object_lock, bucket) {
            return known;
        }
        let answer = store.bucket_object_lock(bucket).await;
        let fact = told("Object Lock configuration", bucket, answer);
        remember(&self.object_lock, bucket, fact);
        fact
    }
}

/// The answer as a fact, the failure logged (once per bucket and fact lifetime).
fn told<T>(what: &str, bucket: &str, answer: Result<T, StoreError>) -> Option<T> {
    answer
        .inspect_err(|err| {
            tracing::warn!(bucket, error = %err, "cannot read the bucket's {what}; taken as unknown");
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::counting::CountingStore;
    use crate::store::faults::FaultInjectingStore;
    use crate::store::intercept::Operation;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn facts_are_asked_once_per_bucket_failures_included() {
        let memory = MemoryStore::new();
        memory.create_bucket("a");
        memory.enable_versioning("a");
        memory.create_bucket("b");
        let store = CountingStore::new(FaultInjectingStore::new(memory));
        store.inner().fail_call(
            Operation::GetBucketVersioning,
            2,
            StoreError::Service {
                operation: "GetBucketVersioning",
                code: "AccessDenied".into(),
                status: 403,
                message: "Access Denied".into(),
            },
        );
        let facts = BucketFacts::default();
        for _ in 0..3 {
            assert_eq!(
                facts.versioning_of(&store, "a").await,
                Some(Versioning::Enabled)
            );
            assert_eq!(
                facts.versioning_of(&store, "b").await,
                None,
                "refused: unknown"
            );
            assert_eq!(facts.object_lock_of(&store, "b").await, Some(false));
        }
        assert_eq!(store.counts().versionings, 2);
        assert_eq!(store.counts().lock_reads, 1);
    }
}
