//! Realistic OTLP trace requests, generated once from a seed and encoded up front.
//!
//! Each request is one service's export batch: a resource with the usual SDK and Kubernetes
//! attributes, two instrumentation scopes, and spans grouped into small traces (a server root
//! with internal, HTTP, database, RPC and messaging children). Encoded spans average about
//! 570 bytes, which is what instrumented web services typically emit.
//!
//! The same requests can be encoded for the Jaeger and Zipkin receivers instead (`formats`); the
//! agent's UDP formats split a request into datagrams of as many spans as fit.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use crate::formats::Format;
use crate::formats::encode_request;
use crate::known::KnownTrace;
use crate::stamp::{self, Marks};

/// What to generate.
#[derive(Clone, Debug)]
pub struct PayloadConfig {
    pub spans_per_request: usize,
    /// Number of distinct requests; senders cycle through them.
    pub pool_size: usize,
    pub seed: u64,
    /// Gzip the bodies once here (used over HTTP; gRPC compresses per message in tonic).
    pub gzip: bool,
    pub format: Format,
}

/// One pre-encoded request body.
#[derive(Clone, Debug)]
pub struct Payload {
    /// The request in the pool's format (OTLP: protobuf `ExportTraceServiceRequest`), gzipped
    /// when the pool was built with `gzip`.
    pub body: Bytes,
    pub spans: u64,
    /// Size before compression.
    pub encoded_len: usize,
}

/// The requests a run sends, built once at start.
#[derive(Debug)]
pub struct PayloadPool {
    payloads: Vec<Payload>,
    /// With `with_unique_traces`: where each payload's trace IDs and times lie.
    unique: Option<UniqueTraces>,
}

#[derive(Debug)]
struct UniqueTraces {
    marks: Vec<Marks>,
    spread: Duration,
}

impl PayloadPool {
    pub fn build(config: &PayloadConfig) -> anyhow::Result<Self> {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let now = unix_nanos_now();
        let mut payloads = Vec::with_capacity(config.pool_size.max(1));
        for index in 0..config.pool_size.max(1) {
            let request = generate_request(&mut rng, index, config.spans_per_request, now);
            for encoded in encode_request(&request, config.format).map_err(|e| anyhow!("cannot encode: {e}"))? {
                let encoded_len = encoded.body.len();
                let body = if config.gzip { gzip(&encoded.body)? } else { encoded.body };
                payloads.push(Payload { body: Bytes::from(body), spans: encoded.spans, encoded_len });
            }
        }
        Ok(Self { payloads, unique: None })
    }

    /// Gives every send trace IDs of its own and, with a `spread`, moves its times back by up
    /// to `spread` (see `stamp`). The payloads must be OTLP and not compressed.
    pub fn with_unique_traces(mut self, spread: Duration) -> anyhow::Result<Self> {
        let marks = self
            .payloads
            .iter()
            .map(|payload| Marks::find(&payload.body))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("cannot find the trace IDs in the requests: {e}"))?;
        self.unique = Some(UniqueTraces { marks, spread });
        Ok(self)
    }

    /// The payload for the `n`th send; wraps around the pool.
    pub fn get(&self, n: u64) -> &Payload {
        &self.payloads[self.index(n)]
    }

    /// The body of the `n`th send, and with unique traces, the first trace it carries.
    pub fn body(&self, n: u64) -> (Bytes, Option<KnownTrace>) {
        let index = self.index(n);
        let body = &self.payloads[index].body;
        match &self.unique {
            None => (body.clone(), None),
            Some(unique) => {
                let turn = n / self.payloads.len() as u64;
                stamp::stamp(body, &unique.marks[index], turn, stamp::shift_nanos(n, unique.spread))
            }
        }
    }

    fn index(&self, n: u64) -> usize {
        (n % self.payloads.len() as u64) as usize
    }

    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    pub fn mean_encoded_span_bytes(&self) -> f64 {
        let bytes: usize = self.payloads.iter().map(|p| p.encoded_len).sum();
        let spans: u64 = self.payloads.iter().map(|p| p.spans).sum();
        bytes as f64 / spans.max(1) as f64
    }

    /// Spans per body: the requested count, or fewer where datagrams split the requests.
    pub fn mean_spans_per_payload(&self) -> f64 {
        let spans: u64 = self.payloads.iter().map(|p| p.spans).sum();
        spans as f64 / self.payloads.len().max(1) as f64
    }

    pub fn max_body_len(&self) -> usize {
        self.payloads.iter().map(|p| p.body.len()).max().unwrap_or(0)
    }

    pub fn mean_body_bytes(&self) -> f64 {
        let bytes: usize = self.payloads.iter().map(|p| p.body.len()).sum();
        bytes as f64 / self.payloads.len().max(1) as f64
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}

