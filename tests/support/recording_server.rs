//! An HTTP server on 127.0.0.1 that records every request it gets (method, path, query,
//! headers, body) and answers each with what the test says: for contract tests of S3
//! operations no local server implements, which pin the exact request the function sends
//! against the S3 API reference. Stopped when dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::fault_proxy::read_request;

/// One request as the server got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `PUT`, `GET`, …
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Header names (lowercase) and values.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// Whether the query has `name` (with or without a value).
    pub fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// A query parameter's value.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server answers: status, extra headers, body.
pub type Reply = (u16, Vec<(&'static str, String)>, String);

/// How the server answers a request.
pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// The running server.
pub struct RecordingServer {
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

fn parse(head: &str, body: Vec<u8>) -> Recorded {
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect();
    Recorded {
        method,
        path: path.to_owned(),
        query: form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        headers,
        body,
    }
}

impl RecordingServer {
    /// Starts the server; every request is recorded and answered by `respond`.
    pub async fn start(respond: Responder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (recorded, respond) = (recorded.clone(), respond.clone());
                tokio::spawn(async move {
                    while let Ok(Some((head, body))) = read_request(&mut socket).await {
                        let request = parse(&head, body);
                        let (status, headers, body) = respond(&request);
                        if let Ok(mut all) = recorded.lock() {
                            all.push(request);
                        }
                        let mut answer = format!("HTTP/1.1 {status} X\r\n");
                        for (name, value) in headers {
                            answer.push_str(&format!("{name}: {value}\r\n"));
                        }
                        answer.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            endpoint,
            requests,
            task,
        }
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .map(|all| all.clone())
            .unwrap_or_default()
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
