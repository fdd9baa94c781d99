"""Issue 4: the Jaeger backend in the binary, with real clients: all-in-one by default,
Jaeger's storage integration suite through the HTTP API, persistence across kill -9, Parquet
blocks readable by pyarrow, retention, a damaged WAL, and Grafana's calls."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import jaeger_fixtures as fx
from otel_clients import send_spans, send_traces
from spoor import Ports, Spoor, backend_config, wait_until
from test_jaeger_ingest import serialize


def start_backend(tmp_path: Path, backend: str, **kwargs) -> tuple[Spoor, Ports, str]:
    ports = Ports()
    data = tmp_path / "data"
    spoor = Spoor([backend_config(ports, backend, data, **kwargs)], name=f"backend-{backend}")
    spoor.start([ports.otlp_http, ports.query])
    return spoor, ports, f"http://127.0.0.1:{ports.query}"


def post_otlp_json(ports: Ports, body: dict) -> None:
    response = requests.post(
        f"http://127.0.0.1:{ports.otlp_http}/v1/traces",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


# The all-in-one's listeners: port → words its log line must contain. One line each.
ALL_IN_ONE_LISTENERS = {
    4317: ("otlp", "grpc"),
    4318: ("otlp", "http"),
    14250: ("jaeger", "grpc"),
    14268: ("jaeger", "http"),
    6831: ("jaeger", "compact"),
    6832: ("jaeger", "binary"),
    9411: ("zipkin",),
    5778: ("sampling", "http"),
    5779: ("sampling", "grpc"),
    16686: ("query", "http"),
    16685: ("query", "grpc"),
    8888: ("metrics",),
    16687: ("metrics", "health"),
    13133: ("health",),
}


def listener_lines(log: str) -> dict[int, list[str]]:
    """The log lines that name a listening endpoint, by port."""
    lines: dict[int, list[str]] = {}
    for line in log.splitlines():
        match = re.search(r"endpoint=(?:Some\()?127\.0\.0\.1:(\d+)", line)
        if match:
            lines.setdefault(int(match.group(1)), []).append(line)
    return lines


def test_all_in_one_by_default(tmp_path):
    """No arguments: the built-in config, embedded store in ./spoor-data, every listener logged
    once, the admin port, remote sampling, and Jaeger Thrift and Zipkin ingest into the store."""
    spoor = Spoor([], name="aio")
    spoor.workdir = tmp_path
    spoor.stdout_path, spoor.stderr_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    spoor.start([4317, 4318, 16686, 16685, 14268, 9411, 13133, 16687, 5778])
    try:
        wait_until(lambda: "everything is ready" in spoor.stderr(), 20, message="the ready line")
        log = spoor.stderr()
        lines = listener_lines(log)
        assert set(lines) == set(ALL_IN_ONE_LISTENERS), log
        for port, words in ALL_IN_ONE_LISTENERS.items():
            assert len(lines[port]) == 1, f"port {port}: {lines[port]}"
            assert all(word in lines[port][0].lower() for word in words), f"port {port}: {lines[port][0]}"
        assert log.count("open http://127.0.0.1:16686/ for the UI") == 1, log

        admin = "http://127.0.0.1:16687"
        assert requests.get(f"{admin}/", timeout=10).status_code == 200
        metrics = requests.get(f"{admin}/metrics", timeout=10)
        assert metrics.status_code == 200 and "otelcol_" in metrics.text
        strategy = requests.get("http://127.0.0.1:5778/sampling", params={"service": "x"}, timeout=10)
        assert strategy.json() == {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.001}}

        sent = send_spans("grpc", "127.0.0.1:4317", 20, "aio-span", service="aio-service")
        assert sent.acknowledged == 20
        send_thrift_http("aio-thrift", "http://127.0.0.1:14268/api/traces")
        send_zipkin_json("aio-zipkin", "http://127.0.0.1:9411/api/v2/spans")

        services = requests.get("http://127.0.0.1:16686/api/services", timeout=10).json()
        assert "aio-service" in services["data"]
        found = requests.get("http://127.0.0.1:16686/api/traces", params={"service": "aio-service", "limit": 100}, timeout=10).json()
        assert sum(len(trace["spans"]) for trace in found["data"]) == 20
        for service, operation in (("aio-thrift", "aio-thrift-span"), ("aio-zipkin", "aio-zipkin-span")):
            traces = wait_until(lambda: find_traces("http://127.0.0.1:16686", service), 20, message=f"a {service} trace")
            assert [span["operationName"] for trace in traces for span in trace["spans"]] == [operation]
        assert (tmp_path / "spoor-data").is_dir()
        assert spoor.terminate() == 0
    finally:
        spoor.kill()


def find_traces(api: str, service: str) -> list[dict]:
    response = requests.get(f"{api}/api/traces", params={"service": service, "limit": 100}, timeout=10)
    return response.json()["data"] if response.status_code == 200 else []


def send_thrift_http(service: str, url: str) -> None:
    """One span in a Jaeger Thrift batch, as jaeger-client's HTTP sender posts it."""
    from jaeger_client.thrift_gen.jaeger import ttypes as j
    from thrift.protocol import TBinaryProtocol

    span = j.Span(traceIdLow=random.getrandbits(63), traceIdHigh=0, spanId=1, parentSpanId=0, flags=1,
                  operationName=f"{service}-span", startTime=int(time.time() * 1e6), duration=1000)
    batch = j.Batch(process=j.Process(serviceName=service, tags=[]), spans=[span])
    body = serialize(batch, TBinaryProtocol.TBinaryProtocol)
    response = requests.post(url, data=body, headers={"Content-Type": "application/x-thrift"}, timeout=10)
    assert response.status_code == 202, response.text


