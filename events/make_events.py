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
    (HERE / name).write_text(json.dumps({"Records": records}, indent=2, ensure_ascii=False) + "\n")


write("put-single.json", [record("report")])
write("put-multiple.json", [record("report"), record("notes"), record("cpp")])
write("put-encoded-keys.json", [record("notes"), record("cpp"), record("long")])
write("copy-self.json", [record("report", "ObjectCreated:Copy", "0062E99A88DC407499")])
