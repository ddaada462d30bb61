//! Soak: many object events — duplicated, out of order, some for versions already replaced —
//! from two source buckets with the same keys, delivered SQS-style in batches of 10 through a
//! proxy that fails a share of all S3 requests (500, 503 SlowDown, resets, 200-with-error
//! copies, delays), with failed messages redelivered until SQS would move them to the
//! dead-letter queue (5 receives). Meanwhile a producer has multipart uploads open at keys
//! being rewritten, and completes them afterwards. Then every object must comply and have a
//! backup byte-identical to a version of its own source (none mixed, none another bucket's),
//! every producer upload must complete, no upload of the function's may be left, and no object
//! may have been rewritten more than once.
//!
//! CI runs a small version. The full one: `SOAK_OBJECTS=10000 cargo test --test soak -- --nocapture`
//! (`SOAK_FAULT_RATE` sets the share of requests given a fault, default 0.12; `SOAK_SDK_ATTEMPTS`
//! the SDK attempts per request, default 2 so that redelivery is exercised too — production uses 5).

mod support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::stream::{self, StreamExt};
use s3_policy_processor::apply::copy::CopySettings;
use s3_policy_processor::apply::copy_state::CopyStateLocation;
use s3_policy_processor::handler::Processor;
use s3_policy_processor::store::ObjectStore;
use serde_json::{Value, json};
use support::fault_proxy::FaultProxy;
use support::*;

const MIB: usize = 1024 * 1024;
const MAX_RECEIVES: usize = 5;
const POLICY: &str = "ia_min_size: 0\nrules:\n  - encryption: AES256\n    storage_class: STANDARD_IA\n    backup: { bucket: s3pp-backup }\n    tags: { processed-by: s3pp }";
/// The second source bucket, with the same keys as the first: one rule covers both, and each
/// bucket's backups go under its own name.
const OTHER_SOURCE: &str = "s3pp-source-two";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Upload {
    bucket: String,
    key: String,
    version: String,
    etag: String,
    sequencer: String,
}

fn notification(upload: &Upload) -> String {
    let key = form_urlencoded::byte_serialize(upload.key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/");
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": upload.bucket},
            "object": {"key": key, "versionId": upload.version, "eTag": upload.etag, "sequencer": upload.sequencer}}}]})
    .to_string()
}

async fn put(s3: &Client, bucket: &str, key: &str, body: Vec<u8>, sequencer: &str) -> Upload {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .content_type("text/plain")
        .metadata("origin", "soak")
        .tagging("source=soak")
        .send()
        .await
        .expect("upload");
    Upload {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: out.version_id().unwrap_or_default().to_owned(),
        etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        sequencer: sequencer.to_owned(),
    }
}

/// A producer's multipart upload open at a key the function is about to rewrite: one part
/// uploaded, completed after the function is done.
struct ProducerUpload {
    bucket: String,
    key: String,
    upload_id: String,
    part: CompletedPart,
    body: Vec<u8>,
}

async fn start_producer(s3: &Client, bucket: &str, key: &str, body: Vec<u8>) -> ProducerUpload {
    let upload_id = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("text/plain")
        .send()
        .await
        .expect("producer starts an upload")
        .upload_id()
        .expect("upload id")
        .to_owned();
    let out = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("producer uploads its part");
    ProducerUpload {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        upload_id,
        part: CompletedPart::builder()
            .part_number(1)
            .e_tag(out.e_tag().unwrap_or_default())
            .build(),
        body,
    }
}

/// Completes a producer's upload; `None` when it was lost (aborted, adopted or completed by
/// someone else), else the new object as an upload to deliver the event of.
async fn finish_producer(s3: &Client, producer: &ProducerUpload) -> Option<Upload> {
    let out = s3
        .complete_multipart_upload()
        .bucket(&producer.bucket)
        .key(&producer.key)
        .upload_id(&producer.upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(producer.part.clone())
                .build(),
        )
        .send()
        .await
        .ok()?;
    (body(s3, &producer.bucket, &producer.key).await == producer.body).then(|| Upload {
        bucket: producer.bucket.clone(),
        key: producer.key.clone(),
        version: out.version_id().unwrap_or_default().to_owned(),
        etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        sequencer: "03".into(),
    })
}