fn unix_nanos_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// The services the generated requests come from, one per request in turn.
pub const SERVICES: &[&str] =
    &["frontend", "checkout", "cart", "payment", "product-catalog", "shipping", "currency", "recommendation"];

const SDK_LANGUAGES: &[(&str, &str)] =
    &[("go", "1.28.0"), ("java", "1.42.1"), ("python", "1.27.0"), ("nodejs", "1.26.0")];

const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/products/{id}", "/api/products/OLJCESPC7Z"),
    ("GET", "/api/cart", "/api/cart?sessionId=7a1f"),
    ("POST", "/api/cart/items", "/api/cart/items"),
    ("POST", "/api/checkout", "/api/checkout"),
    ("GET", "/api/recommendations", "/api/recommendations?productIds=2ZYFJ3GM2N"),
    ("GET", "/api/currency/convert", "/api/currency/convert?from=USD&to=EUR"),
    ("POST", "/api/payment/charge", "/api/payment/charge"),
    ("GET", "/api/shipping/quote", "/api/shipping/quote?zip=94043"),
];

const DB_STATEMENTS: &[(&str, &str, &str)] = &[
    (
        "SELECT",
        "orders",
        "SELECT id, user_id, total_cents, currency, status FROM orders WHERE user_id = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT 20",
    ),
    (
        "SELECT",
        "products",
        "SELECT p.id, p.name, p.price_cents, i.quantity FROM products p JOIN inventory i ON i.product_id = p.id WHERE p.id = ANY($1)",
    ),
    (
        "INSERT",
        "order_items",
        "INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4) RETURNING id",
    ),
    ("UPDATE", "carts", "UPDATE carts SET items = $2, updated_at = now() WHERE session_id = $1 AND expires_at > now()"),
];

const RPCS: &[(&str, &str)] = &[
    ("oteldemo.CurrencyService", "Convert"),
    ("oteldemo.ProductCatalogService", "GetProduct"),
    ("oteldemo.ShippingService", "GetQuote"),
    ("oteldemo.RecommendationService", "ListRecommendations"),
];

const FUNCTIONS: &[(&str, &str, &str)] = &[
    ("validateCart", "github.com/spoor-demo/shop/checkout/service", "/app/src/checkout/service/validate_cart.go"),
    ("computeTotals", "github.com/spoor-demo/shop/checkout/pricing", "/app/src/checkout/pricing/compute_totals.go"),
    ("renderTemplate", "shop.frontend.views.product", "/app/src/frontend/views/product/render_template.ts"),
    ("loadUserSession", "shop.frontend.session.store", "/app/src/frontend/session/redis_session_store.ts"),
];

