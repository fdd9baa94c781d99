#!/usr/bin/env python3
"""Ingest throughput of spoor per protocol, with the bench load tool (issue 5).

Run it through bench/ingest.sh, which builds the binaries first.

For each protocol (OTLP gRPC and HTTP, Jaeger gRPC, Thrift HTTP and the agent's UDP compact and
binary Thrift, Zipkin v2 JSON and protobuf) it starts a fresh spoor with every receiver on
127.0.0.1, `otlp, jaeger, zipkin -> batch -> nop`, pinned to CPU 0, warms it up, then runs
spoor-loadgen pinned to CPU 1 at a fixed concurrency as fast as the server answers. Spans
accepted are read from spoor's `otelcol_receiver_accepted_spans_total` for the protocol's
receiver and transport (spoor-loadgen --metrics), so UDP, which has no answer, is counted as the
server saw it; the sent spans it does not account for are the UDP loss. Server CPU is utime +
stime from /proc/PID/stat over the measured run. Standard library only; the process helpers come
from bench/compare.py.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import compare
from compare import (LOADGEN, RESULTS, ROOT, SPOOR, cpu_seconds, loadavg, loadgen_command, pick_cpus, publish, run_loadgen, stop,
                     wait_for_port)

HEADING = "## Ingest throughput per protocol (issue 5)"

# (--protocol, port key in the config, what the table calls it)
PROTOCOLS = [
    ("grpc", "otlp_grpc", "OTLP gRPC"),
    ("http", "otlp_http", "OTLP HTTP protobuf"),
    ("jaeger-grpc", "jaeger_grpc", "Jaeger gRPC (api_v2 PostSpans)"),
    ("jaeger-thrift-http", "jaeger_http", "Jaeger Thrift binary over HTTP (/api/traces)"),
    ("jaeger-udp-compact", "jaeger_compact", "Jaeger agent UDP, compact Thrift"),
    ("jaeger-udp-binary", "jaeger_binary", "Jaeger agent UDP, binary Thrift"),
    ("zipkin-json", "zipkin", "Zipkin v2 JSON"),
    ("zipkin-proto", "zipkin", "Zipkin v2 protobuf"),
    ("zipkin-v1-json", "zipkin", "Zipkin v1 JSON"),
    ("zipkin-v1-thrift", "zipkin", "Zipkin v1 Thrift"),
]
UDP = {"jaeger-udp-compact", "jaeger-udp-binary"}
# UDP is also sent at this fraction of what the server accepted when flooded.
PACED_FRACTION = 0.5

CONFIG = """\
# Written by bench/ingest.py: every receiver on loopback -> batch -> nop.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
      http:
        endpoint: 127.0.0.1:{otlp_http}
  jaeger:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{jaeger_grpc}
      thrift_http:
        endpoint: 127.0.0.1:{jaeger_http}
      thrift_compact:
        endpoint: 127.0.0.1:{jaeger_compact}
      thrift_binary:
        endpoint: 127.0.0.1:{jaeger_binary}
  zipkin:
    endpoint: 127.0.0.1:{zipkin}
processors:
  batch:
exporters:
  nop:
