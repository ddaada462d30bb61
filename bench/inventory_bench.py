"""bench/inventory's harness: `s3pp inventory` against the straightforward Python planner
(bench/baseline/inventory_planner.py) on generated S3 Inventory deliveries, one core each
(taskset), side by side in one run.

For each size (default 1 M and 10 M rows) and format (CSV.gz, Parquet): CPU seconds (user +
system, and peak RSS, from GNU time), rows planned per CPU second, and whether two runs wrote
byte-identical manifests and reports. The Python planner reads the same CSV.gz. Targets (issue
"Billion-object backfills"): >= 500,000 rows/s, >= 10x Python, peak RSS at 10 M within 10% of
1 M, byte-identical across runs. Also checked: Python and s3pp agree on every outcome count and
write the same manifest.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "bench-inventory")
S3PP = os.path.join(ROOT, "target", "release", "s3pp-bench")
GEN = os.path.join(ROOT, "target", "release", "examples", "inventory_gen")
POLICY = os.path.join(ROOT, "bench", "inventory-policy.yaml")
PLANNER = os.path.join(ROOT, "bench", "baseline", "inventory_planner.py")
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
START, END = "<!-- inventory:start -->", "<!-- inventory:end -->"


def measured(command, stdout_path):
    """Runs `command` pinned to CPU 0; returns (cpu seconds, wall seconds, peak RSS MiB).

    GNU time forks and execs it: a child forked from this Python process would start with this
    process's memory, and its peak RSS (ru_maxrss counts the time before exec) would be ours."""
    report = stdout_path + ".time"
    with open(stdout_path, "wb") as out:
        started = time.monotonic()
        status = subprocess.run(
            ["/usr/bin/time", "-f", "%U %S %M", "-o", report, "taskset", "-c", "0", *command], stdout=out
        ).returncode
        wall = time.monotonic() - started
    if status != 0:
        sys.exit(f"{command[0]} exited {status}")
    with open(report) as f:
        user, system, peak_kib = f.read().split()[-3:]
    os.remove(report)
    return float(user) + float(system), wall, int(peak_kib) / 1024


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def delivery(rows, fmt):
    folder = os.path.join(WORK, f"{rows}-{fmt}")
    done = os.path.join(folder, "manifest-path")
    if not os.path.exists(done):
        print(f"==> generating {rows:,} rows ({fmt})", file=sys.stderr)
        subprocess.run(["rm", "-rf", folder], check=True)
        os.makedirs(folder)
        path = subprocess.run([GEN, str(rows), fmt, folder], check=True, capture_output=True, text=True).stdout.strip()
        with open(done, "w") as f:
            f.write(path)
    with open(done) as f:
        return f.read().strip(), folder


