//! Connecting to S3 the way the function does, shared by the Lambda bootstrap and `s3pp`: the
//! SDK's standard configuration from the environment (credentials, region, `AWS_ENDPOINT_URL_S3`),
//! KMS aliases in the policy resolved once (each in its bucket's region), and the S3 store with
//! the function's retry settings, `S3_FORCE_PATH_STYLE`, and the regions and owners the policy
//! gives for its buckets.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_types::service_config::ServiceConfigKey;

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

/// Whether S3 requests go to an endpoint of the user's choosing rather than Amazon S3's: the
/// SDK's override from the environment, a profile's `endpoint_url`, or its `services` section
/// for S3 (which the environment variables [`Config`] reads do not show).
pub fn s3_endpoint_overridden(sdk_config: &SdkConfig) -> bool {
    let s3_key = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    let for_s3 = s3_key
        .zip(sdk_config.service_config())
        .and_then(|(key, config)| config.load_config(key));
    sdk_config.endpoint_url().is_some() || for_s3.is_some()
}

/// Builds the S3 store for the policy and resolves its KMS aliases, each in its region.
pub async fn connect(config: &mut Config) -> Result<S3Store, RegionalKeyError> {
    let sdk_config = sdk_config().await;
    if s3_endpoint_overridden(&sdk_config) {
        config.distrust_endpoint_override(|name| std::env::var(name).ok());
    }
    let store = S3Store::for_policy(&sdk_config, config.force_path_style, &config.policy);
    resolve_in_regions(&mut config.policy, &sdk_config, &store).await?;
    Ok(store)
}

/// The S3 store alone, for work that needs no policy (listing a bucket for a manifest).
pub async fn connect_without_policy(force_path_style: bool) -> S3Store {
    S3Store::new(&sdk_config().await, force_path_style)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TLS library (aws-lc, under the SDK's rustls client) is built without CPU-jitter
    /// entropy (`.cargo/config.toml`): with it, the first TLS connection of every process spent
    /// ~70 ms of CPU collecting jitter before its handshake. The test binary is built with the
    /// same settings as the bootstrap and keeps its symbols, so it shows which was linked.
    #[test]
    fn the_tls_library_is_built_without_cpu_jitter_entropy() {
        // Symbol names spelled backwards here, so this test's own strings never match.
        let symbol = |reversed: &str| reversed.bytes().rev().collect::<Vec<u8>>();
        let exe = std::env::current_exe().expect("the test binary's path");
        let bytes = std::fs::read(&exe).expect("read the test binary");
        assert!(
            memchr::memmem::find(&bytes, &symbol("setyb_DNAR_0_74_0_cl_swa")).is_some(),
            "{} has no aws-lc symbols to judge by",
            exe.display()
        );
        assert!(
            memchr::memmem::find(&bytes, &symbol("colla_rotcelloc_yportne_tnej")).is_none(),
            "aws-lc was built with CPU-jitter entropy: set AWS_LC_SYS_NO_JITTER_ENTROPY=1 \
             (.cargo/config.toml [env])"
        );
    }

    /// A profile that names an endpoint (as a developer's `~/.aws/config` for a local server
    /// may) is an override, though no environment variable says so.
    #[tokio::test]
    async fn a_profile_endpoint_is_an_override() {
        let path = std::env::temp_dir().join(format!("s3pp-profile-{}", std::process::id()));
        std::fs::write(
            &path,
            "[profile local]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n",
        )
        .expect("write profile");
        let files = aws_runtime::env_config::file::EnvConfigFiles::builder()
            .with_file(
                aws_runtime::env_config::file::EnvConfigFileKind::Config,
                &path,
            )
            .build();
        let loaded = aws_config::defaults(behavior_version())
            .profile_files(files)
            .profile_name("local")
            .load()
            .await;
        let _ = std::fs::remove_file(&path);
        assert!(s3_endpoint_overridden(&loaded));
        let plain = SdkConfig::builder()
            .behavior_version(behavior_version())
            .build();
        assert!(!s3_endpoint_overridden(&plain));
        let from_code = SdkConfig::builder()
            .behavior_version(behavior_version())
            .endpoint_url("http://127.0.0.1:9")
            .build();
        assert!(s3_endpoint_overridden(&from_code));
    }
}
