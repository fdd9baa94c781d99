//! Store benchmarks: write throughput (spans/s), trace-by-ID latency (head and blocks) and
//! search latency, plus the bytes per span of the Parquet blocks (printed).
//!
//! `cargo bench -p spoor-store --bench store` runs in a few minutes; `-- ingest` runs the
//! write path alone: encoded batches (as the OTLP receiver hands them over) written by four
//! concurrent writers into the head, then the cut of those spans into a block.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use spoor_pipeline::TraceBatch;
use spoor_store::synth::{Rng, SPANS_PER_TRACE, TRACES_PER_BATCH, batch};
use spoor_store::{EmbeddedConfig, EmbeddedStore, MemoryConfig, MemoryStore, SyncMode, TraceQuery, TraceStore};
use tokio::runtime::Runtime;

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
    let mut rng = Rng::new(0x1234_5678_9abc_def1);
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
    let mut rng = Rng::new(0x0bad_cafe_f00d_d00d);
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

/// Resident memory of this process, from `/proc/self/statm` (0 elsewhere).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).unwrap_or(0) * 4096
}

const INGEST_BATCHES: u64 = 200;
const INGEST_WRITERS: usize = 4;

fn bench_ingest(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut rng = Rng::new(0x5eed_1234);
    let start = now_nanos() - 3_600_000_000_000;
    let batches: Vec<TraceBatch> = (0..INGEST_BATCHES)
        .map(|i| {
            let decoded = batch(&mut rng, start + i * 10_000_000).0;
            let body = bytes::Bytes::from(decoded.encode_request());
            TraceBatch::from_encoded_request(&body).unwrap().0
        })
        .collect();
    let spans = INGEST_BATCHES * SPANS_PER_TRACE * TRACES_PER_BATCH;
    let open = |dir: &std::path::Path| {
        let config = EmbeddedConfig {
            sync: SyncMode::Interval,
            max_block_spans: 10_000_000,
            block_duration: Duration::from_secs(3600),
            ..EmbeddedConfig::with_path(dir)
        };
        std::sync::Arc::new(runtime.block_on(EmbeddedStore::open(config)).unwrap())
    };
    let write_all = |store: &std::sync::Arc<EmbeddedStore>| {
        runtime.block_on(async {
            let writers: Vec<_> = (0..INGEST_WRITERS)
                .map(|w| {
                    let (store, mine) =
                        (store.clone(), batches.iter().skip(w).step_by(INGEST_WRITERS).cloned().collect::<Vec<_>>());
                    tokio::spawn(async move {
                        for batch in mine {
                            store.write(&batch).await.unwrap();
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.await.unwrap();
            }
        })
    };
    {
        let dir = tempfile::tempdir().unwrap();
        let before = rss_bytes();
        let store = open(dir.path());
        write_all(&store);
        let after = rss_bytes();
        // A head that keeps the received bytes shares them with the batches generated above,
        // so its growth leaves them out: they are printed besides.
        let encoded: usize = batches.iter().map(TraceBatch::encoded_request_len).sum();
        println!(
            "ingest: {spans} spans in the head, RSS grew {:.0} B/span; the batches' encoded bytes are {:.0} B/span",
            after.saturating_sub(before) as f64 / spans as f64,
            encoded as f64 / spans as f64
        );
        runtime.block_on(store.close()).unwrap();
    }
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(spans));
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("write_200k_encoded", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = open(dir.path());
                let t = std::time::Instant::now();
                write_all(&store);
                total += t.elapsed();
                runtime.block_on(store.close()).unwrap();
            }
            total
        })
    });
    group.bench_function("cut_200k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = open(dir.path());
                write_all(&store);
                let t = std::time::Instant::now();
                runtime.block_on(store.cut_block()).unwrap();
                total += t.elapsed();
                runtime.block_on(store.close()).unwrap();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_writes, bench_reads, bench_ingest);
criterion_main!(benches);
