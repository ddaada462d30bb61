#!/usr/bin/env python3
"""Benchmark harness for s3-policy-processor (run through bench/run).

Everything runs on 127.0.0.1, in two sections:

- moto (server-bound; the correctness server): a moto S3 server, a Lambda runtime API stand-in
  (below) that the function's bootstrap and the Python baseline (under awslambdaric) both talk
  to, the bare-SDK floor (bench/floor.rs) and awslambdaric; a 1 GiB copy against `aws s3 cp`.
- latency-modelled S3 (bench/latency_s3.rs; client-bound, as on real S3): throughput, requests,
  CPU and memory per object for the function, Python/boto3 (sequential and 16 threads) and the
  floor; instructions per object under valgrind callgrind; a concurrency sweep and Lambda cost
  under Lambda-like CPU shares (cgroup v1 cpu quotas).

Prints tables with ratios and the issue's targets; --write-results also writes bench/RESULTS.md.
Every server and process it starts is stopped by its PID at the end, also on errors.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import re
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
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bench" / "bin"
# Built alone (bench/run), so with the features a deploy has, not the dev-dependencies'.
BOOTSTRAP = ROOT / "target" / "bench-bootstrap" / "release" / "s3-policy-processor"
FLOOR = ROOT / "target" / "release" / "examples" / "floor"
LATENCY_S3 = ROOT / "target" / "release" / "examples" / "latency_s3"
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
# Lambda: 1769 MB of memory is one vCPU; x86 prices (first tier) per GB-second and per request.
FULL_VCPU_MB = 1769
PRICE_GB_S = 0.0000166667
PRICE_PER_MILLION_REQUESTS = 0.20
# Memory sizes the concurrency sweep runs at (cost runs: 128, 512 and 1024 MB).
SWEEP_MEMORY = (128, 512)
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
            # Headers and body go out as two writes: with Nagle's algorithm the body waits for
            # the client's delayed ACK (40 ms on Linux), which every invocation would pay.
            disable_nagle_algorithm = True

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


def s3_event(objects):
    """An S3 notification for `objects`: (key, ETag, size) each, as S3 sends them."""
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
                    "object": {"key": urllib.parse.quote_plus(key, safe="/"), "eTag": etag, "size": size, "sequencer": "01"},
                },
            }
            for key, etag, size in objects
        ]
    }


@dataclass
class Run:
    """One measured batch: wall seconds, CPU seconds, peak RSS MiB, S3 server CPU / wall, the
    response body, and (latency server) the server's request counts for the batch."""

    wall: float
    cpu: float
    rss: float
    server_busy: float
    body: bytes
    stats: dict = field(default_factory=dict)
    concurrency: int = 0

    def per_object(self, n):
        return self.wall / n


