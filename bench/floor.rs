//! The floor for the per-object benchmark: a bare aws-sdk-s3 program that issues the MINIMUM S3
//! requests for `bench/policy.yaml` (SSE-S3, Standard-IA, a backup, one tag) and nothing else:
//! no event parsing, no plan. Per new object that is 3 requests:
//!
//! 1. HeadObject (the state to act on, and its ETag);
//! 2. CopyObject to the backup bucket with `If-None-Match: *`, guarded by
//!    `x-amz-copy-source-if-match` (only on a `412`, a redelivery, is the backup HEADed);
//! 3. one in-place CopyObject with class, encryption and tags, guarded by
//!    `x-amz-copy-source-if-match` and destination `If-Match`.
//!
//! GetObjectTagging is sent only when HEAD reports `x-amz-tagging-count` (the object's own tags
//! are then kept next to the policy's). Objects run with the given concurrency (`default`: the
//! function's own default), on one thread like the function.
//!
//! Usage: floor ENDPOINT SOURCE_BUCKET BACKUP_BUCKET PREFIX COUNT CONCURRENCY|default
//! Prints one JSON line: objects, seconds, failures, peak RSS, concurrency.
//!
//! `floor lambda` is the same floor inside a bare `lambda_runtime` handler, for the
//! one-record-per-invocation and cold-start benchmarks (bench/production.py): the client is
//! built before the first `/next`, and each invocation's objects (an S3 notification, S3
//! notifications inside SQS messages, or Batch Operations tasks) get the same requests, with
//! the backup bucket from `BACKUP_BUCKET`.

use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption, StorageClass, TaggingDirective};
use futures::stream::{self, StreamExt};
use s3_policy_processor::handler::DEFAULT_MAX_CONCURRENCY;
use s3_policy_processor::keys::copy_source;

/// The tag the policy adds.
const POLICY_TAG: (&str, &str) = ("processed-by", "s3-policy-processor");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("lambda") {
        return lambda_floor().await.map_err(|e| e.to_string().into());
    }
    let [_, endpoint, source, backup, prefix, count, concurrency] = args.as_slice() else {
        return Err(
            "usage: floor ENDPOINT SOURCE_BUCKET BACKUP_BUCKET PREFIX COUNT CONCURRENCY|default"
                .into(),
        );
    };
    let count: usize = count.parse()?;
    let concurrency: usize = match concurrency.as_str() {
        "default" => DEFAULT_MAX_CONCURRENCY,
        number => number.parse()?,
    };
    // Configured the way any SDK program is (and the function is): from the environment
    // (region, credentials, AWS_ENDPOINT_URL_S3), path-style for the local server.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::v2026_01_12()).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    let client = Client::from_conf(config);
    let started = Instant::now();
    let ticks_before = cpu_ticks();
    let results: Vec<Result<(), String>> = stream::iter(0..count)
        .map(|i| {
            let (client, source, backup) = (client.clone(), source.clone(), backup.clone());
            let key = format!("{prefix}{i:05}.txt");
            async move {
                one_object(&client, &source, &backup, &key)
                    .await
                    .map_err(|e| format!("{key}: {e}"))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let batch_ticks = cpu_ticks().saturating_sub(ticks_before);
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    // Our own peak RSS: the parent's wait4() figure would include the pre-exec fork of Python.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    println!(
        "{{\"objects\": {count}, \"seconds\": {:.3}, \"failures\": {}, \"peak_rss_kib\": {peak_rss_kib}, \"concurrency\": {concurrency}, \"cpu_ticks\": {batch_ticks}}}",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if let Some(first) = failures.first() {
        return Err(first.clone().into());
    }
    Ok(())
}

/// The floor as a Lambda function: one client, built at init; each invocation's objects with
/// the default concurrency.
async fn lambda_floor() -> Result<(), lambda_runtime::Error> {
    let sdk_config = aws_config::load_defaults(BehaviorVersion::v2026_01_12()).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .force_path_style(true)
        .build();
    let client = Client::from_conf(config);
    let backup = std::env::var("BACKUP_BUCKET")?;
    let (client, backup) = (&client, backup.as_str());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let objects = objects_of(&event.payload)?;
            let results: Vec<Result<(), String>> = stream::iter(objects.iter())
                .map(|(bucket, key)| one_object(client, bucket, backup, key))
                .buffer_unordered(DEFAULT_MAX_CONCURRENCY)
                .collect()
                .await;
            if let Some(Err(error)) = results.into_iter().find(Result::is_err) {
                return Err(lambda_runtime::Error::from(error));
            }
            Ok::<_, lambda_runtime::Error>(response(&event.payload, objects.len()))
        },
    ))
    .await
}

