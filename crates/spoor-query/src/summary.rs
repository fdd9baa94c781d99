//! api_v3's `TraceSummary`: what a search results row shows of a trace (root service and
//! operation, time span, span and error counts, per-service breakdown) without its spans.

use std::collections::{BTreeMap, HashSet};

use spoor_jaeger::model::to_proto;
use spoor_jaeger::proto::api_v3::{ServiceSummary, TraceSummary};
use spoor_pipeline::otlp::{Span, status};

use crate::params::hex;
use crate::service::ServedTrace;

/// One span with the service its resource names.
struct OwnedSpan<'a> {
    service: String,
    span: &'a Span,
}

/// The summary of one trace. The root is the earliest span without a parent, or, in a trace
/// that lost its root, the earliest span whose parent is not in the trace.
pub fn summarize(trace: &ServedTrace) -> TraceSummary {
    let spans: Vec<OwnedSpan> = trace
        .resource_spans
        .iter()
        .flat_map(|rs| {
            let service = to_proto::process_from_resource(rs.resource.as_ref()).service_name;
            rs.scope_spans.iter().flat_map(|ss| &ss.spans).map(move |span| OwnedSpan { service: service.clone(), span })
        })
        .collect();
    let ids: HashSet<&[u8]> = spans.iter().map(|s| s.span.span_id.as_slice()).collect();
    let is_orphan =
        |s: &OwnedSpan| !s.span.parent_span_id.is_empty() && !ids.contains(s.span.parent_span_id.as_slice());
    let root = earliest(spans.iter().filter(|s| s.span.parent_span_id.is_empty()))
        .or_else(|| earliest(spans.iter().filter(|s| is_orphan(s))));

    let mut services: BTreeMap<&str, ServiceSummary> = BTreeMap::new();
    for s in &spans {
        let service = services
            .entry(s.service.as_str())
            .or_insert_with(|| ServiceSummary { name: s.service.clone(), ..Default::default() });
        service.span_count += 1;
        service.error_span_count += i32::from(is_error(s.span));
    }
    TraceSummary {
        trace_id: hex(&trace.trace_id),
        root_service_name: root.map(|r| r.service.clone()).unwrap_or_default(),
        root_operation_name: root.map(|r| r.span.name.clone()).unwrap_or_default(),
        min_start_time_unix_nano: spans.iter().map(|s| s.span.start_time_unix_nano).min().unwrap_or_default(),
        max_end_time_unix_nano: spans.iter().map(|s| s.span.end_time_unix_nano).max().unwrap_or_default(),
        span_count: count(spans.len()),
        error_span_count: count(spans.iter().filter(|s| is_error(s.span)).count()),
        orphan_span_count: count(spans.iter().filter(|s| is_orphan(s)).count()),
        services: services.into_values().collect(),
    }
}

fn earliest<'a, 's>(candidates: impl Iterator<Item = &'a OwnedSpan<'s>>) -> Option<&'a OwnedSpan<'s>> {
    candidates.min_by_key(|s| s.span.start_time_unix_nano)
}

fn is_error(span: &Span) -> bool {
    span.status.as_ref().is_some_and(|s| s.code == status::StatusCode::Error as i32)
}