def lambda_env(endpoint):
    """The environment of the function and the Python baseline against `endpoint`."""
    return {
        **os.environ,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "S3_FORCE_PATH_STYLE": "true",
        "POLICY_FILE": str(ROOT / "bench" / "policy.yaml"),
        # The template's role may read tags and locks, and says so (docs/operate.md).
        "S3_HEAD_REPORTS_TAG_COUNT": "true",
        "S3_HEAD_REPORTS_OBJECT_LOCK": "true",
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


class Bench:
    """What both sections share: one S3 server (a process), the function and the Python baseline
    spawned under a runtime API stand-in, and the floor."""

    def __init__(self, args, tmp, endpoint, server, env_extra=None):
        self.args = args
        self.tmp = tmp
        self.endpoint = endpoint
        self.server = server
        self.env = {**lambda_env(endpoint), **(env_extra or {})}
        self.bootstrap = BOOTSTRAP
        self.floor_bin = FLOOR

    def close(self):
        stop(self.server)

    def spawn(self, kind, api, extra_env=None, wrapper=(), label=None):
        env = {**self.env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}", **(extra_env or {})}
        if kind == "rust":
            cmd = [str(self.bootstrap)]
            cwd = ROOT
        elif kind == "floor":
            # The bare-SDK floor inside a bare lambda_runtime handler (bench/floor.rs).
            cmd = [str(self.floor_bin), "lambda"]
            cwd = ROOT
        else:
            cmd = [str(VENV / "python"), "-m", "awslambdaric", "handler.handler"]
            cwd = ROOT / "bench" / "baseline"
        log = open(self.tmp / f"{label or kind}.log", "ab")
        started = time.time()
        process = subprocess.Popen([*wrapper, *cmd], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return process, started

    def wait(self, api, label, request_id, timeout=600):
        try:
            return api.wait(request_id, timeout)
        except RuntimeError as error:
            raise RuntimeError(f"{label}: {error}\n--- end of its log ---\n{self.log_tail(label)}") from error

    def log_tail(self, label):
        path = self.tmp / f"{label}.log"
        return path.read_bytes()[-2000:].decode(errors="replace") if path.exists() else ""

    def cold_start(self, kind, runs):
        """`runs` cold starts of `kind`, each a new process with one S3 record waiting; the
        medians of init ms (start -> first /next), first-object ms (that invocation), peak RSS
        MiB, and the process's CPU ms once the first object is done."""
        inits, firsts, rss, cpus = [], [], [], []
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
                # Idle on its next /next now: its CPU is that of init and the first object.
                cpus.append(proc_cpu_seconds(process.pid) * 1000)
            finally:
                stop(process)
                api.close()
        return tuple(statistics.median(values) for values in (inits, firsts, rss, cpus))

    def batch(self, kind, keys, extra_env=None, wrapper=(), label=None, graceful=False, timeout=600):
        """One warm-up invocation (init, empty), then one invocation with `keys`; CPU and wall
        are of that second invocation only. `graceful` ends the process with SIGTERM and waits
        (valgrind writes its totals at exit) instead of SIGKILL."""
        label = label or kind
        api = RuntimeApi()
        warm = api.push({"Records": []})
        process, _ = self.spawn(kind, api, extra_env, wrapper, label)
        try:
            self.wait(api, label, warm, timeout=timeout)
            cpu_before = proc_cpu_seconds(process.pid)
            server_before = proc_cpu_seconds(self.server.pid)
            request_id = api.push(s3_event(keys))
            responded_at, body = self.wait(api, label, request_id, timeout=timeout)
            wall = responded_at - api.served_at[request_id]
            cpu = proc_cpu_seconds(process.pid) - cpu_before
            server_busy = (proc_cpu_seconds(self.server.pid) - server_before) / wall
            rss = proc_peak_rss_mib(process.pid)
        finally:
            stop(process, graceful=graceful)
            api.close()
        return Run(wall, cpu, rss, server_busy, body)

    def floor(self, prefix, count, concurrency, wrapper=()):
        server_before = proc_cpu_seconds(self.server.pid)
        started = time.time()
        process = subprocess.Popen(
            [*wrapper, str(self.floor_bin), self.endpoint, SOURCE, BACKUP, prefix, str(count), str(concurrency)],
            stdout=subprocess.PIPE,
            env=self.env,
        )
        try:
            out = process.stdout.read()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = status
        finally:
            stop(process)
        if status != 0:
            raise RuntimeError(f"floor failed: {out!r}")
        wall = time.time() - started
        report = json.loads(out.decode().strip().splitlines()[-1])
        server_busy = (proc_cpu_seconds(self.server.pid) - server_before) / wall
        cpu = usage.ru_utime + usage.ru_stime
        if "cpu_ticks" in report:
            # The batch only, as for the function (the process's total includes its start).
            cpu = report["cpu_ticks"] / CLK_TCK
            wall = report["seconds"]
        run = Run(wall, cpu, report["peak_rss_kib"] / 1024, server_busy, out)
        run.concurrency = report.get("concurrency", 0)
        return run


def stop(process, graceful=False, timeout=300):
    """Ends a process we started (by its PID) and reaps it."""
    if process is None or process.poll() is not None:
        return
    if graceful:
        process.terminate()
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait()


class MotoBench(Bench):
    """The correctness server: moto (single-process Python; it bounds throughput)."""

    def __init__(self, args, tmp):
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(VENV / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # moto ignores If-None-Match on copies: the function must HEAD the backup instead.
        super().__init__(args, tmp, endpoint, server, {"S3_COPY_IF_NONE_MATCH": "false"})
        try:
            wait_port(port)
            self.s3 = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench",
            )
            for bucket in (SOURCE, BACKUP):
                self.s3.create_bucket(Bucket=bucket)
        except BaseException:
            self.close()
            raise

    def seed(self, prefix, count, size=600):
        body = (b"x" * 59 + b"\n") * (size // 60)
        keys = [f"{prefix}{i:05}.txt" for i in range(count)]

        def put(key):
            etag = self.s3.put_object(Bucket=SOURCE, Key=key, Body=body, ContentType="text/plain")["ETag"]
            return key, etag.strip('"'), len(body)

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(put, keys))

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
        policy.write_text(
            f"rules:\n  - match: {{ buckets: [{SOURCE}] }}\n    backup: {{ bucket: {BACKUP}, prefix: function/ }}\n"
        )
        extra = {
            "POLICY_FILE": str(policy),
            "MULTIPART_THRESHOLD": str(part_mib * MIB),
            "MULTIPART_PART_SIZE": str(part_mib * MIB),
            "MULTIPART_CONCURRENCY": "10",
        }
        head = self.s3.head_object(Bucket=SOURCE, Key=key)
        run = self.batch("rust", [(key, head["ETag"].strip('"'), head["ContentLength"])], extra)
        aws_config = self.tmp / "aws-config"
        aws_config.write_text(
            "[default]\nregion = us-east-1\ns3 =\n"
            f"  multipart_threshold = {part_mib}MB\n  multipart_chunksize = {part_mib}MB\n  max_concurrent_requests = 10\n"
        )
        cli_env = {**self.env, "AWS_CONFIG_FILE": str(aws_config)}
        server_before = proc_cpu_seconds(self.server.pid)
        started = time.time()
        subprocess.run(
            [str(VENV / "aws"), "s3", "cp", f"s3://{SOURCE}/{key}", f"s3://{BACKUP}/cli/{key}",
             "--endpoint-url", self.endpoint, "--only-show-errors"],
            env=cli_env, check=True,
        )
        cli_wall = time.time() - started
        cli_server_busy = (proc_cpu_seconds(self.server.pid) - server_before) / cli_wall
        copied = self.s3.head_object(Bucket=BACKUP, Key=f"function/{key}")["ContentLength"]
        assert copied == size_mib * MIB, copied
        return run, cli_wall, cli_server_busy


class LatencyBench(Bench):
    """The latency-modelled server (bench/latency_s3.rs): each request waits a fixed delay and
    costs the server next to no CPU, so the client sets the pace, as on real S3."""

    def __init__(self, args, tmp, delays, tls=None):
        """`tls`: (certificate, key) PEM paths; the server then also answers HTTPS, at
        `self.tls_endpoint`. The harness's own admin calls always use the plain port."""
        self.delays = delays
        flags = [f"--{name}-ms={ms}" for name, ms in delays.items()]
        if tls:
            flags += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        server = subprocess.Popen([str(LATENCY_S3), "--port", "0", *flags], stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            match = re.search(r"port (\d+)", line)
            tls_match = re.search(r"tls port (\d+)", line)
            if not match or (tls and not tls_match):
                raise RuntimeError(f"latency_s3 did not say where it listens: {line!r}")
            endpoint = f"http://127.0.0.1:{match.group(1)}"
            self.tls_endpoint = f"https://127.0.0.1:{tls_match.group(1)}" if tls_match else None
        except BaseException:
            stop(server)
            raise
        self.admin_endpoint = endpoint
        super().__init__(args, tmp, endpoint, server)
        try:
            s3 = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench",
            )
            for bucket in (SOURCE, BACKUP):
                s3.create_bucket(Bucket=bucket)
            # The template's backup bucket keeps versions (the function copies beside HEAD only
            # into one).
            s3.put_bucket_versioning(Bucket=BACKUP, VersioningConfiguration={"Status": "Enabled"})
        except BaseException:
            self.close()
            raise

    def admin(self, method, path, **params):
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"{self.admin_endpoint}/_bench/{path}?{query}", method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def seed(self, prefix, count, size=600, **extra):
        """`count` new objects under `prefix`; `extra`: the server's other seed parameters
        (`storage_class`, `tagging`)."""
        seeded = self.admin("POST", "seed", bucket=SOURCE, prefix=prefix, count=count, size=size, **extra)
        return [tuple(obj) for obj in seeded["objects"]]

    def set_delays(self, **delays):
        return self.admin("POST", "delays", **delays)

    def check(self, label, prefix, n):
        """The batch did what the policy asks for every object (on a server that enforces the
        conditions moto ignores)."""
        source = self.admin("GET", "summary", bucket=SOURCE, prefix=prefix)
        backup = self.admin("GET", "summary", bucket=BACKUP, prefix=prefix)
        ok = (
            source["objects"] == n
            and source["storage_class"] == {"STANDARD_IA": n}
            and source["tags"] == {"processed-by=s3-policy-processor": n}
            and backup["objects"] == n
        )
        if not ok:
            raise RuntimeError(f"{label}: objects not in line after the batch: source {source}, backup {backup}")

    def measure(self, label, kind, n, extra_env=None, wrapper=(), concurrency="default"):
        """Seeds `n` new objects, runs one batch of them, and returns it with the server's
        request counts for the batch; checks the objects' final state."""
        prefix = f"{label}/"
        keys = self.seed(prefix, n)
        self.admin("POST", "reset-stats")
        if kind == "floor":
            run = self.floor(prefix, n, concurrency, wrapper)
        else:
            run = self.batch(kind, keys, extra_env, wrapper, label=label)
            if kind == "rust":
                summary = json.loads(run.body).get("summary", {})
                if summary.get("applied") != n:
                    raise RuntimeError(f"{label}: expected {n} applied, got {summary}")
        run.stats = self.admin("GET", "stats")
        self.check(label, prefix, n)
        return run

    def instructions(self, label, kind, n):
        """Instructions the process executed in total (callgrind), for a batch of `n`."""
        out_file = self.tmp / f"callgrind.{label}.out"
        log_file = self.tmp / f"callgrind.{label}.log"
        wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", f"--log-file={log_file}"]
        prefix = f"{label}/"
        keys = self.seed(prefix, n)
        # The same code with a symbol table, when bench/run --profile built it (for annotation).
        symbols = Path(self.args.symbols_dir) if self.args.symbols_dir else None
        if symbols and (symbols / "s3-policy-processor").exists():
            self.bootstrap, self.floor_bin = symbols / "s3-policy-processor", symbols / "floor"
        try:
            if kind == "floor":
                self.floor(prefix, n, "default", wrapper)
            else:
                extra = {"PY_THREADS": "16"} if kind == "python-threads" else None
                self.batch("rust" if kind == "rust" else "python", keys, extra, wrapper, label=label, graceful=True, timeout=1800)
        finally:
            self.bootstrap, self.floor_bin = BOOTSTRAP, FLOOR
        self.check(label, prefix, n)
        totals = re.findall(r"Collected\s*:\s*(\d+)", log_file.read_text())
        if not totals:
            raise RuntimeError(f"{label}: no callgrind total in {log_file}:\n{log_file.read_text()[-2000:]}")
        return int(totals[-1]), out_file


@contextlib.contextmanager
def cpu_share(name, quota_us):
    """A cgroup (v1 cpu controller) limited to quota_us per 100 ms; yields the command prefix
    that starts a program inside it. Removed afterwards (its processes must have ended)."""
    path = CGROUP_CPU / name
    path.mkdir()
    try:
        (path / "cpu.cfs_period_us").write_text("100000")
        (path / "cpu.cfs_quota_us").write_text(str(quota_us))
        yield ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(path)]
    finally:
        for _ in range(100):
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def cgroups_usable():
    try:
        probe = CGROUP_CPU / f"s3pp-bench-probe-{os.getpid()}"
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def share_of(memory_mb):
    """Lambda's CPU share for a memory size: 1769 MB is one vCPU."""
    return memory_mb / FULL_VCPU_MB


ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def elf_arch(path):
    """The architecture an ELF binary is built for (its header's e_machine)."""
    header = path.read_bytes()[:20]
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "unknown")


