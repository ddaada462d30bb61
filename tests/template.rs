//! template.yaml checks: cfn-lint (pinned in requirements-dev.txt) on the SAM template AND on
//! the SAM-transformed template (cfn-lint >= 1.54 validates SAM without transforming it, so
//! only the transformed template shows cycles through resources SAM generates), both
//! `DeliveryMode` variants; `sam validate --lint`; proofs that the linter catches the S3-trigger
//! cycles; checkov on both variants; and structural checks of the role, buckets, queues, log
//! group, rules, outputs and samconfig.toml. The tools are the ones scripts/setup-tools
//! installs (.venv, .venv-scan); scripts/sam-transform runs the SAM translator offline.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_yaml_ng::Value;
use serde_yaml_ng::value::TaggedValue;
use support::cfn::{Stack, template, template_text};
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

/// The lines of `text` from `header` (a line of its own) to the next line as little indented.
fn template_section(text: &str, header: &str) -> String {
    let indent = header.len() - header.trim_start().len();
    let mut lines = text.lines().skip_while(|l| *l != header);
    let mut section: Vec<&str> = lines.next().into_iter().collect();
    section.extend(
        lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent),
    );
    section.join("\n")
}

/// Both ways S3 events reach the function. Linters and scanners evaluate conditions with the
/// parameters' defaults, so each variant is checked as a template whose default is that value.
const DELIVERY_MODES: [&str; 2] = ["direct", "queue"];

/// `scripts/sam-transform` output (JSON) in a temp file: the template with `DeliveryMode`
/// defaulting to `mode`, SAM-transformed unless `raw`.
fn variant(mode: &str, raw: bool) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "s3pp-template-{mode}-{}-{}.json",
        if raw { "raw" } else { "transformed" },
        std::process::id()
    ));
    let mut command = Command::new(repo().join("scripts/sam-transform"));
    command
        .args(["--default", &format!("DeliveryMode={mode}"), "-o"])
        .arg(&path);
    if raw {
        command.arg("--raw");
    }
    let output = run(&mut command);
    assert!(output.status.success(), "sam-transform:\n{}", text(&output));
    path
}

/// cfn-lint on the template as written (SAM schemas, conditions, parameters), and on the
/// DeliveryMode=queue variant.
#[test]
fn cfn_lint_is_clean_in_both_delivery_modes() {
    for mode in DELIVERY_MODES {
        let path = variant(mode, true);
        let output = run(Command::new(tool("cfn-lint")).arg(&path));
        let _ = std::fs::remove_file(&path);
        assert!(
            output.status.success(),
            "cfn-lint findings (DeliveryMode={mode}):\n{}",
            text(&output)
        );
    }
    let output = run(Command::new(tool("cfn-lint")).arg("template.yaml"));
    assert!(
        output.status.success(),
        "cfn-lint findings:\n{}",
        text(&output)
    );
}

