"""Every listener behind TLS and an authenticator, with real clients: the three authenticator
extensions on OTLP gRPC and HTTP, Jaeger gRPC and Thrift HTTP, Zipkin and the query ports;
mutual TLS and certificate reload on each; a spoor-to-spoor chain with client auth; slow and
idle clients; and no secret in logs, metrics or `spoor config`."""

from __future__ import annotations

import resource
import shutil
import socket
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from thrift.protocol import TBinaryProtocol

import jaeger_thrift
from otel_clients import CountingExporter
from security import Issuer, Pki, basic, grpc_call, http_call, sha_htpasswd
from spoor import Spoor, free_port, metric, run_spoor, wait_for_port, wait_until

TOKEN = "tok-3f9a1c77e2"
PASSWORD = "pw-8d2b6e41aa"


class Ports:
    def __init__(self):
        names = ("otlp_grpc otlp_http jaeger_grpc thrift_http zipkin query query_grpc health metrics "
                 "sampling_http sampling_grpc").split()
        for name in names:
            setattr(self, name, free_port())


def listeners_config(ports: Ports, tls: str | None, auth_extension: str, auth_id: str | None,
                     extra: str = "") -> str:
    """Every TCP listener, each with `tls` (a YAML flow mapping) when given, `auth:
    {authenticator: auth_id}` when given, and the HTTP ones with `extra` (YAML lines at the
    listener's level)."""

    def listener(port: int, indent: int, http: bool = True) -> str:
        lines = [f"endpoint: 127.0.0.1:{port}"]
        if tls:
            lines.append(f"tls: {tls}")
        if auth_id:
            lines.append(f"auth: {{authenticator: {auth_id}}}")
        lines += [line for line in extra.splitlines() if line and http]
        return "\n".join(" " * indent + line for line in lines)

    def receiver(name: str, protocols: dict[str, tuple[int, bool]]) -> str:
        blocks = "".join(f"      {protocol}:\n{listener(port, 8, http)}\n" for protocol, (port, http) in protocols.items())
        return f"  {name}:\n    protocols:\n{blocks}"

    otlp = receiver("otlp", {"grpc": (ports.otlp_grpc, False), "http": (ports.otlp_http, True)})
    jaeger = receiver("jaeger", {"grpc": (ports.jaeger_grpc, False), "thrift_http": (ports.thrift_http, True)})
    extensions = ", ".join(filter(None, [auth_id, "health_check", "jaeger_storage", "jaeger_query", "remote_sampling"]))
    return f"""
extensions:
{auth_extension}  health_check:
{listener(ports.health, 4)}
  remote_sampling:
    file:
      path: ""
    http:
{listener(ports.sampling_http, 6)}
    grpc:
{listener(ports.sampling_grpc, 6, http=False)}
  jaeger_storage:
    backends:
      main:
        memory:
          max_traces: 1000
  jaeger_query:
    storage:
      traces: main
    http:
{listener(ports.query, 6)}
    grpc:
{listener(ports.query_grpc, 6, http=False)}
receivers:
{otlp}{jaeger}  zipkin:
{listener(ports.zipkin, 4)}
exporters:
  jaeger_storage_exporter:
    trace_storage: main
processors:
  batch:
    timeout: 50ms
service:
  extensions: [{extensions}]
  telemetry:
    metrics:
      address: 127.0.0.1:{ports.metrics}
  pipelines:
    traces:
      receivers: [otlp, jaeger, zipkin]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
"""


def thrift_batch() -> bytes:
    j = jaeger_thrift.jaeger
    batch = j.Batch(process=j.Process(serviceName="thrift-auth"), spans=[])
    return jaeger_thrift.serialize(batch, TBinaryProtocol.TBinaryProtocol)


