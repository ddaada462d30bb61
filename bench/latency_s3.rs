//! A latency-modelled S3 server for the benchmarks (bench/run): answers the S3 requests the
//! function, the bare-SDK floor and boto3 make on the benchmark path, each after a fixed delay
//! per operation, from an in-memory table that stores object sizes and attributes, not bytes.
//!
//! On real S3 a request costs tens of milliseconds of latency and next to no server CPU; on moto
//! it costs server CPU, so moto bounds any throughput measured against it. Here the delay is a
//! timer (`tokio::time::sleep`) and the server does microseconds of work per request on one
//! thread, so hundreds of requests can be in flight and the CLIENT sets the pace.
//!
//! S3 semantics kept (path-style URLs; auth and signatures are ignored): HeadBucket with
//! `x-amz-bucket-region`, CreateBucket, PutObject (tags, content type, user metadata, class,
//! SSE, `If-None-Match: *`, `If-Match`), HeadObject (`x-amz-tagging-count` only when the object
//! has tags, SSE always reported), GetObject, Get/Put/DeleteObjectTagging, DeleteObject,
//! ListObjectsV2, Get/PutBucketVersioning (versioning is a flag: objects get no version ids),
//! GetObjectLockConfiguration (no bucket has Object Lock), and CopyObject with source and
//! destination preconditions (`412`), both
//! destination conditions at once (`501`), metadata and tagging directives, class and SSE (a
//! copy resets both unless given), a new random ETag for KMS copies, and the refusal of a
//! self-copy that changes nothing (`400 InvalidRequest`). Multipart copies (multipart.rs) and
//! UpdateObjectEncryption (object_encryption.rs) keep sizes only, so a 5 TiB object costs the
//! server 10,000 part records and no bytes. Small PutObject bodies (the function's own records)
//! are kept and read back by GetObject; other GetObject bodies are made up to the stored size.
//!
//! Admin endpoints for the harness: `POST /_bench/seed?bucket=B&prefix=P&count=N&size=S`
//! (keys `{prefix}{i:05}.txt`; optional `start`, `tagging`, `storage_class`), `GET
//! /_bench/stats`, `POST /_bench/reset-stats`, `GET|POST /_bench/delays?head=15&copy=40…`, and
//! `GET /_bench/summary?bucket=B&prefix=P` (counts by class, encryption and tag set).
//!
//! With `--tls-cert` and `--tls-key` (PEM) it also answers HTTPS (rustls, as the clients use) on
//! a second port, from the same table: clients measured over TLS pay S3's handshake and record
//! costs, while the harness keeps the plain port for its admin calls.
//!
//! Usage: latency_s3 [--host 127.0.0.1] [--port 0] [--head-ms 15] [--tagging-ms 15]
//! [--copy-ms 40] [--put-ms 20] [--get-ms 15] [--list-ms 15] [--delete-ms 15]
//! [--tls-cert CERT.pem --tls-key KEY.pem]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

#[path = "latency_s3/multipart.rs"]
mod multipart;
#[path = "latency_s3/object_encryption.rs"]
mod object_encryption;

/// The region every bucket is in.
const REGION: &str = "us-east-1";
/// The ARN S3 reports for the AWS-managed `aws/s3` key (SSE-KMS without a key id).
const AWS_MANAGED_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000a35";
/// Request bodies kept as bytes (tagging documents); larger bodies are only counted.
const KEEP_BODY_BYTES: usize = 1 << 20;
/// Storage classes S3 accepts on writes to a general-purpose bucket.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];
/// Content headers stored with an object and carried by a COPY metadata directive.
const CONTENT_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];
/// Characters percent-encoded in keys of a listing with `encoding-type=url`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Command line: where to listen and how long each kind of request takes.
#[derive(Debug, Parser)]
#[command(about = "Latency-modelled S3 server for the benchmarks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the bound port is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay of HeadObject and HeadBucket, in milliseconds.
    #[arg(long, default_value_t = 15)]
    head_ms: u64,
    /// Delay of Get/Put/DeleteObjectTagging, in milliseconds.
    #[arg(long, default_value_t = 15)]
    tagging_ms: u64,
    /// Delay of CopyObject, in milliseconds.
    #[arg(long, default_value_t = 40)]
    copy_ms: u64,
    /// Delay of PutObject and CreateBucket, in milliseconds.
    #[arg(long, default_value_t = 20)]
    put_ms: u64,
    /// Delay of GetObject, in milliseconds.
    #[arg(long, default_value_t = 15)]
    get_ms: u64,
    /// Delay of listings, in milliseconds.
    #[arg(long, default_value_t = 15)]
    list_ms: u64,
    /// Delay of DeleteObject, in milliseconds.
    #[arg(long, default_value_t = 15)]
    delete_ms: u64,
    /// PEM certificate chain: with `--tls-key`, the same server also answers HTTPS on a second
    /// port (printed as `tls port N`), as S3 does; the plain port stays for the harness.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

/// Per-operation delays in milliseconds, changeable at run time through `/_bench/delays`.
#[derive(Debug, Default)]
struct Delays {
    head: AtomicU64,
    tagging: AtomicU64,
    copy: AtomicU64,
    put: AtomicU64,
    get: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
}

