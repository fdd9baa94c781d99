"""Issue 5: Jaeger and Zipkin ingest on every port, with real clients, plus remote sampling.

The spans are observed through `jaeger receiver -> debug exporter (detailed)` and the receiver
self-metrics; test_ingest_roundtrip.py reads the same kinds of input back through the query API.
Thrift is encoded with the Python `thrift` library and the types generated from
testdata/idl/thrift (`jaeger_thrift`, `thrift_gen/`), not jaeger-client's bundled code.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import jaeger_thrift
from jaeger_thrift import emit_batch_datagram, serialize
from spoor import ROOT, SHARED, Spoor, free_port, metric, wait_until

IDL = SHARED / "idl"


class Ports:
    def __init__(self):
        self.grpc, self.http, self.compact, self.binary = free_port(), free_port(), free_udp_port(), free_udp_port()
        self.zipkin, self.metrics, self.sampling_http, self.sampling_grpc = free_port(), free_port(), free_port(), free_port()


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def jaeger_and_zipkin_receivers(ports, compact_extra: str = "") -> str:
    """The `receivers:` section with the jaeger receiver on all four protocols and zipkin;
    `ports` needs grpc, http, compact, binary and zipkin."""
    return f"""receivers:
  jaeger:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{ports.grpc}
      thrift_http:
        endpoint: 127.0.0.1:{ports.http}
      thrift_compact:
        endpoint: 127.0.0.1:{ports.compact}
{compact_extra}      thrift_binary:
        endpoint: 127.0.0.1:{ports.binary}
  zipkin:
    endpoint: 127.0.0.1:{ports.zipkin}
"""


def config(ports: Ports, strategies: Path | None = None) -> str:
    sampling = ""
    extensions = "[]"
    if strategies is not None:
        sampling = f"""
extensions:
  remote_sampling:
    file:
      path: {strategies}
      default_sampling_probability: 0.2
    http:
      endpoint: 127.0.0.1:{ports.sampling_http}
    grpc:
      endpoint: 127.0.0.1:{ports.sampling_grpc}
"""
        extensions = "[remote_sampling]"
    receivers = jaeger_and_zipkin_receivers(ports, compact_extra="        max_packet_size: 60000\n")
    return f"""
{receivers}exporters:
  debug:
    verbosity: detailed
    sampling_initial: 1000000
{sampling}
service:
  extensions: {extensions}
  pipelines:
    traces:
      receivers: [jaeger, zipkin]
      exporters: [debug]
  telemetry:
    metrics:
      address: 127.0.0.1:{ports.metrics}
"""


def start(ports: Ports, strategies: Path | None = None) -> Spoor:
    wait = [ports.grpc, ports.http, ports.zipkin, ports.metrics]
    if strategies is not None:
        wait += [ports.sampling_http, ports.sampling_grpc]
    return Spoor([config(ports, strategies)], name="jaeger-ingest").start(wait)


# --------------------------------------------------------------------------------------------
# Reading the debug exporter's detailed output


def parse_spans(output: str) -> list[dict]:
    """Every span printed, with its fields, attributes, events, and its resource's attributes."""
    spans, resource, current, section = [], {}, None, None
    for line in output.splitlines():
        line = line.rstrip()
        # The first line of a batch follows the log line's prefix.
        if re.search(r"(^|\s)ResourceSpans #\d+$", line):
            resource, current, section = {}, None, "resource"
            continue
        if line.startswith("Span #"):
            current = {"resource": resource, "attributes": {}, "events": [], "links": 0}
            spans.append(current)
            section = "span"
            continue
        if line.startswith("Attributes:"):
            section = "attributes"
            continue
        if line.startswith("Events:"):
            section = "events"
            continue
        if line.startswith("Links:"):
            section = "links"
            continue
        if line.startswith("SpanLink #") and current is not None:
            current["links"] += 1
            continue
        if line.startswith("ScopeSpans #") or line.startswith("Resource attributes"):
            section = "resource" if line.startswith("Resource attributes") else "scope"
            continue
        m = re.match(r"^\s*-> ([^:]+): (\w+)\((.*)\)$", line)
        if m and section == "resource" and current is None:
            resource[m.group(1)] = m.group(3)
            continue
        if current is None:
            continue
        if m and section == "attributes":
            current["attributes"][m.group(1)] = (m.group(2), m.group(3))
            continue
        if section == "events":
            name = re.match(r"^\s*-> Name: (.*)$", line)
            if name:
                current["events"].append(name.group(1))
            continue
        field = re.match(r"^\s*([A-Za-z ]+?)\s*: (.*)$", line)
        if field and section == "span":
            current[field.group(1)] = field.group(2)
    return spans


