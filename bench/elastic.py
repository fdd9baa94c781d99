#!/usr/bin/env python3
"""The elasticsearch backend's benchmark: bulk ingest and search latency against osmem-server.

spoor runs otlp -> batch -> jaeger_storage_exporter -> elasticsearch (osmem-server, on
loopback) with jaeger_query; spoor-loadgen sends OTLP gRPC for --seconds and then times traces
by ID and searches through the Jaeger HTTP API. The figures say how fast spoor drives the
_bulk and _search APIs and how its reads are shaped; osmem-server is an in-memory Go engine,
not Lucene, so they are no forecast of a real Elasticsearch cluster.

Usage: bench/elastic.sh [--seconds N] [--quick]; the result is appended to bench/RESULTS.md
unless --quick.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = os.environ.get("SPOOR_BENCH_PROFILE", "release")
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / PROFILE
SPOOR, LOADGEN = TARGET / "spoor", TARGET / "spoor-loadgen"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def osmem_binary() -> str:
    if os.environ.get("OSMEM_SERVER"):
        return os.environ["OSMEM_SERVER"]
    python = ROOT / ".venv" / "bin" / "python"
    code = "import os, osmem_server; print(os.path.join(os.path.dirname(osmem_server.__file__), 'bin', 'osmem-server'))"
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def config(es_url: str, grpc: int, query: int, metrics: int) -> str:
    return f"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: es
extensions:
  jaeger_storage:
    backends:
      es:
        elasticsearch:
          server_urls: [{es_url}]
          indices:
            index_prefix: bench
            spans: {{shards: 1, replicas: 0}}
            services: {{shards: 1, replicas: 0}}
  jaeger_query:
    storage:
      traces: es
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{free_port()}
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


def loadgen(args: list[str], limit: float) -> dict:
    done = subprocess.run([str(LOADGEN), *args, "--json"], capture_output=True, text=True, timeout=limit + 60)
    if done.returncode != 0:
        raise RuntimeError(f"spoor-loadgen {' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="ingest duration (default 30)")
    parser.add_argument("--quick", action="store_true", help="a 3 s smoke run; nothing is recorded")
    opts = parser.parse_args()
    seconds = 3.0 if opts.quick else opts.seconds
    work = Path(tempfile.mkdtemp(prefix="spoor-elastic-bench-"))
    osmem = subprocess.Popen([osmem_binary(), "--addr", "127.0.0.1:0", "--no-stdin-watch", "--no-ja"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    es_url = json.loads(osmem.stdout.readline())["url"]
    grpc, query, metrics = free_port(), free_port(), free_port()
    (work / "config.yaml").write_text(config(es_url, grpc, query, metrics))
    spoor = subprocess.Popen([str(SPOOR), "--config", str(work / "config.yaml")],
                             stdout=(work / "stdout.log").open("wb"), stderr=(work / "stderr.log").open("wb"))
    try:
        wait_port(grpc)
        wait_port(query)
        ids = work / "ids.txt"
        ingest = loadgen(["--protocol", "grpc", "--endpoint", f"http://127.0.0.1:{grpc}", "--concurrency", "8",
                          "--warmup", "0s", "--unique-traces", "--duration", f"{seconds:g}s",
                          "--refused-backoff", "20ms", "--trace-ids-out", str(ids)], seconds)
        print(f"ingest: {ingest['spans_acknowledged']:,} spans acknowledged in {ingest['duration_secs']:.1f} s, "
              f"{ingest['spans_per_sec']:,.0f} spans/s, p99 {ingest['latency_ms']['p99']:.1f} ms, "
              f"errors {ingest.get('errors', 0)}", flush=True)
        queries = []
        query_secs = 2.0 if opts.quick else 10.0
        base = ["query", "--url", f"http://127.0.0.1:{query}", "--ids", str(ids), "--duration", f"{query_secs:g}s",
                "--warmup", "0s", "--concurrency", "2"]
        for label, args in [("trace by ID", ["--mode", "by-id"]),
                            ("search, service only", ["--mode", "search", "--service", "frontend", "--limit", "20"]),
                            ("search, service + tag", ["--mode", "search", "--service", "frontend",
                                                       "--tag", "http.method=GET", "--limit", "20"])]:
            summary = loadgen(base + args, query_secs)
            latency = summary["latency_ms"]
            queries.append((label, summary))
            print(f"{label}: {summary['requests']} requests, p50 {latency['p50']:.1f} p99 {latency['p99']:.1f} ms, "
                  f"{summary['errors']} errors", flush=True)
        problems = [label for label, s in queries if s["errors"]]
        if ingest["spans_acknowledged"] == 0:
            problems.append("no span acknowledged")
        if problems:
            print(f"problems: {problems}; spoor's log: {work / 'stderr.log'}", file=sys.stderr)
            return 1
        if not opts.quick:
            record(seconds, ingest, queries)
        return 0
    finally:
        spoor.terminate()
        spoor.wait(timeout=60)
        osmem.kill()
        osmem.wait(timeout=10)


def record(seconds: float, ingest: dict, queries: list[tuple[str, dict]]) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    lines = [f"\n## elasticsearch backend against osmem-server ({now})\n",
             f"`bench/elastic.sh --seconds {seconds:g}` on {machine}; spoor {PROFILE}, osmem-server 0.1.6 on "
             "loopback, OTLP gRPC from spoor-loadgen (8 workers). **osmem-server is an in-memory Go engine, "
             "not Lucene**: these figures show spoor's side of _bulk and _search, not what a real cluster "
             "would do.\n",
             "| measure | figure |", "| --- | --- |",
             f"| bulk ingest, acknowledged | **{ingest['spans_per_sec']:,.0f} spans/s** "
             f"({ingest['spans_acknowledged']:,} spans in {ingest['duration_secs']:.1f} s, request p99 "
             f"{ingest['latency_ms']['p99']:.1f} ms) |"]
    for label, s in queries:
        latency = s["latency_ms"]
        lines.append(f"| {label}, p50 / p99 | **{latency['p50']:.1f} / {latency['p99']:.1f} ms** "
                     f"({s['requests']} requests, {s['errors']} errors) |")
    with (ROOT / "bench" / "RESULTS.md").open("a") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
