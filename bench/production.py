#!/usr/bin/env python3
"""Production-shaped benchmarks (run through bench/production): what bench/harness.py's
400-record batches over plain HTTP do not show.

- TLS: the latency-modelled server (bench/latency_s3.rs) also answers HTTPS with a throw-away
  CA made here by `openssl` (RSA 2048, as S3's certificates are); the function and the floor
  trust it through SSL_CERT_FILE (rustls-native-certs), boto3 through AWS_CA_BUNDLE. CPU per
  object, peak RSS and throughput, over plain HTTP and over TLS, at the default concurrency and
  at 16 in flight.
- One record per invocation: N sequential invocations of one S3 record each, the same objects in
  10-message SQS batches, and one-task Batch Operations events, over TLS, after a warm-up
  invocation: CPU per invocation, and wall per invocation beyond the modelled S3 delays, for the
  function, the floor inside a bare lambda_runtime handler (`floor lambda`), and Python/boto3
  under awslambdaric.
- Cold first object: process start -> first object done over TLS on a cold client (median of
  --cold-runs), split into init (start -> first /next) and the first invocation.
- Capacity and cost at 128/512/1024 MB for one-record invocations, next to the S3 request
  charges the policy itself causes.
- Re-keys of any size: an SSE-S3 object of 5 KiB or 5 TiB, STANDARD or GLACIER, brought to
  SSE-KMS by one invocation with UpdateObjectEncryption and by the copy path (multipart above
  5 GiB): requests by operation, wall, CPU, outcome.

Prints tables with ratios and the issue's targets first; --write-results writes them into
bench/RESULTS.md between markers. Every server and process started is stopped by its PID.
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import harness as h

RESULTS = h.ROOT / "bench" / "RESULTS.md"
START, END = "<!-- production:start -->", "<!-- production:end -->"
SQS_BATCH = 10
# S3 Standard request prices (US East, list): GET-class (HEAD, GET) and PUT-class (COPY, PUT,
# tagging, lists) per 1,000 requests.
S3_GET_PER_1000 = 0.0004
S3_PUT_PER_1000 = 0.005
GET_CLASS = {"HeadObject", "GetObject", "GetObjectTagging", "HeadBucket"}
# Requests S3 does not charge for.
FREE = {"DeleteObject", "AbortMultipartUpload"}


def request_charges(requests):
    """S3's request charges in dollars for `requests` (operation -> count); UpdateObjectEncryption
    and the multipart requests are PUT-class."""
    return sum(count * (0 if op in FREE else S3_GET_PER_1000 if op in GET_CLASS else S3_PUT_PER_1000) / 1000
               for op, count in requests.items())


def make_certificates(folder):
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it; returns
    (ca.pem, server.pem, server.key)."""
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    quiet = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
                    "-days", "2", "-subj", "/CN=s3pp bench CA",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=127.0.0.1"], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", cert, "-days", "2", "-extfile", ext], **quiet)
    return ca, cert, key


class Transport:
    """Points a bench's clients at the plain or the TLS port of the same server."""

    def __init__(self, bench, ca):
        self.bench, self.ca = bench, ca
        self.plain_env = dict(bench.env)

    def use(self, tls):
        bench = self.bench
        bench.endpoint = bench.tls_endpoint if tls else bench.admin_endpoint
        bench.env = {**self.plain_env, "AWS_ENDPOINT_URL_S3": bench.endpoint}
        if tls:
            bench.env.update({"SSL_CERT_FILE": str(self.ca), "AWS_CA_BUNDLE": str(self.ca)})


def per_object(run, n):
    return {
        "objects_per_s": n / run.wall,
        "cpu_ms": run.cpu / n * 1000,
        "rss": run.rss,
        "requests": run.stats.get("total", 0) / n,
    }


