//! Search semantics of Jaeger v2.20.0's memory store (`internal/storage/v2/memory/tenant.go`):
//! every condition must hold on one span, bounds are inclusive in ns, and attributes compare
//! as strings the way pdata's `Value.AsString` renders them.

use std::collections::HashMap;

use base64::Engine as _;
use spoor_pipeline::otlp::{AnyValue, InstrumentationScope, KeyValue, Resource, Span, any_value};

use crate::{DependencyLink, Operation, TraceQuery};

const ERROR_KEY: &str = "error";
const SPAN_STATUS_KEY: &str = "span.status";
const SPAN_KIND_KEY: &str = "span.kind";
const SCOPE_NAME_KEY: &str = "scope.name";
const SCOPE_VERSION_KEY: &str = "scope.version";
const RESOURCE_PREFIX: &str = "resource.";

const STATUS_UNSET: i32 = 0;
const STATUS_OK: i32 = 1;
const STATUS_ERROR: i32 = 2;

/// A [`TraceQuery`] prepared for evaluation against spans.
#[derive(Debug, Clone)]
pub(crate) struct SpanFilter {
    pub service: String,
    pub operation: Option<String>,
    pub start_min: Option<u64>,
    pub start_max: Option<u64>,
    duration_min: Option<u64>,
    duration_max: Option<u64>,
    /// `Some(None)`: an `error` value that is not a bool, which no span matches.
    error: Option<Option<bool>>,
    status: Option<i32>,
    kind: Option<i32>,
    scope_name: Option<String>,
    scope_version: Option<String>,
    resource_attributes: Vec<(String, String)>,
    attributes: Vec<(String, String)>,
}

impl SpanFilter {
    pub fn new(query: &TraceQuery) -> Self {
        let mut filter = Self {
            service: query.service_name.clone(),
            operation: query.operation_name.clone().filter(|name| !name.is_empty()),
            start_min: query.start_time_min,
            start_max: query.start_time_max,
            duration_min: nonzero_nanos(query.duration_min),
            duration_max: nonzero_nanos(query.duration_max),
            error: None,
            status: None,
            kind: None,
            scope_name: None,
            scope_version: None,
            resource_attributes: Vec::new(),
            attributes: Vec::new(),
        };
        for (key, value) in &query.attributes {
            match key.as_str() {
                ERROR_KEY => filter.error = Some(parse_go_bool(value)),
                SPAN_STATUS_KEY => filter.status = Some(status_from_string(value)),
                SPAN_KIND_KEY => filter.kind = Some(kind_from_string(value)),
                SCOPE_NAME_KEY => filter.scope_name = Some(value.clone()),
                SCOPE_VERSION_KEY => filter.scope_version = Some(value.clone()),
                _ => match key.strip_prefix(RESOURCE_PREFIX) {
                    Some(resource_key) => filter.resource_attributes.push((resource_key.to_owned(), value.clone())),
                    None => filter.attributes.push((key.clone(), value.clone())),
                },
            }
        }
        filter
    }

    pub fn matches_service(&self, service: &str) -> bool {
        self.service.is_empty() || self.service == service
    }

    /// The checks that need only the span's typed fields; cheap enough to run before the
    /// attributes are decoded.
    pub fn matches_fields(&self, name: &str, kind: i32, status_code: i32, start: u64, end: u64) -> bool {
        if self.operation.as_deref().is_some_and(|op| op != name) {
            return false;
        }
        if self.start_min.is_some_and(|min| start < min) || self.start_max.is_some_and(|max| start > max) {
            return false;
        }
        let duration = i128::from(end) - i128::from(start);
        if self.duration_min.is_some_and(|min| duration < i128::from(min))
            || self.duration_max.is_some_and(|max| duration > i128::from(max))
        {
            return false;
        }
        match self.error {
            Some(None) => return false,
            Some(Some(true)) if status_code != STATUS_ERROR => return false,
            Some(Some(false)) if status_code != STATUS_OK => return false,
            _ => {}
        }
        if self.status.is_some_and(|status| status != status_code) {
            return false;
        }
        self.kind.is_none_or(|expected| expected == kind)
    }

    /// Whether `span` (of a resource whose service already matched) satisfies every condition.
    pub fn matches_span(&self, resource: Option<&Resource>, scope: Option<&InstrumentationScope>, span: &Span) -> bool {
        let status_code = span.status.as_ref().map_or(STATUS_UNSET, |s| s.code);
        self.matches_fields(&span.name, span.kind, status_code, span.start_time_unix_nano, span.end_time_unix_nano)
            && self.matches_attributes(resource, scope, span)
    }

