"""Issue 5: round-trip fidelity per ingest protocol.

One spoor process takes the `jaeger` (gRPC, Thrift HTTP, agent UDP compact and binary), `zipkin`
(v2 JSON and protobuf, v1 JSON and Thrift) and `otlp` receivers into the memory store behind
`jaeger_query`. Each protocol gets one hand-built trace, read back with `GET /api/traces/{id}` and
compared with the Jaeger JSON that Jaeger v2 shows for that input. Thrift is encoded with the
Python `thrift` library and the types generated from testdata/idl/thrift (`jaeger_thrift`).
Real clients (jaeger-client over UDP, the OTel Zipkin JSON exporter) are read back the same way. The expected JSON follows collector-contrib's translators
(`pkg/translator/jaeger`, `pkg/translator/zipkin`) and Jaeger v2's query path
(`ProtoFromTraces` after the standard adjusters):

- Jaeger protocols: tags keep their types (BINARY stays binary, and Jaeger's JSON shows it in
  base64: `AP+A` for the non-UTF-8 bytes 00 ff 80); `span.kind` round-trips;
  `error=true` becomes the ERROR status, shown as `otel.status_code=ERROR` plus `error=true`,
  and `otel.status_code=ok` (matched case-insensitively) the OK status, shown as
  `otel.status_code=OK`; the process's `hostname` becomes `host.name` and `jaeger.version` becomes
  `opencensus.exporterversion=Jaeger-<version>`; a CHILD_OF reference to the parent stays the
  first reference and FOLLOWS_FROM stays a reference after it.
- Zipkin v2: tags stay strings (no `parse_string_tags`); resource-convention tags (`host.name`)
  move to the process; `error=true` gives ERROR and `otel.status_code=Ok` (the collector
  exporter's spelling, which contrib maps like `STATUS_CODE_OK`) gives OK; endpoints become
  `net.host.*`/`net.peer.*`/`peer.service`; an annotation `name|{json}|dropped` becomes a log
  with typed fields; an `otlp.link.N` tag becomes a FOLLOWS_FROM reference.
- Zipkin v1: the endpoint of the core annotations is the process (`ipv4`, `ipv6` and `port` as
  string tags), `cs`/`sr` give the kind, other annotations are logs, `lc` becomes `component`, a
  numeric `otel.status_code` sets the status, and an `error` binary annotation (any value) sets
  the ERROR status and is dropped. Thrift binary annotations keep their types, except that I16
  and I32 read unsigned and BYTES become base64 text.
- Jaeger's query-side adjusters run: a Zipkin shared span (a SERVER span reusing its CLIENT's
  ID) gets a new ID under the client span, and a numeric `ip`/`peer.ipv4` shows dotted.
- Jaeger v2 adds no `internal.span.format` tag (only v1's collector did).
- The spans are sent with flags=1 (sampled) and `flags` is expected absent: contrib's
  translators dropped span flags until PR #49568 (merged 2026-07-08). Whether Jaeger v2.20.0
  (2026-07-19) bundles a contrib release with it is unverified; if it does, Jaeger shows
  `"flags": 1` on the Jaeger-protocol spans.

Normalization before comparing: tags (span and process) sorted by key, spans sorted by spanID,
and `processID` replaced by the process it names, so `p1`/`p2` numbering does not matter.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import struct
import time

import pytest
import requests

import jaeger_thrift
from jaeger_thrift import emit_batch_datagram, serialize, zipkin_v1_body
from spoor import Spoor, backend_config, free_port, wait_until
from test_jaeger_ingest import (
    BINARY,
    EXPORTED_EVENT,
    export_with_zipkin_json,
    free_udp_port,
    generate_stubs,
    jaeger_and_zipkin_receivers,
    report_with_jaeger_client,
)


class Ports:
    def __init__(self):
        self.grpc, self.http, self.compact, self.binary = free_port(), free_port(), free_udp_port(), free_udp_port()
        self.zipkin, self.otlp_http, self.query, self.query_grpc = free_port(), free_port(), free_port(), free_port()
        self.metrics = free_port()


def config(ports: Ports) -> str:
    receivers = f"""{jaeger_and_zipkin_receivers(ports)}  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{ports.otlp_http}
