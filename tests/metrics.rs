//! The function's CloudWatch EMF line and error types, from real invocations against a moto S3
//! server on 127.0.0.1 (stopped by PID). Relies on moto for HEAD, tagging reads and CopyObject,
//! and on HeadBucket answering 404 for a missing bucket.

mod support;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use s3_policy_processor::config::Config;
use s3_policy_processor::handler::InvocationError;
use s3_policy_processor::lambda::Function;
use s3_policy_processor::metrics::MetricsConfig;
use s3_policy_processor::store::counting::{CountingStore, Counts};
use s3_policy_processor::store::s3::S3Store;
use serde_json::Value;
use serde_json::value::RawValue;
use support::*;

fn event(payload: &Value) -> LambdaEvent<Box<RawValue>> {
    let raw = RawValue::from_string(payload.to_string()).expect("raw payload");
    LambdaEvent::new(raw, Context::default())
}

/// The line as CloudWatch would read it: one line of text, parsed back as JSON.
fn parse_line(line: Option<Value>) -> Value {
    let text = line.expect("metrics are on").to_string();
    assert!(!text.contains('\n'), "one line per invocation");
    serde_json::from_str(&text).expect("EMF line is JSON")
}

/// Every metric the directive declares is present, numeric, in the right namespace.
fn check_directive(line: &Value, namespace: &str) {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], namespace);
    assert_eq!(directive["Dimensions"], serde_json::json!([["service"]]));
    assert!(
        line["_aws"]["Timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    for metric in directive["Metrics"].as_array().expect("metrics") {
        let name = metric["Name"].as_str().expect("name");
        assert!(line[name].is_u64(), "{name} declared but missing: {line}");
    }
}

/// Every request the counting store saw.
fn requests(c: &Counts) -> u64 {
    c.requests() as u64
}

#[tokio::test]
async fn emf_lines_count_what_the_invocation_did() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    // Rules for any bucket, so the record for a missing bucket below fails. moto ignores
    // If-None-Match on CopyObject: tell the function so, as a user would.
    let config = Config::from_lookup(|name| match name {
        "POLICY" => Some(ANY_BUCKET_POLICY.to_owned()),
        "S3_COPY_IF_NONE_MATCH" => Some("false".into()),
        _ => None,
    })
    .expect("example policy");
    let metrics = MetricsConfig {
        namespace: "Test/S3PP".into(),
        service: "cli-metrics-test".into(),
        dimensions: Vec::new(),
    };
    let function = Function::new(
        CountingStore::new(S3Store::from_client(s3.clone())),
        config,
        Some(metrics),
    );
    let report_size = sample("report").body.len() as u64;

    // First delivery: the report object is backed up and rewritten (two copies of its bytes).
    let (result, line) = function
        .invoke_measured(event(&support::event("put-single.json")))
        .await;
    result.expect("invocation succeeds");
    let line = parse_line(line);
    check_directive(&line, "Test/S3PP");
    assert_eq!(line["service"], "cli-metrics-test");
    assert_eq!(line["ObjectsApplied"], 1, "{line}");
    assert_eq!(line["ObjectsFailed"], 0);
    assert_eq!(line["Actions_backup"], 1);
    assert_eq!(line["Actions_rewrite"], 1);
    assert_eq!(line["BytesCopied"], 2 * report_size);
    let counts = function.store().counts();
    let total = requests(&counts);
    assert_eq!(line["S3Requests"], total, "{counts:?} vs {line}");
    assert_eq!(line["S3Requests_CopyObject"], counts.copies as u64);
    assert_eq!(line["S3Requests_HeadObject"], counts.heads as u64);

    // Redelivery: compliant, nothing copied; the request count starts again from zero.
    let (result, line) = function
        .invoke_measured(event(&support::event("put-single.json")))
        .await;
    result.expect("redelivery succeeds");
    let line = parse_line(line);
    assert_eq!(line["ObjectsCompliant"], 1);
    assert_eq!(line["BytesCopied"], 0);
    assert!(line.get("S3Requests_CopyObject").is_none(), "{line}");
    let after = requests(&function.store().counts());
    assert_eq!(line["S3Requests"], after - total, "{line}");

    // A record for a missing bucket: the invocation fails as `RecordsFailed`, and the line
    // still comes out, with the failure under its S3 error code.
    let mut bad = support::event("put-single.json");
    bad["Records"][0]["s3"]["bucket"]["name"] = Value::from("no-such-bucket");
    let (result, line) = function.invoke_measured(event(&bad)).await;
    let error = result.expect_err("a failed record fails a direct invocation");
    assert!(matches!(error, InvocationError::RecordsFailed { .. }));
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "RecordsFailed");
    assert!(
        diagnostic.error_message.contains("NoSuchBucket"),
        "{diagnostic:?}"
    );
    let line = parse_line(line);
    assert_eq!(line["ObjectsFailed"], 1);
    assert_eq!(line["Failures"], 1);
    assert_eq!(line["Failures_NoSuchBucket"], 1, "{line}");

    // A payload that is no event: `UnrecognisedEvent`, counted as such.
    let (result, line) = function
        .invoke_measured(event(&serde_json::json!({"hello": "world"})))
        .await;
    let diagnostic = Diagnostic::from(result.expect_err("not an event"));
    assert_eq!(diagnostic.error_type, "UnrecognisedEvent");
    assert_eq!(parse_line(line)["Failures_UnrecognisedEvent"], 1);
}
