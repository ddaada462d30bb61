#!/usr/bin/env python3
"""Creates the sample buckets and uploads the objects the sample events refer to
(events/objects.json), or with --show prints what the buckets hold afterwards.

Usage: seed.py ENDPOINT [--show]
"""
import json
import sys
import urllib.parse
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
endpoint = sys.argv[1]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="local",
    aws_secret_access_key="local",
)
objects = json.loads((ROOT / "events" / "objects.json").read_text())["objects"]
buckets = sorted({o["bucket"] for o in objects} | {"s3pp-backup"})

if "--show" in sys.argv:
    for bucket in buckets:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=item["Key"])
            tags = s3.get_object_tagging(Bucket=bucket, Key=item["Key"])["TagSet"]
            key = item["Key"] if len(item["Key"]) < 60 else item["Key"][:40] + "…" + item["Key"][-10:]
            print(
                f"  s3://{bucket}/{key}  class={head.get('StorageClass', 'STANDARD')}"
                f"  sse={head.get('ServerSideEncryption', '-')}"
                f"  tags={ {t['Key']: t['Value'] for t in tags} }"
            )
    sys.exit(0)

for bucket in buckets:
    s3.create_bucket(Bucket=bucket)
for o in objects:
    s3.put_object(
        Bucket=o["bucket"],
        Key=o["key"],
        Body=(o["body"] * o.get("repeat", 1)).encode(),
        ContentType=o["content_type"],
        Metadata=o["metadata"],
        Tagging=urllib.parse.urlencode(o["tags"]),
    )
print(f"seeded {len(objects)} objects into {', '.join(buckets)}")
