//! template.yaml as the engineer who is paged for it reads it, resolved for each parameter set
//! that changes it (support::cfn: the template's own conditions and intrinsics, both delivery
//! modes): alarms that reach a person on alarm and on recovery, one per way an object can be
//! left out of line; the dashboard; events from every source bucket admitted; and no
//! permission a policy does not use (ACLs, restores, keys only through S3, the Batch
//! Operations role only on manifests). No server: these are facts of the template, which
//! cfn-lint, checkov and the deploy rehearsal (scripts/deploy-rehearsal) check further.

mod support;

use serde_json::{Value, json};
use support::cfn::{Stack, actions_of, statements_of};

const EMAIL: &str = "oncall@example.com";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:paging";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const EXTRA_KEY: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab";
const REMOTE_KEY: &str =
    "arn:aws:kms:eu-west-1:444455556666:key/0000aaaa-12ab-34cd-56ef-1234567890ab";

/// Parameters, the topic the alarms should notify, and whether the email is subscribed.
type AlarmCase = (
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    bool,
);

fn stack(mode: &str, more: &[(&str, &str)]) -> Stack {
    let mut parameters = vec![("DeliveryMode", mode)];
    parameters.extend_from_slice(more);
    Stack::with(&parameters)
}

fn alarms(stack: &Stack) -> Vec<(String, Value)> {
    stack
        .resources_of("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|name| {
            let properties = stack.properties(&name).expect("alarm in stack");
            (name, properties)
        })
        .collect()
}

/// With an email address (and nothing else), every alarm notifies a topic the stack creates,
/// to which the address is subscribed, when it fires and when it clears; an existing topic is
/// used as it is; with neither, the alarms exist but notify nobody (the parameter says so).
#[test]
fn every_alarm_reaches_the_email_or_topic_when_it_fires_and_when_it_clears() {
    for mode in ["direct", "queue"] {
        let cases: [AlarmCase; 4] = [
            (&[], None, false),
            (&[("AlarmEmail", EMAIL)], Some("AlarmTopic"), true),
            (&[("AlarmTopicArn", TOPIC)], Some(TOPIC), false),
            (
                &[("AlarmTopicArn", TOPIC), ("AlarmEmail", EMAIL)],
                Some(TOPIC),
                true,
            ),
        ];
        for (parameters, topic, subscribed) in cases {
            let stack = stack(mode, parameters);
            assert_eq!(
                stack.has("AlarmTopic"),
                topic == Some("AlarmTopic"),
                "{mode} {parameters:?}"
            );
            if let Some(topic) = topic {
                for (name, alarm) in alarms(&stack) {
                    assert_eq!(
                        alarm["AlarmActions"],
                        json!([topic]),
                        "{name} {parameters:?}"
                    );
                    assert_eq!(alarm["OKActions"], json!([topic]), "{name} {parameters:?}");
                }
            } else {
                for (name, alarm) in alarms(&stack) {
                    assert!(alarm.get("AlarmActions").is_none(), "{name}");
                }
            }
            let subscription = stack.properties("AlarmEmailSubscription");
            assert_eq!(subscription.is_some(), subscribed, "{parameters:?}");
            if let (Some(subscription), Some(topic)) = (subscription, topic) {
                assert_eq!(
                    (
                        &subscription["Protocol"],
                        &subscription["Endpoint"],
                        &subscription["TopicArn"]
                    ),
                    (&json!("email"), &json!(EMAIL), &json!(topic))
                );
            }
        }
    }
    // Only this account's CloudWatch alarms may publish to the created topic.
    let stack = stack("direct", &[("AlarmEmail", EMAIL)]);
    let policy = stack.properties("AlarmTopicPolicy").expect("topic policy");
    let statement = &statements_of(&policy["PolicyDocument"])[0];
    assert_eq!(
        statement["Principal"]["Service"],
        "cloudwatch.amazonaws.com"
    );
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
}

