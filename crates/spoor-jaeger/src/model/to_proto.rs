//! OTLP to Jaeger's api_v2 model, as Jaeger v2.20.0's `jptrace.ProtoFromTraces` does it
//! (collector-contrib `pkg/translator/jaeger` `traces_to_jaegerproto.go`, plus the transfer of
//! Jaeger's internal warnings attribute into `Span.warnings`).

use prost_types::{Duration, Timestamp};
use spoor_pipeline::otlp::names::{self, JAEGER_WARNINGS};
use spoor_pipeline::otlp::{
    InstrumentationScope, KeyValue, Resource, ResourceSpans, Span, any_value, span, status, value,
};

use super::ids;
use crate::proto::api_v2;

/// One api_v2 batch per resource, skipping resources with neither attributes nor scopes.
pub fn batches_from_otlp(resource_spans: &[ResourceSpans]) -> Vec<api_v2::Batch> {
    resource_spans
        .iter()
        .filter(|rs| !(resource_attributes(rs).is_empty() && rs.scope_spans.is_empty()))
        .map(|rs| {
            let spans = rs
                .scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter().map(move |s| span_to_proto(s, ss.scope.as_ref())))
                .collect();
            api_v2::Batch { spans, process: Some(process_from_resource(rs.resource.as_ref())) }
        })
        .collect()
}

/// The spans of all batches, each carrying its process, as `model.Trace.Spans` holds them.
pub fn spans_from_otlp(resource_spans: &[ResourceSpans]) -> Vec<api_v2::Span> {
    batches_from_otlp(resource_spans)
        .into_iter()
        .flat_map(|batch| {
            let process = batch.process;
            batch.spans.into_iter().map(move |mut span| {
                span.process = process.clone();
                span
            })
        })
        .collect()
}

fn resource_attributes(rs: &ResourceSpans) -> &[KeyValue] {
    rs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default()
}

/// The resource as a process: `service.name` becomes the service, the rest become tags.
pub fn process_from_resource(resource: Option<&Resource>) -> api_v2::Process {
    let attributes = resource.map(|r| r.attributes.as_slice()).unwrap_or_default();
    if attributes.is_empty() {
        return api_v2::Process { service_name: names::RESOURCE_NO_SERVICE_NAME.into(), tags: Vec::new() };
    }
    let service_name = attributes
        .iter()
        .find(|kv| kv.key == names::SERVICE_NAME)
        .map(|kv| value::as_str(kv.value.as_ref()).to_owned())
        .unwrap_or_default();
    let tags = attributes.iter().filter(|kv| kv.key != names::SERVICE_NAME).map(attribute_to_tag).collect();
    api_v2::Process { service_name, tags }
}

/// One attribute as a typed tag; maps and arrays become their JSON text.
pub fn attribute_to_tag(kv: &KeyValue) -> api_v2::KeyValue {
    use any_value::Value;
    let mut tag = api_v2::KeyValue { key: kv.key.clone(), ..Default::default() };
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => tag.v_str = s.clone(),
        Some(Value::IntValue(i)) => {
            tag.v_type = api_v2::ValueType::Int64 as i32;
            tag.v_int64 = *i;
        }
        Some(Value::BoolValue(b)) => {
            tag.v_type = api_v2::ValueType::Bool as i32;
            tag.v_bool = *b;
        }
        Some(Value::DoubleValue(d)) => {
            tag.v_type = api_v2::ValueType::Float64 as i32;
            tag.v_float64 = *d;
        }
        Some(Value::BytesValue(b)) => {
            tag.v_type = api_v2::ValueType::Binary as i32;
            tag.v_binary = b.clone();
        }
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => tag.v_str = value::as_string(kv.value.as_ref()),
        // An empty value has no case in the translator: the tag stays an empty string.
        None | Some(Value::StringValueStrindex(_)) => {}
    }
    tag
}

fn string_tag(key: &str, value: &str) -> api_v2::KeyValue {
    api_v2::KeyValue { key: key.into(), v_str: value.into(), ..Default::default() }
}

/// Converts one span; `process` is left for the caller.
pub fn span_to_proto(span: &Span, scope: Option<&InstrumentationScope>) -> api_v2::Span {
    let (high, low) = ids::trace_id_halves(&span.trace_id);
    let trace_id = trace_id_bytes(high, low);
    let warnings = span_warnings(span);
    let mut tags = span_tags(span, scope);
    if !warnings.is_empty() {
        tags.retain(|t| !JAEGER_WARNINGS.contains(&t.key.as_str()));
    }
    api_v2::Span {
        references: references(span, &trace_id),
        trace_id,
        span_id: span_id_bytes(&span.span_id),
        operation_name: span.name.clone(),
        flags: 0,
        start_time: Some(timestamp(span.start_time_unix_nano)),
        duration: Some(duration(span.end_time_unix_nano as i128 - span.start_time_unix_nano as i128)),
        tags,
        logs: span.events.iter().map(event_to_log).collect(),
        process: None,
        process_id: String::new(),
        warnings,
    }
}

