//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the local S3 server. Each request is
//! either forwarded or, with probability `fault_rate`, answered with a fault *before* it
//! reaches the server: `500 InternalError`, `503 SlowDown`, a reset connection, a `200` copy
//! response with an `<Error>` body, or forwarded after a delay. Faults are injected before
//! forwarding so a fault never hides a write that happened (a lost response after a write is a
//! different failure that legitimately costs a second write).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy did, by kind.
#[derive(Debug, Default)]
pub struct FaultStats {
    pub requests: AtomicUsize,
    pub internal_errors: AtomicUsize,
    pub slow_downs: AtomicUsize,
    pub resets: AtomicUsize,
    pub copy_errors_in_200: AtomicUsize,
    pub delays: AtomicUsize,
}

impl FaultStats {
    /// Faults that failed a request (delays excluded).
    pub fn failures(&self) -> usize {
        self.internal_errors.load(Ordering::Relaxed)
            + self.slow_downs.load(Ordering::Relaxed)
            + self.resets.load(Ordering::Relaxed)
            + self.copy_errors_in_200.load(Ordering::Relaxed)
    }

    /// One line for test output.
    pub fn summary(&self) -> String {
        format!(
            "{} requests; faults: {} InternalError 500, {} SlowDown 503, {} resets, {} 200-with-error copies, {} delays",
            self.requests.load(Ordering::Relaxed),
            self.internal_errors.load(Ordering::Relaxed),
            self.slow_downs.load(Ordering::Relaxed),
            self.resets.load(Ordering::Relaxed),
            self.copy_errors_in_200.load(Ordering::Relaxed),
            self.delays.load(Ordering::Relaxed),
        )
    }
}

/// The running proxy; stopped when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    pub stats: Arc<FaultStats>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`) failing about `fault_rate` of requests.
    pub async fn start(upstream: String, fault_rate: f64, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let stats = Arc::new(FaultStats::default());
        let rng = Arc::new(std::sync::Mutex::new(fastrand::Rng::with_seed(seed)));
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (stats, rng, upstream) = (task_stats.clone(), rng.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = handle(socket, &upstream, fault_rate, &stats, &rng).await;
                });
            }
        });
        Self {
            endpoint,
            stats,
            task,
        }
    }
}

/// Reads one request (head and Content-Length body).
pub async fn read_request(socket: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

fn error_response(status: &str, code: &str, message: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>FAULT</RequestId><HostId>proxy</HostId></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn handle(
    mut client: TcpStream,
    upstream: &str,
    fault_rate: f64,
    stats: &FaultStats,
    rng: &std::sync::Mutex<fastrand::Rng>,
) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut client).await? else {
        return Ok(());
    };
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let is_copy = head.to_ascii_lowercase().contains("\r\nx-amz-copy-source:");
    let (roll, kind) = {
        let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
        (rng.f64(), rng.u8(0..5))
    };
    if roll < fault_rate {
        match kind {
            0 => {
                stats.internal_errors.fetch_add(1, Ordering::Relaxed);
                let response =
                    error_response("500 Internal Server Error", "InternalError", "injected");
                return client.write_all(response.as_bytes()).await;
            }
            1 => {
                stats.slow_downs.fetch_add(1, Ordering::Relaxed);
                let response = error_response(
                    "503 Slow Down",
                    "SlowDown",
                    "Please reduce your request rate.",
                );
                return client.write_all(response.as_bytes()).await;
            }
            2 => {
                stats.resets.fetch_add(1, Ordering::Relaxed);
                #[allow(deprecated)]
                client.set_linger(Some(Duration::ZERO))?;
                drop(client);
                return Ok(());
            }
            3 if is_copy => {
                stats.copy_errors_in_200.fetch_add(1, Ordering::Relaxed);
                let response = error_response(
                    "200 OK",
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                );
                return client.write_all(response.as_bytes()).await;
            }
            _ => {
                stats.delays.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
    }
    forward(client, upstream, &head, &body).await
}

/// Forwards one request with `Connection: close` and relays the response until the server
/// closes the connection.
pub async fn forward(
    mut client: TcpStream,
    upstream: &str,
    head: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let mut lines: Vec<&str> = head.trim_end_matches("\r\n").split("\r\n").collect();
    lines.retain(|l| !l.to_ascii_lowercase().starts_with("connection:"));
    let forwarded_head = format!("{}\r\nConnection: close\r\n\r\n", lines.join("\r\n"));
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(forwarded_head.as_bytes()).await?;
    server.write_all(body).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    client.write_all(&response).await?;
    client.shutdown().await
}