    /// Which typed fields [`Self::matches_fields`] looks at besides the start: the name, kind,
    /// status code and duration. A field it does not look at may be passed as 0 or "".
    pub fn fields_needed(&self) -> FieldsNeeded {
        FieldsNeeded {
            name: self.operation.is_some(),
            kind: self.kind.is_some(),
            status_code: self.error.is_some() || self.status.is_some(),
            duration: self.duration_min.is_some() || self.duration_max.is_some(),
        }
    }

    /// Whether a search needs more than the span's typed fields ([`Self::matches_fields`]):
    /// attributes, the scope or the resource.
    pub fn needs_attributes(&self) -> bool {
        !self.attributes.is_empty()
            || !self.resource_attributes.is_empty()
            || self.scope_name.is_some()
            || self.scope_version.is_some()
    }

    /// The conditions of [`Self::matches_span`] beyond [`Self::matches_fields`]: scope name and
    /// version, resource attributes, and attributes of the span, its scope, resource, events
    /// or links. Reads no typed field of `span`.
    pub fn matches_attributes(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        let scope_name = scope.map_or("", |s| s.name.as_str());
        let scope_version = scope.map_or("", |s| s.version.as_str());
        if self.scope_name.as_deref().is_some_and(|name| name != scope_name)
            || self.scope_version.as_deref().is_some_and(|version| version != scope_version)
        {
            return false;
        }
        let resource_attributes = resource.map_or(&[][..], |r| r.attributes.as_slice());
        if !self.resource_attributes.iter().all(|(key, value)| attribute_matches(resource_attributes, key, value)) {
            return false;
        }
        let scope_attributes = scope.map_or(&[][..], |s| s.attributes.as_slice());
        self.attributes.iter().all(|(key, value)| {
            attribute_matches(&span.attributes, key, value)
                || attribute_matches(scope_attributes, key, value)
                || attribute_matches(resource_attributes, key, value)
                || span.events.iter().any(|e| attribute_matches(&e.attributes, key, value))
                || span.links.iter().any(|l| attribute_matches(&l.attributes, key, value))
        })
    }
}

/// See [`SpanFilter::fields_needed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldsNeeded {
    pub name: bool,
    pub kind: bool,
    pub status_code: bool,
    pub duration: bool,
}

fn nonzero_nanos(duration: Option<std::time::Duration>) -> Option<u64> {
    duration.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).filter(|&ns| ns != 0)
}

/// pcommon's `Map.Get` returns the first entry with the key.
fn attribute_matches(attributes: &[KeyValue], key: &str, expected: &str) -> bool {
    attributes.iter().find(|kv| kv.key == key).is_some_and(|kv| any_value_as_string(kv.value.as_ref()) == expected)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn status_from_string(text: &str) -> i32 {
    match text.to_ascii_uppercase().as_str() {
        "OK" => STATUS_OK,
        "ERROR" => STATUS_ERROR,
        _ => STATUS_UNSET,
    }
}

fn kind_from_string(text: &str) -> i32 {
    match text.to_ascii_uppercase().as_str() {
        "INTERNAL" => 1,
        "SERVER" => 2,
        "CLIENT" => 3,
        "PRODUCER" => 4,
        "CONSUMER" => 5,
        _ => 0,
    }
}

/// Jaeger's name for an OTLP span kind: lowercase, and empty for unspecified or unknown.
pub(crate) fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "",
    }
}

pub(crate) fn operation_of(span: &Span) -> Operation {
    Operation { name: span.name.clone(), span_kind: kind_name(span.kind).to_owned() }
}

/// The `service.name` resource attribute when it is a string (pcommon's `Value.Str`).
pub(crate) fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// Call counts per `(parent, child)` service pair, as the sorted links `/api/dependencies` answers.
pub(crate) fn dependency_links(counts: HashMap<(String, String), u64>) -> Vec<DependencyLink> {
    let mut links: Vec<DependencyLink> =
        counts.into_iter().map(|((parent, child), call_count)| DependencyLink { parent, child, call_count }).collect();
    links.sort();
    links
}

