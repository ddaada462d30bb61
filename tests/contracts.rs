//! Contract tests: the exact requests the function sends for S3 operations no local server
//! implements (UpdateObjectEncryption, ListObjectAnnotations) or only partly (the newer
//! checksum algorithms, the completion's full-object checksum), pinned against the S3 API
//! reference's request syntax with a recording HTTP server on 127.0.0.1. They prove the
//! request, not S3's answer: the answers are modelled in the in-memory store (src/store/memory)
//! and the fallbacks are tested for real on moto and LocalStack (docs/testing.md).

mod support;

use std::sync::Arc;

use s3_policy_processor::object::{Checksum, ObjectLocation};
use s3_policy_processor::store::s3::S3Store;
use s3_policy_processor::store::{
    CompleteRequest, CompletedPart, ExpectedObject, MultipartStart, ObjectStore, StoreError,
    WriteCondition,
};
use support::client_for;
use support::recording_server::{Recorded, RecordingServer, Reply};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A server that answers every request with `reply`.
async fn answering(reply: fn(&Recorded) -> Reply) -> (RecordingServer, S3Store) {
    let server = RecordingServer::start(Arc::new(reply)).await;
    let store = S3Store::from_client(client_for(&server.endpoint));
    (server, store)
}

fn ok(_: &Recorded) -> Reply {
    (200, vec![], String::new())
}

/// S3 API reference, UpdateObjectEncryption: `PUT /{Key+}?encryption&versionId=VersionId` with
/// the body `<ObjectEncryption xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><SSE-KMS>
/// <KMSKeyArn>…</KMSKeyArn><BucketKeyEnabled>…</BucketKeyEnabled></SSE-KMS></ObjectEncryption>`.
#[tokio::test]
async fn update_object_encryption_is_the_documented_put_of_the_encryption_subresource() {
    let (server, store) = answering(ok).await;
    let location = ObjectLocation {
        bucket: "src-bucket".into(),
        key: "a b/c+d.txt".into(),
        version_id: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
    };
    store
        .update_object_encryption(&location, KEY, Some(true))
        .await
        .expect("accepted");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.path, "/src-bucket/a%20b/c%2Bd.txt");
    assert!(request.has_query("encryption"), "{request:?}");
    assert_eq!(
        request.query("versionId"),
        Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    );
    let body = request.text();
    assert!(
        body.starts_with("<ObjectEncryption xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<SSE-KMS><KMSKeyArn>{KEY}</KMSKeyArn><BucketKeyEnabled>true</BucketKeyEnabled></SSE-KMS>"
        )),
        "{body}"
    );
    // No bucket key setting: the element is left out (S3 then defaults to false).
    store
        .update_object_encryption(&ObjectLocation::current("src-bucket", "k"), KEY, None)
        .await
        .expect("accepted");
    let request = &server.requests()[1];
    assert_eq!(request.path, "/src-bucket/k");
    assert_eq!(request.query("versionId"), None);
    assert!(!request.text().contains("BucketKeyEnabled"), "{request:?}");
}

fn not_implemented(_: &Recorded) -> Reply {
    (
        501,
        vec![("content-type", "application/xml".into())],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NotImplemented</Code><Message>The UpdateObjectEncryption operation is not yet emulated</Message></Error>".into(),
    )
}

/// A server without the operation answers 501 `NotImplemented` (LocalStack's answer): the
/// store reports exactly that, which the function takes as "copy instead, and do not ask this
/// bucket again" (src/reconcile/rekey_fallback.rs).
#[tokio::test]
async fn a_server_without_it_is_told_apart() {
    let (_server, store) = answering(not_implemented).await;
    let err = store
        .update_object_encryption(&ObjectLocation::current("b", "k"), KEY, None)
        .await
        .expect_err("501");
    assert!(
        matches!(&err, StoreError::Service { code, status: 501, .. } if code == "NotImplemented"),
        "{err:?}"
    );
}

