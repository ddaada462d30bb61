//! The Lambda path for real: `cargo lambda watch` serves the function (runtime API emulator on
//! 127.0.0.1), `cargo lambda invoke --data-file events/…` sends each sample event, and the test
//! asserts on the moto bucket state afterwards. Both servers are stopped by PID (the watcher by
//! its process group, which holds the function it spawned).

mod support;

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

struct Watcher {
    child: Child,
    port: u16,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn cargo_lambda() -> PathBuf {
    let path = repo().join(".venv/bin/cargo-lambda");
    assert!(
        path.exists(),
        "{} missing; run scripts/setup-tools",
        path.display()
    );
    path
}

fn start_watch(s3_endpoint: &str) -> Watcher {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log =
        std::fs::File::create(repo().join("target/local-invoke-watch.log")).expect("log file");
    let child = Command::new(cargo_lambda())
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(repo())
        .env(
            "PATH",
            format!(
                "{}:{}",
                repo().join(".venv/bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_S3", s3_endpoint)
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("POLICY_FILE", repo().join("examples/policy.yaml"))
        .env("RUST_LOG", "info")
        // Its own target dir: cargo lambda builds with a different environment, and sharing
        // target/ with `cargo test` would make each rebuild the other's dependencies.
        .env("CARGO_TARGET_DIR", repo().join("target/lambda-watch"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("start cargo lambda watch");
    let watcher = Watcher { child, port };
    let deadline = Instant::now() + Duration::from_secs(600);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}; see target/local-invoke-watch.log"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    watcher
}

fn invoke(watcher: &Watcher, data_file: &str) -> Output {
    Command::new(cargo_lambda())
        .args([
            "lambda",
            "invoke",
            "s3-policy-processor",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &watcher.port.to_string(),
            "--data-file",
            data_file,
        ])
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run cargo lambda invoke")
}

fn outcomes(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    response["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_runs_through_cargo_lambda_invoke() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let watcher = start_watch(&server.endpoint);

    let expected: [(&str, &[&str]); 4] = [
        ("events/put-single.json", &["applied"]),
        (
            "events/put-multiple.json",
            &["compliant", "applied", "applied"],
        ),
        (
            "events/put-encoded-keys.json",
            &["compliant", "compliant", "applied"],
        ),
        ("events/copy-self.json", &["compliant"]),
    ];
    for (file, want) in expected {
        assert_eq!(outcomes(&invoke(&watcher, file)), want, "{file}");
    }

    for object in sample_objects() {
        let head = s3
            .head_object()
            .bucket(SOURCE)
            .key(&object.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption().map(|s| s.as_str()),
            Some("AES256"),
            "{}",
            object.key
        );
        assert_eq!(
            tags(&s3, SOURCE, &object.key)
                .await
                .get("processed-by")
                .map(String::as_str),
            Some("s3-policy-processor")
        );
        let backup_key = if object.id == "report" {
            object.key.clone()
        } else {
            format!("other/{}", object.key)
        };
        assert_eq!(
            body(&s3, BACKUP, &backup_key).await,
            object.body,
            "backup of {}",
            object.key
        );
    }

    // A failing record surfaces as a Lambda error (so Lambda retries), naming the S3 error code.
    let mut bad = event("put-single.json");
    bad["Records"][0]["s3"]["bucket"]["name"] = Value::from("no-such-bucket");
    let path = repo().join("target/local-invoke-missing-bucket.json");
    std::fs::write(&path, bad.to_string()).expect("write event");
    let output = invoke(&watcher, path.to_str().unwrap_or_default());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success() && all.contains("NoSuchBucket"),
        "{all}"
    );
}