/// What each alarm watches, in each delivery mode: objects the function reported as out of
/// line for good (its own metric, every mode and Batch Operations; transient failures such as
/// a resumable copy's pause are retried), invocations cut short (timeouts, crashes, failed
/// inits: Lambda's report lines), failed events waiting (and ageing toward expiry) in the failure queue or
/// the dead-letter queue, events Lambda could not deliver to the failure queue, sustained
/// throttling, and a backlog in the event queue. Lambda's `Errors`, which counts designed
/// pauses and sees no per-item failure, is not alarmed on.
#[test]
fn every_way_an_object_is_left_out_of_line_has_an_alarm_in_both_modes() {
    let watched = |alarm: &Value| -> Vec<String> {
        let mut metrics = Vec::new();
        if let Some(name) = alarm["MetricName"].as_str() {
            metrics.push(format!(
                "{}/{name}",
                alarm["Namespace"].as_str().unwrap_or("")
            ));
        }
        for query in alarm["Metrics"].as_array().into_iter().flatten() {
            let metric = &query["MetricStat"]["Metric"];
            if let Some(name) = metric["MetricName"].as_str() {
                metrics.push(format!(
                    "{}/{name}",
                    metric["Namespace"].as_str().unwrap_or("")
                ));
            }
        }
        metrics
    };
    let namespace = s3_policy_processor::metrics::DEFAULT_NAMESPACE;
    let permanent = s3_policy_processor::metrics::PERMANENT_FAILURES;
    for (mode, expected) in [
        (
            "direct",
            vec![
                "DestinationDeliveryFailureAlarm",
                "FailureQueueAgeAlarm",
                "FailureQueueAlarm",
                "InvocationsCutShortAlarm",
                "ObjectFailureAlarm",
                "ThrottleAlarm",
            ],
        ),
        (
            "queue",
            vec![
                "EventDeadLetterAgeAlarm",
                "EventDeadLetterAlarm",
                "EventQueueAgeAlarm",
                "FailureQueueAgeAlarm",
                "FailureQueueAlarm",
                "InvocationsCutShortAlarm",
                "ObjectFailureAlarm",
                "ThrottleAlarm",
            ],
        ),
    ] {
        let stack = stack(mode, &[("AlarmEmail", EMAIL)]);
        let alarms = alarms(&stack);
        let mut names: Vec<&str> = alarms.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        assert_eq!(names, expected, "{mode}");
        for (name, alarm) in &alarms {
            assert!(
                !watched(alarm).contains(&"AWS/Lambda/Errors".to_owned()),
                "{name} alarms on Errors"
            );
            assert_eq!(alarm["TreatMissingData"], "notBreaching", "{name}");
        }
        let objects = &alarms
            .iter()
            .find(|(n, _)| n == "ObjectFailureAlarm")
            .expect("object alarm")
            .1;
        assert_eq!(watched(objects), vec![format!("{namespace}/{permanent}")]);
        // The alarm's `service` dimension is the one the function's metrics carry.
        let function = stack.properties("Function").expect("function");
        let service = &function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"];
        assert_eq!(
            objects["Dimensions"],
            json!([{"Name": "service", "Value": service}])
        );
        // Invocations cut short (no metrics line) are counted from Lambda's own report lines.
        let filter = stack
            .properties("InvocationsCutShortFilter")
            .expect("metric filter");
        assert_eq!(filter["LogGroupName"], "FunctionLogGroup");
        let pattern = filter["FilterPattern"].as_str().expect("pattern");
        for needed in [
            r#"$.type = "platform.report""#,
            r#"$.record.status = "timeout""#,
            r#"$.record.errorType = "Runtime.*""#,
            r#"$.type = "platform.initReport""#,
        ] {
            assert!(pattern.contains(needed), "{pattern} lacks {needed}");
        }
        assert!(
            !pattern.contains("RecordsFailed"),
            "the function's own answers are not counted"
        );
        let transform = &filter["MetricTransformations"][0];
        let cut_short = alarms
            .iter()
            .find(|(n, _)| n == "InvocationsCutShortAlarm")
            .map(|(_, a)| a)
            .expect("cut-short alarm");
        assert_eq!(
            (&cut_short["Namespace"], &cut_short["MetricName"]),
            (&transform["MetricNamespace"], &transform["MetricName"])
        );
        let by_name = |wanted: &str| {
            alarms
                .iter()
                .find(|(n, _)| n == wanted)
                .map(|(_, a)| watched(a))
        };
        assert_eq!(
            by_name("FailureQueueAlarm"),
            Some(vec![
                "AWS/SQS/ApproximateNumberOfMessagesVisible".to_owned()
            ])
        );
        assert_eq!(
            by_name("FailureQueueAgeAlarm"),
            Some(vec!["AWS/SQS/ApproximateAgeOfOldestMessage".to_owned()])
        );
        assert_eq!(
            by_name("ThrottleAlarm"),
            Some(vec!["AWS/Lambda/Throttles".to_owned()])
        );
        if mode == "direct" {
            assert_eq!(
                by_name("DestinationDeliveryFailureAlarm"),
                Some(vec!["AWS/Lambda/DestinationDeliveryFailures".to_owned()])
            );
        } else {
            assert_eq!(
                by_name("EventQueueAgeAlarm"),
                Some(vec!["AWS/SQS/ApproximateAgeOfOldestMessage".to_owned()])
            );
        }
    }
}