def tls_section(args, bench, transport, out):
    n = args.objects
    clients = [
        ("function, default", "rust", None, "default"),
        ("function, 16 in flight", "rust", {"MAX_CONCURRENCY": "16"}, "16"),
        ("floor, default", "floor", None, "default"),
        ("floor, 16 in flight", "floor", None, 16),
        ("Python/boto3, sequential", "python", None, "1"),
        ("Python/boto3, 16 threads", "python", {"PY_THREADS": "16"}, "16"),
    ]
    results = {}
    for tls in (False, True):
        transport.use(tls)
        for label, kind, extra, concurrency in clients:
            name = f"{'tls' if tls else 'http'}-{kind}-{concurrency}"
            h.progress(f"tls: {label} over {'TLS' if tls else 'HTTP'}, {n} objects")
            if kind == "floor":
                run = bench.measure(name, "floor", n, concurrency=concurrency)
            else:
                run = bench.measure(name, kind, n, extra)
            results[(label, tls)] = per_object(run, n)
    transport.use(False)
    default_c = bench.floor("none/", 0, "default").concurrency
    round_trip = (bench.delays["head"] + 2 * bench.delays["copy"]) / 1000
    out("### TLS (HTTPS to the latency-modelled server)")
    out()
    out(f"{n} new objects per run; delays {bench.delays} ms; the function's default concurrency is {default_c}. "
        f"Round-trip bound: {default_c / round_trip:.0f} objects/s at the default, {16 / round_trip:.0f} at 16 in flight "
        f"(three requests per object, one after another: HEAD, backup copy, in-place copy).")
    out()
    out("| client | HTTP obj/s | TLS obj/s | HTTP CPU ms/obj | TLS CPU ms/obj | TLS / HTTP CPU | HTTP peak RSS MiB | TLS peak RSS MiB |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, *_ in clients:
        a, b = results[(label, False)], results[(label, True)]
        out(f"| {label} | {a['objects_per_s']:.0f} | {b['objects_per_s']:.0f} | {a['cpu_ms']:.3f} | {b['cpu_ms']:.3f} | "
            f"{b['cpu_ms'] / a['cpu_ms']:.2f}x | {a['rss']:.1f} | {b['rss']:.1f} |")
    out()
    fn_d, fn_16 = results[("function, default", True)], results[("function, 16 in flight", True)]
    py_seq, py_16 = results[("Python/boto3, sequential", True)], results[("Python/boto3, 16 threads", True)]
    overhead = fn_d["cpu_ms"] / results[("function, default", False)]["cpu_ms"] - 1
    bound_d, bound_16 = default_c / round_trip, 16 / round_trip
    ratio_d = fn_d["objects_per_s"] / py_16["objects_per_s"]
    ratio_16 = fn_16["objects_per_s"] / py_16["objects_per_s"]
    targets = [
        ("TLS costs the function <= 25% more CPU per object (default concurrency)", f"{overhead:+.0%}", overhead <= 0.25),
        ("throughput over TLS, default: >= 3x Python (16 threads), or within 10% of the bound",
         f"{ratio_d:.1f}x; {fn_d['objects_per_s'] / bound_d:.0%} of the bound", ratio_d >= 3 or fn_d["objects_per_s"] >= 0.9 * bound_d),
        ("throughput over TLS, 16 in flight: >= 1.5x Python (16 threads), or within 10% of the bound",
         f"{ratio_16:.2f}x; {fn_16['objects_per_s'] / bound_16:.0%} of the bound", ratio_16 >= 1.5 or fn_16["objects_per_s"] >= 0.9 * bound_16),
        ("peak RSS over TLS, default: <= 0.30 of Python's (sequential / 16 threads)",
         f"{fn_d['rss'] / py_seq['rss']:.2f} / {fn_d['rss'] / py_16['rss']:.2f}", fn_d["rss"] <= 0.30 * min(py_seq["rss"], py_16["rss"])),
    ]
    return results, targets


def sqs_record(body, i):
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"bench-{i}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764590400000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1764590400000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3pp-bench",
        "awsRegion": "us-east-1",
    }


def batch_task_event(obj, i):
    key, _, _ = obj
    return {
        "invocationSchemaVersion": "2.0",
        "invocationId": f"bench-{i}",
        "job": {"id": "00000000-0000-4000-8000-00000000bench", "userArguments": {}},
        "tasks": [{"taskId": f"task-{i}", "s3Key": urllib.parse.quote_plus(key, safe="/"),
                   "s3VersionId": None, "s3Bucket": h.SOURCE}],
    }


