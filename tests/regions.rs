//! Backups in another region or account, without AWS: a proxy that answers like S3's regional
//! endpoints and bucket ownership (`support::region_proxy`: a request signed for the wrong
//! region gets `301` with `x-amz-bucket-region`; a wrong `x-amz-expected-bucket-owner` gets
//! `403`) in front of moto, which has neither. Relies on moto only for storing objects; the
//! redirects and refusals are the proxy's, modelled on S3's documented answers (LocalStack
//! 2026.3 does not enforce `ExpectedBucketOwner` either: probed, every call accepted).

mod support;

use std::collections::HashMap;

use s3_policy_processor::handler::{DEFAULT_MAX_CONCURRENCY, Processor};
use s3_policy_processor::policy::Policy;
use s3_policy_processor::reconcile::Outcome;
use s3_policy_processor::store::counting::CountingStore;
use s3_policy_processor::store::routing::BucketSettings;
use s3_policy_processor::store::s3::S3Store;
use support::region_proxy::{Buckets, Home, RegionProxy};
use support::*;

const REPORT_KEY: &str = "reports/2026/q3 summary.csv";

async fn backup_in(server: &S3Server, home: Home) -> RegionProxy {
    let upstream = server.endpoint.trim_start_matches("http://").to_owned();
    RegionProxy::start(upstream, HashMap::from([(BACKUP.to_owned(), home)])).await
}

fn processor_via(
    proxy: &RegionProxy,
    policy: Policy,
    settings: BucketSettings,
) -> Processor<CountingStore<S3Store>> {
    let store = S3Store::with_settings(client_for(&proxy.endpoint), settings);
    Processor::new(
        CountingStore::new(store),
        policy,
        DEFAULT_MAX_CONCURRENCY,
        false,
    )
    .with_server_support(MOTO)
}

#[tokio::test]
async fn a_backup_bucket_in_another_region_is_found_once_and_used() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let proxy = backup_in(&server, Home::Region("eu-west-1".into())).await;
    let processor = processor_via(
        &proxy,
        policy("match: { buckets: [s3pp-source] }\nbackup: s3pp-backup"),
        BucketSettings::default(),
    );
    let event = event("put-single.json");
    let report = processor.handle(&event).await.expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(
        body(&s3, BACKUP, REPORT_KEY).await,
        body(&s3, SOURCE, REPORT_KEY).await
    );

    let writes = processor.store().counts().writes();
    let again = processor.handle(&event).await.expect("redelivery");
    assert_eq!(again.objects[0].outcome, Outcome::Compliant, "{again:?}");
    assert_eq!(
        processor.store().counts().writes(),
        writes,
        "redelivery writes nothing"
    );
    assert_eq!(
        (
            proxy.redirects(),
            processor.store().inner().routing().redirects()
        ),
        (1, 1),
        "the region is learned from one redirect and kept"
    );
}

#[tokio::test]
async fn a_region_given_in_the_policy_needs_no_discovery() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let proxy = backup_in(&server, Home::Region("ap-southeast-2".into())).await;
    let policy = policy("backup: { bucket: s3pp-backup, region: ap-southeast-2 }");
    let settings = BucketSettings::from_policy(&policy);
    let processor = processor_via(&proxy, policy, settings);
    let report = processor
        .handle(&event("put-single.json"))
        .await
        .expect("invocation");
    assert_eq!(report.objects[0].outcome, Outcome::Applied, "{report:?}");
    assert_eq!(proxy.redirects(), 0);
}

