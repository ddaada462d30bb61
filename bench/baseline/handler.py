"""The baseline users would otherwise write: a Python/boto3 handler in the plain style of the
boto3 tutorials (HEAD, copy to the backup bucket, copy in place with SSE, class and a tag).
Records run one after another, or on a thread pool of PY_THREADS threads (what a user who knows
boto3 clients are thread-safe would add; the client's connection pool is sized to match).
Run under awslambdaric by bench/harness.py."""
import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

THREADS = int(os.environ.get("PY_THREADS", "1"))
s3 = boto3.client("s3", config=Config(max_pool_connections=max(10, THREADS + 4)))
BACKUP_BUCKET = os.environ["BACKUP_BUCKET"]


def process(record):
    bucket = record["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
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
    records = event.get("Records", [])
    if THREADS > 1:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(process, records))
    else:
        for record in records:
            process(record)
    return {"processed": len(records)}
