//! Resolves KMS aliases named in the policy to key ARNs at cold start (KMS `DescribeKey`), so
//! objects can be compared with the key ARN S3 reports. Without this an alias could never
//! match, and every object would be rewritten again and again.

use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;

use crate::policy::Policy;

/// An alias that could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot resolve KMS alias {alias:?} (needed to compare objects with it): {message}; check the alias exists and the role may call kms:DescribeKey, or name the key by id or ARN"
)]
pub struct AliasError {
    /// The alias as written in the policy.
    pub alias: String,
    /// What KMS said.
    pub message: String,
}

/// Fills `resolved_arn` for every alias in the policy; does nothing when there are none.
pub async fn resolve_aliases(policy: &mut Policy, client: &Client) -> Result<(), AliasError> {
    for key in policy.kms_keys_mut().filter(|k| k.needs_resolution()) {
        let out = client
            .describe_key()
            .key_id(&key.configured)
            .send()
            .await
            .map_err(|e| AliasError {
                alias: key.configured.clone(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        let arn = out
            .key_metadata()
            .and_then(|m| m.arn())
            .ok_or_else(|| AliasError {
                alias: key.configured.clone(),
                message: "DescribeKey returned no key ARN".into(),
            })?;
        tracing::info!(alias = key.configured, key_arn = arn, "resolved KMS alias");
        key.resolved_arn = Some(arn.to_owned());
    }
    Ok(())
}

/// Whether any key in the policy is an alias that needs resolving.
pub fn needs_resolution(policy: &mut Policy) -> bool {
    policy.kms_keys_mut().any(|k| k.needs_resolution())
}