impl Delays {
    fn by_name(&self) -> [(&'static str, &AtomicU64); 7] {
        [
            ("head", &self.head),
            ("tagging", &self.tagging),
            ("copy", &self.copy),
            ("put", &self.put),
            ("get", &self.get),
            ("list", &self.list),
            ("delete", &self.delete),
        ]
    }

    fn json(&self) -> serde_json::Value {
        self.by_name()
            .into_iter()
            .map(|(name, ms)| (name.to_owned(), ms.load(Ordering::Relaxed).into()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// Server-side encryption of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sse {
    Aes256,
    Kms {
        dsse: bool,
        key_id: String,
        bucket_key: bool,
    },
}

/// One stored object: its size and attributes; the bytes are not kept.
#[derive(Debug, Clone)]
struct Object {
    size: u64,
    /// Identity of the bytes (what an MD5 ETag would be); the ETag of non-KMS copies.
    content_id: String,
    /// The ETag, unquoted.
    etag: String,
    last_modified: SystemTime,
    content_type: String,
    content_headers: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
    storage_class: String,
    sse: Sse,
    tags: Vec<(String, String)>,
    website_redirect: Option<String>,
    /// The bytes of a small object written with PutObject (the function's own records, read
    /// back whole); `None` for seeded and large objects, whose GetObject bytes are made up.
    bytes: Option<Bytes>,
}

type Bucket = BTreeMap<String, Object>;

/// A request body as the handlers see it: its length, a hash of its bytes, and the bytes when
/// small.
#[derive(Debug, Clone, Default)]
struct Body {
    len: u64,
    hash: String,
    bytes: Option<Bytes>,
}

/// The parts of a request the S3 handlers read.
#[derive(Debug)]
struct S3Request {
    method: Method,
    bucket: String,
    key: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Body,
}

impl S3Request {
    fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (XML documents), empty when it was too large to keep.
    fn body_text(&self) -> String {
        self.body
            .bytes
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

/// The S3 operations the server knows (named as in the S3 API, which is how stats count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    PutBucketVersioning,
    GetObjectLockConfiguration,
    ListObjectsV2,
    ListObjects,
    HeadObject,
    GetObject,
    PutObject,
    CopyObject,
    DeleteObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    UpdateObjectEncryption,
    CreateMultipartUpload,
    UploadPartCopy,
    ListParts,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    Unsupported,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::ListBuckets => "ListBuckets",
            Op::CreateBucket => "CreateBucket",
            Op::HeadBucket => "HeadBucket",
            Op::DeleteBucket => "DeleteBucket",
            Op::GetBucketLocation => "GetBucketLocation",
            Op::GetBucketVersioning => "GetBucketVersioning",
            Op::PutBucketVersioning => "PutBucketVersioning",
            Op::GetObjectLockConfiguration => "GetObjectLockConfiguration",
            Op::ListObjectsV2 => "ListObjectsV2",
            Op::ListObjects => "ListObjects",
            Op::HeadObject => "HeadObject",
            Op::GetObject => "GetObject",
            Op::PutObject => "PutObject",
            Op::CopyObject => "CopyObject",
            Op::DeleteObject => "DeleteObject",
            Op::GetObjectTagging => "GetObjectTagging",
            Op::PutObjectTagging => "PutObjectTagging",
            Op::DeleteObjectTagging => "DeleteObjectTagging",
            Op::UpdateObjectEncryption => "UpdateObjectEncryption",
            Op::CreateMultipartUpload => "CreateMultipartUpload",
            Op::UploadPartCopy => "UploadPartCopy",
            Op::ListParts => "ListParts",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::Unsupported => "Unsupported",
        }
    }

    /// Which operation a request is (sub-resources this server does not model: Unsupported).
    fn classify(request: &S3Request) -> Op {
        const BUCKET_PARAMS: &[&str] = &[
            "list-type",
            "prefix",
            "delimiter",
            "max-keys",
            "continuation-token",
            "start-after",
            "encoding-type",
            "fetch-owner",
            "marker",
            "x-id",
        ];
        const OBJECT_PARAMS: &[&str] = &[
            "versionId",
            "x-id",
            "tagging",
            "encryption",
            "uploads",
            "uploadId",
            "partNumber",
            "max-parts",
            "part-number-marker",
        ];
        let method = &request.method;
        if request.bucket.is_empty() {
            return if method == Method::GET {
                Op::ListBuckets
            } else {
                Op::Unsupported
            };
        }
        if request.key.is_empty() {
            if request.has_query("location") && method == Method::GET {
                return Op::GetBucketLocation;
            }
            if request.has_query("versioning") {
                return match *method {
                    Method::GET => Op::GetBucketVersioning,
                    Method::PUT => Op::PutBucketVersioning,
                    _ => Op::Unsupported,
                };
            }
            if request.has_query("object-lock") && method == Method::GET {
                return Op::GetObjectLockConfiguration;
            }
            if request
                .query
                .iter()
                .any(|(k, _)| !BUCKET_PARAMS.contains(&k.as_str()))
            {
                return Op::Unsupported;
            }
            return match *method {
                Method::HEAD => Op::HeadBucket,
                Method::PUT => Op::CreateBucket,
                Method::DELETE => Op::DeleteBucket,
                Method::GET if request.query("list-type") == Some("2") => Op::ListObjectsV2,
                Method::GET => Op::ListObjects,
                _ => Op::Unsupported,
            };
        }
        if request
            .query
            .iter()
            .any(|(k, _)| !OBJECT_PARAMS.contains(&k.as_str()))
        {
            return Op::Unsupported;
        }
        if request.has_query("encryption") {
            return if method == Method::PUT {
                Op::UpdateObjectEncryption
            } else {
                Op::Unsupported
            };
        }
        if request.has_query("uploads") {
            return if method == Method::POST {
                Op::CreateMultipartUpload
            } else {
                Op::Unsupported
            };
        }
        if request.has_query("uploadId") {
            let copy = request.headers.contains_key("x-amz-copy-source");
            return match *method {
                Method::PUT if copy && request.has_query("partNumber") => Op::UploadPartCopy,
                Method::GET => Op::ListParts,
                Method::POST => Op::CompleteMultipartUpload,
                Method::DELETE => Op::AbortMultipartUpload,
                _ => Op::Unsupported,
            };
        }
        let tagging = request.has_query("tagging");
        match (method.clone(), tagging) {
            (Method::HEAD, false) => Op::HeadObject,
            (Method::GET, false) => Op::GetObject,
            (Method::GET, true) => Op::GetObjectTagging,
            (Method::PUT, true) => Op::PutObjectTagging,
            (Method::DELETE, true) => Op::DeleteObjectTagging,
            (Method::PUT, false) if request.headers.contains_key("x-amz-copy-source") => {
                Op::CopyObject
            }
            (Method::PUT, false) => Op::PutObject,
            (Method::DELETE, false) => Op::DeleteObject,
            _ => Op::Unsupported,
        }
    }

    /// The delay this operation waits before answering.
    fn delay(self, delays: &Delays) -> Option<&AtomicU64> {
        Some(match self {
            Op::HeadBucket | Op::HeadObject => &delays.head,
            Op::CreateBucket
            | Op::PutObject
            | Op::UpdateObjectEncryption
            | Op::CreateMultipartUpload
            | Op::CompleteMultipartUpload => &delays.put,
            Op::GetObject => &delays.get,
            Op::CopyObject | Op::UploadPartCopy => &delays.copy,
            Op::GetObjectTagging | Op::PutObjectTagging | Op::DeleteObjectTagging => {
                &delays.tagging
            }
            Op::ListObjectsV2
            | Op::ListObjects
            | Op::ListBuckets
            | Op::GetBucketLocation
            | Op::GetBucketVersioning
            | Op::PutBucketVersioning
            | Op::GetObjectLockConfiguration
            | Op::ListParts => &delays.list,
            Op::DeleteObject | Op::DeleteBucket | Op::AbortMultipartUpload => &delays.delete,
            Op::Unsupported => return None,
        })
    }
}

/// An S3 error answer: status, code, message and extra XML elements.
#[derive(Debug, Clone, PartialEq, Eq)]
struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Vec<(&'static str, String)>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    fn with(mut self, element: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((element, value.into()));
        self
    }

    fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    fn no_such_key(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    fn precondition(condition: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", condition)
    }

    fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }
}

/// A successful answer: status, headers and body.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn ok() -> Self {
        Self {
            status: 200,
            ..Self::default()
        }
    }

    fn xml(body: String) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}").into_bytes(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// The buckets, each a sorted map of keys to objects.
#[derive(Debug, Default)]
struct Store {
    buckets: HashMap<String, Bucket>,
    /// Buckets whose versioning was turned on (PutBucketVersioning).
    versioned: std::collections::HashSet<String>,
    /// Counter mixed into random ETags.
    generation: u64,
    /// Multipart uploads in progress, by upload id.
    uploads: HashMap<String, multipart::Upload>,
}

