use std::time::Duration;

use spoor_pipeline::EncodedRequest;
use spoor_pipeline::otlp::{InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::TraceQuery;
use crate::embedded::block::{RawRow, sort_and_dedupe};
use crate::model::Interner;
use crate::synth::{Rng, batch};

const NOW: u64 = 1_000_000 * 3_600_000_000_000;

fn placement() -> Placement {
    Placement::new(NOW, Duration::from_secs(72 * 3600), Duration::from_secs(600))
}

fn parts(resources: &[ResourceSpans]) -> Vec<Bytes> {
    match spoor_pipeline::TraceBatch::new(resources.to_vec()).encoded_request() {
        EncodedRequest::Whole(body) => {
            let mut parts = Vec::new();
            wire::scan_request(&body, |range, _| parts.push(body.slice(range))).unwrap();
            parts
        }
        EncodedRequest::Resources(parts) => parts,
    }
}

/// Spans the synthetic generator does not make: statuses with messages, an empty status, no
/// parent, a short span ID, unknown-free but unusual kinds, a resource without service.
fn odd_resources() -> Vec<ResourceSpans> {
    let span = |id: u8, status: Option<Status>| Span {
        trace_id: vec![7; 16],
        span_id: vec![id; if id == 3 { 4 } else { 8 }],
        parent_span_id: if id == 1 { Vec::new() } else { vec![1; 8] },
        name: format!("op-{id}"),
        kind: i32::from(id),
        start_time_unix_nano: NOW - u64::from(id),
        end_time_unix_nano: NOW + u64::from(id),
        trace_state: "k=v".into(),
        status,
        flags: 257,
        ..Default::default()
    };
    let scope = InstrumentationScope { name: "lib".into(), version: "1".into(), ..Default::default() };
    vec![
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(spoor_pipeline::otlp::AnyValue {
                        value: Some(spoor_pipeline::otlp::any_value::Value::StringValue("odd".into())),
                    }),
                    key_strindex: 0,
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope),
                spans: vec![
                    span(1, Some(Status { code: 2, message: "boom".into() })),
                    span(2, Some(Status::default())),
                    span(3, None),
                ],
                schema_url: "https://scope".into(),
            }],
            schema_url: "https://resource".into(),
        },
        ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans { scope: None, spans: vec![span(4, None)], schema_url: String::new() }],
            schema_url: String::new(),
        },
    ]
}

fn synthetic(batches: u64) -> Vec<ResourceSpans> {
    let mut rng = Rng::new(42);
    let mut resources = odd_resources();
    for i in 0..batches {
        resources.extend(batch(&mut rng, NOW - 1_000_000_000 * (i + 1)).0.into_resource_spans());
    }
    resources
}

fn head_of(resources: &[ResourceSpans]) -> Head {
    let mut head = Head::default();
    head.insert(&parts(resources), &placement());
    head
}

fn assert_same_rows(got: &[RawRow], want: &[RawRow]) {
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(want) {
        assert_eq!(got.sort_key(), want.sort_key());
        assert_eq!(got.service_name, want.service_name);
    }
}

#[test]
fn rows_from_bytes_are_the_rows_of_decoded_spans() {
    // Enough spans for the parallel path; every resource written twice, as a retry would.
    let mut resources = synthetic(6);
    resources.extend(resources.clone());
    let head = head_of(&resources);
    assert_eq!(head.len(), 2 * (6 * 1000 + 4));
    let mut want: Vec<RawRow> = Interner::default().records(&resources).iter().map(RawRow::from_record).collect();
    sort_and_dedupe(&mut want);
    assert_eq!(want.len(), 6 * 1000 + 4);
    assert_same_rows(&head.rows().collect::<Vec<_>>(), &want);
    // One thread for a small head.
    let small = odd_resources();
    let mut want: Vec<RawRow> = Interner::default().records(&small).iter().map(RawRow::from_record).collect();
    sort_and_dedupe(&mut want);
    assert_same_rows(&head_of(&small).rows().collect::<Vec<_>>(), &want);
}

#[test]
fn trace_and_find_read_what_was_written() {
    let resources = synthetic(2);
    let head = head_of(&resources);
    let records = Interner::default().records(&resources);
    let trace_id = trace_id_of(&records[100].span.trace_id);
    let mut want: Vec<&SpanRecord> = records.iter().filter(|r| trace_id_of(&r.span.trace_id) == trace_id).collect();
    let mut got = head.trace(&trace_id);
    want.sort_by_key(|r| r.span.span_id.clone());
    got.sort_by_key(|r| r.span.span_id.clone());
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(want) {
        assert_eq!(got.span, want.span);
        assert_eq!(got.resource.proto, want.resource.proto);
        assert_eq!(got.scope.proto, want.scope.proto);
    }
    assert!(head.trace(&[9; 16]).is_empty());

    let odd = head_of(&odd_resources());
    let find = |query: TraceQuery| {
        let mut hits = HashMap::new();
        odd.find(&SpanFilter::new(&query), &mut hits);
        hits
    };
    let service = |name: &str| TraceQuery { service_name: name.into(), ..Default::default() };
    let tag = |key: &str, value: &str| [(key.to_owned(), value.to_owned())].into();
    assert_eq!(find(service("odd")), HashMap::from([([7; 16], NOW - 1)]));
    assert!(find(service("nobody")).is_empty());
    let by_scope = TraceQuery { attributes: tag("scope.name", "lib"), ..service("odd") };
    assert_eq!(find(by_scope).len(), 1);
    let wrong_scope = TraceQuery { attributes: tag("scope.name", "other"), ..service("odd") };
    assert!(find(wrong_scope).is_empty());
    let errors = TraceQuery { attributes: tag("error", "true"), operation_name: Some("op-1".into()), ..service("odd") };
    assert_eq!(find(errors), HashMap::from([([7; 16], NOW - 1)]));
    // The span without a service is found by an empty service.
    assert_eq!(find(TraceQuery { operation_name: Some("op-4".into()), ..Default::default() }).len(), 1);

    let mut services = BTreeSet::new();
    odd.services(&mut services);
    assert_eq!(services.into_iter().collect::<Vec<_>>(), ["odd"]);
    let mut operations = BTreeSet::new();
    odd.operations("odd", &mut operations);
    assert_eq!(operations.len(), 3);
    assert_eq!(odd.span_service(&[7; 16], &[1; 8]), Some("odd"));
    assert_eq!(odd.span_service(&[7; 16], &[3; 4]), Some("odd"));
    assert_eq!(odd.span_service(&[7; 16], &[5; 8]), None);
}

