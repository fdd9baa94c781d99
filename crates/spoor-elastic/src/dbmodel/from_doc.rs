//! Span documents to OTLP, as Jaeger v2.20.0's `from_dbmodel.go`: one resource and scope per
//! span; `span.kind`, the status tags (`error`, `otel.status_code`, `http.status_code`) and
//! `w3c.tracestate` go back into span fields; logs become events; references other than the
//! parent become links carrying `opentracing.ref_type`. Tag values are read by their `type`,
//! whether the document holds them typed (current Jaeger) or as strings (older versions).

use serde_json::{Map, Value};
use spoor_pipeline::otlp::names;
use spoor_pipeline::otlp::{
    AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status,
    any_value, span, status,
};

use super::{CHILD_OF, DocError, KeyValue, Log, Reference, SpanDoc};

/// One `ResourceSpans` per document.
pub fn otlp_from_docs(docs: Vec<SpanDoc>) -> Result<Vec<ResourceSpans>, DocError> {
    docs.into_iter().map(resource_spans).collect()
}

fn resource_spans(mut doc: SpanDoc) -> Result<ResourceSpans, DocError> {
    merge_object_tags(&mut doc.tags, doc.tag.take());
    merge_object_tags(&mut doc.process.tags, doc.process.tag.take());
    let resource = resource(&doc);
    let scope = scope(&mut doc.tags);
    let span = span(doc)?;
    Ok(ResourceSpans {
        resource: Some(resource),
        scope_spans: vec![ScopeSpans { scope: Some(scope), spans: vec![span], schema_url: String::new() }],
        schema_url: String::new(),
    })
}

/// Tags kept as object fields (`tag.<key>`, dots as `@`) back into the list, typed by their
/// JSON type, as Jaeger's reader merges them.
fn merge_object_tags(tags: &mut Vec<KeyValue>, object: Option<Map<String, Value>>) {
    for (key, value) in object.into_iter().flatten() {
        let kind = match &value {
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
            Value::Number(_) => "float64",
            Value::String(_) => "string",
            _ => {
                let text = format!("invalid tag type in {value}");
                tags.push(KeyValue { key: key.replace('@', "."), kind: "string".into(), value: Value::from(text) });
                continue;
            }
        };
        tags.push(KeyValue { key: key.replace('@', "."), kind: kind.to_owned(), value });
    }
}

fn resource(doc: &SpanDoc) -> Resource {
    let process = &doc.process;
    let mut attributes = Attributes::default();
    if !process.service_name.is_empty() && process.service_name != names::RESOURCE_NO_SERVICE_NAME {
        attributes.put(names::SERVICE_NAME, string(&process.service_name));
    }
    attributes.put_tags(&process.tags);
    Resource { attributes: attributes.0, ..Resource::default() }
}

/// The scope from `otel.scope.name` and `otel.scope.version`, which leave the tags.
fn scope(tags: &mut Vec<KeyValue>) -> InstrumentationScope {
    let mut scope = InstrumentationScope::default();
    if let Some(name) = take_string_tag(tags, names::OTEL_SCOPE_NAME) {
        scope.name = name;
        if let Some(version) = take_string_tag(tags, names::OTEL_SCOPE_VERSION) {
            scope.version = version;
        }
    }
    scope
}

fn take_string_tag(tags: &mut Vec<KeyValue>, key: &str) -> Option<String> {
    let index = tags.iter().position(|tag| tag.key == key && tag.value.is_string())?;
    tags.remove(index).value.as_str().map(str::to_owned)
}