def invocations(shape, objects):
    """The events one shape sends for `objects`."""
    if shape == "s3":
        return [h.s3_event([obj]) for obj in objects]
    if shape == "sqs":
        return [{"Records": [sqs_record(h.s3_event([obj]), i) for i, obj in enumerate(objects[at:at + SQS_BATCH])]}
                for at in range(0, len(objects), SQS_BATCH)]
    return [batch_task_event(obj, i) for i, obj in enumerate(objects)]


def sequential(bench, kind, label, events):
    """A warm-up invocation (init, empty), then `events` one after another; returns (cpu s,
    wall s, peak RSS MiB) of the events only."""
    api = h.RuntimeApi()
    warm = api.push({"Records": []})
    process, _ = bench.spawn(kind, api, label=label)
    try:
        bench.wait(api, label, warm, timeout=120)
        cpu_before = h.proc_cpu_seconds(process.pid)
        started = time.time()
        last = None
        for event in events:
            last = api.push(event)
        bench.wait(api, label, last, timeout=1200)
        wall = time.time() - started
        cpu = h.proc_cpu_seconds(process.pid) - cpu_before
        rss = h.proc_peak_rss_mib(process.pid)
        failed = [rid for rid in api.errors if rid != "init"]
        if failed:
            raise RuntimeError(f"{label}: {len(failed)} invocations failed: {api.errors[failed[0]][1][:300]!r}")
    finally:
        h.stop(process)
        api.close()
    return cpu, wall, rss


def modelled_seconds(stats, delays):
    """The S3 delays the server modelled for the requests it counted."""
    by_op = {"HeadObject": "head", "HeadBucket": "head", "CopyObject": "copy", "PutObject": "put",
             "GetObject": "get", "GetObjectTagging": "tagging", "PutObjectTagging": "tagging"}
    return sum(count * delays.get(by_op.get(op, ""), 0) for op, count in stats.get("requests", {}).items()) / 1000