/// cfn-lint on what CloudFormation really receives: the SAM translator's output (the
/// generated role, the event invoke config, the permissions), in both delivery modes.
#[test]
fn cfn_lint_is_clean_on_the_transformed_template_in_both_delivery_modes() {
    for mode in DELIVERY_MODES {
        let path = variant(mode, false);
        let output = run(Command::new(tool("cfn-lint")).arg(&path));
        let _ = std::fs::remove_file(&path);
        assert!(
            output.status.success(),
            "cfn-lint findings on the transformed template (DeliveryMode={mode}):\n{}",
            text(&output)
        );
    }
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

/// The classic SAM cycle: an `Events: S3` trigger on a bucket of the same template plus a
/// `!Ref` of that bucket in the function. SAM generates the Lambda permission the bucket's
/// notification waits for, so the cycle only exists in the transformed template; cfn-lint
/// (1.54 and later, which lint SAM untransformed) reports it there as E3004.
#[test]
fn cfn_lint_catches_a_sam_s3_event_cycle_in_the_transformed_template() {
    let source = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Environment:
        Variables:
          SOURCE_BUCKET: !Ref Bucket
      Events:
        Created:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
"#;
    let dir = std::env::temp_dir();
    let input = dir.join(format!("s3pp-sam-cycle-{}.yaml", std::process::id()));
    let transformed = dir.join(format!("s3pp-sam-cycle-{}.json", std::process::id()));
    std::fs::write(&input, source).expect("write template");
    let output = run(Command::new(repo().join("scripts/sam-transform"))
        .arg("--template")
        .arg(&input)
        .arg("-o")
        .arg(&transformed));
    assert!(output.status.success(), "sam-transform:\n{}", text(&output));
    let output = run(Command::new(tool("cfn-lint")).arg(&transformed));
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&transformed);
    assert!(
        !output.status.success() && text(&output).contains("E3004"),
        "cfn-lint must report the SAM-generated circular dependency (E3004):\n{}",
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
    ("s3:GetObject", "src/store/s3/mod.rs", ".head_object()"),
    (
        "s3:GetObjectVersion",
        "src/store/s3/mod.rs",
        ".head_object()",
    ),
    (
        "s3:GetObjectTagging",
        "src/store/s3/mod.rs",
        ".get_object_tagging()",
    ),
    (
        "s3:GetObjectVersionTagging",
        "src/store/s3/mod.rs",
        ".get_object_tagging()",
    ),
    ("s3:PutObject", "src/store/s3/mod.rs", ".copy_object()"),
    (
        "s3:PutObjectTagging",
        "src/store/s3/mod.rs",
        ".put_object_tagging()",
    ),
    (
        "s3:PutObjectVersionTagging",
        "src/store/s3/mod.rs",
        ".put_object_tagging()",
    ),
    ("s3:ListBucket", "src/store/s3/mod.rs", ".head_bucket()"),
    (
        "s3:AbortMultipartUpload",
        "src/store/s3/mod.rs",
        ".abort_multipart_upload()",
    ),
    (
        "s3:GetObjectAcl",
        "src/store/s3/mod.rs",
        ".get_object_acl()",
    ),
    (
        "s3:GetObjectVersionAcl",
        "src/store/s3/mod.rs",
        ".get_object_acl()",
    ),
    (
        "s3:PutObjectAcl",
        "src/store/s3/mod.rs",
        ".put_object_acl()",
    ),
    (
        "s3:PutObjectVersionAcl",
        "src/store/s3/mod.rs",
        ".put_object_acl()",
    ),
    (
        "s3:RestoreObject",
        "src/store/s3/mod.rs",
        ".restore_object()",
    ),
    (
        "s3:ListMultipartUploadParts",
        "src/store/s3/mod.rs",
        ".list_parts()",
    ),
    (
        "s3:GetObjectRetention",
        "src/store/s3/evidence.rs",
        ".get_object_retention()",
    ),
    (
        "s3:GetObjectLegalHold",
        "src/store/s3/evidence.rs",
        ".get_object_legal_hold()",
    ),
    (
        "s3:GetBucketObjectLockConfiguration",
        "src/store/s3/evidence.rs",
        ".get_object_lock_configuration()",
    ),
    (
        "s3:GetBucketVersioning",
        "src/store/s3/evidence.rs",
        ".get_bucket_versioning()",
    ),
    (
        "s3:ListBucketVersions",
        "src/store/s3/evidence.rs",
        ".list_object_versions()",
    ),
    // A copy state record goes when its copy is done.
    (
        "s3:DeleteObject",
        "src/store/s3/records.rs",
        ".delete_object()",
    ),
    // Re-keys in place, and annotations (a multipart copy restates them).
    (
        "s3:UpdateObjectEncryption",
        "src/store/s3/object_encryption.rs",
        ".update_object_encryption()",
    ),
    (
        "s3:ListObjectAnnotations",
        "src/store/s3/annotations.rs",
        ".list_object_annotations()",
    ),
    (
        "s3:GetObjectAnnotation",
        "src/store/s3/annotations.rs",
        ".get_object_annotation()",
    ),
    (
        "s3:PutObjectAnnotation",
        "src/store/s3/annotations.rs",
        ".put_object_annotation()",
    ),
    ("kms:DescribeKey", "src/kms_aliases.rs", ".describe_key()"),
    // UpdateObjectEncryption re-wraps the object's data key under the target key with the
    // caller's permissions.
    (
        "kms:Encrypt",
        "src/store/s3/object_encryption.rs",
        ".update_object_encryption()",
    ),
    (
        "kms:ReEncryptFrom",
        "src/store/s3/object_encryption.rs",
        ".update_object_encryption()",
    ),
    (
        "kms:ReEncryptTo",
        "src/store/s3/object_encryption.rs",
        ".update_object_encryption()",
    ),
    // S3 calls KMS with the caller's permissions when copying SSE-KMS objects.
    (
        "kms:Decrypt",
        "src/store/s3/mod.rs",
        "ServerSideEncryption::AwsKms",
    ),
    (
        "kms:GenerateDataKey",
        "src/store/s3/mod.rs",
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
    let code: String = [
        "mod.rs",
        "evidence.rs",
        "records.rs",
        "object_encryption.rs",
        "annotations.rs",
        "checksums.rs",
    ]
    .iter()
    .map(|file| {
        std::fs::read_to_string(repo().join("src/store/s3").join(file))
            .unwrap_or_else(|e| panic!("src/store/s3/{file}: {e}"))
    })
    .collect();
    // Every SDK operation the store sends: `client` followed by `.operation()`, possibly on the
    // next line. Found from the code, so a new call without a permission fails here.
    let mut calls = std::collections::BTreeSet::new();
    for (at, _) in code.match_indices("client") {
        let rest = code[at + "client".len()..].trim_start();
        if let Some(rest) = rest.strip_prefix('.') {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with("()") {
                calls.insert(format!(".{name}()"));
            }
        }
    }
    assert!(calls.len() >= 12, "the call finder broke: {calls:?}");
    for call in &calls {
        // Multipart create / part copy / complete and the copy state records' PutObject are
        // authorised by s3:PutObject; their GetObject (and the probe after a refused HEAD) by
        // s3:GetObject.
        if matches!(
            call.as_str(),
            ".create_multipart_upload()"
                | ".upload_part_copy()"
                | ".complete_multipart_upload()"
                | ".put_object()"
                | ".get_object()"
        ) {
            continue;
        }
        assert!(
            ACTIONS.iter().any(|(_, _, evidence)| evidence == call),
            "no permission covers {call} (src/store/s3/); grant it in template.yaml and list it in ACTIONS"
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

/// checkov (pinned in requirements-scan.txt, own venv) scans only the resources whose
/// condition holds with the parameters' defaults, so each DeliveryMode variant is scanned.
#[test]
fn checkov_finds_nothing_in_both_delivery_modes_and_every_suppression_is_justified() {
    let checkov = repo().join(".venv-scan/bin/checkov");
    assert!(
        checkov.exists(),
        "{} missing; run scripts/setup-tools scan",
        checkov.display()
    );
    let template = template();
    for mode in DELIVERY_MODES {
        let path = variant(mode, true);
        let output = run(Command::new(&checkov).arg("-f").arg(&path).args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "--quiet",
            "--output",
            "json",
        ]));
        let _ = std::fs::remove_file(&path);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("checkov output is not JSON ({e}):\n{}", text(&output)));
        let summary = &report["summary"];
        assert_eq!(
            summary["failed"].as_u64(),
            Some(0),
            "checkov findings (DeliveryMode={mode}):\n{}",
            text(&output)
        );
        assert!(summary["passed"].as_u64().unwrap_or(0) > 20, "{summary}");

        // Every suppression carries a reason, and checkov honoured exactly the suppressions of
        // the resources that exist in this mode.
        let mut skips = 0;
        let resources = template["Resources"].as_mapping().expect("Resources");
        for (name, resource) in resources {
            let exists = match resource["Condition"].as_str() {
                Some("UseQueue") => mode == "queue",
                Some("InvokeDirectly") => mode == "direct",
                _ => true,
            };
            let Some(list) = resource["Metadata"]["checkov"]["skip"].as_sequence() else {
                continue;
            };
            for skip in list {
                let comment = skip["comment"].as_str().unwrap_or_default();
                assert!(
                    comment.len() > 20,
                    "checkov skip {:?} of {name:?} needs a justification",
                    skip["id"]
                );
                skips += u64::from(exists);
            }
        }
        assert_eq!(
            summary["skipped"].as_u64(),
            Some(skips),
            "{mode}: {summary}"
        );
    }
}

fn statement_by_sid(statements: &[Value], sid: &str) -> Value {
    statements
        .iter()
        .find(|s| s["Sid"].as_str() == Some(sid))
        .unwrap_or_else(|| panic!("no statement {sid}"))
        .clone()
}

fn actions(statement: &Value) -> Vec<String> {
    let mut list: Vec<String> = as_list(&statement["Action"])
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    list.sort();
    list
}

/// Buckets and keys a policy names besides the stack's own get exactly the actions the code
/// calls on the stack's own: the same lists, each under its parameter's condition.
#[test]
fn extra_buckets_and_keys_get_the_same_actions_as_the_stacks_own() {
    let template = template();
    let statements = statements(&template);
    for (extra, own) in [
        ("ReconcileExtraSourceObjects", "ReconcileSourceObjects"),
        ("WriteExtraBackups", "WriteBackups"),
        ("UseExtraPolicyKeys", "UsePolicyKey"),
        (
            "TellMissingObjectsInExtraSourceBuckets",
            "TellMissingObjectsFromMissingBuckets",
        ),
        (
            "TellMissingObjectsInExtraBackupBuckets",
            "TellMissingObjectsFromMissingBuckets",
        ),
        ("FindObjectLocksInExtraSourceBuckets", "FindObjectLocks"),
        ("FindExtraBackupVersions", "FindBackupVersions"),
        ("WriteRemoteBackups", "WriteBackups"),
        (
            "TellMissingObjectsInRemoteBackup",
            "TellMissingObjectsFromMissingBuckets",
        ),
        ("FindRemoteBackupVersions", "FindBackupVersions"),
    ] {
        assert_eq!(
            actions(&statement_by_sid(&statements, extra)),
            actions(&statement_by_sid(&statements, own)),
            "{extra} vs {own}"
        );
    }
    // Objects are re-keyed in place (UpdateObjectEncryption) only in source buckets, never to
    // the remote backup's key: it gets the copy actions alone.
    let rekey_only = ["kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"];
    let mut copy_actions = actions(&statement_by_sid(&statements, "UsePolicyKey"));
    copy_actions.retain(|action| !rekey_only.contains(&action.as_str()));
    assert_eq!(
        actions(&statement_by_sid(&statements, "UseRemoteBackupKey")),
        copy_actions
    );
    let policies =
        serde_yaml_ng::to_string(&template["Resources"]["Function"]["Properties"]["Policies"])
            .expect("policies as text");
    for (condition, parameter) in [
        ("HasExtraSourceBuckets", "ExtraSourceBucketNames"),
        ("HasExtraBackupBuckets", "ExtraBackupBucketNames"),
        ("HasExtraKmsKeys", "ExtraKmsKeyArns"),
    ] {
        assert!(
            policies.contains(condition),
            "{condition} guards {parameter}"
        );
        // Comma-separated names or ARNs, every element checked by the pattern.
        let declared = &template["Parameters"][parameter];
        assert_eq!(declared["Type"].as_str(), Some("String"), "{parameter}");
        assert_eq!(declared["Default"].as_str(), Some(""));
        let pattern = declared["AllowedPattern"].as_str().unwrap_or_default();
        assert!(
            pattern.starts_with("^$|^") && pattern.ends_with(")*$"),
            "{parameter}: {pattern}"
        );
    }
}

/// The trust policy is the one AWS documents for S3 Batch Operations (S3 User Guide, "Granting
/// permissions for Batch Operations"): the service principal and sts:AssumeRole, no condition
/// (AWS documents no source-account context for this principal). With an SSE-KMS backup
/// bucket (reports, default manifests) or manifest key, the role may use those keys.
#[test]
fn batch_operations_role_trusts_as_documented_and_may_use_the_bucket_keys() {
    let template = template();
    let role = &template["Resources"]["BatchOperationsRole"]["Properties"];
    let documented: Value = serde_yaml_ng::from_str(
        r#"
Version: "2012-10-17"
Statement:
  - Effect: Allow
    Principal: { Service: batchoperations.s3.amazonaws.com }
    Action: sts:AssumeRole
"#,
    )
    .expect("documented trust policy");
    assert_eq!(role["AssumeRolePolicyDocument"], documented);

    let mut kms = Vec::new();
    walk(&role["Policies"], &mut |node| {
        if node["Action"]
            .as_sequence()
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("kms:Decrypt")))
        {
            kms.push(node.clone());
        }
    });
    let text = serde_yaml_ng::to_string(&role["Policies"]).expect("policies");
    for (sid, key) in [
        ("UseBackupBucketKey", "KmsKeyArn"),
        ("ReadEncryptedManifest", "BatchManifestKmsKeyArn"),
    ] {
        let statement = kms
            .iter()
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("no {sid} statement"));
        assert_eq!(
            actions(statement),
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "{sid}"
        );
        assert!(references(statement, key).len() == 1, "{sid} on {key}");
    }
    assert!(text.contains("HasKmsKey") && text.contains("HasManifestKmsKey"));
}