"""
    return backend_config(
        ports, "memory", receivers=receivers, receiver_names="[jaeger, zipkin, otlp]", max_traces=1000
    )


@pytest.fixture(scope="module")
def backend():
    ports = Ports()
    spoor = Spoor([config(ports)], name="ingest-roundtrip")
    spoor.start([ports.grpc, ports.http, ports.zipkin, ports.otlp_http, ports.query])
    try:
        yield spoor, ports
    finally:
        spoor.kill()


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    generate_stubs(tmp_path_factory.mktemp("stubs"))


# --------------------------------------------------------------------------------------------
# Reading back and comparing


def normalize(trace: dict) -> dict:
    trace = copy.deepcopy(trace)
    processes = trace.pop("processes")
    for process in processes.values():
        process["tags"] = sorted(process["tags"], key=lambda t: t["key"])
    for span in trace["spans"]:
        span["tags"] = sorted(span["tags"], key=lambda t: t["key"])
        span["process"] = processes[span.pop("processID")]
    trace["spans"].sort(key=lambda s: s["spanID"])
    trace["processes"] = sorted((json.dumps(p, sort_keys=True) for p in processes.values()))
    return trace


def fetch(ports: Ports, trace_id: str, span_count: int) -> dict:
    url = f"http://127.0.0.1:{ports.query}/api/traces/{trace_id}"

    def complete():
        response = requests.get(url, timeout=10)
        if response.status_code != 200:
            return None
        body = response.json()
        return body if sum(len(t["spans"]) for t in body["data"]) >= span_count else None

    body = wait_until(complete, 20, message=f"{span_count} spans of trace {trace_id}")
    assert body["errors"] is None and len(body["data"]) == 1, body
    return body["data"][0]


def check(ports: Ports, expected: dict):
    got = fetch(ports, expected["traceID"], len(expected["spans"]))
    assert normalize(got) == normalize(expected), json.dumps(got, indent=1)


def tag(key: str, value) -> dict:
    """A UI tag, typed as Jaeger prints it; bytes print as base64."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode()}
    return {"key": key, "type": "string", "value": value}


def ui_span(trace_id, span_id, name, start, duration, tags, process_id="p1", references=(), logs=()) -> dict:
    return {
        "traceID": trace_id, "spanID": span_id, "operationName": name,
        "references": [{"refType": r, "traceID": trace_id, "spanID": s} for r, s in references],
        "startTime": start, "duration": duration, "tags": tags, "logs": list(logs),
        "processID": process_id, "warnings": None,
    }


def now_micros() -> int:
    return int(time.time() * 1e6) - 60_000_000


# --------------------------------------------------------------------------------------------
# The Jaeger protocols: one trace of three spans.
#   a (server, root): a tag of every type and a log with fields;
#   c (producer): CHILD_OF a;
#   b (client, error): CHILD_OF a and FOLLOWS_FROM c.

SPAN_A, SPAN_B, SPAN_C = 0x0A0A0A0A0A0A0A0A, 0x0B0B0B0B0B0B0B0B, 0x0C0C0C0C0C0C0C0C


def jaeger_expected(trace_id: str, service: str, start: int) -> dict:
    a, b, c = f"{SPAN_A:016x}", f"{SPAN_B:016x}", f"{SPAN_C:016x}"
    return {
        "traceID": trace_id,
        "spans": [
            ui_span(trace_id, a, "rt-root", start, 5000, [
                tag("str", "text"), tag("bool", True), tag("long", -42), tag("double", 1.5),
                tag("bin", BINARY), tag("span.kind", "server"),
            ], logs=[{"timestamp": start + 100, "fields": [tag("event", "retry"), tag("attempt", 2), tag("backoff", 0.25)]}]),
            ui_span(trace_id, b, "rt-call", start + 1000, 2000, [
                tag("peer.service", "db"), tag("span.kind", "client"),
                tag("otel.status_code", "ERROR"), tag("error", True),
            ], references=[("CHILD_OF", a), ("FOLLOWS_FROM", c)]),
            ui_span(trace_id, c, "rt-send", start + 500, 300, [tag("span.kind", "producer"), tag("otel.status_code", "OK")],
                    references=[("CHILD_OF", a)]),
        ],
        "processes": {"p1": {"serviceName": service, "tags": [
            tag("host.name", "rt-host"), tag("ip", "10.0.0.7"), tag("pid", 4321),
            tag("opencensus.exporterversion", "Jaeger-Python-4.8.0"),
        ]}},
        "warnings": None,
    }


