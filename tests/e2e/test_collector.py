"""Issue 3: the seed's collector config runs unchanged, end to end with real clients."""

from __future__ import annotations

import gzip
import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest
import requests

from otel_clients import send_spans
from spoor import SEED_CONFIG, Spoor, free_port, metric, otlp_receivers, run_spoor, wait_for_port, wait_until


def sink_config(grpc: int, http: int, metrics: int, verbosity: str = "detailed") -> str:
    """B: otlp -> debug."""
    return f"""
{otlp_receivers(grpc, http)}exporters:
  debug:
    verbosity: {verbosity}
    sampling_initial: 1000000
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
"""


def exporter_overlay(grpc: int, http: int, extra: str = "") -> str:
    """Only the seed's two exporter endpoints change, merged over it as a second --config."""
    return f"""
exporters:
  otlp:
    endpoint: 127.0.0.1:{grpc}
{extra}
  otlphttp:
    endpoint: http://127.0.0.1:{http}
{extra}
"""


def listen_overlay(grpc: int, http: int, metrics: int) -> str:
    return f"""
{otlp_receivers(grpc, http)}service:
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics}
"""


def span_names(debug_output: str) -> Counter:
    return Counter(re.findall(r"^\s*Name\s*:\s*(\S+)\s*$", debug_output, flags=re.MULTILINE))


class Ports:
    def __init__(self):
        self.grpc, self.http, self.metrics = free_port(), free_port(), free_port()


def test_seed_config_validates():
    result = run_spoor("validate", "--config", str(SEED_CONFIG))
    assert result.returncode == 0, result.stderr
    # The seed's `logging` exporter is deprecated, and validate says so as a run does.
    assert result.stderr.count("deprecated") == 1, result.stderr


def test_misspelt_key_names_path_and_line(tmp_path):
    text = SEED_CONFIG.read_text()
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "send_batch_size" in l)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("send_batch_size", "send_batch_sizee"))
    result = run_spoor("validate", "--config", str(bad))
    assert result.returncode == 1
    assert "processors.batch.send_batch_sizee" in result.stderr
    assert f"{bad}:{line}:" in result.stderr, result.stderr


def test_undefined_component_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SEED_CONFIG.read_text().replace("exporters: [logging,otlp,otlphttp]", "exporters: [logging,kafka]"))
    result = run_spoor("validate", "--config", str(bad))
    assert result.returncode == 1
    assert "service.pipelines.traces.exporters[1]" in result.stderr
    assert 'references exporter "kafka", which is not configured' in result.stderr


@pytest.mark.parametrize("edit, path", [
    (("      insecure: true\nservice:", "      insecure: true\n    retry_on_failure:\n      multiplier: -3\nservice:"),
     "exporters.otlphttp.retry_on_failure.multiplier"),
    (("      insecure: true\nservice:", "      insecure: true\n    sending_queue:\n      queue_size: 0\nservice:"),
     "exporters.otlphttp.sending_queue.queue_size"),
    (("exporters: [logging,otlp,otlphttp]", "exporters: [logging,otlp,otlp]"), "service.pipelines.traces.exporters[2]"),
    (("      exporters: [logging,otlp,otlphttp]", "      exporters: [logging,otlp,otlphttp]\n  telemetry:\n    logs:\n      level: loud"),
     "service.telemetry.logs.level"),
])
def test_bad_values_name_their_key_and_line(tmp_path, edit, path):
    text = SEED_CONFIG.read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0], edit[1]))
    result = run_spoor("validate", "--config", str(bad))
    assert result.returncode == 1, result.stderr
    key = path.rsplit(".", 1)[-1].split("[")[0]
    line = max(i for i, l in enumerate(bad.read_text().splitlines(), 1) if l.strip().startswith(key))
    assert path in result.stderr and f"{bad}:{line}:" in result.stderr, result.stderr


def test_cli_basics():
    assert run_spoor("--version").stdout.startswith("spoor ")
    assert "validate" in run_spoor("--help").stdout
    default = run_spoor("config", "default")
    assert default.returncode == 0 and "pipelines:" in default.stdout


