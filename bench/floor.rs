//! The floor for the per-object benchmark: a bare aws-sdk-s3 program that issues exactly the S3
//! requests the function makes for `bench/policy.yaml` (HEAD, GetObjectTagging when HEAD reports
//! no tag count, HEAD of the backup, CopyObject to the backup, one in-place CopyObject with class,
//! encryption and tags) with the same concurrency, and nothing else: no event parsing, no plan.
//!
//! Usage: floor ENDPOINT SOURCE_BUCKET BACKUP_BUCKET PREFIX COUNT CONCURRENCY

use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption, StorageClass, TaggingDirective};
use futures::stream::{self, StreamExt};
use s3_policy_processor::keys::copy_source;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, source, backup, prefix, count, concurrency] = args.as_slice() else {
        return Err(
            "usage: floor ENDPOINT SOURCE_BUCKET BACKUP_BUCKET PREFIX COUNT CONCURRENCY".into(),
        );
    };
    let count: usize = count.parse()?;
    let concurrency: usize = concurrency.parse()?;
    // Configured the way any SDK program is (and the function is): from the environment
    // (region, credentials, AWS_ENDPOINT_URL_S3), path-style for the local server.
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    let client = Client::from_conf(config);
    let started = Instant::now();
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
        "{{\"objects\": {count}, \"seconds\": {:.3}, \"failures\": {}, \"peak_rss_kib\": {peak_rss_kib}}}",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if let Some(first) = failures.first() {
        return Err(first.clone().into());
    }
    Ok(())
}

async fn one_object(client: &Client, source: &str, backup: &str, key: &str) -> Result<(), String> {
    let head = client
        .head_object()
        .bucket(source)
        .key(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if head.tag_count() != Some(0) {
        client
            .get_object_tagging()
            .bucket(source)
            .key(key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
    }
    let _ = client.head_object().bucket(backup).key(key).send().await;
    let copy_source = copy_source(source, key, None);
    client
        .copy_object()
        .copy_source(&copy_source)
        .bucket(backup)
        .key(key)
        .metadata_directive(MetadataDirective::Copy)
        .tagging_directive(TaggingDirective::Copy)
        .storage_class(StorageClass::Standard)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    client
        .copy_object()
        .copy_source(&copy_source)
        .bucket(source)
        .key(key)
        .metadata_directive(MetadataDirective::Copy)
        .storage_class(StorageClass::StandardIa)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .tagging_directive(TaggingDirective::Replace)
        .tagging("processed-by=s3-policy-processor")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
