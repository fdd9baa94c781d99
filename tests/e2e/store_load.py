"""Plain OTLP/HTTP writers for the embedded store's fault tests: each request carries whole
traces with chosen start times, and a trace counts as acknowledged only when the server
answered 200 without rejecting any span."""

from __future__ import annotations

import os
import threading
import time

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

SPANS_PER_TRACE = 3
SECOND = 1_000_000_000


def new_trace_id() -> bytes:
    return os.urandom(16)


def traces_request(service: str, trace_ids: list[bytes], start_ns: int | None = None) -> bytes:
    """One ExportTraceServiceRequest: per trace a root and two children, starting at
    `start_ns` (now when None), each span 1 ms long."""
    start = time.time_ns() if start_ns is None else start_ns
    spans = []
    for trace_id in trace_ids:
        root = os.urandom(8)
        for index in range(SPANS_PER_TRACE):
            span_id = root if index == 0 else os.urandom(8)
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=b"" if index == 0 else root,
                    name="root" if index == 0 else f"child-{index}",
                    kind=Span.SPAN_KIND_SERVER if index == 0 else Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=start + index * 1000,
                    end_time_unix_nano=start + index * 1000 + 1_000_000,
                    attributes=[KeyValue(key="fault.test", value=AnyValue(string_value="yes"))],
                )
            )
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def post(session: requests.Session, port: int, body: bytes, timeout: float = 10) -> bool:
    """Whether the server acknowledged every span of `body`."""
    response = session.post(
        f"http://127.0.0.1:{port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=timeout,
    )
    if response.status_code != 200:
        return False
    reply = ExportTraceServiceResponse()
    reply.ParseFromString(response.content)
    return reply.partial_success.rejected_spans == 0


def send(port: int, service: str, traces: int, start_ns: int | None = None) -> set[str]:
    """Sends `traces` traces in one request; their hex IDs, all acknowledged (asserted)."""
    ids = [new_trace_id() for _ in range(traces)]
    with requests.Session() as session:
        assert post(session, port, traces_request(service, ids, start_ns)), "the write was not acknowledged"
    return {trace_id.hex() for trace_id in ids}


class Writer:
    """Threads that write batches of traces until stopped or the server goes away, and keep
    the IDs of the traces the server acknowledged."""

    def __init__(self, port: int, service: str, threads: int = 3, traces_per_request: int = 20):
        self.port, self.service, self.traces_per_request = port, service, traces_per_request
        self.acknowledged: set[str] = set()
        self.failed_requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "Writer":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                ids = [new_trace_id() for _ in range(self.traces_per_request)]
                try:
                    ok = post(session, self.port, traces_request(self.service, ids), timeout=5)
                except requests.RequestException:
                    ok = False
                with self._lock:
                    if ok:
                        self.acknowledged.update(trace_id.hex() for trace_id in ids)
                    else:
                        self.failed_requests += 1
                if not ok:
                    time.sleep(0.02)


def trace_problem(session: requests.Session, query_port: int, trace_id: str) -> str | None:
    """None when the trace reads back whole through /api/traces/{id}, else what is wrong."""
    response = session.get(f"http://127.0.0.1:{query_port}/api/traces/{trace_id}", timeout=10)
    if response.status_code != 200:
        return f"{trace_id}: HTTP {response.status_code} {response.text[:120]}"
    spans = response.json()["data"][0]["spans"]
    if len(spans) != SPANS_PER_TRACE:
        return f"{trace_id}: {len(spans)} spans"
    return None


def missing_traces(query_port: int, trace_ids) -> list[str]:
    """The problems of every trace in `trace_ids` that does not read back whole."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def check(trace_id: str) -> str | None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return trace_problem(local.session, query_port, trace_id)

    with ThreadPoolExecutor(6) as pool:
        return [problem for problem in pool.map(check, sorted(trace_ids)) if problem]
