//! Shared integration-test setup: a real moto S3 server on 127.0.0.1 per test (stopped by PID
//! when the test ends, pass or fail), an SDK client for it, and the sample objects and events
//! from `events/`.

#![allow(dead_code)]

pub mod cfn;
pub mod cli_process;
pub mod fault_proxy;
pub mod inventory_files;
pub mod localstack;
pub mod race_proxy;
pub mod recording_server;
pub mod region_proxy;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use s3_policy_processor::handler::{DEFAULT_MAX_CONCURRENCY, Processor};
use s3_policy_processor::policy::Policy;
use s3_policy_processor::policy::document::parse_policy;
use s3_policy_processor::store::counting::CountingStore;
use s3_policy_processor::store::s3::S3Store;
use s3_policy_processor::store::server::ServerSupport;
use serde_json::Value;

pub const SOURCE: &str = "s3pp-source";
pub const BACKUP: &str = "s3pp-backup";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A moto server process on a free loopback port.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl S3Server {
    /// Starts moto from `MOTO_SERVER` or the project venv and waits until it answers.
    pub fn start() -> Self {
        let binary = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv/bin/moto_server"));
        assert!(
            binary.exists(),
            "moto server not found at {}; run scripts/test (it installs the pinned test tools into .venv)",
            binary.display()
        );
        // A port found free here can be taken by another test's server before moto binds it;
        // moto then exits while a TCP probe would reach the other server. So wait for moto's
        // own "Running on" line, and try a new port if it exits instead.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free loopback port")
                .port();
            let mut child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start moto server");
            let stderr = child.stderr.take().expect("piped stderr");
            let (listening, bound) = std::sync::mpsc::channel();
            // Reads (and drains, so moto never blocks on a full pipe) until moto exits.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("Running on") {
                        let _ = listening.send(());
                    }
                }
            });
            let server = Self {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            match bound.recv_timeout(Duration::from_secs(60)) {
                Ok(()) => return server,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("moto server did not start on port {port}")
                }
                Err(RecvTimeoutError::Disconnected) => continue, // exited: port taken; dropped = reaped
            }
        }
        panic!("moto server could not bind a free loopback port in 5 tries");
    }

    /// An SDK client for this server.
    pub fn client(&self) -> Client {
        client_for(&self.endpoint)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 client for a local endpoint (path style, dummy credentials).
pub fn client_for(endpoint: &str) -> Client {
    let builder = aws_sdk_s3::Config::builder()
        .behavior_version(s3_policy_processor::setup::behavior_version())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .force_path_style(true);
    Client::from_conf(s3_policy_processor::store::s3::with_resilience(builder).build())
}

/// A KMS client for a local endpoint (dummy credentials, us-east-1).
pub fn kms_client_for(endpoint: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(s3_policy_processor::setup::behavior_version())
        .endpoint_url(endpoint)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// An SQS client for a local endpoint (dummy credentials, us-east-1).
pub fn sqs_client_for(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(s3_policy_processor::setup::behavior_version())
        .endpoint_url(endpoint)
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Puts `body` at `bucket/key` with nothing else set.
pub async fn put_bytes(client: &Client, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

/// Asserts a source object is what the tests' usual policy (`encryption: AES256`,
/// `storage_class: STANDARD_IA`, `tags: { processed-by: s3pp }`) makes of it.
pub async fn assert_source_in_line(client: &Client, key: &str) {
    let head = head_of(client, SOURCE, key).await;
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256),
        "{key}"
    );
    assert_eq!(
        head.storage_class(),
        Some(&aws_sdk_s3::types::StorageClass::StandardIa),
        "{key}"
    );
    assert_eq!(
        tags(client, SOURCE, key)
            .await
            .get("processed-by")
            .map(String::as_str),
        Some("s3pp"),
        "{key}"
    );
}

/// The example policy from `examples/policy.yaml`.
pub fn example_policy() -> Policy {
    policy(&std::fs::read_to_string(repo().join("examples/policy.yaml")).expect("example policy"))
}

/// The example policy's rules for any bucket (its own name its bucket): each rule's backups
/// under a prefix that names the source bucket, so records for other buckets are reconciled
/// too (and fail where the bucket is missing).
pub const ANY_BUCKET_POLICY: &str = "rules:\n  - name: reports\n    match: { prefix: reports/, suffix: .csv, min_size: 131072 }\n    encryption: AES256\n    storage_class: STANDARD_IA\n    backup: { bucket: s3pp-backup, prefix: \"reports-backup/{bucket}/\", storage_class: GLACIER_IR }\n    tags: { processed-by: s3-policy-processor }\n  - name: everything-else\n    encryption: AES256\n    backup: { bucket: s3pp-backup, prefix: \"other/{bucket}/\" }\n    tags: { processed-by: s3-policy-processor }";

/// Parses a policy or fails the test.
pub fn policy(text: &str) -> Policy {
    parse_policy(text).expect("test policy is valid")
}

/// What moto does of S3's request-saving behaviours: HEAD reports `x-amz-tagging-count` and
/// the Object Lock headers (the tests' credentials may read both), but CopyObject ignores
/// `If-None-Match`, so the backup location must be read before copying, and it does not
/// implement UpdateObjectEncryption (it takes it for a PutObject) or annotations, so neither
/// is ever sent.
pub const MOTO: ServerSupport = ServerSupport {
    head_reports_tag_count: true,
    head_reports_object_lock: true,
    copy_if_none_match: false,
    update_object_encryption: false,
    object_annotations: false,
};

/// A processor over moto with a call counter.
pub fn processor(client: &Client, policy: Policy) -> Processor<CountingStore<S3Store>> {
    processor_trusting(client, policy, MOTO)
}

/// A processor with a call counter over a server that does what `server` says.
pub fn processor_trusting(
    client: &Client,
    policy: Policy,
    server: ServerSupport,
) -> Processor<CountingStore<S3Store>> {
    Processor::new(
        CountingStore::new(S3Store::from_client(client.clone())),
        policy,
        DEFAULT_MAX_CONCURRENCY,
        false,
    )
    .with_server_support(server)
}

/// What LocalStack 2026.3.0 does of S3's behaviours, as the function is configured for it (an
/// endpoint override): HEAD's tag count and Object Lock headers trusted as the template's role
/// may (the tests' credentials may read both), conditional copies honoured; no
/// UpdateObjectEncryption (501) and no annotations (it takes PutObjectAnnotation for a
/// PutObject), so neither is sent.
pub const LOCALSTACK: ServerSupport = ServerSupport {
    update_object_encryption: false,
    object_annotations: false,
    ..ServerSupport::S3_WITH_READS
};

/// A processor over a server that behaves like S3 (LocalStack) with a call counter.
pub fn s3_like_processor(client: &Client, policy: Policy) -> Processor<CountingStore<S3Store>> {
    processor_trusting(client, policy, LOCALSTACK)
}

/// Reads a JSON file from `events/`.
pub fn event(name: &str) -> Value {
    read_json(&repo().join("events").join(name))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One object of `events/objects.json`.
#[derive(Debug, Clone)]
pub struct SampleObject {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// The sample objects the sample events refer to.
pub fn sample_objects() -> Vec<SampleObject> {
    let doc = read_json(&repo().join("events/objects.json"));
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    doc["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            let repeat = o["repeat"].as_u64().unwrap_or(1) as usize;
            SampleObject {
                id: o["id"].as_str().unwrap_or_default().to_owned(),
                bucket: o["bucket"].as_str().unwrap_or_default().to_owned(),
                key: o["key"].as_str().unwrap_or_default().to_owned(),
                content_type: o["content_type"].as_str().unwrap_or_default().to_owned(),
                metadata: map(&o["metadata"]),
                tags: map(&o["tags"]),
                body: o["body"]
                    .as_str()
                    .unwrap_or_default()
                    .repeat(repeat)
                    .into_bytes(),
            }
        })
        .collect()
}

/// The sample object with this id.
pub fn sample(id: &str) -> SampleObject {
    sample_objects()
        .into_iter()
        .find(|o| o.id == id)
        .expect("sample object id")
}

/// Creates the (empty) source and backup buckets.
pub async fn create_buckets(client: &Client) {
    for bucket in [SOURCE, BACKUP] {
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }
}

/// Turns versioning on for a bucket.
pub async fn enable_versioning(client: &Client, bucket: &str) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("enable versioning on {bucket}: {e:?}"));
}

/// Puts one version of `key` per body into a versioned bucket; returns their version ids.
pub async fn put_versions(
    client: &Client,
    bucket: &str,
    key: &str,
    bodies: &[&str],
) -> Vec<String> {
    let mut versions = Vec::new();
    for body in bodies {
        let out = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
        versions.push(
            out.version_id()
                .expect("a versioned put returns a version id")
                .to_owned(),
        );
    }
    versions
}

/// Creates the source and backup buckets and uploads every sample object.
pub async fn seed(client: &Client) {
    create_buckets(client).await;
    for object in sample_objects() {
        upload(client, &object).await;
    }
}

/// Uploads one sample object with its content type, metadata and tags.
pub async fn upload(client: &Client, object: &SampleObject) {
    let tagging = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(object.tags.iter())
        .finish();
    client
        .put_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .body(ByteStream::from(object.body.clone()))
        .content_type(&object.content_type)
        .set_metadata(Some(object.metadata.clone().into_iter().collect()))
        .set_tagging((!tagging.is_empty()).then_some(tagging))
        .send()
        .await
        .expect("upload sample object");
}

/// HEAD of an object (the test fails if it is missing).
pub async fn head_of(client: &Client, bucket: &str, key: &str) -> HeadObjectOutput {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HEAD {bucket}/{key}: {e:?}"))
}

/// An object's user metadata without the record a backup carries of its source
/// (`s3pp-source-*`): what the source itself had.
pub fn user_metadata(head: &HeadObjectOutput) -> BTreeMap<String, String> {
    head.metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("s3pp-source-"))
        .collect()
}

