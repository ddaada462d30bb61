//! Connecting to S3 the way the function does, shared by the Lambda bootstrap and `s3pp`: the
//! SDK's standard configuration from the environment (credentials, region, `AWS_ENDPOINT_URL_S3`),
//! KMS aliases in the policy resolved once (each in its bucket's region), and the S3 store with
//! the function's retry settings, `S3_FORCE_PATH_STYLE`, and the regions and owners the policy
//! gives for its buckets.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::Config;
use crate::kms_aliases::{RegionalKeyError, resolve_in_regions};
use crate::store::s3::S3Store;

/// The SDK behaviour version every client is built with: named, not `latest()`, so a
/// dependency bump cannot silently change retry, checksum or timeout defaults. Moving it is a
/// deliberate change (docs/operate.md, "SDK behaviour version").
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// The SDK configuration from the environment (as the function loads it at cold start).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(behavior_version()).await
}

/// Builds the S3 store for the policy and resolves its KMS aliases, each in its region.
pub async fn connect(config: &mut Config) -> Result<S3Store, RegionalKeyError> {
    let sdk_config = sdk_config().await;
    let store = S3Store::for_policy(&sdk_config, config.force_path_style, &config.policy);
    resolve_in_regions(&mut config.policy, &sdk_config, &store).await?;
    Ok(store)
}

/// The S3 store alone, for work that needs no policy (listing a bucket for a manifest).
pub async fn connect_without_policy(force_path_style: bool) -> S3Store {
    S3Store::new(&sdk_config().await, force_path_style)
}
