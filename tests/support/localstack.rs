//! LocalStack in host mode (no Docker) on a free 127.0.0.1 port: the faithful S3 server of the
//! conformance tests. It checks what moto ignores: `x-amz-copy-source-if-match`, destination
//! `If-Match` on CopyObject and CompleteMultipartUpload, no-op self-copies, SSE on plain PUTs,
//! checksums; and it runs KMS and SQS (its own S3 → SQS notifications). One server serves a
//! whole test binary; it runs in its own process group and is stopped by that group's id.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo;

/// A running LocalStack; stopped (its whole process group) when dropped.
pub struct LocalStack {
    child: Child,
    pub endpoint: String,
    _volume: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl LocalStack {
    /// Starts LocalStack (S3, SQS and KMS) from `.venv-localstack` and waits until its health
    /// endpoint answers; panics with the log's tail if it does not.
    pub fn start() -> Self {
        let python = std::env::var_os("LOCALSTACK_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv-localstack/bin/python"));
        assert!(
            python.exists(),
            "LocalStack not installed at {}; run scripts/test (it runs scripts/setup-localstack)",
            python.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free loopback port")
            .port();
        let volume =
            std::env::temp_dir().join(format!("s3pp-localstack-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&volume).expect("LocalStack volume dir");
        let log_path = volume.join("localstack.log");
        let log = std::fs::File::create(&log_path).expect("LocalStack log");
        let child = Command::new(&python)
            .args(["-m", "localstack.runtime.main"])
            .env("SERVICES", "s3,sqs,kms")
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("DNS_ADDRESS", "0")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .env("DISABLE_EVENTS", "1")
            .env("LOCALSTACK_VOLUME_DIR", &volume)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start LocalStack");
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            _volume: TempDir(volume),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("LocalStack exited ({status}):\n{}", tail(&log_path));
            }
            if health_ok(port) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        server.stop();
        panic!(
            "LocalStack did not become healthy in 120 s:\n{}",
            tail(&log_path)
        );
    }

    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `/_localstack/health` reports S3 available or running.
fn health_ok(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /_localstack/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
        && (response.contains("\"s3\": \"available\"") || response.contains("\"s3\": \"running\""))
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