/// Buckets keep the data of a stack that did create, but a failed first create deletes them,
/// so the same stack can be deployed again (Retain made that fail with "already exists").
/// Every bucket the function writes multipart uploads into aborts incomplete ones, with no
/// condition on the rule.
#[test]
fn buckets_retain_except_on_create_and_always_abort_incomplete_uploads() {
    let template = template();
    for name in ["SourceBucket", "BackupBucket"] {
        let bucket = &template["Resources"][name];
        assert_eq!(
            bucket["DeletionPolicy"].as_str(),
            Some("RetainExceptOnCreate"),
            "{name}"
        );
        assert_eq!(
            bucket["UpdateReplacePolicy"].as_str(),
            Some("Retain"),
            "{name}"
        );
        let rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name}: lifecycle rules must be a plain list (no !If)"));
        let abort = rules
            .iter()
            .find(|r| !r["AbortIncompleteMultipartUpload"].is_null())
            .unwrap_or_else(|| panic!("{name}: no AbortIncompleteMultipartUpload rule"));
        assert_eq!(abort["Status"].as_str(), Some("Enabled"), "{name}");
        assert!(
            abort["Prefix"].is_null() && abort["Filter"].is_null(),
            "{name}: whole bucket"
        );
    }
}

/// Any valid stack name (up to 128 characters, mixed case) deploys: no resource name is built
/// from the stack name, and default bucket names are `s3pp-<kind>-<account>-<region>-<first 8
/// hex digits of the stack id's UUID>` — lowercase and within S3's 63 characters.
#[test]
fn names_never_derive_from_the_stack_name() {
    let text = template_text();
    // The stack name is only ever the metrics' `service` dimension (one per stack, for the
    // alarms and the dashboard), never a resource name: every line that uses it is one of
    // these, or inside the dashboard's body.
    let dimension_uses = [
        "POWERTOOLS_SERVICE_NAME: !Ref AWS::StackName",
        "Dimensions: [{ Name: service, Value: !Ref AWS::StackName }]",
    ];
    let dashboard = template_section(&text, "  Dashboard:");
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| !dashboard.contains(*l))
        .filter(|l| !dimension_uses.contains(&l.trim()))
        .collect();
    assert!(
        !code.iter().any(|l| l.contains("AWS::StackName")),
        "a name built from AWS::StackName: {:?}",
        code.iter().find(|l| l.contains("AWS::StackName"))
    );
    assert!(
        dashboard.contains(r#""service","${AWS::StackName}""#),
        "the dashboard charts this stack's metrics"
    );
    let slice = r#"!Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]"#;
    for kind in ["source", "backup"] {
        let pattern = format!(
            r#"!Sub ["s3pp-{kind}-${{AWS::AccountId}}-${{AWS::Region}}-${{StackId8}}", {{ StackId8: {slice} }}]"#
        );
        assert!(
            text.contains(&pattern),
            "default {kind} bucket name: {pattern}"
        );
        // 12-digit account, the longest region names (ap-southeast-2, us-gov-west-1, …) stay
        // under 20 characters, 8 hex digits: lowercase, digits and dashes only.
        let longest = format!(
            "s3pp-{kind}-{}-{}-{}",
            "1".repeat(12),
            "x".repeat(20),
            "f".repeat(8)
        );
        assert!(longest.len() <= 63, "{longest}");
    }
    // Only the buckets are named; everything else gets a CloudFormation-generated name.
    let template = template();
    for (name, resource) in template["Resources"].as_mapping().expect("Resources") {
        let props = &resource["Properties"];
        // A permission's or mapping's FunctionName names the function it is for, not itself;
        // a metric filter's LogGroupName the log group it reads.
        let refers = matches!(
            resource["Type"].as_str(),
            Some("AWS::Lambda::Permission" | "AWS::Lambda::EventSourceMapping")
        );
        let reads_logs = resource["Type"].as_str() == Some("AWS::Logs::MetricFilter");
        for field in [
            "FunctionName",
            "QueueName",
            "LogGroupName",
            "RoleName",
            "AlarmName",
            "DashboardName",
            "TopicName",
        ] {
            if (refers && field == "FunctionName") || (reads_logs && field == "LogGroupName") {
                continue;
            }
            assert!(props[field].is_null(), "{name:?} sets {field}");
        }
    }
}

