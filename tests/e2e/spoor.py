"""Starting and stopping a real spoor process for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "testdata"
SEED_CONFIG = SHARED / "fixtures" / "seed" / "otel-collector-config.yaml"


def binary() -> Path:
    path = os.environ.get("SPOOR_BIN")
    if path:
        return Path(path)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "spoor"


_HANDED_OUT: dict[int, set[int]] = {socket.SOCK_STREAM: set(), socket.SOCK_DGRAM: set()}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A TCP (or with `socket.SOCK_DGRAM`, UDP) port nothing listens on, never one this process
    handed out before: the kernel may give a released port again at once, and two listeners of
    one spoor would then collide."""
    while True:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT[kind]:
            _HANDED_OUT[kind].add(port)
            return port


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Spoor:
    """One spoor process with its config files, stdout and stderr captured to files."""

    def __init__(self, configs: list[str | Path], name: str = "spoor", env: dict | None = None):
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.config_paths = []
        for index, config in enumerate(configs):
            if isinstance(config, Path):
                self.config_paths.append(config)
            else:
                path = self.workdir / f"config-{index}.yaml"
                path.write_text(config)
                self.config_paths.append(path)
        self.stdout_path = self.workdir / "stdout.log"
        self.stderr_path = self.workdir / "stderr.log"
        self.env = {**os.environ, **(env or {})}
        # Command-line arguments after the --config files, e.g. ["--data-dir", path].
        self.extra_args: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self, wait_ports: list[int] = ()) -> "Spoor":
        args = [str(binary())]
        for path in self.config_paths:
            args += ["--config", str(path)]
        args += self.extra_args
        self.process = subprocess.Popen(
            args,
            stdout=self.stdout_path.open("wb"),
            stderr=self.stderr_path.open("wb"),
            cwd=self.workdir,
            env=self.env,
        )
        try:
            for port in wait_ports:
                wait_for_port(port)
        except TimeoutError:
            self.kill()
            raise AssertionError(f"spoor did not start:\n{self.stderr()}")
        return self

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def rss_bytes(self) -> int:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match, status
        return int(match.group(1)) * 1024


def otlp_receivers(grpc: int, http: int) -> str:
    """The `receivers:` section of a config: one otlp receiver, gRPC and HTTP on loopback."""
    return f"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
"""


def run_spoor(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary()), *args], capture_output=True, text=True, timeout=timeout)


def metric(metrics_port: int, name: str, **labels: str) -> float:
    """The sum of every series of `name` whose labels include `labels`."""
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        series = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(series.get(key) == value for key, value in labels.items()):
            total += float(match.group(3))
    return total


def wait_until(predicate, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s (last: {last!r})")


class Ports:
    """Free loopback ports for a backend: OTLP gRPC and HTTP, query HTTP and gRPC, metrics."""

    def __init__(self):
        self.otlp_grpc, self.otlp_http, self.query, self.query_grpc, self.metrics = (free_port() for _ in range(5))


def backend_config(
    ports,
    backend: str,
    data_dir: Path | None = None,
    extra_embedded: str = "",
    base_path: str = "",
    receivers: str | None = None,
    receiver_names: str = "[otlp]",
    max_traces: int = 100_000,
    tenants: list[str] | None = None,
) -> str:
    """receivers (otlp unless `receivers` gives the YAML section) → batch →
    jaeger_storage_exporter → a `memory` or `embedded` store, with jaeger_query. `ports` needs
    query, query_grpc and metrics (and otlp_grpc, otlp_http for the default receivers). With
    `tenants`, batch keeps the `x-tenant` header apart and the exporter and query are
    multi-tenant with those tenants (the receivers must include the metadata)."""
    if backend == "memory":
        engine = f"memory:\n          max_traces: {max_traces}"
    else:
        engine = f"embedded:\n          path: {data_dir}\n{extra_embedded}"
    if receivers is None:
        receivers = otlp_receivers(ports.otlp_grpc, ports.otlp_http)
    batch_tenancy = exporter_tenancy = query_tenancy = ""
    if tenants is not None:
        batch_tenancy = "\n    metadata_keys: [x-tenant]"
        tenancy = f"\n    multi_tenancy:\n      enabled: true\n      header: x-tenant\n      tenants: [{', '.join(tenants)}]"
        exporter_tenancy = query_tenancy = tenancy
    return f"""
{receivers}processors:
  batch:
    timeout: 50ms{batch_tenancy}
exporters:
  jaeger_storage_exporter:
    trace_storage: main{exporter_tenancy}
extensions:
  jaeger_storage:
    backends:
      main:
        {engine}
  jaeger_query:
    base_path: "{base_path}"
    storage:
      traces: main{query_tenancy}
    http:
      endpoint: 127.0.0.1:{ports.query}
    grpc:
      endpoint: 127.0.0.1:{ports.query_grpc}
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: {receiver_names}
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      address: 127.0.0.1:{ports.metrics}
"""
