//! Tag and ACL writes by key. S3 has no conditional PutObjectTagging or PutObjectAcl; in a
//! versioned bucket they name the version HEAD saw, but in a bucket without versioning they go
//! to whatever object is at the key when they arrive. If a user uploads a new object between
//! the HEAD and the write, the write lands on it: its own tags are replaced by the old
//! object's tags merged with the policy's. That cannot be prevented, so it is detected: after
//! such a write the key is HEADed again, and when its ETag is no longer the one planned
//! against, the report says what may have happened instead of calling the object in line.

use crate::object::ObjectHead;
use crate::plan::{Action, Plan};
use crate::store::ObjectStore;

/// Whether the plan wrote tags or an ACL by key (no version id to pin it to an object).
pub(super) fn wrote_by_key(head: &ObjectHead, plan: &Plan) -> bool {
    head.location.version_id.is_none()
        && plan.actions.iter().any(|a| {
            matches!(
                a,
                Action::PutTags { .. } | Action::RemovePublicGrants { .. }
            )
        })
}

/// When the object at the key is no longer the one planned against, the note that says the
/// tag or ACL write may have landed on the newer object.
pub(super) async fn check_target<S: ObjectStore>(store: &S, head: &ObjectHead) -> Option<String> {
    let now = store.head_object(&head.location).await.ok()?;
    (now.etag != head.etag).then(|| {
        format!(
            "the object was replaced (ETag {} became {}) while its tags or ACL were written by key, which S3 cannot make conditional: the write may have landed on the newer object and replaced its own tags or grants; its own event brings it in line, but tags it had of its own may be lost",
            head.etag, now.etag
        )
    })
}
