"""Issue 14: the `elasticsearch` backend against a real OpenSearch-API server (osmem-server, from
the venv), with the real OpenTelemetry SDK: a Jaeger v2 config in the seed's shape, Jaeger's
document format, the two-process production topology (collectors and query-only processes), and
an outage of the cluster in the middle of ingest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otel_clients import CountingExporter, send_spans
from spoor import SHARED, Spoor, free_port, otlp_receivers, wait_until

ES_FIXTURE = SHARED / "fixtures" / "jaeger" / "api" / "uimodel-json" / "es_01.json"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def osmem_binary() -> Path:
    path = os.environ.get("OSMEM_SERVER")
    if path:
        return Path(path)
    import osmem_server

    return Path(osmem_server.__file__).parent / "bin" / "osmem-server"


class Osmem:
    """One osmem-server on a port it picks; it keeps nothing across a restart."""

    def __init__(self):
        self.process = subprocess.Popen(
            [str(osmem_binary()), "--addr", "127.0.0.1:0", "--no-stdin-watch", "--no-ja"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(self.process.stdout.readline())
        self.url = info["url"]
        self.port = int(self.url.rsplit(":", 1)[1])

    def search(self, index: str, body: dict) -> dict:
        response = requests.post(f"{self.url}/{index}/_search", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self):
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def osmem():
    server = Osmem()
    yield server
    server.close()


class Relay:
    """A TCP relay to `port` that can be stopped (connections reset, new ones refused) and
    started again on the same port: the cluster becomes unreachable without losing its data."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.start()

    def start(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self):
        with self.lock:
            if self.listener:
                # shutdown wakes the thread blocked in accept(); close alone would not on Linux.
                try:
                    self.listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.listener.close()
                self.listener = None
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self.connections.clear()

    def _accept(self, listener: socket.socket):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def es_backend(url: str, prefix: str = "tracing") -> str:
    """A `jaeger_storage` backend in the seed's shape: server URL and index prefix."""
    return f"""
  jaeger_storage:
    backends:
      es_main:
        elasticsearch:
          server_urls: [{url}]
          indices:
            index_prefix: {prefix}
            spans:
              shards: 1
              replicas: 0
            services:
              shards: 1
              replicas: 0
          bulk_processing:
            flush_interval: 20ms
"""


def collector_config(url: str, grpc: int, http: int, metrics: int, prefix: str = "tracing") -> str:
    """Jaeger v2's collector half: otlp → batch → jaeger_storage_exporter, no query."""
    return f"""{otlp_receivers(grpc, http)}processors:
  batch:
    timeout: 50ms
exporters:
  jaeger_storage_exporter:
    trace_storage: es_main
extensions:{es_backend(url, prefix)}
service:
  extensions: [jaeger_storage]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
"""


