//! template.yaml checks: cfn-lint (a version that still reports cycles through SAM resources),
//! `sam validate --lint`, a proof that the linter catches the classic S3-trigger cycle, and
//! structural checks of the role and buckets.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_yaml_ng::Value;
use serde_yaml_ng::value::TaggedValue;
use support::repo;

fn tool(name: &str) -> PathBuf {
    let path = repo().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} missing; run scripts/setup-tools",
        path.display()
    );
    path
}

fn run(command: &mut Command) -> Output {
    command
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(repo())
        .output()
        .expect("run tool")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn template_text() -> String {
    std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml")
}

fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml parses")
}

#[test]
fn cfn_lint_is_clean() {
    let output = run(Command::new(tool("cfn-lint")).arg("template.yaml"));
    assert!(
        output.status.success(),
        "cfn-lint findings:\n{}",
        text(&output)
    );
}

#[test]
fn sam_validate_lint_is_clean() {
    let output =
        run(Command::new(tool("sam")).args(["validate", "--lint", "--template", "template.yaml"]));
    assert!(
        output.status.success(),
        "sam validate --lint:\n{}",
        text(&output)
    );
}

#[test]
fn cfn_lint_catches_a_ref_of_the_source_bucket_in_the_function() {
    let source = template_text();
    let anchor = "          MAX_CONCURRENCY: !Ref MaxConcurrency\n";
    assert!(
        source.contains(anchor),
        "template changed; update this test's anchor"
    );
    let broken = source.replace(
        anchor,
        &format!("{anchor}          SOURCE_BUCKET: !Ref SourceBucket\n"),
    );
    let path = std::env::temp_dir().join(format!("template-cycle-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).expect("write mutated template");
    let output = run(Command::new(tool("cfn-lint")).arg(&path));
    let _ = std::fs::remove_file(&path);
    assert!(
        !output.status.success() && text(&output).contains("E3004"),
        "cfn-lint must report the circular dependency (E3004):\n{}",
        text(&output)
    );
}

/// Every tagged node `!Ref X`, `!GetAtt X.Y` or `${X...}` inside `!Sub` that names `resource`.
fn references(value: &Value, resource: &str) -> Vec<String> {
    let mut found = Vec::new();
    walk(value, &mut |node| {
        if let Value::Tagged(tagged) = node {
            let TaggedValue { tag, value } = tagged.as_ref();
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Sequence(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
            let hit = (tag == "Ref" && text == resource)
                || (tag == "GetAtt" && text.starts_with(&format!("{resource}.")))
                || (tag == "Sub" && text.contains(&format!("${{{resource}")));
            if hit {
                found.push(format!("{tag} {text}"));
            }
        }
    });
    found
}

fn walk(value: &Value, visit: &mut dyn FnMut(&Value)) {
    visit(value);
    match value {
        Value::Sequence(items) => items.iter().for_each(|v| walk(v, visit)),
        Value::Mapping(map) => map.values().for_each(|v| walk(v, visit)),
        Value::Tagged(tagged) => walk(&tagged.value, visit),
        _ => {}
    }
}

fn statements(template: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    walk(
        &template["Resources"]["Function"]["Properties"]["Policies"],
        &mut |node| {
            if let Some(list) = node.get("Statement").and_then(Value::as_sequence) {
                out.extend(list.iter().cloned());
            }
        },
    );
    out
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn function_and_its_role_never_reference_the_source_bucket_resource() {
    let template = template();
    let function = &template["Resources"]["Function"];
    assert!(!function.is_null());
    // The detector itself works: the source bucket's own policy does reference it.
    let policy_refs = references(&template["Resources"]["SourceBucketPolicy"], "SourceBucket");
    assert_eq!(policy_refs.len(), 3, "{policy_refs:?}");
    let refs = references(function, "SourceBucket");
    assert!(
        refs.is_empty(),
        "the function must build the source bucket name with !Sub, found {refs:?}"
    );
}

/// Every action the role may grant, and where the code needs it: an SDK call in the named
/// source file, or (for KMS data keys and SQS polling) the service acting for the function.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("s3:GetObject", "src/store/s3.rs", ".head_object()"),
    ("s3:GetObjectVersion", "src/store/s3.rs", ".head_object()"),
    (
        "s3:GetObjectTagging",
        "src/store/s3.rs",
        ".get_object_tagging()",
    ),
    (
        "s3:GetObjectVersionTagging",
        "src/store/s3.rs",
        ".get_object_tagging()",
    ),
    ("s3:PutObject", "src/store/s3.rs", ".copy_object()"),
    (
        "s3:PutObjectTagging",
        "src/store/s3.rs",
        ".put_object_tagging()",
    ),
    (
        "s3:PutObjectVersionTagging",
        "src/store/s3.rs",
        ".put_object_tagging()",
    ),
    ("s3:ListBucket", "src/store/s3.rs", ".head_bucket()"),
    (
        "s3:AbortMultipartUpload",
        "src/store/s3.rs",
        ".abort_multipart_upload()",
    ),
    ("s3:GetObjectAcl", "src/store/s3.rs", ".get_object_acl()"),
    (
        "s3:GetObjectVersionAcl",
        "src/store/s3.rs",
        ".get_object_acl()",
    ),
    ("s3:PutObjectAcl", "src/store/s3.rs", ".put_object_acl()"),
    (
        "s3:PutObjectVersionAcl",
        "src/store/s3.rs",
        ".put_object_acl()",
    ),
    ("s3:RestoreObject", "src/store/s3.rs", ".restore_object()"),
    ("kms:DescribeKey", "src/kms_aliases.rs", ".describe_key()"),
    // S3 calls KMS with the caller's permissions when copying SSE-KMS objects.
    (
        "kms:Decrypt",
        "src/store/s3.rs",
        "ServerSideEncryption::AwsKms",
    ),
    (
        "kms:GenerateDataKey",
        "src/store/s3.rs",
        "ServerSideEncryption::AwsKms",
    ),
    // Lambda's event source mapping polls the queue with the function's role.
    (
        "sqs:ReceiveMessage",
        "template.yaml",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
    ),
    (
        "sqs:DeleteMessage",
        "template.yaml",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
    ),
    (
        "sqs:GetQueueAttributes",
        "template.yaml",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
    ),
];

#[test]
fn role_grants_only_actions_the_code_calls_on_named_buckets() {
    let template = template();
    let statements = statements(&template);
    assert!(statements.len() >= 3, "{statements:?}");
    let mut granted = std::collections::BTreeSet::new();
    for statement in &statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        for action in as_list(&statement["Action"]) {
            let action = action.as_str().unwrap_or_default().to_owned();
            assert!(!action.contains('*'), "wildcard action {action:?}");
            assert!(
                ACTIONS.iter().any(|(a, _, _)| *a == action),
                "action {action:?} is not one the function needs"
            );
            granted.insert(action);
        }
        for resource in as_list(&statement["Resource"]) {
            assert_ne!(
                resource.as_str(),
                Some("*"),
                "wildcard resource in {statement:?}"
            );
            if let Some(text) = resource.as_str() {
                assert!(
                    !text.ends_with(":::*"),
                    "all-bucket resource in {statement:?}"
                );
            }
        }
    }
    for (action, file, evidence) in ACTIONS {
        let code = std::fs::read_to_string(repo().join(file)).expect("source file");
        assert!(
            code.contains(evidence),
            "{action}: {file} no longer contains {evidence:?}; drop the permission"
        );
        assert!(
            granted.contains(*action),
            "{action} is needed ({file}: {evidence}) but not granted"
        );
    }
}

#[test]
fn every_s3_call_in_the_store_has_its_permission() {
    let code = std::fs::read_to_string(repo().join("src/store/s3.rs")).expect("src/store/s3.rs");
    let calls = [
        ".head_object()",
        ".head_bucket()",
        ".get_object_tagging()",
        ".put_object_tagging()",
        ".copy_object()",
        ".create_multipart_upload()",
        ".upload_part_copy()",
        ".complete_multipart_upload()",
        ".abort_multipart_upload()",
        ".get_object_acl()",
        ".put_object_acl()",
        ".restore_object()",
    ];
    for call in calls {
        assert!(code.contains(call), "{call} not found; update this list");
    }
    // Multipart create / part copy / complete are authorised by s3:PutObject.
    for call in calls.iter().filter(|c| {
        !matches!(
            **c,
            ".create_multipart_upload()" | ".upload_part_copy()" | ".complete_multipart_upload()"
        )
    }) {
        assert!(
            ACTIONS.iter().any(|(_, _, evidence)| evidence == call),
            "no permission covers {call}"
        );
    }
}

#[test]
fn backup_bucket_is_versioned_private_encrypted_and_tls_only() {
    let template = template();
    let bucket = &template["Resources"]["BackupBucket"]["Properties"];
    assert_eq!(
        bucket["VersioningConfiguration"]["Status"].as_str(),
        Some("Enabled")
    );
    let block = &bucket["PublicAccessBlockConfiguration"];
    for field in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[field].as_bool(), Some(true), "{field}");
    }
    assert!(!bucket["BucketEncryption"].is_null());
    let policy = &template["Resources"]["BackupBucketPolicy"]["Properties"]["PolicyDocument"];
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"].as_str(), Some("Deny"));
    assert_eq!(
        statement["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
        Some("false")
    );
}

#[test]
fn checkov_finds_nothing_and_every_suppression_is_justified() {
    let checkov = repo().join(".venv-scan/bin/checkov");
    assert!(
        checkov.exists(),
        "{} missing; run scripts/setup-tools",
        checkov.display()
    );
    let output = run(Command::new(&checkov).args([
        "-f",
        "template.yaml",
        "--framework",
        "cloudformation",
        "--skip-download",
        "--compact",
        "--quiet",
        "--output",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("checkov output is not JSON ({e}):\n{}", text(&output)));
    let summary = &report["summary"];
    assert_eq!(
        summary["failed"].as_u64(),
        Some(0),
        "checkov findings:\n{}",
        text(&output)
    );
    assert!(summary["passed"].as_u64().unwrap_or(0) > 20, "{summary}");

    let template = template();
    let mut skips = 0;
    walk(&template["Resources"], &mut |node| {
        if let Some(list) = node
            .get("checkov")
            .and_then(|c| c.get("skip"))
            .and_then(Value::as_sequence)
        {
            for skip in list {
                let comment = skip["comment"].as_str().unwrap_or_default();
                assert!(
                    comment.len() > 20,
                    "checkov skip {:?} needs a justification",
                    skip["id"]
                );
                skips += 1;
            }
        }
    });
    assert_eq!(summary["skipped"].as_u64(), Some(skips), "{summary}");
}
