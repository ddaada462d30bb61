//! The Lambda `bootstrap`: cold start only. Reads config, builds the SDK clients once, and hands
//! each invocation to the [`Processor`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use s3_policy_processor::config::Config;
use s3_policy_processor::handler::Processor;
use s3_policy_processor::kms_aliases::resolve_in_regions;
use s3_policy_processor::store::s3::S3Store;
use serde_json::value::RawValue;

/// One thread: every record and part is a future on one task, so a multi-threaded runtime would
/// add cross-thread wake-ups and no parallelism (bench/RESULTS.md measures the difference).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let store = S3Store::for_policy(&sdk_config, config.force_path_style, &config.policy);
    resolve_in_regions(&mut config.policy, &sdk_config, &store)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let processor = Processor::new(store, config.policy, config.max_concurrency, config.dry_run)
        .with_copy_settings(config.copy);
    let processor = &processor;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            let deadline = deadline_instant(event.context.deadline);
            processor
                .handle_payload(event.payload, deadline)
                .await
                .map_err(Error::from)
                .map(|report| report.into_response())
        },
    ))
    .await
}

/// The invocation deadline (milliseconds since the epoch) as an `Instant`.
fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some(Instant::now() + remaining)
}
