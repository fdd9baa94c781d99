//! The query service's standard adjusters (Jaeger v2.20.0 `jaegerquery/internal/adjuster`),
//! applied to a trace's OTLP before it is served unless raw traces are asked for.
//!
//! Implemented: `SortCollections`, `DeduplicateSpans`, `MoveLibraryAttributes` and
//! `RemoveEmptySpanLinks`. Not yet: `DeduplicateClientServerSpanIDs` (Zipkin-style shared span
//! IDs), `NormalizeIPAttributes` and `CorrectClockSkew` (off by default in Jaeger v2).

use std::collections::HashSet;

use prost::Message;
use spoor_pipeline::otlp::{AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, any_value};

use super::to_proto::WARNINGS_ATTRIBUTES;

const LIBRARY_KEYS: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

/// Runs the standard adjusters in Jaeger's order.
pub fn standard(resource_spans: &mut [ResourceSpans]) {
    sort_collections(resource_spans);
    deduplicate_spans(resource_spans);
    move_library_attributes(resource_spans);
    remove_empty_span_links(resource_spans);
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
    for rs in resource_spans {
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                let before = span.links.len();
                span.links.retain(|l| l.trace_id.iter().any(|b| *b != 0));
                for _ in span.links.len()..before {
                    add_warning(span, "Invalid span link removed".into());
                }
            }
        }
    }
}

/// Appends to Jaeger's warnings attribute (a string array).
pub fn add_warning(span: &mut Span, warning: String) {
    let value = AnyValue { value: Some(any_value::Value::StringValue(warning)) };
    let existing = span.attributes.iter_mut().find(|kv| kv.key == WARNINGS_ATTRIBUTES[0]);
    match existing.and_then(|kv| kv.value.as_mut()).and_then(|v| v.value.as_mut()) {
        Some(any_value::Value::ArrayValue(array)) => array.values.push(value),
        _ => {
            span.attributes.retain(|kv| kv.key != WARNINGS_ATTRIBUTES[0]);
            span.attributes.push(KeyValue {
                key: WARNINGS_ATTRIBUTES[0].into(),
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
