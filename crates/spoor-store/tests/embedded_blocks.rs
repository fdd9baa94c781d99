//! Blocks on disk meeting damage and strays: damaged blocks are quarantined and reported,
//! stray and staging files never stop startup, older meta formats load and newer ones are
//! left alone, and spans dated far off do not pin a block past retention.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, any_value};
use spoor_store::{EmbeddedConfig, EmbeddedStore, SyncMode, TraceId, TraceQuery, TraceStore};

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn trace_id(n: u8) -> TraceId {
    [n; 16]
}

/// Trace `n`: one span per start in `starts`, of service `svc`.
fn trace_batch(n: u8, starts: &[u64]) -> TraceBatch {
    let spans = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| Span {
            trace_id: trace_id(n).to_vec(),
            span_id: vec![n, 0, 0, 0, 0, 0, 0, i as u8 + 1],
            name: "op".into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000,
            ..Default::default()
        })
        .collect();
    TraceBatch::new(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue("svc".into())) }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }])
}

fn config(dir: &Path) -> EmbeddedConfig {
    EmbeddedConfig { sync: SyncMode::Always, ..EmbeddedConfig::with_path(dir) }
}

/// Opens a store with traces `1..=n`, each cut into a block of its own, and closes it.
async fn blocks_of_traces(dir: &Path, n: u8) -> Vec<String> {
    let store = EmbeddedStore::open(config(dir)).await.unwrap();
    for t in 1..=n {
        store.write(&trace_batch(t, &[now_nanos()])).await.unwrap();
        store.cut_block().await.unwrap();
    }
    store.close().await.unwrap();
    block_ids(dir)
}

/// Block IDs in `blocks/`, oldest first.
fn block_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = files(&dir.join("blocks"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.strip_suffix(".meta.json").map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|entries| entries.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.sort();
    files
}

fn parquet(dir: &Path, id: &str) -> PathBuf {
    dir.join("blocks").join(format!("{id}.parquet"))
}

fn meta(dir: &Path, id: &str) -> PathBuf {
    dir.join("blocks").join(format!("{id}.meta.json"))
}

async fn found(store: &EmbeddedStore, n: u8) -> bool {
    store.get_trace(trace_id(n), None).await.unwrap().is_some()
}

#[tokio::test]
async fn damaged_blocks_are_quarantined_and_strays_never_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    let ids = blocks_of_traces(dir.path(), 4).await;
    let blocks = dir.path().join("blocks");
    // Block 1: an empty Parquet file. Block 2: a truncated one. Block 3: a garbled meta.
    std::fs::write(parquet(dir.path(), &ids[0]), b"").unwrap();
    let file = std::fs::read(parquet(dir.path(), &ids[1])).unwrap();
    std::fs::write(parquet(dir.path(), &ids[1]), &file[..file.len() / 2]).unwrap();
    let mut garbled = std::fs::read(meta(dir.path(), &ids[2])).unwrap();
    garbled[20] ^= 0x55;
    std::fs::write(meta(dir.path(), &ids[2]), garbled).unwrap();
    // Strays: a file, a directory, a staging file a crash left, a Parquet file without meta.
    std::fs::write(blocks.join("notes.txt"), b"hello").unwrap();
    std::fs::create_dir(blocks.join("old")).unwrap();
    std::fs::write(blocks.join("old").join("x.parquet"), b"x").unwrap();
    std::fs::write(blocks.join("00000000000000000001-1-1.parquet#7"), b"half").unwrap();
    std::fs::write(blocks.join("00000000000000000002-1-1.parquet"), b"no meta").unwrap();

    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    let warnings = store.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for id in &ids[..3] {
        assert!(warnings.iter().any(|w| w.contains(id.as_str())), "{id} in {warnings:?}");
    }
    assert_eq!(store.stats().blocks, 1);
    assert!(found(&store, 4).await);
    for n in 1..=3 {
        assert!(!found(&store, n).await, "trace {n} of a quarantined block");
    }
    let query = TraceQuery { service_name: "svc".into(), ..Default::default() };
    assert_eq!(store.find_trace_ids(&query).await.unwrap(), vec![trace_id(4)]);

    let quarantined: Vec<String> =
        files(&dir.path().join("quarantine")).iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(quarantined.len(), 6, "{quarantined:?}");
    let left: Vec<String> = files(&blocks).iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    let expected =
        vec![format!("{}.meta.json", ids[3]), format!("{}.parquet", ids[3]), "notes.txt".into(), "old".into()];
    assert_eq!(left, expected, "staging file and Parquet without meta removed, strays left alone");
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_block_found_damaged_by_a_read_is_quarantined_and_other_traces_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    for t in 1..=2 {
        store.write(&trace_batch(t, &[now_nanos()])).await.unwrap();
        store.cut_block().await.unwrap();
    }
    let ids = block_ids(dir.path());
    let file = std::fs::read(parquet(dir.path(), &ids[0])).unwrap();
    std::fs::write(parquet(dir.path(), &ids[0]), &file[..file.len() - 10]).unwrap();

    assert!(!found(&store, 1).await, "the damaged block is skipped");
    assert!(found(&store, 2).await);
    let query = TraceQuery { service_name: "svc".into(), ..Default::default() };
    assert_eq!(store.find_trace_ids(&query).await.unwrap(), vec![trace_id(2)]);
    assert_eq!(store.warnings().len(), 1, "{:?}", store.warnings());
    assert_eq!(store.stats().blocks, 1);
    assert_eq!(files(&dir.path().join("quarantine")).len(), 2);
    store.close().await.unwrap();
}

