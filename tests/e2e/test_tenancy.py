"""Multi-tenancy as Jaeger v2: the OTLP receiver carries the tenant header (include_metadata),
the batch processor keeps tenants apart (metadata_keys), jaeger_storage_exporter writes each
tenant into its own store, and jaeger_query serves each tenant only its data, refusing a
missing or unknown tenant with Jaeger's codes and words."""

from __future__ import annotations

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from spoor import Ports, Spoor, backend_config, metric, wait_until

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
TRACE_HEX = f"{TRACE_ID:032x}"
TENANTS = ["acme", "globex"]


class FixedTraceId(RandomIdGenerator):
    """Every tenant writes the same trace ID, so only the tenant keeps their spans apart."""

    def generate_trace_id(self) -> int:
        return TRACE_ID


def config(ports: Ports, backend: str, data_dir) -> str:
    receivers = f"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{ports.otlp_grpc}
        include_metadata: true
      http:
        endpoint: 127.0.0.1:{ports.otlp_http}
        include_metadata: true
"""
    return backend_config(ports, backend, data_dir, receivers=receivers, max_traces=1000, tenants=TENANTS)


def send(exporter, tenant: str, spans: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"{tenant}-svc"}), id_generator=FixedTraceId())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tenancy-e2e")
    with tracer.start_as_current_span(f"{tenant}-root"):
        for index in range(spans - 1):
            with tracer.start_as_current_span(f"{tenant}-child-{index}"):
                pass
    provider.shutdown()


def get(ports: Ports, path: str, tenant: str | None) -> requests.Response:
    headers = {"x-tenant": tenant} if tenant is not None else {}
    return requests.get(f"http://127.0.0.1:{ports.query}{path}", headers=headers, timeout=10)


def operations_of(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {span["operationName"] for trace in response.json()["data"] for span in trace["spans"]}


def read_proto_fields(data: bytes):
    """(field, value) pairs of a protobuf message: enough to read api_v2 spans' names."""
    at = 0

    def varint():
        nonlocal at
        result = shift = 0
        while True:
            byte = data[at]
            at += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while at < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            yield field, varint()
        elif wire == 2:
            length = varint()
            yield field, data[at : at + length]
            at += length
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise ValueError(f"wire type {wire}")


def grpc_get_trace(ports: Ports, tenant: str | None) -> set[str]:
    """api_v2 GetTrace; the operation names of the spans streamed back."""
    request = bytes([0x0A, 16]) + TRACE_ID.to_bytes(16, "big")
    metadata = [("x-tenant", tenant)] if tenant is not None else []
    with grpc.insecure_channel(f"127.0.0.1:{ports.query_grpc}") as channel:
        call = channel.unary_stream("/jaeger.api_v2.QueryService/GetTrace")
        names = set()
        for chunk in call(request, metadata=metadata, timeout=10):
            for field, span in read_proto_fields(chunk):
                if field == 1:
                    names |= {value.decode() for f, value in read_proto_fields(span) if f == 3}
        return names


@pytest.mark.parametrize("backend", ["memory", "embedded"])
def test_each_tenant_reads_only_its_own_trace(tmp_path, backend):
    ports = Ports()
    spoor = Spoor([config(ports, backend, tmp_path / "data")], name=f"tenancy-{backend}")
    spoor.start([ports.otlp_grpc, ports.otlp_http, ports.query, ports.query_grpc])
    try:
        send(GrpcExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True, headers={"x-tenant": "acme"}), "acme", 2)
        send(HttpExporter(endpoint=f"http://127.0.0.1:{ports.otlp_http}/v1/traces", headers={"x-tenant": "globex"}), "globex", 3)
        expected = {
            "acme": {"acme-root", "acme-child-0"},
            "globex": {"globex-root", "globex-child-0", "globex-child-1"},
        }
        for tenant in TENANTS:
            wait_until(
                lambda: get(ports, f"/api/traces/{TRACE_HEX}", tenant).status_code == 200
                and operations_of(get(ports, f"/api/traces/{TRACE_HEX}", tenant)) == expected[tenant],
                20,
                message=f"{tenant}'s trace",
            )
            assert operations_of(get(ports, f"/api/traces?service={tenant}-svc&lookback=1h", tenant)) == expected[tenant]
            services = get(ports, "/api/services", tenant).json()["data"]
            assert services == [f"{tenant}-svc"]
            v3 = get(ports, f"/api/v3/traces/{TRACE_HEX}", tenant)
            assert v3.status_code == 200, v3.text
            v3_names = {
                span["name"]
                for rs in v3.json()["result"]["resourceSpans"]
                for ss in rs["scopeSpans"]
                for span in ss["spans"]
            }
            assert v3_names == expected[tenant]
            assert grpc_get_trace(ports, tenant) == expected[tenant]

        # Across tenants nothing is found.
        assert get(ports, "/api/traces?service=globex-svc&lookback=1h", "acme").json()["data"] == []
        assert get(ports, "/api/traces?service=acme-svc&lookback=1h", "globex").json()["data"] == []

        # Missing and unknown tenants: Jaeger's 401 and words on HTTP, its codes on gRPC.
        for path in [f"/api/traces/{TRACE_HEX}", "/api/traces?service=acme-svc", f"/api/v3/traces/{TRACE_HEX}", "/api/services"]:
            missing = get(ports, path, None)
            assert (missing.status_code, missing.text) == (401, "missing tenant header"), path
            unknown = get(ports, path, "initech")
            assert (unknown.status_code, unknown.text) == (401, "unknown tenant"), path
        with pytest.raises(grpc.RpcError) as missing:
            grpc_get_trace(ports, None)
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert missing.value.details() == "missing tenant header"
        with pytest.raises(grpc.RpcError) as unknown:
            grpc_get_trace(ports, "initech")
        assert unknown.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert unknown.value.details() == "unknown tenant"

        # The UI's assets need no tenant.
        assert requests.get(f"http://127.0.0.1:{ports.query}/", timeout=10).status_code == 200

        # A batch without a tenant is refused by the storage exporter, and counted.
        send(GrpcExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True), "nobody", 1)
        wait_until(
            lambda: metric(ports.metrics, "otelcol_exporter_send_failed_spans_total") >= 1,
            20,
            message="the tenant-less span counted as failed",
        )
        if backend == "embedded":
            assert (tmp_path / "data" / "tenants" / "acme").is_dir()
            assert (tmp_path / "data" / "tenants" / "globex").is_dir()
    finally:
        spoor.kill()