/// The source bucket and ETag a backup records (`x-amz-meta-s3pp-source-*`), if it has a record.
pub fn recorded_source(head: &HeadObjectOutput) -> Option<(String, String)> {
    let metadata = head.metadata()?;
    Some((
        metadata.get("s3pp-source-bucket")?.clone(),
        metadata.get("s3pp-source-etag")?.clone(),
    ))
}

/// Tags of an object.
pub async fn tags(client: &Client, bucket: &str, key: &str) -> BTreeMap<String, String> {
    client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get tags")
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// Body of an object.
pub async fn body(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

/// The bodies of every version of `bucket/key`.
pub async fn version_bodies(s3: &Client, bucket: &str, key: &str) -> Vec<Vec<u8>> {
    let listed = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    let mut bodies = Vec::new();
    for version in listed.versions().iter().filter(|v| v.key() == Some(key)) {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(version.version_id().unwrap_or_default())
            .send()
            .await
            .expect("get version");
        bodies.push(
            object
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .to_vec(),
        );
    }
    bodies
}

/// Keys in a bucket.
pub async fn keys(client: &Client, bucket: &str) -> Vec<String> {
    client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// A multipart upload at `destination` with nothing set but the checksum algorithm (STANDARD,
/// the bucket's encryption, no headers, metadata or tags).
pub fn plain_multipart_start(
    destination: s3_policy_processor::object::ObjectLocation,
    algorithm: &'static str,
) -> s3_policy_processor::store::MultipartStart {
    s3_policy_processor::store::MultipartStart {
        destination,
        storage_class: s3_policy_processor::object::StorageClass::Standard,
        encryption: None,
        content_type: None,
        content_headers: Default::default(),
        metadata: Default::default(),
        tags: Default::default(),
        website_redirect: None,
        checksum_algorithm: Some(algorithm),
    }
}

/// `key`'s versions as the function's S3 store lists them, asking for `page` versions per
/// ListObjectVersions page: five versions of `key` beside two of a key it prefixes must come
/// back whole, newest first, over several pages.
pub async fn assert_versions_listed_over_pages(client: &Client, bucket: &str, page: i32) {
    use s3_policy_processor::object::ObjectLocation;
    use s3_policy_processor::store::ObjectStore;
    enable_versioning(client, bucket).await;
    let bodies = ["v1", "v2", "v3", "v4", "v5"];
    let mut expected = put_versions(client, bucket, "doc.txt", &bodies).await;
    put_versions(client, bucket, "doc.txt.old", &["old1", "old2"]).await;
    expected.reverse();
    let store = S3Store::from_client(client.clone()).with_versions_page(page);
    let listed = store
        .list_versions(&ObjectLocation::current(bucket, "doc.txt"))
        .await
        .unwrap_or_else(|e| panic!("list versions of {bucket}/doc.txt: {e}"));
    let ids: Vec<&str> = listed.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(
        ids, expected,
        "every version of doc.txt, newest first, and nothing else"
    );
    assert!(listed[0].is_latest && listed[1..].iter().all(|v| !v.is_latest));
}