def thrift_batch(service: str, high: int, low: int, start: int):
    j = jaeger_thrift.jaeger

    def ref(kind, span_id):
        return j.SpanRef(refType=kind, traceIdLow=low, traceIdHigh=high, spanId=span_id)

    def span(span_id, parent, name, offset, duration, tags, refs=None, logs=None):
        return j.Span(traceIdLow=low, traceIdHigh=high, spanId=span_id, parentSpanId=parent, operationName=name,
                      references=refs, flags=1, startTime=start + offset, duration=duration, tags=tags, logs=logs)

    s = lambda k, v: j.Tag(key=k, vType=j.TagType.STRING, vStr=v)
    spans = [
        span(SPAN_A, 0, "rt-root", 0, 5000, [
            s("str", "text"), j.Tag(key="bool", vType=j.TagType.BOOL, vBool=True),
            j.Tag(key="long", vType=j.TagType.LONG, vLong=-42), j.Tag(key="double", vType=j.TagType.DOUBLE, vDouble=1.5),
            j.Tag(key="bin", vType=j.TagType.BINARY, vBinary=BINARY), s("span.kind", "server"),
        ], logs=[j.Log(timestamp=start + 100, fields=[
            s("event", "retry"), j.Tag(key="backoff", vType=j.TagType.DOUBLE, vDouble=0.25),
            j.Tag(key="attempt", vType=j.TagType.LONG, vLong=2)])]),
        span(SPAN_B, SPAN_A, "rt-call", 1000, 2000, [
            s("span.kind", "client"), j.Tag(key="error", vType=j.TagType.BOOL, vBool=True), s("peer.service", "db"),
        ], refs=[ref(j.SpanRefType.CHILD_OF, SPAN_A), ref(j.SpanRefType.FOLLOWS_FROM, SPAN_C)]),
        span(SPAN_C, SPAN_A, "rt-send", 500, 300, [s("span.kind", "producer"), s("otel.status_code", "ok")], refs=[ref(j.SpanRefType.CHILD_OF, SPAN_A)]),
    ]
    process = j.Process(serviceName=service, tags=[
        s("hostname", "rt-host"), s("ip", "10.0.0.7"), j.Tag(key="pid", vType=j.TagType.LONG, vLong=4321),
        s("jaeger.version", "Python-4.8.0"),
    ])
    return j.Batch(process=process, spans=spans)


def trace_id_text(high: int, low: int) -> str:
    return f"{low:016x}" if high == 0 else f"{high:016x}{low:016x}"


def test_thrift_over_http(backend):
    _, ports = backend
    from thrift.protocol import TBinaryProtocol

    high, low, start = 0x7211111111111111, 0x0000000000000001, now_micros()
    body = serialize(thrift_batch("rt-thrift-http", high, low, start), TBinaryProtocol.TBinaryProtocol)
    response = requests.post(f"http://127.0.0.1:{ports.http}/api/traces", data=body,
                             headers={"Content-Type": "application/x-thrift"}, timeout=5)
    assert response.status_code == 202, response.text
    check(ports, jaeger_expected(trace_id_text(high, low), "rt-thrift-http", start))


@pytest.mark.parametrize("protocol", ["compact", "binary"])
def test_agent_udp(backend, protocol):
    """Compact carries the 64-bit trace ID case; binary a 128-bit one."""
    _, ports = backend
    from thrift.protocol import TBinaryProtocol, TCompactProtocol

    if protocol == "compact":
        high, low, port, protocol_class = 0, 0x7222222222222222, ports.compact, TCompactProtocol.TCompactProtocol
    else:
        high, low, port, protocol_class = 0x7233333333333333, 0x2, ports.binary, TBinaryProtocol.TBinaryProtocol
    start = now_micros()
    service = f"rt-udp-{protocol}"
    datagram = emit_batch_datagram(thrift_batch(service, high, low, start), protocol_class)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", port))
    expected = jaeger_expected(trace_id_text(high, low), service, start)
    if protocol == "compact":
        assert len(expected["traceID"]) == 16, "a 64-bit trace ID prints as 16 hex digits"
    check(ports, expected)


