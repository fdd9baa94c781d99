"""Test traces for the web UI, sent as OTLP JSON: a small shop with several services (HTTP and
database spans, events, an error with an exception event, a link between traces), a pair of
similar traces to compare, and a big trace (10,000 spans by default).

Run it against a spoor to get something to look at:
    python tests/e2e/ui_seed.py --otlp http://127.0.0.1:4318 --big 10000
It prints the trace IDs it sent, as JSON."""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, field

import requests

MS = 1_000_000  # nanoseconds


def attribute(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


@dataclass
class SpanSpec:
    """One span; `start_ms` is relative to the parent's start (the trace's for the root)."""

    service: str
    name: str
    start_ms: float
    duration_ms: float
    kind: int = 1  # SPAN_KIND_INTERNAL
    attributes: dict = field(default_factory=dict)
    events: list = field(default_factory=list)  # (offset_ms, name, attributes)
    error: str | None = None
    links: list = field(default_factory=list)  # (trace_id, span_id)
    children: list = field(default_factory=list)


class TraceBuilder:
    """Turns a SpanSpec tree into OTLP JSON resourceSpans grouped by service."""

    def __init__(self, trace_id: str, base_ns: int, rng: random.Random):
        self.trace_id = trace_id
        self.base_ns = base_ns
        self.rng = rng
        self.by_service: dict[str, list[dict]] = {}
        self.span_ids: list[str] = []

    def new_span_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def add(self, spec: SpanSpec, parent_id: str = "", parent_start_ns: int | None = None) -> str:
        span_id = self.new_span_id()
        self.span_ids.append(span_id)
        start = (self.base_ns if parent_start_ns is None else parent_start_ns) + int(spec.start_ms * MS)
        span = {
            "traceId": self.trace_id,
            "spanId": span_id,
            "parentSpanId": parent_id,
            "name": spec.name,
            "kind": spec.kind,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + int(spec.duration_ms * MS)),
            "attributes": [attribute(k, v) for k, v in spec.attributes.items()],
            "events": [
                {
                    "timeUnixNano": str(start + int(offset * MS)),
                    "name": name,
                    "attributes": [attribute(k, v) for k, v in attrs.items()],
                }
                for offset, name, attrs in spec.events
            ],
            "links": [{"traceId": t, "spanId": s} for t, s in spec.links],
            "status": {"code": 2, "message": spec.error} if spec.error else {},
        }
        self.by_service.setdefault(spec.service, []).append(span)
        for child in spec.children:
            self.add(child, span_id, start)
        return span_id

    def resource_spans(self) -> list[dict]:
        return [
            {
                "resource": {
                    "attributes": [
                        attribute("service.name", service),
                        attribute("host.name", f"{service}-7d9f8"),
                        attribute("k8s.namespace.name", "shop"),
                    ]
                },
                "scopeSpans": [{"scope": {"name": "ui-seed", "version": "1.0"}, "spans": spans}],
            }
            for service, spans in self.by_service.items()
        ]


SERVER, CLIENT = 2, 3