def send_zipkin_json(service: str, url: str) -> None:
    span = {"traceId": f"{random.getrandbits(127):032x}", "id": "000000000000000a", "name": f"{service}-span",
            "timestamp": int(time.time() * 1e6), "duration": 1000, "localEndpoint": {"serviceName": service}}
    response = requests.post(url, data=json.dumps([span]), headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("backend", ["memory", "embedded"])
def test_storage_integration_suite_through_http_api(tmp_path, backend, capsys):
    today = fx.today_utc()
    queries = fx.load_queries(today)
    spoor, ports, api = start_backend(tmp_path, backend)
    try:
        fixtures = {name: fx.load_trace(name, today) for name in fx.expected_fixture_names(queries)}
        for body in fixtures.values():
            post_otlp_json(ports, body)

        failures = []
        # Written, and read back by ID equal to the fixture: OTLP through /api/v3, and every
        # span through the UI's /api/traces.
        expected: dict[str, list[str]] = {}
        for body in fixtures.values():
            for trace_id, spans in otlp_spans_by_trace(body).items():
                expected.setdefault(trace_id, []).extend(spans)
        for name, body in fixtures.items():
            for trace_id in sorted(fx.trace_ids(body)):
                problem = read_back_problem(api, trace_id, sorted(expected[trace_id]))
                if problem:
                    failures.append(f"get {name}: {problem}")
        for query in queries:
            expected = set().union(*[fx.trace_ids(fixtures[name]) for name in query["ExpectedFixtures"] or []] or [set()])
            response = requests.get(f"{api}/api/traces", params=fx.api_params(query), timeout=30)
            if response.status_code != 200:
                failures.append(f"{query['Caption']}: status {response.status_code} {response.text[:200]}")
                continue
            got = {trace["traceID"].rjust(32, "0") for trace in response.json()["data"]}
            if got != expected:
                failures.append(f"{query['Caption']}: got {sorted(got)}, expected {sorted(expected)}")
        total = len(queries) + len(fixtures)
        with capsys.disabled():  # the tally shows in scripts/test.sh's output, pass or fail
            print(f"\nstorage integration over HTTP ({backend}): {total - len(failures)} passed, {len(failures)} failed")
        assert not failures, "\n".join(failures)

        services = requests.get(f"{api}/api/services", timeout=10).json()["data"]
        assert {"example-service-1", "example-service-2", "example-service-3"} <= set(services)
        operations = requests.get(f"{api}/api/operations", params={"service": "example-service-1"}, timeout=10).json()["data"]
        assert sorted((op["name"], op["spanKind"]) for op in operations) == [
            ("example-operation-1", ""),
            ("example-operation-3", "server"),
            ("example-operation-4", "client"),
        ]
    finally:
        spoor.kill()


def canonical(value, key: str = ""):
    """OTLP/JSON without the encoder's freedoms: zero values dropped (proto3 JSON may omit
    them), int64s as ints, IDs in lowercase, and attributes sorted by key."""
    if isinstance(value, dict):
        fields = {k: canonical(v, k) for k, v in value.items()}
        return {k: v for k, v in fields.items() if v not in (None, "", 0, [], {})}
    if isinstance(value, list):
        items = [canonical(item) for item in value]
        return sorted(items, key=lambda a: a.get("key", "")) if key == "attributes" else items
    if key.endswith("UnixNano") or key == "intValue":
        return int(value)
    if key in ("traceId", "spanId", "parentSpanId"):
        return value.lower()
    return value


def otlp_spans_by_trace(body: dict) -> dict[str, list[str]]:
    """Every span of an OTLP/JSON body with its resource and scope, as canonical JSON, by trace ID."""
    by_trace: dict[str, list[str]] = {}
    for resource_spans in body.get("resourceSpans", []):
        resource = canonical(resource_spans.get("resource", {}))
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope = canonical(scope_spans.get("scope", {}))
            for span in scope_spans.get("spans", []):
                record = {"resource": resource, "scope": scope, "span": canonical(span)}
                by_trace.setdefault(span["traceId"].lower(), []).append(json.dumps(record, sort_keys=True))
    return {trace_id: sorted(spans) for trace_id, spans in by_trace.items()}


def read_back_problem(api: str, trace_id: str, expected: list[str]) -> str | None:
    """What differs between a stored trace, read by ID, and its expected canonical spans."""
    response = requests.get(f"{api}/api/v3/traces/{trace_id}", timeout=10)
    if response.status_code != 200:
        return f"{trace_id}: /api/v3 status {response.status_code}"
    got = otlp_spans_by_trace(response.json()["result"]).get(trace_id, [])
    if got != expected:
        missing = [span for span in expected if span not in got]
        unexpected = [span for span in got if span not in expected]
        return f"{trace_id}: {len(got)} spans, missing {missing[:2]}, unexpected {unexpected[:2]}"
    response = requests.get(f"{api}/api/traces/{trace_id}", timeout=10)
    spans = response.json()["data"][0]["spans"] if response.status_code == 200 else []
    if len(spans) != len(expected):
        return f"{trace_id}: /api/traces status {response.status_code}, {len(spans)} spans"
    return None


def test_persistence_across_kill_9(tmp_path):
    spoor, ports, api = start_backend(tmp_path, "embedded")
    try:
        client = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=10_000, service="persist")
        acknowledged = client.acknowledged_traces
        assert len(acknowledged) == 10_000, f"only {len(acknowledged)} acknowledged, {client.failed} spans failed"
        spoor.process.send_signal(signal.SIGKILL)
        spoor.process.wait(timeout=10)

        spoor.start([ports.query])

        def check(trace_id: str) -> str | None:
            response = session_get(f"{api}/api/traces/{trace_id}")
            if response.status_code != 200:
                return f"{trace_id}: {response.status_code}"
            spans = response.json()["data"][0]["spans"]
            return None if len(spans) == 2 else f"{trace_id}: {len(spans)} spans"

        with ThreadPoolExecutor(8) as pool:
            problems = [p for p in pool.map(check, sorted(acknowledged)) if p]
        assert not problems, f"{len(problems)} traces missing or partial, e.g. {problems[:5]}"
    finally:
        spoor.kill()


