//! The Lambda `bootstrap`: cold start only. Reads config, builds the SDK clients once, and hands
//! each invocation to the [`Processor`].

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use s3_policy_processor::config::Config;
use s3_policy_processor::handler::Processor;
use s3_policy_processor::kms_aliases::{needs_resolution, resolve_aliases};
use s3_policy_processor::store::s3::S3Store;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk_config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    if needs_resolution(&mut config.policy) {
        let kms = aws_sdk_kms::Client::new(&sdk_config);
        resolve_aliases(&mut config.policy, &kms)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    }
    let store = S3Store::new(&sdk_config, config.force_path_style);
    let processor = Processor::new(store, config.policy, config.max_concurrency, config.dry_run);
    let processor = &processor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        processor
            .handle(&event.payload)
            .await
            .map_err(Error::from)
            .map(|report| report.response())
    }))
    .await
}
