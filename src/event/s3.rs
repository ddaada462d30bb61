//! S3 event notification records (`eventSource: aws:s3`), as S3 sends them directly or inside
//! SQS and SNS messages.

use aws_lambda_events::s3::S3Entity;
use serde::Deserialize;
use serde_json::Value;

use super::{EventError, RecordItem, non_empty_version};
use crate::keys::decode_event_key;
use crate::object::{ObjectLocation, ObjectRef, normalize_etag};

/// Parses one S3 notification record; `at` names it in errors.
pub fn parse_record(at: &str, record: &Value) -> RecordItem {
    match try_parse(at, record) {
        Ok(item) => item,
        Err(err) => RecordItem::Invalid(err),
    }
}

/// The part of a notification record we use. `aws_lambda_events::s3::S3EventRecord` would also
/// require `eventTime`, `userIdentity` and `requestParameters`, which local S3 servers omit.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: Option<String>,
    s3: S3Entity,
}

fn try_parse(at: &str, record: &Value) -> Result<RecordItem, EventError> {
    let record = Record::deserialize(record).map_err(|e| EventError::Malformed {
        at: at.to_owned(),
        message: format!("not a valid S3 event record: {e}"),
    })?;
    // Some relays and SDK fixtures write `s3:ObjectCreated:Put`; S3 itself omits the prefix.
    let event_name = record
        .event_name
        .map(|name| name.strip_prefix("s3:").map(str::to_owned).unwrap_or(name));
    if let Some(name) = event_name.as_deref()
        && !name.starts_with("ObjectCreated:")
        && name != "ObjectRestore:Completed"
    {
        return Ok(RecordItem::Skipped(format!(
            "event {name} is neither ObjectCreated nor ObjectRestore:Completed"
        )));
    }
    let missing = |field| EventError::MissingField {
        at: at.to_owned(),
        field,
    };
    let bucket = record
        .s3
        .bucket
        .name
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("s3.bucket.name"))?;
    let raw_key = record
        .s3
        .object
        .key
        .ok_or_else(|| missing("s3.object.key"))?;
    let key = decode_event_key(&raw_key).map_err(|source| EventError::BadKey {
        at: at.to_owned(),
        source,
    })?;
    Ok(RecordItem::Object(ObjectRef {
        location: ObjectLocation {
            bucket,
            key,
            version_id: non_empty_version(record.s3.object.version_id),
        },
        etag: record
            .s3
            .object
            .e_tag
            .map(|e| normalize_etag(&e))
            .filter(|e| !e.is_empty()),
        size: record
            .s3
            .object
            .size
            .and_then(|size| u64::try_from(size).ok()),
        sequencer: record.s3.object.sequencer.filter(|s| !s.is_empty()),
        event_name,
        alternate_key: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EnvelopeKind, parse_invocation};
    use serde_json::json;

    fn record(key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
            "bucket": {"name": "src-bucket", "arn": "arn:aws:s3:::src-bucket"},
            "object": {"key": key, "size": 3, "eTag": "abc", "versionId": "", "sequencer": "0A"}}
        })
    }

    fn items(payload: Value) -> Vec<RecordItem> {
        let invocation = parse_invocation(&payload).unwrap();
        assert_eq!(invocation.kind, EnvelopeKind::S3);
        invocation.units.into_iter().flat_map(|u| u.items).collect()
    }

    #[test]
    fn decodes_key_and_drops_empty_version() {
        let items = items(json!({"Records": [record("a+b%2B%C3%BC.txt")]}));
        let RecordItem::Object(object) = &items[0] else {
            panic!("expected an object, got {items:?}");
        };
        assert_eq!(object.location.key, "a b+ü.txt");
        assert_eq!(object.location.version_id, None);
        assert_eq!(object.etag.as_deref(), Some("abc"));
    }

    #[test]
    fn bad_record_fails_alone() {
        let mut broken = record("k");
        broken["s3"]["bucket"]["name"] = json!("");
        let items =
            items(json!({"Records": [record("ok"), broken, {"nonsense": 1}, record("%FF")]}));
        assert!(matches!(items[0], RecordItem::Object(_)));
        assert!(matches!(
            &items[1],
            RecordItem::Invalid(EventError::MissingField {
                field: "s3.bucket.name",
                ..
            })
        ));
        assert!(
            matches!(&items[2], RecordItem::Invalid(EventError::Malformed { at, .. }) if at == "record 2")
        );
        assert!(
            matches!(&items[3], RecordItem::Invalid(EventError::BadKey { at, .. }) if at == "record 3")
        );
    }

    #[test]
    fn event_names_with_an_s3_prefix_are_accepted() {
        for name in ["s3:ObjectCreated:Put", "s3:ObjectRestore:Completed"] {
            let mut prefixed = record("k");
            prefixed["eventName"] = json!(name);
            let items = items(json!({"Records": [prefixed]}));
            let RecordItem::Object(object) = &items[0] else {
                panic!("{name} should be processed, got {items:?}");
            };
            assert_eq!(object.event_name.as_deref(), name.strip_prefix("s3:"));
        }
        let mut removed = record("k");
        removed["eventName"] = json!("s3:ObjectRemoved:Delete");
        assert!(matches!(
            items(json!({"Records": [removed]}))[0],
            RecordItem::Skipped(_)
        ));
    }

    #[test]
    fn removal_events_are_skipped_and_test_events_are_empty() {
        let mut removed = record("k");
        removed["eventName"] = json!("ObjectRemoved:Delete");
        assert!(matches!(
            items(json!({"Records": [removed]}))[0],
            RecordItem::Skipped(_)
        ));
        let test_event =
            parse_invocation(&json!({"Event": "s3:TestEvent", "Service": "Amazon S3"})).unwrap();
        assert!(test_event.units.is_empty());
    }

    #[test]
    fn unknown_payloads_name_their_fields() {
        let err = parse_invocation(&json!({"hello": "world"})).unwrap_err();
        assert!(err.to_string().contains("hello"), "{err}");
        assert!(parse_invocation(&json!(null)).is_err());
    }
}