def test_exporter_aliases_export_like_their_names():
    """`otlp_grpc` and `otlp_http` are the collector's aliases of `otlp` and `otlphttp`."""
    b_ports, a_ports = Ports(), Ports()
    b = Spoor([sink_config(b_ports.grpc, b_ports.http, b_ports.metrics, "basic")], name="b-alias").start([b_ports.grpc])
    a = Spoor([f"""
{otlp_receivers(a_ports.grpc, a_ports.http)}processors:
  batch:
    timeout: 50ms
exporters:
  otlp_grpc/b:
    endpoint: 127.0.0.1:{b_ports.grpc}
    tls:
      insecure: true
  otlp_http/b:
    endpoint: http://127.0.0.1:{b_ports.http}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/b, otlp_http/b]
"""], name="a-alias").start([a_ports.grpc])
    try:
        assert send_spans("grpc", f"127.0.0.1:{a_ports.grpc}", 20, "alias").acknowledged == 20
        accepted = {transport: lambda t=transport: metric(b_ports.metrics, "otelcol_receiver_accepted_spans_total",
                                                          transport=t) for transport in ("grpc", "http")}
        wait_until(lambda: accepted["grpc"]() == 20 and accepted["http"]() == 20, 15, message="B got both copies")
    finally:
        a.kill()
        b.kill()


def test_seed_pipeline_end_to_end():
    """A runs the seed config and forwards over otlp and otlphttp to B (otlp -> debug)."""
    b_ports, a_ports = Ports(), Ports()
    b = Spoor([sink_config(b_ports.grpc, b_ports.http, b_ports.metrics)], name="b").start([b_ports.grpc, b_ports.http])
    a = Spoor(
        [SEED_CONFIG, exporter_overlay(b_ports.grpc, b_ports.http), listen_overlay(a_ports.grpc, a_ports.http, a_ports.metrics)],
        name="a",
    ).start([a_ports.grpc, a_ports.http])
    try:
        grpc = send_spans("grpc", f"127.0.0.1:{a_ports.grpc}", 1000, "grpc-span")
        http = send_spans("http", f"http://127.0.0.1:{a_ports.http}/v1/traces", 1000, "http-span")
        assert (grpc.acknowledged, http.acknowledged) == (1000, 1000), (grpc.failed, http.failed)
        assert a.terminate() == 0, a.stderr()

        accepted = lambda: metric(b_ports.metrics, "otelcol_receiver_accepted_spans_total", receiver="otlp")
        assert wait_until(lambda: accepted() >= 4000, 30, message="B accepted 4000 spans")
        time.sleep(0.5)
        assert accepted() == 4000
        assert metric(b_ports.metrics, "otelcol_receiver_accepted_spans_total", transport="grpc") == 2000
        assert metric(b_ports.metrics, "otelcol_receiver_accepted_spans_total", transport="http") == 2000

        names = span_names(b.stdout())
        expected = {f"{p}-span-{i}" for p in ("grpc", "http") for i in range(1000)}
        assert set(names) == expected
        assert all(count == 2 for count in names.values()), "each span arrives once per exporter"

        a_out = a.stdout()
        assert "ResourceSpans #0" in a_out and "Span #0" in a_out and "Attributes:" in a_out
        assert "deprecated" in a.stderr(), "the logging alias warns once"
        assert a.stderr().count("deprecated") == 1
    finally:
        a.kill()
        b.kill()


def otlp_json_body(trace_id: str, span_id: str, name: str) -> dict:
    return {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "curl"}}]},
            "scopeSpans": [{
                "scope": {"name": "manual"},
                "spans": [{
                    "traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
                    "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
                    "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}],
                }],
            }],
        }]
    }


