//! Behaviour of the embedded store that the shared suite does not cover: durability, WAL
//! damage, blocks on disk, retention and compaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, FixedSizeBinaryArray, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, any_value};
use spoor_store::synth::{now_nanos, service_resource};
use spoor_store::{DependencyLink, EmbeddedConfig, EmbeddedStore, SyncMode, TraceId, TraceQuery, TraceStore};

fn trace_id(n: u32) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = 0xab;
    id[12..].copy_from_slice(&n.to_be_bytes());
    id
}

/// Span `id` of trace `n`, a child of span `parent` (0 for a root).
fn call_span(n: u32, id: u8, parent: u8, start: u64) -> Span {
    Span {
        trace_id: trace_id(n).to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, 0, parent] },
        name: format!("op-{id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1000,
        ..Default::default()
    }
}

/// A batch of `spans` of service `service`.
fn service_batch(service: &str, spans: Vec<Span>) -> TraceBatch {
    TraceBatch::new(vec![ResourceSpans {
        resource: service_resource(service),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }])
}

/// A batch holding trace `n` with `spans` spans of service `svc`, starting at `start`.
fn trace_batch(n: u32, spans: u32, start: u64) -> TraceBatch {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: trace_id(n).to_vec(),
            span_id: ((u64::from(n) << 32) | (u64::from(i) + 1)).to_be_bytes().to_vec(),
            parent_span_id: if i == 0 { Vec::new() } else { ((u64::from(n) << 32) | 1).to_be_bytes().to_vec() },
            name: format!("op-{}", i % 3),
            kind: 2,
            start_time_unix_nano: start + u64::from(i) * 1000,
            end_time_unix_nano: start + u64::from(i) * 1000 + 5000,
            attributes: vec![KeyValue {
                key: "http.status_code".into(),
                value: Some(AnyValue { value: Some(any_value::Value::IntValue(200)) }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    service_batch("svc", spans)
}

fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig { sync: SyncMode::Always, ..EmbeddedConfig::with_path(dir) }
}

async fn span_count(store: &EmbeddedStore, n: u32) -> usize {
    match store.get_trace(trace_id(n), None).await.unwrap() {
        Some(trace) => trace.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum(),
        None => 0,
    }
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|entries| entries.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(suffix));
    files.sort();
    files
}

/// The WAL segment that holds records (the others are empty).
fn written_segment(dir: &Path) -> PathBuf {
    files_with_suffix(&dir.join("wal"), ".wal")
        .into_iter()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .expect("a non-empty wal segment")
}

#[tokio::test]
async fn traces_survive_close_and_reopen_from_wal_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_nanos();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    store.write(&trace_batch(1, 5, start)).await.unwrap();
    store.cut_block().await.unwrap();
    store.write(&trace_batch(2, 7, start)).await.unwrap();
    store.close().await.unwrap();
    assert!(store.write(&trace_batch(3, 1, start)).await.is_err(), "writes after close fail");

    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    assert_eq!(span_count(&store, 1).await, 5);
    assert_eq!(span_count(&store, 2).await, 7);
    assert_eq!(store.stats().blocks, 1);
    assert_eq!(store.stats().head_spans, 7);
    assert_eq!(store.services().await.unwrap(), vec!["svc".to_owned()]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn acknowledged_writes_survive_a_crash() {
    acknowledged_writes_survive_a_process_crash(SyncMode::Always).await;
}

/// `sync: interval` acknowledges before the fsync, with the data already written to the OS:
/// a process crash (not a machine crash) loses nothing.
#[tokio::test]
async fn acknowledged_writes_survive_a_crash_with_interval_sync() {
    acknowledged_writes_survive_a_process_crash(SyncMode::Interval).await;
}

async fn acknowledged_writes_survive_a_process_crash(sync: SyncMode) {
    let dir = tempfile::tempdir().unwrap();
    let start = now_nanos();
    let config = EmbeddedConfig { sync, sync_interval: Duration::from_secs(3600), ..config(dir.path()) };
    {
        let store = Arc::new(EmbeddedStore::open(config.clone()).await.unwrap());
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.write(&trace_batch(n, 3, start)).await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        // Dropped without close: nothing is flushed on the way out.
    }
    let store = EmbeddedStore::open(config).await.unwrap();
    for n in 0..32 {
        assert_eq!(span_count(&store, n).await, 3, "trace {n}");
    }
}

async fn write_five_and_close(dir: &Path) -> Vec<u64> {
    let store = EmbeddedStore::open(config(dir)).await.unwrap();
    let mut ends = Vec::new();
    for n in 1..=5 {
        store.write(&trace_batch(n, 2, now_nanos())).await.unwrap();
        ends.push(std::fs::metadata(written_segment(dir)).unwrap().len());
    }
    store.close().await.unwrap();
    ends
}

#[tokio::test]
async fn wal_truncated_mid_record_keeps_every_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    let ends = write_five_and_close(dir.path()).await;
    let segment = written_segment(dir.path());
    let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(ends[3] + (ends[4] - ends[3]) / 2).unwrap();
    drop(file);

    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    for n in 1..=4 {
        assert_eq!(span_count(&store, n).await, 2, "trace {n}");
    }
    assert_eq!(span_count(&store, 5).await, 0);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), ends[3], "the torn tail is cut");
    store.write(&trace_batch(6, 2, now_nanos())).await.unwrap();
    store.close().await.unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    assert_eq!(span_count(&store, 6).await, 2);
}