fn span(doc: SpanDoc) -> Result<Span, DocError> {
    let mut attributes = Attributes::default();
    attributes.put_tags(&doc.tags);
    let mut span = Span {
        trace_id: parse_id::<16>(&doc.trace_id, "traceID")?.to_vec(),
        span_id: parse_id::<8>(&doc.span_id, "spanID")?.to_vec(),
        name: doc.operation_name.clone(),
        flags: doc.flags,
        start_time_unix_nano: doc.start_time.saturating_mul(1000),
        end_time_unix_nano: doc.start_time.saturating_add(doc.duration).saturating_mul(1000),
        ..Span::default()
    };
    if let Some(kind) = attributes.remove(names::SPAN_KIND) {
        let name = str_of(&kind);
        span.kind = names::span_kind_from_name(name).map(|k| k as i32).unwrap_or_default();
    }
    span.status = status(&mut attributes, span.kind);
    if let Some(state) = attributes.remove(names::W3C_TRACESTATE) {
        span.trace_state = str_of(&state).to_owned();
    }
    span.attributes = attributes.0;
    let parent = parent_span_id(&doc);
    if !parent.is_empty() {
        span.parent_span_id = parse_id::<8>(&parent, "parentSpanID")?.to_vec();
    }
    span.events = doc.logs.iter().map(event).collect();
    for reference in &doc.references {
        if reference.span_id == parent && reference.ref_type == CHILD_OF {
            continue;
        }
        span.links.push(link(reference)?);
    }
    Ok(span)
}

/// `parentSpanID`, else the first same-trace `CHILD_OF` reference, else the first
/// same-trace `FOLLOWS_FROM` one.
fn parent_span_id(doc: &SpanDoc) -> String {
    if !doc.parent_span_id.is_empty() {
        return doc.parent_span_id.clone();
    }
    let same_trace = || doc.references.iter().filter(|r| r.trace_id == doc.trace_id);
    same_trace()
        .find(|r| r.ref_type == CHILD_OF)
        .or_else(|| same_trace().find(|r| r.ref_type == super::FOLLOWS_FROM))
        .map(|r| r.span_id.clone())
        .unwrap_or_default()
}

fn link(reference: &Reference) -> Result<span::Link, DocError> {
    let ref_type = if reference.ref_type == CHILD_OF { names::REF_TYPE_CHILD_OF } else { names::REF_TYPE_FOLLOWS_FROM };
    Ok(span::Link {
        trace_id: parse_id::<16>(&reference.trace_id, "references.traceID")?.to_vec(),
        span_id: parse_id::<8>(&reference.span_id, "references.spanID")?.to_vec(),
        attributes: vec![OtlpKeyValue {
            key: names::OPENTRACING_REF_TYPE.to_owned(),
            value: Some(string(ref_type)),
            ..OtlpKeyValue::default()
        }],
        ..span::Link::default()
    })
}

fn event(log: &Log) -> span::Event {
    let mut attributes = Attributes::default();
    attributes.put_tags(&log.fields);
    let mut event = span::Event { time_unix_nano: log.timestamp.saturating_mul(1000), ..span::Event::default() };
    if let Some(index) = attributes.0.iter().position(|kv| kv.key == names::EVENT && is_str(kv.value.as_ref())) {
        event.name = str_of(attributes.0[index].value.as_ref().unwrap_or(&AnyValue::default())).to_owned();
        attributes.0.remove(index);
    }
    event.attributes = attributes.0;
    event
}

/// The status, as `setSpanStatus`: `error: true` (with `otel.status_description` or
/// `http.status_message`), else `otel.status_code`, else an HTTP status code.
fn status(attributes: &mut Attributes, kind: i32) -> Option<Status> {
    let mut code = None;
    let mut message = String::new();
    if let Some(AnyValue { value: Some(any_value::Value::BoolValue(true)) }) = attributes.get(names::ERROR) {
        attributes.remove(names::ERROR);
        code = Some(status::StatusCode::Error);
        if let Some(description) = attributes.remove(names::OTEL_STATUS_DESCRIPTION) {
            message = str_of(&description).to_owned();
        } else if let Some(text) = attributes.get(names::HTTP_STATUS_MESSAGE) {
            message = str_of(text).to_owned();
        }
    }
    if let Some(value) = attributes.remove(names::OTEL_STATUS_CODE) {
        if code.is_none() {
            code = Some(names::status_code_from_name(str_of(&value)).unwrap_or(status::StatusCode::Unset));
            if let Some(description) = attributes.remove(names::OTEL_STATUS_DESCRIPTION) {
                message = str_of(&description).to_owned();
            }
        }
    } else if code.is_none()
        && let Some(http) = attributes.get(HTTP_RESPONSE_STATUS_CODE).and_then(http_code)
    {
        let from_http = if (400..500).contains(&http) {
            if kind == span::SpanKind::Server as i32 { status::StatusCode::Unset } else { status::StatusCode::Error }
        } else if (100..399).contains(&http) {
            status::StatusCode::Unset
        } else {
            status::StatusCode::Error
        };
        if from_http != status::StatusCode::Unset {
            code = Some(from_http);
        }
        if let Some(text) = attributes.get(names::HTTP_STATUS_MESSAGE) {
            message = str_of(text).to_owned();
        }
    }
    code.map(|code| Status { code: code as i32, message })
}