/// The function logs to a log group of the stack, with a retention parameter; every queue is
/// encrypted (SQS-managed keys: S3 cannot send to a queue under the AWS-managed aws/sqs key).
#[test]
fn log_group_has_retention_and_every_queue_is_encrypted() {
    let template = template();
    let resources = &template["Resources"];
    let logging = &resources["Function"]["Properties"]["LoggingConfig"];
    assert_eq!(
        references(&logging["LogGroup"], "FunctionLogGroup").len(),
        1
    );
    let group = &resources["FunctionLogGroup"];
    assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert!(group["Condition"].is_null());
    assert_eq!(
        references(&group["Properties"]["RetentionInDays"], "LogRetentionDays").len(),
        1
    );
    let mut queues = 0;
    for (name, resource) in resources.as_mapping().expect("Resources") {
        if resource["Type"].as_str() == Some("AWS::SQS::Queue") {
            queues += 1;
            assert_eq!(
                resource["Properties"]["SqsManagedSseEnabled"].as_bool(),
                Some(true),
                "{name:?}"
            );
        }
    }
    assert_eq!(queues, 3, "failure queue, event queue, dead-letter queue");
}

/// Lambda refuses environments over 4 KB (names and values), but only when it creates the
/// function, after the buckets; the PolicyDocument parameter's MaxLength makes CloudFormation
/// refuse a too-large policy before it creates anything. The rest of the environment must fit
/// in what MaxLength leaves.
#[test]
fn a_policy_too_large_for_the_lambda_environment_is_refused_before_deploy() {
    let template = template();
    let max = template["Parameters"]["PolicyDocument"]["MaxLength"]
        .as_u64()
        .expect("PolicyDocument has a MaxLength");
    let variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .expect("environment variables");
    // The longest value each other variable can take: a Number parameter, short literals, an
    // S3 location in a bucket (at most 63 characters) with a fixed prefix, the stack name (at
    // most 128 characters).
    let longest = |name: &str| -> u64 {
        match name {
            "MAX_CONCURRENCY" => 4,
            "COPY_STATE" => "s3://".len() as u64 + 63 + "/_s3pp/copy-state/".len() as u64,
            "S3_HEAD_REPORTS_TAG_COUNT" | "S3_HEAD_REPORTS_OBJECT_LOCK" => 5,
            "POWERTOOLS_SERVICE_NAME" => 128,
            "S3_OPTIONAL_ACTIONS" => "acl,restore,".len() as u64,
            other => panic!("{other}: how long can it be? add it here"),
        }
    };
    let rest: u64 = variables
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .filter(|k| *k != "POLICY")
        .map(|k| k.len() as u64 + longest(k))
        .sum::<u64>()
        + "POLICY".len() as u64;
    assert!(
        max + rest <= 4096,
        "MaxLength {max} + other variables {rest} > 4096"
    );
    let description = template["Parameters"]["PolicyDocument"]["ConstraintDescription"]
        .as_str()
        .unwrap_or_default();
    assert!(description.contains("POLICY_FILE"), "{description}");
}

