#!/usr/bin/env python3
"""Benchmark harness for s3-policy-processor (run through bench/run).

Everything runs on 127.0.0.1: a moto S3 server, a Lambda runtime API stand-in (below) that the
function's bootstrap and the Python baseline (under awslambdaric) both talk to, the bare-SDK
floor (bench/floor.rs) and awscli. Prints a table with ratios; --write-results also writes
bench/RESULTS.md.
"""
import argparse
import io
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bench" / "bin"
BOOTSTRAP = ROOT / "target" / "release" / "s3-policy-processor"
FLOOR = ROOT / "target" / "release" / "examples" / "floor"
SOURCE, BACKUP = "bench-source", "bench-backup"
MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class QuietServer(ThreadingHTTPServer):
    """Killing a runtime mid-request resets its connection; that is expected, not news."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """A Lambda runtime API stand-in: hands out queued events on /next and records when the
    first /next arrived (end of init) and when each response came back."""

    def __init__(self):
        self.events = []
        self.lock = threading.Condition()
        self.first_next_at = None
        self.served_at = {}
        self.responses = {}
        self.errors = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    self.send_error(404)
                    return
                with api.lock:
                    if api.first_next_at is None:
                        api.first_next_at = time.time()
                    while not api.events:
                        api.lock.wait()
                    request_id, payload = api.events.pop(0)
                    api.served_at[request_id] = time.time()
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + 900) * 1000)))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.strip("/").split("/")
                with api.lock:
                    if parts[-1] == "response":
                        api.responses[parts[-2]] = (time.time(), body)
                    else:
                        api.errors[parts[-2] if len(parts) > 3 else "init"] = (time.time(), body)
                    api.lock.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.port = free_port()
        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def push(self, payload):
        request_id = str(uuid.uuid4())
        with self.lock:
            self.events.append((request_id, payload))
            self.lock.notify_all()
        return request_id

    def wait(self, request_id, timeout=600):
        deadline = time.time() + timeout
        with self.lock:
            while request_id not in self.responses and request_id not in self.errors:
                if "init" in self.errors:
                    raise RuntimeError(f"init error: {self.errors['init'][1][:500]!r}")
                remaining = deadline - time.time()
                if remaining <= 0:
                    raise RuntimeError(f"no response for {request_id}")
                self.lock.wait(remaining)
            if request_id in self.errors:
                raise RuntimeError(f"invocation error: {self.errors[request_id][1][:500]!r}")
            return self.responses[request_id]

    def close(self):
        self.server.shutdown()


def proc_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def s3_event(keys):
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-23T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:BENCH"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": SOURCE, "arn": f"arn:aws:s3:::{SOURCE}"},
                    "object": {"key": urllib.parse.quote_plus(k, safe="/"), "sequencer": "01"},
                },
            }
            for k in keys
        ]
    }


@dataclass
class Run:
    """One measured batch: wall seconds, CPU seconds, peak RSS MiB, S3 server CPU / wall."""

    wall: float
    cpu: float
    rss: float
    server_busy: float
    body: bytes


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="s3pp-bench-"))
        self.s3_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.moto = subprocess.Popen(
            [str(VENV / "moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.s3_port)
        self.s3 = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="bench", aws_secret_access_key="bench",
        )
        for bucket in (SOURCE, BACKUP):
            self.s3.create_bucket(Bucket=bucket)
        self.env = {
            **os.environ,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "S3_FORCE_PATH_STYLE": "true",
            "POLICY_FILE": str(ROOT / "bench" / "policy.yaml"),
            "BACKUP_BUCKET": BACKUP,
            # What the Lambda service sets for every runtime (lambda_runtime requires them).
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "RUST_LOG": "warn",
            "AWS_LAMBDA_LOG_LEVEL": "WARN",
        }
        self.results = {}

    def close(self):
        self.moto.terminate()
        self.moto.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def seed(self, prefix, count, size=600):
        body = (b"x" * 59 + b"\n") * (size // 60)
        keys = [f"{prefix}{i:05}.txt" for i in range(count)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: self.s3.put_object(Bucket=SOURCE, Key=k, Body=body, ContentType="text/plain"), keys))
        return keys

    def spawn(self, kind, api, extra_env=None):
        env = {**self.env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}", **(extra_env or {})}
        if kind == "rust":
            cmd = [str(BOOTSTRAP)]
            cwd = ROOT
        else:
            cmd = [str(VENV / "python"), "-m", "awslambdaric", "handler.handler"]
            cwd = ROOT / "bench" / "baseline"
        log = open(self.tmp / f"{kind}.log", "ab")
        started = time.time()
        process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return process, started

    def wait(self, api, kind, request_id, timeout=600):
        try:
            return api.wait(request_id, timeout)
        except RuntimeError as error:
            raise RuntimeError(f"{kind}: {error}\n--- end of its log ---\n{self.log_tail(kind)}") from error

    def log_tail(self, kind):
        path = self.tmp / f"{kind}.log"
        return path.read_bytes()[-2000:].decode(errors="replace") if path.exists() else ""

    def cold_start(self, kind, runs):
        inits, firsts, rss = [], [], []
        for run in range(runs):
            key = self.seed(f"cold-{kind}-{run}-", 1)
            api = RuntimeApi()
            request_id = api.push(s3_event(key))
            process, started = self.spawn(kind, api)
            try:
                responded_at, _ = self.wait(api, kind, request_id, timeout=120)
                inits.append((api.first_next_at - started) * 1000)
                firsts.append((responded_at - api.served_at[request_id]) * 1000)
                rss.append(proc_peak_rss_mib(process.pid))
            finally:
                process.kill()
                process.wait()
                api.close()
        return statistics.median(inits), statistics.median(firsts), statistics.median(rss)

    def batch(self, kind, keys, extra_env=None):
        api = RuntimeApi()
        warm = api.push({"Records": []})
        process, _ = self.spawn(kind, api, extra_env)
        try:
            self.wait(api, kind, warm, timeout=120)
            cpu_before = proc_cpu_seconds(process.pid)
            server_before = proc_cpu_seconds(self.moto.pid)
            request_id = api.push(s3_event(keys))
            responded_at, body = self.wait(api, kind, request_id)
            wall = responded_at - api.served_at[request_id]
            cpu = proc_cpu_seconds(process.pid) - cpu_before
            server_busy = (proc_cpu_seconds(self.moto.pid) - server_before) / wall
            rss = proc_peak_rss_mib(process.pid)
        finally:
            process.kill()
            process.wait()
            api.close()
        return Run(wall, cpu, rss, server_busy, body)

    def floor(self, prefix, count, concurrency):
        server_before = proc_cpu_seconds(self.moto.pid)
        started = time.time()
        process = subprocess.Popen(
            [str(FLOOR), self.endpoint, SOURCE, BACKUP, prefix, str(count), str(concurrency)],
            stdout=subprocess.PIPE,
            env=self.env,
        )
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = status
        if status != 0:
            raise RuntimeError(f"floor failed: {out!r}")
        wall = time.time() - started
        report = json.loads(out.decode().strip().splitlines()[-1])
        server_busy = (proc_cpu_seconds(self.moto.pid) - server_before) / wall
        return Run(wall, usage.ru_utime + usage.ru_stime, report["peak_rss_kib"] / 1024, server_busy, out)

    def large_copy(self, size_mib, part_mib):
        key = "large/object.bin"
        chunk = bytes(range(256)) * (MIB // 256)

        class Stream(io.RawIOBase):
            def __init__(self):
                self.left = size_mib * MIB

            def readable(self):
                return True

            def readinto(self, buffer):
                n = min(len(buffer), self.left, len(chunk))
                buffer[:n] = chunk[:n]
                self.left -= n
                return n

        config = TransferConfig(multipart_threshold=part_mib * MIB, multipart_chunksize=part_mib * MIB, max_concurrency=4)
        self.s3.upload_fileobj(io.BufferedReader(Stream(), 4 * MIB), SOURCE, key, Config=config)
        policy = self.tmp / "large-policy.yaml"
        policy.write_text(f"rules:\n  - backup: {{ bucket: {BACKUP}, prefix: function/ }}\n")
        extra = {
            "POLICY_FILE": str(policy),
            "MULTIPART_THRESHOLD": str(part_mib * MIB),
            "MULTIPART_PART_SIZE": str(part_mib * MIB),
            "MULTIPART_CONCURRENCY": "10",
        }
        run = self.batch("rust", [key], extra)
        aws_config = self.tmp / "aws-config"
        aws_config.write_text(
            "[default]\nregion = us-east-1\ns3 =\n"
            f"  multipart_threshold = {part_mib}MB\n  multipart_chunksize = {part_mib}MB\n  max_concurrent_requests = 10\n"
        )
        cli_env = {**self.env, "AWS_CONFIG_FILE": str(aws_config)}
        server_before = proc_cpu_seconds(self.moto.pid)
        started = time.time()
        subprocess.run(
            [str(VENV / "aws"), "s3", "cp", f"s3://{SOURCE}/{key}", f"s3://{BACKUP}/cli/{key}",
             "--endpoint-url", self.endpoint, "--only-show-errors"],
            env=cli_env, check=True,
        )
        cli_wall = time.time() - started
        cli_server_busy = (proc_cpu_seconds(self.moto.pid) - server_before) / cli_wall
        copied = self.s3.head_object(Bucket=BACKUP, Key=f"function/{key}")["ContentLength"]
        assert copied == size_mib * MIB, copied
        return run, cli_wall, cli_server_busy


ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def elf_arch(path):
    """The architecture an ELF binary is built for (its header's e_machine)."""
    header = path.read_bytes()[:20]
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "unknown")


