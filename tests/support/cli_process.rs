//! `s3pp` run as a process (`CARGO_BIN_EXE_s3pp`) against a local S3 server: the function's
//! configuration variables point at the server, and nothing comes from the developer's own AWS
//! setup.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use super::repo;

/// Writes a policy file for one test.
pub fn policy_file(name: &str, text: &str) -> PathBuf {
    let dir = repo().join("target/cli-tests");
    std::fs::create_dir_all(&dir).expect("target/cli-tests");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write policy");
    path
}

/// Runs `s3pp` with the function's configuration variables pointing at `endpoint`, and nothing
/// from the developer's own AWS setup.
pub fn s3pp(endpoint: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_s3pp"));
    command
        .args(args)
        .env("AWS_ENDPOINT_URL_S3", endpoint)
        .env("S3_FORCE_PATH_STYLE", "true")
        // moto ignores If-None-Match on CopyObject.
        .env("S3_COPY_IF_NONE_MATCH", "false")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        );
    for name in [
        "POLICY",
        "POLICY_FILE",
        "DRY_RUN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "RUST_LOG",
        "MAX_CONCURRENCY",
    ] {
        command.env_remove(name);
    }
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().expect("run s3pp")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(output), stderr(output)))
}

/// Runs `s3pp` like [`s3pp`], requires success, and parses its JSON output.
pub fn s3pp_json(endpoint: &str, args: &[&str]) -> Value {
    let output = s3pp(endpoint, args, &[]);
    assert!(
        output.status.success(),
        "s3pp {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    json(&output)
}
