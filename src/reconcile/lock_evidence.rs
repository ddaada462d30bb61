//! Whether an object is under Object Lock, before it is rewritten. S3 leaves the Object Lock
//! headers out of HEAD both when the object has neither a retention nor a legal hold and when
//! the caller may not read them (`s3:GetObjectRetention`, `s3:GetObjectLegalHold`). So HEAD's
//! silence is evidence only when the deployment says its role may read them
//! (`S3_HEAD_REPORTS_OBJECT_LOCK`, set by the template beside the grants). Otherwise, only
//! when a rewrite is planned: a bucket without Object Lock (GetObjectLockConfiguration, asked
//! once per bucket) holds no locked object; in a bucket with it, or when that cannot be asked,
//! the object's retention and legal hold are read, and a refusal leaves the lock unknown, which
//! holds the rewrite back.

use crate::object::{ObjectHead, ObjectLock};
use crate::store::ObjectStore;
use crate::store::bucket_facts::BucketFacts;
use crate::store::server::ServerSupport;

/// `head` with HEAD's silence on Object Lock taken as evidence, when the role may read it.
pub(super) fn trust_head(head: &mut ObjectHead, server: &ServerSupport) {
    if head.object_lock == ObjectLock::NotReported && server.head_reports_object_lock {
        head.object_lock = ObjectLock::Unlocked;
    }
}

/// Finds out whether `head`'s object is locked, where HEAD could not say.
pub(super) async fn resolve<S: ObjectStore>(store: &S, facts: &BucketFacts, head: &mut ObjectHead) {
    if head.object_lock != ObjectLock::NotReported {
        return;
    }
    let location = &head.location;
    // A bucket without Object Lock holds no locked object; with it, or unknown, ask the object.
    if facts.object_lock_of(store, &location.bucket).await == Some(false) {
        head.object_lock = ObjectLock::Unlocked;
        return;
    }
    let (retention, legal_hold) = futures::join!(
        store.get_retention(location),
        store.get_legal_hold(location)
    );
    head.object_lock = match (retention, legal_hold) {
        (Ok(None), Ok(false)) => ObjectLock::Unlocked,
        (Ok(Some(retention)), Ok(true)) => ObjectLock::Locked(format!("{retention}, legal hold")),
        (Ok(Some(retention)), Ok(false)) => ObjectLock::Locked(retention),
        (Ok(None), Ok(true)) => ObjectLock::Locked("legal hold".into()),
        (Err(err), _) | (_, Err(err)) => ObjectLock::Unknown(format!(
            "{err}; grant s3:GetObjectRetention and s3:GetObjectLegalHold, or set S3_HEAD_REPORTS_OBJECT_LOCK=true if HEAD already reports them"
        )),
    };
}
