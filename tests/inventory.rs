//! `s3pp inventory`: S3 Inventory deliveries written here the way S3 writes them
//! (tests/support/inventory_files.rs), in both formats, judged against hand-computed
//! expectations; checksums that must hold; a delivery read from S3 (moto) with the manifest
//! uploaded and the `create-job` input written; the manifest's keys run through the function's
//! Batch Operations path on moto; the job input checked against the S3 Control API model.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s3_policy_processor::apply::copy::CopySettings;
use s3_policy_processor::cli::fetched::Source;
use s3_policy_processor::cli::inventory::{InventoryRun, Settings, read};
use s3_policy_processor::inventory::prices::Prices;
use s3_policy_processor::inventory::verdict::{Outcome, Reason};
use serde_json::{Value, json};
use support::cli_process::*;
use support::inventory_files::*;
use support::*;

const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn test_policy() -> String {
    format!(
        "\
ia_min_size: 131072
rules:
  - name: logs
    match: {{ prefix: logs/ }}
    storage_class: STANDARD_IA
    encryption: {{ algorithm: aws:kms, kms_key_id: {KEY_ARN}, bucket_key: true }}
  - name: archive
    match: {{ prefix: archive/ }}
    storage_class: GLACIER
  - name: docs
    match: {{ prefix: docs/ }}
    encryption: AES256
    tags: {{ team: docs }}
  - name: typed
    match: {{ prefix: typed/, content_type: [text/*] }}
    encryption: AES256
"
    )
}

const MIB: u64 = 1024 * 1024;
const YEAR_MS: i64 = 365 * 86_400_000;

/// Every case the judge tells apart, with a version id each (one null version).
fn objects() -> Vec<InventoryObject> {
    let o = |key: &str, size: u64, version: &str| {
        let mut object = InventoryObject::new("src", key, size);
        object.version_id = Some(version.into());
        object
    };
    let mut rows = Vec::new();
    rows.push(o("logs/a b+c ü.log", MIB, "v1"));
    let mut ok = o("logs/ok.log", MIB, "v2");
    ok.storage_class = "STANDARD_IA".into();
    ok.encryption_status = "SSE-KMS".into();
    ok.bucket_key_status = "ENABLED".into();
    rows.push(ok.clone());
    let mut no_bucket_key = ok.clone();
    no_bucket_key.key = "logs/nobk.log".into();
    no_bucket_key.version_id = Some("v3".into());
    no_bucket_key.bucket_key_status = "DISABLED".into();
    rows.push(no_bucket_key);
    rows.push(o("logs/tiny.log", 100, "v4"));
    let mut locked = o("logs/locked.log", MIB, "v5");
    locked.lock_mode = Some("COMPLIANCE".into());
    locked.lock_retain_until_ms = Some(CREATED_MS + 4 * YEAR_MS);
    rows.push(locked);
    let mut ended = o("logs/expired-lock.log", MIB, "v6");
    ended.lock_mode = Some("GOVERNANCE".into());
    ended.lock_retain_until_ms = Some(CREATED_MS - YEAR_MS);
    rows.push(ended);
    let mut deep = o("archive/old.bin", MIB, "v7");
    deep.storage_class = "DEEP_ARCHIVE".into();
    rows.push(deep);
    rows.push(o("archive/new.bin", MIB, "v8"));
    rows.push(o("docs/readme.md", 10, "v9"));
    let mut plain = o("docs/plain.md", 10, "");
    plain.encryption_status = "NOT-SSE".into();
    rows.push(plain);
    rows.push(o("typed/x.txt", 10, "v10"));
    rows.push(o("other/x", 10, "v11"));
    let mut marker = o("docs/deleted.md", 0, "v12");
    marker.is_delete_marker = true;
    marker.size = None;
    rows.push(marker);
    let mut old = o("docs/readme.md", 10, "v0");
    old.is_latest = false;
    rows.push(old);
    let mut customer = o("docs/customer.md", 10, "v13");
    customer.encryption_status = "SSE-C".into();
    rows.push(customer);
    rows
}

/// The manifest rows: the objects that need or may need work, in inventory order.
const EXPECTED_MANIFEST: &str = "\
src,logs/a%20b%2Bc%20%C3%BC.log,v1
src,logs/ok.log,v2
src,logs/nobk.log,v3
src,logs/tiny.log,v4
src,logs/expired-lock.log,v6
src,archive/new.bin,v8
src,docs/readme.md,v9
src,docs/plain.md,null
src,typed/x.txt,v10
src,docs/customer.md,v13
";

fn expected_groups() -> BTreeMap<(Option<&'static str>, Outcome, Vec<Reason>), u64> {
    use Outcome::*;
    use Reason::*;
    BTreeMap::from([
        (
            (
                Some("logs"),
                NeedsWork,
                vec![WrongStorageClass, NotEncryptedAsRequired],
            ),
            2,
        ),
        ((Some("logs"), ToCheck, vec![KmsKeyUnknown]), 1),
        ((Some("logs"), NeedsWork, vec![BucketKeySetting]), 1),
        ((Some("logs"), NeedsWork, vec![NotEncryptedAsRequired]), 1),
        ((Some("logs"), Skipped, vec![ObjectLocked]), 1),
        ((Some("archive"), Skipped, vec![Archived]), 1),
        ((Some("archive"), NeedsWork, vec![WrongStorageClass]), 1),
        ((Some("docs"), ToCheck, vec![TagsUnknown]), 2),
        ((Some("docs"), NeedsWork, vec![NotEncryptedAsRequired]), 1),
        ((Some("typed"), ToCheck, vec![ContentTypeUnknown]), 1),
        ((None, NotCovered, vec![NoRule]), 1),
        ((None, Ignored, vec![DeleteMarker]), 1),
        ((Some("docs"), Ignored, vec![NoncurrentVersion]), 1),
    ])
}

fn groups(run: &InventoryRun) -> BTreeMap<(Option<&str>, Outcome, Vec<Reason>), u64> {
    run.report
        .groups
        .iter()
        .map(|g| {
            (
                (g.rule.as_deref(), g.outcome, g.reasons.clone()),
                g.tally.objects,
            )
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = repo().join("target/inventory-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What [`Settings`] borrows: the policy, the built-in prices, the default copy settings.
struct Owned {
    policy: s3_policy_processor::policy::Policy,
    prices: Prices,
    copy: CopySettings,
}

impl Owned {
    fn new(policy_text: &str) -> Self {
        Self {
            policy: policy(policy_text),
            prices: Prices::default(),
            copy: CopySettings::default(),
        }
    }

    fn settings(&self) -> Settings<'_> {
        Settings {
            policy: &self.policy,
            update_encryption: true,
            prices: &self.prices,
            copy: &self.copy,
        }
    }
}

async fn judge_local(manifest: &Path, policy_text: &str) -> (InventoryRun, String) {
    let owned = Owned::new(policy_text);
    let settings = owned.settings();
    let mut manifest_rows = Vec::new();
    let run = read(
        &Source::Local(manifest.to_owned()),
        None,
        &settings,
        Some(&mut manifest_rows),
    )
    .await
    .expect("inventory is read");
    (run, String::from_utf8(manifest_rows).expect("utf-8"))
}

/// No server: the files are local. Both formats give the same verdicts and the same manifest.
#[tokio::test]
async fn every_case_is_judged_as_computed_by_hand_in_both_formats() {
    for (name, format, per_file) in [
        ("csv", FileFormat::Csv, 4),
        ("parquet", FileFormat::Parquet, 100),
    ] {
        let dir = scratch(name);
        let delivery = write_delivery(
            &dir,
            "inventory-destination",
            "inv/",
            "src",
            format,
            true,
            objects(),
            per_file,
        );
        let (run, manifest) = judge_local(&delivery.manifest, &test_policy()).await;
        assert_eq!(groups(&run), expected_groups(), "{name}");
        assert_eq!(manifest, EXPECTED_MANIFEST, "{name}");
        assert_eq!(run.manifest_rows, 10, "{name}");
        assert!(run.with_versions, "{name}");
        assert_eq!(run.report.total.objects, 15, "{name}");
        assert_eq!(run.report.manifest.objects, 10, "{name}");
        assert!(run.report.bad_rows.is_empty(), "{name}");
        // Costs: one task, one HEAD per manifest object; the logs rewrites and the archive
        // move are the class changes.
        assert_eq!(run.report.work.invocations, 10, "{name}");
        assert_eq!(run.report.work.heads.values().sum::<u64>(), 10, "{name}");
        assert_eq!(
            run.report.work.class_changes,
            BTreeMap::from([
                ("STANDARD -> GLACIER".to_owned(), MIB),
                ("STANDARD -> STANDARD_IA".to_owned(), 2 * MIB),
            ]),
            "{name}"
        );
    }
}

/// No server. A delivery whose files do not match its manifest, or whose manifest does not
/// match manifest.checksum, is refused before any row counts.
#[tokio::test]
async fn checksums_are_verified_before_rows_are_read() {
    let dir = scratch("checksums");
    let delivery = write_delivery(
        &dir,
        "inventory-destination",
        "inv/",
        "src",
        FileFormat::Csv,
        true,
        objects(),
        100,
    );
    let owned = Owned::new(&test_policy());
    let settings = owned.settings();
    let source = Source::Local(delivery.manifest.clone());
    let data = dir.join(&delivery.files[0]);
    let original = std::fs::read(&data).expect("data file");
    let mut damaged = original.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    std::fs::write(&data, &damaged).expect("damage");
    let err = read(&source, None, &settings, None).await.unwrap_err();
    assert!(err.to_string().contains("part-00000.csv.gz: MD5"), "{err}");
    std::fs::write(&data, &original).expect("restore");
    let checksum = delivery.manifest.with_file_name("manifest.checksum");
    std::fs::write(&checksum, "0123456789abcdef0123456789abcdef").expect("checksum");
    let err = read(&source, None, &settings, None).await.unwrap_err();
    assert!(err.to_string().contains("manifest.checksum says"), "{err}");
    std::fs::remove_file(&checksum).expect("remove");
    let err = read(&source, None, &settings, None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("manifest.checksum beside manifest.json"),
        "{err}"
    );
}

/// No server. A row that cannot be read is counted and named; the rows around it are judged.
#[tokio::test]
async fn a_bad_row_is_reported_and_does_not_sink_the_report() {
    let dir = scratch("bad-row");
    let mut rows = objects();
    rows.truncate(2);
    let delivery = write_delivery(
        &dir,
        "inventory-destination",
        "inv/",
        "src",
        FileFormat::Csv,
        true,
        rows,
        100,
    );
    // Rewrite the one data file with a third, broken row and fix the checksums.
    let data = dir.join(&delivery.files[0]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&data).unwrap()),
        &mut text,
    )
    .unwrap();
    text.push_str("\"src\",\"logs/broken\",\"\",\"true\",\"false\",\"ten bytes\"\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(&data, &bytes).unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&delivery.manifest).unwrap()).unwrap();
    manifest["files"][0]["MD5checksum"] = json!(md5_hex(&bytes));
    let manifest_text = serde_json::to_vec(&manifest).unwrap();
    std::fs::write(&delivery.manifest, &manifest_text).unwrap();
    std::fs::write(
        delivery.manifest.with_file_name("manifest.checksum"),
        md5_hex(&manifest_text),
    )
    .unwrap();
    let (run, manifest_rows) = judge_local(&delivery.manifest, &test_policy()).await;
    assert_eq!(run.report.total.objects, 3);
    assert_eq!(manifest_rows.lines().count(), 2);
    assert_eq!(run.report.bad_rows.len(), 1);
    assert_eq!(run.report.bad_rows[0].row, 3);
    assert!(
        run.report.bad_rows[0]
            .message
            .contains("fileSchema lists 20"),
        "{:?}",
        run.report.bad_rows
    );
}

/// Relies on moto for PutObject/GetObject/HEAD (the delivery and the uploaded manifest) and,
/// for the Batch Operations path, for HEAD and an in-place CopyObject with SSE-S3 — moto hides
/// SSE on plain PUTs, which is why the inventory here says NOT-SSE, as S3's would for an
/// object written before default encryption. No local server implements CreateJob: the job
/// input is checked against the API model in `job_input_matches_the_s3_control_model`. This is
/// docs/events.md's backfill walkthrough, step by step: a delivery in the backup bucket, the
/// drift report, the manifest uploaded with the job input, the job's invocations (the
/// function's Batch Operations path), and its completion report read back.
#[tokio::test]
async fn the_backfill_walkthrough_on_moto_brings_every_key_in_line() {
    let server = S3Server::start();
    let s3 = server.client();
    create_buckets(&s3).await;
    let keys = [
        "plain.txt",
        "with space/a b.txt",
        "c++/x+y.txt",
        "unicode/über café 日本.txt",
        "odd/100% done, really.csv",
    ];
    let mut objects = Vec::new();
    for key in keys {
        put_bytes(&s3, SOURCE, key, format!("body of {key}")).await;
        let mut object = InventoryObject::new(SOURCE, key, 10);
        object.encryption_status = "NOT-SSE".into();
        objects.push(object);
    }
    let mut compliant = InventoryObject::new(SOURCE, "already/fine.txt", 10);
    compliant.encryption_status = "SSE-S3".into();
    objects.push(compliant);
    let dir = scratch("s3");
    let prefix = "batch-manifests/inventory/";
    let delivery = write_delivery(
        &dir,
        BACKUP,
        prefix,
        SOURCE,
        FileFormat::Csv,
        false,
        objects,
        3,
    );
    for file in &delivery.files {
        put_bytes(
            &s3,
            BACKUP,
            &format!("{prefix}{file}"),
            std::fs::read(dir.join(file)).unwrap(),
        )
        .await;
    }
    let manifest_url =
        format!("s3://{BACKUP}/{prefix}{SOURCE}/{CONFIG_ID}/{DATE_FOLDER}/manifest.json");
    let policy_path = policy_file(
        "inventory",
        "rules:\n  - name: all\n    encryption: AES256\n",
    );
    let job_path = dir.join("job.json");
    let report = s3pp_json(
        &server.endpoint,
        &[
            "inventory",
            &manifest_url,
            "--policy",
            policy_path.to_str().unwrap(),
            "--upload-manifest",
            "s3://s3pp-backup/batch-manifests/backfill.csv",
            "--job",
            job_path.to_str().unwrap(),
            "--function",
            "arn:aws:lambda:us-east-1:123456789012:function:s3pp",
            "--role",
            "arn:aws:iam::123456789012:role/s3pp-batch",
            "--report",
            "s3://s3pp-backup/batch-reports",
            "--format",
            "json",
        ],
    );
    assert_eq!(report["manifest_rows"], 5, "{report}");
    assert_eq!(
        report["report"]["outcomes"]["compliant"]["objects"], 1,
        "{report}"
    );
    let uploaded = head_of(&s3, BACKUP, "batch-manifests/backfill.csv").await;
    let job: Value = serde_json::from_slice(&std::fs::read(&job_path).unwrap()).unwrap();
    assert_eq!(
        job["Manifest"]["Location"]["ETag"],
        uploaded.e_tag().unwrap().trim_matches('"'),
        "{job}"
    );
    assert_eq!(
        job["Manifest"]["Location"]["ObjectArn"],
        "arn:aws:s3:::s3pp-backup/batch-manifests/backfill.csv"
    );
    assert_eq!(job["Manifest"]["Spec"]["Fields"], json!(["Bucket", "Key"]));
    assert_eq!(job["AccountId"], "123456789012");
    assert_eq!(job["ConfirmationRequired"], true);
    // The manifest's rows, as Batch Operations would hand them to the function.
    let rows = String::from_utf8(body(&s3, BACKUP, "batch-manifests/backfill.csv").await).unwrap();
    let tasks: Vec<Value> = rows
        .lines()
        .enumerate()
        .map(|(i, row)| {
            let (bucket, key) = row.split_once(',').expect("bucket,key");
            json!({"taskId": format!("t{i}"), "s3Bucket": bucket, "s3Key": key, "s3VersionId": null})
        })
        .collect();
    let event = json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {}},
        "tasks": tasks,
    });
    let processor = processor(
        &s3,
        policy("rules:\n  - name: all\n    encryption: AES256\n"),
    );
    let handled = processor.handle(&event).await.expect("batch invocation");
    let response = handled.response();
    let results = response["results"].as_array().expect("results");
    for result in results {
        assert_eq!(result["resultCode"], "Succeeded", "{result}");
    }
    // Step 4: the completion report Batch Operations would write from these answers, read
    // back with `s3pp batch-report` from S3.
    let mut report_rows = String::new();
    for (row, result) in rows.lines().zip(results) {
        let (bucket, key) = row.split_once(',').expect("bucket,key");
        let message = result["resultString"]
            .as_str()
            .unwrap_or_default()
            .replace('"', "\"\"");
        report_rows.push_str(&format!(
            "{bucket},{key},,succeeded,Succeeded,200,\"{message}\"\n"
        ));
    }
    let results_key = "batch-reports/job-1/results/part-1.csv";
    put_bytes(&s3, BACKUP, results_key, report_rows.clone()).await;
    let report_manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-12-02T05:00:00.000Z",
        "Results": [{"TaskExecutionStatus": "succeeded", "Bucket": BACKUP, "MD5Checksum": md5_hex(report_rows.as_bytes()), "Key": results_key}],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    put_bytes(
        &s3,
        BACKUP,
        "batch-reports/job-1/manifest.json",
        report_manifest.to_string(),
    )
    .await;
    let summary = s3pp_json(
        &server.endpoint,
        &[
            "batch-report",
            "s3://s3pp-backup/batch-reports/job-1/manifest.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        summary["summary"]["result_codes"]["Succeeded"], 5,
        "{summary}"
    );
    assert_eq!(summary["summary"]["outcomes"]["Applied"], 5, "{summary}");
    for key in keys {
        let head = head_of(&s3, SOURCE, key).await;
        assert_eq!(
            head.server_side_encryption().map(|e| e.as_str()),
            Some("AES256"),
            "{key}"
        );
    }
}

/// The S3 Control API model botocore ships (the machine-readable API reference; in the dev
/// venv scripts/setup-tools installs): every member of the job input exists, every required
/// member is there, and every value meets its length, pattern, enum and range constraints.
#[test]
fn job_input_matches_the_s3_control_model() {
    use s3_policy_processor::inventory::job::{JobSpec, ManifestObject, create_job_input};
    let model = s3control_model();
    for with_versions in [false, true] {
        let spec = JobSpec {
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:s3pp-Function-1AB".into(),
            role_arn: "arn:aws:iam::123456789012:role/s3pp-BatchOperationsRole-9XY".into(),
            manifest: ManifestObject {
                bucket: "s3pp-backup".into(),
                key: "batch-manifests/backfill.csv".into(),
                etag: "\"0f343b0931126a20f133d67c2b018a3b\"".into(),
                version_id: with_versions.then(|| "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
                with_versions,
            },
            report_bucket: "s3pp-backup".into(),
            report_prefix: "batch-reports/".into(),
            confirmation_required: true,
            priority: 10,
            description: "s3pp backfill".into(),
        };
        let input = create_job_input(&spec).expect("valid spec");
        let mut problems = Vec::new();
        check(&model, "CreateJobRequest", &input, "", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}\n{input:#}");
        assert_eq!(input["Report"]["Prefix"], "batch-reports");
    }
    // What the model would refuse is refused before a file is written.
    let spec_err = |role: &str, function: &str| {
        create_job_input(&JobSpec {
            function_arn: function.into(),
            role_arn: role.into(),
            manifest: ManifestObject {
                bucket: "b".into(),
                key: "k".into(),
                etag: "e".into(),
                version_id: None,
                with_versions: false,
            },
            report_bucket: "b".into(),
            report_prefix: "p".into(),
            confirmation_required: true,
            priority: 0,
            description: "d".into(),
        })
        .unwrap_err()
        .to_string()
    };
    assert!(
        spec_err(
            "arn:aws:iam::12345:role/x",
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        )
        .contains("--role")
    );
    assert!(spec_err("arn:aws:iam::123456789012:role/x", "s3pp").contains("--function"));
}

fn s3control_model() -> Value {
    let venv = repo().join(".venv/lib");
    let python = std::fs::read_dir(&venv)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup-tools", venv.display()))
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .expect("a python folder in .venv/lib");
    let path = python
        .path()
        .join("site-packages/botocore/data/s3control/2018-08-20/service-2.json.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_reader(flate2::read::GzDecoder::new(file)).expect("model JSON")
}

fn check(model: &Value, shape_name: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let shape = &model["shapes"][shape_name];
    match shape["type"].as_str() {
        Some("structure") => {
            let Some(object) = value.as_object() else {
                problems.push(format!("{path}: not an object"));
                return;
            };
            for required in shape["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                // AccountId travels in a header, but the CLI input names it too.
                if !object.contains_key(name) {
                    problems.push(format!("{path}.{name}: required"));
                }
            }
            for (name, member_value) in object {
                match shape["members"].get(name) {
                    Some(member) => check(
                        model,
                        member["shape"].as_str().unwrap_or_default(),
                        member_value,
                        &format!("{path}.{name}"),
                        problems,
                    ),
                    None => problems.push(format!("{path}.{name}: not in the model")),
                }
            }
        }
        Some("list") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(
                        model,
                        shape["member"]["shape"].as_str().unwrap_or_default(),
                        item,
                        &format!("{path}[{i}]"),
                        problems,
                    );
                }
            }
            None => problems.push(format!("{path}: not a list")),
        },
        Some("string") => {
            let Some(text) = value.as_str() else {
                problems.push(format!("{path}: not a string"));
                return;
            };
            let length = text.chars().count() as u64;
            if shape["min"].as_u64().is_some_and(|min| length < min)
                || shape["max"].as_u64().is_some_and(|max| length > max)
            {
                problems.push(format!(
                    "{path}: length {length} outside {}..{}",
                    shape["min"], shape["max"]
                ));
            }
            if let Some(pattern) = shape["pattern"].as_str() {
                let anchored = format!("^(?:{pattern})");
                if !regex::Regex::new(&anchored)
                    .expect("model pattern")
                    .is_match(text)
                {
                    problems.push(format!("{path}: {text:?} does not match {pattern}"));
                }
            }
            if let Some(values) = shape["enum"].as_array()
                && !values.iter().any(|v| v == value)
            {
                problems.push(format!("{path}: {text:?} is not one of {values:?}"));
            }
        }
        Some("integer") | Some("long") => match value.as_i64() {
            Some(n) => {
                if shape["min"].as_i64().is_some_and(|min| n < min)
                    || shape["max"].as_i64().is_some_and(|max| n > max)
                {
                    problems.push(format!("{path}: {n} out of range"));
                }
            }
            None => problems.push(format!("{path}: not an integer")),
        },
        Some("boolean") => {
            if !value.is_boolean() {
                problems.push(format!("{path}: not a boolean"));
            }
        }
        Some("map") => {
            if !value.is_object() {
                problems.push(format!("{path}: not a map"));
            }
        }
        other => problems.push(format!(
            "{path}: shape {shape_name} of type {other:?} not checked"
        )),
    }
}
