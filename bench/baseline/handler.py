"""The baseline users would otherwise write: a Python/boto3 handler in the plain style of the
boto3 tutorials (HEAD, copy to the backup bucket, copy in place with SSE, class and a tag).
Records run one after another, or on a thread pool of PY_THREADS threads (what a user who knows
boto3 clients are thread-safe would add; the client's connection pool is sized to match).
S3 notifications may also arrive inside SQS messages, and Batch Operations sends tasks (answered
with results, as Batch Operations requires). Run under awslambdaric by bench/harness.py and
bench/production.py."""
import json
import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

THREADS = int(os.environ.get("PY_THREADS", "1"))
s3 = boto3.client("s3", config=Config(max_pool_connections=max(10, THREADS + 4)))
BACKUP_BUCKET = os.environ["BACKUP_BUCKET"]


def objects(event):
    """(bucket, key) of each object the event names."""
    if "tasks" in event:
        return [(task["s3Bucket"], urllib.parse.unquote_plus(task["s3Key"])) for task in event["tasks"]]
    found = []
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            found.extend(objects(json.loads(record["body"])))
        else:
            found.append((record["s3"]["bucket"]["name"], urllib.parse.unquote_plus(record["s3"]["object"]["key"])))
    return found


def process(target):
    bucket, key = target
    head = s3.head_object(Bucket=bucket, Key=key)
    s3.copy_object(Bucket=BACKUP_BUCKET, Key=key, CopySource={"Bucket": bucket, "Key": key})
    if head.get("StorageClass") != "STANDARD_IA" or head.get("ServerSideEncryption") != "AES256":
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            StorageClass="STANDARD_IA",
            ServerSideEncryption="AES256",
            MetadataDirective="COPY",
            TaggingDirective="REPLACE",
            Tagging="processed-by=s3-policy-processor",
        )


def handler(event, context):
    targets = objects(event)
    if THREADS > 1:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(process, targets))
    else:
        for target in targets:
            process(target)
    if "tasks" in event:
        return {
            "invocationSchemaVersion": "2.0",
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event["invocationId"],
            "results": [{"taskId": t["taskId"], "resultCode": "Succeeded", "resultString": ""} for t in event["tasks"]],
        }
    return {"processed": len(targets)}