def spans_named(process: Spoor, prefix: str, count: int, timeout: float = 20) -> list[dict]:
    def found():
        spans = [s for s in parse_spans(process.stdout()) if s.get("Name", "").startswith(prefix)]
        return spans if len(spans) >= count else None

    return wait_until(found, timeout, message=f"{count} spans named {prefix}*")


def accepted(ports: Ports, transport: str) -> float:
    return metric(ports.metrics, "otelcol_receiver_accepted_spans_total", receiver="jaeger", transport=transport)


# --------------------------------------------------------------------------------------------
# Thrift, with the Python `thrift` library and the types generated from testdata/idl/thrift

# Bytes that are not UTF-8, to show they travel as binary and not as text.
BINARY = b"\x00\xff\x80"


def thrift_batch(service: str, names: list[str], trace_high: int = 0x1122334455667788):
    j = jaeger_thrift.jaeger

    tags = [
        j.Tag(key="str", vType=j.TagType.STRING, vStr="text"),
        j.Tag(key="long", vType=j.TagType.LONG, vLong=-42),
        j.Tag(key="double", vType=j.TagType.DOUBLE, vDouble=1.5),
        j.Tag(key="bool", vType=j.TagType.BOOL, vBool=True),
        j.Tag(key="bin", vType=j.TagType.BINARY, vBinary=BINARY),
    ]
    spans = []
    for i, name in enumerate(names):
        span_tags = list(tags) + [j.Tag(key="span.kind", vType=j.TagType.STRING, vStr="client")]
        if i == 0:
            span_tags.append(j.Tag(key="error", vType=j.TagType.BOOL, vBool=True))
        spans.append(
            j.Span(
                traceIdLow=0x0102030405060708,
                traceIdHigh=trace_high,
                spanId=i + 1,
                parentSpanId=0,
                operationName=name,
                references=[
                    j.SpanRef(refType=j.SpanRefType.CHILD_OF, traceIdLow=0x0102030405060708, traceIdHigh=trace_high, spanId=100),
                    j.SpanRef(refType=j.SpanRefType.FOLLOWS_FROM, traceIdLow=0x0102030405060708, traceIdHigh=trace_high, spanId=200),
                ],
                flags=1,
                startTime=int(time.time() * 1e6),
                duration=1500,
                tags=span_tags,
                logs=[j.Log(timestamp=int(time.time() * 1e6), fields=[j.Tag(key="event", vType=j.TagType.STRING, vStr="retry"), j.Tag(key="attempt", vType=j.TagType.LONG, vLong=2)])],
            )
        )
    process = j.Process(serviceName=service, tags=[j.Tag(key="hostname", vType=j.TagType.STRING, vStr="build-node"), j.Tag(key="ip", vType=j.TagType.STRING, vStr="10.0.0.7")])
    return j.Batch(process=process, spans=spans)


def check_thrift_span(span: dict, service: str):
    assert span["resource"]["service.name"] == service
    assert span["resource"]["host.name"] == "build-node", "hostname becomes host.name"
    assert span["resource"]["ip"] == "10.0.0.7"
    attributes = span["attributes"]
    assert attributes["str"] == ("Str", "text")
    assert attributes["long"] == ("Int", "-42")
    assert attributes["double"] == ("Double", "1.5")
    assert attributes["bool"] == ("Bool", "true")
    assert attributes["bin"] == ("Bytes", base64.b64encode(BINARY).decode()), "the debug exporter prints bytes as base64"
    assert "span.kind" not in attributes and "error" not in attributes
    assert span["Kind"] == "Client"
    assert span["Trace ID"] == "11223344556677880102030405060708"
    assert span["Parent ID"] == "0000000000000064", "the CHILD_OF reference is the parent"
    assert span["links"] == 1, "FOLLOWS_FROM stays a link"
    assert span["events"] == ["retry"]