impl Store {
    /// Runs one S3 operation against the table at time `now`.
    fn apply(&mut self, op: Op, request: &S3Request, now: SystemTime) -> Result<Answer, S3Error> {
        match op {
            Op::ListBuckets => Ok(self.list_buckets(now)),
            Op::CreateBucket => {
                // us-east-1 answers 200 to its owner re-creating a bucket.
                self.buckets.entry(request.bucket.clone()).or_default();
                Ok(Answer::ok().header("location", format!("/{}", request.bucket)))
            }
            Op::HeadBucket => {
                self.bucket(&request.bucket)?;
                Ok(Answer::ok()
                    .header("x-amz-bucket-region", REGION)
                    .header("x-amz-access-point-alias", "false"))
            }
            Op::DeleteBucket => {
                let bucket = self.bucket(&request.bucket)?;
                if !bucket.is_empty() {
                    return Err(S3Error::new(
                        StatusCode::CONFLICT,
                        "BucketNotEmpty",
                        "The bucket you tried to delete is not empty",
                    ));
                }
                self.buckets.remove(&request.bucket);
                Ok(Answer {
                    status: 204,
                    ..Answer::default()
                })
            }
            Op::GetBucketLocation => {
                self.bucket(&request.bucket)?;
                Ok(Answer::xml(
                    "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
                        .into(),
                ))
            }
            Op::GetBucketVersioning => {
                self.bucket(&request.bucket)?;
                let status = if self.versioned.contains(&request.bucket) {
                    "<Status>Enabled</Status>"
                } else {
                    ""
                };
                Ok(Answer::xml(format!(
                    "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{status}</VersioningConfiguration>"
                )))
            }
            Op::PutBucketVersioning => {
                self.bucket(&request.bucket)?;
                if request.body_text().contains("<Status>Enabled</Status>") {
                    self.versioned.insert(request.bucket.clone());
                } else {
                    self.versioned.remove(&request.bucket);
                }
                Ok(Answer::ok())
            }
            Op::GetObjectLockConfiguration => {
                self.bucket(&request.bucket)?;
                Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "ObjectLockConfigurationNotFoundError",
                    "Object Lock configuration does not exist for this bucket",
                ))
            }
            Op::ListObjectsV2 | Op::ListObjects => self.list_objects(op, request),
            Op::HeadObject | Op::GetObject => {
                let object = self.object(&request.bucket, &request.key)?;
                if op == Op::GetObject && archived(&object.storage_class) {
                    return Err(S3Error::new(
                        StatusCode::FORBIDDEN,
                        "InvalidObjectState",
                        "The operation is not valid for the object's storage class",
                    ));
                }
                let mut answer = head_answer(object);
                if op == Op::GetObject {
                    answer.body = match &object.bytes {
                        Some(bytes) => bytes.to_vec(),
                        None => body_of(object.size),
                    };
                }
                Ok(answer)
            }
            Op::PutObject => self.put_object(request, now),
            Op::CopyObject => self.copy_object(request, now),
            Op::DeleteObject => {
                self.bucket_mut(&request.bucket)?.remove(&request.key);
                Ok(Answer {
                    status: 204,
                    ..Answer::default()
                })
            }
            Op::GetObjectTagging => {
                let object = self.object(&request.bucket, &request.key)?;
                let tags: String = object
                    .tags
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                            escape(k),
                            escape(v)
                        )
                    })
                    .collect();
                Ok(Answer::xml(format!(
                    "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>{tags}</TagSet></Tagging>"
                )))
            }
            Op::PutObjectTagging => {
                let tags = parse_tagging_xml(&request.body_text())?;
                self.object_mut(&request.bucket, &request.key)?.tags = tags;
                Ok(Answer::ok())
            }
            Op::DeleteObjectTagging => {
                self.object_mut(&request.bucket, &request.key)?.tags.clear();
                Ok(Answer {
                    status: 204,
                    ..Answer::default()
                })
            }
            Op::UpdateObjectEncryption => self.update_object_encryption(request),
            Op::CreateMultipartUpload => self.create_multipart_upload(request, now),
            Op::UploadPartCopy => self.upload_part_copy(request, now),
            Op::ListParts => self.list_parts(request),
            Op::CompleteMultipartUpload => self.complete_multipart_upload(request, now),
            Op::AbortMultipartUpload => self.abort_multipart_upload(request),
            Op::Unsupported => Err(S3Error::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "This benchmark server does not implement this request",
            )),
        }
    }

    fn bucket(&self, name: &str) -> Result<&Bucket, S3Error> {
        self.buckets
            .get(name)
            .ok_or_else(|| S3Error::no_such_bucket(name))
    }

    fn bucket_mut(&mut self, name: &str) -> Result<&mut Bucket, S3Error> {
        self.buckets
            .get_mut(name)
            .ok_or_else(|| S3Error::no_such_bucket(name))
    }

    fn object(&self, bucket: &str, key: &str) -> Result<&Object, S3Error> {
        self.bucket(bucket)?
            .get(key)
            .ok_or_else(|| S3Error::no_such_key(key))
    }

    fn object_mut(&mut self, bucket: &str, key: &str) -> Result<&mut Object, S3Error> {
        self.bucket_mut(bucket)?
            .get_mut(key)
            .ok_or_else(|| S3Error::no_such_key(key))
    }

    /// A fresh random-looking ETag (what S3 gives KMS-encrypted objects).
    fn random_etag(&mut self, now: SystemTime) -> String {
        self.generation += 1;
        let nanos = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        hash_hex(&[
            b"random",
            &self.generation.to_le_bytes(),
            &nanos.to_le_bytes(),
        ])
    }

    fn etag_for(&mut self, content_id: &str, sse: &Sse, now: SystemTime) -> String {
        match sse {
            Sse::Kms { .. } => self.random_etag(now),
            Sse::Aes256 => content_id.to_owned(),
        }
    }

    fn list_buckets(&self, now: SystemTime) -> Answer {
        let mut names: Vec<&String> = self.buckets.keys().collect();
        names.sort();
        let buckets: String = names
            .iter()
            .map(|n| {
                format!(
                    "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                    escape(n),
                    iso8601(now)
                )
            })
            .collect();
        Answer::xml(format!(
            "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>bench</ID></Owner><Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
        ))
    }

    fn list_objects(&self, op: Op, request: &S3Request) -> Result<Answer, S3Error> {
        let bucket = self.bucket(&request.bucket)?;
        let v2 = op == Op::ListObjectsV2;
        let prefix = request.query("prefix").unwrap_or("");
        let delimiter = request.query("delimiter").filter(|d| !d.is_empty());
        let url = request.query("encoding-type") == Some("url");
        let max_keys: usize = match request.query("max-keys") {
            None => 1000,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| S3Error::invalid_argument("Provided max-keys not an integer"))?
                .min(1000),
        };
        let after = if v2 {
            request
                .query("continuation-token")
                .or(request.query("start-after"))
        } else {
            request.query("marker")
        }
        .unwrap_or("");
        let enc = |s: &str| {
            if url {
                utf8_percent_encode(s, URL_ENCODE).to_string()
            } else {
                escape(s)
            }
        };
        let mut contents = String::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut count = 0;
        let mut last = None;
        let mut truncated = false;
        let range = bucket
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .filter(|(k, _)| k.starts_with(prefix));
        for (key, object) in range {
            if let Some(d) = delimiter
                && let Some(at) = key[prefix.len()..].find(d)
            {
                let common = &key[..prefix.len() + at + d.len()];
                if prefixes.last().map(String::as_str) == Some(common) {
                    continue;
                }
                if count == max_keys {
                    truncated = true;
                    break;
                }
                prefixes.push(common.to_owned());
                count += 1;
                last = Some(key.clone());
                continue;
            }
            if count == max_keys {
                truncated = true;
                break;
            }
            contents.push_str(&format!(
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>{}</StorageClass></Contents>",
                enc(key),
                iso8601(object.last_modified),
                object.etag,
                object.size,
                object.storage_class
            ));
            count += 1;
            last = Some(key.clone());
        }
        // A common prefix is skipped whole: continue after its last possible key.
        let next = last.map(|k| match prefixes.last() {
            Some(p) if k.starts_with(p.as_str()) => format!("{p}\u{10FFFF}"),
            _ => k,
        });
        let common: String = prefixes
            .iter()
            .map(|p| {
                format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    enc(p)
                )
            })
            .collect();
        let mut xml = format!(
            "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
            escape(&request.bucket),
            enc(prefix)
        );
        if let Some(d) = delimiter {
            xml.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
        }
        if url {
            xml.push_str("<EncodingType>url</EncodingType>");
        }
        if v2 {
            xml.push_str(&format!("<KeyCount>{count}</KeyCount>"));
            if let Some(token) = request.query("continuation-token") {
                xml.push_str(&format!(
                    "<ContinuationToken>{}</ContinuationToken>",
                    escape(token)
                ));
            }
            if let Some(start) = request.query("start-after") {
                xml.push_str(&format!("<StartAfter>{}</StartAfter>", enc(start)));
            }
            if truncated && let Some(next) = &next {
                xml.push_str(&format!(
                    "<NextContinuationToken>{}</NextContinuationToken>",
                    escape(next)
                ));
            }
        } else {
            xml.push_str(&format!("<Marker>{}</Marker>", enc(after)));
            if truncated && let Some(next) = &next {
                xml.push_str(&format!("<NextMarker>{}</NextMarker>", enc(next)));
            }
        }
        xml.push_str(&contents);
        xml.push_str(&common);
        xml.push_str("</ListBucketResult>");
        Ok(Answer::xml(xml))
    }

    fn put_object(&mut self, request: &S3Request, now: SystemTime) -> Result<Answer, S3Error> {
        let existing = self
            .bucket(&request.bucket)?
            .get(&request.key)
            .map(|o| o.etag.clone());
        check_destination(request, existing.as_deref())?;
        let storage_class = storage_class(request)?.unwrap_or_else(|| "STANDARD".into());
        let sse = sse_from_headers(request)?.unwrap_or(Sse::Aes256);
        let tags = match request.header("x-amz-tagging") {
            Some(text) => parse_tagging_header(text)?,
            None => Vec::new(),
        };
        let size = request
            .header("x-amz-decoded-content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(request.body.len);
        let content_id = request.body.hash.clone();
        let etag = self.etag_for(&content_id, &sse, now);
        let bytes = request.body.bytes.as_ref().and_then(|raw| {
            if request.headers.contains_key("x-amz-decoded-content-length") {
                aws_chunked_payload(raw)
            } else {
                Some(raw.clone())
            }
        });
        let object = Object {
            bytes,
            size,
            content_id,
            etag,
            last_modified: now,
            content_type: request
                .header("content-type")
                .unwrap_or("binary/octet-stream")
                .to_owned(),
            content_headers: content_headers(request),
            metadata: user_metadata(&request.headers),
            storage_class,
            sse,
            tags,
            website_redirect: request
                .header("x-amz-website-redirect-location")
                .map(str::to_owned),
        };
        let answer = write_answer(Answer::ok(), &object).header("etag", quote(&object.etag));
        self.bucket_mut(&request.bucket)?
            .insert(request.key.clone(), object);
        Ok(answer)
    }

    /// The source of a CopyObject or UploadPartCopy (`x-amz-copy-source`), as bucket, key and
    /// object, once S3's checks pass: it exists, is not archived, and meets the
    /// `x-amz-copy-source-if-match` / `-if-none-match` conditions.
    fn copy_source(&self, request: &S3Request) -> Result<(String, String, &Object), S3Error> {
        let raw = request.header("x-amz-copy-source").unwrap_or("");
        let (bucket, key) = parse_copy_source(raw).ok_or_else(|| {
            S3Error::invalid_argument("Copy Source must mention the source bucket and key")
        })?;
        let source = self.object(&bucket, &key)?;
        if archived(&source.storage_class) {
            return Err(S3Error::new(
                StatusCode::FORBIDDEN,
                "InvalidObjectState",
                "Operation is not valid for the source object's storage class",
            ));
        }
        if let Some(expected) = request.header("x-amz-copy-source-if-match")
            && !etag_matches(expected, &source.etag)
        {
            return Err(S3Error::precondition("x-amz-copy-source-If-Match"));
        }
        if let Some(unexpected) = request.header("x-amz-copy-source-if-none-match")
            && etag_matches(unexpected, &source.etag)
        {
            return Err(S3Error::precondition("x-amz-copy-source-If-None-Match"));
        }
        Ok((bucket, key, source))
    }

    fn copy_object(&mut self, request: &S3Request, now: SystemTime) -> Result<Answer, S3Error> {
        if request.headers.contains_key("if-match") && request.headers.contains_key("if-none-match")
        {
            return Err(S3Error::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
            .with("Header", "If-Match,If-None-Match"));
        }
        let (source_bucket, source_key, source) = self.copy_source(request)?;
        let source = source.clone();
        let existing = self
            .bucket(&request.bucket)?
            .get(&request.key)
            .map(|o| o.etag.clone());
        check_destination(request, existing.as_deref())?;

        let replace_metadata = directive(request, "x-amz-metadata-directive")?;
        let replace_tags = directive(request, "x-amz-tagging-directive")?;
        let class_header = storage_class(request)?;
        let sse_header = sse_from_headers(request)?;
        let redirect = request
            .header("x-amz-website-redirect-location")
            .map(str::to_owned);
        let same_place = source_bucket == request.bucket && source_key == request.key;
        let class_changes = class_header
            .as_deref()
            .is_some_and(|c| c != source.storage_class);
        if same_place
            && !replace_metadata
            && !class_changes
            && sse_header.is_none()
            && redirect.is_none()
        {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes.",
            ));
        }
        let tags = if replace_tags {
            match request.header("x-amz-tagging") {
                Some(text) => parse_tagging_header(text)?,
                None => Vec::new(),
            }
        } else {
            source.tags.clone()
        };
        let (content_type, content_headers, metadata) = if replace_metadata {
            (
                request
                    .header("content-type")
                    .unwrap_or("binary/octet-stream")
                    .to_owned(),
                content_headers(request),
                user_metadata(&request.headers),
            )
        } else {
            (
                source.content_type.clone(),
                source.content_headers.clone(),
                source.metadata.clone(),
            )
        };
        // A copy keeps neither class nor encryption: both come from the request or defaults.
        let sse = sse_header.unwrap_or(Sse::Aes256);
        let etag = self.etag_for(&source.content_id, &sse, now);
        let object = Object {
            bytes: source.bytes.clone(),
            size: source.size,
            content_id: source.content_id.clone(),
            etag,
            last_modified: now,
            content_type,
            content_headers,
            metadata,
            storage_class: class_header.unwrap_or_else(|| "STANDARD".into()),
            sse,
            tags,
            website_redirect: redirect,
        };
        let answer = write_answer(
            Answer::xml(format!(
                "<CopyObjectResult><ETag>&quot;{}&quot;</ETag><LastModified>{}</LastModified></CopyObjectResult>",
                object.etag,
                iso8601(now)
            )),
            &object,
        );
        self.bucket_mut(&request.bucket)?
            .insert(request.key.clone(), object);
        Ok(answer)
    }

    /// Creates `count` objects `{prefix}{i:05}.txt` (text/plain, STANDARD, SSE-S3); returns
    /// each one's key, ETag and size, for events like the ones S3 sends.
    fn seed(
        &mut self,
        params: &HashMap<String, String>,
        now: SystemTime,
    ) -> Result<Vec<(String, String, u64)>, String> {
        let bucket = params.get("bucket").ok_or("seed needs bucket=")?;
        let prefix = params.get("prefix").map(String::as_str).unwrap_or("");
        let number = |name: &str, default: u64| -> Result<u64, String> {
            params
                .get(name)
                .map(|v| v.parse::<u64>().map_err(|e| format!("{name}={v:?}: {e}")))
                .unwrap_or(Ok(default))
        };
        let count = number("count", 1)?;
        let size = number("size", 600)?;
        let start = number("start", 0)?;
        let tags = match params.get("tagging") {
            Some(text) => parse_tagging_header(text).map_err(|e| e.message)?,
            None => Vec::new(),
        };
        let storage_class = params
            .get("storage_class")
            .cloned()
            .unwrap_or_else(|| "STANDARD".into());
        let table = self.buckets.entry(bucket.clone()).or_default();
        let mut seeded = Vec::new();
        for i in start..start + count {
            let key = format!("{prefix}{i:05}.txt");
            let content_id = hash_hex(&[
                b"seed",
                bucket.as_bytes(),
                key.as_bytes(),
                &size.to_le_bytes(),
            ]);
            seeded.push((key.clone(), content_id.clone(), size));
            table.insert(
                key,
                Object {
                    size,
                    etag: content_id.clone(),
                    content_id,
                    last_modified: now,
                    content_type: "text/plain".into(),
                    content_headers: BTreeMap::new(),
                    metadata: BTreeMap::new(),
                    storage_class: storage_class.clone(),
                    sse: Sse::Aes256,
                    tags: tags.clone(),
                    website_redirect: None,
                    bytes: None,
                },
            );
        }
        Ok(seeded)
    }

    /// Counts of the objects under a prefix by class, encryption and tag set.
    fn summary(&self, bucket: &str, prefix: &str) -> serde_json::Value {
        let mut classes: BTreeMap<String, u64> = BTreeMap::new();
        let mut encryption: BTreeMap<String, u64> = BTreeMap::new();
        let mut tags: BTreeMap<String, u64> = BTreeMap::new();
        let mut objects = 0u64;
        for (_, object) in self
            .buckets
            .get(bucket)
            .into_iter()
            .flat_map(|b| {
                b.range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                ))
            })
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            objects += 1;
            *classes.entry(object.storage_class.clone()).or_default() += 1;
            let sse = match &object.sse {
                Sse::Aes256 => "AES256".to_owned(),
                Sse::Kms { key_id, .. } => format!("aws:kms {key_id}"),
            };
            *encryption.entry(sse).or_default() += 1;
            let set: Vec<String> = object
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            *tags.entry(set.join("&")).or_default() += 1;
        }
        serde_json::json!({
            "objects": objects,
            "storage_class": classes,
            "encryption": encryption,
            "tags": tags,
        })
    }
}

