//! Soak: many object events — duplicated, out of order, some for versions already replaced —
//! delivered SQS-style in batches of 10 through a proxy that fails a share of all S3 requests
//! (500, 503 SlowDown, resets, 200-with-error copies, delays), with failed messages redelivered
//! until SQS would move them to the dead-letter queue (5 receives). Afterwards every object must
//! comply and have an exact backup, no multipart upload may be left, and no object may have been
//! rewritten more than once.
//!
//! CI runs a small version. The full one: `SOAK_OBJECTS=10000 cargo test --test soak -- --nocapture`
//! (`SOAK_FAULT_RATE` sets the share of requests given a fault, default 0.12; `SOAK_SDK_ATTEMPTS`
//! the SDK attempts per request, default 2 so that redelivery is exercised too — production uses 5).

mod support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures::stream::{self, StreamExt};
use s3_policy_processor::apply::copy::CopySettings;
use serde_json::{Value, json};
use support::fault_proxy::FaultProxy;
use support::*;

const MIB: usize = 1024 * 1024;
const MAX_RECEIVES: usize = 5;
const POLICY: &str = "ia_min_size: 0\nrules:\n  - encryption: AES256\n    storage_class: STANDARD_IA\n    backup: { bucket: s3pp-backup }\n    tags: { processed-by: s3pp }";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Upload {
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
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": SOURCE},
            "object": {"key": key, "versionId": upload.version, "eTag": upload.etag, "sequencer": upload.sequencer}}}]})
    .to_string()
}

async fn put(s3: &Client, key: &str, body: Vec<u8>, sequencer: &str) -> Upload {
    let out = s3
        .put_object()
        .bucket(SOURCE)
        .key(key)
        .body(ByteStream::from(body))
        .content_type("text/plain")
        .metadata("origin", "soak")
        .tagging("source=soak")
        .send()
        .await
        .expect("upload");
    Upload {
        key: key.to_owned(),
        version: out.version_id().unwrap_or_default().to_owned(),
        etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        sequencer: sequencer.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_faults_duplicates_and_reordering() {
    let objects: usize = env_or("SOAK_OBJECTS", 300);
    let fault_rate: f64 = env_or("SOAK_FAULT_RATE", 0.12);
    let sdk_attempts: u32 = env_or("SOAK_SDK_ATTEMPTS", 2);
    let started = Instant::now();
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    enable_versioning(&s3, SOURCE).await;

    // Objects: small ones, every 10th replaced by a second version, and three multipart-sized.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut specs: Vec<(String, Vec<u8>, &str)> = (0..objects)
        .map(|i| {
            (
                format!("soak/{i:05} item+{}.txt", i % 3),
                format!("object {i}\n").repeat(20 + i % 50).into_bytes(),
                "01",
            )
        })
        .collect();
    for j in 0..3.min(objects) {
        specs.push((
            format!("soak/large {j}.bin"),
            vec![b'a' + j as u8; 7 * MIB + j],
            "01",
        ));
    }
    let replaced: Vec<(String, Vec<u8>, &str)> = (0..objects)
        .step_by(10)
        .map(|i| {
            (
                specs[i].0.clone(),
                format!("second version of {i}\n").repeat(30).into_bytes(),
                "02",
            )
        })
        .collect();
    let mut uploads: Vec<Upload> = stream::iter(specs.into_iter())
        .map(|(key, body, seq)| {
            let s3 = s3.clone();
            async move { put(&s3, &key, body, seq).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (key, body, seq) in replaced {
        uploads.push(put(&s3, &key, body, seq).await);
    }
    let uploaded_versions: HashMap<String, usize> =
        uploads.iter().fold(HashMap::new(), |mut m, u| {
            *m.entry(u.key.clone()).or_default() += 1;
            m
        });

    // Events: one per upload, a fifth delivered twice, all shuffled.
    let mut bodies: Vec<String> = uploads.iter().map(notification).collect();
    let duplicates: Vec<String> = bodies
        .iter()
        .filter(|_| rng.u8(0..5) == 0)
        .cloned()
        .collect();
    bodies.extend(duplicates);
    rng.shuffle(&mut bodies);
    let events = bodies.len();

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
        ..CopySettings::default()
    });

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

    // Verify against the server directly (no faults).
    let mut verified = 0;
    let keys: Vec<String> = uploaded_versions.keys().cloned().collect();
    for key in &keys {
        assert_source_in_line(&s3, key).await;
        let head = head_of(&s3, SOURCE, key).await;
        let backup = head_of(&s3, BACKUP, key).await;
        assert_eq!(backup.metadata(), head.metadata(), "{key}: backup metadata");
        assert_eq!(backup.content_type(), head.content_type(), "{key}");
        assert_eq!(
            body(&s3, BACKUP, key).await,
            body(&s3, SOURCE, key).await,
            "{key}: backup bytes"
        );
        verified += 1;
    }
    let orphans = s3
        .list_multipart_uploads()
        .bucket(SOURCE)
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
        + s3.list_multipart_uploads()
            .bucket(BACKUP)
            .send()
            .await
            .unwrap()
            .uploads()
            .len();
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    let mut marker: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(SOURCE)
            .set_key_marker(marker.0.clone())
            .set_version_id_marker(marker.1.clone())
            .send()
            .await
            .unwrap();
        for version in page.versions() {
            *versions
                .entry(version.key().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        marker = (
            page.next_key_marker().map(str::to_owned),
            page.next_version_id_marker().map(str::to_owned),
        );
    }
    let max_rewrites = versions
        .iter()
        .map(|(key, n)| n - uploaded_versions.get(key).copied().unwrap_or(0))
        .max()
        .unwrap_or(0);

    println!(
        "soak: {events} events ({} uploads, {} duplicates) in {deliveries} deliveries; {}; {verified} objects verified; {} dead letters; {orphans} orphaned multipart uploads; max in-place writes per object {max_rewrites}; {:.1} s",
        uploads.len(),
        events - uploads.len(),
        proxy.stats.summary(),
        dead_letters.len(),
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
    assert_eq!(verified, keys.len());
    assert_eq!(orphans, 0, "no orphaned multipart uploads");
    assert!(
        max_rewrites <= 1,
        "an object was rewritten {max_rewrites} times"
    );
}
