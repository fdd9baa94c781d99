//! The query service's standard adjusters (Jaeger v2.20.0 `jaegerquery/internal/adjuster`),
//! applied to a trace's OTLP before it is served unless raw traces are asked for.
//!
//! Implemented, in Jaeger's order: `DeduplicateClientServerSpanIDs` (Zipkin-style shared span
//! IDs), `SortCollections`, `DeduplicateSpans`, `NormalizeIPAttributes`, `MoveLibraryAttributes`
//! and `RemoveEmptySpanLinks`. Not implemented: `CorrectClockSkew` (off by default in Jaeger v2),
//! which would run between `DeduplicateSpans` and `NormalizeIPAttributes`.

mod client_server_ids;
mod ip_attributes;

use std::collections::HashSet;

use prost::Message;
use spoor_pipeline::otlp::{AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, any_value};

pub use self::client_server_ids::deduplicate_client_server_span_ids;
pub use self::ip_attributes::normalize_ip_attributes;
use spoor_pipeline::otlp::names::JAEGER_WARNINGS;

const LIBRARY_KEYS: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

/// Runs the standard adjusters in Jaeger's order.
pub fn standard(resource_spans: &mut [ResourceSpans]) {
    deduplicate_client_server_span_ids(resource_spans);
    sort_collections(resource_spans);
    // Like Jaeger's, it relies on the sorted attributes to find identical spans.
    deduplicate_spans(resource_spans);
    normalize_ip_attributes(resource_spans);
    move_library_attributes(resource_spans);
    remove_empty_span_links(resource_spans);
}

/// Every span of the trace, resource by resource and scope by scope.
fn spans_mut(resource_spans: &mut [ResourceSpans]) -> impl Iterator<Item = &mut Span> {
    resource_spans.iter_mut().flat_map(|rs| rs.scope_spans.iter_mut()).flat_map(|ss| ss.spans.iter_mut())
}

/// Sorts resource, scope, span, event and link attributes by key, and events by time.
pub fn sort_collections(resource_spans: &mut [ResourceSpans]) {
    for rs in resource_spans {
        if let Some(resource) = rs.resource.as_mut() {
            sort_attributes(&mut resource.attributes);
        }
        for ss in &mut rs.scope_spans {
            if let Some(scope) = ss.scope.as_mut() {
                sort_attributes(&mut scope.attributes);
            }
            for span in &mut ss.spans {
                sort_attributes(&mut span.attributes);
                span.events.sort_by_key(|e| e.time_unix_nano);
                for event in &mut span.events {
                    sort_attributes(&mut event.attributes);
                }
                for link in &mut span.links {
                    sort_attributes(&mut link.attributes);
                }
            }
        }
    }
}

fn sort_attributes(attributes: &mut Vec<KeyValue>) {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    // A pdata map holds a key once: the rebuilt map keeps the last value written.
    attributes.dedup_by(|later, earlier| {
        if later.key == earlier.key {
            std::mem::swap(later, earlier);
            true
        } else {
            false
        }
    });
}

/// Drops spans identical to an earlier one, resource and scope included.
pub fn deduplicate_spans(resource_spans: &mut [ResourceSpans]) {
    let mut seen = HashSet::new();
    for rs in resource_spans {
        let resource = rs.resource.clone();
        let schema_url = rs.schema_url.clone();
        for ss in &mut rs.scope_spans {
            let identity = ScopeSpans { scope: ss.scope.clone(), spans: Vec::new(), schema_url: ss.schema_url.clone() };
            ss.spans.retain(|span| {
                let mut key = ResourceSpans {
                    resource: resource.clone(),
                    scope_spans: vec![identity.clone()],
                    schema_url: schema_url.clone(),
                };
                key.scope_spans[0].spans.push(span.clone());
                seen.insert(key.encode_to_vec())
            });
        }
    }
}

/// Moves `telemetry.sdk.*`/`telemetry.distro.*` from spans to their resource, so the UI shows
/// them under the process; a conflicting value stays and the span gets a warning.
pub fn move_library_attributes(resource_spans: &mut [ResourceSpans]) {
    for rs in resource_spans {
        let resource = rs.resource.get_or_insert_with(Default::default);
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                let library: Vec<KeyValue> =
                    span.attributes.iter().filter(|kv| LIBRARY_KEYS.contains(&kv.key.as_str())).cloned().collect();
                for kv in library {
                    match resource.attributes.iter().find(|r| r.key == kv.key) {
                        Some(existing) if !equal_strings(existing.value.as_ref(), kv.value.as_ref()) => {
                            add_warning(
                                span,
                                format!("conflicting values between Span and Resource for attribute {}", kv.key),
                            );
                            continue;
                        }
                        Some(_) => {}
                        None => resource.attributes.push(kv.clone()),
                    }
                    span.attributes.retain(|a| a.key != kv.key);
                }
            }
        }
    }
}