def probes(ports: Ports, ca: Path, client=None):
    """(name, call(authorization) -> answer, accepted answer, refused answer) for each listener."""
    http_client = (client[0], client[1]) if client else None
    grpc_client = (Path(client[0]).read_bytes(), Path(client[1]).read_bytes()) if client else None
    g = lambda port, method: lambda auth: grpc_call(port, method, ca, auth, grpc_client)
    h = lambda port, method, path, body=b"", ctype=None: (
        lambda auth: http_call(port, method, path, ca, auth, body, ctype, http_client))
    ok, unauthenticated = grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED
    return [
        ("otlp grpc", g(ports.otlp_grpc, "/opentelemetry.proto.collector.trace.v1.TraceService/Export"), ok, unauthenticated),
        ("otlp http", h(ports.otlp_http, "POST", "/v1/traces", b"", "application/x-protobuf"), 200, 401),
        ("jaeger grpc", g(ports.jaeger_grpc, "/jaeger.api_v2.CollectorService/PostSpans"), ok, unauthenticated),
        ("thrift_http", h(ports.thrift_http, "POST", "/api/traces", thrift_batch(), "application/x-thrift"), 202, 401),
        ("zipkin", h(ports.zipkin, "POST", "/api/v2/spans", b"[]", "application/json"), 202, 401),
        ("query http", h(ports.query, "GET", "/api/services"), 200, 401),
        ("query grpc", g(ports.query_grpc, "/jaeger.api_v2.QueryService/GetServices"), ok, unauthenticated),
        ("health_check", h(ports.health, "GET", "/"), 200, 401),
        ("sampling http", h(ports.sampling_http, "GET", "/api/sampling?service=auth"), 200, 401),
        ("sampling grpc", g(ports.sampling_grpc, "/jaeger.api_v2.SamplingManager/GetSamplingStrategy"), ok, unauthenticated),
    ]


def start(config: str, tmp_path: Path, ports: Ports, name: str = "spoor") -> Spoor:
    path = tmp_path / f"{name}.yaml"
    path.write_text(config)
    assert run_spoor("validate", "--config", str(path)).returncode == 0, run_spoor("validate", "--config", str(path)).stderr
    return Spoor([path], name=name).start([ports.otlp_grpc, ports.query, ports.health])


AUTHENTICATORS = {
    "bearertokenauth": lambda tmp: (
        f"  bearertokenauth/in:\n    token: {TOKEN}\n", f"Bearer {TOKEN}", "Bearer guess"),
    "basicauth": lambda tmp: (
        f"  basicauth/in:\n    htpasswd:\n      inline: |\n        {sha_htpasswd('alice', PASSWORD)}\n",
        basic("alice", PASSWORD), basic("alice", "guess")),
    "oidc": lambda tmp: (lambda issuer: (
        f"  oidc/in:\n    providers:\n      - issuer_url: {issuer.url}\n        audience: spoor\n"
        f"        public_keys_file: {issuer.jwks_file}\n",
        f"Bearer {issuer.token()}", f"Bearer {issuer.token(audience='someone-else')}"))(Issuer(tmp / "oidc")),
}


@pytest.mark.parametrize("kind", sorted(AUTHENTICATORS))
def test_every_listener_asks_for_credentials(tmp_path, kind):
    pki = Pki(tmp_path / "pki")
    extension, right, wrong = AUTHENTICATORS[kind](tmp_path)
    ports = Ports()
    spoor = start(listeners_config(ports, pki.server_tls_yaml(), extension, f"{kind}/in"), tmp_path, ports)
    try:
        for name, call, accepted, refused in probes(ports, pki.dir / "ca.pem"):
            assert call(None) == refused, f"{name}: no credentials"
            assert call(wrong) == refused, f"{name}: wrong credentials"
            assert call(right) == accepted, f"{name}: right credentials"
        log = spoor.stdout() + spoor.stderr()
        for secret in (TOKEN, PASSWORD, right.split()[-1]):
            assert secret not in log
    finally:
        spoor.kill()


