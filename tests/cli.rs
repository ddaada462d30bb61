//! `s3pp` driven as a process (`CARGO_BIN_EXE_s3pp`) against a moto S3 server on 127.0.0.1, one
//! per test, stopped by PID. Each test says which server behaviour it relies on.

mod support;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use s3_policy_processor::keys::decode_event_key;
use serde_json::Value;
use support::cli_process::*;
use support::*;

/// Keys that break naive encoders: spaces, `+`, unicode, `%`, commas.
const KEYS: &[&str] = &[
    "plain.txt",
    "with space/a b.txt",
    "c++/x+y.txt",
    "unicode/über café 日本.txt",
    "odd/100% done, really.csv",
];

const POLICY: &str = "\
ia_min_size: 0
rules:
  - name: everything
    encryption: AES256
    storage_class: STANDARD_IA
    backup: s3pp-backup
    tags: { processed-by: s3pp }
";

async fn seed_keys(client: &Client) {
    create_buckets(client).await;
    for key in KEYS {
        client
            .put_object()
            .bucket(SOURCE)
            .key(*key)
            .body(ByteStream::from(format!("body of {key}").into_bytes()))
            .content_type("text/plain")
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }
}

/// Relies on moto: ListObjectsV2 returning the keys exactly as stored, HEAD/tagging reads, and
/// CopyObject (backup and in-place with a new class and SSE) applying what it is asked. moto
/// does not report SSE on plain PUTs, so every object starts non-compliant on encryption too.
#[tokio::test]
async fn dry_run_writes_nothing_apply_fixes_everything_and_a_rescan_finds_it_compliant() {
    let server = S3Server::start();
    let s3 = server.client();
    seed_keys(&s3).await;
    let policy = policy_file("scan", POLICY);
    let policy = policy.to_str().expect("utf-8 path");
    let before: Vec<_> = {
        let mut heads = Vec::new();
        for key in KEYS {
            let head = head_of(&s3, SOURCE, key).await;
            heads.push((
                head.e_tag().map(str::to_owned),
                head.last_modified().copied(),
            ));
        }
        heads
    };

    // Dry run (the default): every object planned, nothing written anywhere.
    let dry = s3pp(
        &server.endpoint,
        &[
            "scan",
            "s3://s3pp-source",
            "--policy",
            policy,
            "--format",
            "json",
        ],
        &[],
    );
    assert!(dry.status.success(), "{}", stderr(&dry));
    let report = json(&dry);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["summary"]["planned"], KEYS.len(), "{report}");
    let mut listed: Vec<&str> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().unwrap_or_default())
        .collect();
    listed.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(listed, expected, "keys come back exactly, decoded");
    assert!(keys(&s3, BACKUP).await.is_empty(), "dry run wrote a backup");
    for (key, (etag, modified)) in KEYS.iter().zip(&before) {
        let head = head_of(&s3, SOURCE, key).await;
        assert_eq!(
            head.e_tag(),
            etag.as_deref(),
            "{key} rewritten in a dry run"
        );
        assert_eq!(head.last_modified(), modified.as_ref());
        assert!(
            tags(&s3, SOURCE, key).await.is_empty(),
            "{key} tagged in a dry run"
        );
    }

    // --apply: every object brought in line, with a backup, and journalled.
    let journal =
        std::env::temp_dir().join(format!("s3pp-cli-journal-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let apply = s3pp(
        &server.endpoint,
        &[
            "scan",
            "s3://s3pp-source",
            "--policy",
            policy,
            "--apply",
            "--concurrency",
            "3",
            "--format",
            "json",
            "--journal",
            journal.to_str().unwrap_or_default(),
        ],
        &[],
    );
    assert!(apply.status.success(), "{}", stderr(&apply));
    let report = json(&apply);
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["interrupted"], false);
    assert_eq!(report["summary"]["applied"], KEYS.len(), "{report}");
    let lines: Vec<Value> = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let mut journalled: Vec<&str> = lines
        .iter()
        .filter(|l| l["outcome"] == "applied" && l["dry_run"] == false)
        .map(|l| l["key"].as_str().unwrap_or_default())
        .collect();
    journalled.sort_unstable();
    assert_eq!(journalled, expected, "one journal line per object changed");
    assert!(
        lines
            .iter()
            .all(|l| l["actions"].as_array().is_some_and(|a| !a.is_empty()))
    );
    let _ = std::fs::remove_file(&journal);
    for key in KEYS {
        assert_source_in_line(&s3, key).await;
        // The rule covers any bucket: backups go under the source bucket's name.
        assert_eq!(
            body(&s3, BACKUP, &format!("{SOURCE}/{key}")).await,
            format!("body of {key}").into_bytes()
        );
    }

    // A second scan (table format, the default) finds every object compliant.
    let rescan = s3pp(
        &server.endpoint,
        &["scan", "s3://s3pp-source", "--policy", policy],
        &[],
    );
    assert!(rescan.status.success(), "{}", stderr(&rescan));
    let table = stdout(&rescan);
    assert!(
        table.contains("compliant") && !table.contains("planned") && !table.contains("failed"),
        "{table}"
    );
    let rescan = s3pp(
        &server.endpoint,
        &[
            "scan",
            "s3://s3pp-source",
            "--policy",
            policy,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(json(&rescan)["summary"]["compliant"], KEYS.len());
}

/// Relies on moto answering CopyObject into a missing bucket with `NoSuchBucket`.
#[tokio::test]
async fn a_failed_object_fails_the_scan_and_csv_lists_it() {
    let server = S3Server::start();
    let s3 = server.client();
    seed_keys(&s3).await;
    let policy = policy_file("failing", "backup: no-such-backup-bucket\n");
    let output = s3pp(
        &server.endpoint,
        &[
            "scan",
            "s3://s3pp-source/c++/",
            "--policy",
            policy.to_str().unwrap_or_default(),
            "--apply",
            "--format",
            "csv",
        ],
        &[],
    );
    assert!(
        !output.status.success(),
        "exit status must show the failure"
    );
    let csv = stdout(&output);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "bucket,key,version_id,rule,outcome,actions,error_code,error"
    );
    assert_eq!(rows.len(), 2, "only the prefix's object: {csv}");
    assert!(
        rows[1].starts_with("s3pp-source,c++/x+y.txt,,rule-0,failed,backup,NoSuchBucket,"),
        "{csv}"
    );
}

