//! Cold-start configuration from the environment: the policy document (`POLICY` or
//! `POLICY_FILE`) and runtime settings. Every error names the variable and how to fix it.

use crate::apply::copy::{CopySettings, MAX_PART_SIZE, MAX_SINGLE_COPY, MIN_PART_SIZE};
use crate::apply::copy_state::CopyStateLocation;
use crate::handler::DEFAULT_MAX_CONCURRENCY;
use crate::policy::document::parse_policy;
use crate::policy::{Policy, PolicyError};
use crate::store::server::ServerSupport;

/// Everything read from the environment at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The validated policy.
    pub policy: Policy,
    /// Path-style S3 addressing (for local servers).
    pub force_path_style: bool,
    /// Objects reconciled at once per invocation.
    pub max_concurrency: usize,
    /// Plan and report only.
    pub dry_run: bool,
    /// Single vs multipart copies.
    pub copy: CopySettings,
    /// What the S3 server is trusted to do (S3's behaviour unless told otherwise).
    pub server: ServerSupport,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `POLICY` nor `POLICY_FILE` is set.
    #[error(
        "no policy: set POLICY to a policy document (JSON or YAML) or POLICY_FILE to the path of one"
    )]
    NoPolicy,
    /// Both are set.
    #[error("both POLICY and POLICY_FILE are set; keep only one")]
    TwoPolicies,
    /// `POLICY_FILE` cannot be read.
    #[error("cannot read POLICY_FILE {path:?}: {source}")]
    ReadPolicyFile {
        /// The path given.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policy document is invalid.
    #[error("invalid policy in {origin}: {source}")]
    Policy {
        /// `POLICY` or `POLICY_FILE <path>`.
        origin: String,
        /// What is wrong.
        #[source]
        source: PolicyError,
    },
    /// The policy needs an action the deployment's role was not given.
    #[error(transparent)]
    OptionalActions(#[from] crate::optional_actions::OptionalActionsError),
    /// `COPY_STATE` is not a usable location.
    #[error("environment variable COPY_STATE={value:?}: {problem}")]
    CopyState {
        /// Its value.
        value: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A setting has a value we cannot use.
    #[error("environment variable {name}={value:?}: expected {expected}")]
    BadValue {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let inline = lookup("POLICY").filter(|v| !v.trim().is_empty());
        let file = lookup("POLICY_FILE").filter(|v| !v.trim().is_empty());
        let (text, origin) = match (inline, file) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoPolicies),
            (None, None) => return Err(ConfigError::NoPolicy),
            (Some(text), None) => (text, "POLICY".to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|source| {
                    ConfigError::ReadPolicyFile {
                        path: path.clone(),
                        source,
                    }
                })?;
                (text, format!("POLICY_FILE {path:?}"))
            }
        };
        let policy =
            parse_policy(&text).map_err(|source| ConfigError::Policy { origin, source })?;
        crate::optional_actions::check(
            lookup(crate::optional_actions::VARIABLE).as_deref(),
            &policy,
        )?;
        let copy = parse_copy_settings(&lookup)?;
        if let Some(state) = &copy.state
            && let Some(problem) = state.conflict_with(&policy)
        {
            return Err(ConfigError::CopyState {
                value: lookup("COPY_STATE").unwrap_or_default(),
                problem,
            });
        }
        Ok(Self {
            policy,
            force_path_style: parse_bool(&lookup, "S3_FORCE_PATH_STYLE")?,
            max_concurrency: parse_concurrency(&lookup)?,
            dry_run: parse_bool(&lookup, "DRY_RUN")?,
            copy,
            server: parse_server_support(&lookup)?,
        })
    }
}

/// `S3_FORCE_PATH_STYLE` alone, for callers that need an S3 client but no policy (`s3pp manifest`).
pub fn force_path_style(lookup: impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    parse_bool(&lookup, "S3_FORCE_PATH_STYLE")
}