/// UseExistingSourceBucket=true without a name would watch nothing; a rule refuses it before
/// deploy.
#[test]
fn an_existing_source_bucket_without_a_name_is_refused_by_a_rule() {
    let template = template();
    let rule = &template["Rules"]["ExistingSourceBucketNeedsAName"];
    let condition = serde_yaml_ng::to_string(&rule["RuleCondition"]).expect("condition");
    assert!(
        condition.contains("UseExistingSourceBucket") && condition.contains("true"),
        "{condition}"
    );
    let assertion = serde_yaml_ng::to_string(&rule["Assertions"][0]["Assert"]).expect("assert");
    assert!(
        assertion.contains("Not") && assertion.contains("SourceBucketName"),
        "{assertion}"
    );
    assert!(
        rule["Assertions"][0]["AssertDescription"]
            .as_str()
            .is_some()
    );
}

#[test]
fn queue_mode_outputs_the_event_queue_arn() {
    let template = template();
    let output = &template["Outputs"]["EventQueueArn"];
    assert_eq!(output["Condition"].as_str(), Some("UseQueue"));
    assert_eq!(references(&output["Value"], "EventQueue").len(), 1);
}

/// `sam build` (which compiles for the Architecture parameter) and `sam deploy` (which tells
/// Lambda what to run it on) read the same Architecture: samconfig.toml sets it once, as a
/// global parameter override, equal to the template default, and no command section
/// overrides the parameters. Read with Python's tomllib (the .venv's Python >= 3.11).
#[test]
fn samconfig_gives_build_and_deploy_the_same_architecture() {
    let script = r#"
import json, sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))["default"]
print(json.dumps({section: values.get("parameters", {}) for section, values in config.items()}))
"#;
    let output = run(Command::new(tool("python")).args(["-c", script]));
    assert!(output.status.success(), "{}", text(&output));
    let config: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let overrides = config["global"]["parameter_overrides"]
        .as_str()
        .unwrap_or_default();
    let default = template()["Parameters"]["Architecture"]["Default"]
        .as_str()
        .expect("Architecture default")
        .to_owned();
    assert!(
        overrides
            .split_whitespace()
            .any(|p| p == format!("Architecture={default}")),
        "global parameter_overrides {overrides:?} must set Architecture={default}"
    );
    for section in ["build", "deploy"] {
        assert!(
            config[section]["parameter_overrides"].is_null(),
            "[default.{section}.parameters] overrides the global Architecture: {config}"
        );
    }
}