def binary_sizes():
    rows = []
    for label, path in [
        ("host build (target/bench-bootstrap/release)", BOOTSTRAP),
        ("cargo lambda build --release --arm64", ROOT / "target/lambda-arm64/s3-policy-processor/bootstrap"),
        ("cargo lambda build --release --x86-64", ROOT / "target/lambda-x86_64/s3-policy-processor/bootstrap"),
    ]:
        if path.exists():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(path, "bootstrap")
            rows.append((f"{label}: {elf_arch(path)}", path.stat().st_size, len(buffer.getvalue())))
    return rows


GENERIC_FRAMES = re.compile(
    r"PROGRAM TOTALS|below main|libc_start|lang_start|std::rt::|backtrace|LocalKey|tokio::runtime|"
    r"^0x|^main$|::main$|::main::\{\{closure\}\}$|^::poll|FnOnce::call_once|Once::call_once"
)


def inclusive_costs(profile):
    """Function name → inclusive instructions, from callgrind_annotate."""
    result = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(profile)],
        capture_output=True, text=True,
    )
    text = result.stdout
    if result.returncode != 0 or "PROGRAM TOTALS" not in text:
        # Say so instead of printing an empty table (seen once, not reproduced since).
        raise RuntimeError(
            f"callgrind_annotate {profile}: exit {result.returncode}: {result.stderr.strip()[-500:]}"
        )
    costs = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if match:
            name = match.group(2).split(" [")[0]
            name = name.split(":", 1)[1] if name.startswith(("???:", "/", ".")) else name
            costs[name] = max(costs.get(name, 0), int(match.group(1).replace(",", "")))
    return costs


