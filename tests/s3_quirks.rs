//! S3 behaviours the SDK must handle for us, checked against a scripted HTTP server on
//! 127.0.0.1: a CopyObject that answers `200 OK` with an `<Error>` body (S3 does this when a copy
//! fails after it started sending the response) must be an error, classified as transient.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use s3_policy_processor::object::{ObjectLocation, StorageClass};
use s3_policy_processor::store::s3::S3Store;
use s3_policy_processor::store::{
    CopyRequest, MetadataDirective, ObjectStore, StoreError, TagDirective, WriteCondition,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod support;

const ERROR_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>host</HostId></Error>";

/// Answers every request with `200 OK` and an S3 error document; counts requests.
async fn serve_200_with_error_body(listener: TcpListener, requests: Arc<AtomicUsize>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut read = 0;
            loop {
                match socket.read(&mut buffer[read..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
                if buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            requests.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nx-amz-request-id: 4442587FB7D0A2F9\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ERROR_BODY}",
                ERROR_BODY.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

#[tokio::test]
async fn copy_object_200_with_error_body_is_a_transient_error() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(serve_200_with_error_body(listener, requests.clone()));

    let store = S3Store::from_client(support::client_for(&endpoint));
    let request = CopyRequest {
        source: ObjectLocation::current("src-bucket", "a b.txt"),
        source_if_match: Some("etag".into()),
        destination: ObjectLocation::current("backup-bucket", "a b.txt"),
        destination_condition: WriteCondition::None,
        storage_class: StorageClass::Standard,
        encryption: None,
        tags: TagDirective::Copy,
        website_redirect: None,
        metadata: MetadataDirective::Copy,
    };
    let err = store
        .copy_object(&request)
        .await
        .expect_err("a 200 with an error body is an error");
    server.abort();
    match &err {
        StoreError::Service { code, .. } => assert_eq!(code, "InternalError"),
        other => panic!("expected a service error, got {other:?}"),
    }
    assert!(err.is_transient(), "InternalError may pass on retry");
    assert!(
        requests.load(Ordering::SeqCst) >= 2,
        "the SDK retried the transient error"
    );
}
