"""Sending spans with the real OpenTelemetry Python SDK exporters."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class CountingExporter(SpanExporter):
    """Wraps an SDK exporter and counts the spans the server acknowledged."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.acknowledged = 0
        self.failed = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.acknowledged += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def send_spans(protocol: str, endpoint: str, count: int, prefix: str, service: str = "e2e") -> CountingExporter:
    """Sends `count` spans named `<prefix>-<i>` and returns the exporter with its counts."""
    if protocol == "grpc":
        inner = GrpcExporter(endpoint=endpoint, insecure=True)
    elif protocol == "http":
        inner = HttpExporter(endpoint=endpoint)
    else:
        raise ValueError(protocol)
    exporter = CountingExporter(inner)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=100, schedule_delay_millis=50))
    tracer = provider.get_tracer("spoor-e2e", "1.0")
    for index in range(count):
        with tracer.start_as_current_span(f"{prefix}-{index}") as span:
            span.set_attribute("index", index)
            span.set_attribute("protocol", protocol)
    provider.force_flush(30_000)
    provider.shutdown()
    return exporter