/// Lambda's own START/END/REPORT lines (duration, memory, init) are kept.
#[test]
fn lambdas_report_lines_are_kept() {
    let function = stack("direct", &[])
        .properties("Function")
        .expect("function");
    assert_eq!(function["LoggingConfig"]["SystemLogLevel"], "INFO");
}

/// The dashboard's body is valid JSON in both modes and charts only metrics that exist: the
/// function's EMF metrics of this stack's `service`, Lambda's, and the queues of the mode.
#[test]
fn the_dashboard_charts_what_the_metrics_carry() {
    let emf = [
        "ObjectsApplied",
        "ObjectsCompliant",
        "ObjectsSkipped",
        "ObjectsStale",
        "ObjectsGone",
        "ObjectsNoRule",
        "ObjectsPlanned",
        "ObjectsFailed",
        "BytesCopied",
        "S3Requests",
    ];
    for mode in ["direct", "queue"] {
        let stack = stack(mode, &[]);
        let body = stack.properties("Dashboard").expect("dashboard")["DashboardBody"]
            .as_str()
            .expect("body")
            .to_owned();
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let widgets = body["widgets"].as_array().expect("widgets");
        let mut charted = Vec::new();
        let mut namespace = String::new();
        let mut metric = String::new();
        for widget in widgets {
            for row in widget["properties"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let row = row.as_array().expect("metric row");
                let names: Vec<&str> = row.iter().filter_map(Value::as_str).collect();
                match names.as_slice() {
                    ["..."] => {}
                    [ns, name, ..] => {
                        if *ns != "." {
                            namespace = (*ns).to_owned();
                        }
                        if *name != "." {
                            metric = (*name).to_owned();
                        }
                        charted.push(format!("{namespace}/{metric}"));
                        if namespace == "S3PolicyProcessor" {
                            assert!(emf.contains(&metric.as_str()), "{metric}");
                        }
                    }
                    _ => {}
                }
            }
        }
        let body_text = body.to_string();
        assert!(
            body_text.contains("service=\\\"s3pp-stack\\\" Failures"),
            "{body_text}"
        );
        assert!(charted.contains(&"AWS/Lambda/Duration".to_owned()));
        assert!(charted.contains(&"S3PolicyProcessor/ObjectsFailed".to_owned()));
        assert_eq!(
            body_text.contains("EventQueue.QueueName"),
            mode == "queue",
            "{mode}: event queue charted only in queue mode"
        );
        let alarms = widgets[0]["properties"]["alarms"]
            .as_array()
            .expect("alarm widget");
        assert!(alarms.len() >= 5, "{alarms:?}");
    }
}