/// The default one-rule policy the template assembles from its parameters is a valid policy
/// document for every combination, with the remote backup's bucket, region, owner and key.
#[test]
fn the_default_policy_is_valid_for_every_parameter_combination() {
    let template = template();
    let policy =
        &template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]["POLICY"];
    let kms = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let remote_kms = "arn:aws:kms:eu-west-1:444455556666:key/abcd1234-12ab-34cd-56ef-1234567890ab";
    let state = s3_policy_processor::apply::copy_state::CopyStateLocation::parse(
        "s3://stack-backup-bucket/_s3pp/copy-state/",
    )
    .expect("COPY_STATE as the template sets it");
    let combinations = [("", ""), ("my-source", "extra-one,extra-two")];
    for (kms_key, (source_name, extras)) in [("", combinations[0]), (kms, combinations[1])] {
        for remote in ["", "dr-backups"] {
            for (region, owner, remote_key) in
                [("", "", ""), ("eu-west-1", "444455556666", remote_kms)]
            {
                let stack = Stack::with(&[
                    ("SourceBucketName", source_name),
                    ("ExtraSourceBucketNames", extras),
                    ("PolicyDocument", ""),
                    ("KmsKeyArn", kms_key),
                    ("TargetStorageClass", "STANDARD_IA"),
                    ("BackupStorageClass", "GLACIER_IR"),
                    ("RemoteBackupBucketName", remote),
                    ("RemoteBackupBucketRegion", region),
                    ("RemoteBackupBucketOwner", owner),
                    ("RemoteBackupKmsKeyArn", remote_key),
                ])
                .named("BackupBucket", "stack-backup-bucket");
                let text = stack
                    .resolve(policy)
                    .and_then(|p| p.as_str().map(str::to_owned))
                    .expect("POLICY is a string");
                let parsed = s3_policy_processor::policy::document::parse_policy(&text)
                    .unwrap_or_else(|e| panic!("{text}: {e}"));
                let backup = parsed.rules[0].backup.as_ref().expect("a backup");
                let (bucket, region, owner) = if remote.is_empty() {
                    ("stack-backup-bucket", "", "")
                } else {
                    (remote, region, owner)
                };
                assert_eq!(backup.bucket, bucket, "{text}");
                assert_eq!(
                    backup.region.as_deref().unwrap_or_default(),
                    region,
                    "{text}"
                );
                assert_eq!(
                    backup.expected_owner.as_deref().unwrap_or_default(),
                    owner,
                    "{text}"
                );
                // The rule names its buckets, each bucket's backups under its own name, and the
                // copy state the template configures lies outside every backup location.
                let mut expected = vec![if source_name.is_empty() {
                    "s3pp-source-123456789012-us-east-1-0a1b2c3d".to_owned()
                } else {
                    source_name.to_owned()
                }];
                expected.extend(
                    extras
                        .split(',')
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned),
                );
                assert_eq!(parsed.rules[0].matcher.buckets, expected, "{text}");
                assert_eq!(backup.prefix.as_str(), "{bucket}/", "{text}");
                assert_eq!(state.conflict_with(&parsed), None, "{text}");
            }
        }
    }
}
