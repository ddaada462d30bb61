//! Invocation payloads → the objects they are about. Only *which* object is taken from an event
//! (bucket, decoded key, version id, ETag, sequencer); its state always comes from HEAD.
//!
//! Each record is parsed on its own, so one malformed record fails alone.

use aws_lambda_events::s3::S3EventRecord;
use serde_json::Value;

use crate::keys::{KeyError, decode_event_key};
use crate::object::{ObjectLocation, ObjectRef, normalize_etag};

/// Why a payload or one of its records could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload is not an envelope this function understands.
    #[error(
        "unrecognised event: expected an S3 notification with `Records`; top-level fields were [{fields}]"
    )]
    UnrecognisedEnvelope {
        /// The payload's top-level field names (or its JSON type).
        fields: String,
    },
    /// A record does not have the shape of an S3 event record.
    #[error("record {index}: not a valid S3 event record: {message}")]
    MalformedRecord {
        /// Position in `Records`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A record lacks a field we need.
    #[error("record {index}: missing `{field}`")]
    MissingField {
        /// Position in `Records`.
        index: usize,
        /// JSON path of the field.
        field: &'static str,
    },
    /// A record's key cannot be decoded.
    #[error("record {index}: {source}")]
    BadKey {
        /// Position in `Records`.
        index: usize,
        /// The decoding error.
        #[source]
        source: KeyError,
    },
}

/// What one record of a payload asks for.
#[derive(Debug)]
pub enum RecordItem {
    /// Reconcile this object.
    Object(ObjectRef),
    /// Nothing to do (not an ObjectCreated event), with the reason.
    Skipped(String),
    /// The record is unusable.
    Invalid(EventError),
}

/// Splits a payload into its records. An `s3:TestEvent` has none.
pub fn parse_event(payload: &Value) -> Result<Vec<RecordItem>, EventError> {
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        return Err(EventError::UnrecognisedEnvelope {
            fields: describe_fields(payload),
        });
    };
    Ok(records
        .iter()
        .enumerate()
        .map(|(index, record)| match parse_s3_record(index, record) {
            Ok(item) => item,
            Err(err) => RecordItem::Invalid(err),
        })
        .collect())
}

fn describe_fields(payload: &Value) -> String {
    match payload {
        Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
        Value::Null => "null".into(),
        Value::Array(_) => "an array".into(),
        _ => "a scalar".into(),
    }
}

/// Parses one S3 notification record.
pub fn parse_s3_record(index: usize, record: &Value) -> Result<RecordItem, EventError> {
    let record: S3EventRecord =
        serde_json::from_value(record.clone()).map_err(|e| EventError::MalformedRecord {
            index,
            message: e.to_string(),
        })?;
    if let Some(name) = record.event_name.as_deref()
        && !name.starts_with("ObjectCreated:")
    {
        return Ok(RecordItem::Skipped(format!(
            "event {name} is not an ObjectCreated event"
        )));
    }
    let bucket =
        record
            .s3
            .bucket
            .name
            .filter(|b| !b.is_empty())
            .ok_or(EventError::MissingField {
                index,
                field: "s3.bucket.name",
            })?;
    let raw_key = record.s3.object.key.ok_or(EventError::MissingField {
        index,
        field: "s3.object.key",
    })?;
    let key = decode_event_key(&raw_key).map_err(|source| EventError::BadKey { index, source })?;
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
        sequencer: record.s3.object.sequencer.filter(|s| !s.is_empty()),
        event_name: record.event_name,
    }))
}

/// Unversioned buckets report no version id, an empty one, or the literal `null`.
fn non_empty_version(version: Option<String>) -> Option<String> {
    version.filter(|v| !v.is_empty() && v != "null")
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn decodes_key_and_drops_empty_version() {
        let items = parse_event(&json!({"Records": [record("a+b%2B%C3%BC.txt")]})).unwrap();
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
        let items = parse_event(
            &json!({"Records": [record("ok"), broken, {"nonsense": 1}, record("%FF")]}),
        )
        .unwrap();
        assert!(matches!(items[0], RecordItem::Object(_)));
        assert!(matches!(
            items[1],
            RecordItem::Invalid(EventError::MissingField {
                field: "s3.bucket.name",
                ..
            })
        ));
        assert!(matches!(
            items[2],
            RecordItem::Invalid(EventError::MalformedRecord { index: 2, .. })
        ));
        assert!(matches!(
            items[3],
            RecordItem::Invalid(EventError::BadKey { index: 3, .. })
        ));
    }

    #[test]
    fn removal_events_are_skipped_and_test_events_are_empty() {
        let mut removed = record("k");
        removed["eventName"] = json!("ObjectRemoved:Delete");
        let items = parse_event(&json!({"Records": [removed]})).unwrap();
        assert!(matches!(items[0], RecordItem::Skipped(_)));
        assert!(
            parse_event(&json!({"Event": "s3:TestEvent", "Service": "Amazon S3"}))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn unknown_payloads_name_their_fields() {
        let err = parse_event(&json!({"hello": "world"})).unwrap_err();
        assert!(err.to_string().contains("hello"), "{err}");
        assert!(parse_event(&json!(null)).is_err());
    }
}