/// An attribute value as pdata's `Value.AsString` renders it: strings as they are, ints in
/// decimal, doubles as Go's JSON encoder prints them, bools `true`/`false`, bytes in base64,
/// and arrays and maps as JSON.
pub fn any_value_as_string(value: Option<&AnyValue>) -> String {
    let Some(inner) = value.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match inner {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => format_go_float(*d),
        any_value::Value::BytesValue(b) => base64::engine::general_purpose::STANDARD.encode(b),
        any_value::Value::StringValueStrindex(i) => i.to_string(),
        any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_) => {
            let mut out = String::new();
            write_json(inner, &mut out);
            out
        }
    }
}

/// Formats a double as Go's `encoding/json` (and JavaScript) do: shortest round-trip digits,
/// plain decimal unless the magnitude is below 1e-6 or at least 1e21, then `1e+21`, `1.5e-7`.
pub fn format_go_float(value: f64) -> String {
    if value.is_nan() {
        return "json: unsupported value: NaN".to_owned();
    }
    if value.is_infinite() {
        let sign = if value > 0.0 { "+" } else { "-" };
        return format!("json: unsupported value: {sign}Inf");
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let text = format!("{value:e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => format!("{mantissa}e+{exponent}"),
            _ => text,
        };
    }
    format!("{value}")
}

fn write_json(value: &any_value::Value, out: &mut String) {
    match value {
        any_value::Value::StringValue(s) => write_json_string(s, out),
        any_value::Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        any_value::Value::IntValue(i) => out.push_str(&i.to_string()),
        any_value::Value::DoubleValue(d) => out.push_str(&format_go_float(*d)),
        any_value::Value::BytesValue(b) => write_json_string(&base64::engine::general_purpose::STANDARD.encode(b), out),
        any_value::Value::StringValueStrindex(i) => out.push_str(&i.to_string()),
        any_value::Value::ArrayValue(array) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_any(item.value.as_ref(), out);
            }
            out.push(']');
        }
        any_value::Value::KvlistValue(list) => {
            // Go's encoding/json writes map keys sorted.
            let mut entries: Vec<&KeyValue> = list.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            out.push('{');
            for (i, kv) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(&kv.key, out);
                out.push(':');
                write_json_any(kv.value.as_ref().and_then(|v| v.value.as_ref()), out);
            }
            out.push('}');
        }
    }
}

fn write_json_any(value: Option<&any_value::Value>, out: &mut String) {
    match value {
        Some(value) => write_json(value, out),
        None => out.push_str("null"),
    }
}

fn write_json_string(text: &str, out: &mut String) {
    out.push_str(&serde_json::Value::String(text.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_pipeline::otlp::Status;

    fn value(v: any_value::Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn doubles_print_as_go() {
        assert_eq!(format_go_float(1.5), "1.5");
        assert_eq!(format_go_float(72.5), "72.5");
        assert_eq!(format_go_float(100.0), "100");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1e20), "100000000000000000000");
        assert_eq!(format_go_float(1.5e-7), "1.5e-7");
        assert_eq!(format_go_float(1e-6), "0.000001");
        assert_eq!(format_go_float(-2.5e300), "-2.5e+300");
        assert_eq!(format_go_float(0.0), "0");
    }

    #[test]
    fn values_render_as_pdata_as_string() {
        assert_eq!(any_value_as_string(Some(&value(any_value::Value::IntValue(-12)))), "-12");
        assert_eq!(any_value_as_string(Some(&value(any_value::Value::BoolValue(true)))), "true");
        assert_eq!(any_value_as_string(Some(&value(any_value::Value::BytesValue(vec![1, 2])))), "AQI=");
        assert_eq!(any_value_as_string(None), "");
    }

    #[test]
    fn error_and_kind_special_keys_use_span_fields() {
        let span = Span {
            name: "op".into(),
            kind: 2,
            status: Some(Status { code: STATUS_ERROR, message: String::new() }),
            ..Default::default()
        };
        let query = |pairs: &[(&str, &str)]| {
            SpanFilter::new(&TraceQuery {
                attributes: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ..Default::default()
            })
        };
        assert!(query(&[("error", "true"), ("span.kind", "server")]).matches_span(None, None, &span));
        assert!(query(&[("error", "T"), ("span.status", "Error")]).matches_span(None, None, &span));
        assert!(!query(&[("error", "false")]).matches_span(None, None, &span));
        assert!(!query(&[("error", "yes")]).matches_span(None, None, &span));
        assert!(!query(&[("span.kind", "client")]).matches_span(None, None, &span));
        assert!(query(&[("scope.name", "")]).matches_span(None, None, &span));
    }
}