/// Generates one export request of `spans` spans for the service picked by `index`.
pub fn generate_request(
    rng: &mut StdRng,
    index: usize,
    spans: usize,
    now_unix_nanos: u64,
) -> ExportTraceServiceRequest {
    let service = SERVICES[index % SERVICES.len()];
    let mut http_spans = Vec::with_capacity(spans);
    let mut client_spans = Vec::with_capacity(spans / 2);
    let mut remaining = spans;
    while remaining > 0 {
        let trace_len = rng.random_range(3..=15).min(remaining);
        generate_trace(rng, service, trace_len, now_unix_nanos, &mut http_spans, &mut client_spans);
        remaining -= trace_len;
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(rng, service)),
            scope_spans: vec![
                scope_spans("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.53.0", http_spans),
                scope_spans("go.opentelemetry.io/contrib/instrumentation/database/sql/otelsql", "0.35.0", client_spans),
            ],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
    }
}

fn scope_spans(name: &str, version: &str, spans: Vec<Span>) -> ScopeSpans {
    ScopeSpans {
        scope: Some(InstrumentationScope {
            name: name.into(),
            version: version.into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        }),
        spans,
        schema_url: String::new(),
    }
}

fn resource(rng: &mut StdRng, service: &str) -> Resource {
    let (language, sdk_version) = SDK_LANGUAGES[rng.random_range(0..SDK_LANGUAGES.len())];
    let pod = format!("{service}-{:08x}-{}", rng.random::<u32>(), random_suffix(rng, 5));
    Resource {
        attributes: vec![
            kv_str("service.name", service),
            kv_str("service.namespace", "shop"),
            kv_str("service.version", "2.3.1"),
            kv_str("host.name", &format!("ip-10-0-{}-{}.ec2.internal", rng.random::<u8>(), rng.random::<u8>())),
            kv_str("k8s.pod.name", &pod),
            kv_str("k8s.namespace.name", "shop"),
            kv_str("k8s.node.name", &format!("node-{:02}", rng.random_range(1..40))),
            kv_str("telemetry.sdk.name", "opentelemetry"),
            kv_str("telemetry.sdk.language", language),
            kv_str("telemetry.sdk.version", sdk_version),
        ],
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

/// One trace: a server root and children that each pick an earlier span of the trace as parent.
fn generate_trace(
    rng: &mut StdRng,
    service: &str,
    len: usize,
    now: u64,
    http_spans: &mut Vec<Span>,
    client_spans: &mut Vec<Span>,
) {
    let trace_id = random_id::<16>(rng).to_vec();
    let root_start = now - rng.random_range(50_000_000..5_000_000_000);
    let root_duration = rng.random_range(5_000_000..400_000_000);
    let (method, route, target) = ROUTES[rng.random_range(0..ROUTES.len())];
    let root = ServerRoot { method, route, target };
    // (span id, start, end) of the spans made so far, to pick parents from.
    let mut made: Vec<([u8; 8], u64, u64)> = Vec::with_capacity(len);
    for position in 0..len {
        let span_id = random_id::<8>(rng);
        let (parent, start, end) = if position == 0 {
            (None, root_start, root_start + root_duration)
        } else {
            let (parent_id, p_start, p_end) = made[rng.random_range(0..made.len())];
            let span = p_end - p_start;
            let start = p_start + rng.random_range(0..span / 2 + 1);
            let end = start + rng.random_range(1..(p_end - start).max(2));
            (Some(parent_id), start, end.min(p_end))
        };
        made.push((span_id, start, end));
        let mut span = Span {
            trace_id: trace_id.clone(),
            span_id: span_id.to_vec(),
            parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags: 0x301,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        };
        let is_client = if position == 0 {
            fill_server_span(rng, service, &root, &mut span);
            false
        } else {
            fill_child_span(rng, &mut span)
        };
        maybe_add_event(rng, &mut span);
        if is_client {
            client_spans.push(span);
        } else {
            http_spans.push(span);
        }
    }
}

struct ServerRoot {
    method: &'static str,
    route: &'static str,
    target: &'static str,
}

fn fill_server_span(rng: &mut StdRng, service: &str, root: &ServerRoot, span: &mut Span) {
    let failed = rng.random_bool(0.03);
    let status = if failed { 500 } else { 200 };
    span.name = format!("{} {}", root.method, root.route);
    span.kind = SpanKind::Server as i32;
    span.attributes = vec![
        kv_str("http.method", root.method),
        kv_str("http.route", root.route),
        kv_str(
            "http.target",
            &format!(
                "{}{}sessionId={:032x}",
                root.target,
                if root.target.contains('?') { '&' } else { '?' },
                rng.random::<u128>()
            ),
        ),
        kv_str("http.scheme", "http"),
        kv_int("http.status_code", status),
        kv_str("http.flavor", "1.1"),
        kv_str("net.host.name", &format!("{service}.shop.svc.cluster.local")),
        kv_int("net.host.port", 8080),
        kv_str("net.sock.peer.addr", &random_ip(rng)),
        kv_str(
            "http.user_agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        ),
    ];
    if failed {
        span.status = Some(error_status("internal server error"));
    }
}

/// Fills a non-root span; returns whether it is a client span (database, HTTP or RPC call).
fn fill_child_span(rng: &mut StdRng, span: &mut Span) -> bool {
    match rng.random_range(0..10) {
        0..=2 => {
            fill_db_span(rng, span);
            true
        }
        3..=4 => {
            fill_http_client_span(rng, span);
            true
        }
        5..=6 => {
            fill_rpc_client_span(rng, span);
            true
        }
        7 => {
            fill_producer_span(rng, span);
            false
        }
        _ => {
            fill_internal_span(rng, span);
            false
        }
    }
}

fn fill_db_span(rng: &mut StdRng, span: &mut Span) {
    let (operation, table, statement) = DB_STATEMENTS[rng.random_range(0..DB_STATEMENTS.len())];
    span.name = format!("{operation} shop.{table}");
    span.kind = SpanKind::Client as i32;
    span.attributes = vec![
        kv_str("db.system", "postgresql"),
        kv_str("db.name", "shop"),
        kv_str("db.user", "shop_app"),
        kv_str("db.statement", statement),
        kv_str("db.operation", operation),
        kv_str("db.sql.table", table),
        kv_str("net.peer.name", "postgres-primary.shop.svc.cluster.local"),
        kv_int("net.peer.port", 5432),
        kv_str("db.connection_string", "postgresql://postgres-primary:5432"),
        kv_str(
            "server.address",
            &format!("postgres-primary-{}.postgres.shop.svc.cluster.local", rng.random_range(0..3)),
        ),
    ];
}

fn fill_http_client_span(rng: &mut StdRng, span: &mut Span) {
    let (method, route, target) = ROUTES[rng.random_range(0..ROUTES.len())];
    let peer = SERVICES[rng.random_range(0..SERVICES.len())];
    let failed = rng.random_bool(0.02);
    span.name = format!("{method} {route}");
    span.kind = SpanKind::Client as i32;
    span.attributes = vec![
        kv_str("http.method", method),
        kv_str("http.url", &format!("http://{peer}.shop.svc.cluster.local:8080{target}")),
        kv_int("http.status_code", if failed { 503 } else { 200 }),
        kv_str("http.flavor", "1.1"),
        kv_str("net.peer.name", &format!("{peer}.shop.svc.cluster.local")),
        kv_int("net.peer.port", 8080),
        kv_int("http.request_content_length", rng.random_range(0..4096)),
        kv_int("http.response_content_length", rng.random_range(64..65536)),
        kv_str("http.request.header.x-request-id", &uuid(rng)),
        kv_str("user_agent.original", "Go-http-client/1.1"),
    ];
    if failed {
        span.status = Some(error_status("upstream unavailable"));
    }
}

fn fill_rpc_client_span(rng: &mut StdRng, span: &mut Span) {
    let (service, method) = RPCS[rng.random_range(0..RPCS.len())];
    span.name = format!("{service}/{method}");
    span.kind = SpanKind::Client as i32;
    span.attributes = vec![
        kv_str("rpc.system", "grpc"),
        kv_str("rpc.service", service),
        kv_str("rpc.method", method),
        kv_int("rpc.grpc.status_code", 0),
        kv_str("net.peer.name", &format!("{}.shop.svc.cluster.local", service.to_lowercase().replace('.', "-"))),
        kv_int("net.peer.port", 50051),
        kv_str("net.sock.peer.addr", &random_ip(rng)),
        kv_int("rpc.request.size", rng.random_range(16..2048)),
        kv_int("rpc.response.size", rng.random_range(16..8192)),
        kv_str("rpc.grpc.request.metadata.x-request-id", &uuid(rng)),
    ];
}

fn fill_producer_span(rng: &mut StdRng, span: &mut Span) {
    span.name = "orders publish".into();
    span.kind = SpanKind::Producer as i32;
    span.attributes = vec![
        kv_str("messaging.system", "kafka"),
        kv_str("messaging.destination.name", "orders"),
        kv_str("messaging.operation", "publish"),
        kv_int("messaging.kafka.destination.partition", rng.random_range(0..12)),
        kv_str("messaging.kafka.message.key", &random_suffix(rng, 16)),
        kv_str("messaging.message.id", &format!("{:032x}", rng.random::<u128>())),
        kv_int("messaging.message.payload_size_bytes", rng.random_range(100..20_000)),
        kv_str("net.peer.name", "kafka-0.kafka-headless.shop.svc.cluster.local"),
        kv_int("net.peer.port", 9092),
        kv_str("messaging.client_id", &format!("checkout-producer-{}", random_suffix(rng, 8))),
    ];
}

fn fill_internal_span(rng: &mut StdRng, span: &mut Span) {
    let (function, namespace, file) = FUNCTIONS[rng.random_range(0..FUNCTIONS.len())];
    span.name = function.into();
    span.kind = SpanKind::Internal as i32;
    span.attributes = vec![
        kv_str("code.function", function),
        kv_str("code.namespace", namespace),
        kv_str("code.filepath", file),
        kv_int("code.lineno", rng.random_range(20..900)),
        kv_str("app.user.id", &format!("user-{:010}", rng.random_range(0..10_000_000_000u64))),
        kv_str("app.session.id", &format!("{:032x}", rng.random::<u128>())),
        kv_int("app.cart.items.count", rng.random_range(0..25)),
        kv_str("app.currency", "USD"),
        kv_str("app.request.id", &uuid(rng)),
        kv_int("thread.id", rng.random_range(1..64)),
    ];
}

fn maybe_add_event(rng: &mut StdRng, span: &mut Span) {
    let failed = span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32);
    let time = span.start_time_unix_nano + (span.end_time_unix_nano - span.start_time_unix_nano) / 2;
    if failed {
        span.events.push(Event {
            time_unix_nano: time,
            name: "exception".into(),
            attributes: vec![
                kv_str("exception.type", "UpstreamUnavailableError"),
                kv_str("exception.message", "connection refused by upstream after 3 attempts"),
            ],
            dropped_attributes_count: 0,
        });
    } else if rng.random_bool(0.3) {
        span.events.push(Event {
            time_unix_nano: time,
            name: "cache miss".into(),
            attributes: vec![
                kv_str("cache.key", &format!("product:{}", random_suffix(rng, 10))),
                kv_int("cache.ttl_seconds", 300),
                kv_str("cache.backend", "redis://redis-cart.shop.svc.cluster.local:6379"),
            ],
            dropped_attributes_count: 0,
        });
    }
}

fn error_status(message: &str) -> Status {
    Status { message: message.into(), code: StatusCode::Error as i32 }
}

/// A random ID that is never all zeroes (the OTLP spec makes all-zero IDs invalid).
fn random_id<const N: usize>(rng: &mut StdRng) -> [u8; N] {
    loop {
        let mut id = [0u8; N];
        rng.fill(&mut id[..]);
        if id.iter().any(|&b| b != 0) {
            return id;
        }
    }
}

fn uuid(rng: &mut StdRng) -> String {
    let v: u128 = rng.random();
    let h = format!("{v:032x}");
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn random_ip(rng: &mut StdRng) -> String {
    format!("10.{}.{}.{}", rng.random_range(0..4), rng.random::<u8>(), rng.random_range(1..255))
}

fn random_suffix(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(Value::IntValue(value)) }), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::HashSet;

    fn config(spans: usize) -> PayloadConfig {
        PayloadConfig { spans_per_request: spans, pool_size: 16, seed: 7, gzip: false, format: Format::Otlp }
    }

    #[test]
    fn encoded_span_size_is_realistic() {
        let pool = PayloadPool::build(&config(100)).unwrap();
        let per_span = pool.mean_encoded_span_bytes();
        assert!((500.0..=650.0).contains(&per_span), "{per_span} bytes per span");
    }

    #[test]
    fn requests_decode_with_valid_ids_and_parent_links() {
        let pool = PayloadPool::build(&config(100)).unwrap();
        assert_eq!(pool.len(), 16);
        for n in 0..pool.len() as u64 {
            let payload = pool.get(n);
            let request = ExportTraceServiceRequest::decode(payload.body.clone()).unwrap();
            let spans: Vec<&Span> =
                request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).collect();
            assert_eq!(spans.len(), 100);
            assert_eq!(payload.spans, 100);
            let ids: HashSet<(&[u8], &[u8])> =
                spans.iter().map(|s| (s.trace_id.as_slice(), s.span_id.as_slice())).collect();
            assert_eq!(ids.len(), spans.len(), "span ids are unique");
            for span in &spans {
                assert_eq!(span.trace_id.len(), 16);
                assert_eq!(span.span_id.len(), 8);
                assert!(span.trace_id.iter().any(|&b| b != 0));
                assert!(span.span_id.iter().any(|&b| b != 0));
                assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
                assert!((8..=10).contains(&span.attributes.len()), "{}", span.name);
                if !span.parent_span_id.is_empty() {
                    let parent = (span.trace_id.as_slice(), span.parent_span_id.as_slice());
                    assert!(ids.contains(&parent), "parent is in the same trace");
                }
            }
            let resource = request.resource_spans[0].resource.as_ref().unwrap();
            assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"));
        }
    }

    #[test]
    fn same_seed_gives_same_bytes_and_pool_entries_differ() {
        let a = PayloadPool::build(&config(10)).unwrap();
        let b = PayloadPool::build(&config(10)).unwrap();
        // Timestamps come from the clock, so compare sizes and the first span's IDs.
        let first = |pool: &PayloadPool| {
            let request = ExportTraceServiceRequest::decode(pool.get(0).body.clone()).unwrap();
            request.resource_spans[0].scope_spans[0].spans[0].trace_id.clone()
        };
        assert_eq!(first(&a), first(&b));
        assert_ne!(a.get(0).body, a.get(1).body);
    }

    #[test]
    fn odd_span_counts_are_exact() {
        for spans in [1, 2, 7, 1000] {
            let pool = PayloadPool::build(&PayloadConfig { pool_size: 2, ..config(spans) }).unwrap();
            let request = ExportTraceServiceRequest::decode(pool.get(1).body.clone()).unwrap();
            let count: usize = request.resource_spans[0].scope_spans.iter().map(|ss| ss.spans.len()).sum();
            assert_eq!(count, spans);
        }
    }

    #[test]
    fn gzip_bodies_are_smaller_and_decompress() {
        let pool = PayloadPool::build(&PayloadConfig { gzip: true, ..config(100) }).unwrap();
        let payload = pool.get(3);
        assert!(payload.body.len() < payload.encoded_len);
        let mut decoder = flate2::read::GzDecoder::new(&payload.body[..]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut decoder, &mut raw).unwrap();
        assert_eq!(raw.len(), payload.encoded_len);
    }
}
