//! Property tests (the stable-toolchain stand-in for fuzzing): envelope parsing, key decoding
//! and encoding, and policy parsing never panic on arbitrary input, and keys round-trip.
//! Seeded from the sample events in `events/`, which are mutated field by field.
//!
//! CI runs the default number of cases; `PROPTEST_CASES=100000 cargo test --release --test
//! properties` runs longer.

mod support;

use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use s3_policy_processor::event::{RecordItem, parse_invocation, parse_invocation_text};
use s3_policy_processor::keys::{copy_source, decode_event_key};
use s3_policy_processor::policy::document::parse_policy;
use serde_json::Value;

/// Arbitrary JSON values, nested a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("Records"),
            Just("s3"),
            Just("bucket"),
            Just("object"),
            Just("key"),
            Just("eventSource"),
            Just("aws:sqs"),
            Just("aws:s3"),
            Just("aws:sns"),
            Just("body"),
            Just("Message"),
            Just("detail-type"),
            Just("Object Created"),
            Just("aws.s3"),
            Just("tasks"),
            Just("invocationSchemaVersion"),
            Just("2.0")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Records".to_owned()),
                    Just("s3".to_owned()),
                    Just("bucket".to_owned()),
                    Just("object".to_owned()),
                    Just("name".to_owned()),
                    Just("key".to_owned()),
                    Just("eventSource".to_owned()),
                    Just("eventName".to_owned()),
                    Just("body".to_owned()),
                    Just("Sns".to_owned()),
                    Just("Message".to_owned()),
                    Just("detail".to_owned()),
                    Just("tasks".to_owned()),
                    Just("s3Key".to_owned()),
                    Just("s3Bucket".to_owned()),
                    "[a-zA-Z-]{1,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The sample events in `events/` (all but the object list).
fn sample_events() -> Vec<Value> {
    std::fs::read_dir(support::repo().join("events"))
        .expect("events/")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_string_lossy().ends_with(".json") && e.file_name() != "objects.json"
        })
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.path()).expect("read")).expect("json")
        })
        .collect()
}

/// Every sample event with one field (at any depth) replaced by an arbitrary value.
fn mutated_sample() -> impl Strategy<Value = Value> {
    let samples = sample_events();
    (0..samples.len(), any::<u32>(), json_value()).prop_map(move |(index, pick, replacement)| {
        let mut sample = samples[index].clone();
        let mut paths = Vec::new();
        collect_paths(&sample, &mut Vec::new(), &mut paths);
        if !paths.is_empty() {
            let path = &paths[pick as usize % paths.len()];
            if let Some(slot) = sample.pointer_mut(path) {
                *slot = replacement;
            }
        }
        sample
    })
}

fn collect_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<String>) {
    out.push(prefix.iter().map(|p| format!("/{p}")).collect());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(k.replace('~', "~0").replace('/', "~1"));
                collect_paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(i.to_string());
                collect_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// How S3 writes a key into a notification: form encoding with `/` kept.
fn notification_encoding(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/")
}

#[test]
fn every_sample_event_parses_the_same_from_text_and_tree() {
    let samples = sample_events();
    assert!(samples.len() >= 8, "events/ has {} samples", samples.len());
    for sample in samples {
        let from_tree = parse_invocation(&sample).expect("sample events are recognised");
        let from_text = parse_invocation_text(&sample.to_string()).expect("recognised");
        assert!(!from_text.units.is_empty(), "{sample}");
        assert_eq!(
            format!("{from_tree:?}"),
            format!("{from_text:?}"),
            "{sample}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_payloads_never_panic(payload in json_value()) {
        let _ = parse_invocation(&payload);
    }

    #[test]
    fn text_and_tree_parsing_agree(payload in prop_oneof![json_value(), mutated_sample()]) {
        // Both from the same text (a float's last digit may not survive a text round trip).
        let text = payload.to_string();
        let tree: Value = serde_json::from_str(&text).expect("serialized JSON parses");
        let from_tree = format!("{:?}", parse_invocation(&tree));
        let from_text = format!("{:?}", parse_invocation_text(&text));
        prop_assert_eq!(from_tree, from_text);
    }

    #[test]
    fn mutated_sample_events_never_panic_and_fail_per_record(payload in mutated_sample()) {
        if let Ok(invocation) = parse_invocation(&payload) {
            for unit in &invocation.units {
                for item in &unit.items {
                    if let RecordItem::Object(object) = item {
                        prop_assert!(!object.location.bucket.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_in_message_bodies_never_panics(body in ".{0,200}") {
        let payload = serde_json::json!({"Records": [{"messageId": "m", "body": body, "eventSource": "aws:sqs"}]});
        let invocation = parse_invocation(&payload).expect("an SQS batch is always recognised");
        prop_assert_eq!(invocation.units.len(), 1);
    }

    #[test]
    fn keys_round_trip_through_notification_encoding(key in "\\PC{1,60}") {
        prop_assert_eq!(decode_event_key(&notification_encoding(&key)).expect("decodes"), key);
    }

    #[test]
    fn arbitrary_keys_decode_or_fail_cleanly(raw in ".{0,80}") {
        let _ = decode_event_key(&raw);
    }

    #[test]
    fn copy_source_decodes_back_to_bucket_and_key(key in "\\PC{1,60}", version in proptest::option::of("[a-zA-Z0-9._+/=-]{1,40}")) {
        let source = copy_source("src-bucket", &key, version.as_deref());
        let (path, query) = match source.split_once("?versionId=") {
            Some((p, q)) => (p, Some(q)),
            None => (source.as_str(), None),
        };
        prop_assert!(!path.contains(' ') && !path.contains('+') && !path.contains('?'));
        prop_assert_eq!(percent_decode_str(path).decode_utf8().expect("utf-8"), format!("src-bucket/{key}"));
        prop_assert_eq!(query.map(|q| percent_decode_str(q).decode_utf8().expect("utf-8").into_owned()), version);
    }

    #[test]
    fn arbitrary_policy_text_never_panics(text in ".{0,300}") {
        let _ = parse_policy(&text);
    }

    #[test]
    fn mutated_policies_never_panic(value in json_value()) {
        let base = serde_json::json!({"rules": [{"name": "r", "storage_class": "STANDARD_IA", "tags": {"a": "b"}}]});
        for pointer in ["/rules/0/storage_class", "/rules/0/tags", "/rules/0/backup", "/rules/0/match", "/rules/0/encryption", "/rules", "/dry_run"] {
            let mut document = base.clone();
            if let Some(slot) = document.pointer_mut(pointer) {
                *slot = value.clone();
            } else if let Some(rule) = document.pointer_mut("/rules/0").and_then(Value::as_object_mut) {
                rule.insert(pointer.rsplit('/').next().unwrap_or("x").to_owned(), value.clone());
            }
            let _ = parse_policy(&document.to_string());
            let _ = parse_policy(&serde_yaml_ng::to_string(&document).unwrap_or_default());
        }
    }
}
