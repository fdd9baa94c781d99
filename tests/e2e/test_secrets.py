"""Issue 12, item 6: secrets in the config (a literal, `${env:}` and `${file:}`) reach the wire
but never the output of `spoor config`, `spoor validate`, the log or `/metrics`."""

from __future__ import annotations

import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from otel_clients import send_spans
from spoor import Spoor, binary, free_port, otlp_receivers, wait_until

LITERAL = "s3cr3t-token-xyz"
FROM_ENV = "env-s3cr3t-789"
FROM_FILE = "f1le-s3cr3t-456"
SECRETS = (LITERAL, FROM_ENV, FROM_FILE)
ENV = {"SPOOR_E2E_TENANT_TOKEN": FROM_ENV}


class HeaderSink:
    """An OTLP/HTTP endpoint that accepts every export and keeps the headers it was sent."""

    def __init__(self):
        self.headers: list[dict[str, str]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.headers.append({name.lower(): value for name, value in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def secret_config(tmp_path: Path, grpc: int, http: int, metrics: int, sink: int, file_content: str = FROM_FILE) -> Path:
    secret_file = tmp_path / "api-key"
    secret_file.write_text(file_content)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
{otlp_receivers(grpc, http)}exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{sink}
    headers:
      Authorization: "Bearer {LITERAL}"
      X-Tenant-Token: ${{env:SPOOR_E2E_TENANT_TOKEN}}
      X-Api-Key: ${{file:{secret_file}}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
  telemetry:
    logs:
      level: debug
    metrics:
      address: 127.0.0.1:{metrics}
"""
    )
    return config


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary()), *args], capture_output=True, text=True, timeout=30, env={**os.environ, **ENV}
    )


def assert_no_secret(text: str, where: str):
    for secret in SECRETS:
        assert secret not in text, f"{where} shows {secret!r}:\n{text}"


def test_config_and_validate_never_print_secrets(tmp_path):
    config = secret_config(tmp_path, free_port(), free_port(), free_port(), free_port())
    printed = run("config", "--config", str(config))
    assert printed.returncode == 0, printed.stderr
    assert_no_secret(printed.stdout + printed.stderr, "spoor config")
    for header in ("Authorization", "X-Tenant-Token", "X-Api-Key"):
        assert f'{header}: "[REDACTED]"' in printed.stdout, printed.stdout
    assert "endpoint: " in printed.stdout, "only secrets are hidden"
    validated = run("validate", "--config", str(config))
    assert validated.returncode == 0, validated.stderr
    assert_no_secret(validated.stdout + validated.stderr, "spoor validate")


def test_a_missing_secret_file_names_the_file_and_line(tmp_path):
    config = secret_config(tmp_path, free_port(), free_port(), free_port(), free_port())
    (tmp_path / "api-key").unlink()
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "X-Api-Key" in text)
    for command in ("validate", "config"):
        result = run(command, "--config", str(config))
        assert result.returncode == 1, result.stdout
        assert "exporters.otlphttp.headers.X-Api-Key" in result.stderr, result.stderr
        assert f"${{file:{tmp_path / 'api-key'}}}" in result.stderr, result.stderr
        assert f"{config}:{line}:" in result.stderr, result.stderr
        assert_no_secret(result.stderr, f"spoor {command}")


def test_a_header_the_secret_makes_invalid_is_reported_without_it(tmp_path):
    # The file provider keeps a final newline, as the collector's does, and a newline is not
    # allowed in a header: the error names the header, not its value.
    config = secret_config(tmp_path, free_port(), free_port(), free_port(), free_port(), f"{FROM_FILE}\n")
    spoor = Spoor([config], env=ENV)
    spoor.start()
    try:
        code = spoor.process.wait(timeout=30)
    finally:
        spoor.kill()
    output = spoor.stdout() + spoor.stderr()
    assert code != 0, output
    assert "X-Api-Key" in output, output
    assert_no_secret(output, "the failed start")


def test_a_running_spoor_sends_secrets_but_never_shows_them(tmp_path):
    grpc, http, metrics = free_port(), free_port(), free_port()
    sink = HeaderSink()
    spoor = Spoor([secret_config(tmp_path, grpc, http, metrics, sink.port)], env=ENV)
    try:
        spoor.start(wait_ports=[http, metrics])
        send_spans("http", f"http://127.0.0.1:{http}/v1/traces", 5, "secret")
        wait_until(lambda: sink.headers, timeout=20, message="an export reaches the sink")
        sent = sink.headers[0]
        assert sent["authorization"] == f"Bearer {LITERAL}"
        assert sent["x-tenant-token"] == FROM_ENV
        assert sent["x-api-key"] == FROM_FILE
        scraped = requests.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5).text
        assert "otelcol_exporter_sent_spans_total" in scraped
        assert_no_secret(scraped, "/metrics")
    finally:
        spoor.terminate()
        sink.close()
    assert_no_secret(spoor.stdout(), "stdout")
    assert_no_secret(spoor.stderr(), "stderr")
    assert spoor.stderr(), "the debug log was written"