def test_tekton_thrift_over_http():
    ports = Ports()
    spoor = start(ports)
    try:
        from thrift.protocol import TBinaryProtocol

        body = serialize(thrift_batch("tekton-pipelines", ["tekton-0", "tekton-1"]), TBinaryProtocol.TBinaryProtocol)
        for content_type in ["application/x-thrift", "application/vnd.apache.thrift.binary"]:
            response = requests.post(f"http://127.0.0.1:{ports.http}/api/traces", data=body, headers={"Content-Type": content_type}, timeout=5)
            assert response.status_code == 202, response.text
        spans = spans_named(spoor, "tekton-", 4)
        for span in spans:
            check_thrift_span(span, "tekton-pipelines")
        errors = [s for s in spans if s["Name"] == "tekton-0"]
        assert all(s["Status code"] == "Error" for s in errors)
        assert all(s["Status code"] == "Unset" for s in spans if s["Name"] == "tekton-1")
        assert wait_until(lambda: accepted(ports, "collector_http") == 4, 10, message="4 accepted")
    finally:
        spoor.kill()


def report_with_jaeger_client(service: str, compact_port: int, prefix: str) -> int:
    """Python jaeger-client, with its default UDP reporter and a const sampler, reports a root
    span (a tag and a log) and a server child as `<prefix>root` and `<prefix>child`; returns
    the 64-bit trace ID."""
    from jaeger_client import Config

    tracer = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": compact_port},
            "logging": False,
        },
        service_name=service,
        validate=True,
    ).new_tracer()
    with tracer.start_span(f"{prefix}root") as root:
        root.set_tag("answer", 42)
        root.log_kv({"event": "started", "k": "v"})
        with tracer.start_span(f"{prefix}child", child_of=root) as child:
            child.set_tag("span.kind", "server")
    time.sleep(0.5)
    tracer.close()
    return root.trace_id


def test_jaeger_client_udp_compact_and_binary():
    ports = Ports()
    spoor = start(ports)
    try:
        report_with_jaeger_client("jaeger-client-app", ports.compact, "client-")
        spans = {s["Name"]: s for s in spans_named(spoor, "client-", 2)}
        assert spans["client-root"]["resource"]["service.name"] == "jaeger-client-app"
        assert spans["client-root"]["attributes"]["answer"] == ("Int", "42")
        assert spans["client-root"]["events"] == ["started"]
        assert spans["client-child"]["Parent ID"] != ""
        assert spans["client-child"]["Kind"] == "Server"
        assert accepted(ports, "udp_thrift_compact") >= 2

        from thrift.protocol import TBinaryProtocol

        datagram = emit_batch_datagram(thrift_batch("binary-svc", ["binary-0"]), TBinaryProtocol.TBinaryProtocol)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(datagram, ("127.0.0.1", ports.binary))
        check_thrift_span(spans_named(spoor, "binary-", 1)[0], "binary-svc")
        assert wait_until(lambda: accepted(ports, "udp_thrift_binary") == 1, 10, message="binary accepted")
    finally:
        spoor.kill()


def generate_stubs(tmp_path: Path) -> None:
    """api_v2 collector and Zipkin protobuf stubs, generated by grpcio-tools from testdata/idl."""
    out = tmp_path / "gen"
    out.mkdir()
    api_v2 = IDL / "proto" / "api_v2"
    third = IDL / "third_party"
    command = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{api_v2}", f"-I{third}", f"-I{IDL / 'zipkin'}",
        f"--python_out={out}", f"--grpc_python_out={out}",
        str(api_v2 / "model.proto"), str(api_v2 / "collector.proto"), str(api_v2 / "sampling.proto"),
        str(third / "gogoproto" / "gogo.proto"), str(third / "google" / "api" / "annotations.proto"),
        str(third / "google" / "api" / "http.proto"), str(IDL / "zipkin" / "zipkin.proto"),
    ]
    subprocess.run(command, check=True, capture_output=True)
    sys.path.insert(0, str(out))


def one_span_request(name: str, service: str):
    """A PostSpansRequest (stubs from generate_stubs) with one producer span tagged n=7."""
    import collector_pb2
    import model_pb2
    from google.protobuf.duration_pb2 import Duration
    from google.protobuf.timestamp_pb2 import Timestamp

    start_time = Timestamp()
    start_time.GetCurrentTime()
    span = model_pb2.Span(
        trace_id=bytes(range(16)), span_id=bytes(range(8)), operation_name=name,
        start_time=start_time, duration=Duration(nanos=5000),
        tags=[model_pb2.KeyValue(key="span.kind", v_type=model_pb2.STRING, v_str="producer"),
              model_pb2.KeyValue(key="n", v_type=model_pb2.INT64, v_int64=7)],
    )
    batch = model_pb2.Batch(spans=[span], process=model_pb2.Process(service_name=service))
    return collector_pb2.PostSpansRequest(batch=batch)


