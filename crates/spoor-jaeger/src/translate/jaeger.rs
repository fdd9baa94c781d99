//! Jaeger Thrift `Batch` and api_v2 protobuf `Batch` to OTLP, as collector-contrib's
//! `pkg/translator/jaeger` (`ThriftToTraces`, `ProtoToTraces`) does it:
//! - the process becomes the resource (`service.name` plus its tags; `hostname` →
//!   `host.name`, `jaeger.version` → `opencensus.exporterversion`);
//! - `span.kind`, `error`, `otel.status_code`/`otel.status_description`, `http.status_code`
//!   and `w3c.tracestate` become span fields and leave the attributes;
//! - logs become events (the `event` field names them);
//! - the parent is `parentSpanId`, else the first same-trace CHILD_OF reference, else the first
//!   FOLLOWS_FROM one; every other reference becomes a link with `opentracing.ref_type`.

use spoor_pipeline::otlp::{InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, any_value, names, span};

use super::TranslateError;
use super::attrs::{self, Attributes};
use crate::proto::api_v2;
use crate::thrift::generated::jaeger as thrift;

// ---------------------------------------------------------------------------------------------
// Thrift

/// Translates one Thrift batch into (at most) one `ResourceSpans`.
pub fn thrift_to_otlp(batch: thrift::Batch) -> Vec<ResourceSpans> {
    let resource = thrift_process_to_resource(&batch.process);
    let spans: Vec<Span> =
        batch.spans.into_iter().filter(|span| !is_blank_thrift_span(span)).map(thrift_span_to_otlp).collect();
    if resource.is_none() && spans.is_empty() {
        return Vec::new();
    }
    let scope_spans = if spans.is_empty() {
        Vec::new()
    } else {
        vec![ScopeSpans { scope: Some(InstrumentationScope::default()), spans, schema_url: String::new() }]
    };
    vec![ResourceSpans { resource: Some(resource.unwrap_or_default()), scope_spans, schema_url: String::new() }]
}

fn is_blank_thrift_span(span: &thrift::Span) -> bool {
    span.trace_id_low == 0
        && span.trace_id_high == 0
        && span.span_id == 0
        && span.parent_span_id == 0
        && span.operation_name.is_empty()
        && span.references.is_none()
        && span.flags == 0
        && span.start_time == 0
        && span.duration == 0
        && span.tags.is_none()
        && span.logs.is_none()
}

fn thrift_process_to_resource(process: &thrift::Process) -> Option<Resource> {
    if process.service_name.is_empty() && process.tags.is_none() {
        return None;
    }
    let tags = process.tags.as_deref().unwrap_or_default();
    let mut attrs = Attributes::with_capacity(tags.len() + 1);
    if !process.service_name.is_empty() {
        attrs.put_str(names::SERVICE_NAME, process.service_name.as_str());
    }
    thrift_tags_into(tags, &mut attrs);
    attrs::translate_process_keys(&mut attrs);
    Some(Resource { attributes: attrs.into_vec(), ..Default::default() })
}

fn thrift_tags_into(tags: &[thrift::Tag], attrs: &mut Attributes) {
    for tag in tags {
        attrs.put(&tag.key, thrift_tag_value(tag));
    }
}

fn thrift_tag_value(tag: &thrift::Tag) -> any_value::Value {
    use any_value::Value;
    match tag.v_type {
        thrift::TagType::STRING => Value::StringValue(tag.v_str.clone().unwrap_or_default()),
        thrift::TagType::BOOL => Value::BoolValue(tag.v_bool.unwrap_or_default()),
        thrift::TagType::LONG => Value::IntValue(tag.v_long.unwrap_or_default()),
        thrift::TagType::DOUBLE => Value::DoubleValue(tag.v_double.map(|d| d.0).unwrap_or_default()),
        thrift::TagType::BINARY => Value::BytesValue(tag.v_binary.clone().unwrap_or_default()),
        other => Value::StringValue(format!("<Unknown Jaeger TagType \"{}\">", other.0)),
    }
}