#[tokio::test]
async fn wal_with_flipped_bytes_keeps_every_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    let ends = write_five_and_close(dir.path()).await;
    let segment = written_segment(dir.path());
    let mut bytes = std::fs::read(&segment).unwrap();
    // Damage the third record's payload and the fifth record's length field.
    let third = ends[1] as usize + 20;
    bytes[third] ^= 0xff;
    bytes[third + 1] ^= 0x55;
    bytes[ends[3] as usize + 5] ^= 0x7f;
    std::fs::write(&segment, bytes).unwrap();

    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    for n in [1, 2, 4] {
        assert_eq!(span_count(&store, n).await, 2, "trace {n}");
    }
    assert_eq!(span_count(&store, 3).await, 0);
    assert_eq!(span_count(&store, 5).await, 0);
}

#[tokio::test]
async fn blocks_are_plain_parquet_sorted_by_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let start = now_nanos();
    for n in (0..50).rev() {
        store.write(&trace_batch(n, 4, start)).await.unwrap();
    }
    store.cut_block().await.unwrap();
    assert_eq!(store.stats().head_spans, 0);
    assert_eq!(store.stats().blocks, 1);
    assert!(files_with_suffix(&dir.path().join("wal"), ".wal").len() == 1, "covered segments are deleted");

    let parquet = files_with_suffix(&dir.path().join("blocks"), ".parquet");
    assert_eq!(parquet.len(), 1);
    assert_eq!(files_with_suffix(&dir.path().join("blocks"), ".meta.json").len(), 1);
    let file = std::fs::File::open(&parquet[0]).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let trace_ids =
            batch.column_by_name("trace_id").unwrap().as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
        let services = batch.column_by_name("service_name").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        for row in 0..batch.num_rows() {
            ids.push(trace_ids.value(row).to_vec());
            assert_eq!(services.value(row), "svc");
        }
    }
    assert_eq!(ids.len(), 200);
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "rows are sorted by trace id");

    let found = store
        .find_trace_ids(&TraceQuery {
            service_name: "svc".into(),
            operation_name: Some("op-1".into()),
            attributes: [("http.status_code".to_owned(), "200".to_owned())].into(),
            search_depth: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 10);
    assert_eq!(span_count(&store, 17).await, 4);
}

