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

#[test]
fn role_grants_only_the_s3_actions_the_code_calls_on_named_buckets() {
    let template = template();
    let allowed = [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:ListBucket",
        "s3:AbortMultipartUpload",
        "s3:GetObjectAcl",
        "s3:GetObjectVersionAcl",
        "s3:PutObjectAcl",
        "s3:PutObjectVersionAcl",
        "s3:RestoreObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ];
    let statements = statements(&template);
    assert!(statements.len() >= 3, "{statements:?}");
    for statement in &statements {
        for action in as_list(&statement["Action"]) {
            let action = action.as_str().unwrap_or_default();
            assert!(
                allowed.contains(&action),
                "action {action:?} is not one the function calls"
            );
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