def test_mutual_tls_and_certificate_reload_on_every_listener(tmp_path):
    pki, renewed = Pki(tmp_path / "pki"), Pki(tmp_path / "renewed", "renewed ca")
    ports = Ports()
    tls = pki.server_tls_yaml(mutual=True, reload_interval="200ms")
    spoor = start(listeners_config(ports, tls, "", None), tmp_path, ports)
    client = (pki.path("client.pem"), pki.path("client.key"))
    try:
        for name, call, accepted, _ in probes(ports, pki.dir / "ca.pem", client):
            assert call(None) == accepted, f"{name}: a client certificate of client_ca_file"
        for name, call, _, _ in probes(ports, pki.dir / "ca.pem"):
            with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError, AssertionError)):
                answer = call(None)
                assert answer == grpc.StatusCode.UNAVAILABLE, f"{name}: no client certificate got {answer}"
                raise AssertionError(name)
        # Plain text to a TLS port gets nowhere.
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{ports.query}/api/services", timeout=5)

        # A renewed server certificate (from another CA) is served without a restart.
        shutil.copy(renewed.path("server.pem"), pki.path("server.pem"))
        shutil.copy(renewed.path("server.key"), pki.path("server.key"))
        time.sleep(1)
        for name, call, accepted, _ in probes(ports, renewed.dir / "ca.pem", client):
            assert call(None) == accepted, f"{name}: the renewed certificate"
    finally:
        spoor.kill()