fn equal_strings(a: Option<&AnyValue>, b: Option<&AnyValue>) -> bool {
    match (a.and_then(|v| v.value.as_ref()), b.and_then(|v| v.value.as_ref())) {
        (Some(any_value::Value::StringValue(a)), Some(any_value::Value::StringValue(b))) => a == b,
        _ => false,
    }
}

/// Removes links without a trace ID, with a warning on the span.
pub fn remove_empty_span_links(resource_spans: &mut [ResourceSpans]) {
    for span in spans_mut(resource_spans) {
        let before = span.links.len();
        span.links.retain(|l| l.trace_id.iter().any(|b| *b != 0));
        for _ in span.links.len()..before {
            add_warning(span, "Invalid span link removed".into());
        }
    }
}

/// Appends to Jaeger's warnings attribute (a string array).
pub fn add_warning(span: &mut Span, warning: String) {
    let value = AnyValue { value: Some(any_value::Value::StringValue(warning)) };
    let existing = span.attributes.iter_mut().find(|kv| kv.key == JAEGER_WARNINGS[0]);
    match existing.and_then(|kv| kv.value.as_mut()).and_then(|v| v.value.as_mut()) {
        Some(any_value::Value::ArrayValue(array)) => array.values.push(value),
        _ => {
            span.attributes.retain(|kv| kv.key != JAEGER_WARNINGS[0]);
            span.attributes.push(KeyValue {
                key: JAEGER_WARNINGS[0].into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                        values: vec![value],
                    })),
                }),
                ..Default::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::otlp::span::SpanKind;

    use super::*;

    /// The warnings Jaeger would show for the span.
    pub(super) fn warnings(span: &Span) -> Vec<String> {
        let warnings = span.attributes.iter().find(|kv| kv.key == JAEGER_WARNINGS[0]);
        match warnings.and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::ArrayValue(array)) => array
                .values
                .iter()
                .filter_map(|v| match v.value.as_ref() {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn span(id: u64, kind: SpanKind, ip: any_value::Value) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: id.to_be_bytes().to_vec(),
            kind: kind as i32,
            attributes: vec![KeyValue {
                key: "ip".into(),
                value: Some(AnyValue { value: Some(ip) }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn one_scope(spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans { scope_spans: vec![ScopeSpans { spans, ..Default::default() }], ..Default::default() }]
    }

    /// `(span ID, parent ID, ip)` of every span.
    fn summary(resource_spans: &mut [ResourceSpans]) -> Vec<(String, String, String)> {
        spans_mut(resource_spans)
            .map(|s| {
                let ip = match s.attributes[0].value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(ip)) => ip.clone(),
                    other => format!("{other:?}"),
                };
                (hex::encode(&s.span_id), hex::encode(&s.parent_span_id), ip)
            })
            .collect()
    }

    #[test]
    fn standard_runs_the_adjusters_in_jaegers_order() {
        let ip = || any_value::Value::StringValue("10.0.0.7".into());
        let packed_ip = || any_value::Value::IntValue(0x0A00_0007);
        let mut trace = one_scope(vec![
            span(0xa, SpanKind::Client, ip()),
            // Two identical server halves of the shared span: renamed before deduplication, so
            // both stay. As in Jaeger, the children of the shared ID go under the last new ID,
            // and that includes the first server half.
            span(0xa, SpanKind::Server, ip()),
            span(0xa, SpanKind::Server, ip()),
            // Identical once the IP is normalized, which comes after deduplication: both stay.
            span(0xb, SpanKind::Internal, ip()),
            span(0xb, SpanKind::Internal, packed_ip()),
            // Identical from the start: one goes.
            span(0xc, SpanKind::Internal, ip()),
            span(0xc, SpanKind::Internal, ip()),
        ]);
        standard(&mut trace);
        let row = |id: &str, parent: &str| (id.to_owned(), parent.to_owned(), "10.0.0.7".to_owned());
        assert_eq!(
            summary(&mut trace),
            vec![
                row("000000000000000a", ""),
                row("0000000000000001", "0000000000000002"),
                row("0000000000000002", "000000000000000a"),
                row("000000000000000b", ""),
                row("000000000000000b", ""),
                row("000000000000000c", ""),
            ]
        );
    }
}
