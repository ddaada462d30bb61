#!/usr/bin/env python3
"""Regenerates the sample events from objects.json, so each event's eTag is the MD5 of the
object body that tests and the local run upload (S3's ETag for a single-part, non-KMS PUT).

Run from the repository root: python3 events/make_events.py
"""
import hashlib
import json
import urllib.parse
from pathlib import Path

HERE = Path(__file__).parent
objects = {o["id"]: o for o in json.loads((HERE / "objects.json").read_text())["objects"]}


def body(obj):
    return (obj["body"] * obj.get("repeat", 1)).encode()


def record(obj_id, name="ObjectCreated:Put", sequencer="0062E99A88DC407460"):
    obj = objects[obj_id]
    data = body(obj)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T12:00:00.000Z",
        "eventName": name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLEUSER"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "s3-policy-processor",
            "bucket": {
                "name": obj["bucket"],
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{obj['bucket']}",
            },
            "object": {
                # S3 form-encodes keys in notifications: space -> '+', '+' -> '%2B'.
                "key": urllib.parse.quote_plus(obj["key"], safe="/"),
                "size": len(data),
                "eTag": hashlib.md5(data).hexdigest(),
                "sequencer": sequencer,
            },
        },
    }


def write(name, records):
    write_json(name, {"Records": records})


def write_json(name, value):
    (HERE / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def sqs_message(message_id, body):
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}==",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795435200000",
            "SenderId": "AIDAEXAMPLESENDER",
            "ApproximateFirstReceiveTimestamp": "1795435200100",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3pp-object-events",
        "awsRegion": "us-east-1",
    }


def sns_notification(message_id, message):
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:s3pp-object-events",
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2026-11-23T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        "MessageAttributes": {},
    }


def eventbridge(obj_id):
    obj = objects[obj_id]
    data = body(obj)
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{obj['bucket']}"],
        "detail": {
            "version": "0",
            "bucket": {"name": obj["bucket"]},
            "object": {
                "key": urllib.parse.quote_plus(obj["key"], safe="/"),
                "size": len(data),
                "etag": hashlib.md5(data).hexdigest(),
                "sequencer": "0062E99A88DC407477",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.10",
            "reason": "PutObject",
        },
    }


def batch_job(version, ids):
    tasks = []
    for n, obj_id in enumerate(ids):
        obj = objects[obj_id]
        task = {"taskId": f"dGFzay{version[0]}{n}", "s3Key": urllib.parse.quote(obj["key"], safe="/"), "s3VersionId": None}
        if version == "1.0":
            task["s3BucketArn"] = f"arn:aws:s3:::{obj['bucket']}"
        else:
            task["s3Bucket"] = obj["bucket"]
        tasks.append(task)
    job = {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"}
    if version == "2.0":
        job["userArguments"] = {}
    return {"invocationSchemaVersion": version, "invocationId": f"YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo{version[0]}", "job": job, "tasks": tasks}


write("put-single.json", [record("report")])
write("put-multiple.json", [record("report"), record("notes"), record("cpp")])
write("put-encoded-keys.json", [record("notes"), record("cpp"), record("long")])
write("copy-self.json", [record("report", "ObjectCreated:Copy", "0062E99A88DC407499")])
write(
    "sqs-batch.json",
    [
        sqs_message("059f36b4-87a3-44ab-83d2-661975830a7d", json.dumps({"Records": [record("report")]})),
        sqs_message(
            "2e1424d4-f796-459a-8184-9c92662be6da",
            json.dumps(sns_notification("95df01b4-ee98-5cb9-9903-4c221d41eb5e", json.dumps({"Records": [record("notes")]}))),
        ),
        sqs_message(
            "8d1f3a4e-2c0b-4f5e-9a7d-3b6c5e4f2a10",
            json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T12:00:00.000Z", "Bucket": "s3pp-source"}),
        ),
    ],
)
write(
    "sns.json",
    [
        {
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:s3pp-object-events:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
            "EventSource": "aws:sns",
            "Sns": sns_notification("c9a1e6f0-6a7b-5f1e-9a2b-0d3c4e5f6a7b", json.dumps({"Records": [record("cpp")]})),
        }
    ],
)
write_json("eventbridge-object-created.json", eventbridge("long"))
write_json("batch-operations-1.0.json", batch_job("1.0", ["report", "notes"]))
write_json("batch-operations-2.0.json", batch_job("2.0", ["cpp", "long"]))
