"""Issue 13: a full disk under the embedded store, on a real 8 MiB tmpfs. Ingest is refused at
once with a retryable error (OTLP/HTTP 503 with Retry-After, OTLP/gRPC UNAVAILABLE with
RetryInfo), nothing acknowledged is lost (also after a restart), writes succeed again by
themselves once space is freed, and SIGTERM does not wait on retries.

Skipped where a tmpfs cannot be mounted (it needs root or CAP_SYS_ADMIN)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from spoor import Ports, Spoor, backend_config

PROMPT = 2.0  # seconds: a refusal must come at least this fast


@pytest.fixture
def tmpfs(tmp_path: Path):
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def request(n: int, spans: int = 20) -> trace_service_pb2.ExportTraceServiceRequest:
    """Trace `n`: `spans` spans of about 1 KiB each."""
    trace_id = (0xD15C << 112 | n).to_bytes(16, "big")
    now = time.time_ns()
    resource = resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="disk-full"))]
    )
    span_list = [
        trace_pb2.Span(
            trace_id=trace_id,
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"op-{i}",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1000,
            attributes=[common_pb2.KeyValue(key="pad", value=common_pb2.AnyValue(string_value="x" * 1000))],
        )
        for i in range(spans)
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=span_list)])]
    )


def trace_hex(n: int) -> str:
    return (0xD15C << 112 | n).to_bytes(16, "big").hex()


def post(ports: Ports, n: int) -> requests.Response:
    started = time.monotonic()
    response = requests.post(
        f"http://127.0.0.1:{ports.otlp_http}/v1/traces",
        data=request(n).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT, f"request {n} answered {response.status_code} after {elapsed:.1f} s"
    return response


def found(ports: Ports, n: int) -> bool:
    response = requests.get(f"http://127.0.0.1:{ports.query}/api/traces/{trace_hex(n)}", timeout=10)
    return response.status_code == 200 and len(response.json()["data"][0]["spans"]) == 20


def test_a_full_disk_refuses_at_once_loses_nothing_and_recovers(tmpfs: Path):
    ports = Ports()
    data = tmpfs / "data"
    config = backend_config(ports, "embedded", data)
    spoor = Spoor([config], name="disk-full").start([ports.otlp_http, ports.otlp_grpc, ports.query])
    try:
        filler = tmpfs / "filler"
        filler.write_bytes(b"\0" * (7 << 20))

        # Fill the rest through the WAL, until the first refusal.
        acknowledged, n = [], 0
        while True:
            n += 1
            assert n < 5000, "the disk never filled"
            response = post(ports, n)
            if response.status_code != 200:
                break
            acknowledged.append(n)
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) >= 1
        assert len(acknowledged) >= 20, f"only {len(acknowledged)} requests before the disk was full"

        # gRPC: UNAVAILABLE with RetryInfo, at once.
        with grpc.insecure_channel(f"127.0.0.1:{ports.otlp_grpc}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            n += 1
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(request(n), timeout=30)
            assert time.monotonic() - started < PROMPT
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
        details = dict(refused.value.trailing_metadata() or ()).get("grpc-status-details-bin")
        assert details, "no RetryInfo with the refusal"
        status = status_pb2.Status.FromString(details)
        retry_info = error_details_pb2.RetryInfo()
        assert any(detail.Unpack(retry_info) for detail in status.details), status
        assert retry_info.retry_delay.seconds >= 1

        for n in range(n + 1, n + 6):
            assert post(ports, n).status_code == 503
        assert all(found(ports, k) for k in acknowledged), "an acknowledged trace is missing"

        # Space returns: a retrying client gets through by itself.
        filler.unlink()
        deadline = time.monotonic() + 10
        while True:
            n += 1
            status_code = post(ports, n).status_code
            if status_code == 200:
                acknowledged.append(n)
                break
            assert status_code == 503 and time.monotonic() < deadline, f"still {status_code} after space returned"
            time.sleep(0.2)
        for n in range(n + 1, n + 21):
            assert post(ports, n).status_code == 200
            acknowledged.append(n)
        assert all(found(ports, k) for k in acknowledged)

        # No retry loop holds shutdown.
        started = time.monotonic()
        assert spoor.terminate(timeout=30) == 0
        assert time.monotonic() - started < 10, f"SIGTERM took {time.monotonic() - started:.1f} s"
        log = spoor.stderr() + spoor.stdout()
        assert log.count("wal segment failed") == 1, "the failure is logged once"
        assert log.count("wal writes again") == 1, "the recovery is logged once"
    finally:
        spoor.kill()

    # After a restart (the failed segment replays, torn tail cut), every acknowledged trace is there.
    again = Spoor([config], name="disk-full-restart").start([ports.query])
    try:
        assert all(found(ports, k) for k in acknowledged), "an acknowledged trace is missing after restart"
    finally:
        again.terminate(timeout=30)