def per_object_profile(small, large, objects, top=25):
    """The functions with the most inclusive instructions per object, from the difference of
    two profiles (start-up cancels), generic frames (runtime, poll wrappers) left out."""
    a, b = inclusive_costs(small), inclusive_costs(large)
    rows = []
    for name, cost in b.items():
        short = name
        for _ in range(4):
            short = re.sub(r"<[^<>]*>", "", short)
        if GENERIC_FRAMES.search(short.strip()):
            continue
        rows.append(((cost - a.get(name, 0)) / objects, short.strip()))
    rows.sort(reverse=True)
    return "\n".join(f"{per:>12,.0f}  {name[:150]}" for per, name in rows[:top])


def progress(message):
    print(f"  .. {message}", file=sys.stderr, flush=True)


def moto_section(args, tmp, out):
    """The moto section, as before issue #15: correct S3 semantics (mostly), server-bound."""
    bench = MotoBench(args, tmp)
    try:
        progress("moto: cold starts")
        rust_init, rust_first, rust_cold_rss, _ = bench.cold_start("rust", args.cold_runs)
        py_init, py_first, py_cold_rss, _ = bench.cold_start("python", args.cold_runs)

        n = args.objects
        default_c = bench.floor("none/", 0, "default").concurrency
        progress(f"moto: {n}-record batches")
        rust = bench.batch("rust", bench.seed("batch-rust/", n))
        summary = json.loads(rust.body).get("summary", {})
        assert summary.get("applied") == n, summary
        rust_seq = bench.batch("rust", bench.seed("batch-rust-seq/", n), {"MAX_CONCURRENCY": "1"})
        py = bench.batch("python", bench.seed("batch-py/", n))
        bench.seed("batch-floor/", n)
        floor = bench.floor("batch-floor/", n, "default")

        progress(f"moto: {args.large_mib} MiB multipart copy")
        large, cli_wall, cli_server_busy = bench.large_copy(args.large_mib, args.part_mib)
    finally:
        bench.close()

    out("## moto: server-bound; correctness server")
    out()
    out(f"S3 server: moto {subprocess.run([str(VENV / 'python'), '-c', 'import moto; print(moto.__version__)'], capture_output=True, text=True).stdout.strip()} on 127.0.0.1 (single-process Python; it bounds throughput). The function runs with `S3_COPY_IF_NONE_MATCH=false` here (moto ignores `If-None-Match` on copies).")
    out()
    out("| measure | s3-policy-processor (Rust) | Python/boto3 baseline | floor (bare aws-sdk-s3) | ratio |")
    out("|---|---|---|---|---|")
    out(f"| init: process start → first /next (median of {args.cold_runs}) | {rust_init:.1f} ms | {py_init:.1f} ms | – | Python/Rust {py_init / rust_init:.1f}× |")
    out(f"| first invocation (1 object, cold client) | {rust_first:.1f} ms | {py_first:.1f} ms | – | Python/Rust {py_first / rust_first:.1f}× |")
    out(f"| peak RSS after cold invocation | {rust_cold_rss:.1f} MiB | {py_cold_rss:.1f} MiB | – | Rust/Python {rust_cold_rss / py_cold_rss:.2f} |")
    out(f"| {n}-record batch: wall, {default_c} in flight (default) | {rust.wall:.2f} s ({n / rust.wall:.0f} obj/s) | {py.wall:.2f} s ({n / py.wall:.0f} obj/s, sequential) | {floor.wall:.2f} s ({n / floor.wall:.0f} obj/s) | Rust vs Python {py.wall / rust.wall:.1f}×; overhead over floor {100 * (rust.wall - floor.wall) / floor.wall:+.1f}% |")
    out(f"| {n}-record batch: wall, one at a time (MAX_CONCURRENCY=1) | {rust_seq.wall:.2f} s ({n / rust_seq.wall:.0f} obj/s) | (same as above) | – | Rust vs Python {py.wall / rust_seq.wall:.1f}× |")
    out(f"| S3 server CPU busy during the batch (1.00 = one core, its limit) | {rust.server_busy:.2f} | {py.server_busy:.2f} | {floor.server_busy:.2f} | – |")
    out(f"| {n}-record batch: CPU per object | {1000 * rust.cpu / n:.2f} ms | {1000 * py.cpu / n:.2f} ms | {1000 * floor.cpu / n:.2f} ms | Python/Rust {py.cpu / max(rust.cpu, 1e-9):.1f}×; Rust over floor {100 * (rust.cpu - floor.cpu) / floor.cpu:+.1f}% |")
    out(f"| peak RSS over the batch | {rust.rss:.1f} MiB | {py.rss:.1f} MiB | {floor.rss:.1f} MiB | Rust/Python {rust.rss / py.rss:.2f} |")
    out(f"| large copy {args.large_mib} MiB, {args.part_mib} MiB parts, 10 in flight | {large.wall:.1f} s (peak RSS {large.rss:.1f} MiB, S3 server busy {large.server_busy:.2f}) | – | `aws s3 cp`: {cli_wall:.1f} s (S3 server busy {cli_server_busy:.2f}) | aws/Rust {cli_wall / large.wall:.2f}× |")
    out()
    out("The floor here makes the minimum requests (3 per object, see bench/floor.rs), moto ignores its `If-None-Match`; the function makes what it makes on moto (HEAD of the backup instead). The tutorial-style baseline makes 3 (no tag read, no backup check) and runs records sequentially. Requests per object are counted in the latency section below.")
    out()


