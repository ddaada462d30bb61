"""A straightforward Python inventory planner: the baseline `bench/inventory` measures
`s3pp inventory` against. Standard library only (`gzip`, `csv`, `json`, `urllib.parse`), one
row at a time, the rules of bench/inventory-policy.yaml written out by hand: reads the CSV
delivery's manifest.json, decodes each key, finds its rule by prefix, decides needs_work /
to_check / compliant / skipped the way s3pp does for this policy, writes the Batch Operations
manifest rows and counts objects and bytes per (rule, outcome).

Usage: inventory_planner.py MANIFEST_JSON OUT_MANIFEST_CSV
"""

import csv
import gzip
import json
import os
import sys
from datetime import datetime
from urllib.parse import quote, unquote_plus

IA_MIN_SIZE = 131072
RULES = [  # (name, prefix) in policy order
    ("logs", "logs/"),
    ("archive", "archive/"),
    ("docs", "docs/"),
    ("everything-else", ""),
]


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def judge(row, as_of):
    """(rule, outcome) for one row (a dict of the report's fields)."""
    if row.get("IsDeleteMarker") == "true":
        return None, "ignored"
    key = row["key"]
    rule = next(name for name, prefix in RULES if key.startswith(prefix))
    size = int(row["Size"])
    klass = row["StorageClass"]
    encryption = row["EncryptionStatus"]
    bucket_key = row["BucketKeyStatus"] == "ENABLED"
    tier = row.get("IntelligentTieringAccessTier", "")
    archived = klass in ("GLACIER", "DEEP_ARCHIVE") or tier in ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")
    locked = row["ObjectLockLegalHoldStatus"] == "ON" or (
        row["ObjectLockMode"] != ""
        and (row["ObjectLockRetainUntilDate"] == "" or parse_time(row["ObjectLockRetainUntilDate"]) > as_of)
    )
    copyable = not archived and encryption != "SSE-C"
    if rule == "logs":
        # STANDARD_IA and SSE-KMS with one key and the bucket key. The inventory has no key
        # id: a KMS object with the bucket key may already comply (to check).
        class_change = klass != "STANDARD_IA" and size >= IA_MIN_SIZE
        cost_guard = klass != "STANDARD_IA" and size < IA_MIN_SIZE
        rekeyable = encryption in ("SSE-S3", "SSE-KMS")

        def works(encryption_change):
            if not (class_change or encryption_change) or locked:
                return False
            # An encryption-only change re-keys in place (UpdateObjectEncryption), archived
            # or not; anything else is a copy, which archives and SSE-C hold back.
            return (not class_change and rekeyable) or copyable

        maybe_compliant_key = encryption == "SSE-KMS" and bucket_key
        if works(not maybe_compliant_key):
            return rule, "needs_work"
        if works(True):
            return rule, "to_check"
        best_blocked = (class_change or not maybe_compliant_key) and not works(not maybe_compliant_key)
        return rule, "skipped" if cost_guard or best_blocked else "to_check"
    if rule == "archive":
        # GLACIER; a rewrite keeps the object's own encryption, which DSSE and SSE-C forbid.
        if klass == "GLACIER":
            return rule, "compliant"
        if locked or encryption in ("SSE-C", "DSSE-KMS") or archived:
            return rule, "skipped"
        return rule, "needs_work"
    if rule == "docs":
        # SSE-S3 and a tag the inventory cannot show: at best to check.
        if encryption != "SSE-S3" and not locked and copyable:
            return rule, "needs_work"
        return rule, "to_check"
    if encryption == "SSE-S3":
        return rule, "compliant"
    return rule, "needs_work" if not locked and copyable else "skipped"


def main():
    manifest_path, out_path = sys.argv[1], sys.argv[2]
    with open(manifest_path, "rb") as f:
        manifest = json.load(f)
    fields = [name.strip() for name in manifest["fileSchema"].split(",")]
    as_of = int(manifest["creationTimestamp"]) / 1000
    folder = os.path.dirname(manifest_path)
    counts = {}
    rows = 0
    with open(out_path, "w", newline="") as out:
        for entry in manifest["files"]:
            name = entry["key"].rsplit("/", 1)[-1]
            path = os.path.join(folder, "..", "data", name)
            with gzip.open(path, "rt", newline="", encoding="utf-8") as data:
                for values in csv.reader(data):
                    row = dict(zip(fields, values))
                    row["key"] = unquote_plus(row["Key"])
                    rule, outcome = judge(row, as_of)
                    if outcome in ("needs_work", "to_check"):
                        out.write(f'{row["Bucket"]},{quote(row["key"], safe="/-_.~")}\n')
                    size = int(row["Size"] or 0)
                    tally = counts.setdefault((rule or "-", outcome), [0, 0])
                    tally[0] += 1
                    tally[1] += size
                    rows += 1
    totals = {}
    for (_, outcome), (objects, _) in counts.items():
        totals[outcome] = totals.get(outcome, 0) + objects
    print(json.dumps({"rows": rows, "outcomes": dict(sorted(totals.items()))}))


if __name__ == "__main__":
    main()