def test_grpc_post_spans(backend, stubs):
    _, ports = backend
    import grpc
    import collector_pb2
    import collector_pb2_grpc
    import model_pb2
    from google.protobuf.duration_pb2 import Duration
    from google.protobuf.timestamp_pb2 import Timestamp

    high, low, start = 0x7244444444444444, 0x3, now_micros()
    trace_id = high.to_bytes(8, "big") + low.to_bytes(8, "big")
    sid = lambda n: n.to_bytes(8, "big")

    def ts(micros):
        return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)

    kv = model_pb2.KeyValue
    s = lambda k, v: kv(key=k, v_type=model_pb2.STRING, v_str=v)

    def ref(kind, span_id):
        return model_pb2.SpanRef(trace_id=trace_id, span_id=sid(span_id), ref_type=kind)

    def span(span_id, name, offset, duration_us, tags, refs=(), logs=()):
        return model_pb2.Span(trace_id=trace_id, span_id=sid(span_id), operation_name=name, references=list(refs),
                              flags=1, start_time=ts(start + offset), duration=Duration(nanos=duration_us * 1000),
                              tags=tags, logs=list(logs))

    spans = [
        span(SPAN_A, "rt-root", 0, 5000, [
            s("str", "text"), kv(key="bool", v_type=model_pb2.BOOL, v_bool=True),
            kv(key="long", v_type=model_pb2.INT64, v_int64=-42), kv(key="double", v_type=model_pb2.FLOAT64, v_float64=1.5),
            kv(key="bin", v_type=model_pb2.BINARY, v_binary=BINARY), s("span.kind", "server"),
        ], logs=[model_pb2.Log(timestamp=ts(start + 100), fields=[
            s("event", "retry"), kv(key="backoff", v_type=model_pb2.FLOAT64, v_float64=0.25),
            kv(key="attempt", v_type=model_pb2.INT64, v_int64=2)])]),
        span(SPAN_B, "rt-call", 1000, 2000, [
            s("span.kind", "client"), kv(key="error", v_type=model_pb2.BOOL, v_bool=True), s("peer.service", "db"),
        ], refs=[ref(model_pb2.CHILD_OF, SPAN_A), ref(model_pb2.FOLLOWS_FROM, SPAN_C)]),
        span(SPAN_C, "rt-send", 500, 300, [s("span.kind", "producer"), s("otel.status_code", "ok")], refs=[ref(model_pb2.CHILD_OF, SPAN_A)]),
    ]
    process = model_pb2.Process(service_name="rt-grpc", tags=[
        s("hostname", "rt-host"), s("ip", "10.0.0.7"), kv(key="pid", v_type=model_pb2.INT64, v_int64=4321),
        s("jaeger.version", "Python-4.8.0"),
    ])
    with grpc.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        stub.PostSpans(collector_pb2.PostSpansRequest(batch=model_pb2.Batch(spans=spans, process=process)), timeout=10)
    check(ports, jaeger_expected(trace_id_text(high, low), "rt-grpc", start))


# --------------------------------------------------------------------------------------------
# Zipkin


def zipkin_v2_spans(trace_id: str, service: str, start: int) -> list[dict]:
    """Zipkin v2 spans in the JSON model: a root server span with tags and annotations, a
    client call that failed and links to the third, a producer span."""
    a, b, c = "000000000000000a", "000000000000000b", "000000000000000c"
    local = {"serviceName": service, "ipv4": "10.0.0.7", "port": 8080}
    return [
        {"traceId": trace_id, "id": a, "kind": "SERVER", "name": "rt-root", "timestamp": start, "duration": 5000,
         "localEndpoint": local,
         "annotations": [{"timestamp": start + 100, "value": 'retry|{"attempt":2,"backoff":0.25,"reason":"timeout"}|0'},
                         {"timestamp": start + 200, "value": "cache-miss"}],
         "tags": {"str": "text", "bool": "true", "long": "-42", "double": "1.5", "host.name": "rt-host"}},
        {"traceId": trace_id, "id": b, "parentId": a, "kind": "CLIENT", "name": "rt-call", "timestamp": start + 1000,
         "duration": 2000, "localEndpoint": local,
         "remoteEndpoint": {"serviceName": "db", "ipv4": "10.0.0.8", "port": 5432},
         "tags": {"error": "true", "host.name": "rt-host", "otlp.link.0": f"{trace_id}|{c}||{{}}|0"}},
        {"traceId": trace_id, "id": c, "parentId": a, "kind": "PRODUCER", "name": "rt-send", "timestamp": start + 500,
         "duration": 300, "localEndpoint": local, "tags": {"host.name": "rt-host", "otel.status_code": "Ok"}},
    ]


