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
        // moto ignores If-None-Match on CopyObject.
        .env("S3_COPY_IF_NONE_MATCH", "false")
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

/// The JSON response of a successful invoke.
fn response(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Every sample event in `events/` (all but the object list), in name order.
fn sample_event_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("events"))
        .expect("events/")
        .filter_map(|entry| {
            entry
                .ok()
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .filter(|name| name.ends_with(".json") && name != "objects.json")
        .map(|name| format!("events/{name}"))
        .collect();
    files.sort();
    files
}

/// Nothing in the response failed, whatever the envelope's response shape.
fn assert_no_failures(file: &str, response: &Value) {
    // The shape each envelope's caller expects from the real bootstrap.
    if file.contains("batch-operations") {
        assert!(response["results"].is_array(), "{file}: {response}");
    }
    if file.contains("sqs") {
        assert!(
            response["batchItemFailures"].is_array(),
            "{file}: {response}"
        );
    }
    if let Some(results) = response["results"].as_array() {
        for result in results {
            assert_eq!(result["resultCode"], "Succeeded", "{file}: {response}");
        }
        return;
    }
    if let Some(failures) = response["batchItemFailures"].as_array() {
        assert!(failures.is_empty(), "{file}: {response}");
    }
    let objects = response["objects"].as_array().expect("objects in response");
    assert!(!objects.is_empty(), "{file}: {response}");
    for object in objects {
        let outcome = object["outcome"].as_str().unwrap_or_default();
        assert!(
            ["applied", "compliant", "skipped"].contains(&outcome),
            "{file}: {object}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_runs_through_cargo_lambda_invoke() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let watcher = start_watch(&server.endpoint);

    // The first put event applies the policy; every other envelope finds its objects compliant
    // or (for objects it is the first to see) applies it; none may fail.
    let first = response(&invoke(&watcher, "events/put-single.json"));
    assert_eq!(first["objects"][0]["outcome"], "applied", "{first}");
    let files = sample_event_files();
    assert!(files.len() >= 9, "every envelope has a sample: {files:?}");
    for file in &files {
        assert_no_failures(file, &response(&invoke(&watcher, file)));
    }

    for object in sample_objects() {
        let head = head_of(&s3, SOURCE, &object.key).await;
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
    // Its errorType names what happened, not the Rust type of a boxed error.
    assert!(all.contains("RecordsFailed"), "{all}");
    assert!(!all.contains("alloc::boxed::Box"), "{all}");

    // Every invocation printed one EMF metrics line on the function's stdout.
    let log =
        std::fs::read_to_string(repo().join("target/local-invoke-watch.log")).expect("watch log");
    let emf: Vec<Value> = log
        .lines()
        .filter_map(|line| line.find('{').map(|start| &line[start..]))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert_eq!(
        emf.len(),
        files.len() + 2,
        "one metrics line per invoke: {log}"
    );
    assert_eq!(
        emf.last().map(|l| l["Failures_NoSuchBucket"].clone()),
        Some(Value::from(1))
    );

    replay_sends_failed_events_back_to_the_function(&server, &watcher).await;
}

/// Lambda's on-failure destination record for `event` (Lambda Developer Guide, "Capturing
/// records of asynchronous invocations").
fn on_failure_record(event: &Value) -> String {
    serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-12-02T05:00:00.000Z",
        "requestContext": {"requestId": "1b0e7c2f", "condition": "RetriesExhausted",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:s3-policy-processor:$LATEST",
            "approximateInvokeCount": 3},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "RecordsFailed", "errorMessage": "1 of 1 records failed"}
    })
    .to_string()
}

/// `s3pp replay` against the failure queue (SQS on the same moto server) and the function
/// served by `cargo lambda watch` (its Lambda Invoke API): a dry run leaves everything as it
/// was; `--apply` invokes the function with each original event, deletes the messages whose
/// event was processed, and leaves the one that fails again and the one that is not an event.
async fn replay_sends_failed_events_back_to_the_function(server: &S3Server, watcher: &Watcher) {
    let s3 = server.client();
    let sqs = sqs_client_for(&server.endpoint);
    let queue = sqs
        .create_queue()
        .queue_name("failure-queue")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    put_bytes(&s3, SOURCE, "replay/late arrival.txt", "late").await;
    let mut event = event("put-single.json");
    let object = &mut event["Records"][0]["s3"]["object"];
    object["key"] = Value::from("replay/late+arrival.txt");
    object["size"] = Value::from(4);
    if let Some(fields) = object.as_object_mut() {
        fields.remove("eTag");
        fields.remove("sequencer");
    }
    let mut missing = event.clone();
    missing["Records"][0]["s3"]["bucket"]["name"] = Value::from("no-such-bucket");
    for body in [
        on_failure_record(&event),
        on_failure_record(&missing),
        "not an event".to_owned(),
    ] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let lambda_endpoint = format!("http://127.0.0.1:{}", watcher.port);
    let run = |apply: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_s3pp"));
        command.args([
            "replay",
            "--from",
            &queue,
            "--function",
            "s3-policy-processor",
            "--format",
            "json",
        ]);
        if apply {
            command.arg("--apply");
        }
        command
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_SQS", &server.endpoint)
            .env("AWS_ENDPOINT_URL_LAMBDA", &lambda_endpoint)
            .stdin(Stdio::null())
            .output()
            .expect("run s3pp replay")
    };
    let results = |output: &Output| -> Vec<Value> {
        let stdout = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&output.stderr)))
    };

    let dry = run(false);
    assert!(dry.status.success(), "{dry:?}");
    let dry = results(&dry);
    assert_eq!(dry.len(), 3, "{dry:?}");
    assert!(dry.iter().all(|r| r["deleted"] == false), "{dry:?}");
    assert_eq!(dry[0]["objects"][0], "s3pp-source/replay/late arrival.txt");
    assert_eq!(dry[0]["result"], "would invoke s3-policy-processor");
    assert!(
        tags(&s3, SOURCE, "replay/late arrival.txt")
            .await
            .is_empty(),
        "a dry run invokes nothing"
    );

    let applied = run(true);
    assert!(!applied.status.success(), "messages were left: {applied:?}");
    let applied = results(&applied);
    let by_object = |name: &str| {
        applied
            .iter()
            .find(|r| {
                r["objects"][0]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(name)
            })
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {applied:?}"))
    };
    let replayed = by_object("s3pp-source/");
    assert_eq!(replayed["deleted"], true, "{replayed}");
    let again = by_object("no-such-bucket/");
    assert_eq!(again["deleted"], false, "{again}");
    // Lambda answers a function error with 200 and X-Amz-Function-Error (judged in
    // cli::replay's unit tests); `cargo lambda watch` answers it with a 500 instead, so here
    // the message is kept through the failed-invoke path, still naming S3's error.
    let result = again["result"].as_str().unwrap_or_default();
    assert!(result.contains("NoSuchBucket"), "{again}");
    assert_eq!(applied.len(), 3, "every message read once: {applied:?}");
    assert_eq!(
        tags(&s3, SOURCE, "replay/late arrival.txt")
            .await
            .get("processed-by")
            .map(String::as_str),
        Some("s3-policy-processor"),
        "the replayed event brought the object in line"
    );
    assert_eq!(
        body(&s3, BACKUP, "other/replay/late arrival.txt").await,
        b"late".to_vec()
    );
    let left = run(false);
    let left = results(&left);
    assert_eq!(
        left.len(),
        2,
        "the failed and the unreadable stay: {left:?}"
    );
}