_sessions: dict[int, requests.Session] = {}


def session_get(url: str) -> requests.Response:
    import threading

    session = _sessions.setdefault(threading.get_ident(), requests.Session())
    return session.get(url, timeout=10)


def test_parquet_blocks_readable_by_pyarrow(tmp_path):
    import pyarrow.dataset as ds

    spoor, ports, api = start_backend(tmp_path, "embedded", extra_embedded="          block_duration: 1s\n")
    try:
        client = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=200, service="parquet-service")
        assert len(client.acknowledged_traces) == 200
        data = tmp_path / "data"
        wait_until(lambda: list(data.rglob("*.parquet")), 30, message="a parquet block")
        assert spoor.terminate() == 0
        dataset = ds.dataset(sorted(str(p) for p in data.rglob("*.parquet")), format="parquet")
        table = dataset.to_table()
        columns = set(table.column_names)
        assert {"trace_id", "service_name"} <= columns, columns
        services = set(table.column("service_name").to_pylist())
        assert services == {"parquet-service"}
        ids = {bytes(v).hex() for v in table.column("trace_id").to_pylist()}
        assert ids == client.acknowledged_traces
    finally:
        spoor.kill()


def test_data_dir_overrides_a_literal_path(tmp_path):
    """--data-dir wins over the config's literal `path:`: the WAL and the Parquet blocks land
    under --data-dir, and nothing under the configured path."""
    ports = Ports()
    configured, flag = tmp_path / "configured", tmp_path / "flag"
    spoor = Spoor([backend_config(ports, "embedded", configured, extra_embedded="          block_duration: 1s\n")], name="data-dir")
    spoor.extra_args = ["--data-dir", str(flag)]
    spoor.start([ports.otlp_grpc, ports.query])
    try:
        client = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=20, service="data-dir-service")
        assert len(client.acknowledged_traces) == 20
        wait_until(lambda: list(flag.rglob("*.parquet")), 30, message="a parquet block under --data-dir")
        assert list(flag.rglob("*.wal")), sorted(flag.rglob("*"))
        assert not configured.exists() or not any(p.is_file() for p in configured.rglob("*"))
        assert "--data-dir overrides the embedded backend's path" in spoor.stderr()
        trace_id = sorted(client.acknowledged_traces)[0]
        response = requests.get(f"http://127.0.0.1:{ports.query}/api/traces/{trace_id}", timeout=10)
        assert response.status_code == 200 and len(response.json()["data"][0]["spans"]) == 2
    finally:
        spoor.kill()


