//! The S3 Batch Operations `CreateJob` input for an inventory's manifest, as
//! `aws s3control create-job --cli-input-json file://job.json` takes it (S3 Control API
//! reference: CreateJob, JobManifestSpec, JobManifestLocation, JobReport,
//! LambdaInvokeOperation). No local server implements CreateJob, so every field is checked
//! here against the reference's constraints before the file is written.

use serde_json::{Value, json};

/// Why a job input cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    /// A value breaks the API's constraints.
    #[error("{field}: {message}")]
    Invalid {
        /// The option or field.
        field: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// The manifest object the job reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestObject {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The ETag its upload returned (quotes removed).
    pub etag: String,
    /// Its version id, in a versioned bucket.
    pub version_id: Option<String>,
    /// Whether its rows carry version ids (`Bucket,Key,VersionId`).
    pub with_versions: bool,
}

/// Everything the job needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The function (its ARN: the stack's `FunctionArn` output).
    pub function_arn: String,
    /// The role Batch Operations assumes (the `BatchOperationsRoleArn` output).
    pub role_arn: String,
    /// The manifest.
    pub manifest: ManifestObject,
    /// Where the completion report goes: bucket and prefix.
    pub report_bucket: String,
    /// The report's prefix.
    pub report_prefix: String,
    /// Whether the job waits for `update-job-status --requested-job-status Ready`.
    pub confirmation_required: bool,
    /// Job priority.
    pub priority: i32,
    /// A description for the console.
    pub description: String,
}

/// The role ARN's account (`arn:PARTITION:iam::ACCOUNT:role/NAME`).
fn role_account(role_arn: &str) -> Result<String, JobError> {
    let invalid = || JobError::Invalid {
        field: "--role",
        message: format!(
            "{role_arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME); use the stack's BatchOperationsRoleArn output"
        ),
    };
    let mut parts = role_arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    let valid = !partition.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.starts_with("role/")
        && role_arn.len() <= 2048;
    if valid {
        Ok(account.to_owned())
    } else {
        Err(invalid())
    }
}

fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).unwrap_or("aws")
}

/// The `create-job` input for `spec`.
pub fn create_job_input(spec: &JobSpec) -> Result<Value, JobError> {
    let account = role_account(&spec.role_arn)?;
    let partition = partition_of(&spec.role_arn);
    let function_ok = spec.function_arn.starts_with("arn:")
        && spec.function_arn.contains(":lambda:")
        && spec.function_arn.contains(":function:")
        && spec.function_arn.len() <= 1024;
    if !function_ok {
        return Err(JobError::Invalid {
            field: "--function",
            message: format!(
                "{:?} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME); use the stack's FunctionArn output",
                spec.function_arn
            ),
        });
    }
    let prefix = spec.report_prefix.trim_end_matches('/');
    if prefix.is_empty() || prefix.len() > 512 {
        return Err(JobError::Invalid {
            field: "--report",
            message: "the report needs a prefix of 1 to 512 characters: s3://BUCKET/PREFIX (the stack lets the role write under batch-reports/)".into(),
        });
    }
    if spec.description.is_empty() || spec.description.chars().count() > 256 {
        return Err(JobError::Invalid {
            field: "Description",
            message: "must be 1 to 256 characters".into(),
        });
    }
    let etag = spec.manifest.etag.trim_matches('"');
    if etag.is_empty() || etag.len() > 1024 {
        return Err(JobError::Invalid {
            field: "ETag",
            message: "the manifest's ETag must be 1 to 1024 characters".into(),
        });
    }
    // The same manifest upload gives the same token: creating the job twice from one file is
    // one job (CreateJob is idempotent per ClientRequestToken), 1 to 64 characters.
    let token: String = format!(
        "s3pp-{}",
        etag.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(59)
            .collect::<String>()
    );
    let fields: Vec<&str> = if spec.manifest.with_versions {
        vec!["Bucket", "Key", "VersionId"]
    } else {
        vec!["Bucket", "Key"]
    };
    let mut location = json!({
        "ObjectArn": format!("arn:{partition}:s3:::{}/{}", spec.manifest.bucket, spec.manifest.key),
        "ETag": etag,
    });
    if let Some(version) = &spec.manifest.version_id {
        location["ObjectVersionId"] = json!(version);
    }
    Ok(json!({
        "AccountId": account,
        "ConfirmationRequired": spec.confirmation_required,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": spec.function_arn,
                "InvocationSchemaVersion": "2.0",
            }
        },
        "Report": {
            "Bucket": format!("arn:{partition}:s3:::{}", spec.report_bucket),
            "Prefix": prefix,
            "Format": "Report_CSV_20180820",
            "Enabled": true,
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": token,
        "Manifest": {
            "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": fields},
            "Location": location,
        },
        "Priority": spec.priority,
        "RoleArn": spec.role_arn,
        "Description": spec.description,
    }))
}