def test_otlp_json_with_hex_ids_keeps_ids():
    ports = Ports()
    b = Spoor([sink_config(ports.grpc, ports.http, ports.metrics)], name="json").start([ports.http])
    try:
        trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
        curl = subprocess.run(
            [
                "curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}",
                "-H", "Content-Type: application/json",
                "--data-binary", json.dumps(otlp_json_body(trace_id, span_id, "json-span")),
                f"http://127.0.0.1:{ports.http}/v1/traces",
            ],
            capture_output=True, text=True, timeout=30,
        )
        status, content_type = curl.stdout.rsplit("\n", 1)[1].split(" ", 1)
        assert status == "200", curl.stdout + curl.stderr
        assert content_type.startswith("application/json")
        output = wait_until(lambda: "json-span" in b.stdout() and b.stdout(), 10, message="span in debug output")
        assert re.search(rf"Trace ID\s*:\s*{trace_id}", output), output
        assert re.search(rf"\bID\s*:\s*{span_id}", output), output
        assert "Int(200)" in output
    finally:
        b.kill()


def valid_protobuf() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from google.protobuf.json_format import ParseDict

    body = otlp_json_body("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "pb-span")
    # The protobuf JSON mapping wants base64 IDs; convert the OTLP/JSON hex ones.
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    import base64
    span["traceId"] = base64.b64encode(bytes.fromhex(span["traceId"])).decode()
    span["spanId"] = base64.b64encode(bytes.fromhex(span["spanId"])).decode()
    return ParseDict(body, ExportTraceServiceRequest()).SerializeToString()


def test_bad_input_gets_protocol_errors_and_service_continues():
    ports = Ports()
    s = Spoor([sink_config(ports.grpc, ports.http, ports.metrics, "basic")], name="bad").start([ports.grpc, ports.http])
    url = f"http://127.0.0.1:{ports.http}/v1/traces"
    proto = {"Content-Type": "application/x-protobuf"}
    good = valid_protobuf()

    def ok():
        response = requests.post(url, data=good, headers=proto, timeout=10)
        assert response.status_code == 200, response.text

    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    cases = [
        ("garbage protobuf", lambda: requests.post(url, data=b"\xff\xfe\xfd garbage", headers=proto, timeout=10), 400),
        ("invalid JSON", lambda: requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10), 400),
        ("wrong content type", lambda: requests.post(url, data=good, headers={"Content-Type": "text/plain"}, timeout=10), 415),
        ("GET", lambda: requests.get(url, timeout=10), 405),
        ("30 MiB body", lambda: requests.post(url, data=b"\0" * (30 * 1024 * 1024), headers=proto, timeout=30), 413),
        ("gzip bomb", lambda: requests.post(url, data=bomb, headers={**proto, "Content-Encoding": "gzip"}, timeout=30), 413),
    ]
    try:
        ok()
        for label, send, status in cases:
            try:
                response = send()
                assert response.status_code == status, f"{label}: {response.status_code} {response.text[:200]}"
            except requests.ConnectionError:
                # A server may close the connection on an oversized body after answering.
                assert status == 413, label
            ok()
        with socket.create_connection(("127.0.0.1", ports.grpc), timeout=5) as sock:
            sock.sendall(b"\x00garbage that is not HTTP/2 at all\r\n\r\n" * 10)
            sock.settimeout(5)
            try:
                sock.recv(1024)
            except (socket.timeout, ConnectionResetError):
                pass
        grpc = send_spans("grpc", f"127.0.0.1:{ports.grpc}", 10, "after-garbage")
        assert grpc.acknowledged == 10
        assert s.process.poll() is None
    finally:
        s.kill()


def forwarder(ports: Ports, downstream_grpc: int, retry: str) -> str:
    """The start of a config: otlp receivers, a 100 ms batch, and an `otlp` exporter to
    `downstream_grpc` with the `retry_on_failure` lines given; exporters may follow."""
    return f"""
{otlp_receivers(ports.grpc, ports.http)}processors:
  batch:
    timeout: 100ms
exporters:
  otlp:
    endpoint: 127.0.0.1:{downstream_grpc}
    tls:
      insecure: true
{retry}"""


