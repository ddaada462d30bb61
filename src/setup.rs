//! Connecting to S3 the way the function does, shared by the Lambda bootstrap and `s3pp`: the
//! SDK's standard configuration from the environment (credentials, region, `AWS_ENDPOINT_URL_S3`),
//! KMS aliases in the policy resolved once, and one S3 client with the function's retry settings
//! and `S3_FORCE_PATH_STYLE`.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::Config;
use crate::kms_aliases::{AliasError, needs_resolution, resolve_aliases};
use crate::store::s3::S3Store;

/// The SDK configuration from the environment (as the function loads it at cold start).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// Resolves the policy's KMS aliases (when it names any) and builds the S3 store.
pub async fn connect(config: &mut Config) -> Result<S3Store, AliasError> {
    let sdk_config = sdk_config().await;
    if needs_resolution(&mut config.policy) {
        let kms = aws_sdk_kms::Client::new(&sdk_config);
        resolve_aliases(&mut config.policy, &kms).await?;
    }
    Ok(S3Store::new(&sdk_config, config.force_path_style))
}

/// The S3 store alone, for work that needs no policy (listing a bucket for a manifest).
pub async fn connect_without_policy(force_path_style: bool) -> S3Store {
    S3Store::new(&sdk_config().await, force_path_style)
}