#[tokio::test]
async fn a_bucket_whose_region_cannot_be_found_fails_with_what_to_do() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let proxy = backup_in(&server, Home::Unnamed).await;
    let processor = processor_via(
        &proxy,
        policy("match: { buckets: [s3pp-source] }\nbackup: s3pp-backup"),
        BucketSettings::default(),
    );
    let report = match processor.handle(&event("put-single.json")).await {
        Err(s3_policy_processor::handler::InvocationError::RecordsFailed { report, .. }) => report,
        other => panic!("expected the record to fail, got {other:?}"),
    };
    let object = &report.objects[0];
    assert_eq!(object.outcome, Outcome::Failed);
    assert_eq!(object.error_code.as_deref(), Some("PermanentRedirect"));
    let message = object.error.as_deref().unwrap_or_default();
    assert!(message.contains("set `backup.region`"), "{message}");
    assert!(keys(&s3, BACKUP).await.is_empty());
}

/// Every request to a backup bucket with an `expected_owner` carries it, and the server's
/// refusal (S3: 403 when the bucket is owned by another account) fails the record.
#[tokio::test]
async fn expected_owner_goes_on_every_backup_request_and_a_mismatch_fails() {
    let server = S3Server::start();
    let s3 = server.client();
    seed(&s3).await;
    let upstream = server.endpoint.trim_start_matches("http://").to_owned();
    let proxy = RegionProxy::start_with(
        upstream,
        Buckets {
            owners: HashMap::from([(BACKUP.to_owned(), "444455556666".to_owned())]),
            ..Buckets::default()
        },
    )
    .await;
    for (owner, outcome) in [
        ("111122223333", Outcome::Failed),
        ("444455556666", Outcome::Applied),
    ] {
        let policy = policy(&format!(
            "match: {{ buckets: [s3pp-source] }}\nbackup: {{ bucket: s3pp-backup, expected_owner: \"{owner}\" }}"
        ));
        let settings = BucketSettings::from_policy(&policy);
        let processor = processor_via(&proxy, policy, settings);
        let report = match processor.handle(&event("put-single.json")).await {
            Ok(report) => report,
            Err(s3_policy_processor::handler::InvocationError::RecordsFailed {
                report, ..
            }) => *report,
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(
            report.objects[0].outcome, outcome,
            "owner {owner}: {report:?}"
        );
    }
    assert_eq!(
        proxy.unchecked(),
        0,
        "no backup request without the expected owner"
    );
    assert_eq!(
        body(&s3, BACKUP, REPORT_KEY).await,
        body(&s3, SOURCE, REPORT_KEY).await
    );
}

/// The bucket policy docs/deploy.md gives the backup bucket's account (`examples/aws/backup-bucket-policy.json`)
/// grants exactly what the function calls on a backup bucket, no more and no less, and no
/// wildcard to anyone it allows.
#[test]
fn the_documented_backup_bucket_policy_grants_exactly_what_the_code_calls() {
    // (SDK call on the backup bucket, the permission S3 checks, object or bucket resource)
    const CALLS: &[(&str, &str, bool)] = &[
        (".head_object()", "s3:GetObject", true),
        // HEAD of a noncurrent version of the backup (all_versions: is it in the history?).
        (".set_version_id(", "s3:GetObjectVersion", true),
        (".copy_object()", "s3:PutObject", true),
        (".copy_object()", "s3:PutObjectTagging", true), // tags copied with the object
        (".create_multipart_upload()", "s3:PutObject", true),
        (".upload_part_copy()", "s3:PutObject", true),
        (".complete_multipart_upload()", "s3:PutObject", true),
        (".abort_multipart_upload()", "s3:AbortMultipartUpload", true),
        (".list_parts()", "s3:ListMultipartUploadParts", true),
        (".list_object_versions()", "s3:ListBucketVersions", false),
        (".get_bucket_versioning()", "s3:GetBucketVersioning", false),
        (".head_bucket()", "s3:ListBucket", false),
        // Annotations restated on a multipart backup, and whether a backup has them all.
        (
            ".list_object_annotations()",
            "s3:ListObjectAnnotations",
            true,
        ),
        (".put_object_annotation()", "s3:PutObjectAnnotation", true),
    ];
    // Open uploads are never listed: only recorded ones are continued (docs/policy.md).
    let code: String = ["mod.rs", "evidence.rs", "records.rs", "annotations.rs"]
        .iter()
        .map(|file| {
            let path = repo().join("src/store/s3").join(file);
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect();
    assert!(!code.contains(".list_multipart_uploads()"));
    for (call, _, _) in CALLS {
        assert!(
            code.contains(call),
            "{call} is no longer called; update this list"
        );
    }
    let text = std::fs::read_to_string(repo().join("examples/aws/backup-bucket-policy.json"))
        .expect("examples/aws/backup-bucket-policy.json");
    let policy: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut granted: std::collections::BTreeSet<(String, bool)> = Default::default();
    for statement in policy["Statement"].as_array().expect("statements") {
        if statement["Effect"] != "Allow" {
            continue;
        }
        let principal = statement["Principal"]["AWS"].as_str().unwrap_or_default();
        assert!(
            principal.starts_with("arn:aws:iam::") && principal.contains(":role/"),
            "allows only the function's role: {statement}"
        );
        let resource = statement["Resource"].as_str().expect("one resource");
        assert!(
            !resource.ends_with(":::*"),
            "no all-bucket resource: {statement}"
        );
        let on_objects = resource.ends_with("/*");
        for action in statement["Action"].as_array().expect("actions") {
            let action = action.as_str().expect("action");
            assert!(!action.contains('*'), "no wildcard action: {action}");
            granted.insert((action.to_owned(), on_objects));
        }
    }
    let needed: std::collections::BTreeSet<(String, bool)> = CALLS
        .iter()
        .map(|(_, action, on_objects)| ((*action).to_owned(), *on_objects))
        .collect();
    assert_eq!(granted, needed);
}

/// SDK configuration for the function's region against a local endpoint (dummy credentials).
fn sdk_config(endpoint: &str, region: &'static str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(s3_policy_processor::setup::behavior_version())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests"),
        ))
        .build()
}

/// A backup's KMS alias is resolved in the backup bucket's region (KMS keys are regional), not
/// the function's. Relies on moto's KMS keeping keys and aliases per region, and on moto's
/// HeadBucket naming the bucket's region.
#[tokio::test]
async fn a_backup_key_is_resolved_in_the_backup_buckets_region() {
    let server = S3Server::start();
    let eu_kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk_config(&server.endpoint, "eu-west-1")).build(),
    );
    let key = eu_kms.create_key().send().await.expect("create key");
    let key_arn = key
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("arn")
        .to_owned();
    eu_kms
        .create_alias()
        .alias_name("alias/dr-backups")
        .target_key_id(&key_arn)
        .send()
        .await
        .expect("create alias");
    let config = sdk_config(&server.endpoint, "us-east-1");
    let s3 = server.client();
    create_buckets(&s3).await;

    let mut policy = policy(
        "backup: { bucket: s3pp-backup, region: eu-west-1, encryption: { algorithm: aws:kms, kms_key_id: alias/dr-backups } }",
    );
    let store = S3Store::with_settings(s3.clone(), BucketSettings::from_policy(&policy));
    s3_policy_processor::kms_aliases::resolve_in_regions(&mut policy, &config, &store)
        .await
        .expect("resolved in eu-west-1");
    let resolved: Vec<Option<String>> = policy
        .kms_keys_mut()
        .map(|k| k.resolved_arn.clone())
        .collect();
    assert_eq!(resolved, vec![Some(key_arn)]);

    // Without `region`, the bucket's region is asked (HeadBucket: us-east-1 here), and the
    // alias, which exists only in eu-west-1, is not found there: init fails naming it.
    let mut elsewhere = self::policy(
        "backup: { bucket: s3pp-backup, encryption: { algorithm: aws:kms, kms_key_id: alias/dr-backups } }",
    );
    let store = S3Store::from_client(s3.clone());
    let err = s3_policy_processor::kms_aliases::resolve_in_regions(&mut elsewhere, &config, &store)
        .await
        .expect_err("the alias is not in the bucket's region");
    assert!(err.to_string().contains("alias/dr-backups"), "{err}");
}