service:
  pipelines:
    traces:
      receivers: [otlp, jaeger, zipkin]
      processors: [batch]
      exporters: [nop]
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
"""
TCP_PORTS = ["otlp_grpc", "otlp_http", "jaeger_grpc", "jaeger_http", "zipkin", "metrics"]
UDP_PORTS = ["jaeger_compact", "jaeger_binary"]


@dataclass
class Plan:
    quick: bool
    duration: float
    warmup: float
    concurrency: int


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoint(protocol: str, port: int) -> str:
    return f"127.0.0.1:{port}" if protocol in UDP else f"http://127.0.0.1:{port}"


class Bench:
    def __init__(self, plan: Plan, cpus: compare.Cpus, workdir: Path):
        self.plan = plan
        self.cpus = cpus
        self.workdir = workdir
        self.commands: list[str] = []
        self.rows: list[dict] = []
        self.problems: list[str] = []

    def note(self, command: list[str]) -> None:
        # Recorded without the free ports and temporary paths, so each distinct command shows once.
        text = shlex.join(command).replace(f"{ROOT}/", "").replace(str(self.workdir), "$TMP")
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
        if text not in self.commands:
            self.commands.append(text)

    def start(self, protocol: str) -> tuple[subprocess.Popen, dict[str, int]]:
        ports = {key: compare.free_port() for key in TCP_PORTS}
        ports.update({key: free_udp_port() for key in UDP_PORTS})
        config = self.workdir / "spoor-ingest.yaml"
        config.write_text(CONFIG.format(**ports))
        cmd = ["taskset", "-c", self.cpus.server, str(SPOOR), "--config", str(config)]
        self.note(cmd)
        log = (self.workdir / f"spoor-{protocol}.log").open("w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            for key in TCP_PORTS:
                wait_for_port(ports[key], proc, "spoor")
        except Exception:
            stop(proc)
            raise
        return proc, ports

    def loadgen(self, protocol: str, ports: dict[str, int], port_key: str, duration: float,
                rate: int | None = None, record: bool = True) -> dict:
        args = ["--protocol", protocol, "--endpoint", endpoint(protocol, ports[port_key]),
                "--concurrency", str(self.plan.concurrency), "--metrics", f"127.0.0.1:{ports['metrics']}"]
        cmd = loadgen_command(self.cpus.load, args, duration, rate)
        if record:
            self.note(cmd)
        return run_loadgen(cmd, duration, protocol)

    def measure(self, protocol: str, port_key: str, label: str, rate: int | None = None) -> dict:
        proc, ports = self.start(protocol)
        try:
            pid = proc.pid
            # Warm up in a run of its own so the measured window holds only measured spans.
            self.loadgen(protocol, ports, port_key, self.plan.warmup, rate=rate, record=False)
            time.sleep(0.5)
            load = loadavg()
            before = cpu_seconds(pid)
            summary = self.loadgen(protocol, ports, port_key, self.plan.duration, rate=rate)
            cpu = cpu_seconds(pid) - before
            server = summary.get("server") or {}
            accepted = server.get("accepted_spans", 0)
            sent = summary["spans_sent"]
            row = {
                "protocol": protocol, "label": label, "rate": rate,
                "bytes_per_span": summary["encoded_bytes_per_span"], "spans_per_body": summary["spans_per_body"],
                "accepted_per_sec": summary.get("server_accepted_spans_per_sec") or 0.0,
                "sent_per_sec": sent / summary["duration_secs"] if summary["duration_secs"] else 0.0,
                "loss_pct": (sent - accepted) / sent * 100 if sent and accepted <= sent else 0.0,
                "requests_per_sec": summary["requests_per_sec"], "failed": summary["requests_failed"],
                "by_status": summary["by_status"],
                "p50": summary["latency_ms"]["p50"], "p99": summary["latency_ms"]["p99"],
                "cpu_s_per_m": cpu / accepted * 1e6 if accepted else float("nan"),
                "load": load, "udp": protocol in UDP,
            }
            if rate and protocol not in UDP and summary.get("target_reached") is False:
                self.problems.append(f"{protocol}: the target of {rate} spans/s was not reached")
            if summary["requests_failed"]:
                self.problems.append(f"{protocol}: {summary['requests_failed']} requests failed: {summary['by_status']}")
            if not accepted:
                self.problems.append(f"{protocol}: the server accepted no span")
            elif protocol not in UDP and accepted < summary["spans_acknowledged"]:
                self.problems.append(f"{protocol}: the server counted {accepted} of "
                                     f"{summary['spans_acknowledged']} acknowledged spans")
            return row
        finally:
            stop(proc)

    def run(self) -> None:
        for protocol, port_key, label in PROTOCOLS:
            row = self.measure(protocol, port_key, label)
            self.show(row)
            if protocol in UDP and not self.plan.quick and row["accepted_per_sec"] > 0:
                # Flooding only says what the server keeps while it drops; also send at a fixed
                # rate below that, to show the loss at a rate the server can take.
                rate = int(row["accepted_per_sec"] * PACED_FRACTION) // 1000 * 1000 or 1000
                self.show(self.measure(protocol, port_key, label, rate=rate))

    def show(self, row: dict) -> None:
        self.rows.append(row)
        protocol = row["protocol"] + (f" @{row['rate']}/s" if row["rate"] else "")
        print(f"  {protocol:19} {row['accepted_per_sec']:>10,.0f} spans/s accepted  "
                  f"{row['sent_per_sec']:>10,.0f} sent  {row['requests_per_sec']:>8,.0f} req/s  "
                  f"p50 {row['p50']:7.2f} p99 {row['p99']:7.2f} ms  {row['cpu_s_per_m']:6.2f} CPU s/M spans  "
                  f"load {row['load']}", flush=True)


def table(bench: Bench) -> str:
    out = [
        "| protocol | B/span on the wire | spans/body | spans/s accepted | spans/s sent | not accepted | "
        "requests/s | p50 ms | p99 ms | server CPU s per M spans | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in bench.rows:
        latency = ("- (no reply)", "-") if r["udp"] else (f"{r['p50']:.2f}", f"{r['p99']:.2f}")
        paced = f", at a fixed {r['rate']:,} spans/s" if r["rate"] else ""
        out.append(f"| {r['label']} (`{r['protocol']}`{paced}) | {r['bytes_per_span']:.0f} | {r['spans_per_body']:.0f} | "
                   f"{r['accepted_per_sec']:,.0f} | {r['sent_per_sec']:,.0f} | {r['loss_pct']:.1f} % | "
                   f"{r['requests_per_sec']:,.0f} | {latency[0]} | {latency[1]} | {r['cpu_s_per_m']:.2f} | "
                   f"{r['load']} |")
    return "\n".join(out)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{model}, nproc {os.cpu_count()}; {rustc}"


def results_section(bench: Bench, report: str, argv: list[str]) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "bench", "crates"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    existing = RESULTS.read_text()
    text = [] if HEADING in existing else ["", HEADING]
    text += [
        "",
        f"### {now:%Y-%m-%d %H:%M} UTC — bench/ingest.sh",
        "",
        f"Machine: {machine()}. spoor at {commit or 'unknown commit'}"
        f"{' (with uncommitted changes under bench/ or crates/)' if dirty else ''}. Cores: {bench.cpus.describe()}. "
        f"Loopback only. Each protocol: a fresh spoor with every receiver (`otlp`, `jaeger` with all four "
        f"protocols, `zipkin`) -> `batch` -> `nop`, a {bench.plan.warmup:g} s warmup run, then "
        f"{bench.plan.duration:g} s measured at concurrency {bench.plan.concurrency}, as fast as the server answers "
        "(UDP: as fast as the kernel takes datagrams). Spans accepted are spoor's "
        "`otelcol_receiver_accepted_spans_total` for the protocol's receiver and transport over the measured run; "
        "\"not accepted\" is the share of sent spans the server did not count (UDP loss; the UDP receivers use "
        "their default queue of 1000 datagrams and the system's default socket buffer); each UDP protocol is "
        f"also sent at a fixed rate of {PACED_FRACTION:.0%} of what it accepted when flooded. Bytes per span are the "
        "encoded body before compression. The same generated spans (pool of 64 requests of 100 spans; UDP: "
        "requests of 1000 spans split into datagrams of as many spans as fit in 65,000 bytes) are converted to "
        "each encoding once at start.",
        "",
        "```sh",
        shlex.join(["bench/ingest.sh", *argv]),
        "# which ran, per protocol:",
        *bench.commands,
        "```",
        "",
        report,
        "",
    ]
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 s per protocol; writes nothing")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per protocol (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="load tool workers (default 8)")
    args = parser.parse_args()
    if args.concurrency < 1 or (args.duration is not None and not 0 < args.duration <= 600):
        parser.error("--concurrency must be at least 1 and --duration in (0, 600]")
    duration = args.duration or (2.0 if args.quick else 10.0)
    plan = Plan(args.quick, duration, 0.5 if args.quick else 2.0, args.concurrency)
    for binary in (SPOOR, LOADGEN):
        if not binary.exists():
            print(f"error: {binary} is missing; run bench/ingest.sh, which builds it", file=sys.stderr)
            return 1
    cpus = pick_cpus()
    print(f"==> spoor ingest per protocol: {cpus.describe()}")
    print(f"    machine: {machine()}; load average at start {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="spoor-ingest-") as tmp:
        bench = Bench(plan, cpus, Path(tmp))
        bench.run()
    report = table(bench)
    publish(report, bench.problems, None if plan.quick else lambda: results_section(bench, report, sys.argv[1:]))
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
