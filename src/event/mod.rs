//! Invocation payloads → the objects they are about, for every way S3 events arrive: direct S3
//! notifications, SQS messages (carrying S3, SNS-wrapped or EventBridge events), SNS records,
//! EventBridge `Object Created` events, and S3 Batch Operations jobs. The envelope is detected
//! from the payload; no configuration.
//!
//! Only *which* object is taken from an event (bucket, decoded key, version id, ETag,
//! sequencer); its state always comes from HEAD. Each record is parsed on its own, so one
//! malformed record or message fails alone.

pub mod batch;
pub mod eventbridge;
pub mod s3;
pub mod wrapped;

use std::borrow::Borrow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::keys::KeyError;
use crate::object::ObjectRef;

/// Why a payload or one of its records could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload is not an envelope this function understands.
    #[error(
        "unrecognised event: expected an S3 notification (`Records`), an SQS or SNS batch, an EventBridge event or an S3 Batch Operations job; top-level fields were [{fields}]"
    )]
    UnrecognisedEnvelope {
        /// The payload's top-level field names (or its JSON type).
        fields: String,
    },
    /// A record or message body does not have the shape we need.
    #[error("{at}: {message}")]
    Malformed {
        /// Where: `record 2`, `message <id>`, `task <id>`.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// A record lacks a field we need.
    #[error("{at}: missing `{field}`")]
    MissingField {
        /// Where.
        at: String,
        /// JSON path of the field.
        field: &'static str,
    },
    /// A key cannot be decoded.
    #[error("{at}: {source}")]
    BadKey {
        /// Where.
        at: String,
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
    /// Nothing to do (a test event, a non-ObjectCreated event), with the reason.
    Skipped(String),
    /// The record is unusable.
    Invalid(EventError),
}

/// Which envelope the payload came in; decides the response shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// Direct S3 notification (asynchronous invoke).
    S3,
    /// SQS batch: partial failures go in `batchItemFailures`.
    Sqs,
    /// SNS records.
    Sns,
    /// One EventBridge event.
    EventBridge,
    /// S3 Batch Operations: per-task result codes.
    BatchOperations {
        /// `1.0` or `2.0`.
        schema_version: String,
        /// The invocation id to echo back.
        invocation_id: String,
    },
}

/// The unit that succeeds or fails together: an SQS message, a Batch Operations task, or one
/// record of a direct S3 / SNS invocation.
#[derive(Debug)]
pub struct Unit {
    /// Message id, task id, or `record N`.
    pub id: String,
    /// The objects (usually one) the unit names.
    pub items: Vec<RecordItem>,
}

/// A parsed invocation.
#[derive(Debug)]
pub struct Invocation {
    /// The envelope.
    pub kind: EnvelopeKind,
    /// Its units, in payload order.
    pub units: Vec<Unit>,
}

/// Detects the envelope and splits the payload into units.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    if payload.get("invocationSchemaVersion").is_some() && payload.get("tasks").is_some() {
        return batch::parse_job(payload);
    }
    if eventbridge::is_s3_event(payload) {
        return Ok(Invocation {
            kind: EnvelopeKind::EventBridge,
            units: vec![Unit {
                id: payload["id"].as_str().unwrap_or("event").to_owned(),
                items: vec![eventbridge::parse_event("event", payload)],
            }],
        });
    }
    if is_test_event(payload) {
        return Ok(Invocation {
            kind: EnvelopeKind::S3,
            units: Vec::new(),
        });
    }
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        return Err(EventError::UnrecognisedEnvelope {
            fields: describe_fields(payload),
        });
    };
    Ok(parse_records(records.iter()))
}