fn thrift_parent_id(span: &thrift::Span) -> i64 {
    if span.parent_span_id != 0 {
        return span.parent_span_id;
    }
    let refs = span.references.as_deref().unwrap_or_default();
    let same_trace =
        |r: &&thrift::SpanRef| r.trace_id_high == span.trace_id_high && r.trace_id_low == span.trace_id_low;
    refs.iter()
        .filter(same_trace)
        .find(|r| r.ref_type == thrift::SpanRefType::CHILD_OF)
        .or_else(|| refs.iter().filter(same_trace).find(|r| r.ref_type == thrift::SpanRefType::FOLLOWS_FROM))
        .map_or(0, |r| r.span_id)
}

fn thrift_span_to_otlp(span: thrift::Span) -> Span {
    let parent = thrift_parent_id(&span);
    let tags = span.tags.as_deref().unwrap_or_default();
    let mut attrs = Attributes::with_capacity(tags.len());
    thrift_tags_into(tags, &mut attrs);
    let mut out = Span {
        trace_id: attrs::trace_id(span.trace_id_high as u64, span.trace_id_low as u64),
        span_id: attrs::span_id(span.span_id as u64),
        parent_span_id: if parent != 0 { attrs::span_id(parent as u64) } else { Vec::new() },
        name: span.operation_name,
        start_time_unix_nano: attrs::micros_to_nanos(span.start_time),
        end_time_unix_nano: attrs::micros_to_nanos(span.start_time.wrapping_add(span.duration)),
        ..Default::default()
    };
    finish_attributes(attrs, &mut out);
    out.events = span
        .logs
        .unwrap_or_default()
        .iter()
        .map(|log| {
            let mut fields = Attributes::with_capacity(log.fields.len());
            thrift_tags_into(&log.fields, &mut fields);
            event(attrs::micros_to_nanos(log.timestamp), fields)
        })
        .collect();
    let refs = span.references.unwrap_or_default();
    out.links = refs
        .iter()
        .filter(|r| !(r.span_id == parent && r.ref_type == thrift::SpanRefType::CHILD_OF))
        .map(|r| {
            link(
                attrs::trace_id(r.trace_id_high as u64, r.trace_id_low as u64),
                attrs::span_id(r.span_id as u64),
                r.ref_type == thrift::SpanRefType::CHILD_OF,
            )
        })
        .collect();
    out
}

// ---------------------------------------------------------------------------------------------
// Shared by both

/// `span.kind`, the status tags and `w3c.tracestate` become fields; the rest stay attributes.
fn finish_attributes(mut attrs: Attributes, span: &mut Span) {
    if attrs.contains(names::SPAN_KIND) {
        let kind = attrs.get_str(names::SPAN_KIND).unwrap_or_default();
        span.kind = attrs::jaeger_span_kind(&kind) as i32;
        attrs.remove(names::SPAN_KIND);
    }
    attrs::set_jaeger_status(&mut attrs, span);
    if attrs.contains(names::W3C_TRACESTATE) {
        span.trace_state = attrs.get_str(names::W3C_TRACESTATE).unwrap_or_default();
        attrs.remove(names::W3C_TRACESTATE);
    }
    span.attributes = attrs.into_vec();
}

fn event(time_unix_nano: u64, mut fields: Attributes) -> span::Event {
    let name = if fields.contains(names::EVENT) {
        let name = fields.get_str(names::EVENT).unwrap_or_default();
        fields.remove(names::EVENT);
        name
    } else {
        String::new()
    };
    span::Event { time_unix_nano, name, attributes: fields.into_vec(), dropped_attributes_count: 0 }
}

fn link(trace_id: Vec<u8>, span_id: Vec<u8>, child_of: bool) -> span::Link {
    let mut attributes = Attributes::with_capacity(1);
    attributes.put_str(
        names::OPENTRACING_REF_TYPE,
        if child_of { names::REF_TYPE_CHILD_OF } else { names::REF_TYPE_FOLLOWS_FROM },
    );
    span::Link { trace_id, span_id, attributes: attributes.into_vec(), ..Default::default() }
}

// ---------------------------------------------------------------------------------------------
// api_v2 protobuf

