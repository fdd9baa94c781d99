#!/usr/bin/env python3
"""The embedded store through spoor's real APIs, with the bench load tool (issue 4).

Run it through bench/store.sh, which builds the binaries first.

It starts spoor pinned to CPU 0 with `otlp (gRPC) -> batch -> jaeger_storage_exporter` into an
embedded store in a temporary directory and `jaeger_query` on loopback, then, with
spoor-loadgen pinned to CPU 1:

1. ingests N spans over OTLP gRPC (`--unique-traces`: every request has trace IDs of its own,
   and its start times are spread evenly over the last 4 hours), listing the first trace of
   every acknowledged request;
2. waits until the head is cut into blocks and compaction has nothing left to merge (the
   `blocks/*.meta.json` files say so), and measures bytes per span on disk;
3. looks traces up by ID (`GET /api/traces/{id}`: listed traces, and 1 in 10 unknown IDs that
   must get 404), then searches by service and a rare and a common tag over one-hour windows
   (`GET /api/traces?service=..&tags=..&start=..&end=..&limit=20`).

The full run appends its figures to bench/RESULTS.md next to issue 4's targets; --quick ingests
~20k spans with small blocks and checks only that every phase got answers. Standard library
only; the process helpers come from bench/compare.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from compare import (LOADGEN, PROFILE_DIR, ROOT, SPOOR, Cpus, cpu_seconds, free_port, loadavg, machine,
                     pick_cpus, publish, status_mib, stop, wait_for_port)

TARGETS = {"ingest": 300_000, "bytes_per_span": 40.0, "by_id_p99": 5.0, "search_p99": 100.0}
# (label, tag): a tag on 3 % of the server spans (about 0.3 % of all spans), and one on about
# 18 % of all spans (most traces have one).
SEARCHES = [("rare tag", "http.status_code=500"), ("common tag", "http.method=GET")]
SPREAD = "4h"
COMPACTION_WINDOW_NS = 3600 * 10**9  # the store's default compaction_window
COMPACTION_MAX_SPANS = 4_000_000  # and compaction_max_spans

CONFIG = """\
# Written by bench/store.py: otlp -> batch -> the embedded store, and Jaeger's query API.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: main
extensions:
  jaeger_storage:
    backends:
      main:
        embedded:
          path: {data}
          block_duration: {block_duration}
          max_block_spans: {max_block_spans}
          maintenance_interval: {maintenance_interval}
  jaeger_query:
    storage:
      traces: main
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
"""


@dataclass
class Plan:
    quick: bool
    spans: int
    concurrency: int
    # The store: max_block_spans is its default in the full run; block_duration only decides
    # when the tail of the load is cut, and maintenance_interval (default 1m) how soon
    # compaction runs.
    block_duration: str
    max_block_spans: int
    maintenance_interval: str
    settle_timeout: float
    by_id_requests: int
    search_requests: int
    query_warmup: float
    phase_limit: float  # seconds, per query phase


def full_plan(spans: int) -> Plan:
    return Plan(False, spans, 32, "1m", 250_000, "1m", 1200.0, 2000, 200, 5.0, 300.0)


def quick_plan() -> Plan:
    return Plan(True, 20_000, 8, "1s", 5_000, "1s", 60.0, 40, 5, 0.0, 20.0)


@dataclass
class Results:
    ingest: dict = field(default_factory=dict)
    disk: dict = field(default_factory=dict)
    queries: list[tuple[str, dict]] = field(default_factory=list)
    server: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, plan: Plan, cpus: Cpus, workdir: Path):
        self.plan = plan
        self.cpus = cpus
        self.workdir = workdir
        self.data = workdir / "data"
        self.ids = workdir / "trace-ids.txt"
        self.commands: list[str] = []
        self.results = Results()

    def note(self, cmd: list[str]) -> None:
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT",
                      shlex.join(cmd).replace(f"{ROOT}/", "").replace(str(self.workdir), "$TMP"))
        self.commands.append(text)

    def start(self) -> tuple[subprocess.Popen, dict[str, int]]:
        ports = {key: free_port() for key in ("grpc", "query", "query_grpc", "metrics")}
        config = self.workdir / "spoor-store.yaml"
        config.write_text(CONFIG.format(data=self.data, block_duration=self.plan.block_duration,
                                        max_block_spans=self.plan.max_block_spans,
                                        maintenance_interval=self.plan.maintenance_interval, **ports))
        cmd = ["taskset", "-c", self.cpus.server, str(SPOOR), "--config", str(config)]
        self.note(cmd)
        proc = subprocess.Popen(cmd, stdout=(self.workdir / "spoor.log").open("w"), stderr=subprocess.STDOUT)
        try:
            for key in ("grpc", "query"):
                wait_for_port(ports[key], proc, "spoor")
        except Exception:
            stop(proc)
            raise
        return proc, ports

    def loadgen(self, args: list[str], limit: float, what: str) -> dict:
        """Runs spoor-loadgen with `args` on the load CPU and returns its JSON summary. Bounded:
        the tool stops within `limit` seconds (its --duration), plus a minute's grace."""
        cmd = ["taskset", "-c", self.cpus.load, str(LOADGEN), *args, "--json"]
        self.note(cmd)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit + 60)
        if done.returncode not in (0, 1) or not done.stdout.strip():
            raise RuntimeError(f"spoor-loadgen {what} failed ({done.returncode}): {done.stderr.strip()}")
        if done.returncode == 1:
            self.results.problems.append(f"{what}: {done.stderr.strip()}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def ingest(self, ports: dict[str, int], pid: int) -> None:
        limit = max(60.0, self.plan.spans / 5_000)
        args = ["--protocol", "grpc", "--endpoint", f"http://127.0.0.1:{ports['grpc']}",
                "--concurrency", str(self.plan.concurrency), "--warmup", "0s", "--duration", f"{limit:.0f}s",
                "--acknowledged-spans", str(self.plan.spans), "--unique-traces", "--spread-start", SPREAD,
                "--trace-ids-out", str(self.ids), "--refused-backoff", "20ms"]
        load, before = loadavg(), cpu_seconds(pid)
        summary = self.loadgen(args, limit, "ingest")
        self.results.ingest = {
            "summary": summary, "load": load, "cpu_s": cpu_seconds(pid) - before,
            "peak_rss_mib": status_mib(pid, "VmHWM"),
        }
        acked = summary["spans_acknowledged"]
        print(f"  ingest: {acked:,} spans acknowledged in {summary['duration_secs']:.1f} s, "
              f"{summary['spans_per_sec']:,.0f} spans/s, p99 {summary['latency_ms']['p99']:.1f} ms, "
              f"{status_text(summary['by_status'])}, load {load}", flush=True)
        if acked < self.plan.spans:
            self.results.problems.append(f"ingest: {acked:,} of {self.plan.spans:,} spans acknowledged "
                                         f"within {limit:.0f} s")

    def settle(self, acked: int) -> None:
        """Waits until every acknowledged span is in a block and compaction has nothing left to
        merge, within the plan's timeout."""
        t0 = time.monotonic()
        deadline = t0 + self.plan.settle_timeout
        blocks = read_blocks(self.data)
        while time.monotonic() < deadline:
            if sum(b["spans"] for b in blocks) >= acked and not compaction_pending(blocks):
                time.sleep(1.0)  # a merge may have just started; settled means unchanged since
                again = read_blocks(self.data)
                if again == blocks:
                    break
                blocks = again
                continue
            time.sleep(1.0)
            blocks = read_blocks(self.data)
        else:
            self.results.problems.append(f"the store did not settle within {self.plan.settle_timeout:.0f} s")
        spans = sum(b["spans"] for b in blocks)
        parquet = sum(b["parquet_bytes"] for b in blocks)
        meta = sum(b["meta_bytes"] for b in blocks)
        wal = sum(f.stat().st_size for f in (self.data / "wal").glob("*") if f.is_file())
        self.results.disk = {
            "settle_s": time.monotonic() - t0, "blocks": len(blocks), "spans": spans, "parquet_bytes": parquet,
            "meta_bytes": meta, "wal_bytes": wal,
            "bytes_per_span": parquet / spans if spans else float("nan"),
            "bytes_per_span_with_meta": (parquet + meta) / spans if spans else float("nan"),
        }
        d = self.results.disk
        print(f"  settled in {d['settle_s']:.1f} s: {spans:,} spans in {len(blocks)} blocks, "
              f"{d['bytes_per_span']:.1f} B/span ({d['bytes_per_span_with_meta']:.1f} with the metas), "
              f"WAL {wal:,} B", flush=True)
        if spans < acked:
            self.results.problems.append(f"blocks hold {spans:,} of {acked:,} acknowledged spans")

    def query(self, ports: dict[str, int], label: str, args: list[str], requests: int) -> None:
        base = ["query", "--url", f"http://127.0.0.1:{ports['query']}", "--ids", str(self.ids),
                "--requests", str(requests), "--duration", f"{self.plan.phase_limit:g}s",
                "--warmup", f"{self.plan.query_warmup:g}s"]
        load = loadavg()
        summary = self.loadgen(base + args, self.plan.phase_limit + self.plan.query_warmup, label)
        summary["load"] = load
        self.results.queries.append((label, summary))
        latency = summary["latency_ms"]
        extra = ""
        if summary["mode"] == "search":
            answered = max(1, summary["requests"] - summary["errors"])
            extra = (f", {summary['traces_returned'] / answered:.1f} traces per search, "
                     f"{summary['searches_without_results']} without any")
        print(f"  {label}: {summary['requests']} requests, p50 {latency['p50']:.2f} p99 {latency['p99']:.2f} "
              f"max {latency['max']:.2f} ms, {summary['errors']} errors, {status_text(summary['by_status'])}"
              f"{extra}, load {load}", flush=True)
        if not summary["requests"]:
            self.results.problems.append(f"{label}: no request was answered")
        if summary["errors"]:
            self.results.problems.append(f"{label}: {summary['errors']} answers were not the expected one")

    def run(self) -> None:
        proc, ports = self.start()
        try:
            self.ingest(ports, proc.pid)
            self.settle(self.results.ingest["summary"]["spans_acknowledged"])
            self.query(ports, "by ID", ["--mode", "by-id", "--unknown", "0.1"], self.plan.by_id_requests)
            for label, tag in SEARCHES:
                self.query(ports, f"search, {label} {tag}", ["--mode", "search", "--tag", tag],
                           self.plan.search_requests)
            self.results.server = {"peak_rss_mib": status_mib(proc.pid, "VmHWM"),
                                   "rss_mib": status_mib(proc.pid, "VmRSS"), "cpu_s": cpu_seconds(proc.pid)}
        finally:
            stop(proc)


def read_blocks(data: Path) -> list[dict]:
    """The blocks whose meta file exists (the store writes the Parquet file first), by ID."""
    blocks = []
    for meta_file in sorted((data / "blocks").glob("*.meta.json")):
        parquet = meta_file.with_name(meta_file.name.removesuffix(".meta.json") + ".parquet")
        try:
            meta = json.loads(meta_file.read_text())
            blocks.append({"id": meta["id"], "spans": meta["span_count"], "min_time": meta["min_time"],
                           "meta_bytes": meta_file.stat().st_size, "parquet_bytes": parquet.stat().st_size})
        except (OSError, ValueError, KeyError):
            continue  # deleted by compaction while being read
    return blocks


def compaction_pending(blocks: list[dict]) -> bool:
    """Whether the store's compaction would still merge: two blocks under its span limit whose
    spans start in the same window (as `Inner::compact` groups them)."""
    small: dict[int, int] = {}
    for block in blocks:
        if block["spans"] < COMPACTION_MAX_SPANS:
            window = block["min_time"] // COMPACTION_WINDOW_NS
            small[window] = small.get(window, 0) + 1
    return any(count >= 2 for count in small.values())


def status_text(by_status: dict) -> str:
    return ", ".join(f"{key} {count:,}" for key, count in sorted(by_status.items())) or "no answers"


def report(bench: Bench) -> str:
    r = bench.results
    ingest = r.ingest["summary"]
    disk = r.disk
    queries = dict(r.queries)
    by_id = queries["by ID"]
    searches = [(label, s) for label, s in r.queries if s["mode"] == "search"]

    def latency(s: dict) -> str:
        ms = s["latency_ms"]
        return f"{ms['p50']:.2f} / {ms['p99']:.2f} / {ms['max']:.2f} ms"

    def search_results(s: dict) -> str:
        answered = max(1, s["requests"] - s["errors"])
        return (f"{s['requests']} searches, {s['traces_returned'] / answered:.1f} traces each, "
                f"{s['searches_without_results']} with none")

    rows = [
        "| measure | figure | target (issue 4) |",
        "| --- | --- | --- |",
        f"| ingest, OTLP gRPC, {bench.plan.concurrency} workers, spans acknowledged per second | "
        f"**{ingest['spans_per_sec']:,.0f}** ({ingest['spans_acknowledged']:,} spans in "
        f"{ingest['duration_secs']:.1f} s; then {disk['settle_s']:.0f} s until the last cut and compaction "
        f"were done) | ≥ {TARGETS['ingest']:,} |",
        f"| ingest requests by status; latency p50 / p99 | {status_text(ingest['by_status'])}; "
        f"{ingest['latency_ms']['p50']:.1f} / {ingest['latency_ms']['p99']:.1f} ms | — |",
        f"| bytes per span on disk after compaction | **{disk['bytes_per_span']:.1f} B** "
        f"({disk['parquet_bytes']:,} B of Parquet in {disk['blocks']} blocks, {disk['spans']:,} spans; "
        f"{disk['bytes_per_span_with_meta']:.1f} B with the meta files; WAL left {disk['wal_bytes']:,} B) | "
        f"≤ {TARGETS['bytes_per_span']:.0f} B |",
        f"| trace by ID, p50 / p99 / max | **{latency(by_id)}** ({by_id['known_lookups']} listed, "
        f"{by_id['unknown_lookups']} unknown, {by_id['errors']} errors) | p99 < {TARGETS['by_id_p99']:.0f} ms |",
    ]
    for label, s in searches:
        rows.append(f"| {label.replace('search, ', 'search, service + ')}, 1 h, limit 20, p50 / p99 / max | "
                    f"**{latency(s)}** "
                    f"({search_results(s)}, {s['errors']} errors) | p99 < {TARGETS['search_p99']:.0f} ms |")
    rows.append(f"| spoor peak RSS; CPU s while ingesting | {r.server['peak_rss_mib']:,.0f} MiB "
                f"({r.ingest['peak_rss_mib']:,.0f} MiB at the end of the load); {r.ingest['cpu_s']:.0f} s | — |")
    return "\n".join(rows)


def verdicts(bench: Bench) -> str:
    r = bench.results
    searches = [s for _, s in r.queries if s["mode"] == "search"]
    met = {
        "ingest": r.ingest["summary"]["spans_per_sec"] >= TARGETS["ingest"],
        "bytes per span": r.disk["bytes_per_span"] <= TARGETS["bytes_per_span"],
        "by-ID p99": dict(r.queries)["by ID"]["latency_ms"]["p99"] < TARGETS["by_id_p99"],
        "search p99": all(s["latency_ms"]["p99"] < TARGETS["search_p99"] for s in searches),
    }
    return ("Targets met: " + (", ".join(k for k, v in met.items() if v) or "none") + ". Not met: "
            + (", ".join(k for k, v in met.items() if not v) or "none") + ".")


def results_section(bench: Bench, table: str, argv: list[str]) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "bench", "crates"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    plan, r = bench.plan, bench.results
    commands = "\n".join(["```sh", shlex.join(["bench/store.sh", *argv]), "# which ran:", *bench.commands, "```"])
    text = [
        "",
        f"## {now:%Y-%m-%d %H:%M} UTC — bench/store.sh: the embedded store at {plan.spans:,} spans, "
        "through OTLP and the Jaeger API (issue 4)",
        "",
        f"Machine: {machine()}. spoor at {commit or 'unknown commit'}"
        f"{' (with uncommitted changes under bench/ or crates/)' if dirty else ''}, {PROFILE_DIR.name} build. "
        f"Cores: {bench.cpus.describe()}. Loopback only. Load average at the start of each phase: ingest "
        f"{r.ingest['load']}; " + "; ".join(f"{label} {s['load']}" for label, s in r.queries) + ".",
        "",
        f"One spoor, `otlp` (gRPC) → `batch` → `jaeger_storage_exporter` → `embedded` (WAL `sync: always`, "
        f"`max_block_spans: {plan.max_block_spans}`, `block_duration: {plan.block_duration}` so that the tail "
        f"of the load is cut soon after it, `maintenance_interval: {plan.maintenance_interval}`, other "
        "settings default) and `jaeger_query` on HTTP. The load tool sends the generator's requests "
        "(100 spans each, ~570 B a span, 8 services) with `--unique-traces`: each request's trace IDs are its "
        f"own and its times move back by a shift spread evenly over the last {SPREAD}. Then it waits until "
        "every acknowledged span is in a block and compaction has nothing left to merge; bytes per span are "
        "the blocks' Parquet files over the spans they hold. By ID: the listed first trace of acknowledged "
        "requests, and 1 in 10 random IDs that must get 404, one request at a time, after a "
        f"{plan.query_warmup:g} s warmup. Search: a random service of the 8, one tag, a random one-hour window "
        "inside the data's time range, limit 20, one at a time; every answer is checked (a listed trace "
        "comes back, an unknown one is 404, a search is 200).",
        "",
        commands,
        "",
        table,
        "",
        verdicts(bench),
        "",
    ]
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~20k spans and a few queries; writes nothing")
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to ingest (default 10,000,000)")
    args = parser.parse_args()
    if not 1_000 <= args.spans <= 100_000_000:
        parser.error("--spans must be from 1,000 to 100,000,000")
    plan = quick_plan() if args.quick else full_plan(args.spans)
    for binary in (SPOOR, LOADGEN):
        if not binary.exists():
            print(f"error: {binary} is missing; run bench/store.sh, which builds it", file=sys.stderr)
            return 1
    cpus = pick_cpus()
    print(f"==> spoor embedded store, {plan.spans:,} spans: {cpus.describe()}")
    print(f"    machine: {machine()}; load average at start {loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="spoor-store-") as tmp:
        bench = Bench(plan, cpus, Path(tmp))
        try:
            bench.run()
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            log = Path(tmp) / "spoor.log"
            tail = log.read_text().splitlines()[-20:] if log.exists() else []
            print("\n".join(["error: " + str(error), "spoor's log ends with:", *tail]), file=sys.stderr)
            return 1
        table = report(bench)
    table += "\n\n" + ("A smoke run: no target is judged." if plan.quick else verdicts(bench))
    problems = bench.results.problems
    publish(table, problems, None if plan.quick else lambda: results_section(bench, report(bench), sys.argv[1:]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