/// HeadObject's headers for `object` (GetObject adds the body).
fn head_answer(object: &Object) -> Answer {
    let mut answer = write_answer(Answer::ok(), object)
        .header("etag", quote(&object.etag))
        .header("content-length", object.size.to_string())
        .header(
            "last-modified",
            httpdate::fmt_http_date(object.last_modified),
        )
        .header("content-type", object.content_type.clone())
        .header("accept-ranges", "bytes");
    if !object.tags.is_empty() {
        answer = answer.header("x-amz-tagging-count", object.tags.len().to_string());
    }
    for (name, value) in &object.content_headers {
        answer = answer.header(name, value.clone());
    }
    for (name, value) in &object.metadata {
        answer = answer.header(&format!("x-amz-meta-{name}"), value.clone());
    }
    if let Some(redirect) = &object.website_redirect {
        answer = answer.header("x-amz-website-redirect-location", redirect.clone());
    }
    answer
}

/// The headers S3 returns on writes and reads: encryption always, class when not STANDARD.
fn write_answer(mut answer: Answer, object: &Object) -> Answer {
    match &object.sse {
        Sse::Aes256 => answer = answer.header("x-amz-server-side-encryption", "AES256"),
        Sse::Kms {
            dsse,
            key_id,
            bucket_key,
        } => {
            let name = if *dsse { "aws:kms:dsse" } else { "aws:kms" };
            answer = answer.header("x-amz-server-side-encryption", name).header(
                "x-amz-server-side-encryption-aws-kms-key-id",
                key_id.clone(),
            );
            if *bucket_key {
                answer = answer.header("x-amz-server-side-encryption-bucket-key-enabled", "true");
            }
        }
    }
    if object.storage_class != "STANDARD" {
        answer = answer.header("x-amz-storage-class", object.storage_class.clone());
    }
    answer
}