def zipkin_v2_expected(trace_id: str, service: str, start: int) -> dict:
    a, b, c = "000000000000000a", "000000000000000b", "000000000000000c"
    host = [tag("net.host.ip", "10.0.0.7"), tag("net.host.port", 8080)]
    return {
        "traceID": trace_id,
        "spans": [
            ui_span(trace_id, a, "rt-root", start, 5000, [
                # Without parse_string_tags every Zipkin tag stays a string.
                tag("str", "text"), tag("bool", "true"), tag("long", "-42"), tag("double", "1.5"),
                *host, tag("span.kind", "server"),
            ], logs=[
                {"timestamp": start + 100, "fields": [tag("event", "retry"), tag("attempt", 2), tag("backoff", 0.25), tag("reason", "timeout")]},
                {"timestamp": start + 200, "fields": [tag("event", "cache-miss")]},
            ]),
            ui_span(trace_id, b, "rt-call", start + 1000, 2000, [
                *host, tag("peer.service", "db"), tag("net.peer.ip", "10.0.0.8"), tag("net.peer.port", 5432),
                tag("span.kind", "client"), tag("otel.status_code", "ERROR"), tag("error", True),
            ], references=[("CHILD_OF", a), ("FOLLOWS_FROM", c)]),
            ui_span(trace_id, c, "rt-send", start + 500, 300, [*host, tag("span.kind", "producer"), tag("otel.status_code", "OK")],
                    references=[("CHILD_OF", a)]),
        ],
        "processes": {"p1": {"serviceName": service, "tags": [tag("host.name", "rt-host")]}},
        "warnings": None,
    }


def post_zipkin(ports: Ports, path: str, body: bytes, content_type: str):
    response = requests.post(f"http://127.0.0.1:{ports.zipkin}{path}", data=body,
                             headers={"Content-Type": content_type}, timeout=5)
    assert response.status_code == 202, response.text


def test_zipkin_v2_json(backend):
    _, ports = backend
    trace_id, service, start = "7255555555555555000000000000000a", "rt-zipkin-v2", now_micros()
    post_zipkin(ports, "/api/v2/spans", json.dumps(zipkin_v2_spans(trace_id, service, start)).encode(), "application/json")
    check(ports, zipkin_v2_expected(trace_id, service, start))


def zipkin_proto_span(span: dict):
    """One span of the JSON model as zipkin.proto's Span."""
    import zipkin_pb2

    def endpoint(e):
        return zipkin_pb2.Endpoint(service_name=e["serviceName"], ipv4=socket.inet_aton(e["ipv4"]), port=e["port"])

    proto = zipkin_pb2.Span(
        trace_id=bytes.fromhex(span["traceId"]), id=bytes.fromhex(span["id"]),
        parent_id=bytes.fromhex(span.get("parentId", "")), kind=zipkin_pb2.Span.Kind.Value(span["kind"]),
        name=span["name"], timestamp=span["timestamp"], duration=span["duration"],
        local_endpoint=endpoint(span["localEndpoint"]),
        annotations=[zipkin_pb2.Annotation(timestamp=a["timestamp"], value=a["value"]) for a in span.get("annotations", [])],
        tags=span["tags"],
    )
    if "remoteEndpoint" in span:
        proto.remote_endpoint.CopyFrom(endpoint(span["remoteEndpoint"]))
    return proto


def test_zipkin_v2_protobuf(backend, stubs):
    """The same spans as the JSON test, encoded by Google's protobuf runtime from zipkin.proto."""
    _, ports = backend
    import zipkin_pb2

    trace_id, service, start = "7288888888888888000000000000000b", "rt-zipkin-proto", now_micros()
    spans = [zipkin_proto_span(span) for span in zipkin_v2_spans(trace_id, service, start)]
    post_zipkin(ports, "/api/v2/spans", zipkin_pb2.ListOfSpans(spans=spans).SerializeToString(), "application/x-protobuf")
    check(ports, zipkin_v2_expected(trace_id, service, start))


def test_zipkin_shared_span_ids(backend):
    """Zipkin's shared span: the server side of an RPC reuses the client's span ID. Jaeger's
    DeduplicateClientServerSpanIDs gives the server span the first unused ID counting from 1,
    makes the shared ID its parent (CHILD_OF the client span), and moves the shared ID's other
    children under the new ID."""
    _, ports = backend
    trace_id, start = "7299999999999999000000000000000c", now_micros()
    root, shared, query = "00000000000000a1", "00000000000000b2", "00000000000000c3"
    frontend, backend_service = {"serviceName": "rt-shared-frontend"}, {"serviceName": "rt-shared-backend"}

    def span(span_id, parent, kind, name, offset, duration, local, **extra):
        return {"traceId": trace_id, "id": span_id, "parentId": parent, "kind": kind, "name": name,
                "timestamp": start + offset, "duration": duration, "localEndpoint": local, **extra}

    spans = [
        {"traceId": trace_id, "id": root, "kind": "SERVER", "name": "rt-page", "timestamp": start, "duration": 9000,
         "localEndpoint": frontend},
        span(shared, root, "CLIENT", "rt-rpc", 1000, 6000, frontend),
        span(shared, root, "SERVER", "rt-rpc", 1500, 5000, backend_service, shared=True),
        span(query, shared, "CLIENT", "rt-query", 2000, 1000, backend_service),
    ]
    post_zipkin(ports, "/api/v2/spans", json.dumps(spans).encode(), "application/json")
    renamed = "0000000000000001"
    kind = lambda k: [tag("span.kind", k)]
    expected = {
        "traceID": trace_id,
        "spans": [
            ui_span(trace_id, root, "rt-page", start, 9000, kind("server")),
            ui_span(trace_id, shared, "rt-rpc", start + 1000, 6000, kind("client"), references=[("CHILD_OF", root)]),
            ui_span(trace_id, renamed, "rt-rpc", start + 1500, 5000, kind("server"), process_id="p2",
                    references=[("CHILD_OF", shared)]),
            ui_span(trace_id, query, "rt-query", start + 2000, 1000, kind("client"), process_id="p2",
                    references=[("CHILD_OF", renamed)]),
        ],
        "processes": {"p1": {"serviceName": "rt-shared-frontend", "tags": []},
                      "p2": {"serviceName": "rt-shared-backend", "tags": []}},
        "warnings": None,
    }
    check(ports, expected)


