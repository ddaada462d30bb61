//! What a failed event looks like once it has left the function, and how to send it back:
//! the messages of the stack's failure queue (Lambda's on-failure destination record, which
//! carries the original event as `requestPayload`) and of the event queue's dead-letter queue
//! (the event itself, as S3 sent it). [`read_message`] turns one message body into the payload
//! to replay and a description of what it is about; `s3pp replay` (src/cli/replay.rs) does the
//! queue and invoke I/O.

use serde_json::Value;

use crate::event::{RecordItem, parse_invocation};

/// Why a message cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The body is not JSON.
    #[error(
        "the message body is not JSON ({0}); it is not an event this stack sent, so it is left in the queue"
    )]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an event the function understands.
    #[error("the message is not an event the function understands ({0}); it is left in the queue")]
    NotAnEvent(String),
}

/// Where a failed event was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Lambda's on-failure destination record (direct delivery: retries exhausted or the
    /// event too old).
    OnFailure {
        /// `RetriesExhausted`, `EventAgeExceeded`, … (`requestContext.condition`).
        condition: String,
        /// The last attempt's error (`responsePayload.errorType: errorMessage`), if any.
        error: Option<String>,
        /// Attempts Lambda made (`requestContext.approximateInvokeCount`).
        attempts: Option<u64>,
    },
    /// The event itself (a dead-letter queue of the event queue).
    Event,
}

/// One message, ready to replay.
#[derive(Debug, Clone)]
pub struct Replayable {
    /// The event to send again, as JSON text.
    pub payload: String,
    /// Where it came from and why it failed.
    pub origin: Origin,
    /// `bucket/key` of each object the event names.
    pub objects: Vec<String>,
}

impl Origin {
    /// One line: why the event was given up on.
    pub fn describe(&self) -> String {
        match self {
            Origin::OnFailure {
                condition,
                error,
                attempts,
            } => {
                let mut text = condition.clone();
                if let Some(n) = attempts {
                    text.push_str(&format!(" after {n} attempts"));
                }
                if let Some(error) = error {
                    text.push_str(&format!(": {error}"));
                }
                text
            }
            Origin::Event => "dead-lettered event".to_owned(),
        }
    }
}

/// Reads one message body: an on-failure record yields its `requestPayload`, anything else is
/// taken as the event itself; either way the function must recognise the event.
pub fn read_message(body: &str) -> Result<Replayable, ReplayError> {
    let value: Value = serde_json::from_str(body).map_err(ReplayError::NotJson)?;
    let (event, origin) = match value.get("requestPayload") {
        Some(payload) if value.get("requestContext").is_some() => {
            (payload.clone(), on_failure_origin(&value))
        }
        _ => (value, Origin::Event),
    };
    let invocation =
        parse_invocation(&event).map_err(|err| ReplayError::NotAnEvent(err.to_string()))?;
    let objects = invocation
        .units
        .iter()
        .flat_map(|unit| &unit.items)
        .filter_map(|item| match item {
            RecordItem::Object(object) => Some(format!(
                "{}/{}",
                object.location.bucket, object.location.key
            )),
            RecordItem::Skipped(_) | RecordItem::Invalid(_) => None,
        })
        .collect();
    Ok(Replayable {
        payload: event.to_string(),
        origin,
        objects,
    })
}

fn on_failure_origin(record: &Value) -> Origin {
    let context = &record["requestContext"];
    let response = &record["responsePayload"];
    let error = match (
        response["errorType"].as_str(),
        response["errorMessage"].as_str(),
    ) {
        (Some(kind), Some(message)) => Some(format!("{kind}: {message}")),
        (None, Some(message)) => Some(message.to_owned()),
        (Some(kind), None) => Some(kind.to_owned()),
        (None, None) => record["responseContext"]["functionError"]
            .as_str()
            .map(str::to_owned),
    };
    Origin::OnFailure {
        condition: context["condition"]
            .as_str()
            .unwrap_or("unknown condition")
            .to_owned(),
        error,
        attempts: context["approximateInvokeCount"].as_u64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_event(key: &str) -> Value {
        json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "src"}, "object": {"key": key, "size": 3}}}]})
    }

    /// The record Lambda sends to an SQS on-failure destination (Lambda Developer Guide,
    /// "Capturing records of asynchronous invocations").
    #[test]
    fn an_on_failure_record_yields_its_original_event() {
        let record = json!({
            "version": "1.0",
            "timestamp": "2026-12-02T05:00:00.000Z",
            "requestContext": {"requestId": "e4b46cbf", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": s3_event("a+b%C3%BC.txt"),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "RecordsFailed", "errorMessage": "1 of 1 records failed: src/a bü.txt: Failed"}
        });
        let replay = read_message(&record.to_string()).expect("replayable");
        assert_eq!(
            serde_json::from_str::<Value>(&replay.payload).ok(),
            Some(s3_event("a+b%C3%BC.txt"))
        );
        assert_eq!(replay.objects, vec!["src/a bü.txt"]);
        assert_eq!(
            replay.origin.describe(),
            "RetriesExhausted after 3 attempts: RecordsFailed: 1 of 1 records failed: src/a bü.txt: Failed"
        );
    }

    #[test]
    fn a_dead_lettered_event_is_replayed_as_it_is() {
        let body = s3_event("k").to_string();
        let replay = read_message(&body).expect("replayable");
        assert_eq!(replay.origin, Origin::Event);
        assert_eq!(replay.objects, vec!["src/k"]);
        assert_eq!(
            serde_json::from_str::<Value>(&replay.payload).ok(),
            Some(s3_event("k"))
        );
    }

    #[test]
    fn a_record_timed_out_without_an_error_payload_says_so() {
        let record = json!({"requestContext": {"condition": "EventAgeExceeded"},
            "requestPayload": s3_event("k"), "responseContext": {"functionError": "Unhandled"}});
        let replay = read_message(&record.to_string()).expect("replayable");
        assert_eq!(replay.origin.describe(), "EventAgeExceeded: Unhandled");
    }

    #[test]
    fn what_is_not_an_event_is_refused_with_the_reason() {
        let not_json = read_message("{ nope").expect_err("not JSON");
        assert!(not_json.to_string().contains("not JSON"), "{not_json}");
        let other = read_message(r#"{"hello": "world"}"#).expect_err("not an event");
        assert!(other.to_string().contains("unrecognised event"), "{other}");
    }
}
