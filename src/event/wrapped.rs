//! SQS messages and SNS records whose body carries an S3 notification (possibly inside an SNS
//! notification, with or without raw message delivery) or an EventBridge event.

use aws_lambda_events::sqs::SqsMessage;
use serde::Deserialize as _;
use serde_json::Value;

use super::{EventError, RecordItem, Unit, parse_carried_event};

/// One SQS message: its unit id is the message id (what `batchItemFailures` reports).
pub fn parse_sqs_message(index: usize, record: &Value) -> Unit {
    let fallback_id = format!("record {index}");
    let message = match SqsMessage::deserialize(record) {
        Ok(message) => message,
        Err(e) => {
            let id = record["messageId"]
                .as_str()
                .map_or(fallback_id, str::to_owned);
            return Unit {
                items: vec![RecordItem::Invalid(EventError::Malformed {
                    at: format!("message {id}"),
                    message: format!("not a valid SQS message: {e}"),
                })],
                id,
            };
        }
    };
    let id = message.message_id.unwrap_or(fallback_id);
    let at = format!("message {id}");
    let items = match message.body.as_deref() {
        Some(body) => parse_carried_event(&at, body),
        None => vec![RecordItem::Invalid(EventError::MissingField {
            at,
            field: "body",
        })],
    };
    Unit { id, items }
}

/// One SNS record: `Sns.Message` carries the event.
pub fn parse_sns_record(index: usize, record: &Value) -> Unit {
    let sns = &record["Sns"];
    let id = sns["MessageId"]
        .as_str()
        .map_or_else(|| format!("record {index}"), str::to_owned);
    let at = format!("SNS message {id}");
    let items = match sns["Message"].as_str() {
        Some(message) => parse_carried_event(&at, message),
        None => vec![RecordItem::Invalid(EventError::MissingField {
            at,
            field: "Sns.Message",
        })],
    };
    Unit { id, items }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EnvelopeKind, parse_invocation};
    use serde_json::json;

    fn s3_notification(key: &str) -> String {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "b-b-b"},
            "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "01"}}}]})
        .to_string()
    }

    fn sqs(messages: &[(&str, String)]) -> Value {
        json!({"Records": messages.iter().map(|(id, body)| json!({
            "messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
            "messageAttributes": {}, "md5OfBody": "m", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
        })).collect::<Vec<_>>()})
    }

    #[test]
    fn sqs_bodies_of_every_kind() {
        let sns_wrapped = json!({"Type": "Notification", "MessageId": "n", "TopicArn": "t", "Message": s3_notification("via+sns")}).to_string();
        let payload = sqs(&[
            ("direct", s3_notification("a+b")),
            ("sns", sns_wrapped),
            (
                "test",
                json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b-b-b"})
                    .to_string(),
            ),
            ("garbage", "not json".into()),
            ("other", json!({"hello": 1}).to_string()),
        ]);
        let invocation = parse_invocation(&payload).unwrap();
        assert_eq!(invocation.kind, EnvelopeKind::Sqs);
        let ids: Vec<&str> = invocation.units.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["direct", "sns", "test", "garbage", "other"]);
        let key = |unit: usize| match &invocation.units[unit].items[0] {
            RecordItem::Object(o) => o.location.key.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(key(0), "a b");
        assert_eq!(key(1), "via sns");
        assert!(matches!(
            invocation.units[2].items[0],
            RecordItem::Skipped(_)
        ));
        assert!(
            matches!(&invocation.units[3].items[0], RecordItem::Invalid(e) if e.to_string().contains("message garbage"))
        );
        assert!(
            matches!(&invocation.units[4].items[0], RecordItem::Invalid(e) if e.to_string().contains("hello"))
        );
    }

    #[test]
    fn sns_records_carry_the_notification_in_message() {
        let payload = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
            "Sns": {"Type": "Notification", "MessageId": "m-1", "Message": s3_notification("k")}}]});
        let invocation = parse_invocation(&payload).unwrap();
        assert_eq!(invocation.kind, EnvelopeKind::Sns);
        assert_eq!(invocation.units[0].id, "m-1");
        assert!(matches!(
            invocation.units[0].items[0],
            RecordItem::Object(_)
        ));
    }
}
