//! What the function logs: one line per object with its outcome and actions, the dry-run plan as
//! JSON — and never object contents or credentials. Logs are captured from a real run against
//! moto on 127.0.0.1.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use support::*;

const BODY_MARKER: &str = "BODY-MARKER-3f9a1c";
const SECRET_KEY: &str = "SECRETKEY-MARKER-77e2b0";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_name_objects_and_actions_but_never_contents_or_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    s3.put_object()
        .bucket(SOURCE)
        .key("secret.txt")
        .body(ByteStream::from(
            format!("{BODY_MARKER} confidential").into_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let config = s3
        .config()
        .to_builder()
        .credentials_provider(Credentials::new(
            "AKIDLOGTEST",
            SECRET_KEY,
            Some("SESSION-TOKEN-MARKER".into()),
            None,
            "test",
        ))
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let event = serde_json::json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": SOURCE}, "object": {"key": "secret.txt"}}}]});

    let mut dry = policy("backup: s3pp-backup\ntags: { processed-by: s3pp }");
    dry.dry_run = true;
    processor(&client, dry).handle(&event).await.unwrap();
    processor(
        &client,
        policy("backup: s3pp-backup\ntags: { processed-by: s3pp }"),
    )
    .handle(&event)
    .await
    .unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("object reconciled") && logs.contains("secret.txt"),
        "one line per object: {logs}"
    );
    assert!(
        logs.contains("dry run: planned, not applied") && logs.contains("put_tags"),
        "dry-run plan as JSON"
    );
    for forbidden in [BODY_MARKER, SECRET_KEY, "SESSION-TOKEN-MARKER"] {
        assert!(!logs.contains(forbidden), "logs contain {forbidden:?}");
    }
}
