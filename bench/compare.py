#!/usr/bin/env python3
"""spoor against rotel on the pass-through path, with the bench load tool (issue 7).

Run it through bench/compare.sh, which builds the binaries and installs rotel first.

Each measurement starts a fresh server pinned to CPU 0, drives it with spoor-loadgen pinned
to CPU 1, and reads the server's CPU time (utime + stime in /proc/PID/stat) before and after
the measured run, and its peak RSS (VmHWM) at the end. The sink that stands in for a downstream
collector is spoor-loadgen's, also on CPU 1. Only loopback addresses are used. Standard library
only, so it runs with any python3.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# SPOOR_BENCH_PROFILE=debug runs the debug binaries: for the smoke in scripts/test.sh, which
# checks that the benchmark runs, not how fast.
PROFILE_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / os.environ.get("SPOOR_BENCH_PROFILE", "release")
SPOOR = PROFILE_DIR / "spoor"
LOADGEN = PROFILE_DIR / "spoor-loadgen"
RESULTS = ROOT / "bench" / "RESULTS.md"
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
DRAIN_TIMEOUT = 15.0


@dataclass
class Plan:
    """What one invocation measures."""

    quick: bool
    duration: float
    warmup: float
    rate_duration: float
    throughput: list[tuple[str, str, int]]  # (pipeline, protocol, concurrency)
    fixed_rate: list[tuple[str, str]]  # (pipeline, protocol)
    overload: list[tuple[str, str]]  # (pipeline, protocol)
    rate: int = 10_000
    overload_concurrency: int = 256


def loadgen_command(cpu: str, args: list[str], duration: float, rate: int | None = None) -> list[str]:
    """spoor-loadgen pinned to `cpu`, measuring for `duration` seconds (at `rate` spans/s if
    given), with its JSON summary on stdout."""
    cmd = ["taskset", "-c", cpu, str(LOADGEN), *args, "--duration", f"{duration}s", "--warmup", "0s", "--json"]
    return cmd + (["--rate", str(rate)] if rate else [])


def run_loadgen(cmd: list[str], duration: float, what: str) -> dict:
    """Runs a `loadgen_command` and returns its summary. Bounded: the tool stops after
    `duration`, plus its 10 s request timeout and at most 5 s of waiting for a server's count."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"spoor-loadgen {what} failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def full_plan() -> Plan:
    runs = [(p, proto, c) for p in ("nop", "sink") for proto, c in (("grpc", 8), ("grpc", 32), ("http", 32))]
    overload = [(p, proto) for p in ("nop", "sink", "stalled") for proto in ("grpc", "http")]
    return Plan(False, 10.0, 2.0, 20.0, runs, [("nop", "grpc"), ("nop", "http"), ("sink", "grpc")], overload)


def quick_plan() -> Plan:
    return Plan(True, 0.5, 0.2, 1.0, [("nop", "grpc", 8), ("sink", "http", 32)], [("nop", "grpc")],
                [("stalled", "http")])


@dataclass
class Cpus:
    server: str
    load: str

    def describe(self) -> str:
        if self.server == self.load and "," in self.server:
            return f"shared: server, load tool and sink all run on CPUs {self.server} (`taskset`)"
        if self.server == self.load:
            return f"one CPU only: server, load tool and sink all on CPU {self.server} (`taskset`)"
        return (
            f"server pinned to CPU {self.server}; load tool and sink pinned to CPU {self.load} (`taskset`)"
        )


def pick_cpus() -> Cpus:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        return Cpus(str(cpus[0]), str(cpus[1]))
    return Cpus(str(cpus[0]), str(cpus[0]))


