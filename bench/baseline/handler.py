"""The baseline users would otherwise write: a Python/boto3 handler in the plain style of the
boto3 tutorials (HEAD, copy to the backup bucket, copy in place with SSE and class), processing
records one after another. Run under awslambdaric by bench/harness.py."""
import os
import urllib.parse

import boto3

s3 = boto3.client("s3")
BACKUP_BUCKET = os.environ["BACKUP_BUCKET"]


def handler(event, context):
    processed = 0
    for record in event.get("Records", []):
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
        processed += 1
    return {"processed": processed}
