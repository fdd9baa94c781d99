//! The index must answer what reading the block answers.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prost::Message;
use spoor_pipeline::otlp::span::{Event, Link};
use spoor_pipeline::otlp::{
    AnyValue, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, any_value,
};

use super::{SearchIndex, search_path};
use crate::embedded::block::{self, Block, Placing, RawRow};
use crate::query::SpanFilter;
use crate::synth::Rng;
use crate::{TraceId, TraceQuery};

const T0: u64 = 1_700_000_000_000_000_000;
const SERVICES: [&str; 3] = ["front", "back", "db"];

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

fn pick<'a>(rng: &mut Rng, options: &[&'a str]) -> &'a str {
    options[rng.below(options.len() as u64) as usize]
}

/// A span with tags in every place a search looks, some repeated with another value (the
/// first one counts), some too long to index.
fn row(rng: &mut Rng, trace: u128, span_index: u8) -> RawRow {
    let host = pick(rng, &["h1", "h2"]);
    let resource = ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", "x"), text("host", host), text("k", pick(rng, &["a", "r"]))],
            ..Default::default()
        }),
        ..Default::default()
    };
    let scope = ScopeSpans {
        scope: Some(InstrumentationScope {
            name: pick(rng, &["s1", "s2"]).to_owned(),
            version: pick(rng, &["1", ""]).to_owned(),
            attributes: vec![text("sc", "yes")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let double = [1.5, 1e21, 0.1][rng.below(3) as usize];
    let mut attributes = vec![
        text("k", pick(rng, &["a", "b", "c"])),
        kv("n", any_value::Value::IntValue(rng.below(3) as i64)),
        kv("d", any_value::Value::DoubleValue(double)),
        text("k", "shadowed"),
    ];
    if rng.below(20) == 0 {
        attributes.push(text("long", &"x".repeat(300)));
    } else {
        attributes.push(text("long", "short"));
    }
    let span = Span {
        attributes,
        events: vec![Event { attributes: vec![text("e", pick(rng, &["x", "y"]))], ..Default::default() }],
        links: vec![Link { attributes: vec![text("l", "p")], ..Default::default() }],
        ..Default::default()
    };
    RawRow {
        trace_id: trace.to_be_bytes(),
        span_id: vec![span_index + 1],
        parent_span_id: Vec::new(),
        service_name: pick(rng, &SERVICES).to_owned(),
        name: pick(rng, &["op1", "op2", "op3"]).to_owned(),
        kind: rng.below(6) as i32,
        status_code: rng.below(3) as i32,
        status_message: String::new(),
        // Coarse starts, so that spans of different traces tie.
        start: T0 + rng.below(400) * 1_000_000_000,
        duration: rng.below(1000),
        resource: Bytes::from(resource.encode_to_vec()),
        scope: Bytes::from(scope.encode_to_vec()),
        span: span.encode_to_vec(),
    }
}

async fn stored_block() -> (Arc<dyn ObjectStore>, Block, SearchIndex) {
    let mut rng = Rng::new(11);
    let mut rows: Vec<RawRow> = (0..400u128)
        .flat_map(|t| (0..4).map(|s| (t * 7919, s)).collect::<Vec<_>>())
        .map(|(t, s)| row(&mut rng, t, s))
        .collect();
    block::sort_and_dedupe(&mut rows);
    let built = block::build_in_memory(rows, Placing::Clamp { min: 0, max: u64::MAX }, "b".to_owned(), 0, 0).unwrap();
    let (parquet, meta, index) = (built.parquet, built.meta, built.search_index);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    store.put(&block::parquet_path("b"), PutPayload::from(parquet)).await.unwrap();
    store.put(&search_path("b"), PutPayload::from(index)).await.unwrap();
    let index = SearchIndex::load(&store, "b").await.unwrap().unwrap();
    (store, Block::new(meta).unwrap(), index)
}

/// The `depth` newest of `hits`, ties by trace ID, as `find_trace_ids` answers.
fn newest(hits: &HashMap<TraceId, u64>, depth: usize) -> Vec<(TraceId, u64)> {
    let mut hits: Vec<(TraceId, u64)> = hits.iter().map(|(id, start)| (*id, *start)).collect();
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(depth);
    hits
}

#[tokio::test]
async fn the_index_answers_what_the_block_answers() {
    let (store, block, index) = stored_block().await;
    let tags: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("k", "a")],
        vec![("k", "r")],
        vec![("k", "shadowed")],
        vec![("n", "2"), ("k", "b")],
        vec![("d", "1e+21")],
        vec![("d", "0.1")],
        vec![("e", "y")],
        vec![("l", "p")],
        vec![("sc", "yes")],
        vec![("resource.host", "h2")],
        vec![("resource.k", "b")],
        vec![("scope.name", "s2"), ("scope.version", "")],
        vec![("error", "true")],
        vec![("span.kind", "server"), ("span.status", "ok")],
        vec![("missing", "x")],
        vec![("long", "short")],
    ];
    let mut answered_nonempty = 0;
    for service in SERVICES.iter().chain(&["none"]) {
        for tags in &tags {
            for (operation, window) in
                [(None, (0, u64::MAX)), (Some("op2"), (T0 + 100_000_000_000, T0 + 250_000_000_000))]
            {
                let query = TraceQuery {
                    service_name: service.to_string(),
                    operation_name: operation.map(str::to_owned),
                    attributes: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    start_time_min: Some(window.0),
                    start_time_max: Some(window.1),
                    ..Default::default()
                };
                let filter = SpanFilter::new(&query);
                let mut expected = HashMap::new();
                block.find(&store, &filter, usize::MAX, &mut expected).await.unwrap();
                for depth in [1, 5, 1000] {
                    let mut hits = HashMap::new();
                    let answered = index.find(&store, &filter, depth, &mut hits).await.unwrap();
                    // Some values of "long" are too long to index: the block is read instead.
                    assert_eq!(answered, tags.first().is_none_or(|(k, _)| *k != "long"), "{query:?}");
                    if answered {
                        assert_eq!(newest(&hits, depth), newest(&expected, depth), "depth {depth}: {query:?}");
                        answered_nonempty += usize::from(!hits.is_empty());
                    }
                }
            }
        }
    }
    assert!(answered_nonempty > 100, "only {answered_nonempty} nonempty answers");
}

#[tokio::test]
async fn a_corrupt_index_is_an_error_and_a_missing_one_is_none() {
    let (store, _, _) = stored_block().await;
    assert!(SearchIndex::load(&store, "other").await.unwrap().is_none());
    let mut bytes = store.get(&search_path("b")).await.unwrap().bytes().await.unwrap().to_vec();
    let at = bytes.len() - 40;
    bytes[at] ^= 0xff;
    store.put(&search_path("b"), PutPayload::from(bytes)).await.unwrap();
    assert!(SearchIndex::load(&store, "b").await.is_err());
}

#[test]
fn chunks_round_trip() {
    let entries: Vec<super::Entry> = (0..100u32)
        .map(|i| super::Entry {
            start: 1_700_000_000_000_000_000 + u64::from(i) * 977,
            duration: u64::from(i) * 31,
            name: i % 7,
            kind: (i % 6) as i32 - 1,
            status_code: (i % 3) as i32,
            trace: i * 3,
        })
        .collect();
    let encoded = super::encode_chunk(&entries).unwrap();
    assert_eq!(super::decode_chunk(&encoded, entries.len()).unwrap(), entries);
    assert!(super::decode_chunk(&encoded, entries.len() + 1).is_err());
}

/// A block written before the search index and the attribute columns: no `.search` file and
/// only the first 13 columns. It is searched by reading it, with the same answers.
#[tokio::test]
async fn blocks_without_index_or_attribute_columns_are_still_searched() {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let (store, block, _) = stored_block().await;
    let parquet = store.get(&block::parquet_path("b")).await.unwrap().bytes().await.unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(parquet).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap().project(&(0..13).collect::<Vec<_>>()).unwrap()).collect();
    let mut writer = ArrowWriter::try_new(Vec::new(), batches[0].schema(), None).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    let old = writer.into_inner().unwrap();
    let old_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut meta = block.meta.clone();
    meta.size_bytes = old.len() as u64;
    // One row group per batch of the rewrite: the meta's row groups must match the file.
    meta.row_groups.truncate(1);
    meta.row_groups[0].spans = batches.iter().map(|b| b.num_rows() as u64).sum();
    meta.row_groups[0].min_time = block.meta.min_time;
    meta.row_groups[0].max_time = block.meta.max_time;
    old_store.put(&block::parquet_path("b"), PutPayload::from(old)).await.unwrap();
    let old_block = Block::new(meta).unwrap();
    for tags in [vec![], vec![("k", "a")], vec![("resource.host", "h1")]] {
        let query = TraceQuery {
            service_name: "back".to_owned(),
            attributes: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        let filter = SpanFilter::new(&query);
        let (mut expected, mut hits) = (HashMap::new(), HashMap::new());
        super::find_in_block(&block, &store, &filter, 20, &mut expected).await.unwrap();
        super::find_in_block(&old_block, &old_store, &filter, 20, &mut hits).await.unwrap();
        assert!(old_block.search_index.get().is_some_and(Option::is_none));
        assert_eq!(newest(&hits, 20), newest(&expected, 20), "{query:?}");
        assert_eq!(newest(&hits, 20).len(), 20);
    }
}

#[test]
fn pairs_with_equal_bitmaps_share_one_section() {
    let mut rng = Rng::new(5);
    let mut rows: Vec<RawRow> = (0..300u128).map(|t| row(&mut rng, t * 31, 0)).collect();
    block::sort_and_dedupe(&mut rows);
    let built = block::build_in_memory(rows, Placing::Clamp { min: 0, max: u64::MAX }, "b".to_owned(), 0, 0).unwrap();
    let file = built.search_index;
    let footer = &file[file.len() - super::FOOTER_BYTES as usize..];
    let offset = u64::from_le_bytes(footer[..8].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(footer[8..12].try_into().unwrap()) as usize;
    let json = zstd::bulk::decompress(&file[offset..offset + len], 1 << 24).unwrap();
    let directory: super::Directory = serde_json::from_slice(&json).unwrap();
    let section = |source: u8, key: &str, value: &str| {
        let pair =
            directory.pairs.iter().find(|p| (p.source, p.key.as_str(), p.value.as_str()) == (source, key, value));
        pair.map(|p| p.section.offset).unwrap_or_else(|| panic!("no pair {source} {key}={value}"))
    };
    // `host` is only a resource attribute: the plain tag and `resource.host` match the same spans.
    assert_eq!(section(0, "host", "h1"), section(1, "host", "h1"));
    // Every span has the scope attribute and the link attribute.
    assert_eq!(section(0, "sc", "yes"), section(0, "l", "p"));
    assert_ne!(section(0, "host", "h1"), section(0, "host", "h2"));
    let distinct: std::collections::HashSet<u64> = directory.pairs.iter().map(|p| p.section.offset).collect();
    assert!(distinct.len() < directory.pairs.len());
}