def binary_sizes():
    rows = []
    for label, path in [
        ("host build (target/release)", BOOTSTRAP),
        ("cargo lambda build --release --arm64", ROOT / "target/lambda-arm64/s3-policy-processor/bootstrap"),
        ("cargo lambda build --release --x86-64", ROOT / "target/lambda-x86_64/s3-policy-processor/bootstrap"),
    ]:
        if path.exists():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(path, "bootstrap")
            rows.append((f"{label}: {elf_arch(path)}", path.stat().st_size, len(buffer.getvalue())))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=64)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    bench = Bench(args)
    lines = []

    def out(line=""):
        print(line, flush=True)
        lines.append(line)

    try:
        rust_init, rust_first, rust_cold_rss = bench.cold_start("rust", args.cold_runs)
        py_init, py_first, py_cold_rss = bench.cold_start("python", args.cold_runs)

        n = args.objects
        rust = bench.batch("rust", bench.seed("batch-rust/", n))
        summary = json.loads(rust.body).get("summary", {})
        assert summary.get("applied") == n, summary
        rust_seq = bench.batch("rust", bench.seed("batch-rust-seq/", n), {"MAX_CONCURRENCY": "1"})
        py = bench.batch("python", bench.seed("batch-py/", n))
        bench.seed("batch-floor/", n)
        floor = bench.floor("batch-floor/", n, 16)

        large, cli_wall, cli_server_busy = bench.large_copy(args.large_mib, args.part_mib)
    finally:
        bench.close()

    cpu_info = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.machine())
    out(f"Machine: {os.cpu_count()} cores, {cpu_info}; {platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d')}")
    out(f"S3 server: moto {subprocess.run([str(VENV / 'python'), '-c', 'import moto; print(moto.__version__)'], capture_output=True, text=True).stdout.strip()} on 127.0.0.1 (single-process Python; it bounds throughput)")
    out()
    out("| measure | s3-policy-processor (Rust) | Python/boto3 baseline | floor (bare aws-sdk-s3) | ratio |")
    out("|---|---|---|---|---|")
    out(f"| init: process start → first /next (median of {args.cold_runs}) | {rust_init:.1f} ms | {py_init:.1f} ms | – | Python/Rust {py_init / rust_init:.1f}× |")
    out(f"| first invocation (1 object, cold client) | {rust_first:.1f} ms | {py_first:.1f} ms | – | Python/Rust {py_first / rust_first:.1f}× |")
    out(f"| peak RSS after cold invocation | {rust_cold_rss:.1f} MiB | {py_cold_rss:.1f} MiB | – | Rust/Python {rust_cold_rss / py_cold_rss:.2f} |")
    out(f"| {n}-record batch: wall, 16 in flight | {rust.wall:.2f} s ({n / rust.wall:.0f} obj/s) | {py.wall:.2f} s ({n / py.wall:.0f} obj/s, sequential) | {floor.wall:.2f} s ({n / floor.wall:.0f} obj/s) | Rust vs Python {py.wall / rust.wall:.1f}×; overhead over floor {100 * (rust.wall - floor.wall) / floor.wall:+.1f}% |")
    out(f"| {n}-record batch: wall, one at a time (MAX_CONCURRENCY=1) | {rust_seq.wall:.2f} s ({n / rust_seq.wall:.0f} obj/s) | (same as above) | – | Rust vs Python {py.wall / rust_seq.wall:.1f}× |")
    out(f"| S3 requests served per second (5 per object; baseline 3) | {5 * n / rust.wall:.0f} | {3 * n / py.wall:.0f} | {5 * n / floor.wall:.0f} | – |")
    out(f"| S3 server CPU busy during the batch (1.00 = one core, its limit) | {rust.server_busy:.2f} | {py.server_busy:.2f} | {floor.server_busy:.2f} | – |")
    out(f"| {n}-record batch: CPU per object | {1000 * rust.cpu / n:.2f} ms | {1000 * py.cpu / n:.2f} ms | {1000 * floor.cpu / n:.2f} ms (incl. init) | Python/Rust {py.cpu / max(rust.cpu, 1e-9):.1f}×; Rust over floor {100 * (rust.cpu - floor.cpu) / floor.cpu:+.1f}% |")
    out(f"| peak RSS over the batch | {rust.rss:.1f} MiB | {py.rss:.1f} MiB | {floor.rss:.1f} MiB | Rust/Python {rust.rss / py.rss:.2f} |")
    out(f"| large copy {args.large_mib} MiB, {args.part_mib} MiB parts, 10 in flight | {large.wall:.1f} s (peak RSS {large.rss:.1f} MiB, S3 server busy {large.server_busy:.2f}) | – | `aws s3 cp`: {cli_wall:.1f} s (S3 server busy {cli_server_busy:.2f}) | aws/Rust {cli_wall / large.wall:.2f}× |")
    out()
    out("Release profile: `strip = true` (symbols are useless in Lambda logs); otherwise cargo's defaults (opt-level 3, no LTO). `bench/run --lambda-builds` adds the cross-built Lambda binaries (glibc, zig linker).")
    out()
    out("| binary | bootstrap bytes | zip bytes |")
    out("|---|---|---|")
    for label, size, zipped in binary_sizes():
        out(f"| {label} | {size:,} | {zipped:,} |")
    out()
    out("Requests per object: the function and the floor make the same 5 (HEAD, GetObjectTagging, HEAD backup, CopyObject backup, CopyObject in place); the tutorial-style baseline makes 3 (no tag read, no backup check) and runs records sequentially.")
    if args.write_results:
        results = ROOT / "bench" / "RESULTS.md"
        header = (
            "# Benchmark results\n\nProduced by `bench/run` (`bench/harness.py --write-results`); "
            "everything on 127.0.0.1. Commands: `bench/run` (one run of everything below).\n\n"
        )
        # Keep the hand-written reading of the numbers (everything from the marker on) across runs.
        marker = "<!-- interpretation: kept by harness.py across runs -->"
        kept = ""
        if results.exists() and marker in results.read_text():
            kept = "\n" + results.read_text()[results.read_text().index(marker):]
        results.write_text(header + "\n".join(lines) + "\n" + kept)


if __name__ == "__main__":
    sys.exit(main())