/// Destination conditions of a write: `If-None-Match: *` (fails if the key exists) and
/// `If-Match: ETag` (fails if it is missing or has another ETag).
fn check_destination(request: &S3Request, existing: Option<&str>) -> Result<(), S3Error> {
    if request.headers.contains_key("if-match") && request.headers.contains_key("if-none-match") {
        return Err(S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        )
        .with("Header", "If-Match,If-None-Match"));
    }
    if let Some(value) = request.header("if-none-match") {
        if value.trim() != "*" {
            return Err(S3Error::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
            .with("Header", "If-None-Match"));
        }
        if existing.is_some() {
            return Err(S3Error::precondition("If-None-Match"));
        }
    }
    if let Some(expected) = request.header("if-match") {
        match existing {
            Some(etag) if etag_matches(expected, etag) => {}
            _ => return Err(S3Error::precondition("If-Match")),
        }
    }
    Ok(())
}

/// `COPY` (false, the default) or `REPLACE` (true) from a directive header.
fn directive(request: &S3Request, name: &str) -> Result<bool, S3Error> {
    match request.header(name) {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(other) => Err(S3Error::invalid_argument(format!(
            "Unknown {name}: {other}"
        ))),
    }
}

fn storage_class(request: &S3Request) -> Result<Option<String>, S3Error> {
    match request.header("x-amz-storage-class") {
        None => Ok(None),
        Some(class) if STORAGE_CLASSES.contains(&class) => Ok(Some(class.to_owned())),
        Some(_) => Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidStorageClass",
            "The storage class you specified is not valid",
        )),
    }
}

/// Encryption asked for by a write's headers (None: the bucket default, SSE-S3).
fn sse_from_headers(request: &S3Request) -> Result<Option<Sse>, S3Error> {
    let key_id = request.header("x-amz-server-side-encryption-aws-kms-key-id");
    let bucket_key = request
        .header("x-amz-server-side-encryption-bucket-key-enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match request.header("x-amz-server-side-encryption") {
        None | Some("AES256") if key_id.is_some() => Err(S3Error::invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header \
             x-amz-server-side-encryption : aws:kms",
        )),
        None => Ok(None),
        Some("AES256") => Ok(Some(Sse::Aes256)),
        Some(name @ ("aws:kms" | "aws:kms:dsse")) => Ok(Some(Sse::Kms {
            dsse: name == "aws:kms:dsse",
            key_id: key_id.map_or_else(|| AWS_MANAGED_KEY.to_owned(), key_arn),
            bucket_key,
        })),
        Some(_) => Err(S3Error::invalid_argument(
            "The encryption method specified is not supported",
        )),
    }
}

/// A KMS key id as S3 reports it: an ARN (aliases cannot be resolved here; kept as alias ARNs).
fn key_arn(id: &str) -> String {
    if id.starts_with("arn:") {
        id.to_owned()
    } else if id.starts_with("alias/") {
        format!("arn:aws:kms:{REGION}:123456789012:{id}")
    } else {
        format!("arn:aws:kms:{REGION}:123456789012:key/{id}")
    }
}

fn archived(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

/// `x-amz-meta-*` headers, names without the prefix.
fn user_metadata(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                name.to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect()
}

/// The content headers of a write (`aws-chunked` is transfer framing, not stored).
fn content_headers(request: &S3Request) -> BTreeMap<String, String> {
    CONTENT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = request.header(name)?;
            let value = if *name == "content-encoding" {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && *v != "aws-chunked")
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                value.to_owned()
            };
            (!value.is_empty()).then(|| ((*name).to_owned(), value))
        })
        .collect()
}

/// `bucket/key` (URL-encoded, optional leading `/` and `?versionId=`) → decoded bucket and key.
fn parse_copy_source(raw: &str) -> Option<(String, String)> {
    let path = raw.trim_start_matches('/');
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    let (bucket, key) = decoded.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// Whether an `If-Match`-style value (quoted or not, or `*`) names `etag` (unquoted).
fn etag_matches(expected: &str, etag: &str) -> bool {
    expected
        .split(',')
        .map(|e| e.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|e| e == "*" || e == etag)
}

fn quote(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Tags from `x-amz-tagging` (`k=v&k2=v2`, URL-encoded), checked against S3's limits.
fn parse_tagging_header(text: &str) -> Result<Vec<(String, String)>, S3Error> {
    let tags: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    check_tags(tags)
}

/// Tags from a PutObjectTagging document (`<Tagging><TagSet><Tag><Key>…`).
fn parse_tagging_xml(document: &str) -> Result<Vec<(String, String)>, S3Error> {
    let malformed = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    };
    let mut tags = Vec::new();
    let mut rest = document;
    while let Some(start) = rest.find("<Tag>") {
        let end = rest[start..].find("</Tag>").ok_or_else(malformed)? + start;
        let tag = &rest[start + 5..end];
        let key = element(tag, "Key").ok_or_else(malformed)?;
        let value = element(tag, "Value").unwrap_or_default();
        tags.push((unescape(&key), unescape(&value)));
        rest = &rest[end + 6..];
    }
    check_tags(tags)
}

fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].to_owned())
}