fn trace_id_bytes(high: u64, low: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&high.to_be_bytes());
    id.extend_from_slice(&low.to_be_bytes());
    id
}

fn span_id_bytes(id: &[u8]) -> Vec<u8> {
    ids::span_id_u64(id).to_be_bytes().to_vec()
}

/// Unix nanoseconds as a protobuf timestamp.
pub fn timestamp(unix_nano: u64) -> Timestamp {
    Timestamp { seconds: (unix_nano / 1_000_000_000) as i64, nanos: (unix_nano % 1_000_000_000) as i32 }
}

/// Nanoseconds (possibly negative) as a protobuf duration.
pub fn duration(nanos: i128) -> Duration {
    let nanos = nanos.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    Duration { seconds: nanos / 1_000_000_000, nanos: (nanos % 1_000_000_000) as i32 }
}

fn span_warnings(span: &Span) -> Vec<String> {
    span.attributes
        .iter()
        .filter(|kv| JAEGER_WARNINGS.contains(&kv.key.as_str()))
        .filter_map(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::ArrayValue(a)) => {
                Some(a.values.iter().map(|v| value::as_str(Some(v)).to_owned()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// Scope tags, attributes, then span.kind, otel.status_code, error, otel.status_description and
/// w3c.tracestate, in the translator's order.
fn span_tags(span: &Span, scope: Option<&InstrumentationScope>) -> Vec<api_v2::KeyValue> {
    let mut tags = Vec::with_capacity(span.attributes.len() + 4);
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            tags.push(string_tag(names::OTEL_SCOPE_NAME, &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(string_tag(names::OTEL_SCOPE_VERSION, &scope.version));
        }
    }
    tags.extend(span.attributes.iter().map(attribute_to_tag));
    if let Some(kind) = names::span_kind_name(span.kind) {
        tags.push(string_tag(names::SPAN_KIND, kind));
    }
    let code = span.status.as_ref().map(|s| s.code).unwrap_or_default();
    if let Some(code_name) = names::status_code_name(code) {
        tags.push(string_tag(names::OTEL_STATUS_CODE, code_name));
    }
    if code == status::StatusCode::Error as i32 {
        tags.push(api_v2::KeyValue {
            key: names::ERROR.into(),
            v_type: api_v2::ValueType::Bool as i32,
            v_bool: true,
            ..Default::default()
        });
    }
    if let Some(message) = span.status.as_ref().map(|s| s.message.as_str()).filter(|m| !m.is_empty()) {
        tags.push(string_tag(names::OTEL_STATUS_DESCRIPTION, message));
    }
    if !span.trace_state.is_empty() {
        tags.push(string_tag(names::W3C_TRACESTATE, &span.trace_state));
    }
    tags
}

/// The parent first as CHILD_OF, then links as FOLLOWS_FROM (or CHILD_OF when the link says so);
/// a link to the parent only changes the parent reference's type.
fn references(span: &Span, trace_id: &[u8]) -> Vec<api_v2::SpanRef> {
    let parent = ids::span_id_u64(&span.parent_span_id);
    let mut refs = Vec::with_capacity(span.links.len() + 1);
    if parent != 0 {
        refs.push(api_v2::SpanRef {
            trace_id: trace_id.to_vec(),
            span_id: parent.to_be_bytes().to_vec(),
            ref_type: api_v2::SpanRefType::ChildOf as i32,
        });
    }
    for link in &span.links {
        let (high, low) = ids::trace_id_halves(&link.trace_id);
        let link_trace_id = trace_id_bytes(high, low);
        let link_span_id = ids::span_id_u64(&link.span_id);
        let ref_type = link_ref_type(&link.attributes) as i32;
        if parent != 0 && link_trace_id == trace_id && link_span_id == parent {
            refs[0].ref_type = ref_type;
            continue;
        }
        refs.push(api_v2::SpanRef { trace_id: link_trace_id, span_id: link_span_id.to_be_bytes().to_vec(), ref_type });
    }
    refs
}

fn link_ref_type(attributes: &[KeyValue]) -> api_v2::SpanRefType {
    match attributes.iter().find(|kv| kv.key == names::OPENTRACING_REF_TYPE) {
        Some(kv) if value::as_str(kv.value.as_ref()) == names::REF_TYPE_CHILD_OF => api_v2::SpanRefType::ChildOf,
        _ => api_v2::SpanRefType::FollowsFrom,
    }
}

/// An event as a log: its name as the `event` field (unless an attribute has that key), then
/// its attributes.
fn event_to_log(event: &span::Event) -> api_v2::Log {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == names::EVENT) {
        fields.push(string_tag(names::EVENT, &event.name));
    }
    fields.extend(event.attributes.iter().map(attribute_to_tag));
    api_v2::Log { timestamp: Some(timestamp(event.time_unix_nano)), fields }
}
