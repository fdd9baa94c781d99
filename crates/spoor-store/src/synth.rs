//! Synthetic HTTP-like traces for the store's benchmarks (`benches/store.rs`) and the scale
//! run (`examples/store_scale.rs`): 10 spans per trace over three services, random IDs, four
//! resource attributes and four span attributes per span, as an instrumented web app sends
//! them. Behind the `testing` feature.

use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{
    AnyValue, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, any_value,
};

use crate::TraceId;

pub const SPANS_PER_TRACE: u64 = 10;
pub const TRACES_PER_BATCH: u64 = 100;
/// Spans in one [`batch`].
pub const SPANS_PER_BATCH: u64 = SPANS_PER_TRACE * TRACES_PER_BATCH;
/// How far apart the traces of one batch start, ns: a batch spans 100 ms.
pub const TRACE_SPACING_NANOS: u64 = 1_000_000;
pub const SERVICES: [&str; 3] = ["frontend", "checkout", "payments"];
pub const ROUTES: [&str; 5] = ["/api/cart", "/api/checkout", "/api/pay", "/api/items/{id}", "/health"];
/// One span in this many has `http.response.status_code` 500 (and an error status); the rest 200.
pub const ERROR_ONE_IN: u64 = 50;

/// xorshift64: fast, deterministic, good enough for IDs and choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced, as xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn trace_id(&mut self) -> TraceId {
        ((u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())).to_be_bytes()
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
    }
}

/// A resource with only `service.name`.
pub fn service_resource(service: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![string_attribute("service.name", service)], ..Default::default() })
}

/// Now, in Unix nanoseconds.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn int_attribute(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

/// A batch of [`TRACES_PER_BATCH`] traces of [`SPANS_PER_TRACE`] spans, the traces starting
/// [`TRACE_SPACING_NANOS`] apart from `start` (Unix ns), and their IDs.
pub fn batch(rng: &mut Rng, start: u64) -> (TraceBatch, Vec<TraceId>) {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut ids = Vec::new();
    for t in 0..TRACES_PER_BATCH {
        let trace_id = rng.trace_id();
        ids.push(trace_id);
        let trace_start = start + t * TRACE_SPACING_NANOS;
        let mut span_ids: Vec<Vec<u8>> = Vec::new();
        for s in 0..SPANS_PER_TRACE {
            let span_id = rng.next_u64().to_be_bytes().to_vec();
            let parent = match s {
                0 => Vec::new(),
                _ => span_ids.get(rng.below(s) as usize).cloned().unwrap_or_default(),
            };
            span_ids.push(span_id.clone());
            let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
            let status = if rng.next_u64().is_multiple_of(ERROR_ONE_IN) { 500 } else { 200 };
            let span_start = trace_start + s * 20_000 + rng.below(10_000);
            by_service[(s % SERVICES.len() as u64) as usize].push(Span {
                trace_id: trace_id.to_vec(),
                span_id,
                parent_span_id: parent,
                name: format!("GET {route}"),
                kind: if s == 0 { 2 } else { 3 },
                start_time_unix_nano: span_start,
                end_time_unix_nano: span_start + 50_000 + rng.below(5_000_000),
                attributes: vec![
                    string_attribute("http.request.method", "GET"),
                    string_attribute("http.route", route),
                    int_attribute("http.response.status_code", status),
                    string_attribute("server.address", "shop.internal"),
                ],
                status: (status == 500).then(|| Status { code: 2, message: String::new() }),
                ..Default::default()
            });
        }
    }
    let resource_spans = by_service
        .into_iter()
        .zip(SERVICES)
        .map(|(spans, service)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_attribute("service.name", service),
                    string_attribute("service.version", "1.4.2"),
                    string_attribute("host.name", "node-7"),
                    string_attribute("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry-http".into(),
                    version: "0.30.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    (TraceBatch::new(resource_spans), ids)
}

/// One span named `name` of `service` in trace `trace_id` (span ID 1, 1 ms long), for tests
/// that need a trace they can tell apart by its service or name.
pub fn one_span(trace_id: [u8; 16], service: &str, name: &str) -> TraceBatch {
    let span = Span {
        trace_id: trace_id.to_vec(),
        span_id: vec![1; 8],
        name: name.into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_001_000_000,
        ..Default::default()
    };
    TraceBatch::new(vec![ResourceSpans {
        resource: service_resource(service),
        scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
        ..Default::default()
    }])
}
