//! A proxy on 127.0.0.1 that behaves like S3's regional endpoints and bucket ownership, so
//! cross-region and cross-account backups are tested without AWS:
//! - each bucket it is told about lives in a region, and a request for that bucket signed
//!   (SigV4 credential scope) for another region is answered as S3 answers it — `301
//!   PermanentRedirect` with `x-amz-bucket-region` (no body for HEAD); buckets marked
//!   "unnamed" get a 301 without the header;
//! - each bucket it is told the owner of answers a request whose `x-amz-expected-bucket-owner`
//!   names another account with `403 AccessDenied`, as S3 does (the local servers do not
//!   enforce it), and the proxy counts requests to it that carry no such header.
//!
//! Everything else is forwarded to the real server.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::fault_proxy::{forward, read_request};

/// Where a bucket lives, as the proxy answers for it.
#[derive(Debug, Clone)]
pub enum Home {
    /// In this region; wrongly signed requests get a 301 naming it.
    Region(String),
    /// In another region that 301s do not name.
    Unnamed,
}

/// The running proxy; stopped when dropped.
pub struct RegionProxy {
    pub endpoint: String,
    redirects: Arc<AtomicUsize>,
    unchecked: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// What the proxy knows about buckets.
#[derive(Debug, Clone, Default)]
pub struct Buckets {
    /// Where buckets live.
    pub homes: HashMap<String, Home>,
    /// Which account owns a bucket.
    pub owners: HashMap<String, String>,
}

impl RegionProxy {
    /// Proxies to `upstream` (`host:port`), with `homes` for some buckets (path-style).
    pub async fn start(upstream: String, homes: HashMap<String, Home>) -> Self {
        Self::start_with(
            upstream,
            Buckets {
                homes,
                ..Buckets::default()
            },
        )
        .await
    }

    /// Proxies to `upstream` knowing where buckets live and who owns them.
    pub async fn start_with(upstream: String, buckets: Buckets) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let redirects = Arc::new(AtomicUsize::new(0));
        let unchecked = Arc::new(AtomicUsize::new(0));
        let buckets = Arc::new(buckets);
        let (task_redirects, task_unchecked) = (redirects.clone(), unchecked.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (upstream, buckets, redirects, unchecked) = (
                    upstream.clone(),
                    buckets.clone(),
                    task_redirects.clone(),
                    task_unchecked.clone(),
                );
                tokio::spawn(async move {
                    let Ok(Some((head, body))) = read_request(&mut socket).await else {
                        return;
                    };
                    let answer = match redirect_for(&head, &buckets.homes) {
                        Some(response) => {
                            redirects.fetch_add(1, Ordering::SeqCst);
                            Some(response)
                        }
                        None => owner_check(&head, &buckets.owners, &unchecked),
                    };
                    if let Some(response) = answer {
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                        return;
                    }
                    let _ = forward(socket, &upstream, &head, &body).await;
                });
            }
        });
        Self {
            endpoint,
            redirects,
            unchecked,
            task,
        }
    }

    /// How many requests were answered with a redirect.
    pub fn redirects(&self) -> usize {
        self.redirects.load(Ordering::SeqCst)
    }

    /// How many requests to a bucket with a known owner carried no expected-owner header.
    pub fn unchecked(&self) -> usize {
        self.unchecked.load(Ordering::SeqCst)
    }
}

impl Drop for RegionProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Method and bucket of a path-style request.
fn method_and_bucket(head: &str) -> (&str, &str) {
    let request_line = head.lines().next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let bucket = target
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    (method, bucket)
}

fn header<'a>(head: &'a str, wanted: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case(wanted).then_some(value.trim())
    })
}

/// S3's answer to a request whose expected owner is not the bucket's owner: 403.
fn owner_check(
    head: &str,
    owners: &HashMap<String, String>,
    unchecked: &AtomicUsize,
) -> Option<String> {
    let (method, bucket) = method_and_bucket(head);
    let owner = owners.get(bucket)?;
    let expected = match header(head, "x-amz-expected-bucket-owner") {
        None => {
            unchecked.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        Some(expected) if expected == owner => return None,
        Some(expected) => expected,
    };
    let body = if method == "HEAD" {
        String::new()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied (bucket owner is not {expected})</Message><RequestId>OWNER</RequestId></Error>"
        )
    };
    Some(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// The 301 S3 would send for this request, if the bucket lives elsewhere.
fn redirect_for(head: &str, homes: &HashMap<String, Home>) -> Option<String> {
    let (method, bucket) = method_and_bucket(head);
    let home = homes.get(bucket)?;
    let signed = signed_region(head).unwrap_or_default();
    let named = match home {
        Home::Region(region) if *region == signed => return None,
        Home::Region(region) => Some(region.as_str()),
        Home::Unnamed => None,
    };
    let body = if method == "HEAD" {
        String::new()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Bucket>{bucket}</Bucket><RequestId>REGION</RequestId></Error>"
        )
    };
    let header = named
        .map(|r| format!("x-amz-bucket-region: {r}\r\n"))
        .unwrap_or_default();
    Some(format!(
        "HTTP/1.1 301 Moved Permanently\r\n{header}Content-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// The region of the SigV4 credential scope: `Credential=AKID/DATE/REGION/s3/aws4_request`.
fn signed_region(head: &str) -> Option<String> {
    let authorization = header(head, "authorization")?;
    let scope = authorization.split("Credential=").nth(1)?;
    scope.split('/').nth(2).map(str::to_owned)
}
