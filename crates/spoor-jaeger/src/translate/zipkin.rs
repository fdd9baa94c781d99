//! Zipkin v2 (JSON and protobuf) to OTLP, as collector-contrib's `zipkinv2.ToTranslator` does it:
//! - spans are grouped by local service name (the resource) and `otel.library.name` (the scope);
//! - the local endpoint's service name becomes `service.name` (or the key named by
//!   `otlp.service.name.source`), and resource-convention tags move to the resource;
//! - `kind` becomes the span kind (`span.kind=internal` when there is none);
//! - `otel.status_code`/`otel.status_description` and `error` set the status;
//! - endpoints become `net.host.ip`/`net.host.port` and `peer.service`/`net.peer.ip`/
//!   `net.peer.port`; annotations become events; `otlp.link.N` tags become links;
//! - with `parse_string_tags`, tag values that look like integers, floats or booleans are typed.
//!
//! Shared spans (`shared: true`, a server span that reuses its client's ID) are stored with that
//! ID, as the collector does (the flag itself is dropped). The query side's
//! `DeduplicateClientServerSpanIDs` adjuster ([`crate::model::adjust`]) then gives a SERVER span
//! that has a CLIENT twin in the trace a new ID and makes the shared ID its parent.
//! Unlike the collector, an annotation value with `|` that is not an OTel-encoded event stays
//! the event name instead of failing the request.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use serde_json::Value as Json;
use spoor_pipeline::otlp::{
    InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status, any_value, names, span, status,
};

use super::TranslateError;
use super::attrs::{self, Attributes};

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("zipkin.proto3");
}

pub(crate) const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";
const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";

/// The Zipkin v2 span model, decoded from JSON or protobuf.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZipkinSpan {
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub id: u64,
    pub parent_id: Option<u64>,
    pub kind: Option<String>,
    pub name: String,
    /// Epoch microseconds; `None` when absent.
    pub timestamp: Option<u64>,
    pub duration: u64,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<(u64, String)>,
    /// In the order received; a repeated key keeps its last value.
    pub tags: Vec<(String, String)>,
    pub shared: bool,
    pub debug: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: i32,
}

// ---------------------------------------------------------------------------------------------
// Decoding

fn hex_u64(text: &str, what: &str) -> Result<u64, TranslateError> {
    if text.is_empty() || text.len() > 16 {
        return Err(TranslateError(format!("{what} {text:?} is not 1 to 16 hex digits")));
    }
    u64::from_str_radix(text, 16).map_err(|_| TranslateError(format!("{what} {text:?} is not hex")))
}

