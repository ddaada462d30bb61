//! Re-keying without copying, end to end on the in-memory store, which models
//! UpdateObjectEncryption as the S3 API reference documents it (SSE-S3 and SSE-KMS sources, a
//! key ARN, no Object Lock; bytes, ETag, version, Last-Modified, class and checksum kept) and a
//! server without it (501, the object kept, as LocalStack 2026.3.0 answers).

use super::test_support::{Store, memory, store};
use super::*;
use crate::apply::copy::MAX_SINGLE_COPY;
use crate::object::{ActualEncryption, StorageClass};
use crate::policy::document::parse_policy;
use crate::store::intercept::Operation;
use crate::store::memory::MemoryStore;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn setup() -> (Store, Policy) {
    let memory = MemoryStore::new();
    memory.create_bucket("src-bucket");
    for key in ["a", "b"] {
        memory.put("src-bucket", key, b"payload", "text/plain");
    }
    let policy = parse_policy(&format!(
        "encryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY}\", bucket_key: true }}"
    ))
    .unwrap();
    (store(memory), policy)
}

fn options(server: ServerSupport) -> Options {
    super::test_support::options(MAX_SINGLE_COPY, 8 * 1024 * 1024, server)
}

fn event(key: &str) -> ObjectRef {
    ObjectRef {
        location: ObjectLocation::current("src-bucket", key),
        etag: None,
        size: None,
        sequencer: None,
        event_name: Some("ObjectCreated:Put".into()),
        alternate_key: None,
    }
}

/// Reconciles `src-bucket/a`'s created event on a server that does what `server` says.
async fn reconcile_a(store: &Store, policy: &Policy, server: ServerSupport) -> ObjectReport {
    reconcile(store, policy, &event("a"), &options(server)).await
}

fn is_under_the_key(object: &crate::store::memory::StoredObject) -> bool {
    object.encryption
        == ActualEncryption::Kms {
            key_id: Some(KEY.into()),
            bucket_key: true,
        }
}

/// An encryption-only change is one UpdateObjectEncryption: no copy, the same bytes, ETag and
/// Last-Modified; a redelivery finds the object compliant.
#[tokio::test]
async fn an_encryption_only_change_is_one_request_and_no_copy() {
    let (store, policy) = setup();
    let before = memory(&store).object("src-bucket", "a").unwrap();
    let options = options(ServerSupport::S3_WITH_READS);
    let report = reconcile(&store, &policy, &event("a"), &options).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    let names: Vec<&str> = report.actions.iter().map(Action::name).collect();
    assert_eq!(names, ["update_encryption"]);
    let after = memory(&store).object("src-bucket", "a").unwrap();
    assert!(is_under_the_key(&after), "{after:?}");
    assert_eq!(
        (&after.body, &after.etag, after.last_modified),
        (&before.body, &before.etag, before.last_modified)
    );
    let counts = store.counts();
    assert_eq!((counts.rekeys, counts.copies), (1, 0), "{counts:?}");
    let again = reconcile(&store, &policy, &event("a"), &options).await;
    assert_eq!(again.outcome, Outcome::Compliant, "{again:?}");
}