def test_zipkin_v1_json(backend):
    """The 64-bit case for Zipkin; v1 has no reference types but the parent and no typed tags."""
    _, ports = backend
    trace_id, start = "7266666666666666", now_micros()
    a, b = "000000000000000a", "000000000000000b"
    endpoint = {"serviceName": "rt-zipkin-v1", "ipv4": "10.0.0.9", "port": 9000}
    spans = [
        {"traceId": trace_id, "id": a, "name": "rt-root", "timestamp": start, "duration": 5000,
         "annotations": [{"timestamp": start, "value": "sr", "endpoint": endpoint},
                         {"timestamp": start + 100, "value": "retry", "endpoint": endpoint},
                         {"timestamp": start + 5000, "value": "ss", "endpoint": endpoint}],
         "binaryAnnotations": [{"key": "str", "value": "text", "endpoint": endpoint},
                               {"key": "lc", "value": "rt-component", "endpoint": endpoint},
                               {"key": "otel.status_code", "value": "1", "endpoint": endpoint}]},
        {"traceId": trace_id, "id": b, "parentId": a, "name": "rt-call", "timestamp": start + 1000, "duration": 2000,
         "annotations": [{"timestamp": start + 1000, "value": "cs", "endpoint": endpoint},
                         {"timestamp": start + 3000, "value": "cr", "endpoint": endpoint}],
         "binaryAnnotations": [{"key": "error", "value": "connection refused", "endpoint": endpoint},
                               {"key": "peer.service", "value": "db", "endpoint": endpoint}]},
    ]
    response = requests.post(f"http://127.0.0.1:{ports.zipkin}/api/v1/spans", data=json.dumps(spans),
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 202, response.text
    expected = {
        "traceID": trace_id,
        "spans": [
            ui_span(trace_id, a, "rt-root", start, 5000, [
                tag("str", "text"), tag("component", "rt-component"), tag("span.kind", "server"), tag("otel.status_code", "OK"),
            ], logs=[{"timestamp": start + 100, "fields": [tag("event", "retry")]}]),
            ui_span(trace_id, b, "rt-call", start + 1000, 2000, [
                tag("peer.service", "db"), tag("span.kind", "client"), tag("otel.status_code", "ERROR"), tag("error", True),
            ], references=[("CHILD_OF", a)]),
        ],
        "processes": {"p1": {"serviceName": "rt-zipkin-v1", "tags": [tag("ipv4", "10.0.0.9"), tag("port", "9000")]}},
        "warnings": None,
    }
    check(ports, expected)


def test_zipkin_v1_thrift(backend):
    """The 128-bit case for Zipkin v1, with binary annotations of every Thrift type. As in
    collector-contrib, I16 and I32 values are read unsigned and BYTES become a base64 string;
    Jaeger's NormalizeIPAttributes then shows the numeric `peer.ipv4` dotted."""
    _, ports = backend
    from thrift.protocol import TBinaryProtocol

    z = jaeger_thrift.zipkincore
    high, low, start = 0x72AAAAAAAAAAAAAA, 0xD, now_micros()
    host = z.Endpoint(ipv4=0x0A000009, port=9000, service_name="rt-zipkin-v1-thrift",
                      ipv6=socket.inet_pton(socket.AF_INET6, "2001:db8::7"))

    def annotation(offset, value):
        return z.Annotation(timestamp=start + offset, value=value, host=host)

    def binary(key, value: bytes, kind=z.AnnotationType.STRING):
        return z.BinaryAnnotation(key=key, value=value, annotation_type=kind, host=host)

    spans = [
        z.Span(trace_id_high=high, trace_id=low, id=0xA, name="rt-root", timestamp=start, duration=5000,
               annotations=[annotation(0, "sr"), annotation(100, "retry"), annotation(5000, "ss")],
               binary_annotations=[
                   binary("str", b"text"), binary("bool", b"\x01", z.AnnotationType.BOOL),
                   binary("i16", struct.pack(">h", -7), z.AnnotationType.I16),
                   binary("i32", struct.pack(">i", -42), z.AnnotationType.I32),
                   binary("i64", struct.pack(">q", -42), z.AnnotationType.I64),
                   binary("double", struct.pack(">d", 1.5), z.AnnotationType.DOUBLE),
                   binary("bin", BINARY, z.AnnotationType.BYTES), binary("lc", b"rt-component"),
                   binary("peer.ipv4", socket.inet_aton("192.168.0.1"), z.AnnotationType.I32),
               ]),
        z.Span(trace_id_high=high, trace_id=low, id=0xB, parent_id=0xA, name="rt-call", timestamp=start + 1000,
               duration=2000, annotations=[annotation(1000, "cs"), annotation(3000, "cr")],
               binary_annotations=[binary("error", b"connection refused"), binary("peer.service", b"db")]),
    ]
    post_zipkin(ports, "/api/v1/spans", zipkin_v1_body(spans, TBinaryProtocol.TBinaryProtocol), "application/x-thrift")
    trace_id, a, b = trace_id_text(high, low), f"{0xA:016x}", f"{0xB:016x}"
    expected = {
        "traceID": trace_id,
        "spans": [
            ui_span(trace_id, a, "rt-root", start, 5000, [
                tag("str", "text"), tag("bool", True), tag("i16", 2**16 - 7), tag("i32", 2**32 - 42), tag("i64", -42),
                tag("double", 1.5), tag("bin", base64.b64encode(BINARY).decode()), tag("component", "rt-component"),
                tag("peer.ipv4", "192.168.0.1"), tag("span.kind", "server"),
            ], logs=[{"timestamp": start + 100, "fields": [tag("event", "retry")]}]),
            ui_span(trace_id, b, "rt-call", start + 1000, 2000, [
                tag("peer.service", "db"), tag("span.kind", "client"), tag("otel.status_code", "ERROR"), tag("error", True),
            ], references=[("CHILD_OF", a)]),
        ],
        "processes": {"p1": {"serviceName": "rt-zipkin-v1-thrift", "tags": [
            tag("ipv4", "10.0.0.9"), tag("ipv6", "2001:db8::7"), tag("port", "9000")]}},
        "warnings": None,
    }
    check(ports, expected)


# --------------------------------------------------------------------------------------------
# Real clients, read back through the query API: their IDs and times are their own, so the
# checks pick out kind, tags, logs and parent.


def spans_by_name(trace: dict) -> dict:
    return {span["operationName"]: span for span in trace["spans"]}


def tags_of(span_or_process: dict) -> dict:
    return {t["key"]: (t["type"], t["value"]) for t in span_or_process["tags"]}


def test_jaeger_client_read_back(backend):
    _, ports = backend
    trace_id = report_with_jaeger_client("rt-jaeger-client", ports.compact, "rt-client-")
    trace = fetch(ports, trace_id_text(0, trace_id), 2)
    spans = spans_by_name(trace)
    root, child = spans["rt-client-root"], spans["rt-client-child"]
    assert root["references"] == []
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": trace["traceID"], "spanID": root["spanID"]}]
    assert tags_of(root)["answer"] == ("int64", 42)
    assert tags_of(root)["sampler.type"] == ("string", "const")
    assert "span.kind" not in tags_of(root), "no kind given: unspecified, which Jaeger shows without a tag"
    assert tags_of(child)["span.kind"] == ("string", "server")
    assert root["logs"] == [{"timestamp": root["logs"][0]["timestamp"], "fields": [tag("event", "started"), tag("k", "v")]}]
    assert root["startTime"] <= root["logs"][0]["timestamp"] <= root["startTime"] + root["duration"]
    process = trace["processes"][root["processID"]]
    assert process["serviceName"] == "rt-jaeger-client"
    assert tags_of(process)["opencensus.exporterversion"] == ("string", "Jaeger-Python-4.8.0")
    assert {"host.name", "ip"} <= tags_of(process).keys(), "hostname becomes host.name"


def test_zipkin_exporter_read_back(backend):
    _, ports = backend
    trace_id = export_with_zipkin_json(f"http://127.0.0.1:{ports.zipkin}", "v2", "rt-zexp")
    trace = fetch(ports, f"{trace_id:032x}", 2)
    spans = spans_by_name(trace)
    parent, child = spans["rt-zexp-parent"], spans["rt-zexp-child"]
    assert parent["references"] == []
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": trace["traceID"], "spanID": parent["spanID"]}]
    assert tags_of(parent)["span.kind"] == ("string", "server")
    assert tags_of(child)["span.kind"] == ("string", "client")
    assert tags_of(parent)["http.method"] == ("string", "GET")
    assert tags_of(parent)["otel.scope.name"] == ("string", "e2e"), "otel.library.name becomes the scope"
    assert parent["logs"] == [{"timestamp": parent["logs"][0]["timestamp"], "fields": [tag("event", EXPORTED_EVENT)]}]
    assert child["logs"] == []
    assert trace["processes"][parent["processID"]]["serviceName"] == "rt-zexp-svc"


# --------------------------------------------------------------------------------------------
# OTLP, for comparison: the same shapes in their native form.


def test_otlp_json(backend):
    _, ports = backend
    trace_id, start = "72777777777777770000000000000004", now_micros()
    a, b, c = "000000000000000a", "000000000000000b", "000000000000000c"
    nanos = lambda micros: str(micros * 1000)

    def otlp_span(span_id, name, kind, offset, duration, parent="", attributes=(), **extra):
        return {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind,
                "startTimeUnixNano": nanos(start + offset), "endTimeUnixNano": nanos(start + offset + duration),
                "attributes": list(attributes), **extra}

    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rt-otlp"}},
                                    {"key": "host.name", "value": {"stringValue": "rt-host"}},
                                    {"key": "pid", "value": {"intValue": "4321"}}]},
        "scopeSpans": [{"scope": {"name": "rt-lib", "version": "1.0"}, "spans": [
            otlp_span(a, "rt-root", 2, 0, 5000, attributes=[
                {"key": "str", "value": {"stringValue": "text"}}, {"key": "bool", "value": {"boolValue": True}},
                {"key": "long", "value": {"intValue": "-42"}}, {"key": "double", "value": {"doubleValue": 1.5}},
                {"key": "bin", "value": {"bytesValue": base64.b64encode(BINARY).decode()}},
            ], events=[{"timeUnixNano": nanos(start + 100), "name": "retry", "attributes": [
                {"key": "attempt", "value": {"intValue": "2"}}, {"key": "backoff", "value": {"doubleValue": 0.25}}]}]),
            otlp_span(b, "rt-call", 3, 1000, 2000, parent=a,
                      attributes=[{"key": "peer.service", "value": {"stringValue": "db"}}],
                      links=[{"traceId": trace_id, "spanId": c}],
                      status={"code": 2, "message": "connection refused"}),
            otlp_span(c, "rt-send", 4, 500, 300, parent=a),
        ]}],
    }]}
    response = requests.post(f"http://127.0.0.1:{ports.otlp_http}/v1/traces", data=json.dumps(body),
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 200, response.text
    scope = [tag("otel.scope.name", "rt-lib"), tag("otel.scope.version", "1.0")]
    expected = {
        "traceID": trace_id,
        "spans": [
            ui_span(trace_id, a, "rt-root", start, 5000, [
                *scope, tag("str", "text"), tag("bool", True), tag("long", -42), tag("double", 1.5),
                tag("bin", BINARY), tag("span.kind", "server"),
            ], logs=[{"timestamp": start + 100, "fields": [tag("event", "retry"), tag("attempt", 2), tag("backoff", 0.25)]}]),
            ui_span(trace_id, b, "rt-call", start + 1000, 2000, [
                *scope, tag("peer.service", "db"), tag("span.kind", "client"), tag("otel.status_code", "ERROR"),
                tag("error", True), tag("otel.status_description", "connection refused"),
            ], references=[("CHILD_OF", a), ("FOLLOWS_FROM", c)]),
            ui_span(trace_id, c, "rt-send", start + 500, 300, [*scope, tag("span.kind", "producer")],
                    references=[("CHILD_OF", a)]),
        ],
        "processes": {"p1": {"serviceName": "rt-otlp", "tags": [tag("host.name", "rt-host"), tag("pid", 4321)]}},
        "warnings": None,
    }
    check(ports, expected)
