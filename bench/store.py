#!/usr/bin/env python3
"""The embedded store through spoor's real APIs, with the bench load tool (issues 4 and 13).

Run it through bench/store.sh, which builds the binaries first.

It starts spoor with `otlp (gRPC) -> batch -> jaeger_storage_exporter` into an embedded store in
a temporary directory and `jaeger_query` on loopback, then drives it with spoor-loadgen. Both
share the machine's cores, as issue 13 measures (the load tool on the same machine; the store
builds blocks on several threads); `--pin` pins spoor to the first CPU and the load tool to
the second instead, as the runs before 2026-12-03 19:30 did. Then:

1. ingests N spans over OTLP gRPC with the generator's realistic, varied requests
   (`--unique-traces`: every request has trace IDs of its own, and its start times are spread
   evenly over the last 4 hours), listing the first trace of every acknowledged request; if
   that took less than a minute, it goes on ingesting (another seed) until the phase has lasted
   60 s, so that the rate is one sustained over 60 s; spoor's peak RSS is read at the end;
2. waits until the head is cut into blocks and compaction has nothing left to merge (the
   `blocks/*.meta.json` files say so), and measures bytes per span on disk;
3. looks traces up by ID (`GET /api/traces/{id}`: listed traces, and 1 in 10 unknown IDs that
   must get 404) with the store idle, then the four searches of issue 13 over one-hour windows
   with limit 20 (`GET /api/traces?service=..[&operation=..][&tags=..]&start=..&end=..`):
   service only, service + operation, service + a common tag, service + a rare tag;
4. looks traces up by ID again while a second load tool ingests 100k spans/s (open loop).

The full run appends its figures to bench/RESULTS.md next to issue 13's targets; --quick
ingests ~20k spans with small blocks and checks only that every phase got answers. Standard
library only; the process helpers come from bench/compare.py.
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
                     pick_cpus, publish, shared_cpus, status_mib, stop, wait_for_port)

TARGETS = {"ingest": 300_000, "peak_rss_mib": 512, "bytes_per_span": 40.0, "by_id_p99": 5.0, "search_p99": 100.0}
# (label, loadgen arguments): issue 13's four searches. The operation is a server root span name
# every service uses; the common tag is on about 18 % of all spans (most traces have one), the
# rare one on 3 % of the server spans (about 0.3 % of all spans).
SEARCHES = [
    ("search, service only", []),
    ("search, service + operation GET /api/cart", ["--operation", "GET /api/cart"]),
    ("search, service + common tag http.method=GET", ["--tag", "http.method=GET"]),
    ("search, service + rare tag http.status_code=500", ["--tag", "http.status_code=500"]),
]
SPREAD = "4h"
COMPACTION_WINDOW_NS = 3600 * 10**9  # the store's default compaction_window
COMPACTION_MAX_SPANS = 2_000_000  # and compaction_max_spans

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
    ingest_min_secs: float  # the ingest phase lasts at least this long
    busy_rate: int  # spans/s of the ingest under which by-ID is timed again
    busy_secs: float


def full_plan(spans: int) -> Plan:
    return Plan(False, spans, 32, "1m", 250_000, "1m", 1200.0, 2000, 200, 5.0, 300.0, 60.0, 100_000, 40.0)


def quick_plan() -> Plan:
    return Plan(True, 20_000, 8, "1s", 5_000, "1s", 60.0, 40, 5, 0.0, 20.0, 0.0, 2_000, 6.0)


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

    def ingest_args(self, ports: dict[str, int], seed: int, concurrency: int) -> list[str]:
        """spoor-loadgen's arguments for OTLP gRPC ingest of the generator's requests, every
        request with trace IDs of its own and times spread over SPREAD."""
        return ["--protocol", "grpc", "--endpoint", f"http://127.0.0.1:{ports['grpc']}",
                "--concurrency", str(concurrency), "--warmup", "0s", "--unique-traces", "--spread-start", SPREAD,
                "--seed", str(seed), "--refused-backoff", "20ms"]

    def ingest(self, ports: dict[str, int], pid: int) -> None:
        limit = max(60.0, self.plan.spans / 5_000)
        args = [*self.ingest_args(ports, 1, self.plan.concurrency), "--duration", f"{limit:.0f}s",
                "--acknowledged-spans", str(self.plan.spans), "--trace-ids-out", str(self.ids)]
        load, before = loadavg(), cpu_seconds(pid)
        summary = self.loadgen(args, limit, "ingest")
        acked, secs = summary["spans_acknowledged"], summary["duration_secs"]
        print(f"  ingest: {acked:,} spans acknowledged in {secs:.1f} s, "
              f"{summary['spans_per_sec']:,.0f} spans/s, p99 {summary['latency_ms']['p99']:.1f} ms, "
              f"{status_text(summary['by_status'])}, load {load}", flush=True)
        if acked < self.plan.spans:
            self.results.problems.append(f"ingest: {acked:,} of {self.plan.spans:,} spans acknowledged "
                                         f"within {limit:.0f} s")
        total_spans, total_secs = acked, secs
        if secs < self.plan.ingest_min_secs:
            # Go on (other trace IDs: another seed) until the phase has lasted the minimum, so
            # that the rate judged is one sustained that long.
            more = self.workdir / "trace-ids-more.txt"
            rest = self.plan.ingest_min_secs - secs
            top_up = self.loadgen([*self.ingest_args(ports, 2, self.plan.concurrency), "--duration", f"{rest:.1f}s",
                                   "--trace-ids-out", str(more)], rest, "ingest, continued")
            with self.ids.open("a") as ids:
                ids.writelines(line for line in more.read_text().splitlines(keepends=True) if not line.startswith("#"))
            total_spans += top_up["spans_acknowledged"]
            total_secs += top_up["duration_secs"]
            print(f"  ingest continued: {top_up['spans_acknowledged']:,} spans in {top_up['duration_secs']:.1f} s, "
                  f"{top_up['spans_per_sec']:,.0f} spans/s", flush=True)
        self.results.ingest = {
            "summary": summary, "load": load, "cpu_s": cpu_seconds(pid) - before,
            "peak_rss_mib": status_mib(pid, "VmHWM"), "spans": total_spans, "secs": total_secs,
            "sustained": total_spans / total_secs if total_secs else 0.0,
        }

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
        search = sum(b["search_bytes"] for b in blocks)
        meta = sum(b["meta_bytes"] for b in blocks)
        wal = sum(f.stat().st_size for f in (self.data / "wal").glob("*") if f.is_file())
        self.results.disk = {
            "settle_s": time.monotonic() - t0, "blocks": len(blocks), "spans": spans, "parquet_bytes": parquet,
            "search_bytes": search, "meta_bytes": meta, "wal_bytes": wal,
            # Everything a block keeps on disk: Parquet, search index and meta.
            "bytes_per_span": (parquet + search + meta) / spans if spans else float("nan"),
            "parquet_per_span": parquet / spans if spans else float("nan"),
            "search_per_span": search / spans if spans else float("nan"),
        }
        d = self.results.disk
        print(f"  settled in {d['settle_s']:.1f} s: {spans:,} spans in {len(blocks)} blocks, "
              f"{d['bytes_per_span']:.1f} B/span (Parquet {d['parquet_per_span']:.1f}, search index "
              f"{d['search_per_span']:.1f}), "
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

    def by_id_under_ingest(self, ports: dict[str, int]) -> None:
        """By-ID lookups while a second load tool ingests `busy_rate` spans/s (open loop, its own
        trace IDs), starting once that load has run for two seconds."""
        secs = self.plan.busy_secs
        cmd = ["taskset", "-c", self.cpus.load, str(LOADGEN),
               *self.ingest_args(ports, 3, 8), "--rate", str(self.plan.busy_rate), "--duration", f"{secs:g}s", "--json"]
        self.note(cmd)
        load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(2.0)
            label = f"by ID during {self.plan.busy_rate:,} spans/s of ingest"
            base = ["query", "--url", f"http://127.0.0.1:{ports['query']}", "--ids", str(self.ids),
                    "--mode", "by-id", "--unknown", "0.1", "--duration", f"{max(1.0, secs - 4):g}s"]
            summary = self.loadgen(base, secs, label)
            summary["load"] = loadavg()
            self.results.queries.append((label, summary))
            out, err = load.communicate(timeout=secs + 60)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        if load.returncode not in (0, 1) or not out.strip():
            raise RuntimeError(f"spoor-loadgen ingest under queries failed ({load.returncode}): {err.strip()}")
        ingest = json.loads(out.strip().splitlines()[-1])
        summary["ingest_spans_per_sec"] = ingest["spans_per_sec"]
        latency = summary["latency_ms"]
        print(f"  {label}: {summary['requests']} requests, p50 {latency['p50']:.2f} p99 {latency['p99']:.2f} "
              f"max {latency['max']:.2f} ms, {summary['errors']} errors; the ingest held "
              f"{ingest['spans_per_sec']:,.0f} spans/s ({status_text(ingest['by_status'])})", flush=True)
        if summary["errors"]:
            self.results.problems.append(f"{label}: {summary['errors']} answers were not the expected one")
        if ingest["spans_per_sec"] < 0.9 * self.plan.busy_rate:
            self.results.problems.append(f"{label}: the ingest reached only {ingest['spans_per_sec']:,.0f} spans/s")

    def run(self) -> None:
        proc, ports = self.start()
        try:
            self.ingest(ports, proc.pid)
            self.settle(self.results.ingest["spans"])
            self.query(ports, "by ID", ["--mode", "by-id", "--unknown", "0.1"], self.plan.by_id_requests)
            for label, args in SEARCHES:
                self.query(ports, label, ["--mode", "search", *args], self.plan.search_requests)
            self.by_id_under_ingest(ports)
            self.results.server = {"peak_rss_mib": status_mib(proc.pid, "VmHWM"),
                                   "rss_mib": status_mib(proc.pid, "VmRSS"), "cpu_s": cpu_seconds(proc.pid)}
        finally:
            stop(proc)


def read_blocks(data: Path) -> list[dict]:
    """The blocks whose meta file exists (the store writes the Parquet file first), by ID."""
    blocks = []
    for meta_file in sorted((data / "blocks").glob("*.meta.json")):
        stem = meta_file.name.removesuffix(".meta.json")
        parquet, search = meta_file.with_name(stem + ".parquet"), meta_file.with_name(stem + ".search")
        try:
            meta = json.loads(meta_file.read_text())
            blocks.append({"id": meta["id"], "spans": meta["span_count"], "min_time": meta["min_time"],
                           "meta_bytes": meta_file.stat().st_size, "parquet_bytes": parquet.stat().st_size,
                           "search_bytes": search.stat().st_size if search.exists() else 0})
        except (OSError, ValueError, KeyError):
            continue  # deleted by compaction while being read
    return blocks


TIER_BASE_SPANS = 16 * 1024  # the store's size tiers (`embedded/compaction.rs`)
TIER_FACTOR = 4


def tier(spans: int) -> int:
    """The size tier of a block of `spans` spans, as `compaction::tier` computes it."""
    quotient, level = spans // TIER_BASE_SPANS, 0
    if quotient == 0:
        return 0
    while quotient >= TIER_FACTOR:
        quotient //= TIER_FACTOR
        level += 1
    return level + 1


def compaction_pending(blocks: list[dict]) -> bool:
    """Whether the store's size-tiered compaction would still merge, as `compaction::plan`
    groups blocks: per window and size tier, in block order, runs of at least two blocks whose
    spans add up to at most its span limit."""
    tiers: dict[tuple[int, int], list[int]] = {}
    for block in blocks:
        if block["spans"] < COMPACTION_MAX_SPANS:
            key = (block["min_time"] // COMPACTION_WINDOW_NS, tier(block["spans"]))
            tiers.setdefault(key, []).append(block["spans"])
    for sizes in tiers.values():
        group, total = 0, 0
        for spans in sizes:
            if total + spans > COMPACTION_MAX_SPANS:
                if group >= 2:
                    return True
                group, total = 0, 0
            group, total = group + 1, total + spans
        if group >= 2:
            return True
    return False


def status_text(by_status: dict) -> str:
    return ", ".join(f"{key} {count:,}" for key, count in sorted(by_status.items())) or "no answers"


def report(bench: Bench) -> str:
    r = bench.results
    ingest = r.ingest["summary"]
    disk = r.disk
    queries = dict(r.queries)
    by_id = queries["by ID"]
    busy = [(label, s) for label, s in r.queries if label.startswith("by ID during")]
    searches = [(label, s) for label, s in r.queries if s["mode"] == "search"]

    def latency(s: dict) -> str:
        ms = s["latency_ms"]
        return f"{ms['p50']:.2f} / {ms['p99']:.2f} / {ms['max']:.2f} ms"

    def search_results(s: dict) -> str:
        answered = max(1, s["requests"] - s["errors"])
        return (f"{s['requests']} searches, {s['traces_returned'] / answered:.1f} traces each, "
                f"{s['searches_without_results']} with none")

    rows = [
        "| measure | figure | target (issue 13) |",
        "| --- | --- | --- |",
        f"| ingest, OTLP gRPC, {bench.plan.concurrency} workers, spans acknowledged per second over the phase | "
        f"**{r.ingest['sustained']:,.0f}** ({r.ingest['spans']:,} spans in {r.ingest['secs']:.1f} s; the first "
        f"{ingest['spans_acknowledged']:,} at {ingest['spans_per_sec']:,.0f} spans/s; then {disk['settle_s']:.0f} s "
        f"until the last cut and compaction were done) | ≥ {TARGETS['ingest']:,} over ≥ 60 s |",
        f"| spoor peak RSS during the ingest | **{r.ingest['peak_rss_mib']:,.0f} MiB** | "
        f"≤ {TARGETS['peak_rss_mib']} MiB |",
        f"| ingest requests by status; latency p50 / p99 | {status_text(ingest['by_status'])}; "
        f"{ingest['latency_ms']['p50']:.1f} / {ingest['latency_ms']['p99']:.1f} ms | — |",
        f"| bytes per span on disk after compaction | **{disk['bytes_per_span']:.1f} B** "
        f"(Parquet {disk['parquet_per_span']:.1f} B, search index {disk['search_per_span']:.1f} B, meta files "
        f"{disk['meta_bytes']:,} B in all; {disk['blocks']} blocks, {disk['spans']:,} spans; WAL left "
        f"{disk['wal_bytes']:,} B) | "
        f"≤ {TARGETS['bytes_per_span']:.0f} B |",
        f"| trace by ID, p50 / p99 / max | **{latency(by_id)}** ({by_id['known_lookups']} listed, "
        f"{by_id['unknown_lookups']} unknown, {by_id['errors']} errors) | p99 < {TARGETS['by_id_p99']:.0f} ms |",
    ]
    for label, s in busy:
        rows.append(f"| {label} (held {s['ingest_spans_per_sec']:,.0f}), p50 / p99 / max | **{latency(s)}** "
                    f"({s['known_lookups']} listed, {s['unknown_lookups']} unknown, {s['errors']} errors) | "
                    f"p99 < {TARGETS['by_id_p99']:.0f} ms |")
    for label, s in searches:
        rows.append(f"| {label}, 1 h, limit 20, p50 / p99 / max | "
                    f"**{latency(s)}** "
                    f"({search_results(s)}, {s['errors']} errors) | p99 < {TARGETS['search_p99']:.0f} ms |")
    rows.append(f"| spoor peak RSS over the whole run; CPU s while ingesting | {r.server['peak_rss_mib']:,.0f} MiB; "
                f"{r.ingest['cpu_s']:.0f} s | — |")
    return "\n".join(rows)


def verdicts(bench: Bench) -> str:
    r = bench.results
    searches = [s for _, s in r.queries if s["mode"] == "search"]
    by_id = [(label, s) for label, s in r.queries if label.startswith("by ID")]
    met = {
        "ingest": r.ingest["sustained"] >= TARGETS["ingest"] and r.ingest["secs"] >= 60,
        "peak RSS": r.ingest["peak_rss_mib"] <= TARGETS["peak_rss_mib"],
        "bytes per span": r.disk["bytes_per_span"] <= TARGETS["bytes_per_span"],
        "by-ID p99 idle": all(s["latency_ms"]["p99"] < TARGETS["by_id_p99"] for label, s in by_id if "ingest" not in label),
        "by-ID p99 under ingest": all(s["latency_ms"]["p99"] < TARGETS["by_id_p99"] for label, s in by_id if "ingest" in label),
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
        "through OTLP and the Jaeger API (issue 13)",
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
        f"own and its times move back by a shift spread evenly over the last {SPREAD}; if the spans took less "
        f"than {plan.ingest_min_secs:g} s, it goes on (another seed) until the phase has lasted that long, and "
        "the rate is the phase's. Then it waits until "
        "every acknowledged span is in a block and compaction has nothing left to merge; bytes per span are "
        "the blocks' Parquet, search index and meta files over the spans they hold. By ID: the listed first trace of acknowledged "
        "requests, and 1 in 10 random IDs that must get 404, one request at a time, after a "
        f"{plan.query_warmup:g} s warmup, idle and again while a second load tool ingests "
        f"{plan.busy_rate:,} spans/s (open loop). Search: a random service of the 8, alone, with an operation or "
        "with one tag, a random one-hour window inside the data's time range, limit 20, one at a time; every "
        "answer is checked (a listed trace comes back, an unknown one is 404, a search is 200).",
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
    parser.add_argument("--pin", action="store_true",
                        help="spoor on the first CPU, the load tool on the second (default: both share all CPUs)")
    args = parser.parse_args()
    if not 1_000 <= args.spans <= 100_000_000:
        parser.error("--spans must be from 1,000 to 100,000,000")
    plan = quick_plan() if args.quick else full_plan(args.spans)
    for binary in (SPOOR, LOADGEN):
        if not binary.exists():
            print(f"error: {binary} is missing; run bench/store.sh, which builds it", file=sys.stderr)
            return 1
    cpus = pick_cpus() if args.pin else shared_cpus()
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