def request_mix(run, n):
    """Requests per object from the server's counts, and their mix."""
    requests = run.stats.get("requests", {})
    errors = run.stats.get("errors", {})
    total = run.stats.get("total", 0) / n
    parts = [
        f"HEAD {requests.get('HeadObject', 0) / n:.2f}",
        f"tags {requests.get('GetObjectTagging', 0) / n:.2f}",
        f"copy {requests.get('CopyObject', 0) / n:.2f}",
    ]
    failed = errors.get("PreconditionFailed", 0)
    if failed:
        parts.append(f"412 {failed / n:.2f}")
    return total, ", ".join(parts)


def verdict(ok):
    return "met" if ok else "**NOT met**"


def latency_section(args, tmp, out):
    started = time.time()
    delays = dict(item.split("=") for item in args.delays.split(","))
    delays = {name: int(ms) for name, ms in delays.items()}
    bench = LatencyBench(args, tmp, delays)
    results = {}
    try:
        n = args.latency_objects
        default_c = bench.floor("none/", 0, "default").concurrency
        progress(f"latency: throughput, {n} objects each (function default concurrency = {default_c})")
        runs = {}
        runs["function, default"] = bench.measure("lat-rust-default", "rust", n)
        runs["function, default"].concurrency = default_c
        runs["function, MAX_CONCURRENCY=16"] = bench.measure("lat-rust-16", "rust", n, {"MAX_CONCURRENCY": "16"})
        runs["function, MAX_CONCURRENCY=16"].concurrency = 16
        runs["Python/boto3, 16 threads"] = bench.measure("lat-py-16", "python", n, {"PY_THREADS": "16"})
        runs["Python/boto3, 16 threads"].concurrency = 16
        runs["Python/boto3, sequential"] = bench.measure("lat-py-seq", "python", n)
        runs["Python/boto3, sequential"].concurrency = 1
        for c in (int(c) for c in args.extra_concurrency.split(",") if c):
            runs[f"function, MAX_CONCURRENCY={c}"] = bench.measure(f"lat-rust-{c}", "rust", n, {"MAX_CONCURRENCY": str(c)})
            runs[f"function, MAX_CONCURRENCY={c}"].concurrency = c
        runs["floor, default"] = bench.measure("lat-floor-default", "floor", n, concurrency="default")
        runs["floor, 16"] = bench.measure("lat-floor-16", "floor", n, concurrency=16)

        progress("latency: cold starts")
        rust_init, _, _, _ = bench.cold_start("rust", args.cold_runs)
        py_init, _, _, _ = bench.cold_start("python", args.cold_runs)

        callgrind, profiles, annotations = {}, {}, {}
        if args.callgrind:
            small, large = (int(x) for x in args.callgrind_objects.split(","))
            bench.set_delays(**{name: 0 for name in delays})
            for kind in ("rust", "floor", "python-threads"):
                progress(f"latency: callgrind {kind}, {small} and {large} objects (slow)")
                i_small, profile_small = bench.instructions(f"cg-{kind}-{small}", kind, small)
                i_large, profile_large = bench.instructions(f"cg-{kind}-{large}", kind, large)
                callgrind[kind] = (i_large - i_small) / (large - small)
                profiles[kind] = (profile_small, profile_large)
                if args.keep_profiles:
                    Path(args.keep_profiles).mkdir(parents=True, exist_ok=True)
                    for n_objects, profile in ((small, profile_small), (large, profile_large)):
                        shutil.copy(profile, Path(args.keep_profiles) / f"callgrind.{kind}.{n_objects}")
            if args.symbols_dir:
                for kind in ("rust", "floor"):
                    try:
                        annotations[kind] = per_object_profile(*profiles[kind], large - small)
                    except RuntimeError as error:
                        annotations[kind] = f"(no annotation: {error})"
                        progress(f"latency: {error}")
            bench.set_delays(**delays)

        sweep, cost_runs = {}, {}
        if args.sweep and not cgroups_usable():
            progress("latency: no writable cgroup v1 cpu controller; sweep and cost runs skipped")
        elif args.sweep:
            m = args.sweep_objects
            levels = [int(c) for c in args.sweep_concurrency.split(",")]
            for memory in (128, 512, 1024):
                quota = round(share_of(memory) * 100000)
                for kind, label, extra in (
                    ("rust", "function, default", None),
                    ("python", "Python/boto3, 16 threads", {"PY_THREADS": "16"}),
                    ("python", "Python/boto3, sequential", None),
                ):
                    progress(f"latency: {memory} MB share ({quota} us/100 ms): {label}, {m} objects")
                    with cpu_share(f"s3pp-bench-{os.getpid()}-{memory}-{kind}-{len(cost_runs)}", quota) as wrapper:
                        cost_runs[(label, memory)] = bench.measure(f"cost-{memory}-{kind}-{len(cost_runs)}", kind, m, extra, wrapper)
                if memory in SWEEP_MEMORY:
                    for c in levels:
                        progress(f"latency: {memory} MB share: MAX_CONCURRENCY={c}, {m} objects")
                        with cpu_share(f"s3pp-bench-{os.getpid()}-{memory}-c{c}", quota) as wrapper:
                            sweep[(memory, c)] = bench.measure(f"sweep-{memory}-{c}", "rust", m, {"MAX_CONCURRENCY": str(c)}, wrapper)
        server_cpu = proc_cpu_seconds(bench.server.pid)
    finally:
        bench.close()

    out(f"## Latency-modelled S3 (bench/latency_s3.rs): client-bound, as on real S3")
    out()
    out(f"Delays per request: {', '.join(f'{k} {v} ms' for k, v in delays.items())}; the server answers from an in-memory table on one thread (it used {server_cpu:.1f} s of CPU over this whole section) and enforces S3's copy conditions. Each run: a new invocation of {n} objects after a warm-up invocation; requests per object are the server's counts; CPU is the process's over the batch. The function's default concurrency is {default_c} (`DEFAULT_MAX_CONCURRENCY`, no `MAX_CONCURRENCY` set).")
    out()
    out("| run | in flight | objects/s | wall | requests/object | mix per object | CPU per object | peak RSS | server peak in flight |")
    out("|---|---|---|---|---|---|---|---|---|")
    for label, run in runs.items():
        total, mix = request_mix(run, n)
        out(f"| {label} | {run.concurrency} | {n / run.wall:.0f} | {run.wall:.2f} s | {total:.2f} | {mix} | {1000 * run.cpu / n:.2f} ms | {run.rss:.1f} MiB | {run.stats.get('peak_in_flight', 0)} |")
    out()
    fn, fn16, py16, pyseq = (runs[k] for k in ("function, default", "function, MAX_CONCURRENCY=16", "Python/boto3, 16 threads", "Python/boto3, sequential"))
    floor_default = runs["floor, default"]
    ratio_default = py16.wall / fn.wall
    ratio_16 = py16.wall / fn16.wall
    out(f"Throughput ratios: function (default) / Python 16 threads = **{ratio_default:.2f}×**; function at 16 / Python 16 threads = **{ratio_16:.2f}×**; function (default) / sequential Python = {pyseq.wall / fn.wall:.1f}×; function (default) / floor (default) = {floor_default.wall / fn.wall:.2f}×.")
    out()
    out(f"Init (process start → first /next, median of {args.cold_runs}, against this server): function {rust_init:.1f} ms, Python {py_init:.1f} ms ({py_init / rust_init:.0f}×).")
    out()
    if callgrind:
        out(f"Instructions per object (valgrind callgrind, whole process, delays 0; (I({large}) − I({small})) / {large - small}, so start-up cancels):")
        out()
        out("| process | instructions per object | vs floor |")
        out("|---|---|---|")
        for kind, label in (("rust", f"function (default concurrency {default_c})"), ("floor", f"floor (concurrency {default_c})"), ("python-threads", "Python/boto3, 16 threads")):
            out(f"| {label} | {callgrind[kind] / 1e6:.2f} M | {callgrind[kind] / callgrind['floor']:.2f}× |")
        out()
        for kind, text in annotations.items():
            out(f"<details><summary>{kind}: inclusive instructions per object by function (callgrind_annotate --inclusive=yes, {large}-object profile minus {small}-object profile)</summary>")
            out()
            out("```")
            out(text)
            out("```")
            out("</details>")
            out()
    if sweep:
        out(f"Concurrency sweep under Lambda-like CPU shares (cgroup cpu.cfs_quota_us per 100 ms; 1769 MB = 1 vCPU), {args.sweep_objects} objects per point:")
        out()
        out("| MAX_CONCURRENCY | " + " | ".join(f"{mb} MB ({share_of(mb):.3f} vCPU): objects/s, peak RSS" for mb in SWEEP_MEMORY) + " |")
        out("|---|" + "---|" * len(SWEEP_MEMORY))
        for c in levels:
            cells = []
            for mb in SWEEP_MEMORY:
                run = sweep[(mb, c)]
                cells.append(f"{args.sweep_objects / run.wall:.0f} obj/s, {run.rss:.1f} MiB")
            out(f"| {c} | " + " | ".join(cells) + " |")
        knees = []
        for mb in SWEEP_MEMORY:
            best = max(args.sweep_objects / sweep[(mb, c)].wall for c in levels)
            knee = min(c for c in levels if args.sweep_objects / sweep[(mb, c)].wall >= 0.9 * best)
            knees.append(f"{mb} MB: {knee}")
        out()
        out(f"Smallest concurrency within 10 % of the best throughput: {'; '.join(knees)}.")
        out()
    if cost_runs:
        m = args.sweep_objects
        out(f"Lambda cost per million objects (x86 price ${PRICE_GB_S:.10f} per GB-s; ${PRICE_PER_MILLION_REQUESTS:.2f} per million requests, billed per invocation, here {m} objects per invocation):")
        out()
        out("| handler | memory | vCPU share | wall per object, measured under the share | derived: max(wall at full CPU, CPU ÷ share) | GB-s per million objects (measured) | $ per million objects (measured) | $ (derived) |")
        out("|---|---|---|---|---|---|---|---|")
        unbounded = {"function, default": fn, "Python/boto3, 16 threads": py16, "Python/boto3, sequential": pyseq}
        for (label, memory), run in cost_runs.items():
            share = min(1.0, share_of(memory))
            measured = run.wall / m
            base = unbounded[label]
            derived = max(base.wall / n, (base.cpu / n) / share)
            gb = memory / 1024
            dollars = lambda t: 1e6 * gb * t * PRICE_GB_S + PRICE_PER_MILLION_REQUESTS / m
            out(f"| {label} | {memory} MB | {share:.3f} | {1000 * measured:.1f} ms | {1000 * derived:.1f} ms | {1e6 * gb * measured:,.0f} | ${dollars(measured):.2f} | ${dollars(derived):.2f} |")
        out()
        out("Formula: share s = M/1769 vCPU (capped at 1: the function runs on one thread, Python's threads share one GIL); time per object t = wall per object measured in a cgroup with that share (measured), or max(wall per object at full CPU, CPU per object ÷ s) (derived); GB-s per object = M/1024 × t; $ per object = GB-s × price + request price ÷ objects per invocation.")
        out()
        results["cost"] = {(label, memory): run.wall / m for (label, memory), run in cost_runs.items()}

    results.update({
        "ratio_default": ratio_default,
        "ratio_16": ratio_16,
        "rss_ratio": fn.rss / py16.rss,
        "init_ratio": py_init / rust_init,
        "callgrind": callgrind,
        "default_c": default_c,
        "minutes": (time.time() - started) / 60,
    })
    return results


