//! Jaeger's api_v2 model to UI JSON, as `uiconv.FromDomain` (and `FromDomainEmbedProcess`) do.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use super::{gojson, ids, ui};
use crate::proto::api_v2;

/// A trace from its spans (each carrying its process). Equal processes share one `pN` key,
/// numbered in order of first appearance.
pub fn trace_from_spans(spans: &[api_v2::Span], warnings: Vec<String>) -> ui::Trace {
    let mut keys: HashMap<Vec<u8>, String> = HashMap::new();
    let mut processes = BTreeMap::new();
    let ui_spans = spans
        .iter()
        .map(|span| {
            let process = span.process.clone().unwrap_or_default();
            let next = keys.len() + 1;
            let key = keys
                .entry(process.encode_to_vec())
                .or_insert_with(|| {
                    let key = format!("p{next}");
                    processes.insert(key.clone(), convert_process(&process, convert_tags));
                    key
                })
                .clone();
            let mut s = convert_span(span, convert_tags);
            s.process_id = key;
            s.warnings = non_empty(&span.warnings);
            s
        })
        .collect();
    ui::Trace {
        trace_id: spans.first().map(|s| ids::trace_id_string(&s.trace_id)).unwrap_or_default(),
        spans: ui_spans,
        processes,
        warnings: non_empty(&warnings),
    }
}

/// The embedded-process form of one span: the process inline, every tag value a string.
pub fn span_with_embedded_process(span: &api_v2::Span) -> ui::Span {
    let mut s = convert_span(span, convert_tags_as_strings);
    s.process = Some(convert_process(&span.process.clone().unwrap_or_default(), convert_tags_as_strings));
    s
}

fn non_empty(warnings: &[String]) -> Option<Vec<String>> {
    (!warnings.is_empty()).then(|| warnings.to_vec())
}

type TagConverter = fn(&[api_v2::KeyValue]) -> Vec<ui::KeyValue>;

fn convert_span(span: &api_v2::Span, tags: TagConverter) -> ui::Span {
    let duration_nanos =
        span.duration.as_ref().map(|d| d.seconds as i128 * 1_000_000_000 + d.nanos as i128).unwrap_or(0);
    ui::Span {
        trace_id: ids::trace_id_string(&span.trace_id),
        span_id: ids::span_id_string(&span.span_id),
        flags: span.flags,
        operation_name: span.operation_name.clone(),
        references: span.references.iter().map(convert_reference).collect(),
        start_time: micros(span.start_time.as_ref()),
        duration: (duration_nanos.max(0) / 1000) as u64,
        tags: tags(&span.tags),
        logs: span
            .logs
            .iter()
            .map(|log| ui::Log { timestamp: micros(log.timestamp.as_ref()), fields: tags(&log.fields) })
            .collect(),
        process_id: String::new(),
        process: None,
        warnings: None,
    }
}

/// Microseconds since the epoch, truncated as Go's `UnixNano() / 1000`.
fn micros(ts: Option<&prost_types::Timestamp>) -> u64 {
    ts.map(|t| ((t.seconds as i128 * 1_000_000_000 + t.nanos as i128) / 1000).max(0) as u64).unwrap_or(0)
}

fn convert_reference(r: &api_v2::SpanRef) -> ui::Reference {
    ui::Reference {
        ref_type: if r.ref_type == api_v2::SpanRefType::FollowsFrom as i32 {
            ui::RefType::FollowsFrom
        } else {
            ui::RefType::ChildOf
        },
        trace_id: ids::trace_id_string(&r.trace_id),
        span_id: ids::span_id_string(&r.span_id),
    }
}

fn convert_process(process: &api_v2::Process, tags: TagConverter) -> ui::Process {
    ui::Process { service_name: process.service_name.clone(), tags: tags(&process.tags) }
}

fn value_type(kv: &api_v2::KeyValue) -> ui::ValueType {
    match api_v2::ValueType::try_from(kv.v_type).unwrap_or(api_v2::ValueType::String) {
        api_v2::ValueType::String => ui::ValueType::String,
        api_v2::ValueType::Bool => ui::ValueType::Bool,
        api_v2::ValueType::Int64 => ui::ValueType::Int64,
        api_v2::ValueType::Float64 => ui::ValueType::Float64,
        api_v2::ValueType::Binary => ui::ValueType::Binary,
    }
}

fn convert_tags(tags: &[api_v2::KeyValue]) -> Vec<ui::KeyValue> {
    tags.iter()
        .map(|kv| {
            let value_type = value_type(kv);
            let value = match value_type {
                ui::ValueType::String => ui::Value::Str(kv.v_str.clone()),
                ui::ValueType::Bool => ui::Value::Bool(kv.v_bool),
                ui::ValueType::Int64 => ui::Value::Int64(kv.v_int64),
                ui::ValueType::Float64 => ui::Value::Float64(kv.v_float64),
                ui::ValueType::Binary => ui::Value::Binary(kv.v_binary.clone()),
            };
            ui::KeyValue { key: kv.key.clone(), value_type, value }
        })
        .collect()
}

fn convert_tags_as_strings(tags: &[api_v2::KeyValue]) -> Vec<ui::KeyValue> {
    tags.iter()
        .map(|kv| ui::KeyValue {
            key: kv.key.clone(),
            value_type: value_type(kv),
            value: ui::Value::Str(tag_as_string(kv)),
        })
        .collect()
}

/// Jaeger's `KeyValue.AsString()`.
pub fn tag_as_string(kv: &api_v2::KeyValue) -> String {
    match value_type(kv) {
        ui::ValueType::String => kv.v_str.clone(),
        ui::ValueType::Bool => kv.v_bool.to_string(),
        ui::ValueType::Int64 => kv.v_int64.to_string(),
        ui::ValueType::Float64 => gojson::format_float_g10(kv.v_float64),
        ui::ValueType::Binary if kv.v_binary.len() > 256 => format!("{}...", hex::encode(&kv.v_binary[..256])),
        ui::ValueType::Binary => hex::encode(&kv.v_binary),
    }
}