/// Translates a `PostSpans` batch. Spans that carry their own process are grouped under it;
/// each distinct process becomes one `ResourceSpans`, in the order first seen.
pub fn proto_to_otlp(batch: api_v2::Batch) -> Result<Vec<ResourceSpans>, TranslateError> {
    let mut groups: Vec<(Option<api_v2::Process>, Vec<api_v2::Span>)> = Vec::new();
    let mut group_of = |process: Option<api_v2::Process>| -> usize {
        match groups.iter().position(|(p, _)| *p == process) {
            Some(index) => index,
            None => {
                groups.push((process, Vec::new()));
                groups.len() - 1
            }
        }
    };
    let batch_group = group_of(batch.process.clone());
    let mut assignments = Vec::with_capacity(batch.spans.len());
    for mut span in batch.spans {
        let index = match span.process.take() {
            Some(process) => group_of(Some(process)),
            None => batch_group,
        };
        assignments.push((index, span));
    }
    for (index, span) in assignments {
        groups[index].1.push(span);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (process, spans) in groups {
        if process.is_none() && spans.is_empty() {
            continue;
        }
        out.push(ResourceSpans {
            resource: Some(proto_process_to_resource(process.as_ref())),
            scope_spans: proto_spans_to_scopes(spans)?,
            schema_url: String::new(),
        });
    }
    Ok(out)
}

fn proto_process_to_resource(process: Option<&api_v2::Process>) -> Resource {
    let Some(process) = process else {
        return Resource::default();
    };
    if process.service_name == names::RESOURCE_NO_SERVICE_NAME
        || (process.service_name.is_empty() && process.tags.is_empty())
    {
        return Resource::default();
    }
    let mut attrs = Attributes::with_capacity(process.tags.len() + 1);
    if !process.service_name.is_empty() {
        attrs.put_str(names::SERVICE_NAME, process.service_name.as_str());
    }
    proto_tags_into(&process.tags, &mut attrs);
    attrs::translate_process_keys(&mut attrs);
    Resource { attributes: attrs.into_vec(), ..Default::default() }
}

fn proto_tags_into(tags: &[api_v2::KeyValue], attrs: &mut Attributes) {
    use any_value::Value;
    for tag in tags {
        let value = match api_v2::ValueType::try_from(tag.v_type) {
            Ok(api_v2::ValueType::String) => Value::StringValue(tag.v_str.clone()),
            Ok(api_v2::ValueType::Bool) => Value::BoolValue(tag.v_bool),
            Ok(api_v2::ValueType::Int64) => Value::IntValue(tag.v_int64),
            Ok(api_v2::ValueType::Float64) => Value::DoubleValue(tag.v_float64),
            Ok(api_v2::ValueType::Binary) => Value::BytesValue(tag.v_binary.clone()),
            Err(_) => Value::StringValue(format!("<Unknown Jaeger TagType \"{}\">", tag.v_type)),
        };
        attrs.put(&tag.key, value);
    }
}

fn take_string_tag(span: &mut api_v2::Span, key: &str) -> Option<String> {
    let index = span.tags.iter().position(|t| t.key == key)?;
    Some(span.tags.remove(index).v_str)
}

fn proto_spans_to_scopes(spans: Vec<api_v2::Span>) -> Result<Vec<ScopeSpans>, TranslateError> {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    for mut span in spans {
        if span == api_v2::Span::default() {
            continue;
        }
        let mut scope = InstrumentationScope::default();
        if let Some(name) = take_string_tag(&mut span, names::OTEL_SCOPE_NAME) {
            scope.name = name;
            if let Some(version) = take_string_tag(&mut span, names::OTEL_SCOPE_VERSION) {
                scope.version = version;
            }
        }
        let translated = proto_span_to_otlp(span)?;
        match scopes
            .iter_mut()
            .find(|s| s.scope.as_ref().is_some_and(|s| s.name == scope.name && s.version == scope.version))
        {
            Some(existing) => existing.spans.push(translated),
            None => scopes.push(ScopeSpans { scope: Some(scope), spans: vec![translated], schema_url: String::new() }),
        }
    }
    Ok(scopes)
}

/// The api_v2 trace ID: 16 bytes, or absent (zero).
fn proto_trace_id(bytes: &[u8]) -> Result<(u64, u64), TranslateError> {
    match bytes.len() {
        0 => Ok((0, 0)),
        16 => {
            let mut high = [0u8; 8];
            let mut low = [0u8; 8];
            high.copy_from_slice(&bytes[..8]);
            low.copy_from_slice(&bytes[8..]);
            Ok((u64::from_be_bytes(high), u64::from_be_bytes(low)))
        }
        n => Err(TranslateError(format!("trace ID is {n} bytes, expected 16"))),
    }
}

fn proto_span_id(bytes: &[u8]) -> Result<u64, TranslateError> {
    match bytes.len() {
        0 => Ok(0),
        8 => {
            let mut id = [0u8; 8];
            id.copy_from_slice(bytes);
            Ok(u64::from_be_bytes(id))
        }
        n => Err(TranslateError(format!("span ID is {n} bytes, expected 8"))),
    }
}

fn timestamp_nanos(timestamp: Option<&prost_types::Timestamp>) -> u64 {
    timestamp.map_or(0, |t| (t.seconds as u64).wrapping_mul(1_000_000_000).wrapping_add(t.nanos as u64))
}

fn duration_nanos(duration: Option<&prost_types::Duration>) -> u64 {
    duration.map_or(0, |d| (d.seconds as u64).wrapping_mul(1_000_000_000).wrapping_add(d.nanos as u64))
}

fn proto_span_to_otlp(span: api_v2::Span) -> Result<Span, TranslateError> {
    let trace = proto_trace_id(&span.trace_id)?;
    let id = proto_span_id(&span.span_id)?;
    let mut refs = Vec::with_capacity(span.references.len());
    for r in &span.references {
        let child_of = r.ref_type == api_v2::SpanRefType::ChildOf as i32;
        refs.push((proto_trace_id(&r.trace_id)?, proto_span_id(&r.span_id)?, child_of));
    }
    // model.Span.ParentSpanID(): the first same-trace CHILD_OF, else the first FOLLOWS_FROM.
    let parent = refs
        .iter()
        .filter(|(t, _, _)| *t == trace)
        .find(|(_, _, child_of)| *child_of)
        .or_else(|| refs.iter().find(|(t, _, child_of)| *t == trace && !child_of))
        .map_or(0, |(_, s, _)| *s);
    let start = timestamp_nanos(span.start_time.as_ref());
    let mut attrs = Attributes::with_capacity(span.tags.len());
    proto_tags_into(&span.tags, &mut attrs);
    let mut out = Span {
        trace_id: attrs::trace_id(trace.0, trace.1),
        span_id: attrs::span_id(id),
        parent_span_id: if parent != 0 { attrs::span_id(parent) } else { Vec::new() },
        name: span.operation_name,
        start_time_unix_nano: start,
        end_time_unix_nano: start.wrapping_add(duration_nanos(span.duration.as_ref())),
        ..Default::default()
    };
    finish_attributes(attrs, &mut out);
    out.events = span
        .logs
        .iter()
        .map(|log| {
            let mut fields = Attributes::with_capacity(log.fields.len());
            proto_tags_into(&log.fields, &mut fields);
            event(timestamp_nanos(log.timestamp.as_ref()), fields)
        })
        .collect();
    out.links = refs
        .into_iter()
        .filter(|(_, s, child_of)| !(*s == parent && *child_of))
        .map(|((high, low), s, child_of)| link(attrs::trace_id(high, low), attrs::span_id(s), child_of))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_support::*;

    #[test]
    fn thrift_fixture_01() {
        let batch = thrift_fixture("thrift_batch_01.json");
        let rs = thrift_to_otlp(batch);
        assert_eq!(rs.len(), 1);
        let resource = rs[0].resource.as_ref().unwrap();
        assert_eq!(
            attr_strings(&resource.attributes),
            vec![
                ("service.name", "api".to_owned()),
                ("host.name", "api246-sjc1".to_owned()),
                ("ip", "10.53.69.61".to_owned()),
                ("opencensus.exporterversion", "Jaeger-Python-3.1.0".to_owned()),
            ]
        );
        let span = &rs[0].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), "000000000000000052969a8955571a3f");
        assert_eq!(hex::encode(&span.span_id), "0000000000647d98");
        assert_eq!(hex::encode(&span.parent_span_id), "000000000068c4e3");
        assert_eq!(span.name, "get");
        assert_eq!(span.kind, span::SpanKind::Server as i32);
        assert_eq!(span.start_time_unix_nano, 1_485_467_191_639_875_000);
        assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 22_938_000);
        assert_eq!(
            attr_strings(&span.attributes),
            vec![
                ("http.url", "http://127.0.0.1:15598/client_transactions".to_owned()),
                // span.kind left, and pdata moves the last entry into its place.
                ("peer.ipv4", "3224716605".to_owned()),
                ("peer.port", "53931".to_owned()),
                ("someBool", "true".to_owned()),
                ("someDouble", "129.8".to_owned()),
                ("peer.service", "rtapi".to_owned()),
            ]
        );
        assert!(matches!(span.attributes[2].value.as_ref().unwrap().value, Some(any_value::Value::IntValue(53931))));
        assert_eq!(span.events.len(), 2);
        assert_eq!(span.events[0].name, "");
        assert_eq!(attr_strings(&span.events[0].attributes).len(), 2);
        assert_eq!(span.events[1].name, "nothing");
        assert!(span.events[1].attributes.is_empty());
        assert!(span.links.is_empty(), "the parent is not repeated as a link");
    }

    #[test]
    fn thrift_fixture_02_binary_tags_and_follows_from() {
        let rs = thrift_to_otlp(thrift_fixture("thrift_batch_02.json"));
        let spans = &rs[0].scope_spans[0].spans;
        assert!(matches!(
            &spans[0].attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::BytesValue(b)) if b == &[0, 0, 0, 0, 0, 0, 0x30, 0x39]
        ));
        // parentSpanId is set, so the FOLLOWS_FROM reference to the same span stays a link.
        assert_eq!(hex::encode(&spans[1].parent_span_id), "000000000068c4e3");
        assert_eq!(spans[1].links.len(), 1);
        assert_eq!(
            attr_strings(&spans[1].links[0].attributes),
            vec![("opentracing.ref_type", "follows_from".to_owned())]
        );
    }

    #[test]
    fn thrift_and_proto_fixtures_translate_alike() {
        for (thrift_file, domain_file) in
            [("thrift_batch_01.json", "domain_01.json"), ("thrift_batch_02.json", "domain_02.json")]
        {
            let from_thrift = thrift_to_otlp(thrift_fixture(thrift_file));
            let from_proto = proto_to_otlp(domain_fixture(domain_file)).unwrap();
            let spans = |rs: &[ResourceSpans]| -> Vec<Span> {
                rs.iter().flat_map(|r| &r.scope_spans).flat_map(|s| s.spans.clone()).collect()
            };
            assert_eq!(spans(&from_thrift), spans(&from_proto), "{thrift_file}");
        }
    }

    #[test]
    fn proto_groups_spans_by_process_and_scope() {
        let process = |name: &str| api_v2::Process { service_name: name.to_owned(), tags: Vec::new() };
        let span = |id: u8, process: Option<api_v2::Process>, scope: Option<&str>| api_v2::Span {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            operation_name: format!("op{id}"),
            process,
            tags: scope
                .map(|s| api_v2::KeyValue {
                    key: "otel.scope.name".to_owned(),
                    v_str: s.to_owned(),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let batch = api_v2::Batch {
            process: Some(process("a")),
            spans: vec![span(1, None, None), span(2, Some(process("b")), None), span(3, None, Some("lib"))],
        };
        let rs = proto_to_otlp(batch).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].scope_spans.len(), 2);
        assert_eq!(rs[0].scope_spans[1].scope.as_ref().unwrap().name, "lib");
        assert!(rs[0].scope_spans[1].spans[0].attributes.is_empty());
        assert_eq!(rs[1].scope_spans[0].spans[0].name, "op2");
        let bad =
            api_v2::Batch { process: None, spans: vec![api_v2::Span { trace_id: vec![1; 5], ..Default::default() }] };
        assert!(proto_to_otlp(bad).is_err());
    }
}