/// `S3_HEAD_REPORTS_TAG_COUNT`, `S3_HEAD_REPORTS_OBJECT_LOCK` (both `false` unless set: only
/// the deployment knows that its role may read tags and locks), `S3_COPY_IF_NONE_MATCH`
/// (`true`, S3's behaviour, unless set), `S3_UPDATE_OBJECT_ENCRYPTION` and `S3_OBJECT_ANNOTATIONS`
/// (both `true` unless an endpoint override is set).
fn parse_server_support(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<ServerSupport, ConfigError> {
    let s3 = ServerSupport::S3;
    Ok(ServerSupport {
        head_reports_tag_count: parse_bool_or(
            lookup,
            "S3_HEAD_REPORTS_TAG_COUNT",
            s3.head_reports_tag_count,
        )?,
        head_reports_object_lock: parse_bool_or(
            lookup,
            "S3_HEAD_REPORTS_OBJECT_LOCK",
            s3.head_reports_object_lock,
        )?,
        copy_if_none_match: parse_bool_or(lookup, "S3_COPY_IF_NONE_MATCH", s3.copy_if_none_match)?,
        // On by default only against Amazon S3's own endpoints: with an endpoint override (a
        // local server, an S3-compatible store) only when asked for explicitly.
        update_object_encryption: parse_bool_or(
            lookup,
            "S3_UPDATE_OBJECT_ENCRYPTION",
            !has_custom_endpoint(lookup),
        )?,
        object_annotations: parse_bool_or(
            lookup,
            "S3_OBJECT_ANNOTATIONS",
            !has_custom_endpoint(lookup),
        )?,
    })
}

impl Config {
    /// An endpoint override found once the SDK's configuration is loaded (a profile's
    /// `endpoint_url` or `services` section, which the environment variables do not show): the
    /// operations a server there may not implement, and may mistake for a PutObject, are
    /// turned off unless `lookup` (the environment) turned them on explicitly.
    pub fn distrust_endpoint_override(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if lookup("S3_UPDATE_OBJECT_ENCRYPTION").is_none() {
            self.server.update_object_encryption = false;
        }
        if lookup("S3_OBJECT_ANNOTATIONS").is_none() {
            self.server.object_annotations = false;
        }
    }
}

/// Whether the SDK will talk to an endpoint of the user's choosing rather than Amazon S3's
/// (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, the SDK's standard overrides).
fn has_custom_endpoint(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()))
}

fn parse_bool(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<bool, ConfigError> {
    parse_bool_or(lookup, name, false)
}

fn parse_bool_or(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(value) = lookup(name) else {
        return Ok(default);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        _ => Err(ConfigError::BadValue {
            name,
            value,
            expected: "true or false",
        }),
    }
}

fn parse_copy_settings(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<CopySettings, ConfigError> {
    let defaults = CopySettings::default();
    Ok(CopySettings {
        multipart_threshold: parse_number(
            lookup,
            "MULTIPART_THRESHOLD",
            defaults.multipart_threshold,
            1..=MAX_SINGLE_COPY,
            "bytes from 1 to 5368709120 (5 GiB, S3's CopyObject limit)",
        )?,
        part_size: parse_number(
            lookup,
            "MULTIPART_PART_SIZE",
            defaults.part_size,
            MIN_PART_SIZE..=MAX_PART_SIZE,
            "bytes from 5242880 (5 MiB) to 5368709120 (5 GiB)",
        )?,
        parts_in_flight: usize::try_from(parse_number(
            lookup,
            "MULTIPART_CONCURRENCY",
            defaults.parts_in_flight as u64,
            1..=64,
            "a whole number from 1 to 64",
        )?)
        .unwrap_or(defaults.parts_in_flight),
        deadline_margin: defaults.deadline_margin,
        state: parse_copy_state(lookup)?,
    })
}

/// `COPY_STATE`: where multipart copies are recorded (`s3://bucket/prefix/`), if anywhere.
fn parse_copy_state(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<CopyStateLocation>, ConfigError> {
    let Some(value) = lookup("COPY_STATE").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    CopyStateLocation::parse(value.trim())
        .map(Some)
        .map_err(|problem| ConfigError::CopyState { value, problem })
}

fn parse_number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    let Some(value) = lookup(name) else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::BadValue {
            name,
            value,
            expected,
        }),
    }
}