/// Delivers `bodies` SQS-style, 10 a batch, redelivering failed messages until they have been
/// received [`MAX_RECEIVES`] times; returns (deliveries, dead letters).
async fn deliver<S: ObjectStore>(
    processor: &Processor<S>,
    bodies: Vec<String>,
    started: Instant,
) -> (usize, Vec<String>) {
    let mut queue: VecDeque<(String, String, usize)> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| (format!("m-{i}"), body, 0))
        .collect();
    let mut dead_letters = Vec::new();
    let mut deliveries = 0;
    while !queue.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "soak exceeded its time bound"
        );
        let batch: Vec<(String, String, usize)> =
            (0..10).filter_map(|_| queue.pop_front()).collect();
        deliveries += batch.len();
        let records: Vec<Value> = batch
            .iter()
            .map(|(id, body, _)| {
                json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})
            })
            .collect();
        let response = processor
            .handle(&json!({"Records": records}))
            .await
            .expect("SQS batches never fail whole")
            .response();
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x["itemIdentifier"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for (id, body, receives) in batch {
            if failed.contains(&id.as_str()) {
                if receives + 1 >= MAX_RECEIVES {
                    dead_letters.push(id);
                } else {
                    queue.push_back((id, body, receives + 1));
                }
            }
        }
    }
    (deliveries, dead_letters)
}

/// Each upload's event, a fifth of them twice, shuffled.
fn events_of(uploads: &[Upload], rng: &mut fastrand::Rng) -> Vec<String> {
    let mut bodies: Vec<String> = uploads.iter().map(notification).collect();
    let duplicates: Vec<String> = bodies
        .iter()
        .filter(|_| rng.u8(0..5) == 0)
        .cloned()
        .collect();
    bodies.extend(duplicates);
    rng.shuffle(&mut bodies);
    bodies
}

