#!/usr/bin/env python3
"""The sample data of the local run (scripts/local-run) and of manual `cargo lambda invoke`.

Usage:
  seed.py ENDPOINT            create the sample buckets, upload the objects the sample events
                              refer to (events/objects.json)
  seed.py ENDPOINT --show     print what the buckets hold (one row per object, long keys shortened)
  seed.py ENDPOINT --check    like --show, then exit 1 unless every sample object is in line with
                              examples/policy.yaml (SSE-S3, its tag, the right class and a backup
                              with the same bytes)
  seed.py --summary FILE...   one row per `cargo lambda invoke` response saved in FILEs (named
                              EVENT.json, or EVENT.failed when the invoke failed); exit 1 if any
                              invoke or record failed

Keys are shortened for display only (the sample set has a 1,000-byte key).
"""
import json
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE, BACKUP = "s3pp-source", "s3pp-backup"


def short(key, width=44):
    """A key that fits a table column: its start and end, and its length when cut."""
    if len(key) <= width:
        return key
    return f"{key[:22]}…{key[-8:]} ({len(key)} chars)"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def client(endpoint):
    import boto3  # only the S3 commands need it (moto's venv has it)

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def sample_objects():
    return json.loads((ROOT / "events" / "objects.json").read_text())["objects"]


def seed(s3):
    objects = sample_objects()
    buckets = sorted({o["bucket"] for o in objects} | {BACKUP})
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


def state(s3):
    """{(bucket, key): (class, sse, tags)} of every object in the sample buckets."""
    found = {}
    for bucket in (SOURCE, BACKUP):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                head = s3.head_object(Bucket=bucket, Key=item["Key"])
                tags = s3.get_object_tagging(Bucket=bucket, Key=item["Key"])["TagSet"]
                found[(bucket, item["Key"])] = (
                    head.get("StorageClass", "STANDARD"),
                    head.get("ServerSideEncryption", "-"),
                    {t["Key"]: t["Value"] for t in tags},
                )
    return found


def show(s3):
    found = state(s3)
    rows = [
        (bucket, short(key), cls, sse, ",".join(f"{k}={v}" for k, v in sorted(tags.items())))
        for (bucket, key), (cls, sse, tags) in sorted(found.items())
    ]
    table(rows, ("bucket", "key", "class", "sse", "tags"))
    return found


def check(s3):
    """What examples/policy.yaml asks of each sample object: the `reports` rule (prefix
    reports/, suffix .csv, >= 128 KiB) moves it to STANDARD_IA with a GLACIER_IR backup at the
    same key; `everything-else` backs it up under other/. Both: SSE-S3 and the processed-by tag."""
    found = show(s3)
    problems = []
    for o in sample_objects():
        key = o["key"]
        size = len(o["body"]) * o.get("repeat", 1)
        is_report = key.startswith("reports/") and key.endswith(".csv") and size >= 131072
        got = found.get((SOURCE, key))
        if got is None:
            problems.append(f"{short(key)}: missing from {SOURCE}")
            continue
        cls, sse, tags = got
        want_cls = "STANDARD_IA" if is_report else "STANDARD"
        if cls != want_cls:
            problems.append(f"{short(key)}: class {cls}, want {want_cls}")
        if sse != "AES256":
            problems.append(f"{short(key)}: sse {sse}, want AES256")
        if tags.get("processed-by") != "s3-policy-processor":
            problems.append(f"{short(key)}: no processed-by tag ({tags})")
        backup_key = key if is_report else f"other/{key}"
        if (BACKUP, backup_key) not in found:
            problems.append(f"{short(key)}: no backup at {BACKUP}/{short(backup_key)}")
        else:
            body = s3.get_object(Bucket=BACKUP, Key=backup_key)["Body"].read().decode()
            if body != o["body"] * o.get("repeat", 1):
                problems.append(f"{short(key)}: backup bytes differ")
    if problems:
        print("bucket state is NOT what examples/policy.yaml asks for:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"bucket state: all {len(sample_objects())} sample objects in line with examples/policy.yaml")
    return 0


def summarize(files):
    """One row per invoke; the response shapes are those of each envelope (docs/events.md)."""
    rows, failed = [], 0
    for file in files:
        path = Path(file)
        event = path.stem + ".json"
        text = path.read_text(errors="replace").strip()
        if path.suffix == ".failed":
            # cargo-lambda prints the error as a chain ("× what", "╰─▶ root cause") and then
            # a footer; the first and the last link say what happened.
            chain = [l.strip(" │├─▶╰×") for l in text.splitlines() if any(m in l for m in ("×", "─▶"))]
            reason = " / ".join(dict.fromkeys([chain[0], chain[-1]])) if chain else (text or "no output")
            rows.append((event, "FAILED", short(reason, 100)))
            failed += 1
            continue
        try:
            response = json.loads(text)
        except json.JSONDecodeError:
            rows.append((event, "FAILED", "response is not JSON: " + short(text, 50)))
            failed += 1
            continue
        bad, counts, detail = [], {}, []
        if "results" in response:  # Batch Operations: per-task result codes
            for result in response["results"]:
                code = result.get("resultCode")
                counts[code] = counts.get(code, 0) + 1
                if code != "Succeeded":
                    bad.append(f"task {result.get('taskId')}: {short(str(result.get('resultString')), 50)}")
        for obj in response.get("objects", []):
            outcome = obj.get("outcome")
            counts[outcome] = counts.get(outcome, 0) + 1
            actions = "+".join(a.get("action", "?") for a in obj.get("actions", [])) or "-"
            detail.append(f"{short(obj.get('key') or '(no key: test event)', 30)}:{outcome}:{actions}")
            if outcome not in ("applied", "compliant", "skipped"):
                bad.append(f"{short(obj.get('key', ''))}: {outcome}")
        for failure in response.get("batchItemFailures", []):
            bad.append(f"message {failure.get('itemIdentifier')} failed")
        if not counts and not bad:
            bad.append("no object in the response")
        status = "FAILED" if bad else "ok"
        failed += bool(bad)
        summary = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        rows.append((event, status, summary + ("; " + "; ".join(bad) if bad else "")))
        for line in detail:
            rows.append(("", "", "  " + line))
    table(rows, ("event", "invoke", "outcomes"))
    return 1 if failed else 0


def main(argv):
    if argv[:1] == ["--summary"]:
        return summarize(argv[1:])
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    s3 = client(argv[0])
    if "--check" in argv:
        return check(s3)
    if "--show" in argv:
        show(s3)
        return 0
    seed(s3)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