#[tokio::test]
async fn retention_deletes_blocks_past_ttl() {
    let dir = tempfile::tempdir().unwrap();
    // Spans older than the TTL when they arrive are placed at their ingestion (see
    // `placement`), so a block expires a TTL after its spans were cut.
    let ttl = Duration::from_secs(2);
    let store = EmbeddedStore::open(EmbeddedConfig { ttl, ..config(dir.path()) }).await.unwrap();
    store.write(&trace_batch(1, 3, now_nanos())).await.unwrap();
    store.cut_block().await.unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    store.write(&trace_batch(2, 3, now_nanos())).await.unwrap();
    store.cut_block().await.unwrap();
    assert_eq!(store.stats().blocks, 2);

    assert_eq!(store.enforce_retention().await.unwrap(), 1);
    assert_eq!(store.stats().blocks, 1);
    assert_eq!(span_count(&store, 1).await, 0);
    assert_eq!(span_count(&store, 2).await, 3);
    assert_eq!(files_with_suffix(&dir.path().join("blocks"), ".parquet").len(), 1);
    store.close().await.unwrap();

    // Retention also runs on open.
    let store =
        EmbeddedStore::open(EmbeddedConfig { ttl: Duration::from_millis(1), ..config(dir.path()) }).await.unwrap();
    assert_eq!(store.stats().blocks, 0);
    assert!(files_with_suffix(&dir.path().join("blocks"), ".parquet").is_empty());
}

#[tokio::test]
async fn compaction_merges_blocks_and_drops_repeated_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let start = now_nanos();
    store.write(&trace_batch(1, 4, start)).await.unwrap();
    store.cut_block().await.unwrap();
    // The same spans again (a retried batch), and a trace of its own.
    store.write(&trace_batch(1, 4, start)).await.unwrap();
    store.write(&trace_batch(2, 3, start)).await.unwrap();
    store.cut_block().await.unwrap();
    store.write(&trace_batch(3, 2, start)).await.unwrap();
    store.cut_block().await.unwrap();
    assert_eq!(store.stats().blocks, 3);
    assert_eq!(store.stats().block_spans, 13);
    assert_eq!(span_count(&store, 1).await, 4, "reads drop exact copies too");

    assert_eq!(store.compact().await.unwrap(), 3);
    let stats = store.stats();
    assert_eq!(stats.blocks, 1);
    assert_eq!(stats.block_spans, 9);
    assert_eq!(files_with_suffix(&dir.path().join("blocks"), ".parquet").len(), 1);
    assert_eq!(span_count(&store, 1).await, 4);
    assert_eq!(span_count(&store, 2).await, 3);
    assert_eq!(span_count(&store, 3).await, 2);
    // Every call is within service `svc`, and Jaeger counts only calls between services.
    let deps = store.dependencies(start + 60_000_000_000, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(deps, vec![]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn head_is_cut_when_it_reaches_max_block_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig { max_block_spans: 10, ..config(dir.path()) }).await.unwrap();
    store.write(&trace_batch(1, 12, now_nanos())).await.unwrap();
    for _ in 0..100 {
        if store.stats().blocks == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.stats().blocks, 1);
    assert_eq!(span_count(&store, 1).await, 12);
}

#[tokio::test]
async fn a_head_that_cannot_be_cut_refuses_more_writes_until_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig { max_block_spans: 10, ..config(dir.path()) }).await.unwrap();
    let now = now_nanos();
    {
        let _paused = store.pause_maintenance().await;
        store.write(&trace_batch(1, 12, now)).await.unwrap();
        assert!(store.has_room(), "12 spans in memory, the bound is 2 x 10");
        store.write(&trace_batch(2, 8, now)).await.unwrap();
        assert!(!store.has_room(), "20 spans in memory and no cut can run");
    }
    for _ in 0..100 {
        if store.has_room() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.has_room(), "the cut did not free the head: {:?}", store.stats());
    assert_eq!(span_count(&store, 1).await + span_count(&store, 2).await, 20);
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_head_is_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let max_head_bytes = 1 << 20;
    let store = EmbeddedStore::open(EmbeddedConfig { max_head_bytes, ..config(dir.path()) }).await.unwrap();
    let now = now_nanos();
    let mut written = 0;
    {
        let _paused = store.pause_maintenance().await;
        while store.has_room() {
            written += 1;
            store.write(&trace_batch(written, 100, now)).await.unwrap();
        }
        let stats = store.stats();
        assert!(stats.head_bytes >= 2 * max_head_bytes, "{stats:?}");
        // One write past the bound, plus the span entries' list growing by doubling.
        assert!(stats.head_bytes < 2 * max_head_bytes + max_head_bytes / 2, "{stats:?}");
        assert_eq!(stats.blocks, 0);
        // The bound counts bytes, not spans: far fewer than max_block_spans.
        assert!(stats.head_spans < 100_000, "{stats:?}");
    }
    for _ in 0..100 {
        if store.has_room() && store.stats().blocks > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = store.stats();
    assert!(store.has_room() && stats.blocks > 0, "the head was not cut: {stats:?}");
    assert_eq!(stats.block_spans + stats.head_spans as u64, u64::from(written) * 100);
    assert_eq!(span_count(&store, written).await, 100);
    store.close().await.unwrap();
}