def test_grpc_post_spans(tmp_path):
    generate_stubs(tmp_path)
    import grpc
    import collector_pb2
    import collector_pb2_grpc
    import model_pb2

    ports = Ports()
    spoor = start(ports)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            stub = collector_pb2_grpc.CollectorServiceStub(channel)
            stub.PostSpans(one_span_request("grpc-span", "grpc-svc"), timeout=10)
            bad = model_pb2.Batch(spans=[model_pb2.Span(trace_id=b"\x01\x02", span_id=bytes(8))])
            with pytest.raises(grpc.RpcError) as error:
                stub.PostSpans(collector_pb2.PostSpansRequest(batch=bad), timeout=10)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        got = spans_named(spoor, "grpc-span", 1)[0]
        assert got["resource"]["service.name"] == "grpc-svc"
        assert got["Kind"] == "Producer"
        assert got["attributes"]["n"] == ("Int", "7")
        assert got["Trace ID"] == bytes(range(16)).hex()
        assert wait_until(lambda: accepted(ports, "grpc") == 1, 10, message="grpc accepted")
    finally:
        spoor.kill()


def export_with_zipkin_json(url: str, version: str, prefix: str) -> int:
    """opentelemetry-exporter-zipkin-json sends `<prefix>-parent` (server, a tag and an event)
    and `<prefix>-child` (client) of service `<prefix>-svc` to the zipkin receiver at `url`,
    with Zipkin `version` "v1" or "v2"; returns the trace ID."""
    from opentelemetry import trace
    from opentelemetry.exporter.zipkin.encoder import Protocol
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    protocol = Protocol(version)
    # max_tag_value_length: the client's v1 encoder fails without one.
    exporter = ZipkinExporter(version=protocol, endpoint=f"{url}/api/{version}/spans", max_tag_value_length=1024)
    provider = TracerProvider(resource=Resource.create({"service.name": f"{prefix}-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span(f"{prefix}-parent", kind=trace.SpanKind.SERVER) as parent:
        parent.set_attribute("http.method", "GET")
        parent.add_event("cache-miss", {"key": "k1"})
        with tracer.start_as_current_span(f"{prefix}-child", kind=trace.SpanKind.CLIENT):
            pass
    provider.shutdown()
    return parent.get_span_context().trace_id


# The OTel Python exporter writes an event as a JSON object; the collector keeps that text as the
# event's name.
EXPORTED_EVENT = '{"cache-miss": {"key": "k1"}}'


def test_zipkin_clients(tmp_path):
    generate_stubs(tmp_path)
    import zipkin_pb2

    ports = Ports()
    spoor = start(ports)
    try:
        url = f"http://127.0.0.1:{ports.zipkin}"
        for version, prefix in [("v2", "zv2"), ("v1", "zv1")]:
            export_with_zipkin_json(url, version, prefix)
        v2 = {s["Name"]: s for s in spans_named(spoor, "zv2-", 2)}
        assert v2["zv2-parent"]["Kind"] == "Server" and v2["zv2-child"]["Kind"] == "Client"
        assert v2["zv2-parent"]["resource"]["service.name"] == "zv2-svc"
        assert v2["zv2-parent"]["attributes"]["http.method"] == ("Str", "GET")
        assert v2["zv2-parent"]["events"] == [EXPORTED_EVENT]
        assert v2["zv2-child"]["Parent ID"] == v2["zv2-parent"]["ID"]
        v1 = {s["Name"]: s for s in spans_named(spoor, "zv1-", 2)}
        assert v1["zv1-child"]["Parent ID"] == v1["zv1-parent"]["ID"]
        assert v1["zv1-parent"]["attributes"]["http.method"] == ("Str", "GET")
        # The exporter's v1 encoder writes no core annotations (cs/sr), which are the only place
        # v1 carries a kind: the kind is lost on the way, as it would be with the collector.
        assert v1["zv1-parent"]["Kind"] == "Unspecified" and v1["zv1-child"]["Kind"] == "Unspecified"
        assert "span.kind" not in v1["zv1-parent"]["attributes"]
        assert v1["zv1-parent"]["events"] == [EXPORTED_EVENT], "annotations become events (Jaeger's logs)"
        assert v1["zv1-child"]["events"] == []

        # Protobuf, from opentelemetry-exporter-zipkin-proto-http in its own venv (protobuf 3.x).
        client = ROOT / ".venv-zipkin-proto" / "bin" / "python"
        subprocess.run([str(client), str(Path(__file__).with_name("zipkin_proto_client.py")), url + "/api/v2/spans", "zph"],
                       check=True, timeout=60)
        zph = {s["Name"]: s for s in spans_named(spoor, "zph-", 2)}
        assert zph["zph-parent"]["Kind"] == "Server" and zph["zph-child"]["Kind"] == "Client"
        assert zph["zph-parent"]["resource"]["service.name"] == "zph-svc"
        assert zph["zph-parent"]["attributes"]["http.method"] == ("Str", "GET")
        assert zph["zph-parent"]["events"] == [EXPORTED_EVENT]
        assert zph["zph-child"]["Parent ID"] == zph["zph-parent"]["ID"]
        assert zph["zph-child"]["Status code"] == "Error"

        # Protobuf again, encoded by Google's protobuf runtime from zipkin.proto: a consumer span
        # with a parent outside the batch.
        span = zipkin_pb2.Span(trace_id=bytes(range(16)), id=bytes(range(8)), parent_id=bytes([9] * 8), kind=zipkin_pb2.Span.CONSUMER,
                               name="zproto-span", timestamp=int(time.time() * 1e6), duration=10,
                               local_endpoint=zipkin_pb2.Endpoint(service_name="proto-svc"), tags={"error": "true", "q": "1"},
                               annotations=[zipkin_pb2.Annotation(timestamp=int(time.time() * 1e6), value="received")])
        body = zipkin_pb2.ListOfSpans(spans=[span]).SerializeToString()
        response = requests.post(url + "/api/v2/spans", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=5)
        assert response.status_code == 202
        got = spans_named(spoor, "zproto-", 1)[0]
        assert got["Kind"] == "Consumer" and got["Status code"] == "Error"
        assert got["Parent ID"] == "0909090909090909" and got["events"] == ["received"]

        # A hand-written v1 JSON payload, gzipped.
        v1_json = [{
            "traceId": "00000000000000a1", "id": "00000000000000b2", "parentId": "00000000000000c3", "name": "handwritten-v1",
            "annotations": [
                {"timestamp": 1_700_000_000_000_000, "value": "cs", "endpoint": {"serviceName": "legacy", "ipv4": "10.1.2.3", "port": 80}},
                {"timestamp": 1_700_000_000_000_500, "value": "retrying", "endpoint": {"serviceName": "legacy"}},
                {"timestamp": 1_700_000_000_001_000, "value": "cr", "endpoint": {"serviceName": "legacy", "ipv4": "10.1.2.3", "port": 80}},
            ],
            "binaryAnnotations": [{"key": "http.path", "value": "/api"}],
        }]
        response = requests.post(url + "/api/v1/spans", data=gzip.compress(json.dumps(v1_json).encode()),
                                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, timeout=5)
        assert response.status_code == 202
        got = spans_named(spoor, "handwritten-", 1)[0]
        assert got["Kind"] == "Client" and got["events"] == ["retrying"]
        assert got["resource"]["service.name"] == "legacy" and got["Parent ID"] == "00000000000000c3"
        assert got["attributes"]["http.path"] == ("Str", "/api")
    finally:
        spoor.kill()


def test_bad_input_on_every_port_is_refused_and_the_process_keeps_serving(tmp_path):
    ports = Ports()
    spoor = start(ports)
    try:
        from thrift.protocol import TBinaryProtocol, TCompactProtocol

        thrift_url = f"http://127.0.0.1:{ports.http}/api/traces"
        assert requests.post(thrift_url, data=b"\x0c\x00\x01garbage", headers={"Content-Type": "application/x-thrift"}, timeout=5).status_code == 400
        assert requests.post(thrift_url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=5).status_code == 415
        zipkin = f"http://127.0.0.1:{ports.zipkin}"
        assert requests.post(zipkin + "/api/v2/spans", data=b"[{", headers={"Content-Type": "application/json"}, timeout=5).status_code == 400
        assert requests.post(zipkin + "/api/v2/spans", data=b"\x0a\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"}, timeout=5).status_code == 400
        assert requests.post(zipkin + "/api/v2/spans", data=b"[]", headers={"Content-Type": "text/xml"}, timeout=5).status_code == 415
        assert requests.post(zipkin + "/api/v1/spans", data=b"\x0c\x7f\xff\xff\xff", headers={"Content-Type": "application/x-thrift"}, timeout=5).status_code == 400

        good = emit_batch_datagram(thrift_batch("udp-svc", ["after-garbage"]), TCompactProtocol.TCompactProtocol)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"\x82\x21\x01\x09emitBatch\xff\xff\xff\xff", ("127.0.0.1", ports.compact))  # garbage
            sock.sendto(good[: len(good) // 2], ("127.0.0.1", ports.compact))  # truncated
            sock.sendto(b"\x82" * 61000, ("127.0.0.1", ports.compact))  # over max_packet_size
            sock.sendto(b"\x80\x01\x00\x04garbage", ("127.0.0.1", ports.binary))
            time.sleep(0.3)
            sock.sendto(good, ("127.0.0.1", ports.compact))
        spans_named(spoor, "after-garbage", 1)
        refused = lambda transport: metric(ports.metrics, "otelcol_receiver_refused_spans_total", receiver="jaeger", transport=transport)
        assert wait_until(lambda: refused("udp_thrift_compact") == 3, 10, message="3 compact datagrams refused")
        assert refused("udp_thrift_binary") == 1

        body = serialize(thrift_batch("still-serving", ["still-serving"]), TBinaryProtocol.TBinaryProtocol)
        assert requests.post(thrift_url, data=body, headers={"Content-Type": "application/x-thrift"}, timeout=5).status_code == 202
        spans_named(spoor, "still-serving", 1)

        # A request that does not decode is INTERNAL in tonic, as in grpc-go (Jaeger's collector):
        # "grpc: error unmarshalling request".
        assert grpc_refuses_garbage(ports, tmp_path) == "INTERNAL"
        spans_named(spoor, "grpc-after-garbage", 1)
        assert spoor.process.poll() is None
    finally:
        spoor.kill()


def grpc_refuses_garbage(ports: Ports, tmp_path: Path) -> str:
    """Sends bytes that are no PostSpansRequest (a length-delimited field cut short) to 14250's
    PostSpans, then a valid request on the same channel; returns the garbage's status code."""
    generate_stubs(tmp_path)
    import grpc
    import collector_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
        # No serializers: the bytes go out as they are.
        post_raw = channel.unary_unary("/jaeger.api_v2.CollectorService/PostSpans")
        with pytest.raises(grpc.RpcError) as error:
            post_raw(b"\x0a\xff\xff\xff", timeout=10)
        collector_pb2_grpc.CollectorServiceStub(channel).PostSpans(one_span_request("grpc-after-garbage", "grpc-svc"), timeout=10)
    return error.value.code().name


STRATEGIES = {
    "service_strategies": [
        {"service": "sampled-app", "type": "probabilistic", "param": 0.8,
         "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
        {"service": "limited-app", "type": "ratelimiting", "param": 5},
    ],
    "default_strategy": {"type": "probabilistic", "param": 0.5},
}


def test_remote_sampling_file_strategies(tmp_path):
    strategies = tmp_path / "strategies.json"
    strategies.write_text(json.dumps(STRATEGIES))
    ports = Ports()
    spoor = start(ports, strategies)
    try:
        base = f"http://127.0.0.1:{ports.sampling_http}"
        assert requests.get(base + "/sampling?service=limited-app", timeout=5).json() == {
            "strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5}}
        assert requests.get(base + "/sampling?service=other", timeout=5).json() == {
            "strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5}}
        assert requests.get(base + "/api/sampling?service=sampled-app", timeout=5).json() == {
            "strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.8},
            "operationSampling": {"defaultSamplingProbability": 0.8, "defaultLowerBoundTracesPerSecond": 0,
                                  "perOperationStrategies": [{"operation": "op1", "probabilisticSampling": {"samplingRate": 0.2}}],
                                  "defaultUpperBoundTracesPerSecond": 0}}
        assert requests.get(base + "/sampling", timeout=5).status_code == 400
        # The collector's endpoint on the Thrift HTTP port serves the same strategies.
        assert requests.get(f"http://127.0.0.1:{ports.http}/api/sampling?service=limited-app", timeout=5).json()["strategyType"] == "RATE_LIMITING"

        from jaeger_client import Config

        tracer = Config(
            # No `sampler` section: the client polls the agent's /sampling endpoint.
            config={
                "sampling_refresh_interval": 1,
                "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": ports.compact,
                                "sampling_port": ports.sampling_http},
                "logging": False,
            },
            service_name="limited-app",
            validate=True,
        ).new_tracer()
        try:
            def rate_limited():
                return type(tracer.sampler.sampler).__name__ == "RateLimitingSampler"

            assert wait_until(rate_limited, 15, message="jaeger-client adopts the file strategy")
        finally:
            tracer.close()
    finally:
        spoor.kill()