fn multipart_answers(request: &Recorded) -> Reply {
    let xml = vec![("content-type", "application/xml".into())];
    if request.has_query("uploads") {
        return (
            200,
            xml,
            "<InitiateMultipartUploadResult><Bucket>dst</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>".into(),
        );
    }
    (
        200,
        xml,
        "<CompleteMultipartUploadResult><Bucket>dst</Bucket><Key>k</Key><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>".into(),
    )
}

fn start(algorithm: &'static str) -> MultipartStart {
    support::plain_multipart_start(ObjectLocation::current("dst", "k"), algorithm)
}

/// CreateMultipartUpload: `x-amz-checksum-algorithm` names the source's algorithm, every one of
/// the ten S3 has, with `x-amz-checksum-type` FULL_OBJECT for the CRCs and COMPOSITE for the
/// others (the S3 User Guide, "Checking object integrity": only CRCs combine into a whole
/// object's checksum).
#[tokio::test]
async fn a_multipart_copy_states_every_checksum_algorithm() {
    let (server, store) = answering(multipart_answers).await;
    for algorithm in s3_policy_processor::object::CHECKSUM_ALGORITHMS {
        store
            .create_multipart_upload(&start(algorithm))
            .await
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        let request = server.requests().pop().expect("a request");
        assert_eq!(request.method, "POST");
        assert!(request.has_query("uploads"));
        assert_eq!(request.header("x-amz-checksum-algorithm"), Some(algorithm));
        let kind = if algorithm.starts_with("CRC") {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        };
        assert_eq!(
            request.header("x-amz-checksum-type"),
            Some(kind),
            "{algorithm}"
        );
    }
}

