//! Helpers shared by the translators: an attribute map with the collector's `pcommon.Map`
//! semantics (a put replaces an existing key in place), IDs, and the span status rules of
//! collector-contrib's Jaeger translator.

use spoor_pipeline::otlp::{AnyValue, KeyValue, Span, Status, any_value, names, span, status};

/// Attributes in insertion order; putting an existing key replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Attributes(Vec<KeyValue>);

impl Attributes {
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    pub fn put(&mut self, key: &str, value: any_value::Value) {
        let value = Some(AnyValue { value: Some(value) });
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(existing) => existing.value = value,
            None => self.0.push(KeyValue { key: key.to_owned(), value, ..Default::default() }),
        }
    }

    pub fn put_str(&mut self, key: &str, value: impl Into<String>) {
        self.put(key, any_value::Value::StringValue(value.into()));
    }

    pub fn get(&self, key: &str) -> Option<&any_value::Value> {
        self.0.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|kv| kv.key == key)
    }

    /// The value as pdata's `Value.Str()` reads it: a string, or empty for other types.
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get(key).map(|value| match value {
            any_value::Value::StringValue(s) => s.clone(),
            _ => String::new(),
        })
    }

    pub fn remove(&mut self, key: &str) -> Option<any_value::Value> {
        let index = self.0.iter().position(|kv| kv.key == key)?;
        // pdata's Map.Remove moves the last entry into the hole; keep the same order.
        self.0.swap_remove(index).value.and_then(|v| v.value)
    }

    pub fn into_vec(self) -> Vec<KeyValue> {
        self.0
    }
}

pub(crate) fn trace_id(high: u64, low: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&high.to_be_bytes());
    id.extend_from_slice(&low.to_be_bytes());
    id
}

pub(crate) fn span_id(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

/// Epoch microseconds to nanoseconds, as the collector does it (wrapping like Go's uint64).
pub(crate) fn micros_to_nanos(micros: i64) -> u64 {
    (micros as u64).wrapping_mul(1000)
}

pub(crate) fn jaeger_span_kind(kind: &str) -> span::SpanKind {
    names::span_kind_from_name(kind).unwrap_or(span::SpanKind::Unspecified)
}

/// OTel's rule for an HTTP status code: 1xx-3xx leave the status unset, the rest are errors.
pub(crate) fn status_from_http(code: i64) -> status::StatusCode {
    if (100..400).contains(&code) { status::StatusCode::Unset } else { status::StatusCode::Error }
}

fn code_from_value(value: &any_value::Value) -> Option<i64> {
    match value {
        any_value::Value::IntValue(code) => Some(*code),
        any_value::Value::StringValue(text) => text.parse().ok(),
        _ => None,
    }
}

fn take_status_description(attrs: &mut Attributes) -> Option<String> {
    let description = attrs.get_str(names::OTEL_STATUS_DESCRIPTION)?;
    attrs.remove(names::OTEL_STATUS_DESCRIPTION);
    Some(description)
}

/// Sets the span status from the `error`, `otel.status_code` and `http.status_code` tags and
/// removes the tags that only carried the status. `span.kind` must be set already.
pub(crate) fn set_jaeger_status(attrs: &mut Attributes, span: &mut Span) {
    let mut code = status::StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    if let Some(any_value::Value::BoolValue(true)) = attrs.get(names::ERROR) {
        code = status::StatusCode::Error;
        attrs.remove(names::ERROR);
        exists = true;
        if let Some(description) = take_status_description(attrs) {
            message = description;
        } else if let Some(http_message) = attrs.get_str(names::HTTP_STATUS_MESSAGE) {
            message = http_message;
        }
    }
    if attrs.contains(names::OTEL_STATUS_CODE) {
        // The error tag is the ultimate truth; otel.status_code only counts without it.
        if !exists {
            exists = true;
            let value = attrs.get_str(names::OTEL_STATUS_CODE).unwrap_or_default();
            if let Some(named) = names::status_code_from_name(&value) {
                code = named;
            }
            if let Some(description) = take_status_description(attrs) {
                message = description;
            }
        }
        attrs.remove(names::OTEL_STATUS_CODE);
    } else if !exists && let Some(http) = attrs.get(names::HTTP_STATUS_CODE).and_then(code_from_value) {
        let kind = span.kind;
        let from_http = if (400..500).contains(&http) && kind == span::SpanKind::Server as i32 {
            status::StatusCode::Unset
        } else if (400..500).contains(&http) && kind == span::SpanKind::Client as i32 {
            status::StatusCode::Error
        } else {
            status_from_http(http)
        };
        if from_http != status::StatusCode::Unset {
            exists = true;
            code = from_http;
        }
        if let Some(http_message) = attrs.get_str(names::HTTP_STATUS_MESSAGE) {
            message = http_message;
        }
    }
    if exists {
        span.status = Some(Status { code: code as i32, message });
    }
}

/// `hostname` becomes `host.name` and `jaeger.version` becomes `opencensus.exporterversion`,
/// unless the target key is already there.
pub(crate) fn translate_process_keys(attrs: &mut Attributes) {
    if !attrs.contains(names::HOST_NAME)
        && let Some(value) = attrs.get(names::HOSTNAME).cloned()
    {
        attrs.put(names::HOST_NAME, value);
        attrs.remove(names::HOSTNAME);
    }
    if attrs.contains(names::JAEGER_VERSION) && !attrs.contains(names::OPENCENSUS_EXPORTER_VERSION) {
        let version = attrs.get_str(names::JAEGER_VERSION).unwrap_or_default();
        attrs.put_str(names::OPENCENSUS_EXPORTER_VERSION, format!("Jaeger-{version}"));
        attrs.remove(names::JAEGER_VERSION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(tags: &[(&str, any_value::Value)], kind: span::SpanKind) -> Option<Status> {
        let mut attrs = Attributes::default();
        for (key, value) in tags {
            attrs.put(key, value.clone());
        }
        let mut span = Span { kind: kind as i32, ..Default::default() };
        set_jaeger_status(&mut attrs, &mut span);
        span.status
    }

    fn s(text: &str) -> any_value::Value {
        any_value::Value::StringValue(text.to_owned())
    }

    #[test]
    fn status_rules() {
        let error = status::StatusCode::Error as i32;
        let ok = status::StatusCode::Ok as i32;
        let unspecified = span::SpanKind::Unspecified;
        let got = status_of(
            &[
                ("error", any_value::Value::BoolValue(true)),
                ("otel.status_description", s("boom")),
                ("otel.status_code", s("OK")),
            ],
            unspecified,
        )
        .unwrap();
        assert_eq!((got.code, got.message.as_str()), (error, "boom"));
        let got = status_of(&[("otel.status_code", s("ok"))], unspecified).unwrap();
        assert_eq!(got.code, ok);
        let got = status_of(&[("http.status_code", any_value::Value::IntValue(404))], span::SpanKind::Server);
        assert_eq!(got, None);
        let got = status_of(&[("http.status_code", s("404"))], span::SpanKind::Client).unwrap();
        assert_eq!(got.code, error);
        let got = status_of(&[("http.status_code", any_value::Value::IntValue(503))], unspecified).unwrap();
        assert_eq!(got.code, error);
        // A string "true" is not the error tag.
        assert_eq!(status_of(&[("error", s("true"))], unspecified), None);
    }
}
