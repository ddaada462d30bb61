//! The real bootstrap with an invalid policy, against a stand-in for the Lambda runtime API on
//! 127.0.0.1 (a one-request HTTP listener): it must report `InvalidConfiguration` through
//! `/runtime/init/error` with the field-path message, exit non-zero, and log without colour codes.
//! No S3 server is involved: the policy is rejected before any client is built.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

/// Accepts one request; returns its request line, headers and body.
fn serve_one(listener: TcpListener) -> std::thread::JoinHandle<(String, Vec<String>, String)> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("the bootstrap connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push(line.to_ascii_lowercase());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            .expect("answer");
        (
            request_line.trim_end().to_owned(),
            headers,
            String::from_utf8_lossy(&body).into_owned(),
        )
    })
}

#[test]
fn invalid_policy_is_reported_as_invalid_configuration() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback port");
    let port = listener.local_addr().expect("address").port();
    let server = serve_one(listener);
    let output = Command::new(env!("CARGO_BIN_EXE_s3-policy-processor"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("POLICY", "rules:\n  - storage_class: STANDARD-IA\n")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run the bootstrap");
    assert!(!output.status.success(), "init must fail");
    let (request_line, headers, body) = server.join().expect("runtime API stand-in");
    assert_eq!(request_line, "POST /2018-06-01/runtime/init/error HTTP/1.1");
    assert!(
        headers.contains(&"lambda-runtime-function-error-type: invalidconfiguration".to_owned()),
        "{headers:?}"
    );
    let diagnostic: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(diagnostic["errorType"], "InvalidConfiguration");
    let message = diagnostic["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("rules[0].storage_class"), "{message}");

    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("invalid configuration"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escape in logs: {logs:?}");
}