def find_traces(query_port: int, service: str) -> list[dict]:
    response = requests.get(
        f"http://127.0.0.1:{query_port}/api/traces", params={"service": service, "limit": 1000}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def value_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def test_collector_and_query_processes_share_the_cluster_in_jaegers_format(osmem, tmp_path):
    """examples/production-{collector,query}.yaml as they are, pointed at the test server."""
    env = {"SPOOR_ES_URL": osmem.url}
    collector = Spoor([EXAMPLES / "production-collector.yaml"], name="es-collector", env=env).start([4317])
    querier = Spoor([EXAMPLES / "production-query.yaml"], name="es-query", env=env).start([16686])
    grpc, query = 4317, 16686
    try:
        sent = send_spans("grpc", f"127.0.0.1:{grpc}", 40, "es-op", service="es-e2e")
        assert sent.acknowledged == 40 and sent.failed == 0

        traces = wait_until(lambda: find_traces(query, "es-e2e"), 30, message="traces through the query process")
        names = {span["operationName"] for trace in traces for span in trace["spans"]}
        assert names == {f"es-op-{i}" for i in range(40)}
        services = requests.get(f"http://127.0.0.1:{query}/api/services", timeout=10).json()["data"]
        assert "es-e2e" in services
        operations = requests.get(f"http://127.0.0.1:{query}/api/services/es-e2e/operations", timeout=10).json()
        assert len(operations["data"]) == 40

        # The query process holds no store of its own: nothing on disk beside its logs.
        assert sorted(p.name for p in querier.workdir.iterdir()) == ["stderr.log", "stdout.log"]

        # The raw documents, field by field against Jaeger's Elasticsearch fixture.
        hits = osmem.search("tracing-jaeger-span-*", {"size": 100, "query": {"match_all": {}}})["hits"]["hits"]
        assert len(hits) == 40
        assert all(hit["_index"].startswith("tracing-jaeger-span-20") for hit in hits)
        fixture = json.loads(ES_FIXTURE.read_text())
        doc = hits[0]["_source"]
        # Jaeger v2.20.0 also writes startTimeMillis and parentSpanID; es_01 predates both.
        assert set(doc) <= set(fixture) | {"startTimeMillis", "parentSpanID"}, set(doc) - set(fixture)
        for field in ("traceID", "spanID", "operationName", "startTime", "duration", "tags", "process"):
            assert value_kind(doc[field]) == value_kind(fixture[field]), field
        assert len(doc["traceID"]) == 32 and len(doc["spanID"]) == 16
        assert doc["startTimeMillis"] == doc["startTime"] // 1000
        assert set(doc["process"]) <= set(fixture["process"])
        assert doc["process"]["serviceName"] == "es-e2e"
        tags = {tag["key"]: tag for tag in doc["tags"]}
        assert set(tags["index"]) == {"key", "type", "value"}
        # Typed values, as current Jaeger writes them (es_01 holds the older string form).
        assert tags["index"]["type"] == "int64" and isinstance(tags["index"]["value"], int)
        assert tags["otel.scope.name"]["value"] == "spoor-e2e"
        assert tags["span.kind"]["value"] == "internal"
        services = osmem.search("tracing-jaeger-service-*", {"size": 100, "query": {"match_all": {}}})
        assert {h["_source"]["operationName"] for h in services["hits"]["hits"]} == {f"es-op-{i}" for i in range(40)}
    finally:
        collector.kill()
        querier.kill()


class RecordingExporter(CountingExporter):
    """Counts and records the span IDs the server acknowledged."""

    def __init__(self, inner):
        super().__init__(inner)
        self.acknowledged_ids: list[str] = []

    def export(self, spans):
        result = super().export(spans)
        if result == SpanExportResult.SUCCESS:
            self.acknowledged_ids += [format(span.context.span_id, "016x") for span in spans]
        return result


def test_an_outage_of_the_cluster_loses_and_duplicates_nothing_acknowledged(osmem, tmp_path, caplog):
    relay = Relay(osmem.port)
    grpc, http, metrics = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{relay.port}"
    collector = Spoor([collector_config(url, grpc, http, metrics)], name="es-outage").start([grpc])
    exporter = RecordingExporter(GrpcExporter(endpoint=f"127.0.0.1:{grpc}", insecure=True, timeout=10))
    provider = TracerProvider(resource=Resource.create({"service.name": "es-outage"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=20_000, max_export_batch_size=100, schedule_delay_millis=20)
    )
    tracer = provider.get_tracer("spoor-e2e", "1.0")
    try:
        # Longer than a write waits (8 s), so writes are answered UNAVAILABLE and retried.
        stop_at, restart_at, end_at = 2.0, 12.0, 15.0
        started = time.monotonic()
        stopped = restarted = False
        index = 0
        while (elapsed := time.monotonic() - started) < end_at:
            if elapsed >= stop_at and not stopped:
                relay.stop()
                stopped = True
            if elapsed >= restart_at and not restarted:
                relay.start()
                restarted = True
            with tracer.start_as_current_span(f"outage-{index}"):
                pass
            index += 1
            time.sleep(0.002)
        provider.force_flush(60_000)
        provider.shutdown()
        assert stopped and restarted
        acknowledged = exporter.acknowledged_ids
        refusals = [r.getMessage() for r in caplog.records if "UNAVAILABLE" in r.getMessage()]
        print(f"outage: {index} spans made, {len(acknowledged)} acknowledged, {exporter.failed} failed in the SDK, "
              f"{len(refusals)} requests refused with UNAVAILABLE and retried by the SDK")
        assert len(acknowledged) > 500, f"only {len(acknowledged)} of {index} spans acknowledged"
        # The backend noticed the outage, retried, and the receiver refused while it had no room
        # (the SDK retried those requests, so they may still have been acknowledged).
        assert "elasticsearch bulk failed; retrying" in collector.stderr(), collector.stderr()[-2000:]
        assert refusals, "the receiver never refused during the outage"

        def stored() -> dict[str, int]:
            body = {"size": 10_000, "_source": ["spanID"], "query": {"match_all": {}}}
            hits = osmem.search("tracing-jaeger-span-*", body)["hits"]["hits"]
            counts: dict[str, int] = {}
            for hit in hits:
                counts[hit["_source"]["spanID"]] = counts.get(hit["_source"]["spanID"], 0) + 1
            return counts

        counts = wait_until(lambda: (c := stored()) and all(i in c for i in acknowledged) and c, 30, message="spans")
        missing = [i for i in acknowledged if i not in counts]
        twice = [i for i, n in counts.items() if n > 1]
        assert not missing, f"{len(missing)} acknowledged spans missing"
        assert not twice, f"{len(twice)} spans stored more than once"
    finally:
        collector.kill()
        relay.stop()