def test_retention_deletes_expired_blocks(tmp_path):
    """Blocks whose spans are older than `ttl` are deleted, and their traces are gone."""
    retention = "          ttl: 2s\n          block_duration: 1s\n          maintenance_interval: 200ms\n"
    spoor, ports, api = start_backend(tmp_path, "embedded", extra_embedded=retention)
    try:
        client = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=5, service="retention-service")
        assert len(client.acknowledged_traces) == 5
        trace_id = sorted(client.acknowledged_traces)[0]
        assert requests.get(f"{api}/api/traces/{trace_id}", timeout=10).status_code == 200
        data = tmp_path / "data"
        wait_until(lambda: list(data.rglob("*.parquet")), 20, interval=0.05, message="a parquet block")
        wait_until(lambda: not list(data.rglob("*.parquet")), 30, message="expired blocks deleted")
        for trace_id in client.acknowledged_traces:
            response = requests.get(f"{api}/api/traces/{trace_id}", timeout=10)
            assert response.status_code == 404, (trace_id, response.text[:200])
    finally:
        spoor.kill()


def block_trace_ids(data: Path) -> set[str]:
    """The trace IDs in the Parquet blocks under a data dir."""
    import pyarrow.parquet as pq

    import pyarrow as pa

    ids = set()
    for path in data.rglob("*.parquet"):
        try:
            column = pq.read_table(path, columns=["trace_id"]).column("trace_id")
        except (OSError, pa.ArrowException):
            continue  # compaction replaced the block since rglob listed it
        ids |= {bytes(v).hex() for v in column.to_pylist()}
    return ids


def test_damaged_wal_still_starts(tmp_path):
    """Flipped bytes in the last record and a torn record after it: the store starts, logs the
    damage, and keeps every intact record."""
    spoor, ports, api = start_backend(tmp_path, "embedded")
    try:
        kept = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=40, service="wal-kept")
        assert len(kept.acknowledged_traces) == 40
        time.sleep(0.5)
        damaged = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=1, service="wal-damaged")
        assert len(damaged.acknowledged_traces) == 1
        spoor.process.send_signal(signal.SIGKILL)
        spoor.process.wait(timeout=10)
        segments = sorted((tmp_path / "data").rglob("*.wal"), key=lambda p: (p.stat().st_mtime, p.name))
        assert segments, "no WAL segment"
        last = segments[-1]
        with last.open("r+b") as wal:
            size = wal.seek(0, os.SEEK_END)
            wal.seek(max(0, size - 7))
            wal.write(b"\xde\xad\xbe\xef")  # flips bytes inside the last record
        with last.open("ab") as wal:
            wal.write(b"\x00\x00\x10\x00torn")  # and leaves a torn record after it
        spoor.start([ports.query])
        for trace_id in kept.acknowledged_traces:
            response = requests.get(f"{api}/api/traces/{trace_id}", timeout=10)
            assert response.status_code == 200 and len(response.json()["data"][0]["spans"]) == 2, trace_id
        assert "wal" in spoor.stderr().lower() and "WARN" in spoor.stderr()
        assert send_spans("grpc", f"127.0.0.1:{ports.otlp_grpc}", 5, "after-repair", service="wal-after").acknowledged == 5
    finally:
        spoor.kill()