def shared_cpus() -> Cpus:
    """Every CPU this process may use, for the server and the load tool alike: the server can
    use what the load tool leaves."""
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    return Cpus(cpus, cpus)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {START_TIMEOUT:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


class Sink:
    """spoor-loadgen's counting sink on free loopback ports."""

    def __init__(self, cpus: Cpus, log: Path, commands: list[str]):
        cmd = ["taskset", "-c", cpus.load, str(LOADGEN), "sink", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--json", "--print-interval", "0s"]
        commands.append(shlex.join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sink did not start")
        addrs = json.loads(line)
        self.grpc = addrs["grpc"]
        self.http = addrs["http"]

    def _call(self, method: str, path: str) -> int:
        request = urllib.request.Request(f"http://{self.http}{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(json.load(response)["spans"])

    def count(self) -> int:
        return self._call("GET", "/count")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def wait_for(self, want: int) -> int:
        """The count once it reaches `want` or stops moving, within DRAIN_TIMEOUT."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = self.count()
            if count >= want:
                time.sleep(0.3)  # anything beyond `want` (retried duplicates) shows up here
                return self.count()
            if count != last:
                last, stable_since = count, time.monotonic()
            elif time.monotonic() - stable_since > 3.0:
                return count
            time.sleep(0.1)
        return self.count()

    def settle(self) -> None:
        """Waits, within DRAIN_TIMEOUT, until the count has not moved for half a second."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        last = self.count()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            count = self.count()
            if count == last:
                return
            last = count

    def close(self) -> None:
        stop(self.proc)


class Stall:
    """A downstream that accepts connections and never answers: the exporters' requests time
    out, so their queues fill (the overload runs' `stalled` pipeline). Nothing is read, so a
    sender's writes stop once the socket buffers are full."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.held.append(conn)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.listener.close()


@dataclass
class Server:
    name: str
    pipeline: str
    proc: subprocess.Popen
    grpc_port: int
    http_port: int

    def endpoint(self, protocol: str) -> str:
        return f"http://127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"


SPOOR_CONFIG = """\
# Written by bench/compare.py: otlp -> batch -> {exporter}, on loopback.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
exporters:
{exporters}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [{exporter}]
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
"""


class Bench:
    def __init__(self, plan: Plan, rotel: str | None, cpus: Cpus, workdir: Path):
        self.plan = plan
        self.rotel = rotel
        self.cpus = cpus
        self.workdir = workdir
        self.commands: list[str] = []
        self.sink: Sink | None = None
        self.stall: Stall | None = None
        self.throughput: list[dict] = []
        self.fixed: list[dict] = []
        self.overload: list[dict] = []
        self.problems: list[str] = []

    def servers(self) -> list[str]:
        return ["spoor", "rotel"] if self.rotel else ["spoor"]

    def note(self, command: list[str]) -> None:
        # Recorded without the free ports and temporary paths, so each distinct command shows once.
        text = shlex.join(command).replace(f"{ROOT}/", "").replace(str(self.workdir), "$TMP")
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
        if text not in self.commands:
            self.commands.append(text)

    def downstream(self, pipeline: str) -> str:
        """Where the `sink` and `stalled` pipelines export to."""
        if pipeline == "stalled":
            assert self.stall is not None
            return self.stall.addr
        assert self.sink is not None
        return self.sink.grpc

    def start(self, name: str, pipeline: str) -> Server:
        grpc, http = free_port(), free_port()
        log = (self.workdir / f"{name}-{pipeline}.log").open("w")
        if name == "spoor":
            if pipeline == "nop":
                exporters, exporter = "  nop:", "nop"
            else:
                exporters = f"  otlp:\n    endpoint: http://{self.downstream(pipeline)}\n    compression: none"
                exporter = "otlp"
            config = self.workdir / f"spoor-{pipeline}.yaml"
            config.write_text(SPOOR_CONFIG.format(grpc=grpc, http=http, metrics=free_port(), exporters=exporters,
                                                  exporter=exporter))
            cmd = [str(SPOOR), "--config", str(config)]
        else:
            assert self.rotel
            cmd = [self.rotel, "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}", "--otlp-http-endpoint",
                   f"127.0.0.1:{http}", "--pid-file", str(self.workdir / "rotel.pid"), "--log-file",
                   str(self.workdir / "rotel.log")]
            if pipeline == "nop":
                cmd += ["--exporter", "blackhole"]
            else:
                cmd += ["--exporter", "otlp", "--otlp-exporter-endpoint", f"http://{self.downstream(pipeline)}",
                        "--otlp-exporter-protocol", "grpc", "--otlp-exporter-compression", "none"]
        cmd = ["taskset", "-c", self.cpus.server] + cmd
        self.note(cmd)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        server = Server(name, pipeline, proc, grpc, http)
        try:
            wait_for_port(grpc, proc, name)
            wait_for_port(http, proc, name)
        except Exception:
            stop(proc)
            raise
        return server

    def loadgen(self, server: Server, protocol: str, concurrency: int, duration: float, rate: int | None = None,
                record: bool = True, connections: int | None = None) -> dict:
        args = ["--protocol", protocol, "--endpoint", server.endpoint(protocol), "--concurrency", str(concurrency)]
        if connections:
            args += ["--connections", str(connections)]
        cmd = loadgen_command(self.cpus.load, args, duration, rate)
        if record:
            self.note(cmd)
        return run_loadgen(cmd, duration, protocol)

    def measure_throughput(self, name: str, pipeline: str, protocol: str, concurrency: int) -> dict:
        server = self.start(name, pipeline)
        try:
            pid = server.proc.pid
            # Warm up in a run of its own so the measured window holds only measured spans.
            self.loadgen(server, protocol, concurrency, self.plan.warmup, record=False)
            if self.sink:
                time.sleep(0.5)  # batch timeout is 200 ms on both: let the warmup spans drain
                if pipeline == "sink":
                    self.sink.settle()
                    self.sink.reset()
            load = loadavg()
            before, t0 = cpu_seconds(pid), time.monotonic()
            summary = self.loadgen(server, protocol, concurrency, self.plan.duration)
            cpu, wall = cpu_seconds(pid) - before, time.monotonic() - t0
            acked = summary["spans_acknowledged"]
            row = {
                "server": name, "pipeline": pipeline, "protocol": protocol, "concurrency": concurrency,
                "spans_per_sec": summary["spans_per_sec"], "acked": acked,
                "failed": summary["requests_failed"], "by_status": summary["by_status"],
                "cpu_s_per_m": cpu / acked * 1e6 if acked else float("nan"),
                "cpu_pct": cpu / wall * 100,
                "p50": summary["latency_ms"]["p50"], "p99": summary["latency_ms"]["p99"],
                "load": load, "sink": None,
            }
            if pipeline == "sink" and self.sink:
                counted = self.sink.wait_for(acked)
                row["sink"] = counted
                if counted < acked:
                    self.problems.append(f"{name} {protocol} c{concurrency}: sink counted {counted} of {acked} "
                                         "acknowledged spans")
            row["peak_rss_mib"] = status_mib(pid, "VmHWM")
            return row
        finally:
            stop(server.proc)

    def measure_fixed(self, name: str, pipeline: str, protocol: str) -> dict:
        server = self.start(name, pipeline)
        try:
            pid = server.proc.pid
            rate = self.plan.rate
            self.loadgen(server, protocol, 4, min(self.plan.warmup, 1.0), rate=rate, record=False)
            load = loadavg()
            before, t0 = cpu_seconds(pid), time.monotonic()
            summary = self.loadgen(server, protocol, 4, self.plan.rate_duration, rate=rate)
            cpu, wall = cpu_seconds(pid) - before, time.monotonic() - t0
            return {
                "server": name, "pipeline": pipeline, "protocol": protocol, "spans_per_sec": summary["spans_per_sec"],
                "cpu_pct": cpu / wall * 100, "rss_mib": status_mib(pid, "VmRSS"),
                "peak_rss_mib": status_mib(pid, "VmHWM"), "p50": summary["latency_ms"]["p50"],
                "p99": summary["latency_ms"]["p99"], "failed": summary["requests_failed"],
                "reached": summary.get("target_reached"), "load": load,
            }
        finally:
            stop(server.proc)

    def measure_overload(self, name: str, pipeline: str, protocol: str) -> dict:
        """Offered load far above capacity from the first second: closed loop with many
        workers (gRPC on 8 connections), no warmup, so RSS growth and refusals show."""
        server = self.start(name, pipeline)
        try:
            pid = server.proc.pid
            load = loadavg()
            before, t0 = cpu_seconds(pid), time.monotonic()
            summary = self.loadgen(server, protocol, self.plan.overload_concurrency, self.plan.duration,
                                   connections=8 if protocol == "grpc" else None)
            cpu, wall = cpu_seconds(pid) - before, time.monotonic() - t0
            return {
                "server": name, "pipeline": pipeline, "protocol": protocol,
                "spans_per_sec": summary["spans_per_sec"], "ok": summary["requests_ok"],
                "failed": summary["requests_failed"], "by_status": summary["by_status"],
                "cpu_pct": cpu / wall * 100, "rss_mib": status_mib(pid, "VmRSS"),
                "peak_rss_mib": status_mib(pid, "VmHWM"), "p99": summary["latency_ms"]["p99"], "load": load,
            }
        finally:
            stop(server.proc)

    def run(self) -> None:
        if any(p == "sink" for p, *_ in self.plan.throughput + self.plan.fixed_rate + self.plan.overload):
            self.sink = Sink(self.cpus, self.workdir / "sink.log", self.commands)
        if any(p == "stalled" for p, _ in self.plan.overload):
            self.stall = Stall()
        try:
            for pipeline, protocol, concurrency in self.plan.throughput:
                for name in self.servers():
                    row = self.measure_throughput(name, pipeline, protocol, concurrency)
                    self.throughput.append(row)
                    print(f"  {name:5} {pipeline:4} {protocol:4} c{concurrency:<3} {row['spans_per_sec']:>10,.0f} "
                          f"spans/s  {row['cpu_s_per_m']:6.2f} CPU s/M spans  peak RSS {row['peak_rss_mib']:6.1f} "
                          f"MiB  p99 {row['p99']:7.1f} ms  load {row['load']}", flush=True)
            for pipeline, protocol in self.plan.fixed_rate:
                for name in self.servers():
                    row = self.measure_fixed(name, pipeline, protocol)
                    self.fixed.append(row)
                    print(f"  {name:5} {pipeline:4} {protocol:4} {self.plan.rate} spans/s: CPU {row['cpu_pct']:5.1f} %  "
                          f"RSS {row['rss_mib']:5.1f} MiB  p50 {row['p50']:.2f} ms  p99 {row['p99']:.2f} ms  "
                          f"load {row['load']}", flush=True)
            for pipeline, protocol in self.plan.overload:
                for name in self.servers():
                    row = self.measure_overload(name, pipeline, protocol)
                    self.overload.append(row)
                    print(f"  {name:5} {pipeline:7} {protocol:4} overload c{self.plan.overload_concurrency}: "
                          f"{row['spans_per_sec']:>10,.0f} spans/s  peak RSS {row['peak_rss_mib']:6.1f} MiB  "
                          f"{statuses(row['by_status'])}  load {row['load']}", flush=True)
        finally:
            if self.sink:
                self.sink.close()
            if self.stall:
                self.stall.close()


def statuses(by_status: dict) -> str:
    return ", ".join(f"{key} {count:,}" for key, count in sorted(by_status.items())) or "none"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def sink_check(row: dict) -> str:
    if row["sink"] is None:
        return "-"
    if row["sink"] == row["acked"]:
        return "ok"
    return f"{row['sink']:,} of {row['acked']:,}"


def tables(bench: Bench) -> str:
    """The report's tables; a part of the plan that did not run (`--only`) has none."""
    out = []
    if bench.throughput:
        out.append("| server | pipeline | protocol | concurrency | spans/s | CPU s per M spans | peak RSS MiB | "
                   "p99 ms | sink = acknowledged | load avg |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in bench.throughput:
            out.append(f"| {r['server']} | {r['pipeline']} | {r['protocol']} | {r['concurrency']} | "
                       f"{r['spans_per_sec']:,.0f} | {r['cpu_s_per_m']:.2f} | {r['peak_rss_mib']:.1f} | {r['p99']:.1f} | "
                       f"{sink_check(r)} | {r['load']} |")
    if bench.fixed:
        out.append("")
        out.append(f"At a fixed {bench.plan.rate:,} spans/s (concurrency 4, {bench.plan.rate_duration:g} s):")
        out.append("")
        out.append("| server | pipeline | protocol | spans/s | CPU % of one core | RSS MiB | peak RSS MiB | p50 ms | "
                   "p99 ms | load avg |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in bench.fixed:
            out.append(f"| {r['server']} | {r['pipeline']} | {r['protocol']} | {r['spans_per_sec']:,.0f} | "
                       f"{r['cpu_pct']:.1f} | {r['rss_mib']:.1f} | {r['peak_rss_mib']:.1f} | {r['p50']:.2f} | "
                       f"{r['p99']:.2f} | {r['load']} |")
    if bench.overload:
        out.append("")
        out.append(f"Overload: {bench.plan.overload_concurrency} workers in a closed loop (gRPC on 8 connections), "
                   f"{bench.plan.duration:g} s from a cold start; `stalled` exports to a listener that never "
                   "answers:")
        out.append("")
        out.append("| server | pipeline | protocol | acknowledged spans/s | requests ok | requests by status | "
                   "CPU % | RSS at end MiB | peak RSS MiB | p99 ms | load avg |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in bench.overload:
            out.append(f"| {r['server']} | {r['pipeline']} | {r['protocol']} | {r['spans_per_sec']:,.0f} | {r['ok']:,} | "
                       f"{statuses(r['by_status'])} | {r['cpu_pct']:.1f} | {r['rss_mib']:.1f} | "
                       f"{r['peak_rss_mib']:.1f} | {r['p99']:.1f} | {r['load']} |")
    if not bench.rotel:
        out.append("")
        out.append("rotel was skipped (it could not be installed from PyPI): no ratios.")
        return "\n".join(out)
    out.append("")
    out.append("Ratios spoor/rotel (throughput: higher is better for spoor; CPU, RSS, p99: lower is better):")
    if bench.throughput:
        out.append("")
        out.append("| run | spans/s | CPU s per M spans | peak RSS | p99 |")
        out.append("| --- | --- | --- | --- | --- |")
        by_key = {(r["server"], r["pipeline"], r["protocol"], r["concurrency"]): r for r in bench.throughput}
        for pipeline, protocol, concurrency in bench.plan.throughput:
            s, r = by_key[("spoor", pipeline, protocol, concurrency)], by_key[("rotel", pipeline, protocol, concurrency)]
            out.append(f"| {pipeline}, {protocol}, concurrency {concurrency}, max rate | "
                       f"{ratio(s['spans_per_sec'], r['spans_per_sec'])} | {ratio(s['cpu_s_per_m'], r['cpu_s_per_m'])} | "
                       f"{ratio(s['peak_rss_mib'], r['peak_rss_mib'])} | {ratio(s['p99'], r['p99'])} |")
    if bench.fixed:
        fixed = {(r["server"], r["pipeline"], r["protocol"]): r for r in bench.fixed}
        out.append("")
        out.append(f"| run at {bench.plan.rate:,} spans/s | CPU % | RSS | p99 |")
        out.append("| --- | --- | --- | --- |")
        for pipeline, protocol in bench.plan.fixed_rate:
            s, r = fixed[("spoor", pipeline, protocol)], fixed[("rotel", pipeline, protocol)]
            out.append(f"| {pipeline}, {protocol} | {ratio(s['cpu_pct'], r['cpu_pct'])} | "
                       f"{ratio(s['rss_mib'], r['rss_mib'])} | {ratio(s['p99'], r['p99'])} |")
    if bench.overload:
        over = {(r["server"], r["pipeline"], r["protocol"]): r for r in bench.overload}
        out.append("")
        out.append("| overload run | acknowledged spans/s | peak RSS |")
        out.append("| --- | --- | --- |")
        for pipeline, protocol in bench.plan.overload:
            s, r = over[("spoor", pipeline, protocol)], over[("rotel", pipeline, protocol)]
            out.append(f"| {pipeline}, {protocol} | {ratio(s['spans_per_sec'], r['spans_per_sec'])} | "
                       f"{ratio(s['peak_rss_mib'], r['peak_rss_mib'])} |")
    return "\n".join(out)


def machine() -> str:
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{model}, {os.cpu_count()} CPUs, {mem_gib:.0f} GiB; {rustc}"


def publish(report: str, problems: list[str], section: Callable[[], list[str]] | None) -> None:
    """Prints a run's report and its problems, and appends the lines `section` makes to
    bench/RESULTS.md (None for a smoke run, which writes nothing)."""
    print()
    print(report)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if section is not None:
        with RESULTS.open("a") as f:
            f.write("\n".join(section()))
        print(f"\nappended to {RESULTS.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds; writes nothing")
    parser.add_argument("--rotel", default="", help="path of rotel-agent; empty skips rotel")
    parser.add_argument("--only", choices=["throughput", "rate", "overload"],
                        help="run one kind of scenario of the plan (max rate, fixed rate or overload)")
    args = parser.parse_args()
    plan = quick_plan() if args.quick else full_plan()
    if args.only:
        plan.throughput = plan.throughput if args.only == "throughput" else []
        plan.fixed_rate = plan.fixed_rate if args.only == "rate" else []
        plan.overload = plan.overload if args.only == "overload" else []
    if not args.rotel and not plan.quick:
        print("error: rotel-agent is not available, and the full comparison needs it", file=sys.stderr)
        return 1
    for binary in (SPOOR, LOADGEN):
        if not binary.exists():
            print(f"error: {binary} is missing; run bench/compare.sh, which builds it", file=sys.stderr)
            return 1
    rotel_version = ""
    if args.rotel:
        rotel_version = subprocess.run([args.rotel, "--version"], capture_output=True, text=True).stdout.strip()
    cpus = pick_cpus()
    print(f"==> spoor vs {rotel_version or 'nobody (rotel skipped)'}: {cpus.describe()}")
    print(f"    machine: {machine()}; load average at start {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="spoor-compare-") as tmp:
        bench = Bench(plan, args.rotel or None, cpus, Path(tmp))
        bench.run()
    report = tables(bench)
    publish(report, bench.problems, None if plan.quick else lambda: results_section(bench, report, rotel_version, cpus))
    lost = [p for p in bench.problems if p.startswith("spoor")]
    return 1 if lost else 0


def results_section(bench: Bench, report: str, rotel_version: str, cpus: Cpus) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    text = [
        "",
        f"## {now:%Y-%m-%d %H:%M} UTC — bench/compare.sh: spoor vs rotel (issue 7)",
        "",
        f"Machine: {machine()}. spoor at {commit or 'unknown commit'} (plus uncommitted changes, if any), "
        f"{rotel_version} from PyPI `rotel`. Cores: {cpus.describe()}. Loopback only. "
        f"Max-rate runs: {bench.plan.duration:g} s measured after a {bench.plan.warmup:g} s warmup run, "
        "a fresh server per run; the sink runs export OTLP/gRPC without compression on both.",
        "",
        "```sh",
        "bench/compare.sh",
        "# which ran:",
        *bench.commands,
        "```",
        "",
        report,
        "",
    ]
    return text


if __name__ == "__main__":
    sys.exit(main())
