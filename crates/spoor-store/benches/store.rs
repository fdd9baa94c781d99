//! Store benchmarks: write throughput (spans/s), trace-by-ID latency (head and blocks) and
//! search latency, plus the bytes per span of the Parquet blocks (printed).
//!
//! `cargo bench -p spoor-store --bench store` runs in a few minutes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, any_value};
use spoor_store::{EmbeddedConfig, EmbeddedStore, MemoryConfig, MemoryStore, TraceId, TraceQuery, TraceStore};
use tokio::runtime::Runtime;

const SPANS_PER_TRACE: u64 = 10;
const TRACES_PER_BATCH: u64 = 100;
const SERVICES: [&str; 3] = ["frontend", "checkout", "payments"];
const ROUTES: [&str; 5] = ["/api/cart", "/api/checkout", "/api/pay", "/api/items/{id}", "/health"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
    }
}

fn int_attribute(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

/// A batch of HTTP-like traces: 10 spans each over three services, random IDs, a few
/// attributes per span, as an instrumented web app sends them.
fn batch(rng: &mut Rng, start: u64) -> (TraceBatch, Vec<TraceId>) {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    let mut ids = Vec::new();
    for t in 0..TRACES_PER_BATCH {
        let trace_id: TraceId = ((u128::from(rng.next()) << 64) | u128::from(rng.next())).to_be_bytes();
        ids.push(trace_id);
        let trace_start = start + t * 1_000_000;
        let mut span_ids: Vec<Vec<u8>> = Vec::new();
        for s in 0..SPANS_PER_TRACE {
            let span_id = rng.next().to_be_bytes().to_vec();
            let parent = if s == 0 { Vec::new() } else { span_ids[(rng.next() % s) as usize].clone() };
            span_ids.push(span_id.clone());
            let route = ROUTES[(rng.next() % ROUTES.len() as u64) as usize];
            let status = if rng.next().is_multiple_of(50) { 500 } else { 200 };
            let span_start = trace_start + s * 20_000 + rng.next() % 10_000;
            by_service[(s % 3) as usize].push(Span {
                trace_id: trace_id.to_vec(),
                span_id,
                parent_span_id: parent,
                name: format!("GET {route}"),
                kind: if s == 0 { 2 } else { 3 },
                start_time_unix_nano: span_start,
                end_time_unix_nano: span_start + 50_000 + rng.next() % 5_000_000,
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
        .enumerate()
        .map(|(i, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_attribute("service.name", SERVICES[i]),
                    string_attribute("service.version", "1.4.2"),
                    string_attribute("host.name", "node-7"),
                    string_attribute("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(spoor_pipeline::otlp::InstrumentationScope {
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

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn bench_writes(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(SPANS_PER_TRACE * TRACES_PER_BATCH));
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    let dir = tempfile::tempdir().unwrap();
    let embedded = runtime.block_on(EmbeddedStore::open(EmbeddedConfig::with_path(dir.path()))).unwrap();
    let memory = MemoryStore::new(MemoryConfig::default()).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let start = now_nanos();
    group.bench_function("embedded_sync_always", |b| {
        b.iter_batched(
            || batch(&mut rng, start).0,
            |batch| runtime.block_on(embedded.write(&batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("memory", |b| {
        b.iter_batched(
            || batch(&mut rng, start).0,
            |batch| runtime.block_on(memory.write(&batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    // Concurrent writers share each fsync (group commit).
    group.throughput(Throughput::Elements(16 * SPANS_PER_TRACE * TRACES_PER_BATCH));
    let embedded = std::sync::Arc::new(embedded);
    group.bench_function("embedded_16_concurrent_writers", |b| {
        b.iter_batched(
            || (0..16).map(|_| batch(&mut rng, start).0).collect::<Vec<_>>(),
            |batches| {
                runtime.block_on(async {
                    let writers: Vec<_> = batches
                        .into_iter()
                        .map(|batch| {
                            let store = embedded.clone();
                            tokio::spawn(async move { store.write(&batch).await })
                        })
                        .collect();
                    for writer in writers {
                        writer.await.unwrap().unwrap();
                    }
                })
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    runtime.block_on(embedded.close()).unwrap();
}

fn bench_reads(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(EmbeddedStore::open(EmbeddedConfig::with_path(dir.path()))).unwrap();
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    let start = now_nanos() - 3_600_000_000_000;
    let mut ids = Vec::new();
    // 400k spans in four blocks, compacted into one, then 20k spans in the head.
    for block in 0..4 {
        for i in 0..100 {
            let (batch, batch_ids) = batch(&mut rng, start + (block * 100 + i) * 100_000_000);
            runtime.block_on(store.write(&batch)).unwrap();
            ids.extend(batch_ids);
        }
        runtime.block_on(store.cut_block()).unwrap();
    }
    runtime.block_on(store.compact()).unwrap();
    let stats = store.stats();
    println!(
        "blocks: {} spans in {} block(s), {} bytes, {:.1} bytes/span",
        stats.block_spans,
        stats.blocks,
        stats.block_bytes,
        stats.block_bytes as f64 / stats.block_spans as f64
    );
    let mut head_ids = Vec::new();
    for i in 0..20 {
        let (batch, batch_ids) = batch(&mut rng, start + (400 + i) * 100_000_000);
        runtime.block_on(store.write(&batch)).unwrap();
        head_ids.extend(batch_ids);
    }

    let mut group = c.benchmark_group("read");
    group.sample_size(50).measurement_time(Duration::from_secs(5));
    let mut i = 0;
    group.bench_function("get_trace_block", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            runtime.block_on(store.get_trace(ids[i], None)).unwrap().unwrap()
        })
    });
    group.bench_function("get_trace_head", |b| {
        b.iter(|| {
            i = (i + 7919) % head_ids.len();
            runtime.block_on(store.get_trace(head_ids[i], None)).unwrap().unwrap()
        })
    });
    let window_start = start + 200 * 100_000_000;
    let query = TraceQuery {
        service_name: "payments".into(),
        attributes: [("http.response.status_code".to_owned(), "500".to_owned())].into(),
        start_time_min: Some(window_start),
        start_time_max: Some(window_start + 3_600_000_000_000),
        search_depth: 20,
        ..Default::default()
    };
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("find_traces_service_tag_1h", |b| {
        b.iter(|| runtime.block_on(store.find_traces(&query)).unwrap())
    });
    group.finish();
    runtime.block_on(store.close()).unwrap();
}

criterion_group!(benches, bench_writes, bench_reads);
criterion_main!(benches);