def test_grafana_jaeger_datasource_calls(tmp_path):
    """The calls Grafana's Jaeger data source makes, in its forms (reference doc section 1).
    Trace by ID runs against a Parquet block: the head ignores the time range, a block does not."""
    spoor, ports, api = start_backend(tmp_path, "embedded", extra_embedded="          block_duration: 1s\n")
    try:
        client = send_traces(f"127.0.0.1:{ports.otlp_grpc}", traces=5, service="grafana-service")
        trace_id = sorted(client.acknowledged_traces)[0]
        wait_until(lambda: trace_id in block_trace_ids(tmp_path / "data"), 30, message="the trace in a parquet block")
        headers = {"Accept-Encoding": "gzip, deflate, br, zstd"}
        services = requests.get(f"{api}/api/services", headers=headers, timeout=10)
        assert services.status_code == 200 and "grafana-service" in services.json()["data"]
        assert services.headers.get("Content-Encoding") in (None, "gzip", "deflate")
        operations = requests.get(f"{api}/api/services/grafana-service/operations", timeout=10).json()["data"]
        assert "root" in operations
        now_us = int(time.time() * 1e6)
        search = requests.get(
            f"{api}/api/traces",
            params={
                "service": "grafana-service",
                "operation": "root",
                "tags": json.dumps({"trace.kind": "test"}),
                "minDuration": "0ms",
                "maxDuration": "1h",
                "start": str(now_us - 3600 * 10**6),
                "end": str(now_us + 10**6),
                "limit": "20",
            },
            headers=headers,
            timeout=10,
        )
        assert search.status_code == 200, search.text
        traces = search.json()["data"]
        assert len(traces) == 5 and all(trace["spans"] for trace in traces)
        now_ms = now_us // 1000
        for unit, now in (("ms", now_ms), ("µs", now_us)):
            per_second = 1000 if unit == "ms" else 10**6
            params = {"start": now - 3600 * per_second, "end": now + per_second}
            by_id = requests.get(f"{api}/api/traces/{trace_id}", params=params, timeout=10)
            assert by_id.status_code == 200, (unit, by_id.text[:200])
            assert len(by_id.json()["data"][0]["spans"]) == 2, unit
        # The block does apply the range: an hour that ends before the trace misses it, so the
        # calls above would fail if milliseconds were read as microseconds.
        earlier = {"start": now_ms - 7200_000, "end": now_ms - 3600_000}
        assert requests.get(f"{api}/api/traces/{trace_id}", params=earlier, timeout=10).status_code == 404
        deps = requests.get(f"{api}/api/dependencies", params={"endTs": now_ms, "lookback": 3600_000}, timeout=10)
        assert deps.status_code == 200 and isinstance(deps.json()["data"], list)
        missing = requests.get(f"{api}/api/traces/{'f' * 32}", timeout=10)
        assert missing.status_code == 404
        for bad in ({"service": "x", "limit": "-1"}, {"service": "x", "minDuration": "ten"}, {"service": "x", "start": "10", "end": "5"}):
            response = requests.get(f"{api}/api/traces", params=bad, timeout=10)
            assert response.status_code == 400, (bad, response.text)
            assert response.json()["errors"][0]["msg"]
        assert requests.get(f"{api}/api/traces/not-hex", timeout=10).status_code == 400
        assert requests.get(f"{api}/api/services", timeout=10).status_code == 200
    finally:
        spoor.kill()