def one_record_section(args, bench, transport, out):
    transport.use(True)
    n = args.invocations
    delays = {name: args.one_record_delay for name in bench.delays}
    bench.set_delays(**delays)
    results = {}
    try:
        for shape in ("s3", "sqs", "batch"):
            for kind in ("rust", "floor", "python"):
                label = f"one-{shape}-{kind}"
                h.progress(f"one record: {kind}, {shape} events, {n} objects")
                objects = bench.seed(f"{label}/", n)
                bench.admin("POST", "reset-stats")
                events = invocations(shape, objects)
                cpu, wall, rss = sequential(bench, kind, label, events)
                stats = bench.admin("GET", "stats")
                bench.check(label, f"{label}/", n)
                results[(shape, kind)] = {
                    "invocations": len(events),
                    "cpu_ms": cpu / len(events) * 1000,
                    "wall_ms": wall / len(events) * 1000,
                    # Only where an invocation's requests run one after another (one object):
                    # a batch's records overlap, and the sum of their delays is no bound.
                    "beyond_ms": (wall - modelled_seconds(stats, delays)) / len(events) * 1000
                    if len(events) == n else None,
                    "requests": stats.get("total", 0) / n,
                    "stats": stats,
                    "rss": rss,
                }
    finally:
        bench.set_delays(**bench.delays)
        transport.use(False)
    def beyond(r):
        return "-" if r["beyond_ms"] is None else f"{r['beyond_ms']:.2f}"

    names = {"rust": "function", "floor": "floor (bare lambda_runtime + SDK)", "python": "Python/boto3"}
    shapes = {"s3": "S3 notification, 1 record", "sqs": f"SQS, {SQS_BATCH} messages", "batch": "Batch Operations, 1 task"}
    out("### One record per invocation (TLS)")
    out()
    out(f"{n} objects per row, sent as sequential invocations after a warm-up one; every S3 request is delayed "
        f"{args.one_record_delay} ms, and 'beyond S3' is the wall time per one-object invocation minus those delays "
        "(the client's own time plus the runtime API's round trip, which is the harness's Python server; the "
        "function starts the backup copy beside the HEAD, so it can undercut the floor's three sequential requests). "
        "CPU comes from /proc clock ticks (10 ms) summed over the whole row.")
    out()
    out("| event | client | invocations | CPU ms / invocation | CPU vs floor | CPU vs Python | wall ms / invocation | beyond S3 ms | requests / object | peak RSS MiB |")
    out("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape in ("s3", "sqs", "batch"):
        floor, python = results[(shape, "floor")], results[(shape, "python")]
        for kind in ("rust", "floor", "python"):
            r = results[(shape, kind)]
            out(f"| {shapes[shape]} | {names[kind]} | {r['invocations']} | {r['cpu_ms']:.3f} | {r['cpu_ms'] / floor['cpu_ms']:.2f}x | "
                f"{r['cpu_ms'] / python['cpu_ms']:.3f} | {r['wall_ms']:.2f} | {beyond(r)} | {r['requests']:.2f} | {r['rss']:.1f} |")
    out()
    targets = []
    for shape in ("s3", "sqs", "batch"):
        r, floor, python = results[(shape, "rust")], results[(shape, "floor")], results[(shape, "python")]
        vs_floor, vs_python = r["cpu_ms"] / floor["cpu_ms"], r["cpu_ms"] / python["cpu_ms"]
        targets.append((f"{shapes[shape]}: CPU per invocation <= 1.2x the floor's and <= 1/10 of Python's",
                        f"{vs_floor:.2f}x floor; 1/{1 / vs_python:.1f} of Python (the floor: 1/{python['cpu_ms'] / floor['cpu_ms']:.1f})",
                        vs_floor <= 1.2 and vs_python <= 0.1))
    return results, targets


def cold_section(args, bench, transport, out):
    medians = {}
    try:
        for tls in (False, True):
            transport.use(tls)
            for kind in ("rust", "floor", "python"):
                h.progress(f"cold: {kind}, {args.cold_runs} cold starts over {'TLS' if tls else 'HTTP'}")
                medians[(kind, tls)] = bench.cold_start(kind, args.cold_runs)
    finally:
        transport.use(False)
    names = {"rust": "function", "floor": "floor (bare lambda_runtime + SDK)", "python": "Python/boto3"}
    out("### Cold first object")
    out()
    out(f"Median of {args.cold_runs} cold starts: a new process, one S3 record waiting; init is process start -> "
        f"first `/next`, the first object is that invocation on a client with no connection yet "
        f"(loopback without DNS, TCP, over TLS a full handshake, then HEAD and two copies at {bench.delays} ms). "
        "CPU is the process's user + system time when the first object is done (clock ticks of 10 ms).")
    out()
    out("| client | transport | init ms | first object ms | start -> first object done ms | CPU to first object done ms | peak RSS MiB |")
    out("|---|---|---:|---:|---:|---:|---:|")
    for tls in (False, True):
        for kind in ("rust", "floor", "python"):
            init, first, rss, cpu = medians[(kind, tls)]
            out(f"| {names[kind]} | {'TLS' if tls else 'HTTP'} | {init:.1f} | {first:.1f} | {init + first:.1f} | {cpu:.0f} | {rss:.1f} |")
    out()
    (r_init, r_first, _, _), (p_init, p_first, _, _) = medians[("rust", True)], medians[("python", True)]
    total_ratio = (p_init + p_first) / (r_init + r_first)
    targets = [
        ("cold first object over TLS >= 5x faster than Python's", f"{total_ratio:.1f}x", total_ratio >= 5),
        ("the function's init >= 10x faster than Python's (TLS)", f"{p_init / r_init:.1f}x", p_init / r_init >= 10),
    ]
    return medians, targets


def cost_section(one, out):
    """Objects per second and cost per million one-record invocations at three memory sizes,
    from the measured CPU and the default delays (a model: the real latency of S3 varies)."""
    out("### Capacity and cost of one-record invocations (model)")
    out()
    out("Billed duration per invocation = the S3 round trips (HEAD 15 ms + two copies at 40 ms, one after "
        "another) + the measured CPU per invocation stretched by Lambda's CPU share (memory / 1769 MB of a vCPU). "
        "Lambda: $0.20 per million requests + $0.0000166667 per GB-second (x86). S3 requests the policy causes: "
        f"GET-class ${S3_GET_PER_1000}/1,000, PUT-class ${S3_PUT_PER_1000}/1,000 (list prices, US East).")
    out()
    out("| client | memory MB | ms / invocation | objects / s per instance | Lambda $ / million objects | S3 requests $ / million objects | total $ / million |")
    out("|---|---:|---:|---:|---:|---:|---:|")
    round_trip_ms = 15 + 40 + 40
    for kind, name in (("rust", "function"), ("python", "Python/boto3")):
        r = one[("s3", kind)]
        requests = r["stats"].get("requests", {})
        n = r["invocations"]
        s3_cost = request_charges(requests) / n * 1e6
        for memory in (128, 512, 1024):
            ms = round_trip_ms + r["cpu_ms"] / min(1.0, h.share_of(memory))
            lambda_cost = 0.20 + memory / 1024 * ms / 1000 * h.PRICE_GB_S * 1e6
            out(f"| {name} | {memory} | {ms:.1f} | {1000 / ms:.1f} | {lambda_cost:.2f} | {s3_cost:.2f} | {lambda_cost + s3_cost:.2f} |")
    out()


REKEY_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/2b7e1516-28ae-4d2a-a6ab-f7158809cf4f"
TIB = 1 << 40


def rekey_policy(folder):
    """A policy whose only demand is SSE-KMS under one key (named by its ARN, as
    UpdateObjectEncryption needs), so the class stays what it is, archived included."""
    path = folder / "rekey-policy.yaml"
    path.write_text(
        "rules:\n"
        "  - name: rekey\n"
        f"    match: {{ buckets: [{h.SOURCE}] }}\n"
        f"    encryption: {{ algorithm: \"aws:kms\", kms_key_id: \"{REKEY_KEY_ARN}\" }}\n")
    return path


def rekey_section(args, bench, transport, out):
    """One SSE-S3 object per row (5 KiB or 5 TiB, STANDARD or GLACIER) brought to SSE-KMS by one
    invocation, with UpdateObjectEncryption and by the copy path: requests by operation, wall,
    CPU, the outcome the function reports, and the object's encryption afterwards."""
    transport.use(True)
    policy = rekey_policy(bench.tmp)
    sizes = (("5 KiB", 5 << 10), ("5 TiB", 5 * TIB))
    classes = ("STANDARD", "GLACIER")
    paths = (("UpdateObjectEncryption", "true"), ("copy", "false"))
    rows = {}
    try:
        for path, update in paths:
            for class_ in classes:
                for size_name, size in sizes:
                    label = f"rekey-{'update' if update == 'true' else 'copy'}-{class_.lower()}-{size_name.replace(' ', '')}"
                    h.progress(f"re-key: {path}, {class_} {size_name}")
                    prefix = f"{label}/"
                    keys = bench.seed(prefix, 1, size, storage_class=class_)
                    bench.admin("POST", "reset-stats")
                    env = {"POLICY_FILE": str(policy), "S3_UPDATE_OBJECT_ENCRYPTION": update,
                           # latency_s3 keeps no annotations (docs/operate.md: never claim them for a
                           # server that does not); the template's copy-state location.
                           "S3_OBJECT_ANNOTATIONS": "false",
                           "COPY_STATE": f"s3://{h.BACKUP}/_s3pp/copy-state/"}
                    run = bench.batch("rust", keys, env, label=label, timeout=1200)
                    stats = bench.admin("GET", "stats")
                    summary = bench.admin("GET", "summary", bucket=h.SOURCE, prefix=prefix)
                    report = json.loads(run.body)["objects"][0]
                    rows[(path, class_, size_name)] = {
                        "wall_s": run.wall, "cpu_ms": run.cpu * 1000, "stats": stats,
                        "outcome": report["outcome"],
                        "reason": "; ".join(report.get("notes", [])),
                        "kms": summary["encryption"] == {f"aws:kms {REKEY_KEY_ARN}": 1},
                    }
    finally:
        transport.use(False)
    out("### Re-keys of any size (TLS)")
    out()
    out(f"One SSE-S3 object per row, brought to SSE-KMS under a key ARN by one invocation (a policy with no other "
        f"demand). `UpdateObjectEncryption` is the function with `S3_UPDATE_OBJECT_ENCRYPTION=true`; `copy` is the "
        f"same function with it `false` (the path taken where S3 refuses the operation): a CopyObject up to 5 GiB, "
        f"above it a recorded multipart copy (`COPY_STATE` as the template sets it, 8 parts in flight). Delays "
        f"{bench.delays} ms per request, the same for a 5 GiB part copy as for a 5 KiB one: real S3 copies bytes at "
        f"a finite rate, so the copy path's wall time here is a floor. S3 request charges at list prices "
        f"(UpdateObjectEncryption and multipart requests PUT-class); KMS charges for the copy's data keys are not "
        f"counted. CPU in clock ticks of 10 ms.")
    out()
    out("| path | class | size | outcome | requests | by operation | S3 request $ | wall s | CPU ms | SSE-KMS after |")
    out("|---|---|---:|---|---:|---|---:|---:|---:|---|")
    for path, _ in paths:
        for class_ in classes:
            for size_name, _ in sizes:
                r = rows[(path, class_, size_name)]
                requests = r["stats"].get("requests", {})
                by_op = ", ".join(f"{op} {count}" for op, count in sorted(requests.items()))
                outcome = r["outcome"] + (f" ({r['reason']})" if r["reason"] else "")
                out(f"| {path} | {class_} | {size_name} | {outcome} | {r['stats'].get('total', 0)} | {by_op} | "
                    f"{request_charges(requests):.6f} | {r['wall_s']:.2f} | {r['cpu_ms']:.0f} | {'yes' if r['kms'] else 'no'} |")
    out()
    targets = []
    for class_ in classes:
        small, large = rows[("UpdateObjectEncryption", class_, "5 KiB")], rows[("UpdateObjectEncryption", class_, "5 TiB")]
        same = small["stats"].get("requests") == large["stats"].get("requests") and small["kms"] and large["kms"]
        targets.append((f"an encryption-only change costs the same requests at 5 TiB as at 5 KiB ({class_})",
                        f"{small['stats'].get('total', 0)} / {large['stats'].get('total', 0)} requests; "
                        f"{large['wall_s']:.2f} s at 5 TiB (copy path: "
                        f"{rows[('copy', class_, '5 TiB')]['stats'].get('total', 0)} requests, "
                        f"{rows[('copy', class_, '5 TiB')]['wall_s']:.1f} s, "
                        f"{'re-keyed' if rows[('copy', class_, '5 TiB')]['kms'] else 'not re-keyed'})",
                        same))
    return rows, targets


def write_results(lines):
    text = RESULTS.read_text() if RESULTS.exists() else ""
    block = f"{START}\n" + "\n".join(lines) + f"\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Production shape (bench/production)\n\n" + block + "\n"
    RESULTS.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=400, help="TLS section: objects per throughput run")
    parser.add_argument("--invocations", type=int, default=2000, help="one-record section: objects per row")
    parser.add_argument("--one-record-delay", type=int, default=1, help="one-record section: ms per S3 request")
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--delays", default="head=15,tagging=15,copy=40,put=20", help="latency server delays, ms")
    parser.add_argument("--sections", default="tls,one,cold,rekey", help="which sections to run (cost needs one)")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="s3pp-production-"))
    lines, targets = [], []

    def out(line=""):
        lines.append(line)

    try:
        ca, cert, key = make_certificates(tmp)
        delays = {name: int(ms) for name, ms in (item.split("=") for item in args.delays.split(","))}
        bench = h.LatencyBench(args, tmp, delays, tls=(cert, key))
        try:
            transport = Transport(bench, ca)
            if "tls" in sections:
                targets += tls_section(args, bench, transport, out)[1]
            if "one" in sections:
                one, found = one_record_section(args, bench, transport, out)
                targets += found
                cost_section(one, out)
            if "cold" in sections:
                targets += cold_section(args, bench, transport, out)[1]
            if "rekey" in sections:
                targets += rekey_section(args, bench, transport, out)[1]
        finally:
            bench.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    head = [
        f"Run {time.strftime('%Y-%m-%d')}, {(time.time() - started) / 60:.1f} min, `bench/production{' --write-results' if args.write_results else ''}`.",
        "",
        "| target (issue: production shape) | measured | verdict |",
        "|---|---|---|",
        *(f"| {what} | {measured} | {h.verdict(ok)} |" for what, measured, ok in targets),
        "",
    ]
    lines = head + lines
    print("\n".join(lines), flush=True)
    if args.write_results:
        write_results(lines)


if __name__ == "__main__":
    sys.exit(main())