/// A hex trace ID of up to 32 digits, as zipkin-go reads it: `(high, low)`.
pub(crate) fn hex_trace_id(text: &str) -> Result<(u64, u64), TranslateError> {
    if text.is_empty() || text.len() > 32 {
        return Err(TranslateError(format!("traceId {text:?} is not 1 to 32 hex digits")));
    }
    let split = text.len().saturating_sub(16);
    let high = if split > 0 { hex_u64(&text[..split], "traceId")? } else { 0 };
    Ok((high, hex_u64(&text[split..], "traceId")?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    local_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Option<Vec<JsonAnnotation>>,
    #[serde(default)]
    tags: Option<serde_json::Map<String, Json>>,
    #[serde(default)]
    debug: Option<bool>,
    #[serde(default)]
    shared: Option<bool>,
}

/// A Zipkin JSON endpoint; v1 and v2 spell it the same way.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsonEndpoint {
    #[serde(default)]
    pub(crate) service_name: Option<String>,
    #[serde(default)]
    pub(crate) ipv4: Option<String>,
    #[serde(default)]
    pub(crate) ipv6: Option<String>,
    #[serde(default)]
    pub(crate) port: Option<i32>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    value: String,
}

fn json_endpoint(endpoint: Option<JsonEndpoint>) -> Option<Endpoint> {
    let endpoint = endpoint?;
    let out = Endpoint {
        service_name: endpoint.service_name.unwrap_or_default(),
        ipv4: endpoint.ipv4.and_then(|ip| ip.parse().ok()),
        ipv6: endpoint.ipv6.and_then(|ip| ip.parse().ok()),
        port: endpoint.port.unwrap_or_default(),
    };
    (out != Endpoint::default()).then_some(out)
}

/// Tag values are strings in Zipkin; numbers and booleans are taken as their JSON text.
fn json_tag_value(value: Json) -> Result<String, TranslateError> {
    match value {
        Json::String(text) => Ok(text),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(TranslateError(format!("tag value {other} is not a string"))),
    }
}

/// Decodes a `POST /api/v2/spans` JSON body: an array of spans.
pub fn decode_v2_json(body: &[u8]) -> Result<Vec<ZipkinSpan>, TranslateError> {
    let spans: Vec<JsonSpan> =
        serde_json::from_slice(body).map_err(|err| TranslateError(format!("zipkin v2 json: {err}")))?;
    spans.into_iter().map(json_span).collect()
}

fn json_span(span: JsonSpan) -> Result<ZipkinSpan, TranslateError> {
    let (trace_id_high, trace_id_low) = hex_trace_id(&span.trace_id)?;
    if trace_id_high == 0 && trace_id_low == 0 {
        return Err(TranslateError("traceId is zero".to_owned()));
    }
    let id = hex_u64(&span.id, "id")?;
    if id == 0 {
        return Err(TranslateError("id is zero".to_owned()));
    }
    let parent_id = match span.parent_id.as_deref() {
        None | Some("") => None,
        Some(parent) => Some(hex_u64(parent, "parentId")?),
    };
    let mut tags = Vec::new();
    for (key, value) in span.tags.unwrap_or_default() {
        tags.push((key, json_tag_value(value)?));
    }
    Ok(ZipkinSpan {
        trace_id_high,
        trace_id_low,
        id,
        parent_id,
        kind: span.kind,
        name: span.name.unwrap_or_default(),
        timestamp: span.timestamp.filter(|t| *t > 0),
        duration: span.duration.unwrap_or_default(),
        local_endpoint: json_endpoint(span.local_endpoint),
        remote_endpoint: json_endpoint(span.remote_endpoint),
        annotations: span.annotations.unwrap_or_default().into_iter().map(|a| (a.timestamp, a.value)).collect(),
        tags,
        shared: span.shared.unwrap_or_default(),
        debug: span.debug.unwrap_or_default(),
    })
}

fn bytes_u64(bytes: &[u8], what: &str) -> Result<u64, TranslateError> {
    let array: [u8; 8] =
        bytes.try_into().map_err(|_| TranslateError(format!("{what} is {} bytes, expected 8", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

fn proto_endpoint(endpoint: Option<proto::Endpoint>) -> Option<Endpoint> {
    let endpoint = endpoint?;
    let ipv4 = <[u8; 4]>::try_from(endpoint.ipv4.as_slice()).ok().map(Ipv4Addr::from);
    let ipv6 = <[u8; 16]>::try_from(endpoint.ipv6.as_slice()).ok().map(Ipv6Addr::from);
    let out = Endpoint { service_name: endpoint.service_name, ipv4, ipv6, port: endpoint.port };
    (out != Endpoint::default()).then_some(out)
}

/// Decodes a `POST /api/v2/spans` protobuf body: a `zipkin.proto3.ListOfSpans`.
pub fn decode_v2_proto(body: &[u8]) -> Result<Vec<ZipkinSpan>, TranslateError> {
    use prost::Message;
    let list = proto::ListOfSpans::decode(body).map_err(|err| TranslateError(format!("zipkin v2 protobuf: {err}")))?;
    list.spans.into_iter().map(proto_span).collect()
}

fn proto_span(span: proto::Span) -> Result<ZipkinSpan, TranslateError> {
    let (trace_id_high, trace_id_low) = match span.trace_id.len() {
        8 => (0, bytes_u64(&span.trace_id, "trace_id")?),
        16 => (bytes_u64(&span.trace_id[..8], "trace_id")?, bytes_u64(&span.trace_id[8..], "trace_id")?),
        n => return Err(TranslateError(format!("trace_id is {n} bytes, expected 8 or 16"))),
    };
    let id = bytes_u64(&span.id, "id")?;
    let parent_id = if span.parent_id.is_empty() { None } else { Some(bytes_u64(&span.parent_id, "parent_id")?) };
    let kind = match proto::span::Kind::try_from(span.kind) {
        Ok(proto::span::Kind::Client) => Some("CLIENT".to_owned()),
        Ok(proto::span::Kind::Server) => Some("SERVER".to_owned()),
        Ok(proto::span::Kind::Producer) => Some("PRODUCER".to_owned()),
        Ok(proto::span::Kind::Consumer) => Some("CONSUMER".to_owned()),
        _ => None,
    };
    let mut tags: Vec<(String, String)> = span.tags.into_iter().collect();
    // Protobuf maps have no order; sort so that the same body always translates the same.
    tags.sort();
    Ok(ZipkinSpan {
        trace_id_high,
        trace_id_low,
        id,
        parent_id,
        kind,
        name: span.name,
        timestamp: (span.timestamp > 0).then_some(span.timestamp),
        duration: span.duration,
        local_endpoint: proto_endpoint(span.local_endpoint),
        remote_endpoint: proto_endpoint(span.remote_endpoint),
        annotations: span.annotations.into_iter().map(|a| (a.timestamp, a.value)).collect(),
        tags,
        shared: span.shared,
        debug: span.debug,
    })
}

// ---------------------------------------------------------------------------------------------
// Translation

/// Resource attribute names (semantic conventions 1.6.1) and the OpenCensus keys the collector
/// treats as resource-level: they never become span attributes.
const RESOURCE_KEYS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "service.version",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
    "telemetry.auto.version",
    "cloud.provider",
    "cloud.account.id",
    "cloud.region",
    "cloud.availability_zone",
    "cloud.platform",
    "aws.ecs.container.arn",
    "aws.ecs.cluster.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.names",
    "aws.log.group.arns",
    "aws.log.stream.names",
    "aws.log.stream.arns",
    "container.name",
    "container.id",
    "container.runtime",
    "container.image.name",
    "container.image.tag",
    "deployment.environment",
    "device.id",
    "device.model.identifier",
    "device.model.name",
    "faas.name",
    "faas.id",
    "faas.version",
    "faas.instance",
    "faas.max_memory",
    "host.id",
    "host.name",
    "host.type",
    "host.arch",
    "host.image.name",
    "host.image.id",
    "host.image.version",
    "k8s.cluster.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.namespace.name",
    "k8s.pod.uid",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.replicaset.uid",
    "k8s.replicaset.name",
    "k8s.deployment.uid",
    "k8s.deployment.name",
    "k8s.statefulset.uid",
    "k8s.statefulset.name",
    "k8s.daemonset.uid",
    "k8s.daemonset.name",
    "k8s.job.uid",
    "k8s.job.name",
    "k8s.cronjob.uid",
    "k8s.cronjob.name",
    "os.type",
    "os.description",
    "os.name",
    "os.version",
    "process.pid",
    "process.executable.name",
    "process.executable.path",
    "process.command",
    "process.command_line",
    "process.command_args",
    "process.owner",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "webengine.name",
    "webengine.version",
    "webengine.description",
    "opencensus.starttime",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
];

fn is_non_span_key(key: &str) -> bool {
    key == SERVICE_NAME_SOURCE
        || key == names::OTEL_LIBRARY_NAME
        || key == names::OTEL_LIBRARY_VERSION
        || RESOURCE_KEYS.contains(&key)
}

/// Tags with last-wins semantics, for lookups and deletes as the collector does on its map.
struct Tags(Vec<(String, String)>);

impl Tags {
    fn new(tags: &[(String, String)]) -> Self {
        let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
        for (key, value) in tags {
            match out.iter_mut().find(|(k, _)| k == key) {
                Some(existing) => existing.1 = value.clone(),
                None => out.push((key.clone(), value.clone())),
            }
        }
        Self(out)
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(index).1)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn local_service_name(span: &ZipkinSpan) -> &str {
    match &span.local_endpoint {
        Some(endpoint) if !endpoint.service_name.is_empty() => &endpoint.service_name,
        _ => names::RESOURCE_NO_SERVICE_NAME,
    }
}

fn library_name(span: &ZipkinSpan) -> &str {
    span.tags.iter().rev().find(|(k, _)| k == names::OTEL_LIBRARY_NAME).map_or("", |(_, v)| v.as_str())
}

/// Translates Zipkin v2 spans into OTLP.
pub fn v2_to_otlp(mut spans: Vec<ZipkinSpan>, parse_string_tags: bool) -> Result<Vec<ResourceSpans>, TranslateError> {
    spans.sort_by(|a, b| {
        local_service_name(a).cmp(local_service_name(b)).then_with(|| library_name(a).cmp(library_name(b)))
    });
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut previous: Option<(String, String)> = None;
    for zspan in spans {
        let mut tags = Tags::new(&zspan.tags);
        let service = local_service_name(&zspan).to_owned();
        let library = library_name(&zspan).to_owned();
        let new_resource = previous.as_ref().is_none_or(|(s, _)| *s != service);
        if new_resource {
            out.push(ResourceSpans {
                resource: Some(resource_from_span(&mut tags, &service)),
                scope_spans: Vec::new(),
                schema_url: String::new(),
            });
        }
        let new_scope = new_resource || previous.as_ref().is_some_and(|(_, l)| *l != library);
        // `out` is never empty here: the first span always starts a resource.
        let Some(resource) = out.last_mut() else {
            continue;
        };
        if new_scope {
            resource.scope_spans.push(ScopeSpans {
                scope: Some(scope_from_span(&mut tags, &library)),
                spans: Vec::new(),
                schema_url: String::new(),
            });
        }
        let translated = span_to_otlp(&zspan, tags, parse_string_tags)?;
        if let Some(scope) = resource.scope_spans.last_mut() {
            scope.spans.push(translated);
        }
        previous = Some((service, library));
    }
    Ok(out)
}

fn resource_from_span(tags: &mut Tags, service: &str) -> Resource {
    let mut attrs = Attributes::default();
    if service == names::RESOURCE_NO_SERVICE_NAME {
        return Resource::default();
    }
    if tags.is_empty() {
        attrs.put_str(names::SERVICE_NAME, service);
        return Resource { attributes: attrs.into_vec(), ..Default::default() };
    }
    match tags.remove(SERVICE_NAME_SOURCE) {
        Some(source) if !source.is_empty() => attrs.put_str(&source, service),
        _ => attrs.put_str(names::SERVICE_NAME, service),
    }
    for key in RESOURCE_KEYS {
        if let Some(value) = tags.remove(key) {
            attrs.put_str(key, value);
        }
    }
    Resource { attributes: attrs.into_vec(), ..Default::default() }
}

fn scope_from_span(tags: &mut Tags, library: &str) -> InstrumentationScope {
    let mut scope = InstrumentationScope::default();
    if library.is_empty() {
        return scope;
    }
    if let Some(name) = tags.remove(names::OTEL_LIBRARY_NAME) {
        scope.name = name;
    }
    if let Some(version) = tags.remove(names::OTEL_LIBRARY_VERSION) {
        scope.version = version;
    }
    scope
}

fn span_to_otlp(zspan: &ZipkinSpan, mut tags: Tags, parse_string_tags: bool) -> Result<Span, TranslateError> {
    let mut out = Span {
        trace_id: attrs::trace_id(zspan.trace_id_high, zspan.trace_id_low),
        span_id: attrs::span_id(zspan.id),
        name: zspan.name.clone(),
        ..Default::default()
    };
    if let Some(state) = tags.remove(names::W3C_TRACESTATE) {
        out.trace_state = state;
    }
    if let Some(parent) = zspan.parent_id.filter(|p| *p != zspan.id) {
        out.parent_span_id = attrs::span_id(parent);
    }
    out.kind = span_kind(zspan.kind.as_deref(), &mut tags) as i32;
    out.status = span_status(&mut tags);
    out.links = links_from_tags(&mut tags)?;
    let mut attributes = Attributes::with_capacity(tags.0.len() + 4);
    for (key, value) in tags.0 {
        if is_non_span_key(&key) {
            continue;
        }
        let value = if parse_string_tags { typed_value(value) } else { any_value::Value::StringValue(value) };
        attributes.put(&key, value);
    }
    endpoint_attributes(zspan, &mut attributes);
    match zspan.timestamp {
        Some(timestamp) => {
            out.start_time_unix_nano = timestamp.wrapping_mul(1000);
            out.end_time_unix_nano = timestamp.wrapping_add(zspan.duration).wrapping_mul(1000);
        }
        None => {
            out.start_time_unix_nano = 0;
            out.end_time_unix_nano = zspan.duration.wrapping_mul(1000);
            attributes.put(START_TIME_ABSENT, any_value::Value::BoolValue(true));
        }
    }
    out.attributes = attributes.into_vec();
    out.events = zspan.annotations.iter().map(|(timestamp, value)| annotation_to_event(*timestamp, value)).collect();
    Ok(out)
}

fn span_kind(kind: Option<&str>, tags: &mut Tags) -> span::SpanKind {
    match kind.map(str::to_ascii_uppercase).as_deref() {
        Some("CLIENT") => span::SpanKind::Client,
        Some("SERVER") => span::SpanKind::Server,
        Some("PRODUCER") => span::SpanKind::Producer,
        Some("CONSUMER") => span::SpanKind::Consumer,
        _ => match tags.remove(names::SPAN_KIND).as_deref() {
            Some("internal") => span::SpanKind::Internal,
            _ => span::SpanKind::Unspecified,
        },
    }
}

/// `otel.status_code` as the Zipkin exporters write it: the proto enum names, the names the
/// old collector exporter used, and the `OK`/`ERROR` of the OTel spec.
fn status_code_value(value: &str) -> status::StatusCode {
    match value {
        "STATUS_CODE_OK" | "Ok" | "OK" => status::StatusCode::Ok,
        "STATUS_CODE_ERROR" | "Error" | "ERROR" => status::StatusCode::Error,
        _ => status::StatusCode::Unset,
    }
}

fn span_status(tags: &mut Tags) -> Option<Status> {
    let mut status = Status::default();
    if let Some(code) = tags.remove(names::OTEL_STATUS_CODE) {
        status.code = status_code_value(&code) as i32;
        if let Some(message) = tags.remove(names::OTEL_STATUS_DESCRIPTION) {
            status.message = message;
        }
    }
    if let Some(error) = tags.get(names::ERROR) {
        status.code = status::StatusCode::Error as i32;
        // Any value marks an error; only a plain "true" carries nothing more and is dropped.
        if error == "true" {
            tags.remove(names::ERROR);
        }
    }
    (status != Status::default()).then_some(status)
}

/// The collector's `DetermineValueType`: integers, decimals and `true`/`false` are typed.
pub(crate) fn typed_value(text: String) -> any_value::Value {
    use any_value::Value;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    if digits(unsigned) {
        if let Ok(int) = text.parse::<i64>() {
            return Value::IntValue(int);
        }
    } else if let Some((whole, fraction)) = unsigned.split_once('.')
        && digits(whole)
        && digits(fraction)
    {
        if let Ok(double) = text.parse::<f64>() {
            return Value::DoubleValue(double);
        }
    } else if text == "true" || text == "false" {
        return Value::BoolValue(text == "true");
    }
    Value::StringValue(text)
}

fn endpoint_attributes(zspan: &ZipkinSpan, attributes: &mut Attributes) {
    if let Some(local) = &zspan.local_endpoint {
        if let Some(ip) = local.ipv4 {
            attributes.put_str("net.host.ip", ip.to_string());
        }
        if let Some(ip) = local.ipv6 {
            attributes.put_str("net.host.ip", ip.to_string());
        }
        if local.port > 0 {
            attributes.put("net.host.port", any_value::Value::IntValue(i64::from(local.port)));
        }
    }
    if let Some(remote) = &zspan.remote_endpoint {
        if !remote.service_name.is_empty() {
            attributes.put_str("peer.service", remote.service_name.as_str());
        }
        if let Some(ip) = remote.ipv4 {
            attributes.put_str("net.peer.ip", ip.to_string());
        }
        if let Some(ip) = remote.ipv6 {
            attributes.put_str("net.peer.ip", ip.to_string());
        }
        if remote.port > 0 {
            attributes.put("net.peer.port", any_value::Value::IntValue(i64::from(remote.port)));
        }
    }
}

/// JSON attributes as the OTel Zipkin exporter encodes events and links: whole numbers are
/// integers, other numbers doubles; nested values are dropped.
fn json_attributes(text: &str) -> Option<Attributes> {
    let map: serde_json::Map<String, Json> = serde_json::from_str(text).ok()?;
    let mut attributes = Attributes::with_capacity(map.len());
    for (key, value) in map {
        match value {
            Json::String(s) => attributes.put_str(&key, s),
            Json::Bool(b) => attributes.put(&key, any_value::Value::BoolValue(b)),
            Json::Number(n) => {
                let d = n.as_f64().unwrap_or_default();
                let value = match n.as_i64() {
                    Some(i) => any_value::Value::IntValue(i),
                    None if d.fract() == 0.0 && d.abs() < 9.2e18 => any_value::Value::IntValue(d as i64),
                    None => any_value::Value::DoubleValue(d),
                };
                attributes.put(&key, value);
            }
            _ => {}
        }
    }
    Some(attributes)
}

/// `name|{json attributes}|dropped` (the JSON may itself contain `|`).
fn split_encoded(value: &str) -> Option<(&str, &str, u32)> {
    let (name, rest) = value.split_once('|')?;
    let (json, dropped) = rest.rsplit_once('|')?;
    Some((name, json, dropped.parse().ok()?))
}

fn annotation_to_event(timestamp: u64, value: &str) -> span::Event {
    let mut event =
        span::Event { time_unix_nano: timestamp.wrapping_mul(1000), name: value.to_owned(), ..Default::default() };
    if let Some((name, json, dropped)) = split_encoded(value)
        && let Some(attributes) = json_attributes(json)
    {
        event.name = name.to_owned();
        event.attributes = attributes.into_vec();
        event.dropped_attributes_count = dropped;
    } else if let Some((name, _)) = value.split_once('|')
        && value.matches('|').count() < 2
    {
        // The collector names the event by the text before the first `|`.
        event.name = name.to_owned();
    }
    event
}

fn hex_id<const N: usize>(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_matches('"');
    let bytes = hex::decode(text).ok()?;
    (bytes.len() == N).then_some(bytes)
}

/// `otlp.link.0`, `otlp.link.1`, ...: `traceId|spanId|traceState|{attributes}|dropped`.
fn links_from_tags(tags: &mut Tags) -> Result<Vec<span::Link>, TranslateError> {
    let mut links = Vec::new();
    for index in 0..128 {
        let Some(value) = tags.remove(&format!("otlp.link.{index}")) else {
            break;
        };
        let parts: Vec<&str> = value.splitn(4, '|').collect();
        let [trace, span_id, state, rest] = parts.as_slice() else {
            continue;
        };
        let Some((json, dropped)) = rest.rsplit_once('|') else {
            continue;
        };
        let bad = || TranslateError(format!("invalid otlp.link.{index}: {value:?}"));
        let link = span::Link {
            trace_id: hex_id::<16>(trace).ok_or_else(bad)?,
            span_id: hex_id::<8>(span_id).ok_or_else(bad)?,
            trace_state: (*state).to_owned(),
            attributes: json_attributes(json).ok_or_else(bad)?.into_vec(),
            dropped_attributes_count: dropped.parse().map_err(|_| bad())?,
            flags: 0,
        };
        links.push(link);
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_support::attr_strings;

    const V2_JSON: &str = r#"[{
        "traceId": "5af7183fb1d4cf5f0102030405060708", "id": "352bff9a74ca9ad2",
        "parentId": "6b221d5bc9e6496c", "kind": "CLIENT", "name": "get /api",
        "timestamp": 1556604172355737, "duration": 1431,
        "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "backend", "ipv4": "172.19.0.2", "port": 9000},
        "annotations": [{"timestamp": 1556604172355800, "value": "wire send"},
                        {"timestamp": 1556604172355900, "value": "exception|{\"message\":\"x\",\"n\":2}|1"}],
        "tags": {"http.method": "GET", "http.status_code": "500", "error": "boom",
                 "ratio": "0.5", "flag": "true", "telemetry.sdk.language": "python",
                 "otel.library.name": "lib", "otel.library.version": "1.0"}
      }, {
        "traceId": "0102030405060708", "id": "0000000000000002", "name": "local",
        "localEndpoint": {"serviceName": "frontend"}, "tags": {"otel.status_code": "OK"}
      }, {
        "traceId": "0102030405060708", "id": "0000000000000003", "name": "server",
        "kind": "SERVER", "shared": true, "timestamp": 10, "duration": 5,
        "localEndpoint": {"serviceName": "backend"}
      }]"#;

    #[test]
    fn translates_v2_json() {
        let spans = decode_v2_json(V2_JSON.as_bytes()).unwrap();
        let rs = v2_to_otlp(spans, true).unwrap();
        assert_eq!(rs.len(), 2, "backend and frontend");
        let backend = &rs[0];
        assert_eq!(
            attr_strings(&backend.resource.as_ref().unwrap().attributes),
            vec![("service.name", "backend".to_owned())]
        );
        let server = &backend.scope_spans[0].spans[0];
        assert_eq!(server.kind, span::SpanKind::Server as i32);
        assert_eq!(hex::encode(&server.span_id), "0000000000000003");
        assert_eq!(server.end_time_unix_nano, 15_000);

        let frontend = &rs[1];
        assert_eq!(
            attr_strings(&frontend.resource.as_ref().unwrap().attributes),
            vec![("service.name", "frontend".to_owned())],
            "the first span of the group has no resource tags"
        );
        assert_eq!(frontend.scope_spans.len(), 2, "no library, then lib");
        let local = &frontend.scope_spans[0].spans[0];
        assert_eq!(local.status.as_ref().unwrap().code, status::StatusCode::Ok as i32);
        assert_eq!(hex::encode(&local.trace_id), "00000000000000000102030405060708");
        assert_eq!(local.start_time_unix_nano, 0);
        assert_eq!(attr_strings(&local.attributes), vec![(START_TIME_ABSENT, "true".to_owned())]);

        let scope = frontend.scope_spans[1].scope.as_ref().unwrap();
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "1.0"));
        let client = &frontend.scope_spans[1].spans[0];
        assert_eq!(hex::encode(&client.trace_id), "5af7183fb1d4cf5f0102030405060708");
        assert_eq!(hex::encode(&client.parent_span_id), "6b221d5bc9e6496c");
        assert_eq!(client.kind, span::SpanKind::Client as i32);
        assert_eq!(client.status.as_ref().unwrap().code, status::StatusCode::Error as i32);
        assert_eq!(client.start_time_unix_nano, 1_556_604_172_355_737_000);
        assert_eq!(client.end_time_unix_nano, 1_556_604_172_357_168_000);
        let attributes = attr_strings(&client.attributes);
        for expected in [
            ("http.method", "GET"),
            ("http.status_code", "500"),
            ("error", "boom"),
            ("ratio", "0.5"),
            ("flag", "true"),
            ("net.host.ip", "192.168.99.1"),
            ("net.host.port", "8080"),
            ("peer.service", "backend"),
            ("net.peer.ip", "172.19.0.2"),
            ("net.peer.port", "9000"),
        ] {
            assert!(attributes.contains(&(expected.0, expected.1.to_owned())), "{expected:?} in {attributes:?}");
        }
        assert!(!attributes.iter().any(|(k, _)| k.starts_with("telemetry.sdk")));
        let status_code = client.attributes.iter().find(|kv| kv.key == "http.status_code").unwrap();
        assert!(matches!(status_code.value.as_ref().unwrap().value, Some(any_value::Value::IntValue(500))));
        assert_eq!(client.events.len(), 2);
        assert_eq!(client.events[0].name, "wire send");
        assert_eq!(client.events[1].name, "exception");
        assert_eq!(client.events[1].dropped_attributes_count, 1);
        assert_eq!(
            attr_strings(&client.events[1].attributes),
            vec![("message", "x".to_owned()), ("n", "2".to_owned())]
        );
    }

    #[test]
    fn strings_stay_strings_without_parse_string_tags() {
        let rs = v2_to_otlp(decode_v2_json(V2_JSON.as_bytes()).unwrap(), false).unwrap();
        let client = &rs[1].scope_spans[1].spans[0];
        let status_code = client.attributes.iter().find(|kv| kv.key == "http.status_code").unwrap();
        assert!(matches!(status_code.value.as_ref().unwrap().value, Some(any_value::Value::StringValue(_))));
    }

    #[test]
    fn v2_protobuf_matches_json() {
        use prost::Message;
        let list = proto::ListOfSpans {
            spans: vec![proto::Span {
                trace_id: vec![1; 16],
                id: vec![2; 8],
                parent_id: vec![3; 8],
                kind: proto::span::Kind::Server as i32,
                name: "op".to_owned(),
                timestamp: 5,
                duration: 7,
                local_endpoint: Some(proto::Endpoint {
                    service_name: "svc".to_owned(),
                    ipv4: vec![10, 0, 0, 1],
                    ipv6: Vec::new(),
                    port: 80,
                }),
                remote_endpoint: None,
                annotations: vec![proto::Annotation { timestamp: 6, value: "ev".to_owned() }],
                tags: [("b".to_owned(), "2".to_owned()), ("a".to_owned(), "x".to_owned())].into(),
                debug: false,
                shared: true,
            }],
        };
        let from_proto = decode_v2_proto(&list.encode_to_vec()).unwrap();
        let json = r#"[{"traceId":"01010101010101010101010101010101","id":"0202020202020202",
            "parentId":"0303030303030303","kind":"SERVER","name":"op","timestamp":5,"duration":7,
            "localEndpoint":{"serviceName":"svc","ipv4":"10.0.0.1","port":80},
            "annotations":[{"timestamp":6,"value":"ev"}],"tags":{"a":"x","b":"2"},"shared":true}]"#;
        assert_eq!(from_proto, decode_v2_json(json.as_bytes()).unwrap());
        assert!(decode_v2_proto(b"\x0a\x05garbage").is_err());
        assert!(decode_v2_proto(&[0x0a, 0x02, 0x0a, 0x01]).is_err(), "trace id of 1 byte");
    }

    #[test]
    fn bad_json_is_an_error() {
        for body in [
            &b"{"[..],
            b"[{\"traceId\":\"zz\",\"id\":\"01\"}]",
            b"[{\"traceId\":\"00\",\"id\":\"01\"}]",
            b"[{\"traceId\":\"01\",\"id\":\"0\"}]",
            b"[{\"id\":\"01\"}]",
        ] {
            assert!(decode_v2_json(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn links_from_tags_decode() {
        let mut tags = Tags::new(&[(
            "otlp.link.0".to_owned(),
            "0102030405060708090a0b0c0d0e0f10|0102030405060708|state|{\"k\":\"v\"}|3".to_owned(),
        )]);
        let links = links_from_tags(&mut tags).unwrap();
        assert_eq!(links[0].trace_state, "state");
        assert_eq!(links[0].dropped_attributes_count, 3);
        assert!(tags.is_empty());
    }

    #[test]
    fn typed_values() {
        use any_value::Value;
        assert_eq!(typed_value("-12".into()), Value::IntValue(-12));
        assert_eq!(typed_value("1.5".into()), Value::DoubleValue(1.5));
        assert_eq!(typed_value("true".into()), Value::BoolValue(true));
        assert_eq!(typed_value("1e5".into()), Value::StringValue("1e5".into()));
        assert_eq!(typed_value("99999999999999999999".into()), Value::StringValue("99999999999999999999".into()));
        assert_eq!(typed_value("".into()), Value::StringValue(String::new()));
    }
}