/// Open multipart uploads in a bucket.
async fn open_uploads(s3: &Client, bucket: &str) -> usize {
    s3.list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_faults_duplicates_reordering_and_producers() {
    let objects: usize = env_or("SOAK_OBJECTS", 300);
    let fault_rate: f64 = env_or("SOAK_FAULT_RATE", 0.12);
    let sdk_attempts: u32 = env_or("SOAK_SDK_ATTEMPTS", 2);
    let started = Instant::now();
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    s3.create_bucket()
        .bucket(OTHER_SOURCE)
        .send()
        .await
        .expect("second source bucket");
    for bucket in [SOURCE, OTHER_SOURCE] {
        enable_versioning(&s3, bucket).await;
    }

    // Objects: small ones, every 10th replaced by a second version, three multipart-sized;
    // every 4th key also in the second bucket, with other bytes.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut specs: Vec<(&str, String, Vec<u8>, &str)> = (0..objects)
        .map(|i| {
            (
                SOURCE,
                format!("soak/{i:05} item+{}.txt", i % 3),
                format!("object {i}\n").repeat(20 + i % 50).into_bytes(),
                "01",
            )
        })
        .collect();
    for j in 0..3.min(objects) {
        specs.push((
            SOURCE,
            format!("soak/large {j}.bin"),
            vec![b'a' + j as u8; 7 * MIB + j],
            "01",
        ));
    }
    let others: Vec<(&str, String, Vec<u8>, &str)> = (0..objects)
        .step_by(4)
        .map(|i| {
            (
                OTHER_SOURCE,
                specs[i].1.clone(),
                format!("the other bucket's object {i}\n")
                    .repeat(25)
                    .into_bytes(),
                "01",
            )
        })
        .collect();
    specs.extend(others);
    let replaced: Vec<(&str, String, Vec<u8>, &str)> = (0..objects)
        .step_by(10)
        .map(|i| {
            (
                SOURCE,
                specs[i].1.clone(),
                format!("second version of {i}\n").repeat(30).into_bytes(),
                "02",
            )
        })
        .collect();
    let mut uploads: Vec<Upload> = stream::iter(specs.into_iter())
        .map(|(bucket, key, body, seq)| {
            let s3 = s3.clone();
            async move { put(&s3, bucket, &key, body, seq).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (bucket, key, body, seq) in replaced {
        uploads.push(put(&s3, bucket, &key, body, seq).await);
    }

    // A producer writing new versions of keys being rewritten: the large ones (multipart
    // rewrites) and every 25th small one, each with an upload open and a part uploaded.
    let mut producers = Vec::new();
    for (i, upload) in uploads.iter().enumerate() {
        if upload.bucket == SOURCE && (upload.key.contains("large") || i % 25 == 0) {
            let body = format!("producer's version of {}\n", upload.key)
                .repeat(10)
                .into_bytes();
            producers.push(start_producer(&s3, &upload.bucket, &upload.key, body).await);
        }
    }

    let proxy = FaultProxy::start(
        server.endpoint.trim_start_matches("http://").to_owned(),
        fault_rate,
        42,
    )
    .await;
    let proxied = client_for(&proxy.endpoint);
    let proxied = Client::from_conf(
        proxied
            .config()
            .to_builder()
            .retry_config(
                aws_sdk_s3::config::retry::RetryConfig::standard()
                    .with_max_attempts(sdk_attempts)
                    .with_initial_backoff(Duration::from_millis(20)),
            )
            .build(),
    );
    let processor = processor(&proxied, policy(POLICY)).with_copy_settings(CopySettings {
        multipart_threshold: 6 * MIB as u64,
        part_size: 5 * MIB as u64,
        parts_in_flight: 2,
        state: Some(
            CopyStateLocation::parse(&format!("s3://{BACKUP}/_s3pp/copy-state/"))
                .expect("state location"),
        ),
        ..CopySettings::default()
    });

    let first_round = events_of(&uploads, &mut rng);
    let mut events = first_round.len();
    let (mut deliveries, mut dead_letters) = deliver(&processor, first_round, started).await;

    // The producer finishes: every upload it had open must complete, with its own bytes.
    let mut finished = Vec::new();
    let mut lost = Vec::new();
    for producer in &producers {
        match finish_producer(&s3, producer).await {
            Some(upload) => finished.push(upload),
            None => lost.push(producer.key.clone()),
        }
    }
    let second_round = events_of(&finished, &mut rng);
    events += second_round.len();
    let (more, dead) = deliver(&processor, second_round, started).await;
    deliveries += more;
    dead_letters.extend(dead);
    uploads.extend(finished);

    let uploaded_versions: HashMap<(String, String), usize> =
        uploads.iter().fold(HashMap::new(), |mut m, u| {
            *m.entry((u.bucket.clone(), u.key.clone())).or_default() += 1;
            m
        });

    // Verify against the server directly (no faults).
    let mut verified = 0;
    let mut mixed = Vec::new();
    let mut cross_source = Vec::new();
    let mut max_rewrites = 0;
    let objects_seen: BTreeMap<(String, String), usize> = uploaded_versions
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for ((bucket, key), uploaded) in &objects_seen {
        let head = head_of(&s3, bucket, key).await;
        assert_eq!(
            head.storage_class(),
            Some(&aws_sdk_s3::types::StorageClass::StandardIa),
            "{bucket}/{key}"
        );
        assert_eq!(
            tags(&s3, bucket, key)
                .await
                .get("processed-by")
                .map(String::as_str),
            Some("s3pp"),
            "{bucket}/{key}"
        );
        let backup_key = format!("{bucket}/{key}");
        let backup = head_of(&s3, BACKUP, &backup_key).await;
        assert_eq!(
            user_metadata(&backup),
            user_metadata(&head),
            "{backup_key}: metadata"
        );
        assert_eq!(backup.content_type(), head.content_type(), "{backup_key}");
        let backup_body = body(&s3, BACKUP, &backup_key).await;
        let versions = version_bodies(&s3, bucket, key).await;
        if !versions.contains(&backup_body) {
            mixed.push(backup_key.clone());
        }
        if recorded_source(&backup).map(|(b, _)| b).as_deref() != Some(bucket.as_str()) {
            cross_source.push(backup_key.clone());
        }
        assert_eq!(
            backup_body,
            body(&s3, bucket, key).await,
            "{backup_key}: the backup holds the current bytes"
        );
        // Each write still current when its events are handled is rewritten at most once: the
        // first round's last write of a key, and the producer's (handled in the second round).
        let rewritable = 1 + producers
            .iter()
            .filter(|p| p.bucket == *bucket && p.key == *key)
            .count();
        max_rewrites = max_rewrites.max((versions.len() - uploaded + 1).saturating_sub(rewritable));
        verified += 1;
    }
    let orphans = open_uploads(&s3, SOURCE).await
        + open_uploads(&s3, OTHER_SOURCE).await
        + open_uploads(&s3, BACKUP).await;

    println!(
        "soak: {events} events ({} uploads, {} producer uploads) in {deliveries} deliveries; {}; {verified} objects verified; {} dead letters; {} producer uploads lost; {} mixed backups; {} cross-source backups; {orphans} orphaned multipart uploads; max in-place writes per object write {max_rewrites}; {:.1} s",
        uploads.len(),
        producers.len(),
        proxy.stats.summary(),
        dead_letters.len(),
        lost.len(),
        mixed.len(),
        cross_source.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        dead_letters.is_empty(),
        "messages that exhausted their receives: {dead_letters:?}"
    );
    let requests = proxy
        .stats
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        proxy.stats.failures() * 20 >= requests,
        "at least 5% of requests failed by injection"
    );
    assert!(!producers.is_empty());
    assert_eq!(lost, Vec::<String>::new(), "producer uploads lost");
    assert_eq!(
        mixed,
        Vec::<String>::new(),
        "backups that are no version of their source"
    );
    assert_eq!(
        cross_source,
        Vec::<String>::new(),
        "backups of another bucket's object"
    );
    assert_eq!(verified, objects_seen.len());
    assert_eq!(orphans, 0, "no orphaned multipart uploads");
    assert!(
        max_rewrites <= 1,
        "an object was rewritten {max_rewrites} times"
    );
}