fn check_tags(tags: Vec<(String, String)>) -> Result<Vec<(String, String)>, S3Error> {
    let invalid = |message: &str| S3Error::new(StatusCode::BAD_REQUEST, "InvalidTag", message);
    if tags.len() > 10 {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Object tags cannot be greater than 10",
        ));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() || key.encode_utf16().count() > 128 {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if value.encode_utf16().count() > 256 {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(tags)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The payload of an `aws-chunked` body (`hex-size[;chunk-signature=…]\r\n data \r\n …
/// 0\r\n trailers`), or `None` when it is not well framed.
fn aws_chunked_payload(raw: &Bytes) -> Option<Bytes> {
    let mut payload = Vec::new();
    let mut rest: &[u8] = raw;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(Bytes::from(payload));
        }
        payload.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// 32 hex digits from hashing `parts` (stands in for an MD5 ETag).
fn hash_hex(parts: &[&[u8]]) -> String {
    let mut halves = [0u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write_u8(i as u8);
        for part in parts {
            hasher.write(part);
        }
        *half = hasher.finish();
    }
    format!("{:016x}{:016x}", halves[0], halves[1])
}

/// A GetObject body of `size` bytes (lines of `x`; the bytes themselves are not stored).
fn body_of(size: u64) -> Vec<u8> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    (0..size)
        .map(|i| if i % 60 == 59 { b'\n' } else { b'x' })
        .collect()
}

/// `2026-11-23T12:00:00.000Z`, as S3 writes times in XML.
fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Request counts per operation and per error code, and how many requests were in flight.
#[derive(Debug, Default)]
struct Stats {
    requests: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
}

/// The server: the table, the delays and the counters.
#[derive(Debug, Default)]
struct Server {
    store: Mutex<Store>,
    delays: Delays,
    stats: Mutex<Stats>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    request_ids: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

type HttpResponse = Response<Full<Bytes>>;

impl Server {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let path = parts.uri.path();
        if let Some(admin) = path.strip_prefix("/_bench/") {
            return self.admin(admin, &parts.method, &query);
        }
        let body = match read_body(body).await {
            Ok(body) => body,
            Err(error) => {
                return error_response(
                    &S3Error::new(StatusCode::BAD_REQUEST, "IncompleteBody", error),
                    false,
                    "",
                );
            }
        };
        let decoded = percent_decode_str(path.trim_start_matches('/')).decode_utf8_lossy();
        let (bucket, key) = decoded.split_once('/').unwrap_or((&decoded, ""));
        let request = S3Request {
            method: parts.method.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            query,
            headers: parts.headers,
            body,
        };
        let op = Op::classify(&request);
        *lock(&self.stats).requests.entry(op.name()).or_default() += 1;
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight
            .fetch_max(now_in_flight, Ordering::Relaxed);
        if let Some(delay) = op.delay(&self.delays) {
            let ms = delay.load(Ordering::Relaxed);
            if ms > 0 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        let result = lock(&self.store).apply(op, &request, SystemTime::now());
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let request_id = format!(
            "{:016X}",
            self.request_ids.fetch_add(1, Ordering::Relaxed) + 1
        );
        let head = request.method == Method::HEAD;
        match result {
            Ok(answer) => answer_response(answer, head, &request_id),
            Err(error) => {
                // HEAD answers carry no body, so S3's SDKs see only the status ("NotFound").
                let code = if head && error.status == StatusCode::NOT_FOUND {
                    "NotFound"
                } else {
                    error.code
                };
                *lock(&self.stats).errors.entry(code).or_default() += 1;
                error_response(&error, head, &request_id)
            }
        }
    }

    fn admin(&self, path: &str, method: &Method, query: &[(String, String)]) -> HttpResponse {
        let params: HashMap<String, String> = query.iter().cloned().collect();
        let json = |status: StatusCode, value: serde_json::Value| {
            let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            response
        };
        match (method, path) {
            (&Method::POST, "seed") => match lock(&self.store).seed(&params, SystemTime::now()) {
                Ok(objects) => json(
                    StatusCode::OK,
                    serde_json::json!({ "seeded": objects.len(), "objects": objects }),
                ),
                Err(error) => json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "error": error }),
                ),
            },
            (&Method::GET, "stats") => {
                let stats = lock(&self.stats);
                json(
                    StatusCode::OK,
                    serde_json::json!({
                        "requests": stats.requests,
                        "errors": stats.errors,
                        "total": stats.requests.values().sum::<u64>(),
                        "in_flight": self.in_flight.load(Ordering::Relaxed),
                        "peak_in_flight": self.peak_in_flight.load(Ordering::Relaxed),
                    }),
                )
            }
            (&Method::POST, "reset-stats") => {
                *lock(&self.stats) = Stats::default();
                self.peak_in_flight
                    .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
                json(StatusCode::OK, serde_json::json!({}))
            }
            (&Method::GET | &Method::POST, "delays") => {
                for (name, delay) in self.delays.by_name() {
                    if let Some(value) = params.get(name) {
                        match value.parse::<u64>() {
                            Ok(ms) => delay.store(ms, Ordering::Relaxed),
                            Err(e) => {
                                return json(
                                    StatusCode::BAD_REQUEST,
                                    serde_json::json!({ "error": format!("{name}={value:?}: {e}") }),
                                );
                            }
                        }
                    }
                }
                json(StatusCode::OK, self.delays.json())
            }
            (&Method::GET, "summary") => {
                let bucket = params.get("bucket").map(String::as_str).unwrap_or("");
                let prefix = params.get("prefix").map(String::as_str).unwrap_or("");
                json(StatusCode::OK, lock(&self.store).summary(bucket, prefix))
            }
            _ => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": format!("no admin endpoint {method} /_bench/{path}") }),
            ),
        }
    }
}

/// Reads a request body, keeping its length, a hash of its bytes and, when small, the bytes.
async fn read_body(mut body: Incoming) -> Result<Body, String> {
    let mut hasher = std::hash::DefaultHasher::new();
    let mut len = 0u64;
    let mut kept: Vec<u8> = Vec::new();
    let mut keep = true;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            hasher.write(data);
            len += data.len() as u64;
            if keep && kept.len() + data.len() <= KEEP_BODY_BYTES {
                kept.extend_from_slice(data);
            } else {
                keep = false;
                kept = Vec::new();
            }
        }
    }
    let digest = hasher.finish();
    Ok(Body {
        len,
        hash: hash_hex(&[b"body", &digest.to_le_bytes(), &len.to_le_bytes()]),
        bytes: keep.then(|| Bytes::from(kept)),
    })
}

fn base_response(status: u16, request_id: &str, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert("server", HeaderValue::from_static("AmazonS3"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amz-request-id", id.clone());
        headers.insert("x-amz-id-2", id);
    }
    response
}

fn answer_response(answer: Answer, head: bool, request_id: &str) -> HttpResponse {
    let body = if head { Vec::new() } else { answer.body };
    let mut response = base_response(answer.status, request_id, body);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

fn error_response(error: &S3Error, head: bool, request_id: &str) -> HttpResponse {
    let body = if head {
        Vec::new()
    } else {
        let extra: String = error
            .extra
            .iter()
            .map(|(name, value)| format!("<{name}>{}</{name}>", escape(value)))
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{extra}<RequestId>{request_id}</RequestId></Error>",
            error.code,
            escape(&error.message)
        )
        .into_bytes()
    };
    let mut response = base_response(error.status.as_u16(), request_id, body);
    if !head {
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/xml"));
    }
    response
}

/// One thread is plenty: a request costs microseconds here, the delays are timers.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let server = Arc::new(Server::default());
    for (name, ms) in [
        ("head", args.head_ms),
        ("tagging", args.tagging_ms),
        ("copy", args.copy_ms),
        ("put", args.put_ms),
        ("get", args.get_ms),
        ("list", args.list_ms),
        ("delete", args.delete_ms),
    ] {
        if let Some((_, delay)) = server
            .delays
            .by_name()
            .into_iter()
            .find(|(n, _)| *n == name)
        {
            delay.store(ms, Ordering::Relaxed);
        }
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let address = listener.local_addr()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls_listener = tokio::net::TcpListener::bind((args.host.as_str(), 0)).await?;
            Some((tls_listener, tls_acceptor(cert, key)?))
        }
        _ => None,
    };
    let tls_note = match &tls {
        Some((tls_listener, _)) => format!(" tls port {}", tls_listener.local_addr()?.port()),
        None => String::new(),
    };
    println!(
        "latency_s3 listening on http://{address} port {}{tls_note} delays {}",
        address.port(),
        server.delays.json()
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    if let Some((tls_listener, acceptor)) = tls {
        tokio::spawn(accept_loop(tls_listener, server.clone(), Some(acceptor)));
    }
    accept_loop(listener, server, None).await;
    Ok(())
}

/// A TLS acceptor serving `cert` (PEM chain) with `key` (PEM), HTTP/1.1 only.
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, Box<dyn std::error::Error>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections on `listener` for ever, each served on its own task (after a TLS
/// handshake when `tls` is given).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    server: Arc<Server>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait, do not spin.
                eprintln!("accept: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                // A client that fails the handshake or goes away mid-request is not news.
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, server).await;
                    }
                }
                None => serve_connection(stream, server).await,
            }
        });
    }
}

