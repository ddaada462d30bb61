//! The Lambda `bootstrap`: cold start only. Logging, then the [`Function`] (configuration, SDK
//! clients built once), then each invocation handed to it. An unusable configuration is
//! reported to Lambda as `InvalidConfiguration`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use s3_policy_processor::lambda::{Function, report_init_error};
use serde_json::value::RawValue;
use tracing::level_filters::LevelFilter;

/// One thread: every record and part is a future on one task, so a multi-threaded runtime would
/// add cross-thread wake-ups and no parallelism (bench/RESULTS.md measures the difference).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    s3_policy_processor::logging::init(std::io::stdout, LevelFilter::INFO);
    let function = match Function::from_env().await {
        Ok(function) => function,
        Err(error) => {
            tracing::error!(error = %error, "invalid configuration");
            return Err(report_init_error(error).await.into());
        }
    };
    let function = &function;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { function.invoke(event).await },
    ))
    .await
}
