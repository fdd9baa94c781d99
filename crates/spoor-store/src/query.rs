//! Search semantics of Jaeger v2.20.0's memory store (`internal/storage/v2/memory/tenant.go`):
//! every condition must hold on one span, bounds are inclusive in ns, and attributes compare
//! as strings the way pdata's `Value.AsString` renders them.

use std::collections::HashMap;

use spoor_pipeline::otlp::span::SpanKind;
use spoor_pipeline::otlp::status::StatusCode;
use spoor_pipeline::otlp::{InstrumentationScope, KeyValue, Resource, Span, names, value};

use crate::{DependencyLink, Operation, TraceQuery};

/// Search keys of Jaeger's query that read a field of the span, its scope or its resource.
const SPAN_STATUS_KEY: &str = "span.status";
const SCOPE_NAME_KEY: &str = "scope.name";
const SCOPE_VERSION_KEY: &str = "scope.version";
const RESOURCE_PREFIX: &str = "resource.";

const STATUS_UNSET: i32 = StatusCode::Unset as i32;
const STATUS_OK: i32 = StatusCode::Ok as i32;
const STATUS_ERROR: i32 = StatusCode::Error as i32;

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
                names::ERROR => filter.error = Some(parse_go_bool(value)),
                SPAN_STATUS_KEY => filter.status = Some(status_from_string(value)),
                names::SPAN_KIND => filter.kind = Some(kind_from_string(value)),
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

    /// The conditions of [`Self::matches_attributes`], as `(source, key, value)` triples a
    /// search index answers: a span matches every one of them, and no other condition of
    /// `matches_attributes`.
    pub fn attribute_conditions(&self) -> Vec<(AttributeSource, &str, &str)> {
        let scope = [("name", &self.scope_name), ("version", &self.scope_version)];
        scope
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|value| (AttributeSource::Scope, key, value)))
            .chain(self.resource_attributes.iter().map(|(k, v)| (AttributeSource::Resource, k.as_str(), v.as_str())))
            .chain(self.attributes.iter().map(|(k, v)| (AttributeSource::Any, k.as_str(), v.as_str())))
            .collect()
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

/// Where a condition of [`SpanFilter::attribute_conditions`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum AttributeSource {
    /// The attributes of the span, its scope, resource, events or links (a plain tag).
    Any,
    /// The resource's attributes (`resource.<key>`).
    Resource,
    /// The scope's `name` or `version` (`scope.name`, `scope.version`): "" without a scope.
    Scope,
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
    attributes.iter().find(|kv| kv.key == key).is_some_and(|kv| value::as_string(kv.value.as_ref()) == expected)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A `span.status` search value in any case; anything else means unset.
fn status_from_string(text: &str) -> i32 {
    names::status_code_from_name(text).unwrap_or(StatusCode::Unset) as i32
}

/// A `span.kind` search value in any case; anything else means unspecified.
fn kind_from_string(text: &str) -> i32 {
    names::span_kind_from_name(&text.to_ascii_lowercase()).unwrap_or(SpanKind::Unspecified) as i32
}

/// Jaeger's name for an OTLP span kind: lowercase, and empty for unspecified or unknown.
pub(crate) fn kind_name(kind: i32) -> &'static str {
    names::span_kind_name(kind).unwrap_or_default()
}

pub(crate) fn operation_of(span: &Span) -> Operation {
    Operation { name: span.name.clone(), span_kind: kind_name(span.kind).to_owned() }
}

/// The `service.name` resource attribute when it is a string (pcommon's `Value.Str`).
pub(crate) fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == names::SERVICE_NAME))
        .map_or("", |kv| value::as_str(kv.value.as_ref()))
}

/// Call counts per `(parent, child)` service pair, as the sorted links `/api/dependencies` answers.
pub(crate) fn dependency_links(counts: HashMap<(String, String), u64>) -> Vec<DependencyLink> {
    let mut links: Vec<DependencyLink> =
        counts.into_iter().map(|((parent, child), call_count)| DependencyLink { parent, child, call_count }).collect();
    links.sort();
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_pipeline::otlp::{AnyValue, Status, any_value};

    fn query(pairs: &[(&str, &str)]) -> SpanFilter {
        SpanFilter::new(&TraceQuery {
            attributes: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn a_string_table_index_compares_as_an_empty_value() {
        let index = KeyValue {
            key: "k".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValueStrindex(7)) }),
            ..Default::default()
        };
        let span = Span { attributes: vec![index], ..Default::default() };
        assert!(query(&[("k", "")]).matches_span(None, None, &span));
        assert!(!query(&[("k", "7")]).matches_span(None, None, &span));
    }

    #[test]
    fn error_and_kind_special_keys_use_span_fields() {
        let span = Span {
            name: "op".into(),
            kind: 2,
            status: Some(Status { code: STATUS_ERROR, message: String::new() }),
            ..Default::default()
        };
        assert!(query(&[("error", "true"), ("span.kind", "server")]).matches_span(None, None, &span));
        assert!(query(&[("error", "T"), ("span.status", "Error")]).matches_span(None, None, &span));
        assert!(!query(&[("error", "false")]).matches_span(None, None, &span));
        assert!(!query(&[("error", "yes")]).matches_span(None, None, &span));
        assert!(!query(&[("span.kind", "client")]).matches_span(None, None, &span));
        assert!(query(&[("scope.name", "")]).matches_span(None, None, &span));
    }
}
