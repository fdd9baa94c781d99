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


class TraceRecorder(CountingExporter):
    """Also records the trace IDs of acknowledged spans."""

    def __init__(self, inner: SpanExporter):
        super().__init__(inner)
        self.acknowledged_traces: set[str] = set()

    def export(self, spans):
        result = super().export(spans)
        if result == SpanExportResult.SUCCESS:
            self.acknowledged_traces.update(format(span.context.trace_id, "032x") for span in spans)
        return result


def send_traces(endpoint: str, traces: int, service: str) -> TraceRecorder:
    """Sends `traces` traces of two spans each (`root` and its child `child`) over OTLP gRPC."""
    exporter = TraceRecorder(GrpcExporter(endpoint=endpoint, insecure=True))
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=50_000, max_export_batch_size=512, schedule_delay_millis=50)
    )
    tracer = provider.get_tracer("spoor-e2e", "1.0")
    for index in range(traces):
        with tracer.start_as_current_span("root") as root:
            root.set_attribute("trace.kind", "test")
            root.set_attribute("index", index)
            with tracer.start_as_current_span("child"):
                pass
    provider.force_flush(60_000)
    provider.shutdown()
    return exporter