#[tokio::test]
async fn format_2_blocks_load_and_unknown_formats_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ids = blocks_of_traces(dir.path(), 2).await;
    // Block 1 as this store's previous version wrote it; block 2 from a future version.
    let rewrite = |id: &str, format: u64| {
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(meta(dir.path(), id)).unwrap()).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.remove("checksum");
        fields.remove("moved_spans");
        fields["format"] = format.into();
        std::fs::write(meta(dir.path(), id), serde_json::to_vec(&json).unwrap()).unwrap();
    };
    rewrite(&ids[0], 2);
    rewrite(&ids[1], 99);

    let store = EmbeddedStore::open(config(dir.path())).await.unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    assert!(found(&store, 1).await);
    assert!(!found(&store, 2).await, "a block of an unknown format is skipped");
    assert!(meta(dir.path(), &ids[1]).exists() && parquet(dir.path(), &ids[1]).exists(), "and left in place");
    store.close().await.unwrap();
}

#[tokio::test]
async fn spans_dated_years_off_do_not_pin_their_block_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(2);
    let store = EmbeddedStore::open(EmbeddedConfig { ttl, ..config(dir.path()) }).await.unwrap();
    let ten_years = 10 * 365 * 24 * 3600 * 1_000_000_000u64;
    store.write(&trace_batch(1, &[now_nanos() + ten_years, 0])).await.unwrap();
    store.cut_block().await.unwrap();
    assert_eq!(store.enforce_retention().await.unwrap(), 0, "placed at the cut, not at time 0");
    let query = TraceQuery { service_name: "svc".into(), ..Default::default() };
    assert_eq!(store.find_trace_ids(&query).await.unwrap(), vec![trace_id(1)]);
    let trace = store.get_trace(trace_id(1), None).await.unwrap().unwrap();
    let mut starts: Vec<u64> = trace
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.start_time_unix_nano)
        .collect();
    starts.sort();
    assert_eq!(starts[0], 0, "the spans themselves are stored unchanged");

    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(store.enforce_retention().await.unwrap(), 1, "not pinned ten years ahead");
    assert_eq!(store.stats().blocks, 0);
    store.close().await.unwrap();
}
