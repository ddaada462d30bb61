//! EventBridge events from S3 (`source: aws.s3`): `Object Created` names an object in a
//! kebab-case `detail` (`version-id`, `etag`, `sequencer`); other detail types are skipped.

use serde::Deserialize;
use serde_json::Value;

use super::{EventError, RecordItem, non_empty_version};
use crate::keys::decode_event_key;
use crate::object::{ObjectLocation, ObjectRef, normalize_etag};

#[derive(Deserialize)]
struct Detail {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Object {
    key: String,
    etag: Option<String>,
    size: Option<u64>,
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// Whether the value is an EventBridge event emitted by S3.
pub fn is_s3_event(value: &Value) -> bool {
    value.get("detail-type").is_some()
        && value.get("source").and_then(Value::as_str) == Some("aws.s3")
}

/// Parses one EventBridge event; `at` names it in errors.
pub fn parse_event(at: &str, event: &Value) -> RecordItem {
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    if detail_type != "Object Created" && detail_type != "Object Restore Completed" {
        return RecordItem::Skipped(format!(
            "EventBridge event {detail_type:?} is neither Object Created nor Object Restore Completed"
        ));
    }
    let detail = match Detail::deserialize(&event["detail"]) {
        Ok(detail) => detail,
        Err(e) => {
            return RecordItem::Invalid(EventError::Malformed {
                at: at.to_owned(),
                message: format!("not a valid S3 Object Created detail: {e}"),
            });
        }
    };
    let raw_key = detail.object.key;
    let key = match decode_event_key(&raw_key) {
        Ok(key) => key,
        Err(source) => {
            return RecordItem::Invalid(EventError::BadKey {
                at: at.to_owned(),
                source,
            });
        }
    };
    RecordItem::Object(ObjectRef {
        location: ObjectLocation {
            bucket: detail.bucket.name,
            version_id: non_empty_version(detail.object.version_id),
            key: key.clone(),
        },
        etag: detail
            .object
            .etag
            .map(|e| normalize_etag(&e))
            .filter(|e| !e.is_empty()),
        size: detail.object.size,
        sequencer: detail.object.sequencer.filter(|s| !s.is_empty()),
        event_name: Some(format!("EventBridge:{detail_type}")),
        // EventBridge documents keys like S3 notifications (form-encoded); if the decoded key
        // does not exist, the key exactly as sent is tried before calling the object gone.
        alternate_key: (raw_key != key).then_some(raw_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EnvelopeKind, parse_invocation};
    use serde_json::json;

    fn event(detail_type: &str, key: &str) -> Value {
        json!({"version": "0", "id": "ev-1", "detail-type": detail_type, "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-23T00:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:s3:::b-b-b"],
            "detail": {"version": "0", "bucket": {"name": "b-b-b"},
                "object": {"key": key, "size": 5, "etag": "\"e1\"", "version-id": "v1", "sequencer": "0A"},
                "request-id": "r", "requester": "123456789012", "reason": "PutObject"}})
    }

    #[test]
    fn object_created_gives_the_object_with_kebab_case_fields() {
        let invocation = parse_invocation(&event("Object Created", "a+b/c%2B.txt")).unwrap();
        assert_eq!(invocation.kind, EnvelopeKind::EventBridge);
        assert_eq!(invocation.units[0].id, "ev-1");
        let RecordItem::Object(object) = &invocation.units[0].items[0] else {
            panic!("{:?}", invocation.units[0].items);
        };
        assert_eq!(object.location.key, "a b/c+.txt");
        assert_eq!(object.location.version_id.as_deref(), Some("v1"));
        assert_eq!(object.etag.as_deref(), Some("e1"));
        assert_eq!(object.alternate_key.as_deref(), Some("a+b/c%2B.txt"));
    }

    #[test]
    fn other_detail_types_are_skipped_and_bad_details_fail() {
        let deleted = parse_invocation(&event("Object Deleted", "k")).unwrap();
        assert!(matches!(deleted.units[0].items[0], RecordItem::Skipped(_)));
        let mut broken = event("Object Created", "k");
        broken["detail"]["object"] = json!({"size": 1});
        let invocation = parse_invocation(&broken).unwrap();
        assert!(
            matches!(&invocation.units[0].items[0], RecordItem::Invalid(e) if e.to_string().contains("key"))
        );
    }
}