/// Serves HTTP/1.1 requests on one connection until the client closes it.
async fn serve_connection<I>(io: I, server: Arc<Server>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(server.handle(request).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> S3Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        S3Request {
            method,
            bucket: bucket.into(),
            key: key.into(),
            query: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers: map,
            body: Body::default(),
        }
    }

    fn run(store: &mut Store, request: &S3Request) -> Result<Answer, S3Error> {
        store.apply(Op::classify(request), request, SystemTime::now())
    }

    fn seeded() -> Store {
        let mut store = Store::default();
        let params = [("bucket", "src"), ("prefix", "p/"), ("count", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        store.seed(&params, SystemTime::now()).unwrap();
        store.buckets.entry("dst".into()).or_default();
        store
    }

    fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
        answer
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn head_reports_tag_count_only_with_tags_and_always_sse() {
        let mut store = seeded();
        let head = run(&mut store, &request(Method::HEAD, "src/p/00000.txt", &[])).unwrap();
        assert_eq!(header(&head, "x-amz-tagging-count"), None);
        assert_eq!(
            header(&head, "x-amz-server-side-encryption"),
            Some("AES256")
        );
        assert_eq!(header(&head, "x-amz-storage-class"), None);
        assert_eq!(header(&head, "content-length"), Some("600"));
        let missing = run(&mut store, &request(Method::HEAD, "src/nope", &[])).unwrap_err();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }

    /// The function asks whether the backup bucket keeps versions (and, without trust in
    /// HEAD, whether a bucket has Object Lock).
    #[test]
    fn versioning_is_a_flag_and_no_bucket_has_object_lock() {
        let mut store = seeded();
        let get = request(Method::GET, "dst?versioning", &[]);
        let off = run(&mut store, &get).unwrap();
        assert!(!String::from_utf8_lossy(&off.body).contains("Enabled"));
        let mut put = request(Method::PUT, "dst?versioning", &[]);
        let xml = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        put.body.bytes = Some(Bytes::from_static(xml.as_bytes()));
        run(&mut store, &put).unwrap();
        let on = run(&mut store, &get).unwrap();
        assert!(String::from_utf8_lossy(&on.body).contains("<Status>Enabled</Status>"));
        let lock = run(&mut store, &request(Method::GET, "dst?object-lock", &[])).unwrap_err();
        assert_eq!(lock.code, "ObjectLockConfigurationNotFoundError");
    }

    #[test]
    fn copy_conditions_are_enforced() {
        let mut store = seeded();
        let etag = store.object("src", "p/00000.txt").unwrap().etag.clone();
        let source = ("x-amz-copy-source", "/src/p%2F00000.txt?versionId=null");
        let stale = run(
            &mut store,
            &request(
                Method::PUT,
                "dst/p/00000.txt",
                &[source, ("x-amz-copy-source-if-match", "\"other\"")],
            ),
        )
        .unwrap_err();
        assert_eq!(stale.code, "PreconditionFailed");
        let guarded = [source, ("if-none-match", "*")];
        run(
            &mut store,
            &request(Method::PUT, "dst/p/00000.txt", &guarded),
        )
        .unwrap();
        let again = run(
            &mut store,
            &request(Method::PUT, "dst/p/00000.txt", &guarded),
        );
        assert_eq!(again.unwrap_err().status, StatusCode::PRECONDITION_FAILED);
        let both = [source, ("if-none-match", "*"), ("if-match", "\"x\"")];
        let both = run(&mut store, &request(Method::PUT, "dst/p/00000.txt", &both));
        assert_eq!(both.unwrap_err().status, StatusCode::NOT_IMPLEMENTED);
        let missing = [source, ("if-match", &*quote(&etag))];
        let missing = run(
            &mut store,
            &request(Method::PUT, "dst/p/00001.txt", &missing),
        );
        assert_eq!(missing.unwrap_err().status, StatusCode::PRECONDITION_FAILED);
    }

    #[test]
    fn self_copy_must_change_something() {
        let mut store = seeded();
        let etag = quote(&store.object("src", "p/00000.txt").unwrap().etag);
        let source = ("x-amz-copy-source", "src/p/00000.txt");
        let plain = run(
            &mut store,
            &request(Method::PUT, "src/p/00000.txt", &[source]),
        );
        assert_eq!(plain.unwrap_err().code, "InvalidRequest");
        let in_place = [
            source,
            ("x-amz-copy-source-if-match", etag.as_str()),
            ("if-match", etag.as_str()),
            ("x-amz-storage-class", "STANDARD_IA"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-tagging-directive", "REPLACE"),
            ("x-amz-tagging", "processed-by=s3-policy-processor"),
        ];
        let answer = run(
            &mut store,
            &request(Method::PUT, "src/p/00000.txt", &in_place),
        )
        .unwrap();
        let body = String::from_utf8_lossy(&answer.body);
        let same = format!("<ETag>&quot;{}&quot;</ETag>", etag.trim_matches('"'));
        assert!(
            body.contains(&same),
            "an SSE-S3 self-copy keeps its ETag: {body}"
        );
        let object = store.object("src", "p/00000.txt").unwrap();
        assert_eq!(object.storage_class, "STANDARD_IA");
        assert_eq!(
            object.tags,
            vec![("processed-by".into(), "s3-policy-processor".into())]
        );
        let head = run(&mut store, &request(Method::HEAD, "src/p/00000.txt", &[])).unwrap();
        assert_eq!(header(&head, "x-amz-tagging-count"), Some("1"));
        assert_eq!(header(&head, "x-amz-storage-class"), Some("STANDARD_IA"));
    }

    #[test]
    fn kms_copies_get_a_new_etag_and_copies_reset_class() {
        let mut store = seeded();
        let etag = store.object("src", "p/00000.txt").unwrap().etag.clone();
        let kms = [
            ("x-amz-copy-source", "src/p/00000.txt"),
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "k1"),
            ("x-amz-server-side-encryption-bucket-key-enabled", "true"),
            ("x-amz-storage-class", "STANDARD_IA"),
        ];
        run(&mut store, &request(Method::PUT, "src/p/00000.txt", &kms)).unwrap();
        let object = store.object("src", "p/00000.txt").unwrap().clone();
        assert_ne!(object.etag, etag);
        assert!(
            matches!(&object.sse, Sse::Kms { key_id, bucket_key: true, .. } if key_id.ends_with("key/k1"))
        );
        let back = [("x-amz-copy-source", "src/p/00000.txt")];
        run(&mut store, &request(Method::PUT, "dst/copy", &back)).unwrap();
        let copy = store.object("dst", "copy").unwrap();
        assert_eq!(
            (copy.storage_class.as_str(), &copy.sse),
            ("STANDARD", &Sse::Aes256)
        );
        assert_eq!(copy.etag, etag, "an SSE-S3 copy has the content's ETag");
    }

    #[test]
    fn tagging_round_trip_and_listing() {
        let mut store = seeded();
        let mut put = request(Method::PUT, "src/p/00001.txt?tagging", &[]);
        put.body.bytes = Some(Bytes::from_static(
            b"<Tagging><TagSet><Tag><Key>a&amp;b</Key><Value>1</Value></Tag></TagSet></Tagging>",
        ));
        run(&mut store, &put).unwrap();
        let get = run(
            &mut store,
            &request(Method::GET, "src/p/00001.txt?tagging", &[]),
        )
        .unwrap();
        assert!(String::from_utf8_lossy(&get.body).contains("<Key>a&amp;b</Key><Value>1</Value>"));
        let list = run(
            &mut store,
            &request(Method::GET, "src?list-type=2&prefix=p/&max-keys=1", &[]),
        )
        .unwrap();
        let xml = String::from_utf8_lossy(&list.body);
        assert!(xml.contains("<KeyCount>1</KeyCount>") && xml.contains("<IsTruncated>true"));
        assert!(xml.contains("<NextContinuationToken>p/00000.txt</NextContinuationToken>"));
    }

    #[test]
    fn dates_and_copy_sources() {
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_millis(1_795_435_200_123)),
            "2026-11-23T12:00:00.123Z"
        );
        assert_eq!(
            parse_copy_source("/b/c%2B%2B/a%20b.txt?versionId=x"),
            Some(("b".into(), "c++/a b.txt".into()))
        );
        assert_eq!(parse_copy_source("b"), None);
    }

    fn with_body(mut request: S3Request, body: &str) -> S3Request {
        request.body = Body {
            len: body.len() as u64,
            hash: hash_hex(&[body.as_bytes()]),
            bytes: Some(Bytes::from(body.to_owned())),
        };
        request
    }

    fn seed_one(store: &mut Store, key_prefix: &str, size: u64, class: &str) -> String {
        let params = [
            ("bucket", "src".to_owned()),
            ("prefix", key_prefix.to_owned()),
            ("size", size.to_string()),
            ("storage_class", class.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        store.seed(&params, SystemTime::now()).unwrap()[0].0.clone()
    }

    const TIB: u64 = 1 << 40;
    const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/2b7e1516-28ae-4d2a-a6ab-f7158809cf4f";

    #[test]
    fn update_object_encryption_rekeys_in_place_at_any_size_and_class() {
        let mut store = seeded();
        let key = seed_one(&mut store, "big/", 5 * TIB, "GLACIER");
        let before = store.object("src", &key).unwrap().clone();
        let document = format!(
            "<ObjectEncryption><SSE-KMS><KMSKeyArn>{ARN}</KMSKeyArn><BucketKeyEnabled>true</BucketKeyEnabled></SSE-KMS></ObjectEncryption>"
        );
        let put = with_body(
            request(Method::PUT, &format!("src/{key}?encryption"), &[]),
            &document,
        );
        assert_eq!(Op::classify(&put), Op::UpdateObjectEncryption);
        run(&mut store, &put).unwrap();
        let after = store.object("src", &key).unwrap();
        assert_eq!(
            after.sse,
            Sse::Kms {
                dsse: false,
                key_id: ARN.into(),
                bucket_key: true
            }
        );
        assert_eq!(
            (
                &after.etag,
                after.size,
                &after.storage_class,
                after.last_modified
            ),
            (
                &before.etag,
                before.size,
                &before.storage_class,
                before.last_modified
            ),
            "nothing but the encryption changes"
        );
        let alias = with_body(
            request(Method::PUT, &format!("src/{key}?encryption"), &[]),
            "<ObjectEncryption><SSE-KMS><KMSKeyArn>alias/x</KMSKeyArn></SSE-KMS></ObjectEncryption>",
        );
        assert_eq!(run(&mut store, &alias).unwrap_err().code, "InvalidArgument");
        let missing = with_body(request(Method::PUT, "src/none?encryption", &[]), &document);
        assert_eq!(run(&mut store, &missing).unwrap_err().code, "NoSuchKey");
    }

    fn part_copy(
        store: &mut Store,
        upload: &str,
        number: u32,
        range: &str,
    ) -> Result<String, S3Error> {
        let answer = run(
            store,
            &request(
                Method::PUT,
                &format!("dst/big?partNumber={number}&uploadId={upload}"),
                &[
                    ("x-amz-copy-source", "src/p/00000.txt"),
                    ("x-amz-copy-source-range", range),
                ],
            ),
        )?;
        let body = String::from_utf8(answer.body).unwrap();
        Ok(element(&body, "ETag").unwrap().replace("&quot;", "\""))
    }

    fn complete_document(parts: &[(u32, &str)]) -> String {
        let parts: String = parts
            .iter()
            .map(|(n, etag)| {
                format!("<Part><ETag>{etag}</ETag><PartNumber>{n}</PartNumber></Part>")
            })
            .collect();
        format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
    }

    #[test]
    fn multipart_copies_check_parts_order_sizes_and_conditions() {
        let mut store = seeded();
        store.object_mut("src", "p/00000.txt").unwrap().size = 12 << 20;
        let create = request(
            Method::POST,
            "dst/big?uploads",
            &[
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", ARN),
            ],
        );
        let created = String::from_utf8(run(&mut store, &create).unwrap().body).unwrap();
        let upload = element(&created, "UploadId").unwrap();
        let first = part_copy(&mut store, &upload, 1, "bytes=0-4194303").unwrap();
        let second = part_copy(&mut store, &upload, 2, "bytes=4194304-12582911").unwrap();
        assert_eq!(
            part_copy(&mut store, &upload, 3, "bytes=0-12582912")
                .unwrap_err()
                .code,
            "InvalidRange",
            "a range past the source's end"
        );
        let page = run(
            &mut store,
            &request(
                Method::GET,
                &format!("dst/big?uploadId={upload}&max-parts=1"),
                &[],
            ),
        )
        .unwrap();
        let page = String::from_utf8(page.body).unwrap();
        assert_eq!(element(&page, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(element(&page, "NextPartNumberMarker").as_deref(), Some("1"));
        let complete = |store: &mut Store, parts: &[(u32, &str)], headers: &[(&str, &str)]| {
            run(
                store,
                &with_body(
                    request(Method::POST, &format!("dst/big?uploadId={upload}"), headers),
                    &complete_document(parts),
                ),
            )
        };
        let code = |r: Result<Answer, S3Error>| r.unwrap_err().code;
        assert_eq!(
            code(complete(&mut store, &[(2, &second), (1, &first)], &[])),
            "InvalidPartOrder"
        );
        assert_eq!(
            code(complete(&mut store, &[(1, &second), (2, &second)], &[])),
            "InvalidPart"
        );
        assert_eq!(
            code(complete(&mut store, &[(1, &first), (2, &second)], &[])),
            "EntityTooSmall",
            "a 4 MiB part that is not the last"
        );
        let first = part_copy(&mut store, &upload, 1, "bytes=0-5242879").unwrap();
        let second = part_copy(&mut store, &upload, 2, "bytes=5242880-12582911").unwrap();
        let parts = [(1, first.as_str()), (2, second.as_str())];
        assert_eq!(
            code(complete(
                &mut store,
                &parts,
                &[("x-amz-mp-object-size", "1")]
            )),
            "InvalidArgument"
        );
        assert_eq!(
            code(complete(&mut store, &parts, &[("if-match", "\"other\"")])),
            "PreconditionFailed"
        );
        complete(&mut store, &parts, &[("if-none-match", "*")]).unwrap();
        let object = store.object("dst", "big").unwrap();
        assert_eq!(object.size, 12 << 20);
        assert!(object.etag.ends_with("-2"));
        assert!(matches!(&object.sse, Sse::Kms { key_id, .. } if key_id == ARN));
        assert_eq!(
            code(complete(&mut store, &parts, &[])),
            "NoSuchUpload",
            "completed once"
        );
    }

    #[test]
    fn archived_sources_are_not_copied_in_parts_and_aborts_end_uploads() {
        let mut store = seeded();
        store
            .object_mut("src", "p/00000.txt")
            .unwrap()
            .storage_class = "GLACIER".into();
        let created = run(&mut store, &request(Method::POST, "dst/big?uploads", &[])).unwrap();
        let upload = element(&String::from_utf8(created.body).unwrap(), "UploadId").unwrap();
        assert_eq!(
            part_copy(&mut store, &upload, 1, "bytes=0-99")
                .unwrap_err()
                .code,
            "InvalidObjectState"
        );
        let abort = request(Method::DELETE, &format!("dst/big?uploadId={upload}"), &[]);
        assert_eq!(run(&mut store, &abort).unwrap().status, 204);
        assert_eq!(run(&mut store, &abort).unwrap_err().code, "NoSuchUpload");
    }

    #[test]
    fn small_bodies_are_read_back_including_aws_chunked_ones() {
        let mut store = seeded();
        let plain = with_body(request(Method::PUT, "dst/record", &[]), "{\"a\":1}");
        run(&mut store, &plain).unwrap();
        let get = run(&mut store, &request(Method::GET, "dst/record", &[])).unwrap();
        assert_eq!(get.body, b"{\"a\":1}");
        let chunked = with_body(
            request(
                Method::PUT,
                "dst/chunked",
                &[("x-amz-decoded-content-length", "7")],
            ),
            "7\r\n{\"b\":2}\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
        );
        run(&mut store, &chunked).unwrap();
        let get = run(&mut store, &request(Method::GET, "dst/chunked", &[])).unwrap();
        assert_eq!(get.body, b"{\"b\":2}");
    }
}