#[tokio::test]
async fn traces_are_found_across_many_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let start = now_nanos();
    for chunk in 0..20 {
        let mut batch = TraceBatch::default();
        for n in chunk * 100..(chunk + 1) * 100 {
            batch.append(trace_batch(n, 20, start));
        }
        store.write(&batch).await.unwrap();
    }
    store.cut_block().await.unwrap();
    for n in (0..2000).step_by(97).chain([0, 1999]) {
        assert_eq!(span_count(&store, n).await, 20, "trace {n}");
    }
    assert_eq!(span_count(&store, 5000).await, 0);
}

/// A search with a small limit stops early (newest candidates first); it must answer what a
/// full search answers, cut to the limit, across blocks, the head and equal start times.
#[tokio::test]
async fn limited_search_returns_the_newest_of_a_full_search() {
    use spoor_store::synth::{self, ROUTES, Rng, SERVICES};
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let mut rng = Rng::new(7);
    let hour = 3_600_000_000_000u64;
    let start = now_nanos() - 3 * hour;
    // Three blocks of 20 batches, over three hours, then five batches in the head.
    for block in 0..3u64 {
        for i in 0..20u64 {
            store.write(&synth::batch(&mut rng, start + (block * 20 + i) * 150_000_000_000).0).await.unwrap();
        }
        store.cut_block().await.unwrap();
    }
    // Traces that all start at the same time, in a block and in the head: ties on start.
    let tied = start + 90 * 60_000_000_000;
    let mut batch = TraceBatch::default();
    for n in 0..150 {
        batch.append(trace_batch(n, 3, tied));
    }
    store.write(&batch).await.unwrap();
    store.cut_block().await.unwrap();
    let mut batch = TraceBatch::default();
    for n in 150..200 {
        batch.append(trace_batch(n, 3, tied));
    }
    store.write(&batch).await.unwrap();
    for i in 60..65u64 {
        store.write(&synth::batch(&mut rng, start + i * 150_000_000_000).0).await.unwrap();
    }

    let mut queries = Vec::new();
    for window_start in [start, start + hour, start + 80 * 60_000_000_000, start + 2 * hour] {
        for service in SERVICES.iter().chain(&["svc"]) {
            let tags: Vec<(&str, String)> = vec![
                ("http.response.status_code", "500".to_owned()),
                ("http.route", ROUTES[1].to_owned()),
                ("http.request.method", "GET".to_owned()),
                ("http.status_code", "200".to_owned()),
                ("error", "true".to_owned()),
            ];
            for (key, value) in tags {
                queries.push(TraceQuery {
                    service_name: service.to_string(),
                    attributes: [(key.to_owned(), value)].into(),
                    start_time_min: Some(window_start),
                    start_time_max: Some(window_start + hour),
                    ..Default::default()
                });
            }
            queries.push(TraceQuery {
                service_name: service.to_string(),
                operation_name: Some("GET /api/pay".to_owned()),
                start_time_min: Some(window_start),
                start_time_max: Some(window_start + hour),
                ..Default::default()
            });
        }
    }
    let mut nonempty = 0;
    for query in queries {
        let full = store.find_trace_ids(&TraceQuery { search_depth: 1_000_000, ..query.clone() }).await.unwrap();
        for depth in [1, 5, 20] {
            let limited = store.find_trace_ids(&TraceQuery { search_depth: depth, ..query.clone() }).await.unwrap();
            let expected: Vec<TraceId> = full.iter().take(depth).copied().collect();
            assert_eq!(limited, expected, "depth {depth}, {query:?}");
        }
        nonempty += usize::from(full.len() > 20);
    }
    assert!(nonempty > 20, "only {nonempty} queries found more than 20 traces");
}