/// Relies on moto's ListObjectsV2 returning raw keys.
#[tokio::test]
async fn manifest_rows_are_url_encoded_bucket_key_pairs() {
    let server = S3Server::start();
    let s3 = server.client();
    seed_keys(&s3).await;
    let output = s3pp(&server.endpoint, &["manifest", "s3://s3pp-source"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = stdout(&output);
    let mut decoded = Vec::new();
    for row in manifest.lines() {
        let (bucket, key) = row.split_once(',').expect("bucket,key");
        assert_eq!(bucket, SOURCE);
        assert!(!key.contains([' ', '+', ',']), "not encoded: {row}");
        decoded.push(decode_event_key(key).expect("decodes as the function decodes"));
    }
    decoded.sort();
    let mut expected: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(decoded, expected);
    assert!(
        manifest.contains("s3pp-source,c%2B%2B/x%2By.txt\n"),
        "{manifest}"
    );
    assert!(
        manifest.contains("s3pp-source,with%20space/a%20b.txt\n"),
        "{manifest}"
    );
}

/// Relies on moto for HEAD and tag reads only; nothing may be written.
#[tokio::test]
async fn plan_shows_one_objects_actions_and_writes_nothing() {
    let server = S3Server::start();
    let s3 = server.client();
    seed_keys(&s3).await;
    let policy = policy_file("plan", POLICY);
    let output = s3pp(
        &server.endpoint,
        &[
            "plan",
            "s3://s3pp-source/with space/a b.txt",
            "--format",
            "json",
        ],
        &[("POLICY_FILE", policy.to_str().unwrap_or_default())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["outcome"], "planned", "{report}");
    let actions: Vec<&str> = report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["backup", "rewrite"], "{report}");
    assert!(keys(&s3, BACKUP).await.is_empty());
    let table = s3pp(
        &server.endpoint,
        &["plan", "s3://s3pp-source/c++/x+y.txt"],
        &[("POLICY", POLICY)],
    );
    assert!(
        stdout(&table).contains("backup → s3://s3pp-backup/s3pp-source/c++/x+y.txt"),
        "{}",
        stdout(&table)
    );
}

/// Relies on moto only to have something to log about.
#[tokio::test]
async fn plain_text_logs_carry_no_colour_codes() {
    let server = S3Server::start();
    let s3 = server.client();
    seed_keys(&s3).await;
    let output = s3pp(
        &server.endpoint,
        &["scan", "s3://s3pp-source", "--format", "json"],
        &[("POLICY", POLICY), ("RUST_LOG", "info")],
    );
    assert!(output.status.success());
    let logs = stderr(&output);
    assert!(logs.contains("dry run: planned, not applied"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escape in logs: {logs:?}");
}

/// No server: validation is local.
#[test]
fn validate_accepts_the_examples_and_names_the_bad_field() {
    let good = s3pp(
        "http://127.0.0.1:9",
        &["validate", "--policy", "examples/policy.yaml"],
        &[],
    );
    assert!(good.status.success(), "{}", stderr(&good));

    let bad = policy_file(
        "bad",
        "rules:\n  - name: x\n    storage_class: STANDARD-IA\n",
    );
    let output = s3pp(
        "http://127.0.0.1:9",
        &["validate", "--policy", bad.to_str().unwrap_or_default()],
        &[],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("rules[0].storage_class") && message.contains("STANDARD_IA"),
        "the cold-start error with its field path: {message}"
    );

    // POLICY from the environment, as the function reads it.
    let output = s3pp(
        "http://127.0.0.1:9",
        &["validate"],
        &[("POLICY", "backup: { bucket: Bad_Bucket }")],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("rules[0].backup.bucket"),
        "{}",
        stderr(&output)
    );
}

/// No server: the schema is generated from the parser's types.
#[test]
fn committed_schema_is_current_and_accepts_the_examples() {
    let output = s3pp("http://127.0.0.1:9", &["schema"], &[]);
    assert!(output.status.success());
    let committed = std::fs::read_to_string(repo().join("schema/policy.schema.json"))
        .expect("schema/policy.schema.json");
    assert_eq!(
        stdout(&output),
        committed,
        "schema/policy.schema.json is stale: run `cargo run --bin s3pp -- schema > schema/policy.schema.json`"
    );
    let schema: Value = serde_json::from_str(&committed).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");

    let mut examples = 0;
    for entry in std::fs::read_dir(repo().join("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("example");
        let document: Value = serde_yaml_ng::from_str(&text).expect("example parses");
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        examples += 1;
    }
    assert!(examples > 0);

    // The shorthand forms and the full forms are both accepted; mistakes are not.
    for good in [
        "encryption: AES256\nstorage_class: STANDARD_IA\nbackup: my-backup",
        "encryption: { algorithm: aws:kms, kms_key_id: alias/x, bucket_key: true }",
        "backup: { bucket: b-b-b, prefix: x/, encryption: aws:kms }\nmatch: { content_type: [text/csv, text/*] }",
    ] {
        let document: Value = serde_yaml_ng::from_str(good).expect("yaml");
        assert!(validator.is_valid(&document), "{good}");
    }
    for bad in [
        "storage_class: STANDARD-IA",
        "encryption: AES128",
        "storag_class: STANDARD",
        "rules: [{ tags: { a: b } }]\nextra: 1",
        "backup: 3",
    ] {
        let document: Value = serde_yaml_ng::from_str(bad).expect("yaml");
        assert!(!validator.is_valid(&document), "{bad}");
    }
}

/// Queue delivery: `s3pp replay --to-queue` moves dead-lettered events back to the event queue
/// as they were (SQS on moto), deletes only what it sent, leaves what is not an event, and a
/// dry run moves nothing.
#[tokio::test]
async fn replay_moves_dead_lettered_events_back_to_the_event_queue() {
    let server = S3Server::start();
    let sqs = sqs_client_for(&server.endpoint);
    let mut urls = Vec::new();
    for name in ["events", "events-dlq"] {
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("url");
        urls.push(url);
    }
    let (events, dlq) = (&urls[0], &urls[1]);
    let event = std::fs::read_to_string(repo().join("events/put-single.json")).expect("event");
    for body in [event.as_str(), "{\"not\": \"an event\"}"] {
        sqs.send_message()
            .queue_url(dlq)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let sqs_env = [("AWS_ENDPOINT_URL_SQS", server.endpoint.as_str())];
    let args = |apply: bool| {
        let mut args = vec!["replay", "--from", dlq, "--to-queue", events];
        if apply {
            args.push("--apply");
        }
        args
    };

    let dry = s3pp(&server.endpoint, &args(false), &sqs_env);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("2 message(s) read, 0 replayed"),
        "{}",
        stdout(&dry)
    );
    let waiting = sqs
        .receive_message()
        .queue_url(events)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive");
    assert!(waiting.messages().is_empty(), "a dry run sends nothing");

    let applied = s3pp(&server.endpoint, &args(true), &sqs_env);
    assert!(
        !applied.status.success(),
        "one message stays: {}",
        stdout(&applied)
    );
    let table = stdout(&applied);
    assert!(
        table.contains("2 message(s) read, 1 replayed and deleted, 1 left"),
        "{table}"
    );
    assert!(
        table.contains("s3pp-source/reports/2026/q3 summary.csv"),
        "{table}"
    );
    let moved = sqs
        .receive_message()
        .queue_url(events)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<&str> = moved.messages().iter().filter_map(|m| m.body()).collect();
    let moved_event: serde_json::Value = serde_json::from_str(bodies[0]).expect("json");
    let original: serde_json::Value = serde_json::from_str(&event).expect("json");
    assert_eq!((bodies.len(), moved_event), (1, original));
    let left = s3pp(&server.endpoint, &args(false), &sqs_env);
    assert!(
        stdout(&left).contains("1 message(s) read"),
        "{}",
        stdout(&left)
    );
}

/// A job's completion report as Batch Operations writes it (manifest.json with each result
/// file's MD5, result files under results/, rows as the function answers them), read from a
/// local copy and from moto's S3: counts by result code, outcome and error code; the failed
/// tasks become a manifest whose keys are exactly the report's; a result file that does not
/// match its MD5 is refused.
#[tokio::test]
async fn batch_report_reads_a_completion_report_back() {
    let server = S3Server::start();
    let s3 = server.client();
    let rows = concat!(
        "s3pp-source,a%20b/c%2Bd%20%C3%BC.txt,,succeeded,200,Succeeded,s3pp-source/a b/c+d ü.txt: Applied: backup,rewrite\n",
        "s3pp-source,ok.txt,,succeeded,200,Succeeded,s3pp-source/ok.txt: Compliant\n",
        "s3pp-source,odd/100%25%20done%2C%20really.csv,,failed,200,PermanentFailure,\"s3pp-source/odd/100% done, really.csv: Failed: AccessDenied: access denied\"\n",
        "s3pp-source,slow.bin,v2,failed,200,TemporaryFailure,s3pp-source/slow.bin: Failed: SlowDown: please reduce your request rate\n",
    );
    let md5 = s3_policy_processor::batch_report::md5_hex(&<md5::Md5 as md5::Digest>::digest(
        rows.as_bytes(),
    ));
    let manifest = |md5: &str| {
        format!(
            r#"{{"Format":"Report_CSV_20180820","ReportCreationDate":"2026-12-02T05:00:00.000Z","Results":[{{"TaskExecutionStatus":"failed","Bucket":"s3pp-backup","MD5Checksum":"{md5}","Key":"batch-reports/job-1/results/part-1.csv"}}],"ReportSchema":"Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}}"#
        )
    };
    let dir = std::env::temp_dir().join(format!("s3pp-report-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("results")).expect("dir");
    std::fs::write(dir.join("manifest.json"), manifest(&md5)).expect("manifest");
    std::fs::write(dir.join("results/part-1.csv"), rows).expect("rows");
    let failed = dir.join("failed.csv");

    let local = s3pp(
        &server.endpoint,
        &[
            "batch-report",
            dir.join("manifest.json").to_str().unwrap_or_default(),
            "--failed-manifest",
            failed.to_str().unwrap_or_default(),
            "--format",
            "json",
        ],
        &[],
    );
    assert!(!local.status.success(), "failed tasks: exit 1");
    let found = json(&local);
    assert_eq!(found["files"], 1);
    assert_eq!(found["summary"]["tasks"], 4);
    assert_eq!(found["summary"]["outcomes"]["Applied"], 1);
    assert_eq!(found["summary"]["outcomes"]["Compliant"], 1);
    assert_eq!(
        found["summary"]["failures"]["PermanentFailure / AccessDenied"],
        1
    );
    assert_eq!(
        found["summary"]["failures"]["TemporaryFailure / SlowDown"],
        1
    );
    assert_eq!(
        std::fs::read_to_string(&failed).expect("failed manifest"),
        "s3pp-source,odd/100%25%20done%2C%20really.csv\ns3pp-source,slow.bin,v2\n",
        "the failed tasks, keys exactly as the report wrote them"
    );

    // The same report in S3 (moto), read through its manifest.json.
    create_buckets(&s3).await;
    put_bytes(
        &s3,
        BACKUP,
        "batch-reports/job-1/manifest.json",
        manifest(&md5),
    )
    .await;
    put_bytes(&s3, BACKUP, "batch-reports/job-1/results/part-1.csv", rows).await;
    let remote = s3pp(
        &server.endpoint,
        &[
            "batch-report",
            "s3://s3pp-backup/batch-reports/job-1/manifest.json",
        ],
        &[],
    );
    let table = stdout(&remote);
    assert!(
        table.contains("4 tasks in 1 result file(s)"),
        "{table}{}",
        stderr(&remote)
    );
    assert!(table.contains("PermanentFailure / AccessDenied"), "{table}");

    // A result file that is not the one manifest.json describes is refused.
    std::fs::write(
        dir.join("manifest.json"),
        manifest("00000000000000000000000000000000"),
    )
    .expect("manifest");
    let refused = s3pp(
        &server.endpoint,
        &[
            "batch-report",
            dir.join("manifest.json").to_str().unwrap_or_default(),
        ],
        &[],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("incomplete or not this job's"),
        "{}",
        stderr(&refused)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