/// In queue mode the event queue admits events from the source bucket and every extra source
/// bucket (S3 signs them with the bucket's ARN), and only from this account.
#[test]
fn the_event_queue_admits_every_source_bucket() {
    for (extras, expected) in [
        ("", json!(["arn:aws:s3:::my-source"])),
        (
            "extra-one,extra-two",
            json!([
                "arn:aws:s3:::my-source",
                "arn:aws:s3:::extra-one",
                "arn:aws:s3:::extra-two"
            ]),
        ),
    ] {
        let stack = stack(
            "queue",
            &[
                ("SourceBucketName", "my-source"),
                ("ExtraSourceBucketNames", extras),
            ],
        );
        let policy = stack.properties("EventQueuePolicy").expect("queue policy");
        let statement = &statements_of(&policy["PolicyDocument"])[0];
        assert_eq!(
            statement["Condition"]["ArnEquals"]["aws:SourceArn"],
            expected
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }
}

fn role_statements(stack: &Stack) -> Vec<Value> {
    let function = stack.properties("Function").expect("function");
    statements_of(&function["Policies"])
}

/// ACL and restore actions are granted only when a parameter says the policy uses them (on
/// the source bucket and every extra one), and the function is told, so it refuses a policy
/// that needs what the role lacks.
#[test]
fn acl_and_restore_actions_are_granted_only_when_the_policy_may_use_them() {
    let acl_actions = [
        "s3:GetObjectAcl",
        "s3:GetObjectVersionAcl",
        "s3:PutObjectAcl",
        "s3:PutObjectVersionAcl",
    ];
    let with_acl = s3_policy_processor::policy::document::parse_policy(
        "rules:\n  - name: tidy\n    remove_public_acl: true",
    )
    .expect("policy");
    for (acl, restore) in [
        ("false", "false"),
        ("true", "false"),
        ("false", "true"),
        ("true", "true"),
    ] {
        for mode in ["direct", "queue"] {
            let stack = stack(
                mode,
                &[
                    ("SourceBucketName", "my-source"),
                    ("ExtraSourceBucketNames", "extra-one"),
                    ("AllowPublicAclRemoval", acl),
                    ("AllowRestores", restore),
                ],
            );
            let statements = role_statements(&stack);
            let granting = |action: &str| -> Vec<Value> {
                statements
                    .iter()
                    .filter(|s| actions_of(s).iter().any(|a| a == action))
                    .cloned()
                    .collect()
            };
            for action in acl_actions {
                let found = granting(action);
                assert_eq!(found.len(), usize::from(acl == "true"), "{action} {acl}");
                for statement in found {
                    assert_eq!(statement["Sid"], "RemovePublicGrants");
                    assert_eq!(
                        statement["Resource"],
                        json!(["arn:aws:s3:::my-source/*", "arn:aws:s3:::extra-one/*"])
                    );
                }
            }
            let restores = granting("s3:RestoreObject");
            assert_eq!(restores.len(), usize::from(restore == "true"));
            for statement in restores {
                assert_eq!(
                    statement["Resource"],
                    json!(["arn:aws:s3:::my-source/*", "arn:aws:s3:::extra-one/*"])
                );
            }
            let function = stack.properties("Function").expect("function");
            let told = function["Environment"]["Variables"]["S3_OPTIONAL_ACTIONS"]
                .as_str()
                .expect("S3_OPTIONAL_ACTIONS")
                .to_owned();
            assert_eq!(
                s3_policy_processor::optional_actions::check(Some(&told), &with_acl).is_ok(),
                acl == "true",
                "S3_OPTIONAL_ACTIONS={told:?}"
            );
        }
    }
}

/// Every key the role may use, it uses only through S3 (`kms:ViaService`); `DescribeKey`,
/// which the function calls itself to resolve an alias, is granted alone. Objects under keys
/// the parameters do not list can be decrypted only when DecryptUnlistedKeysThroughS3 says so,
/// and then only through S3. The Batch Operations role likewise.
#[test]
fn keys_are_used_only_through_s3() {
    for unlisted in ["false", "true"] {
        let stack = stack(
            "direct",
            &[
                ("KmsKeyArn", KEY),
                ("ExtraKmsKeyArns", EXTRA_KEY),
                ("RemoteBackupBucketName", "dr-backups"),
                ("RemoteBackupKmsKeyArn", REMOTE_KEY),
                ("BatchManifestBucketName", "manifests"),
                ("BatchManifestKmsKeyArn", KEY),
                ("DecryptUnlistedKeysThroughS3", unlisted),
            ],
        );
        let batch = stack.properties("BatchOperationsRole").expect("batch role");
        let mut statements = role_statements(&stack);
        statements.extend(statements_of(&batch["Policies"]));
        let mut unlisted_found = false;
        for statement in statements {
            let actions = actions_of(&statement);
            let kms: Vec<&String> = actions.iter().filter(|a| a.starts_with("kms:")).collect();
            if kms.is_empty() {
                continue;
            }
            if kms.iter().any(|a| *a == "kms:DescribeKey") {
                assert_eq!(actions, vec!["kms:DescribeKey"], "{statement}");
                continue;
            }
            let via = statement["Condition"]["StringEquals"]["kms:ViaService"]
                .as_str()
                .or(statement["Condition"]["StringLike"]["kms:ViaService"].as_str());
            assert!(
                via.is_some_and(|v| v.starts_with("s3.") && v.ends_with(".amazonaws.com")),
                "{statement}"
            );
            if statement["Resource"] == "arn:aws:kms:*:*:key/*" {
                unlisted_found = true;
                assert_eq!(actions, vec!["kms:Decrypt"], "{statement}");
            }
        }
        assert_eq!(unlisted_found, unlisted == "true");
    }
}

/// The Batch Operations role reads manifests only (under BatchManifestPrefix), never the
/// backups beside them, in the backup bucket or a manifest bucket of the user's.
#[test]
fn the_batch_operations_role_reads_only_manifests() {
    for (parameters, expected) in [
        (vec![], "BackupBucket.Arn/batch-manifests/*"),
        (
            vec![("BatchManifestBucketName", "manifests")],
            "arn:aws:s3:::manifests/batch-manifests/*",
        ),
        (
            vec![("BatchManifestPrefix", "jobs/in/")],
            "BackupBucket.Arn/jobs/in/*",
        ),
    ] {
        let stack = stack("direct", &parameters);
        let batch = stack.properties("BatchOperationsRole").expect("batch role");
        let statements = statements_of(&batch["Policies"]);
        let read = statements
            .iter()
            .find(|s| s["Sid"] == "ReadManifest")
            .expect("ReadManifest");
        assert_eq!(read["Resource"], expected, "{parameters:?}");
        for statement in &statements {
            let reads = actions_of(statement).iter().any(|a| a == "s3:GetObject");
            assert!(!reads || statement["Sid"] == "ReadManifest", "{statement}");
        }
    }
}

/// SourceInventory: an inventory of the source bucket (CSV by default: the only inventory
/// format Batch Operations takes as a manifest; Parquet on request) with every field a backfill plan
/// judges from, delivered under the manifest prefix of the backup bucket (only S3 Inventory
/// of this source may write there), readable by the Batch Operations role as a manifest,
/// expired after 30 days, and named in an output; nothing of it by default or for an existing
/// source bucket (which the stack does not manage).
#[test]
fn the_source_inventory_feeds_batch_operations() {
    for (parameters, configured) in [
        (vec![], false),
        (vec![("SourceInventory", "Daily")], true),
        (
            vec![
                ("SourceInventory", "Weekly"),
                ("SourceInventoryFormat", "Parquet"),
            ],
            true,
        ),
        (
            vec![
                ("SourceInventory", "Weekly"),
                ("UseExistingSourceBucket", "true"),
            ],
            false,
        ),
    ] {
        let mut all = vec![("SourceBucketName", "my-source")];
        all.extend(parameters.iter().copied());
        let stack = stack("direct", &all);
        let delivered = parameters.iter().any(|(k, _)| *k == "SourceInventory");
        let source = stack.properties("SourceBucket");
        let inventories = source
            .as_ref()
            .and_then(|s| s.get("InventoryConfigurations").cloned());
        assert_eq!(inventories.is_some(), configured, "{parameters:?}");
        let policy = stack.properties("BackupBucketPolicy").expect("policy");
        let delivers = statements_of(&policy["PolicyDocument"])
            .into_iter()
            .find(|s| s["Sid"] == "SourceInventoryDelivers");
        // An existing source bucket's inventory (configured by its owner) is admitted too.
        assert_eq!(delivers.is_some(), delivered, "{parameters:?}");
        if !delivered {
            continue;
        }
        let delivers = delivers.expect("delivery statement");
        assert_eq!(
            delivers["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:s3:::my-source"
        );
        let Some(inventories) = inventories else {
            continue;
        };
        let inventory = &inventories[0];
        let format = if parameters.contains(&("SourceInventoryFormat", "Parquet")) {
            "Parquet"
        } else {
            "CSV"
        };
        assert_eq!(inventory["Destination"]["Format"], format);
        assert_eq!(inventory["Destination"]["BucketArn"], "BackupBucket.Arn");
        assert_eq!(
            inventory["Destination"]["Prefix"],
            "batch-manifests/inventory"
        );
        let fields: Vec<&str> = inventory["OptionalFields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for needed in [
            "Size",
            "StorageClass",
            "ETag",
            "EncryptionStatus",
            "BucketKeyStatus",
            "ChecksumAlgorithm",
            "IsMultipartUploaded",
            "IntelligentTieringAccessTier",
            "ObjectLockMode",
            "ObjectLockRetainUntilDate",
            "ObjectLockLegalHoldStatus",
            "LastModifiedDate",
        ] {
            assert!(fields.contains(&needed), "{needed} missing: {fields:?}");
        }
        assert_eq!(delivers["Principal"]["Service"], "s3.amazonaws.com");
        assert_eq!(
            delivers["Resource"],
            "BackupBucket.Arn/batch-manifests/inventory/*"
        );
        assert_eq!(
            delivers["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:s3:::my-source"
        );
        // The Batch Operations role reads what the inventory writes.
        let batch = stack.properties("BatchOperationsRole").expect("batch role");
        let read = statements_of(&batch["Policies"])
            .into_iter()
            .find(|s| s["Sid"] == "ReadManifest")
            .expect("ReadManifest");
        let readable = read["Resource"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('*');
        assert!(
            "BackupBucket.Arn/batch-manifests/inventory/my-source/s3pp-backfill/manifest.json"
                .starts_with(readable),
            "{readable}"
        );
        let backup = stack.properties("BackupBucket").expect("backup bucket");
        let rules = backup["LifecycleConfiguration"]["Rules"]
            .as_array()
            .expect("rules");
        assert!(rules.iter().any(|r| r["Id"] == "ExpireInventoryReports"
            && r["Prefix"] == "batch-manifests/inventory/"
            && r["ExpirationInDays"] == 30));
    }
    // With a manifest bucket of the user's, the role still reads the inventory in the backup
    // bucket.
    let stack = stack(
        "direct",
        &[
            ("SourceInventory", "Daily"),
            ("BatchManifestBucketName", "manifests"),
        ],
    );
    let batch = stack.properties("BatchOperationsRole").expect("batch role");
    assert!(
        statements_of(&batch["Policies"])
            .iter()
            .any(|s| s["Sid"] == "ReadInventoryManifests"
                && s["Resource"] == "BackupBucket.Arn/batch-manifests/inventory/*")
    );
}