/// The (bucket, key) pairs an invocation names: S3 notification records, the S3 notifications
/// in SQS message bodies, or Batch Operations 2.0 tasks.
fn objects_of(event: &serde_json::Value) -> Result<Vec<(String, String)>, String> {
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    let decoded = |raw: Option<&str>| {
        s3_policy_processor::keys::decode_event_key(raw.unwrap_or_default())
            .map_err(|e| e.to_string())
    };
    if let Some(tasks) = event["tasks"].as_array() {
        return tasks
            .iter()
            .map(|task| {
                let bucket = text(&task["s3Bucket"]).ok_or("a task without s3Bucket")?;
                Ok((bucket, decoded(task["s3Key"].as_str())?))
            })
            .collect();
    }
    let mut objects = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        if record["eventSource"] == "aws:sqs" {
            let body = record["body"].as_str().unwrap_or_default();
            let inner: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            objects.extend(objects_of(&inner)?);
        } else {
            let bucket =
                text(&record["s3"]["bucket"]["name"]).ok_or("a record without a bucket")?;
            objects.push((bucket, decoded(record["s3"]["object"]["key"].as_str())?));
        }
    }
    Ok(objects)
}

/// What the invocation answers: Batch Operations results for tasks, else a count.
fn response(event: &serde_json::Value, objects: usize) -> serde_json::Value {
    match event["tasks"].as_array() {
        Some(tasks) => serde_json::json!({
            "invocationSchemaVersion": "2.0",
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event["invocationId"],
            "results": tasks.iter().map(|task| serde_json::json!({
                "taskId": task["taskId"], "resultCode": "Succeeded", "resultString": "floor"
            })).collect::<Vec<_>>(),
        }),
        None => serde_json::json!({ "processed": objects }),
    }
}

/// User plus system CPU time of this process so far, in clock ticks (`/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rsplit_once(')')
        .map(|(_, fields)| {
            fields
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

async fn one_object(client: &Client, source: &str, backup: &str, key: &str) -> Result<(), String> {
    let head = client
        .head_object()
        .bucket(source)
        .key(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let etag = head.e_tag().ok_or("HEAD reported no ETag")?.to_owned();
    // S3 reports x-amz-tagging-count only for tagged objects: no header, no tags to read.
    let mut tags = Vec::new();
    if head.tag_count().is_some_and(|n| n > 0) {
        let out = client
            .get_object_tagging()
            .bucket(source)
            .key(key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        tags.extend(
            out.tag_set()
                .iter()
                .filter(|t| t.key() != POLICY_TAG.0)
                .map(|t| (t.key().to_owned(), t.value().to_owned())),
        );
    }
    tags.push((POLICY_TAG.0.to_owned(), POLICY_TAG.1.to_owned()));
    let copy_source = copy_source(source, key, None);
    let backup_copy = client
        .copy_object()
        .copy_source(&copy_source)
        .copy_source_if_match(&etag)
        .if_none_match("*")
        .bucket(backup)
        .key(key)
        .metadata_directive(MetadataDirective::Copy)
        .tagging_directive(TaggingDirective::Copy)
        .storage_class(StorageClass::Standard)
        .send()
        .await;
    if let Err(error) = backup_copy {
        let exists = error.raw_response().map(|r| r.status().as_u16()) == Some(412);
        if !exists {
            return Err(error.to_string());
        }
        // A redelivery: the backup is there already; look at it as the function would.
        client
            .head_object()
            .bucket(backup)
            .key(key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
    }
    let tagging: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&tags)
        .finish();
    client
        .copy_object()
        .copy_source(&copy_source)
        .copy_source_if_match(&etag)
        .if_match(&etag)
        .bucket(source)
        .key(key)
        .metadata_directive(MetadataDirective::Copy)
        .storage_class(StorageClass::StandardIa)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .tagging_directive(TaggingDirective::Replace)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
