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
    let mut builder = BlockBuilder::new().unwrap();
    for row in rows {
        builder.push(row).unwrap();
    }
    builder.finish("test".to_owned(), 0, 0).unwrap().1
}

#[test]
fn row_groups_hold_whole_traces_and_their_meta_ranges_match_the_file() {
    // 3 spans a trace, enough traces for three row groups.
    let traces = (ROW_GROUP_SPANS * 5 / 2 / 3) as u128;
    let mut builder = BlockBuilder::new().unwrap();
    for trace in 0..traces {
        for span in 1..=3u8 {
            builder.push(RawRow { trace_id: (trace * 7919).to_be_bytes(), ..row(span, span - 1, "a") }).unwrap();
        }
    }
    let (bytes, meta) = builder.finish("test".to_owned(), 0, 0).unwrap();
    assert_eq!(meta.row_groups.len(), 3);
    assert_eq!(meta.row_groups.iter().map(|group| group.spans).sum::<u64>(), traces as u64 * 3);
    for pair in meta.row_groups.windows(2) {
        assert!(pair[0].max_trace_id < pair[1].min_trace_id, "a trace split across row groups");
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
    let file_groups = reader.metadata().row_groups();
    assert_eq!(file_groups.len(), meta.row_groups.len());
    for (file_group, group) in file_groups.iter().zip(&meta.row_groups) {
        assert_eq!(file_group.num_rows() as u64, group.spans);
    }
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