def targets(out, lat):
    out("## Targets (issue #15)")
    out()
    out("| target | measured | |")
    out("|---|---|---|")
    out(f"| throughput: function (default) ≥ 3× Python/boto3 with 16 threads | {lat['ratio_default']:.2f}× | {verdict(lat['ratio_default'] >= 3)} |")
    out(f"| throughput: function at MAX_CONCURRENCY=16 ≥ 1.5× Python/boto3 with 16 threads | {lat['ratio_16']:.2f}× | {verdict(lat['ratio_16'] >= 1.5)} |")
    out(f"| peak RSS: function (default) ≤ ⅓ of Python with 16 threads | {lat['rss_ratio']:.2f} | {verdict(lat['rss_ratio'] <= 1 / 3)} |")
    out(f"| init ≥ 10× faster than Python | {lat['init_ratio']:.0f}× | {verdict(lat['init_ratio'] >= 10)} |")
    cg = lat["callgrind"]
    if cg:
        to_floor = cg["rust"] / cg["floor"]
        to_python = cg["rust"] / cg["python-threads"]
        out(f"| instructions per object: function ≤ 1.15× the floor | {to_floor:.2f}× | {verdict(to_floor <= 1.15)} |")
        out(f"| instructions per object: function ≤ ⅛ of Python (16 threads) | {to_python:.3f} (1/{1 / to_python:.0f}) | {verdict(to_python <= 1 / 8)} |")
    else:
        out("| instructions per object (callgrind) | not measured (--no-callgrind) | – |")
    out()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000, help="moto section: records per batch")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=64)
    parser.add_argument("--latency-objects", type=int, default=400, help="latency section: objects per throughput run")
    parser.add_argument("--delays", default="head=15,tagging=15,copy=40,put=20", help="latency server delays, ms")
    parser.add_argument("--callgrind-objects", default="50,150", help="two batch sizes for instructions per object")
    parser.add_argument("--no-callgrind", dest="callgrind", action="store_false")
    parser.add_argument("--keep-profiles", help="copy the larger callgrind profiles into this directory")
    parser.add_argument("--symbols-dir", help="unstripped bootstrap and floor (bench/run --profile) for the callgrind runs; adds annotations")
    parser.add_argument("--sweep", dest="sweep", action="store_true", default=True, help="concurrency sweep and cost runs under CPU shares (default)")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false")
    parser.add_argument("--sweep-objects", type=int, default=200, help="objects per sweep and cost run")
    parser.add_argument("--sweep-concurrency", default="1,4,16,24,32,48,64,128,256")
    parser.add_argument("--extra-concurrency", default="64,128", help="latency section: more function runs at these MAX_CONCURRENCY, full CPU")
    parser.add_argument("--skip-moto", action="store_true", help="only the latency section")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="s3pp-bench-"))
    lines = []

    def out(line=""):
        lines.append(line)

    try:
        if not args.skip_moto:
            moto_section(args, tmp, out)
        lat = latency_section(args, tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    targets(out, lat)

    cpu_info = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.machine())
    head = [
        f"Machine: {os.cpu_count()} cores, {cpu_info}; {platform.system()} {platform.release()}; {time.strftime('%Y-%m-%d')}; harness run {(time.time() - started) / 60:.1f} min",
        "",
    ]
    tail = [
        "Release profile: `strip = true` (symbols are useless in Lambda logs), `lto = \"fat\"`, `codegen-units = 1` (opt-level 3); the SDK clients without their default `rustls` feature (a legacy HTTP stack the latest behavior version never uses). `bench/run --lambda-builds` adds the cross-built Lambda binaries (glibc, zig linker).",
        "",
        "| binary | bootstrap bytes | zip bytes |",
        "|---|---|---|",
        *(f"| {label} | {size:,} | {zipped:,} |" for label, size, zipped in binary_sizes()),
    ]
    lines = head + lines + tail
    print("\n".join(lines), flush=True)
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