/// Dependencies of the last hour, as (parent, child, calls).
async fn calls(store: &EmbeddedStore) -> Vec<(String, String, u64)> {
    let links = store.dependencies(now_nanos() + 60_000_000_000, Duration::from_secs(3600)).await.unwrap();
    links.into_iter().map(|DependencyLink { parent, child, call_count }| (parent, child, call_count)).collect()
}

fn call(parent: &str, child: &str, call_count: u64) -> (String, String, u64) {
    (parent.to_owned(), child.to_owned(), call_count)
}

/// frontend → backend and backend → db once each; backend → backend is not a dependency.
fn straddling_calls() -> Vec<(String, String, u64)> {
    vec![call("backend", "db", 1), call("frontend", "backend", 1)]
}

/// The spans below frontend's root span of trace 1: backend's, then db's and another backend's.
fn backend_and_db_batch(start: u64) -> TraceBatch {
    let mut batch = service_batch("backend", vec![call_span(1, 2, 1, start + 1000), call_span(1, 4, 2, start + 2000)]);
    batch.append(service_batch("db", vec![call_span(1, 3, 2, start + 3000)]));
    batch
}

#[tokio::test]
async fn a_call_whose_parent_was_cut_into_an_earlier_block_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let start = now_nanos() - 60_000_000_000;
    store.write(&service_batch("frontend", vec![call_span(1, 1, 0, start)])).await.unwrap();
    store.cut_block().await.unwrap();
    store.write(&backend_and_db_batch(start)).await.unwrap();
    assert_eq!(calls(&store).await, straddling_calls(), "parent in a block, child in the head");

    store.cut_block().await.unwrap();
    assert_eq!(store.stats().blocks, 2);
    assert_eq!(calls(&store).await, straddling_calls(), "parent and child in two blocks");

    store.close().await.unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    assert_eq!(calls(&store).await, straddling_calls(), "after reopening");

    assert_eq!(store.compact().await.unwrap(), 2);
    assert_eq!(store.stats().blocks, 1);
    assert_eq!(calls(&store).await, straddling_calls(), "after compaction");
    store.close().await.unwrap();
}

/// Spans are sent when they end, so a child usually arrives before its parent.
#[tokio::test]
async fn a_call_whose_child_was_cut_before_its_parent_arrived_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let start = now_nanos() - 60_000_000_000;
    store.write(&backend_and_db_batch(start)).await.unwrap();
    store.cut_block().await.unwrap();
    assert_eq!(calls(&store).await, vec![call("backend", "db", 1)], "no parent yet");

    store.write(&service_batch("frontend", vec![call_span(1, 1, 0, start)])).await.unwrap();
    assert_eq!(calls(&store).await, straddling_calls(), "child in a block, parent in the head");

    store.cut_block().await.unwrap();
    // A block of another trace, which compaction merges with the other two.
    store.write(&trace_batch(2, 3, start)).await.unwrap();
    store.cut_block().await.unwrap();
    assert_eq!(store.stats().blocks, 3);
    assert_eq!(calls(&store).await, straddling_calls(), "child and parent in two blocks");

    assert_eq!(store.compact().await.unwrap(), 3);
    assert_eq!(calls(&store).await, straddling_calls(), "after compaction");
    store.close().await.unwrap();
}
