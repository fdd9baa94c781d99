use crate::embedded::dependencies::EdgeCounts;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::builder::*;
use super::meta::*;
use super::read::*;
use super::*;

#[test]
fn bloom_has_no_false_negatives() {
    let ids: Vec<TraceId> = (0u128..1000).map(|i| i.to_be_bytes()).collect();
    let mut bloom = Bloom::with_capacity(ids.len());
    for id in &ids {
        bloom.insert(id);
    }
    assert!(ids.iter().all(|id| bloom.may_contain(id)));
    let false_positives = (1000u128..11000).filter(|i| bloom.may_contain(&i.to_be_bytes())).count();
    assert!(false_positives < 300, "{false_positives} false positives");
    let restored = Bloom::from_meta(&bloom.to_meta()).unwrap();
    assert!(ids.iter().all(|id| restored.may_contain(id)));
}

fn row(span: u8, parent: u8, service: &str) -> RawRow {
    RawRow {
        trace_id: [7; 16],
        span_id: vec![span],
        parent_span_id: if parent == 0 { Vec::new() } else { vec![parent] },
        service_name: service.to_owned(),
        name: String::new(),
        kind: 0,
        status_code: 0,
        status_message: String::new(),
        start: 3 * NANOS_PER_MINUTE,
        duration: 1,
        resource: Bytes::new(),
        scope: Bytes::new(),
        span: Vec::new(),
    }
}

/// a(1) → b(2) → b(3), and c(4) → a(1)'s missing parent 9, twice.
fn built_meta() -> BlockMeta {
    let mut rows = vec![row(1, 0, "a"), row(2, 1, "b"), row(3, 2, "b"), row(4, 9, "c"), row(5, 9, "c")];
    sort_and_dedupe(&mut rows);
    build(rows).1
}

const AS_IS: Placing = Placing::Clamp { min: 0, max: u64::MAX };

fn build(rows: Vec<RawRow>) -> (Vec<u8>, BlockMeta) {
    let built = build_in_memory(rows, AS_IS, "test".to_owned(), 0, 0).unwrap();
    (built.parquet, built.meta)
}

/// Checks that the file's row groups are the meta's.
fn assert_meta_matches_file(bytes: Vec<u8>, meta: &BlockMeta) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
    let file_groups = reader.metadata().row_groups();
    assert_eq!(file_groups.len(), meta.row_groups.len());
    for (file_group, group) in file_groups.iter().zip(&meta.row_groups) {
        assert_eq!(file_group.num_rows() as u64, group.spans);
    }
    meta.check_footer(reader.metadata(), meta.size_bytes).unwrap();
}

#[test]
fn row_groups_hold_whole_traces_and_their_meta_ranges_match_the_file() {
    // 3 spans a trace, enough traces for three row groups.
    let traces = (ROW_GROUP_SPANS * 5 / 2 / 3) as u128;
    let mut rows = Vec::new();
    for trace in 0..traces {
        for span in 1..=3u8 {
            rows.push(RawRow { trace_id: (trace * 7919).to_be_bytes(), ..row(span, span - 1, "a") });
        }
    }
    let (bytes, meta) = build(rows);
    assert_eq!(meta.row_groups.len(), 3);
    assert_eq!(meta.row_groups.iter().map(|group| group.spans).sum::<u64>(), traces as u64 * 3);
    for pair in meta.row_groups.windows(2) {
        assert!(pair[0].max_trace_id < pair[1].min_trace_id, "a trace split across row groups");
    }
    assert_meta_matches_file(bytes, &meta);
}

#[test]
fn a_trace_too_big_for_a_row_group_is_split_and_its_calls_still_count() {
    let big = MAX_ROW_GROUP_SPANS * 2 + 5;
    let mut rows = vec![RawRow { trace_id: [1; 16], ..row(1, 0, "a") }];
    // The root in service a, and every other span a child of it in service b.
    rows.push(RawRow { trace_id: [7; 16], span_id: 0u32.to_be_bytes().to_vec(), ..row(0, 0, "a") });
    for span in 1..big as u32 {
        let parent = 0u32.to_be_bytes().to_vec();
        rows.push(RawRow { span_id: span.to_be_bytes().to_vec(), parent_span_id: parent, ..row(0, 0, "b") });
    }
    rows.push(RawRow { trace_id: [9; 16], ..row(1, 0, "a") });
    sort_and_dedupe(&mut rows);
    let (bytes, meta) = build(rows);
    assert_eq!(meta.span_count, big as u64 + 2);
    assert_eq!(meta.row_groups.len(), 3);
    assert!(meta.row_groups.iter().all(|g| g.spans <= MAX_ROW_GROUP_SPANS as u64));
    for pair in meta.row_groups.windows(2) {
        assert_eq!(pair[0].max_trace_id, hex::encode([7; 16]), "the big trace continues");
        assert_eq!(pair[1].min_trace_id, hex::encode([7; 16]));
    }
    let edges: Vec<_> = meta.edges.iter().map(|e| (e.parent.as_str(), e.child.as_str(), e.call_count)).collect();
    assert_eq!(edges, vec![("a", "b", big as u64 - 1)]);
    assert!(meta.unresolved_parents.is_empty());
    assert_meta_matches_file(bytes, &meta);
}