/// CompleteMultipartUpload states what S3 must find: `x-amz-mp-object-size`, the source's
/// full-object checksum (`x-amz-checksum-crc64nvme` with `x-amz-checksum-type: FULL_OBJECT`),
/// the destination condition, and each part's checksum in the upload's algorithm.
#[tokio::test]
async fn a_completion_states_the_size_checksum_and_condition() {
    let (server, store) = answering(multipart_answers).await;
    store
        .complete_multipart_upload(&CompleteRequest {
            destination: ObjectLocation::current("dst", "k"),
            upload_id: "u-1".into(),
            parts: vec![CompletedPart {
                part_number: 1,
                etag: "\"p-1\"".into(),
                checksum: Some("AAAAAAAAAAE=".into()),
            }],
            condition: WriteCondition::IfMatch("seen".into()),
            checksum_algorithm: Some("CRC64NVME"),
            expected: ExpectedObject {
                size: Some(27_262_976),
                checksum: Some(Checksum {
                    algorithm: "CRC64NVME",
                    value: "fvr2NV6lKxk=".into(),
                    full_object: true,
                }),
            },
        })
        .await
        .expect("completed");
    let request = server.requests().pop().expect("a request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.query("uploadId"), Some("u-1"));
    assert_eq!(request.header("x-amz-mp-object-size"), Some("27262976"));
    assert_eq!(
        request.header("x-amz-checksum-crc64nvme"),
        Some("fvr2NV6lKxk=")
    );
    assert_eq!(request.header("x-amz-checksum-type"), Some("FULL_OBJECT"));
    assert_eq!(request.header("if-match"), Some("\"seen\""));
    let body = request.text();
    assert!(
        body.contains("<ChecksumCRC64NVME>AAAAAAAAAAE=</ChecksumCRC64NVME>"),
        "{body}"
    );
}

fn annotation_answers(request: &Recorded) -> Reply {
    let xml = vec![("content-type", "application/xml".into())];
    let entry = |name: &str| {
        format!(
            "<AnnotationEntry><AnnotationName>{name}</AnnotationName><LastModified>2026-11-30T12:00:00.000Z</LastModified><Size>8</Size></AnnotationEntry>"
        )
    };
    match (request.method.as_str(), request.query("x-id")) {
        ("GET", Some("ListObjectAnnotations")) if request.query("continuation-token").is_none() => (
            200,
            xml,
            format!(
                "<ListObjectAnnotationsOutput><Annotations>{}</Annotations><NextContinuationToken>page-2</NextContinuationToken></ListObjectAnnotationsOutput>",
                entry("review")
            ),
        ),
        ("GET", Some("ListObjectAnnotations")) => (
            200,
            xml,
            format!(
                "<ListObjectAnnotationsOutput><Annotations>{}</Annotations></ListObjectAnnotationsOutput>",
                entry("lineage")
            ),
        ),
        ("GET", _) => (200, vec![], "approved".into()),
        _ => (
            200,
            xml,
            "<PutObjectAnnotationOutput><Key>src-bucket/big.bin</Key><AnnotationName>review</AnnotationName></PutObjectAnnotationOutput>".into(),
        ),
    }
}

/// ListObjectAnnotations: `GET /{Key+}?annotation&x-id=ListObjectAnnotations` with
/// `versionId`, `max-annotation-results` and, for the next page, `continuation-token`; every
/// page is read.
#[tokio::test]
async fn annotations_are_listed_page_by_page_for_the_exact_version() {
    let (server, store) = answering(annotation_answers).await;
    let location = ObjectLocation {
        bucket: "src-bucket".into(),
        key: "big.bin".into(),
        version_id: Some("v-1".into()),
    };
    let names = store.list_annotations(&location).await.expect("listed");
    assert_eq!(names, ["review", "lineage"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/src-bucket/big.bin");
        assert!(request.has_query("annotation"), "{request:?}");
        assert_eq!(request.query("versionId"), Some("v-1"));
        assert_eq!(request.query("max-annotation-results"), Some("1000"));
    }
    assert_eq!(requests[1].query("continuation-token"), Some("page-2"));
}

/// GetObjectAnnotation (`GET /{Key+}?annotation&annotationName=`) then PutObjectAnnotation
/// (`PUT /{Key+}?annotation&annotationName=&versionId=` with the payload as the body and
/// `x-amz-object-if-match`, so the annotation lands only on the object written).
#[tokio::test]
async fn an_annotation_is_copied_onto_the_exact_object_written() {
    let (server, store) = answering(annotation_answers).await;
    let from = ObjectLocation::current("src-bucket", "big.bin");
    let payload = store.get_annotation(&from, "review").await.expect("read");
    assert_eq!(payload, b"approved");
    let onto = ObjectLocation {
        bucket: "backup-bucket".into(),
        key: "src-bucket/big.bin".into(),
        version_id: Some("b-7".into()),
    };
    store
        .put_annotation(&onto, "review", &payload, "e-2")
        .await
        .expect("written");
    let requests = server.requests();
    let (get, put) = (&requests[0], &requests[1]);
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        ("GET", "/src-bucket/big.bin")
    );
    assert!(get.has_query("annotation"));
    assert_eq!(get.query("annotationName"), Some("review"));
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, "/backup-bucket/src-bucket/big.bin");
    assert!(put.has_query("annotation"));
    assert_eq!(put.query("annotationName"), Some("review"));
    assert_eq!(put.query("versionId"), Some("b-7"));
    assert_eq!(put.header("x-amz-object-if-match"), Some("\"e-2\""));
    assert_eq!(put.text(), "approved");
}

fn looping_listing(_: &Recorded) -> Reply {
    (
        200,
        vec![("content-type", "application/xml".into())],
        "<ListObjectAnnotationsOutput><Annotations></Annotations><NextContinuationToken>same</NextContinuationToken></ListObjectAnnotationsOutput>".into(),
    )
}

/// A listing that names the same page again is an error, never taken as the complete set.
#[tokio::test]
async fn a_listing_that_loops_is_not_taken_as_complete() {
    let (server, store) = answering(looping_listing).await;
    let err = store
        .list_annotations(&ObjectLocation::current("src-bucket", "big.bin"))
        .await
        .expect_err("cut short");
    assert!(err.to_string().contains("same page"), "{err}");
    assert_eq!(server.requests().len(), 2);
}