/// The semantic conventions' HTTP status attribute, which Jaeger's reader consults.
const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";

fn http_code(value: &AnyValue) -> Option<i64> {
    match value.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i),
        any_value::Value::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

fn parse_id<const N: usize>(text: &str, field: &str) -> Result<[u8; N], DocError> {
    if text.len() > 2 * N {
        return Err(DocError(format!("{field} {text:?} is too long")));
    }
    let padded = format!("{text:0>width$}", width = 2 * N);
    let mut id = [0u8; N];
    hex::decode_to_slice(&padded, &mut id).map_err(|err| DocError(format!("{field} {text:?}: {err}")))?;
    Ok(id)
}

fn string(text: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(text.to_owned())) }
}

fn is_str(value: Option<&AnyValue>) -> bool {
    matches!(value.and_then(|v| v.value.as_ref()), Some(any_value::Value::StringValue(_)))
}

/// pdata's `Str()`: the string, or empty for another type.
fn str_of(value: &AnyValue) -> &str {
    spoor_pipeline::otlp::value::as_str(Some(value))
}

/// Attributes in order, a repeated key replacing the earlier value in place (pdata's `Put`).
#[derive(Default)]
struct Attributes(Vec<OtlpKeyValue>);

impl Attributes {
    fn put(&mut self, key: &str, value: AnyValue) {
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = Some(value),
            None => self.0.push(OtlpKeyValue { key: key.to_owned(), value: Some(value), ..OtlpKeyValue::default() }),
        }
    }

    fn get(&self, key: &str) -> Option<&AnyValue> {
        self.0.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
    }

    fn remove(&mut self, key: &str) -> Option<AnyValue> {
        let index = self.0.iter().position(|kv| kv.key == key)?;
        self.0.remove(index).value
    }

    fn put_tags(&mut self, tags: &[KeyValue]) {
        for tag in tags {
            if let Some(value) = typed_value(tag) {
                self.put(&tag.key, AnyValue { value: Some(value) });
            }
        }
    }
}

/// A tag's value by its `type`, as `dbTagsToAttributes`; a value that does not fit its type
/// becomes a string saying so. `None` when Jaeger drops it (an `int64` that is not integral).
fn typed_value(tag: &KeyValue) -> Option<any_value::Value> {
    use any_value::Value as V;
    let kind = tag.kind.as_str();
    let Some(text) = tag.value.as_str() else {
        return Some(match (kind, &tag.value) {
            ("int64", Value::Number(n)) => {
                V::IntValue(n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?)
            }
            ("float64", Value::Number(n)) => V::DoubleValue(n.as_f64()?),
            ("bool", Value::Bool(b)) => V::BoolValue(*b),
            (_, value) => V::StringValue(format!("invalid {kind} type in {value}")),
        });
    };
    let conversion =
        |err: String| V::StringValue(format!("Can't convert the type {kind} for the key {}: {err}", tag.key));
    Some(match kind {
        "string" => V::StringValue(text.to_owned()),
        "bool" => match text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => V::BoolValue(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => V::BoolValue(false),
            _ => conversion(format!("strconv.ParseBool: parsing {text:?}: invalid syntax")),
        },
        "int64" => match text.parse::<i64>() {
            Ok(i) => V::IntValue(i),
            Err(_) => conversion(format!("strconv.ParseInt: parsing {text:?}: invalid syntax")),
        },
        "float64" => match text.parse::<f64>() {
            Ok(f) => V::DoubleValue(f),
            Err(_) => conversion(format!("strconv.ParseFloat: parsing {text:?}: invalid syntax")),
        },
        "binary" => match hex::decode(text) {
            Ok(bytes) => V::BytesValue(bytes),
            Err(err) => conversion(format!("encoding/hex: {err}")),
        },
        other => V::StringValue(format!("<Unknown Jaeger TagType {other:?}>")),
    })
}