/// The proto's counts are int32; a trace never comes near that, but saturate rather than wrap.
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `FindTraceSummariesResponse` as grpc-gateway writes it: lowerCamelCase keys, 64-bit
/// integers as strings, and zero values and empty lists left out.
pub fn summaries_json(summaries: &[TraceSummary]) -> serde_json::Value {
    use serde_json::{Map, Value, json};

    fn put(object: &mut Map<String, Value>, key: &str, value: Value) {
        let zero = matches!(&value, Value::String(s) if s.is_empty() || s == "0")
            || value == json!(0)
            || value.as_array().is_some_and(Vec::is_empty);
        if !zero {
            object.insert(key.to_owned(), value);
        }
    }
    let service = |s: &ServiceSummary| {
        let mut object = Map::new();
        put(&mut object, "name", json!(s.name));
        put(&mut object, "spanCount", json!(s.span_count));
        put(&mut object, "errorSpanCount", json!(s.error_span_count));
        Value::Object(object)
    };
    let summary = |s: &TraceSummary| {
        let mut object = Map::new();
        put(&mut object, "traceId", json!(s.trace_id));
        put(&mut object, "rootServiceName", json!(s.root_service_name));
        put(&mut object, "rootOperationName", json!(s.root_operation_name));
        put(&mut object, "minStartTimeUnixNano", json!(s.min_start_time_unix_nano.to_string()));
        put(&mut object, "maxEndTimeUnixNano", json!(s.max_end_time_unix_nano.to_string()));
        put(&mut object, "spanCount", json!(s.span_count));
        put(&mut object, "errorSpanCount", json!(s.error_span_count));
        put(&mut object, "orphanSpanCount", json!(s.orphan_span_count));
        put(&mut object, "services", Value::Array(s.services.iter().map(service).collect()));
        Value::Object(object)
    };
    let mut response = Map::new();
    put(&mut response, "summaries", Value::Array(summaries.iter().map(summary).collect()));
    Value::Object(response)
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::otlp::{KeyValue, Resource, ResourceSpans, ScopeSpans, Status};

    use super::*;

    fn span(id: u8, parent: u8, name: &str, start: u64, end: u64, error: bool) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, 0, parent] },
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            status: Some(Status { code: if error { 2 } else { 0 }, ..Default::default() }),
            ..Default::default()
        }
    }

    fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
        let name = KeyValue {
            key: "service.name".into(),
            value: Some(spoor_pipeline::otlp::AnyValue {
                value: Some(spoor_pipeline::otlp::any_value::Value::StringValue(service.into())),
            }),
            ..Default::default()
        };
        ResourceSpans {
            resource: Some(Resource { attributes: vec![name], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            schema_url: String::new(),
        }
    }

    fn trace(resource_spans: Vec<ResourceSpans>) -> ServedTrace {
        ServedTrace { trace_id: [1; 16], resource_spans }
    }

    #[test]
    fn counts_per_service_and_finds_the_root() {
        let summary = summarize(&trace(vec![
            resource("db", vec![span(3, 2, "query", 30, 40, true)]),
            resource("api", vec![span(2, 1, "call", 20, 50, false), span(1, 0, "GET /", 10, 60, true)]),
        ]));
        assert_eq!(summary.trace_id, "01010101010101010101010101010101");
        assert_eq!((summary.root_service_name.as_str(), summary.root_operation_name.as_str()), ("api", "GET /"));
        assert_eq!((summary.min_start_time_unix_nano, summary.max_end_time_unix_nano), (10, 60));
        assert_eq!((summary.span_count, summary.error_span_count, summary.orphan_span_count), (3, 2, 0));
        let services: Vec<_> =
            summary.services.iter().map(|s| (s.name.as_str(), s.span_count, s.error_span_count)).collect();
        assert_eq!(services, [("api", 2, 1), ("db", 1, 1)]);
    }

    #[test]
    fn a_trace_without_its_root_counts_orphans() {
        let summary = summarize(&trace(vec![resource(
            "api",
            vec![
                span(3, 9, "late", 30, 40, false),
                span(2, 9, "early", 20, 50, false),
                span(4, 2, "child", 25, 26, false),
            ],
        )]));
        assert_eq!(summary.root_operation_name, "early");
        assert_eq!(summary.orphan_span_count, 2);
    }

    #[test]
    fn json_leaves_out_zero_values() {
        let summary = TraceSummary {
            trace_id: "ab".into(),
            min_start_time_unix_nano: 5,
            services: vec![ServiceSummary { name: "api".into(), span_count: 1, error_span_count: 0 }],
            span_count: 1,
            ..Default::default()
        };
        assert_eq!(
            summaries_json(&[summary]),
            serde_json::json!({"summaries": [{
                "traceId": "ab", "minStartTimeUnixNano": "5", "spanCount": 1,
                "services": [{"name": "api", "spanCount": 1}],
            }]})
        );
        assert_eq!(summaries_json(&[]), serde_json::json!({}));
    }
}
