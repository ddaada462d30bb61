//! A proxy on 127.0.0.1 that makes a user's upload land at a chosen moment of the function's
//! in-place rewrite, to prove a newer object is never replaced by older bytes (S3 checks
//! `x-amz-copy-source-if-match` when a copy *starts* and writes the destination when it *ends*).
//!
//! When the first request matching its [`Moment`] arrives, the proxy runs the given upload
//! against the server directly, then forwards the request:
//! - [`Moment::BeforeComplete`]: before CompleteMultipartUpload of the key. The parts were
//!   copied from the old bytes (their source condition passed); only a destination `If-Match`
//!   on the completion can notice the newer object.
//! - [`Moment::DuringCopy`]: during a single in-place CopyObject of the key. A proxy cannot
//!   pause inside the server's copy, so it models "the source condition passed at the start,
//!   then the upload landed" by evaluating that condition itself (it forwards the request
//!   without `x-amz-copy-source-if-match`, after the upload); what remains to protect the new
//!   object is, again, the destination `If-Match`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::fault_proxy::{forward, read_request};

/// When the upload lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// Just before the rewrite's CompleteMultipartUpload reaches the server.
    BeforeComplete,
    /// During the rewrite's single CopyObject (see the module docs).
    DuringCopy,
}

/// The upload to make: an async action against the server itself.
pub type Upload = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The running proxy; stopped when dropped.
pub struct RaceProxy {
    pub endpoint: String,
    fired: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl RaceProxy {
    /// Proxies to `upstream` (`host:port`); `path` is the request path of the object
    /// (`/bucket/key`, as the client sends it, path style).
    pub async fn start(upstream: String, path: String, moment: Moment, upload: Upload) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let fired = Arc::new(AtomicBool::new(false));
        let task_fired = fired.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (upstream, path, fired, upload) = (
                    upstream.clone(),
                    path.clone(),
                    task_fired.clone(),
                    upload.clone(),
                );
                tokio::spawn(async move {
                    let Ok(Some((head, body))) = read_request(&mut socket).await else {
                        return;
                    };
                    let mut head = head;
                    if matches(&head, &path, moment) && !fired.swap(true, Ordering::SeqCst) {
                        upload().await;
                        if moment == Moment::DuringCopy {
                            head = without_header(&head, "x-amz-copy-source-if-match");
                        }
                    }
                    let _ = forward(socket, &upstream, &head, &body).await;
                });
            }
        });
        Self {
            endpoint,
            fired,
            task,
        }
    }

    /// Whether the upload was made.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for RaceProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn matches(head: &str, path: &str, moment: Moment) -> bool {
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (target_path, query) = target.split_once('?').unwrap_or((target, ""));
    if target_path != path {
        return false;
    }
    let lower = head.to_ascii_lowercase();
    match moment {
        Moment::BeforeComplete => method == "POST" && query.contains("uploadId="),
        Moment::DuringCopy => {
            method == "PUT"
                && !query.contains("uploadId=")
                && lower.contains("\r\nx-amz-copy-source:")
        }
    }
}

fn without_header(head: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    head.split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with(&prefix))
        .collect::<Vec<_>>()
        .join("\r\n")
}