/// [`parse_invocation`] for a payload still in JSON text. A `Records` batch (direct S3, SQS,
/// SNS; up to thousands of records) is parsed one record at a time, so the payload is never
/// held as one JSON tree (several times the size of its text); other envelopes are small and
/// parsed whole.
pub fn parse_invocation_text(text: &str) -> Result<Invocation, EventError> {
    /// The top level of a `Records` batch, each record left as text.
    #[derive(Deserialize)]
    struct RecordBatch<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<&'a RawValue>,
        #[serde(rename = "invocationSchemaVersion")]
        batch_schema_version: Option<IgnoredAny>,
        #[serde(rename = "detail-type")]
        detail_type: Option<IgnoredAny>,
        #[serde(rename = "Event")]
        test_event: Option<IgnoredAny>,
    }
    match serde_json::from_str::<RecordBatch>(text) {
        // Fields that make it another envelope (as `parse_invocation` checks them first).
        Ok(batch)
            if batch.batch_schema_version.is_none()
                && batch.detail_type.is_none()
                && batch.test_event.is_none() =>
        {
            Ok(parse_records(batch.records.iter().map(|record| {
                // Already validated as JSON by the batch parse above.
                serde_json::from_str::<Value>(record.get()).unwrap_or(Value::Null)
            })))
        }
        _ => {
            let payload: Value = serde_json::from_str(text).map_err(|e| EventError::Malformed {
                at: "payload".into(),
                message: format!("not JSON: {e}"),
            })?;
            parse_invocation(&payload)
        }
    }
}

/// The units of a `Records` batch; the first record's source names the envelope.
fn parse_records<R: Borrow<Value>>(records: impl Iterator<Item = R>) -> Invocation {
    let source = |record: &Value| {
        record
            .get("eventSource")
            .or_else(|| record.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut records = records.peekable();
    let kind = match records.peek().map(|r| source(r.borrow())).as_deref() {
        Some("aws:sqs") => EnvelopeKind::Sqs,
        Some("aws:sns") => EnvelopeKind::Sns,
        _ => EnvelopeKind::S3,
    };
    let units = records
        .enumerate()
        .map(|(index, record)| {
            let record = record.borrow();
            match source(record).as_str() {
                "aws:sqs" => wrapped::parse_sqs_message(index, record),
                "aws:sns" => wrapped::parse_sns_record(index, record),
                _ => Unit {
                    id: format!("record {index}"),
                    items: vec![s3::parse_record(&format!("record {index}"), record)],
                },
            }
        })
        .collect();
    Invocation { kind, units }
}

/// The `s3:TestEvent` S3 sends when a notification is configured (no `Records`).
pub fn is_test_event(value: &Value) -> bool {
    value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// Parses the text of a message that carries an event: an S3 notification, an SNS
/// notification wrapping one, an EventBridge event, or an `s3:TestEvent`.
pub fn parse_carried_event(at: &str, text: &str) -> Vec<RecordItem> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            return vec![RecordItem::Invalid(EventError::Malformed {
                at: at.to_owned(),
                message: format!("body is not JSON: {e}"),
            })];
        }
    };
    if is_test_event(&value) {
        return vec![RecordItem::Skipped("s3:TestEvent".into())];
    }
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        return match value.get("Message").and_then(Value::as_str) {
            Some(message) => parse_carried_event(at, message),
            None => vec![RecordItem::Invalid(EventError::MissingField {
                at: at.to_owned(),
                field: "Message",
            })],
        };
    }
    if eventbridge::is_s3_event(&value) {
        return vec![eventbridge::parse_event(at, &value)];
    }
    match value.get("Records").and_then(Value::as_array) {
        Some(records) => records
            .iter()
            .enumerate()
            .map(|(i, record)| s3::parse_record(&format!("{at}: record {i}"), record))
            .collect(),
        None => vec![RecordItem::Invalid(EventError::Malformed {
            at: at.to_owned(),
            message: format!(
                "not an S3, SNS or EventBridge event; fields were [{}]",
                describe_fields(&value)
            ),
        })],
    }
}

fn describe_fields(payload: &Value) -> String {
    match payload {
        Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
        Value::Null => "null".into(),
        Value::Array(_) => "an array".into(),
        _ => "a scalar".into(),
    }
}

/// Unversioned buckets report no version id, an empty one, or the literal `null`.
pub(crate) fn non_empty_version(version: Option<String>) -> Option<String> {
    version.filter(|v| !v.is_empty() && v != "null")
}