#[test]
fn metas_carry_a_checksum_and_a_changed_one_is_damaged() {
    let meta = built_meta();
    assert_eq!(meta.format, 3);
    let json = serde_json::to_vec(&meta).unwrap();
    assert_eq!(BlockMeta::parse(&json).unwrap(), meta);
    let changed = String::from_utf8(json).unwrap().replace("\"span_count\":5", "\"span_count\":6");
    assert!(matches!(BlockMeta::parse(changed.as_bytes()), Err(MetaProblem::Damaged(_))));
    assert!(matches!(BlockMeta::parse(b"{\"format\":3,"), Err(MetaProblem::Damaged(_))));
    assert!(matches!(BlockMeta::parse(b""), Err(MetaProblem::Damaged(_))));
}

#[test]
fn format_2_metas_load_without_a_checksum_and_newer_formats_are_refused() {
    let mut json = serde_json::to_value(built_meta()).unwrap();
    let fields = json.as_object_mut().unwrap();
    fields.remove("checksum");
    fields.remove("moved_spans");
    fields["format"] = 2.into();
    let meta = BlockMeta::parse(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!((meta.format, meta.checksum, meta.span_count), (2, None, 5));
    json["format"] = 4.into();
    let refused = BlockMeta::parse(&serde_json::to_vec(&json).unwrap());
    assert!(matches!(refused, Err(MetaProblem::UnknownFormat(4))), "{refused:?}");
}

#[test]
fn spans_dated_far_off_are_placed_at_the_cut_and_counted() {
    const YEAR: u64 = 365 * 24 * 3600 * 1_000_000_000;
    let now = 56 * YEAR;
    let placement = crate::embedded::placement::Placement::new(
        now,
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(600),
    );
    let rows = vec![
        RawRow { start: 0, ..row(1, 0, "a") },
        RawRow { start: now + 10 * YEAR, ..row(2, 1, "a") },
        RawRow { start: now - 1_000, ..row(3, 1, "a") },
    ];
    let meta = build_in_memory(rows, Placing::Window(placement), "test".to_owned(), 0, now).unwrap().meta;
    assert_eq!((meta.min_time, meta.max_time, meta.moved_spans), (now - 1_000, now, 2));
    assert_eq!((meta.row_groups[0].min_time, meta.row_groups[0].max_time), (now - 1_000, now));
}

#[test]
fn meta_lists_calls_between_services_and_parents_it_lacks() {
    let meta = built_meta();
    let edges: Vec<_> = meta.edges.iter().map(|e| (e.parent.as_str(), e.child.as_str(), e.call_count)).collect();
    assert_eq!(edges, vec![("a", "b", 1)]);
    let parent = ParentRefMeta {
        trace_id: hex::encode([7; 16]),
        parent_span_id: "09".to_owned(),
        child: "c".to_owned(),
        minute: 3,
        call_count: 2,
    };
    assert_eq!(meta.unresolved_parents, vec![parent]);
}

#[test]
fn format_1_metas_still_load_and_skip_calls_within_a_service() {
    let mut json = serde_json::to_value(built_meta()).unwrap();
    let fields = json.as_object_mut().unwrap();
    fields.remove("unresolved_parents");
    fields["format"] = 1.into();
    // Format 1 counted calls within one service.
    fields["edges"].as_array_mut().unwrap().push(serde_json::json!(
        {"parent": "b", "child": "b", "minute": 3, "call_count": 1}
    ));
    let meta: BlockMeta = serde_json::from_value(json).unwrap();
    let block = Block::new(meta).unwrap();
    let (mut counts, mut elsewhere) = (EdgeCounts::new(), Vec::new());
    block.dependencies(0, u64::MAX, &mut counts, &mut elsewhere);
    assert_eq!(counts, EdgeCounts::from([(("a".to_owned(), "b".to_owned()), 1)]));
    assert!(elsewhere.is_empty());
}

/// Compaction reads the inputs without their typed attribute columns and builds them again from
/// `span`: the merged block has them filled.
#[tokio::test]
async fn merged_blocks_have_their_typed_columns_rebuilt() {
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
    use spoor_pipeline::otlp::{AnyValue, KeyValue, Span, any_value};

    let with_method = |trace: u8, method: &str| {
        let attribute = KeyValue {
            key: "http.request.method".to_owned(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(method.to_owned())) }),
            ..Default::default()
        };
        RawRow {
            trace_id: [trace; 16],
            span: Span { attributes: vec![attribute], ..Default::default() }.encode_to_vec(),
            ..row(1, 0, "svc")
        }
    };
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut inputs = Vec::new();
    for (id, rows) in [("a", vec![with_method(1, "GET")]), ("b", vec![with_method(2, "POST")])] {
        let built = build_in_memory(rows, Placing::Clamp { min: 0, max: u64::MAX }, id.to_owned(), 0, 0).unwrap();
        store.put(&parquet_path(id), PutPayload::from(built.parquet)).await.unwrap();
        inputs.push(Arc::new(Block::new(built.meta).unwrap()));
    }
    let meta = merge_blocks(&store, &inputs, "m".to_owned(), 0).await.unwrap();
    assert_eq!(meta.span_count, 2);
    let bytes = store.get(&parquet_path("m")).await.unwrap().bytes().await.unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap().next().unwrap().unwrap();
    let methods = batch.column_by_name("http_request_method").unwrap();
    let methods = methods.as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
    assert_eq!(methods.iter().collect::<Vec<_>>(), vec![Some("GET"), Some("POST")]);
}