def checkout(slow_payment: bool, with_fraud_check: bool, fail: bool) -> SpanSpec:
    """frontend → checkout → (inventory → postgres, payments → [fraud] → bank, redis)."""
    pay_ms = 180.0 if slow_payment else 60.0
    payments = SpanSpec(
        "payments",
        "POST /charge",
        0.5,
        pay_ms,
        SERVER,
        {"http.request.method": "POST", "http.response.status_code": 502 if fail else 200, "payment.amount": 42.5},
        events=[(1.0, "card.validated", {"card.brand": "visa"})],
        error="bank gateway timed out" if fail else None,
        children=[SpanSpec("payments", "bank.authorize", 5.0, pay_ms - 10, CLIENT, {"peer.service": "bank"})],
    )
    if fail:
        payments.events.append(
            (pay_ms - 1, "exception", {"exception.type": "TimeoutError", "exception.message": "bank gateway timed out"})
        )
    if with_fraud_check:
        payments.children.insert(0, SpanSpec("fraud", "score", 1.0, 3.5, SERVER, {"fraud.score": 0.07}))
    inventory = SpanSpec(
        "inventory",
        "GET /stock",
        0.5,
        14.0,
        SERVER,
        {"http.request.method": "GET", "http.response.status_code": 200},
        children=[
            SpanSpec(
                "inventory",
                "SELECT stock",
                1.0,
                11.0,
                CLIENT,
                {"db.system": "postgresql", "db.statement": "SELECT qty FROM stock WHERE sku = $1", "db.rows": 1},
            )
        ],
    )
    checkout_span = SpanSpec(
        "checkout",
        "PlaceOrder",
        1.0,
        pay_ms + 40,
        SERVER,
        {"rpc.system": "grpc", "order.items": 3, "order.express": True},
        events=[(0.2, "order.received", {"order.id": "A-1001"}), (pay_ms + 38, "order.placed", {})],
        error="payment failed" if fail else None,
        children=[
            SpanSpec("checkout", "inventory.GetStock", 2.0, 16.0, CLIENT, children=[inventory]),
            SpanSpec("checkout", "payments.Charge", 20.0, pay_ms + 2, CLIENT, children=[payments]),
            SpanSpec("checkout", "redis SET", pay_ms + 25, 1.2, CLIENT, {"db.system": "redis"}),
        ],
    )
    return SpanSpec(
        "frontend",
        "POST /checkout",
        0.0,
        pay_ms + 45,
        SERVER,
        {
            "http.request.method": "POST",
            "http.route": "/checkout",
            "http.response.status_code": 500 if fail else 200,
            "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        error="checkout failed" if fail else None,
        children=[checkout_span],
    )


def big_tree(spans: int, rng: random.Random) -> SpanSpec:
    """A trace of `spans` spans over ten services: a fan-out of request handlers, each with a
    small subtree of downstream calls, so it is both wide and a few levels deep."""
    services = [f"svc-{i:02d}" for i in range(10)]
    root = SpanSpec("gateway", "GET /batch", 0.0, 5000.0, SERVER, {"batch.size": spans})
    made = 1
    cursor = 1.0
    while made < spans:
        service = services[made % len(services)]
        handler = SpanSpec(service, f"handle item {made}", cursor, 8.0, SERVER, {"item": made})
        made += 1
        for depth in range(min(4, spans - made)):
            handler.children.append(
                SpanSpec(
                    services[(made + depth) % len(services)],
                    f"db query {depth}",
                    1 + depth,
                    2.0 + rng.random(),
                    CLIENT,
                    {"db.system": "postgresql"},
                )
            )
            made += 1
        root.children.append(handler)
        cursor = min(cursor + 4990.0 / max(spans / 5, 1), 4990.0)
    return root


def build(spec: SpanSpec, trace_id: str, base_ns: int, seed: int) -> tuple[list[dict], TraceBuilder]:
    builder = TraceBuilder(trace_id, base_ns, random.Random(seed))
    builder.add(spec)
    return builder.resource_spans(), builder


def seed_traces(now_ns: int | None = None, big: int = 0) -> tuple[list[list[dict]], dict[str, str]]:
    """Returns (one resourceSpans list per request, {role: trace ID})."""
    now_ns = now_ns or time.time_ns()
    ids = {
        "ok": "4bf92f3577b34da6a3ce929d0e0e4736",
        "ok_fraud": "5bf92f3577b34da6a3ce929d0e0e4737",
        "error": "6bf92f3577b34da6a3ce929d0e0e4738",
    }
    requests_out = []
    ok, ok_builder = build(checkout(False, False, False), ids["ok"], now_ns - 120_000 * MS, 1)
    requests_out.append(ok)
    slow, _ = build(checkout(True, True, False), ids["ok_fraud"], now_ns - 90_000 * MS, 2)
    requests_out.append(slow)
    failing = checkout(False, False, True)
    failing.links.append((ids["ok"], ok_builder.span_ids[0]))
    bad, _ = build(failing, ids["error"], now_ns - 60_000 * MS, 3)
    requests_out.append(bad)
    for index in range(6):  # some background traffic for the scatter plot
        trace_id = f"{0x7a000000000000000000000000000000 + index:032x}"
        body, _ = build(checkout(index % 3 == 0, index % 2 == 0, False), trace_id, now_ns - (300 - index * 30) * 1000 * MS, 10 + index)
        requests_out.append(body)
    if big:
        ids["big"] = "8bf92f3577b34da6a3ce929d0e0e4739"
        body, _ = build(big_tree(big, random.Random(99)), ids["big"], now_ns - 30_000 * MS, 4)
        requests_out.append(body)
    return requests_out, ids


def post(otlp_http: str, resource_spans: list[dict]) -> None:
    response = requests.post(
        f"{otlp_http.rstrip('/')}/v1/traces",
        data=json.dumps({"resourceSpans": resource_spans}),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otlp", default="http://127.0.0.1:4318", help="OTLP/HTTP base URL")
    parser.add_argument("--big", type=int, default=0, help="also send a trace with this many spans")
    args = parser.parse_args()
    bodies, ids = seed_traces(big=args.big)
    for body in bodies:
        post(args.otlp, body)
    print(json.dumps(ids, indent=2))


if __name__ == "__main__":
    main()
