//! OTLP to span documents, as Jaeger v2.20.0's `to_dbmodel.go` (from collector-contrib's
//! `traces_to_jaegerproto.go`): the resource becomes the process (`service.name` its service),
//! the scope's name and version, span kind, status and trace state become tags, events become
//! logs (named by an `event` field), and the parent and links become references, the parent
//! first.

use serde_json::Value;
use spoor_pipeline::otlp::names;
use spoor_pipeline::otlp::value::{as_string, go_json_float};
use spoor_pipeline::otlp::{
    AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue, ResourceSpans, Span, any_value, status,
};

use super::{CHILD_OF, FOLLOWS_FROM, KeyValue, Log, Process, Reference, SpanDoc};

/// One document per span of `resource_spans`.
pub fn docs_from_otlp(resource_spans: &[ResourceSpans]) -> Vec<SpanDoc> {
    let mut docs = Vec::new();
    for rs in resource_spans {
        if rs.scope_spans.is_empty() {
            continue;
        }
        let process = process(rs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default());
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                docs.push(span_doc(span, ss.scope.as_ref(), &process));
            }
        }
    }
    docs
}

fn process(attributes: &[OtlpKeyValue]) -> Process {
    if attributes.is_empty() {
        return Process { service_name: names::RESOURCE_NO_SERVICE_NAME.to_owned(), ..Process::default() };
    }
    let mut process = Process::default();
    for kv in attributes {
        if kv.key == names::SERVICE_NAME {
            process.service_name = as_string(kv.value.as_ref());
        } else {
            process.tags.push(tag(&kv.key, kv.value.as_ref()));
        }
    }
    process
}

/// An attribute as a typed tag: ints, doubles and bools as JSON values, bytes in hex
/// (`binary`), lists and maps as their JSON text (`string`).
pub fn tag(key: &str, value: Option<&AnyValue>) -> KeyValue {
    let inner = value.and_then(|v| v.value.as_ref());
    let (kind, value) = match inner {
        Some(any_value::Value::IntValue(i)) => ("int64", Value::from(*i)),
        Some(any_value::Value::BoolValue(b)) => ("bool", Value::from(*b)),
        Some(any_value::Value::DoubleValue(d)) => ("float64", double(*d)),
        Some(any_value::Value::BytesValue(b)) => ("binary", Value::from(hex::encode(b))),
        Some(any_value::Value::StringValue(s)) => ("string", Value::from(s.as_str())),
        Some(_) => ("string", Value::from(as_string(value))),
        None => ("string", Value::Null),
    };
    KeyValue { key: key.to_owned(), kind: kind.to_owned(), value }
}

/// A double as Go's JSON writes it (`72` for 72.0); NaN and the infinities, which Go cannot
/// encode, as text.
fn double(d: f64) -> Value {
    match go_json_float(d).and_then(|text| serde_json::from_str::<Value>(&text).ok()) {
        Some(number) => number,
        None => Value::from(spoor_pipeline::otlp::value::double_as_string(d)),
    }
}

fn string_tag(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_owned(), kind: "string".to_owned(), value: Value::from(value) }
}

/// An ID as pdata's `String()`: lowercase hex, and empty for the all-zero (unset) ID.
fn id_text(id: &[u8]) -> String {
    if id.iter().all(|b| *b == 0) { String::new() } else { hex::encode(id) }
}

fn span_doc(span: &Span, scope: Option<&InstrumentationScope>, process: &Process) -> SpanDoc {
    let trace_id = id_text(&span.trace_id);
    let parent_span_id = id_text(&span.parent_span_id);
    let start = span.start_time_unix_nano / 1000;
    SpanDoc {
        references: references(span, &trace_id, &parent_span_id),
        span_id: id_text(&span.span_id),
        operation_name: span.name.clone(),
        start_time: start,
        start_time_millis: start / 1000,
        duration: span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) / 1000,
        tags: span_tags(span, scope),
        logs: span.events.iter().map(log).collect(),
        process: process.clone(),
        flags: span.flags,
        tag: None,
        trace_id,
        parent_span_id,
    }
}

fn span_tags(span: &Span, scope: Option<&InstrumentationScope>) -> Vec<KeyValue> {
    let mut tags = Vec::with_capacity(span.attributes.len() + 4);
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            tags.push(string_tag(names::OTEL_SCOPE_NAME, &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(string_tag(names::OTEL_SCOPE_VERSION, &scope.version));
        }
    }
    tags.extend(span.attributes.iter().map(|kv| tag(&kv.key, kv.value.as_ref())));
    if let Some(kind) = names::span_kind_name(span.kind) {
        tags.push(string_tag(names::SPAN_KIND, kind));
    }
    let status = span.status.as_ref();
    match status.map(|s| s.code) {
        Some(code) if code == status::StatusCode::Ok as i32 => tags.push(string_tag(names::OTEL_STATUS_CODE, "OK")),
        Some(code) if code == status::StatusCode::Error as i32 => {
            tags.push(KeyValue { key: names::ERROR.to_owned(), kind: "bool".to_owned(), value: Value::from(true) });
        }
        _ => {}
    }
    if let Some(message) = status.map(|s| s.message.as_str()).filter(|m| !m.is_empty()) {
        tags.push(string_tag(names::OTEL_STATUS_DESCRIPTION, message));
    }
    if !span.trace_state.is_empty() {
        tags.push(string_tag(names::W3C_TRACESTATE, &span.trace_state));
    }
    tags
}

/// The parent as the first `CHILD_OF` reference (unless a link names it, which then gives
/// its type), then every link.
fn references(span: &Span, trace_id: &str, parent_span_id: &str) -> Vec<Reference> {
    let mut refs = Vec::with_capacity(span.links.len() + 1);
    let with_parent = !parent_span_id.is_empty();
    if with_parent {
        refs.push(Reference {
            ref_type: CHILD_OF.to_owned(),
            trace_id: trace_id.to_owned(),
            span_id: parent_span_id.to_owned(),
        });
    }
    for link in &span.links {
        let link_trace = id_text(&link.trace_id);
        let link_span = id_text(&link.span_id);
        let ref_type = match link.attributes.iter().find(|kv| kv.key == names::OPENTRACING_REF_TYPE) {
            Some(kv) if spoor_pipeline::otlp::value::as_str(kv.value.as_ref()) == names::REF_TYPE_CHILD_OF => CHILD_OF,
            _ => FOLLOWS_FROM,
        };
        if with_parent && link_trace == trace_id && link_span == parent_span_id {
            refs[0].ref_type = ref_type.to_owned();
            continue;
        }
        refs.push(Reference { ref_type: ref_type.to_owned(), trace_id: link_trace, span_id: link_span });
    }
    refs
}

fn log(event: &spoor_pipeline::otlp::span::Event) -> Log {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == names::EVENT) {
        fields.push(string_tag(names::EVENT, &event.name));
    }
    fields.extend(event.attributes.iter().map(|kv| tag(&kv.key, kv.value.as_ref())));
    Log { timestamp: event.time_unix_nano / 1000, fields }
}
