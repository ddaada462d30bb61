//! Resolves KMS aliases named in the policy to key ARNs at cold start (KMS `DescribeKey`), so
//! objects can be compared with the key ARN S3 reports. Without this an alias could never
//! match, and every object would be rewritten again and again.
//!
//! KMS keys are regional, and S3 encrypts with a key in the bucket's own region: a backup's
//! key is resolved (and, as an ARN, checked) in the backup bucket's region — given by
//! `backup.region`, or found with one HeadBucket per such bucket per cold start.

use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;

use crate::policy::{EncryptionSpec, KmsKey, Policy};

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
        resolve_one(key, client).await?;
    }
    Ok(())
}

async fn resolve_one(key: &mut KmsKey, client: &Client) -> Result<(), AliasError> {
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
    Ok(())
}

/// Why a key could not be placed in its region.
#[derive(Debug, thiserror::Error)]
pub enum RegionalKeyError {
    /// An alias did not resolve.
    #[error(transparent)]
    Alias(#[from] AliasError),
    /// The backup bucket's region could not be found.
    #[error(
        "cannot find the region of backup bucket {bucket:?} (needed for its KMS key): {source}; set `backup.region` in the policy"
    )]
    BucketRegion {
        /// The backup bucket.
        bucket: String,
        /// What S3 said.
        #[source]
        source: crate::store::StoreError,
    },
    /// A key ARN names another region than its bucket's.
    #[error(
        "`{field}`: the key {key:?} is in {key_region} but backup bucket {bucket:?} is in {bucket_region}; S3 needs a KMS key in the bucket's own region"
    )]
    WrongRegion {
        /// Where in the policy.
        field: String,
        /// The key as written.
        key: String,
        /// The key's region.
        key_region: String,
        /// The bucket.
        bucket: String,
        /// The bucket's region.
        bucket_region: String,
    },
}

/// Resolves every alias in its region: the rules' own keys with the function's region, each
/// backup key with its backup bucket's region (discovered through `store` when the policy does
/// not give it; remembered there too). Key ARNs of backups are checked against that region.
pub async fn resolve_in_regions(
    policy: &mut Policy,
    sdk_config: &aws_config::SdkConfig,
    store: &crate::store::s3::S3Store,
) -> Result<(), RegionalKeyError> {
    let default_region = sdk_config.region().map(|r| r.as_ref().to_owned());
    let default_client = Client::new(sdk_config);
    let client_in = |region: &str| {
        if Some(region) == default_region.as_deref() {
            default_client.clone()
        } else {
            Client::from_conf(
                aws_sdk_kms::config::Builder::from(sdk_config)
                    .region(aws_sdk_kms::config::Region::new(region.to_owned()))
                    .build(),
            )
        }
    };
    for (index, rule) in policy.rules.iter_mut().enumerate() {
        if let Some(EncryptionSpec::Kms { key: Some(key), .. }) = rule.encryption.as_mut()
            && key.needs_resolution()
        {
            resolve_one(key, &default_client).await?;
        }
        let Some(backup) = rule.backup.as_mut() else {
            continue;
        };
        let Some(EncryptionSpec::Kms { key: Some(key), .. }) = backup.encryption.as_mut() else {
            continue;
        };
        let region = match &backup.region {
            Some(region) => region.clone(),
            None => store
                .discover_region(&backup.bucket)
                .await
                .map_err(|source| RegionalKeyError::BucketRegion {
                    bucket: backup.bucket.clone(),
                    source,
                })?,
        };
        if let Some(key_region) = key.region()
            && key_region != region
        {
            return Err(RegionalKeyError::WrongRegion {
                field: format!("rules[{index}].backup.encryption.kms_key_id"),
                key: key.configured.clone(),
                key_region: key_region.to_owned(),
                bucket: backup.bucket.clone(),
                bucket_region: region,
            });
        }
        if key.needs_resolution() {
            resolve_one(key, &client_in(&region)).await?;
        }
    }
    Ok(())
}
