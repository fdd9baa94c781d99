"""Sends a parent and a child span with opentelemetry-exporter-zipkin-proto-http (Zipkin v2
protobuf) to the URL given. It runs in .venv-zipkin-proto, because that exporter needs
protobuf 3.x (tests/requirements-zipkin-proto.txt).

    python zipkin_proto_client.py http://127.0.0.1:9411/api/v2/spans PREFIX"""

import sys

from opentelemetry import trace
from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode


def main() -> None:
    endpoint, prefix = sys.argv[1], sys.argv[2]
    provider = TracerProvider(resource=Resource.create({"service.name": f"{prefix}-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(ZipkinExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span(f"{prefix}-parent", kind=trace.SpanKind.SERVER) as parent:
        parent.set_attribute("http.method", "GET")
        parent.add_event("cache-miss", {"key": "k1"})
        with tracer.start_as_current_span(f"{prefix}-child", kind=trace.SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "downstream failed"))
    provider.shutdown()


if __name__ == "__main__":
    main()
