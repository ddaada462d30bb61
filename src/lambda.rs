//! The function as Lambda sees it: cold start (configuration, S3 client), one invocation (the
//! handler, then one metrics line), and errors that name what happened. Lambda reports a
//! failed invocation's `errorType` from [`Diagnostic`]; by default lambda_runtime fills it with
//! the Rust type name of a boxed error, so the conversions here give it the variant's name:
//! `RecordsFailed`, `UnrecognisedEvent`, or `InvalidConfiguration` at cold start.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{Config, ConfigError};
use crate::handler::{InvocationError, InvocationResponse, Processor};
use crate::kms_aliases::RegionalKeyError;
use crate::metrics::{InvocationMetrics, MeteredStore, MetricsConfig, metered, now_ms};
use crate::store::ObjectStore;
use crate::store::s3::S3Store;

/// Why the function cannot start: the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A variable or the policy document is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A KMS key in the policy cannot be resolved or is in the wrong region.
    #[error(transparent)]
    Keys(#[from] RegionalKeyError),
}

impl InitError {
    /// The `errorType` Lambda shows for an init failure.
    pub fn error_type(&self) -> &'static str {
        "InvalidConfiguration"
    }
}

impl From<InitError> for Diagnostic {
    fn from(error: InitError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The `errorType` of a failed invocation.
pub fn error_type(error: &InvocationError) -> &'static str {
    match error {
        InvocationError::Unrecognised(_) => "UnrecognisedEvent",
        InvocationError::RecordsFailed { .. } => "RecordsFailed",
    }
}

/// Lets handlers return [`InvocationError`] to lambda_runtime with a readable `errorType`.
impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Self {
        Diagnostic {
            error_type: error_type(&error).to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The function: the processor over a metered store, and where its metrics go.
#[derive(Debug)]
pub struct Function<S> {
    processor: Processor<MeteredStore<S>>,
    metrics: Option<MetricsConfig>,
}

impl Function<S3Store> {
    /// Cold start: configuration from the environment, then the S3 client (shared with `s3pp`).
    pub async fn from_env() -> Result<Self, InitError> {
        let mut config = Config::from_env()?;
        let store = crate::setup::connect(&mut config).await?;
        Ok(Self::new(store, config, MetricsConfig::from_env()))
    }
}

impl<S: ObjectStore> Function<S> {
    /// The function over any store; `metrics: None` prints no metrics.
    pub fn new(store: S, config: Config, metrics: Option<MetricsConfig>) -> Self {
        let processor = Processor::new(
            metered(store),
            config.policy,
            config.max_concurrency,
            config.dry_run,
        )
        .with_copy_settings(config.copy)
        .with_server_support(config.server);
        Self { processor, metrics }
    }

    /// The store the function was built over (without the request counter).
    pub fn store(&self) -> &S {
        self.processor.store().inner()
    }

    /// One invocation: handle the payload, print its metrics line on stdout (failed or not:
    /// CloudWatch reads EMF lines from the function's log stream), answer.
    pub async fn invoke(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<InvocationResponse, InvocationError> {
        let (result, metrics) = self.invoke_measured(event).await;
        if let Some(line) = metrics {
            println!("{line}");
        }
        result
    }

    /// [`Self::invoke`], returning the EMF line (when metrics are on) instead of printing it.
    pub async fn invoke_measured(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> (Result<InvocationResponse, InvocationError>, Option<Value>) {
        let deadline = deadline_instant(event.context.deadline);
        let result = self.processor.handle_payload(event.payload, deadline).await;
        let requests = self.processor.store().hook().take();
        let line = self.metrics.as_ref().map(|config| {
            let metrics = match &result {
                Ok(report) => InvocationMetrics::from_report(report),
                Err(InvocationError::RecordsFailed { report, .. }) => {
                    InvocationMetrics::from_report(report)
                }
                Err(error) => InvocationMetrics {
                    invocation_error: Some(error_type(error)),
                    ..InvocationMetrics::default()
                },
            };
            let properties = [(
                "function_request_id",
                Value::from(event.context.request_id.clone()),
            )];
            metrics
                .with_requests(requests)
                .emf(config, now_ms(), &properties)
        });
        (result.map(|report| report.into_response()), line)
    }
}

/// The invocation deadline (milliseconds since the epoch) as an `Instant`. `None` when there
/// is none to keep: no deadline, or one already past as the invocation starts, which Lambda
/// never sends (its shortest timeout is a second) but local runtime emulators do (`cargo lambda
/// watch` without `--timeout`); every record would otherwise be stopped before it started.
fn deadline_instant(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    match deadline.duration_since(SystemTime::now()) {
        Ok(remaining) if !remaining.is_zero() => Some(Instant::now() + remaining),
        _ => {
            tracing::debug!(
                deadline_ms,
                "the invocation's deadline has passed already; ignored"
            );
            None
        }
    }
}

/// Tells Lambda why init failed (`POST /runtime/init/error`), so the failure shows
/// `errorType: InvalidConfiguration` and the message instead of `Runtime.ExitError`. Does
/// nothing outside Lambda (no `AWS_LAMBDA_RUNTIME_API`); a failure to report is logged.
pub async fn report_init_error(error: InitError) -> InitError {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return error;
    };
    let diagnostic = Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.to_string(),
    };
    if let Err(e) = post_init_error(&api, &diagnostic).await {
        tracing::error!(error = %e, "could not report the init error to the runtime API");
    }
    error
}

async fn post_init_error(api: &str, diagnostic: &Diagnostic) -> Result<(), lambda_runtime::Error> {
    // `host:port` in Lambda; emulators (cargo lambda) give a full URL with a path.
    let endpoint: http::Uri = if api.contains("://") {
        api.parse()?
    } else {
        format!("http://{api}").parse()?
    };
    let client = lambda_runtime_api_client::Client::builder()
        .with_endpoint(endpoint)
        .build()?;
    let request = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", &diagnostic.error_type)
        .body(serde_json::to_vec(diagnostic)?.into())?;
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("runtime API answered {}", response.status()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventError;

    #[test]
    fn error_types_name_what_happened() {
        let unrecognised = InvocationError::Unrecognised(EventError::Malformed {
            at: "payload".into(),
            message: "not an event".into(),
        });
        let diagnostic = Diagnostic::from(unrecognised);
        assert_eq!(diagnostic.error_type, "UnrecognisedEvent");
        assert!(diagnostic.error_message.contains("not an event"));

        let config = Config::from_lookup(|_| None).unwrap_err();
        let diagnostic = Diagnostic::from(InitError::from(config));
        assert_eq!(diagnostic.error_type, "InvalidConfiguration");
        assert!(diagnostic.error_message.contains("POLICY"));
    }

    fn epoch_ms(at: SystemTime) -> u64 {
        at.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// Lambda's deadline is kept; none, or one already past (what a local emulator without a
    /// timeout sends), means no deadline rather than every record stopped unstarted.
    #[test]
    fn only_a_deadline_ahead_is_kept() {
        let ahead = deadline_instant(epoch_ms(SystemTime::now() + Duration::from_secs(60)));
        let remaining = ahead.map(|d| d.saturating_duration_since(Instant::now()));
        assert!(
            remaining.is_some_and(|r| r > Duration::from_secs(55)),
            "{remaining:?}"
        );
        assert_eq!(deadline_instant(0), None);
        assert_eq!(
            deadline_instant(epoch_ms(SystemTime::now() - Duration::from_secs(1))),
            None
        );
    }
}