#[test]
fn far_off_starts_do_not_widen_the_time_range() {
    let mut resources = odd_resources();
    let spans = &mut resources[0].scope_spans[0].spans;
    spans[0].start_time_unix_nano = 0;
    spans[1].start_time_unix_nano = NOW + 10 * 365 * 24 * 3_600_000_000_000;
    let head = head_of(&resources);
    assert_eq!(head.moved(), 2);
    assert_eq!((head.min_time, head.max_time), (NOW - 4, NOW));
    // The spans keep their own times.
    let mut hits = HashMap::new();
    head.find(&SpanFilter::new(&TraceQuery { operation_name: Some("op-1".into()), ..Default::default() }), &mut hits);
    assert_eq!(hits, HashMap::from([([7; 16], 0)]));
}

#[test]
fn bytes_count_what_the_head_holds() {
    let resources = synthetic(4);
    let parts = parts(&resources);
    let received: usize = parts.iter().map(Bytes::len).sum();
    let mut head = Head::default();
    assert_eq!(head.bytes(), 0);
    head.insert(&parts, &placement());
    let per_span = head.bytes() / head.len();
    assert!(head.bytes() > received, "{} <= {received}", head.bytes());
    assert!(per_span < received / head.len() + 256, "{per_span} B/span for {} received", received / head.len());
}

/// What a cut of 200k synthetic spans costs, split into ordering the head's spans (this
/// module) and building the block (rows are built from the head as the block builder takes
/// them), and the head's bytes per span:
/// `cargo test --release -p spoor-store --lib cut_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn cut_cost() {
    let resources = synthetic(200);
    let head = head_of(&resources);
    let spans = head.len() as f64;
    for _ in 0..3 {
        let began = Instant::now();
        let rows = head.rows();
        let rows_time = began.elapsed();
        let began = Instant::now();
        let placing = crate::embedded::block::Placing::Window(placement());
        let bytes = crate::embedded::block::build_in_memory(rows, placing, "cost".into(), 0, NOW).unwrap().parquet;
        let build_time = began.elapsed();
        println!(
            "{spans} spans, head {:.0} B/span: ordering {:.0} ms ({:.0} spans/s), rows and block {:.0} ms ({:.0} spans/s), {:.1} B/span on disk",
            head.bytes() as f64 / spans,
            rows_time.as_secs_f64() * 1e3,
            spans / rows_time.as_secs_f64(),
            build_time.as_secs_f64() * 1e3,
            spans / build_time.as_secs_f64(),
            bytes.len() as f64 / spans,
        );
    }
}

#[test]
fn split_by_trace_keeps_traces_whole() {
    let head = head_of(&synthetic(30));
    let order = head.block_order();
    let trace = |i: &u32| head.spans[*i as usize].trace_id;
    for parts in 1..=5 {
        let runs = head.split_by_trace(order.clone(), parts);
        assert_eq!(runs.len(), parts, "{} spans, {parts} parts", order.len());
        assert_eq!(runs.concat(), order, "the runs are the order, cut");
        for pair in runs.windows(2) {
            assert!(trace(pair[0].last().unwrap()) < trace(pair[1].first().unwrap()), "a trace split between runs");
        }
        let longest = runs.iter().map(Vec::len).max().unwrap();
        assert!(longest < order.len() / parts + 64, "runs of about equal length: {longest} of {}", order.len());
    }
    // More parts than traces: one run per trace at most.
    let one_trace = head_of(&odd_resources());
    let runs = one_trace.split_by_trace(one_trace.block_order(), 4);
    assert_eq!(runs.len(), 1);
}

#[test]
fn a_cut_in_parts_is_every_row_once_and_only_its_last_block_covers_the_wal() {
    let head = head_of(&synthetic(30));
    let want: Vec<RawRow> = head.rows().collect();
    let placing = crate::embedded::block::Placing::Window(placement());
    let built = crate::embedded::cut::build_head(&head, 3, 17, placing, NOW).unwrap();
    assert_eq!(built.len(), 3);
    let throughs: Vec<u64> = built.iter().map(|b| b.meta.wal_through).collect();
    assert_eq!(throughs, vec![0, 0, 17], "only the block written last covers the WAL");
    assert_eq!(built.iter().map(|b| b.meta.span_count).sum::<u64>(), want.len() as u64);
    let ranges: Vec<(String, String)> = built
        .iter()
        .map(|b| (b.meta.row_groups[0].min_trace_id.clone(), b.meta.row_groups.last().unwrap().max_trace_id.clone()))
        .collect();
    for pair in ranges.windows(2) {
        assert!(pair[0].1 < pair[1].0, "blocks of one cut hold disjoint traces: {ranges:?}");
    }
    let mut ids = std::collections::HashSet::new();
    for block in &built {
        assert!(ids.insert(block.meta.id.clone()), "block IDs are unique");
    }
}