def run_s3pp(manifest, folder, run):
    """One run, writing to the same paths each time (the report names the manifest's path);
    its outputs are then kept as `…-RUN`."""
    out_manifest = os.path.join(folder, "s3pp-manifest.csv")
    report = os.path.join(folder, "s3pp-report.json")
    cpu, wall, rss = measured(
        [S3PP, "inventory", manifest, "--policy", POLICY, "--manifest", out_manifest, "--format", "json"], report
    )
    kept = []
    for path in (out_manifest, report):
        stem, ext = os.path.splitext(path)
        os.replace(path, f"{stem}-{run}{ext}")
        kept.append(f"{stem}-{run}{ext}")
    return cpu, wall, rss, kept[0], kept[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    lines = []
    checks = []
    rss_at = {}
    for rows in args.rows:
        for fmt in ("csv", "parquet"):
            manifest, folder = delivery(rows, fmt)
            first = run_s3pp(manifest, folder, 1)
            second = run_s3pp(manifest, folder, 2)
            identical = digest(first[3]) == digest(second[3]) and digest(first[4]) == digest(second[4])
            cpu = min(first[0], second[0])
            rss = min(first[2], second[2])
            rss_at[(rows, fmt)] = rss
            with open(first[4]) as f:
                report = json.load(f)["report"]
            outcomes = {name: tally["objects"] for name, tally in report["outcomes"].items()}
            row = {
                "rows": rows, "format": fmt, "s3pp_cpu": cpu, "s3pp_rate": rows / cpu, "s3pp_rss": rss,
                "identical": identical, "manifest_rows": report["manifest"]["objects"],
            }
            if fmt == "csv":
                py_manifest = os.path.join(folder, "python-manifest.csv")
                py_out = os.path.join(folder, "python-report.json")
                # Best of two, as for s3pp: this machine is shared, and its noise only ever adds.
                py_runs = [measured([sys.executable, PLANNER, manifest, py_manifest], py_out) for _ in range(2)]
                py_cpu = min(run[0] for run in py_runs)
                py_rss = min(run[2] for run in py_runs)
                with open(py_out) as f:
                    py = json.load(f)
                row.update({
                    "py_cpu": py_cpu, "py_rate": rows / py_cpu, "py_rss": py_rss,
                    "ratio": py_cpu / cpu,
                    "same_outcomes": py["outcomes"] == dict(sorted(outcomes.items())),
                    "same_manifest": digest(py_manifest) == digest(first[3]),
                })
                if not row["same_outcomes"]:
                    print(f"outcomes differ: s3pp {outcomes} python {py['outcomes']}", file=sys.stderr)
            lines.append(row)
            print(json.dumps(row), file=sys.stderr)
    table = [
        "| rows | format | s3pp CPU s | s3pp rows/s | Python CPU s | Python rows/s | s3pp / Python | s3pp peak RSS | Python peak RSS | identical runs | same outcomes & manifest as Python |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in lines:
        py = r.get("py_cpu")
        table.append(
            f"| {r['rows']:,} | {r['format']} | {r['s3pp_cpu']:.2f} | {r['s3pp_rate']:,.0f} | "
            + (f"{py:.2f} | {r['py_rate']:,.0f} | **{r['ratio']:.1f}x** | " if py else "- | - | - | ")
            + f"{r['s3pp_rss']:.1f} MiB | "
            + (f"{r['py_rss']:.1f} MiB | " if py else "- | ")
            + ("yes" if r["identical"] else "**no**")
            + " | "
            + ((("yes" if r["same_outcomes"] and r["same_manifest"] else "**no**")) if py else "-")
            + " |"
        )
    targets = []
    csv_rows = [r for r in lines if r["format"] == "csv"]
    if csv_rows:
        slowest = min(r["s3pp_rate"] for r in csv_rows)
        lowest_ratio = min(r["ratio"] for r in csv_rows)
        targets.append(f"- >= 500,000 rows/s on one core (CSV.gz): {slowest:,.0f} rows/s: **{'met' if slowest >= 500_000 else 'not met'}**")
        targets.append(f"- >= 10x the Python planner: {lowest_ratio:.1f}x: **{'met' if lowest_ratio >= 10 else 'not met'}**")
    if len(args.rows) >= 2:
        small, large = min(args.rows), max(args.rows)
        for fmt in ("csv", "parquet"):
            if (small, fmt) in rss_at and (large, fmt) in rss_at:
                growth = rss_at[(large, fmt)] / rss_at[(small, fmt)] - 1
                targets.append(
                    f"- peak RSS at {large:,} rows within 10% of {small:,} ({fmt}): {growth:+.1%}: **{'met' if growth <= 0.10 else 'not met'}**"
                )
    all_identical = all(r["identical"] for r in lines)
    targets.append(f"- manifest and report byte-identical across runs: **{'met' if all_identical else 'not met'}**")
    text = "\n".join(table + [""] + targets)
    print(text)
    if args.write_results:
        cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
        section = (
            f"{START}\n## Inventory planning (`bench/inventory`)\n\n"
            f"`s3pp inventory` (release build) against bench/baseline/inventory_planner.py (Python "
            f"{sys.version.split()[0]}, `gzip` + `csv`), each pinned to one core, on generated deliveries "
            f"(bench/inventory_gen.rs: realistic mix of classes, encryptions, sizes, locks; keys with spaces, "
            f"`+`, commas and unicode) under bench/inventory-policy.yaml. CPU is user + system and peak RSS is GNU time's; "
            f"each figure (CPU and peak RSS) is the better of two runs: the machine is shared, and its "
            f"noise only adds. Machine: {cpu}, {time.strftime('%Y-%m-%d')}.\n\n{text}\n{END}"
        )
        with open(RESULTS) as f:
            results = f.read()
        if START in results:
            before, rest = results.split(START, 1)
            after = rest.split(END, 1)[1]
            results = before + section + after
        else:
            results = results.rstrip() + "\n\n" + section + "\n"
        with open(RESULTS, "w") as f:
            f.write(results)


if __name__ == "__main__":
    main()