def test_shutdown_counts_what_it_could_not_deliver():
    """SIGTERM with a down downstream: health turns 503, the receivers stop, the queues retry
    until they give up, and every acknowledged span that was not delivered is counted in the
    log."""
    ports, down, health = Ports(), free_port(), free_port()
    retry = "    retry_on_failure:\n      initial_interval: 200ms\n      max_interval: 400ms\n      max_elapsed_time: 2s"
    config = f"""{forwarder(ports, down, retry)}
  otlphttp:
    endpoint: http://127.0.0.1:{down}
{retry}
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp, otlphttp]
  telemetry:
    metrics:
      address: 127.0.0.1:{ports.metrics}
"""
    s = Spoor([config], name="shutdown-undelivered").start([ports.grpc, health])
    try:
        assert send_spans("grpc", f"127.0.0.1:{ports.grpc}", 50, "undelivered").acknowledged == 50
        retrying = [f'exporter={name} ' for name in ("otlp", "otlphttp")]
        wait_until(lambda: all(any(mark in l and "will retry" in l for l in s.stderr().splitlines()) for mark in retrying),
                   10, message="both exporters retrying")
        assert requests.get(f"http://127.0.0.1:{health}/", timeout=5).status_code == 200
        started = time.monotonic()
        s.process.send_signal(signal.SIGTERM)
        # The queues retry for up to 2 s: meanwhile health says the collector is not available.
        def unavailable():
            try:
                response = requests.get(f"http://127.0.0.1:{health}/", timeout=5)
            except requests.ConnectionError:
                return None
            # A Response is falsy for a 5xx, so hand back its body.
            return response.status_code == 503 and response.json()
        stopping = wait_until(unavailable, 5, interval=0.05, message="health 503 while stopping")
        assert stopping["status"] == "Server not available"
        assert s.process.wait(timeout=30) == 0
        assert time.monotonic() - started < 15, "shutdown waited past the retry limit"
        log = s.stderr()
        for exporter in ("otlp", "otlphttp"):
            line = next((l for l in log.splitlines() if "could not be delivered during shutdown" in l
                         and f'exporter="{exporter}"' in l), "")
            assert "spans=50" in line, log[-3000:]
        assert re.search(r"shutdown complete.*undelivered_spans=100", log), log[-3000:]
    finally:
        s.kill()


def test_exporter_outage_loses_nothing():
    """B is down for 20 s while A receives; then B starts and gets every span exactly once."""
    b_ports, a_ports = Ports(), Ports()
    retry = "    retry_on_failure:\n      initial_interval: 1s\n      max_interval: 2s"
    config_a = f"""{forwarder(a_ports, b_ports.grpc, retry)}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
  telemetry:
    metrics:
      address: 127.0.0.1:{a_ports.metrics}
"""
    a = Spoor([config_a], name="a-outage").start([a_ports.grpc])
    b = None
    try:
        started = time.monotonic()
        total = 0
        for round_ in range(4):
            sent = send_spans("grpc", f"127.0.0.1:{a_ports.grpc}", 250, f"outage{round_}")
            assert sent.acknowledged == 250
            total += 250
        assert metric(a_ports.metrics, "otelcol_exporter_sent_spans_total") == 0
        time.sleep(max(0.0, 20 - (time.monotonic() - started)))
        b = Spoor([sink_config(b_ports.grpc, b_ports.http, b_ports.metrics)], name="b-outage").start([b_ports.grpc])
        accepted = lambda: metric(b_ports.metrics, "otelcol_receiver_accepted_spans_total")
        wait_until(lambda: accepted() >= total, 60, message="B got every span")
        time.sleep(1)
        assert accepted() == total
        names = span_names(b.stdout())
        assert len(names) == total and set(names.values()) == {1}, "every span exactly once"
        assert metric(a_ports.metrics, "otelcol_exporter_send_failed_spans_total") == 0
    finally:
        a.kill()
        if b:
            b.kill()


def test_memory_limiter_refuses_and_recovers():
    ports = Ports()
    limit_mib = 150
    config = f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{ports.http}
processors:
  memory_limiter:
    check_interval: 100ms
    limit_mib: {limit_mib}
    spike_limit_mib: 50
  batch:
    send_batch_size: 100000
    timeout: 30s
exporters:
  nop:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [nop]
  telemetry:
    metrics:
      address: 127.0.0.1:{ports.metrics}