def sdk_provider(exporter) -> tuple[TracerProvider, CountingExporter]:
    counting = CountingExporter(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": "chain"}))
    provider.add_span_processor(BatchSpanProcessor(counting, max_export_batch_size=50, schedule_delay_millis=50))
    return provider, counting


def send(provider: TracerProvider, count: int, prefix: str) -> None:
    tracer = provider.get_tracer("spoor-e2e")
    for index in range(count):
        with tracer.start_as_current_span(f"{prefix}-{index}"):
            pass
    provider.force_flush(30_000)
    provider.shutdown()


def test_chain_with_client_auth_over_tls_and_no_secret_anywhere(tmp_path, monkeypatch):
    """The SDK sends to B with a bearer header and a CA file, and to A, whose otlp and otlphttp
    exporters authenticate to B with bearertokenauth over TLS; every span arrives once per path,
    and the token shows up in no log, metric or `spoor config` output."""
    # requests lets these override the exporter's own CA file (psf/requests#3829).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    pki = Pki(tmp_path / "pki")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    b = Ports()
    b_config = tmp_path / "b.yaml"
    b_config.write_text(f"""
extensions:
  bearertokenauth/in:
    filename: {token_file}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{b.otlp_grpc}
        tls: {pki.server_tls_yaml()}
        auth: {{authenticator: bearertokenauth/in}}
      http:
        endpoint: 127.0.0.1:{b.otlp_http}
        tls: {pki.server_tls_yaml()}
        auth: {{authenticator: bearertokenauth/in}}
exporters:
  nop:
service:
  extensions: [bearertokenauth/in]
  telemetry:
    metrics:
      address: 127.0.0.1:{b.metrics}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop]
""")
    a = Ports()
    a_config = tmp_path / "a.yaml"
    a_config.write_text(f"""
extensions:
  bearertokenauth/out:
    token: ${{env:CHAIN_TOKEN}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{a.otlp_grpc}
exporters:
  otlp:
    endpoint: localhost:{b.otlp_grpc}
    tls: {{ca_file: {pki.path('ca.pem')}}}
    auth: {{authenticator: bearertokenauth/out}}
  otlphttp:
    endpoint: https://localhost:{b.otlp_http}
    tls: {{ca_file: {pki.path('ca.pem')}}}
    auth: {{authenticator: bearertokenauth/out}}
service:
  extensions: [bearertokenauth/out]
  telemetry:
    metrics:
      address: 127.0.0.1:{a.metrics}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp, otlphttp]
""")
    env = {"CHAIN_TOKEN": TOKEN}
    server_b = Spoor([b_config], name="b").start([b.otlp_grpc, b.otlp_http])
    server_a = Spoor([a_config], name="a", env=env).start([a.otlp_grpc])
    try:
        ca = pki.path("ca.pem")
        headers = {"authorization": f"Bearer {TOKEN}"}
        grpc_direct, grpc_counts = sdk_provider(GrpcExporter(
            endpoint=f"localhost:{b.otlp_grpc}", credentials=grpc.ssl_channel_credentials(Path(ca).read_bytes()),
            headers=headers))
        send(grpc_direct, 100, "direct-grpc")
        http_direct, http_counts = sdk_provider(HttpExporter(
            endpoint=f"https://localhost:{b.otlp_http}/v1/traces", certificate_file=ca, headers=headers))
        send(http_direct, 100, "direct-http")
        assert (grpc_counts.acknowledged, http_counts.acknowledged) == (100, 100)
        refused, refused_counts = sdk_provider(GrpcExporter(
            endpoint=f"localhost:{b.otlp_grpc}", credentials=grpc.ssl_channel_credentials(Path(ca).read_bytes())))
        send(refused, 10, "anonymous")
        assert refused_counts.acknowledged == 0

        chained, chained_counts = sdk_provider(GrpcExporter(endpoint=f"127.0.0.1:{a.otlp_grpc}", insecure=True))
        send(chained, 300, "chained")
        assert chained_counts.acknowledged == 300
        accepted = lambda: metric(b.metrics, "otelcol_receiver_accepted_spans_total", receiver="otlp")
        wait_until(lambda: accepted() >= 800, 30, message="B accepted every span")
        time.sleep(0.5)
        assert accepted() == 800, "200 direct and 300 through each of A's two exporters"
        assert metric(a.metrics, "otelcol_exporter_sent_spans_total", exporter="otlp") == 300
        assert metric(a.metrics, "otelcol_exporter_sent_spans_total", exporter="otlphttp") == 300

        seen = [server_a.stdout(), server_a.stderr(), server_b.stdout(), server_b.stderr()]
        seen += [requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text for port in (a.metrics, b.metrics)]
        seen += [run_spoor("config", "--config", str(path)).stdout for path in (a_config, b_config)]
        seen += [run_spoor("validate", "--config", str(path)).stderr for path in (a_config, b_config)]
        assert not [text for text in seen if TOKEN in text], "the token leaked"
    finally:
        server_a.kill()
        server_b.kill()


def slow_client_is_cut(port: int, limit: float) -> float | None:
    """Sends a request head one line at a time; returns when the server hung up, or None."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        for i in range(int(limit / 0.25)):
            try:
                sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
                sock.settimeout(0.25)
                if sock.recv(4096) == b"":
                    return time.monotonic() - started
                return time.monotonic() - started
            except socket.timeout:
                continue
            except OSError:
                return time.monotonic() - started
    return None


def test_slow_and_idle_clients_do_not_hold_the_listeners(tmp_path):
    ports = Ports()
    config = tmp_path / "plain.yaml"
    config.write_text(listeners_config(ports, None, "", None, extra="read_header_timeout: 1s"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    spoor = Spoor([config]).start([ports.otlp_grpc, ports.query, ports.health])
    try:
        http_ports = {"otlp http": ports.otlp_http, "thrift_http": ports.thrift_http, "zipkin": ports.zipkin,
                      "query http": ports.query, "health_check": ports.health, "metrics": ports.metrics,
                      "sampling http": ports.sampling_http}
        results: dict[str, float | None] = {}
        threads = [threading.Thread(target=lambda n=n, p=p: results.__setitem__(n, slow_client_is_cut(p, 15)))
                   for n, p in http_ports.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, after in results.items():
            limit = 12 if name == "metrics" else 3
            assert after is not None and after < limit, f"{name}: slow client held for {after}"

        idle = [socket.create_connection(("127.0.0.1", ports.query), timeout=5) for _ in range(2000)]
        try:
            exporter = CountingExporter(GrpcExporter(endpoint=f"127.0.0.1:{ports.otlp_grpc}", insecure=True))
            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
            send(provider, 10, "while-idle")
            assert exporter.acknowledged == 10
            response = requests.post(f"http://127.0.0.1:{ports.otlp_http}/v1/traces", data=b"",
                                     headers={"Content-Type": "application/x-protobuf"}, timeout=5)
            assert response.status_code == 200
        finally:
            for sock in idle:
                sock.close()
    finally:
        spoor.kill()