fn parse_concurrency(lookup: &impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let Some(value) = lookup("MAX_CONCURRENCY") else {
        return Ok(DEFAULT_MAX_CONCURRENCY);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(ConfigError::BadValue {
            name: "MAX_CONCURRENCY",
            value,
            expected: "a whole number from 1 to 1000",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn inline_policy_and_defaults() {
        let config = config(&[("POLICY", "backup: my-backup")]).unwrap();
        assert_eq!(config.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert_eq!(config.copy, CopySettings::default());
        assert!(!config.force_path_style && !config.dry_run);
        assert_eq!(config.server, ServerSupport::S3);
    }

    #[test]
    fn servers_without_s3s_request_savers_can_say_so() {
        let minimal = config(&[
            ("POLICY", "backup: my-backup"),
            ("S3_HEAD_REPORTS_TAG_COUNT", "false"),
            ("S3_COPY_IF_NONE_MATCH", "no"),
        ])
        .unwrap();
        assert_eq!(
            minimal.server,
            ServerSupport {
                update_object_encryption: true,
                object_annotations: true,
                ..ServerSupport::MINIMAL
            },
            "Amazon S3's own endpoint: UpdateObjectEncryption on"
        );
        let local = config(&[
            ("POLICY", "backup: my-backup"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000"),
        ])
        .unwrap();
        assert!(
            !local.server.update_object_encryption && !local.server.object_annotations,
            "never sent to an endpoint override unless asked for"
        );
        let asked = config(&[
            ("POLICY", "backup: my-backup"),
            ("AWS_ENDPOINT_URL", "https://s3.example.test"),
            ("S3_UPDATE_OBJECT_ENCRYPTION", "true"),
            ("S3_OBJECT_ANNOTATIONS", "1"),
        ])
        .unwrap();
        assert!(asked.server.update_object_encryption && asked.server.object_annotations);
        let err = config(&[
            ("POLICY", "backup: bbb"),
            ("S3_COPY_IF_NONE_MATCH", "sometimes"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("S3_COPY_IF_NONE_MATCH"), "{err}");
    }

    #[test]
    fn an_override_found_later_turns_off_what_was_not_asked_for() {
        let mut config = config(&[("POLICY", "backup: my-backup")]).unwrap();
        assert!(config.server.update_object_encryption && config.server.object_annotations);
        config.distrust_endpoint_override(|name| {
            (name == "S3_OBJECT_ANNOTATIONS").then(|| "true".to_owned())
        });
        assert!(!config.server.update_object_encryption);
        assert!(config.server.object_annotations, "asked for explicitly");
    }

    #[test]
    fn policy_file_is_read() {
        let path = std::env::temp_dir().join(format!("policy-{}.yaml", std::process::id()));
        std::fs::write(&path, "storage_class: STANDARD_IA\n").unwrap();
        let config =
            config(&[("POLICY_FILE", path.to_str().unwrap()), ("DRY_RUN", "true")]).unwrap();
        assert!(config.dry_run);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn errors_name_the_variable() {
        assert!(matches!(config(&[]), Err(ConfigError::NoPolicy)));
        assert!(matches!(
            config(&[("POLICY", "backup: b-b-b"), ("POLICY_FILE", "/x")]),
            Err(ConfigError::TwoPolicies)
        ));
        let err = config(&[("POLICY_FILE", "/nonexistent/policy.yaml")]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/policy.yaml"),
            "{err}"
        );
        let err = config(&[("POLICY", "storage_class: FAST")]).unwrap_err();
        assert!(err.to_string().contains("rules[0].storage_class"), "{err}");
        let err = config(&[("POLICY", "backup: bbb"), ("MAX_CONCURRENCY", "0")]).unwrap_err();
        assert!(err.to_string().contains("MAX_CONCURRENCY"), "{err}");
        let err =
            config(&[("POLICY", "backup: bbb"), ("S3_FORCE_PATH_STYLE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("S3_FORCE_PATH_STYLE"), "{err}");
    }
}