"""
    s = Spoor([config], name="memlimit").start([ports.http])
    url = f"http://127.0.0.1:{ports.http}/v1/traces"
    body = large_request(spans=2000, attribute_bytes=2000)
    statuses: Counter = Counter()
    peak_rss = 0
    stop = threading.Event()

    def flood():
        session = requests.Session()
        for _ in range(400):
            if stop.is_set():
                return
            try:
                response = session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30)
            except requests.ConnectionError:
                # Refused before the body was read: the server answers 503 and closes, and the
                # client may see the close while still writing.
                statuses["closed"] += 1
                continue
            statuses[response.status_code] += 1
            if response.status_code == 503:
                assert "Retry-After" in response.headers

    try:
        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            peak_rss = max(peak_rss, s.rss_bytes())
            time.sleep(0.02)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert statuses[503] > 0, statuses
        print(f"memory_limiter flood: {dict(statuses)}, peak RSS {peak_rss / 2**20:.1f} MiB")
        assert peak_rss < limit_mib * 1.1 * 1024 * 1024, f"peak RSS {peak_rss / 2**20:.1f} MiB"
        # The batch holds spans until its timeout, so memory stays high until it flushes.
        def accepts():
            return requests.post(url, data=valid_protobuf(), headers={"Content-Type": "application/x-protobuf"}, timeout=10).status_code == 200
        wait_until(accepts, 45, interval=1, message="accepting again after the flood")
    finally:
        s.kill()


def large_request(spans: int, attribute_bytes: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for index in range(spans):
        span = scope.spans.add()
        span.trace_id = index.to_bytes(16, "big")
        span.span_id = (index + 1).to_bytes(8, "big")
        span.name = f"large-{index}"
        attribute = span.attributes.add()
        attribute.key = "payload"
        attribute.value.string_value = "x" * attribute_bytes
    return request.SerializeToString()


def test_health_check_and_metric_names():
    ports = Ports()
    health = free_port()
    config = sink_config(ports.grpc, ports.http, ports.metrics, "basic") + f"""
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
"""
    config = config.replace("service:\n", "service:\n  extensions: [health_check]\n", 1)
    s = Spoor([config], name="health").start([health, ports.http])
    try:
        response = wait_until(lambda: (r := requests.get(f"http://127.0.0.1:{health}/", timeout=5)).status_code == 200 and r, 10)
        body = response.json()
        assert body["status"] == "Server available" and body["upSince"] and body["uptime"]
        send_spans("http", f"http://127.0.0.1:{ports.http}/v1/traces", 5, "health")
        text = requests.get(f"http://127.0.0.1:{ports.metrics}/metrics", timeout=5).text
        for name in [
            "otelcol_receiver_accepted_spans_total",
            "otelcol_receiver_refused_spans_total",
            "otelcol_exporter_sent_spans_total",
            "otelcol_exporter_send_failed_spans_total",
            "otelcol_exporter_enqueue_failed_spans_total",
            "otelcol_exporter_queue_size",
            "otelcol_exporter_queue_capacity",
            "otelcol_process_memory_rss",
            "otelcol_process_uptime",
        ]:
            assert name in text, name
        assert metric(ports.metrics, "otelcol_receiver_accepted_spans_total", receiver="otlp", transport="http") == 5
        assert metric(ports.metrics, "otelcol_exporter_sent_spans_total", exporter="debug") == 5
    finally:
        s.kill()


def test_processor_metrics_names():
    ports = Ports()
    config = sink_config(ports.grpc, ports.http, ports.metrics, "basic").replace(
        "exporters: [debug]", "processors: [batch]\n      exporters: [debug]"
    ) + "processors:\n  batch:\n    timeout: 10ms\n"
    s = Spoor([config], name="procmetrics").start([ports.http])
    try:
        send_spans("http", f"http://127.0.0.1:{ports.http}/v1/traces", 7, "proc")
        wait_until(lambda: metric(ports.metrics, "otelcol_processor_outgoing_items_total", processor="batch") == 7, 10)
        assert metric(ports.metrics, "otelcol_processor_incoming_items_total", processor="batch") == 7
        assert metric(ports.metrics, "otelcol_processor_batch_batch_send_size_count", processor="batch") >= 1
    finally:
        s.kill()