/// In a versioned bucket the exact version is re-keyed, and no version is added.
#[tokio::test]
async fn the_events_version_is_re_keyed_and_no_version_is_added() {
    let (store, policy) = setup();
    memory(&store).enable_versioning("src-bucket");
    let version = memory(&store)
        .put_object(
            "src-bucket",
            "v",
            crate::store::memory::StoredObject {
                body: b"versioned".to_vec(),
                ..Default::default()
            },
        )
        .unwrap();
    let mut object = event("v");
    object.location.version_id = Some(version);
    let report = reconcile(
        &store,
        &policy,
        &object,
        &options(ServerSupport::S3_WITH_READS),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    let versions = memory(&store).versions("src-bucket", "v");
    assert_eq!(versions.len(), 1, "no new version");
    assert!(is_under_the_key(&versions[0]));
}

/// An archived object whose only gap is its encryption is re-keyed where it is, without a
/// restore: `applied`, where a copy would have left it `skipped`.
#[tokio::test]
async fn an_archived_object_is_re_keyed_without_a_restore() {
    let (store, policy) = setup();
    let mut archived = memory(&store).object("src-bucket", "a").unwrap();
    archived.storage_class = StorageClass::DeepArchive;
    memory(&store).put_object("src-bucket", "a", archived);
    let report = reconcile_a(&store, &policy, ServerSupport::S3_WITH_READS).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    let object = memory(&store).object("src-bucket", "a").unwrap();
    assert!(is_under_the_key(&object));
    assert_eq!(object.storage_class, StorageClass::DeepArchive);
    assert_eq!(object.restore_requested, None, "no restore");
}

/// A server without the operation (501) keeps the object; it is re-keyed by copying, and the
/// next object of the bucket is not tried again.
#[tokio::test]
async fn a_server_without_it_falls_back_to_one_copy_and_is_remembered() {
    let (store, policy) = setup();
    memory(&store).without_update_object_encryption();
    let options = options(ServerSupport::S3_WITH_READS);
    for key in ["a", "b"] {
        let report = reconcile(&store, &policy, &event(key), &options).await;
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        let names: Vec<&str> = report.actions.iter().map(Action::name).collect();
        assert_eq!(names, ["rewrite"], "{report:?}");
        let object = memory(&store).object("src-bucket", key).unwrap();
        assert!(is_under_the_key(&object));
        assert_eq!(object.body, b"payload");
    }
    let counts = store.counts();
    assert_eq!((counts.rekeys, counts.copies), (1, 2), "{counts:?}");
}

/// A refusal of one object (here `AccessDenied`, as for a key owned by another account) falls
/// back for that object only.
#[tokio::test]
async fn a_refusal_of_one_object_falls_back_for_it_only() {
    let (store, policy) = setup();
    store.inner().fail_call(
        Operation::UpdateObjectEncryption,
        1,
        StoreError::Service {
            operation: "UpdateObjectEncryption",
            code: "AccessDenied".into(),
            status: 403,
            message:
                "The AWS KMS key in the request must be owned by the same account as the bucket."
                    .into(),
        },
    );
    let options = options(ServerSupport::S3_WITH_READS);
    let first = reconcile(&store, &policy, &event("a"), &options).await;
    let second = reconcile(&store, &policy, &event("b"), &options).await;
    let names = |r: &ObjectReport| r.actions.iter().map(Action::name).collect::<Vec<_>>();
    assert_eq!(names(&first), ["rewrite"], "{first:?}");
    assert_eq!(names(&second), ["update_encryption"], "{second:?}");
    assert_eq!(store.counts().rekeys, 2);
}

/// Where the server is not known to implement it, it is never sent.
#[tokio::test]
async fn it_is_never_sent_to_a_server_not_known_to_have_it() {
    let (store, policy) = setup();
    let report = reconcile_a(&store, &policy, ServerSupport::MINIMAL).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    assert_eq!(store.counts().rekeys, 0);
    assert!(is_under_the_key(
        &memory(&store).object("src-bucket", "a").unwrap()
    ));
}

/// A refusal after the backup was made: the copy that re-keys is planned knowing the backup is
/// there (no second backup copy, not even a refused one), and the report lists both writes.
#[tokio::test]
async fn a_fallback_after_the_backup_does_not_copy_the_backup_again() {
    let (store, _) = setup();
    memory(&store).create_bucket("backup-bucket");
    memory(&store).without_update_object_encryption();
    let policy = parse_policy(&format!(
        "backup: backup-bucket\nencryption: {{ algorithm: aws:kms, kms_key_id: \"{KEY}\", bucket_key: true }}"
    ))
    .unwrap();
    let report = reconcile_a(&store, &policy, ServerSupport::S3_WITH_READS).await;
    assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
    let names: Vec<&str> = report.actions.iter().map(Action::name).collect();
    assert_eq!(names, ["backup", "rewrite"], "{report:?}");
    let counts = store.counts();
    assert_eq!((counts.rekeys, counts.copies), (1, 2), "{counts:?}");
    assert!(is_under_the_key(
        &memory(&store).object("src-bucket", "a").unwrap()
    ));
}
