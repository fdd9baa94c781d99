//! Traces bigger than a Parquet row group: a 70,000-span and a 200,000-span trace among 100
//! normal ones go through cuts, a compaction and a reopen, and every trace is read back whole
//! (issue 13: such a trace used to shift every later row group's meta and lose data).

use std::time::Duration;

use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans, Span};
use spoor_store::synth::{now_nanos, service_resource};
use spoor_store::{EmbeddedConfig, EmbeddedStore, SyncMode, TraceId, TraceQuery, TraceStore};

const NORMAL_TRACES: u32 = 100;
const NORMAL_SPANS: u32 = 7;
/// Trace numbers and span counts of the big traces.
const BIG: [(u32, u32); 2] = [(1_000, 70_000), (2_000, 200_000)];
/// Spans per written batch.
const BATCH_SPANS: u32 = 10_000;

fn trace_id(n: u32) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = 0x5a;
    id[12..].copy_from_slice(&n.to_be_bytes());
    id
}

/// Span `i` of trace `n`: span 0 is the root, the others its children.
fn span(n: u32, i: u32, start: u64) -> Span {
    let span_id = |i: u32| ((u64::from(n) << 32) | (u64::from(i) + 1)).to_be_bytes().to_vec();
    Span {
        trace_id: trace_id(n).to_vec(),
        span_id: span_id(i),
        parent_span_id: if i == 0 { Vec::new() } else { span_id(0) },
        name: format!("op-{}", i % 5),
        kind: 2,
        start_time_unix_nano: start + u64::from(i),
        end_time_unix_nano: start + u64::from(i) + 1_000,
        ..Default::default()
    }
}

/// Spans `range` of trace `n`: the root in service `frontend`, its children in `backend`.
fn batch(n: u32, range: std::ops::Range<u32>, start: u64) -> TraceBatch {
    let (roots, children): (Vec<Span>, Vec<Span>) =
        range.map(|i| span(n, i, start)).partition(|s| s.parent_span_id.is_empty());
    let resource_spans = [("frontend", roots), ("backend", children)]
        .into_iter()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(service, spans)| ResourceSpans {
            resource: service_resource(service),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        })
        .collect();
    TraceBatch::new(resource_spans)
}

async fn write_trace(store: &EmbeddedStore, n: u32, spans: u32, start: u64) {
    let mut first = 0;
    while first < spans {
        let last = (first + BATCH_SPANS).min(spans);
        store.write(&batch(n, first..last, start)).await.unwrap();
        first = last;
    }
}

async fn span_count(store: &EmbeddedStore, n: u32) -> usize {
    match store.get_trace(trace_id(n), None).await.unwrap() {
        Some(trace) => trace.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum(),
        None => 0,
    }
}

/// Every trace is read back whole, by ID and through a search, and its calls count once.
async fn assert_every_trace_whole(store: &EmbeddedStore, when: &str) {
    for n in 0..NORMAL_TRACES {
        assert_eq!(span_count(store, n).await, NORMAL_SPANS as usize, "trace {n} {when}");
    }
    for (n, spans) in BIG {
        assert_eq!(span_count(store, n).await, spans as usize, "big trace {n} {when}");
    }
    let query = TraceQuery { service_name: "frontend".into(), search_depth: 1_000, ..Default::default() };
    let found = store.find_trace_ids(&query).await.unwrap();
    assert_eq!(found.len(), NORMAL_TRACES as usize + BIG.len(), "search {when}");
    let calls: u64 =
        BIG.iter().map(|(_, spans)| u64::from(spans - 1)).sum::<u64>() + u64::from(NORMAL_TRACES * (NORMAL_SPANS - 1));
    let links = store.dependencies(now_nanos() + 60_000_000_000, Duration::from_secs(3600)).await.unwrap();
    let counted: Vec<(String, String, u64)> = links.into_iter().map(|l| (l.parent, l.child, l.call_count)).collect();
    assert_eq!(counted, vec![("frontend".to_owned(), "backend".to_owned(), calls)], "dependencies {when}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_bigger_than_a_row_group_survive_cut_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        sync: SyncMode::Interval,
        max_block_spans: 1_000_000,
        ..EmbeddedConfig::with_path(dir.path())
    };
    let store = EmbeddedStore::open(config.clone()).await.unwrap();
    let start = now_nanos() - 60_000_000_000;
    // Each block: half the normal traces around one big trace.
    for (half, (big, big_spans)) in BIG.into_iter().enumerate() {
        let normal = half as u32 * NORMAL_TRACES / 2..(half as u32 + 1) * NORMAL_TRACES / 2;
        for n in normal.clone().take(25) {
            store.write(&batch(n, 0..NORMAL_SPANS, start)).await.unwrap();
        }
        write_trace(&store, big, big_spans, start).await;
        for n in normal.skip(25) {
            store.write(&batch(n, 0..NORMAL_SPANS, start)).await.unwrap();
        }
        store.cut_block().await.unwrap();
    }
    assert_eq!(store.stats().blocks, 2);
    assert_eq!(store.stats().head_spans, 0);
    assert_every_trace_whole(&store, "after the cuts").await;

    assert_eq!(store.compact().await.unwrap(), 2);
    assert_eq!(store.stats().blocks, 1);
    assert_every_trace_whole(&store, "after compaction").await;

    store.close().await.unwrap();
    let store = EmbeddedStore::open(config).await.unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    assert_every_trace_whole(&store, "after reopening").await;
    store.close().await.unwrap();
}
