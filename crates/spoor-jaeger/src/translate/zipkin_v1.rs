//! Zipkin v1 (JSON and Thrift) to OTLP, as collector-contrib's `zipkinv1` does it:
//! - the core annotations (`cs`, `cr`, `ss`, `sr`, `ms`, `mr`) give the span kind, the
//!   endpoint (the resource: `service.name`, `ipv4`, `ipv6`, `port`) and, when the span has no
//!   timestamp, its start and end; other annotations become events;
//! - binary annotations become attributes (`lc` is renamed `component`), and the status comes
//!   from `census.status_code`, `otel.status_code`, `error` or `http.status_code`, in that order;
//! - spans are grouped into one resource per endpoint, in the order first seen.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value as Json;
use spoor_pipeline::otlp::{
    InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status, any_value, names, span, status,
};

use super::TranslateError;
use super::attrs::{self, Attributes};
use super::zipkin::{JsonEndpoint, START_TIME_ABSENT, hex_trace_id, typed_value};
use crate::thrift::generated::zipkincore;

const UNKNOWN_SERVICE: &str = "unknown-service";

#[derive(Debug, Clone, Default, PartialEq)]
struct V1Endpoint {
    service_name: String,
    ipv4: String,
    ipv6: String,
    port: i32,
}

impl V1Endpoint {
    fn key(&self) -> String {
        format!("{}-{}-{}-{}", self.service_name, self.ipv4, self.ipv6, self.port)
    }
}

struct V1Annotation {
    timestamp: i64,
    value: String,
    endpoint: Option<V1Endpoint>,
}

struct V1BinaryAnnotation {
    key: String,
    value: any_value::Value,
    /// The text of the value, for `lc`.
    text: String,
    endpoint: Option<V1Endpoint>,
}

struct V1Span {
    trace_id: (u64, u64),
    id: u64,
    parent_id: u64,
    name: String,
    timestamp: i64,
    duration: i64,
    annotations: Vec<V1Annotation>,
    binary_annotations: Vec<V1BinaryAnnotation>,
}

// ---------------------------------------------------------------------------------------------
// JSON

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    trace_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    id: String,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    annotations: Option<Vec<JsonAnnotation>>,
    #[serde(default)]
    binary_annotations: Option<Vec<JsonBinaryAnnotation>>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    value: String,
    #[serde(default)]
    endpoint: Option<JsonEndpoint>,
}

#[derive(Deserialize)]
struct JsonBinaryAnnotation {
    key: String,
    #[serde(default)]
    value: Json,
    #[serde(default)]
    endpoint: Option<JsonEndpoint>,
}

fn json_endpoint(endpoint: Option<JsonEndpoint>) -> Option<V1Endpoint> {
    endpoint.map(|e| V1Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: e.ipv4.unwrap_or_default(),
        ipv6: e.ipv6.unwrap_or_default(),
        port: e.port.unwrap_or_default(),
    })
}

fn hex_span_id(text: &str, what: &str) -> Result<u64, TranslateError> {
    if text.len() != 16 {
        return Err(TranslateError(format!("zipkin v1 {what}: hex id has wrong length (expected 16)")));
    }
    let id =
        u64::from_str_radix(text, 16).map_err(|_| TranslateError(format!("zipkin v1 {what}: {text:?} is not hex")))?;
    if id == 0 {
        return Err(TranslateError(format!("zipkin v1 {what}: ID is zero")));
    }
    Ok(id)
}

/// Decodes and translates a `POST /api/v1/spans` JSON body.
pub fn v1_json_to_otlp(body: &[u8], parse_string_tags: bool) -> Result<Vec<ResourceSpans>, TranslateError> {
    let spans: Vec<JsonSpan> =
        serde_json::from_slice(body).map_err(|err| TranslateError(format!("zipkin v1 json: {err}")))?;
    let mut v1 = Vec::with_capacity(spans.len());
    for span in spans {
        if !matches!(span.trace_id.len(), 16 | 32) {
            return Err(TranslateError(
                "zipkin v1 traceId: hex traceId span has wrong length (expected 16 or 32)".to_owned(),
            ));
        }
        let trace_id = hex_trace_id(&span.trace_id)?;
        if trace_id == (0, 0) {
            return Err(TranslateError("zipkin v1 traceId: traceId is zero".to_owned()));
        }
        let id = hex_span_id(&span.id, "span id")?;
        let parent_id = match span.parent_id.as_deref() {
            None | Some("") => 0,
            Some(parent) => hex_span_id(parent, "span parentId")?,
        };
        let binary_annotations = span
            .binary_annotations
            .unwrap_or_default()
            .into_iter()
            .map(|b| {
                let (value, text) = json_binary_value(b.value, parse_string_tags);
                V1BinaryAnnotation { key: b.key, value, text, endpoint: json_endpoint(b.endpoint) }
            })
            .collect();
        v1.push(V1Span {
            trace_id,
            id,
            parent_id,
            name: span.name.unwrap_or_default(),
            timestamp: span.timestamp.unwrap_or_default(),
            duration: span.duration.unwrap_or_default(),
            annotations: span
                .annotations
                .unwrap_or_default()
                .into_iter()
                .map(|a| V1Annotation { timestamp: a.timestamp, value: a.value, endpoint: json_endpoint(a.endpoint) })
                .collect(),
            binary_annotations,
        });
    }
    Ok(v1_to_otlp(v1))
}

fn json_binary_value(value: Json, parse_string_tags: bool) -> (any_value::Value, String) {
    use any_value::Value;
    match value {
        Json::String(text) => {
            let value = if parse_string_tags { typed_value(text.clone()) } else { Value::StringValue(text.clone()) };
            (value, text)
        }
        Json::Bool(b) => (Value::BoolValue(b), b.to_string()),
        Json::Number(n) => match n.as_i64() {
            Some(i) => (Value::IntValue(i), n.to_string()),
            None => (Value::DoubleValue(n.as_f64().unwrap_or_default()), n.to_string()),
        },
        Json::Null => (Value::StringValue(String::new()), String::new()),
        other => (Value::StringValue(other.to_string()), other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Thrift

fn thrift_endpoint(endpoint: Option<&zipkincore::Endpoint>) -> Option<V1Endpoint> {
    let endpoint = endpoint?;
    let ipv4 = match endpoint.ipv4 {
        Some(ip) if ip != 0 => Ipv4Addr::from(ip as u32).to_string(),
        _ => String::new(),
    };
    let ipv6 = match endpoint.ipv6.as_deref() {
        Some(bytes) => match <[u8; 16]>::try_from(bytes) {
            Ok(octets) => Ipv6Addr::from(octets).to_string(),
            Err(_) if bytes.is_empty() => String::new(),
            Err(_) => format!("?{}", hex::encode(bytes)),
        },
        None => String::new(),
    };
    Some(V1Endpoint {
        service_name: endpoint.service_name.clone().unwrap_or_default(),
        ipv4,
        ipv6,
        port: i32::from(endpoint.port.unwrap_or_default()),
    })
}

fn be_int(bytes: &[u8], width: usize) -> Option<i64> {
    let bytes = bytes.get(..width)?;
    Some(match width {
        2 => i64::from(u16::from_be_bytes([bytes[0], bytes[1]])),
        4 => i64::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        _ => {
            let mut array = [0u8; 8];
            array.copy_from_slice(bytes);
            i64::from_be_bytes(array)
        }
    })
}

fn thrift_binary_value(annotation: &zipkincore::BinaryAnnotation) -> any_value::Value {
    use any_value::Value;
    let bytes = annotation.value.as_deref().unwrap_or_default();
    let too_short = || Value::StringValue("<not enough bytes representing the number>".to_owned());
    match annotation.annotation_type.unwrap_or(zipkincore::AnnotationType::STRING) {
        zipkincore::AnnotationType::BOOL => Value::BoolValue(bytes == [1]),
        zipkincore::AnnotationType::BYTES => {
            Value::StringValue(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        zipkincore::AnnotationType::DOUBLE => match be_int(bytes, 8) {
            Some(bits) => Value::DoubleValue(f64::from_bits(bits as u64)),
            None => too_short(),
        },
        zipkincore::AnnotationType::I16 => be_int(bytes, 2).map_or_else(too_short, Value::IntValue),
        zipkincore::AnnotationType::I32 => be_int(bytes, 4).map_or_else(too_short, Value::IntValue),
        zipkincore::AnnotationType::I64 => be_int(bytes, 8).map_or_else(too_short, Value::IntValue),
        zipkincore::AnnotationType::STRING => Value::StringValue(String::from_utf8_lossy(bytes).into_owned()),
        other => Value::StringValue(format!("<unknown zipkin v1 binary annotation type ({})>", other.0)),
    }
}

/// Translates Zipkin v1 Thrift spans (`POST /api/v1/spans` with `application/x-thrift`, or the
/// agent's `emitZipkinBatch`).
pub fn v1_thrift_to_otlp(spans: Vec<zipkincore::Span>) -> Vec<ResourceSpans> {
    let v1 = spans
        .into_iter()
        .map(|span| V1Span {
            trace_id: (span.trace_id_high.unwrap_or_default() as u64, span.trace_id.unwrap_or_default() as u64),
            id: span.id.unwrap_or_default() as u64,
            parent_id: span.parent_id.unwrap_or_default() as u64,
            name: span.name.unwrap_or_default(),
            timestamp: span.timestamp.unwrap_or_default(),
            duration: span.duration.unwrap_or_default(),
            annotations: span
                .annotations
                .unwrap_or_default()
                .iter()
                .map(|a| V1Annotation {
                    timestamp: a.timestamp.unwrap_or_default(),
                    value: a.value.clone().unwrap_or_default(),
                    endpoint: thrift_endpoint(a.host.as_ref()),
                })
                .collect(),
            binary_annotations: span
                .binary_annotations
                .unwrap_or_default()
                .iter()
                .map(|b| V1BinaryAnnotation {
                    key: b.key.clone().unwrap_or_default(),
                    value: thrift_binary_value(b),
                    text: String::from_utf8_lossy(b.value.as_deref().unwrap_or_default()).into_owned(),
                    endpoint: thrift_endpoint(b.host.as_ref()),
                })
                .collect(),
        })
        .collect();
    v1_to_otlp(v1)
}

// ---------------------------------------------------------------------------------------------
// Translation

fn v1_to_otlp(spans: Vec<V1Span>) -> Vec<ResourceSpans> {
    let mut out: Vec<(String, ResourceSpans)> = Vec::new();
    for span in spans {
        let (translated, endpoint) = v1_span_to_otlp(span);
        let key = endpoint.key();
        let index = match out.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                out.push((key, new_resource(&endpoint)));
                out.len() - 1
            }
        };
        if let Some(scope) = out[index].1.scope_spans.first_mut() {
            scope.spans.push(translated);
        }
    }
    out.into_iter().map(|(_, rs)| rs).collect()
}

fn new_resource(endpoint: &V1Endpoint) -> ResourceSpans {
    let mut attrs = Attributes::with_capacity(4);
    attrs.put_str(names::SERVICE_NAME, endpoint.service_name.as_str());
    if !endpoint.ipv4.is_empty() {
        attrs.put_str("ipv4", endpoint.ipv4.as_str());
    }
    if !endpoint.ipv6.is_empty() {
        attrs.put_str("ipv6", endpoint.ipv6.as_str());
    }
    if endpoint.port != 0 {
        attrs.put_str("port", endpoint.port.to_string());
    }
    ResourceSpans {
        resource: Some(Resource { attributes: attrs.into_vec(), ..Default::default() }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope::default()),
            spans: Vec::new(),
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn micros(timestamp: i64) -> u64 {
    if timestamp <= 0 { 0 } else { (timestamp as u64).wrapping_mul(1000) }
}

fn v1_span_to_otlp(v1: V1Span) -> (Span, V1Endpoint) {
    let mut span = Span {
        trace_id: attrs::trace_id(v1.trace_id.0, v1.trace_id.1),
        span_id: attrs::span_id(v1.id),
        parent_span_id: if v1.parent_id != 0 { attrs::span_id(v1.parent_id) } else { Vec::new() },
        name: v1.name,
        ..Default::default()
    };
    let mut endpoint = annotations_into(&v1.annotations, &mut span);
    let fallback_service = binary_annotations_into(v1.binary_annotations, &mut span);
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback_service.is_empty() {
        endpoint = V1Endpoint { service_name: fallback_service, ..endpoint };
    }
    if v1.timestamp != 0 {
        span.start_time_unix_nano = micros(v1.timestamp);
        span.end_time_unix_nano = micros(v1.timestamp.wrapping_add(v1.duration));
    }
    if span.start_time_unix_nano == 0 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        span.start_time_unix_nano = now;
        span.end_time_unix_nano = now;
        span.attributes.push(spoor_pipeline::otlp::KeyValue {
            key: START_TIME_ABSENT.to_owned(),
            value: Some(spoor_pipeline::otlp::AnyValue { value: Some(any_value::Value::BoolValue(true)) }),
            ..Default::default()
        });
    }
    (span, endpoint)
}

/// Sets kind, events and the annotation-derived times; returns the span's endpoint.
fn annotations_into(annotations: &[V1Annotation], span: &mut Span) -> V1Endpoint {
    let mut earliest = i64::MAX;
    let mut latest = i64::MIN;
    let mut endpoint: Option<V1Endpoint> = None;
    let mut kind_set = false;
    for annotation in annotations {
        if annotation.value.is_empty() {
            continue;
        }
        let has_service = annotation.endpoint.as_ref().is_some_and(|e| !e.service_name.is_empty());
        let kind = match annotation.value.as_str() {
            "cs" | "cr" => Some(span::SpanKind::Client),
            "ms" => Some(span::SpanKind::Producer),
            "mr" => Some(span::SpanKind::Consumer),
            "ss" | "sr" => Some(span::SpanKind::Server),
            _ => None,
        };
        if endpoint.is_none() && has_service && kind.is_some() {
            endpoint = annotation.endpoint.clone();
        }
        if let Some(kind) = kind
            && !kind_set
        {
            span.kind = kind as i32;
            kind_set = true;
        }
        let time = micros(annotation.timestamp);
        if annotation.timestamp < earliest {
            earliest = annotation.timestamp;
            span.start_time_unix_nano = time;
        }
        if annotation.timestamp > latest {
            latest = annotation.timestamp;
            span.end_time_unix_nano = time;
        }
        if kind.is_none() {
            span.events.push(span::Event {
                time_unix_nano: time,
                name: annotation.value.clone(),
                ..Default::default()
            });
        }
    }
    endpoint.unwrap_or_else(|| V1Endpoint { service_name: UNKNOWN_SERVICE.to_owned(), ..Default::default() })
}

#[derive(Default)]
struct FoundStatus {
    code: Option<status::StatusCode>,
    message: String,
}

/// The collector's `statusMapper`: several tags may carry a status; the best one wins.
#[derive(Default)]
struct StatusMapper {
    census: FoundStatus,
    otel: FoundStatus,
    http: FoundStatus,
    error_tag: FoundStatus,
}

fn status_number(value: &any_value::Value) -> Option<i32> {
    let number = match value {
        any_value::Value::IntValue(i) => *i,
        any_value::Value::StringValue(s) => s.parse().ok()?,
        _ => return None,
    };
    i32::try_from(number).ok()
}

fn value_text(value: &any_value::Value) -> String {
    match value {
        any_value::Value::StringValue(s) => s.clone(),
        _ => String::new(),
    }
}

impl StatusMapper {
    /// Records a status-bearing tag; true when the tag is consumed and not an attribute.
    fn take(&mut self, key: &str, value: &any_value::Value) -> bool {
        match key {
            "census.status_code" => {
                if let Some(code) = status_number(value) {
                    self.census.code = Some(if code == 0 { status::StatusCode::Ok } else { status::StatusCode::Error });
                }
                true
            }
            "census.status_description" | "opencensus.status_description" => {
                self.census.message = value_text(value);
                true
            }
            names::OTEL_STATUS_CODE => {
                if let Some(code) = status_number(value) {
                    self.otel.code = Some(status::StatusCode::try_from(code).unwrap_or(status::StatusCode::Unset));
                }
                true
            }
            names::OTEL_STATUS_DESCRIPTION => {
                self.otel.message = value_text(value);
                true
            }
            names::HTTP_STATUS_CODE => {
                if let Some(code) = status_number(value) {
                    self.http.code = Some(attrs::status_from_http(i64::from(code)));
                }
                false
            }
            names::HTTP_STATUS_MESSAGE => {
                self.http.message = value_text(value);
                false
            }
            names::ERROR => {
                self.error_tag.code = Some(status::StatusCode::Error);
                true
            }
            _ => false,
        }
    }

    fn status(self) -> Option<Status> {
        let (code, message) = if let Some(code) = self.census.code {
            (code, self.census.message)
        } else if let Some(code) = self.otel.code {
            (code, self.otel.message)
        } else if let Some(code) = self.error_tag.code {
            let message = if !self.census.message.is_empty() { self.census.message } else { self.otel.message };
            (code, message)
        } else if let Some(code) = self.http.code {
            (code, self.http.message)
        } else {
            return None;
        };
        Some(Status { code: code as i32, message })
    }
}

/// Sets attributes and status; returns the fallback service name (a binary annotation's
/// endpoint, else the local component).
fn binary_annotations_into(annotations: Vec<V1BinaryAnnotation>, span: &mut Span) -> String {
    let mut fallback = String::new();
    let mut local_component = String::new();
    let mut mapper = StatusMapper::default();
    let mut attributes = Attributes::with_capacity(annotations.len());
    for annotation in annotations {
        if let Some(endpoint) = &annotation.endpoint
            && !endpoint.service_name.is_empty()
        {
            fallback = endpoint.service_name.clone();
        }
        let mut key = annotation.key;
        if key == "lc" {
            key = "component".to_owned();
            local_component = annotation.text.clone();
        }
        if mapper.take(&key, &annotation.value) {
            continue;
        }
        attributes.put(&key, annotation.value);
    }
    span.status = mapper.status();
    span.attributes = attributes.into_vec();
    if fallback.is_empty() {
        fallback = local_component;
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::test_support::attr_strings;

    const V1_JSON: &str = r#"[{
        "traceId": "0000000000000001", "id": "0000000000000002", "parentId": "0000000000000003",
        "name": "get",
        "annotations": [
          {"timestamp": 100, "value": "sr", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.1", "port": 8080}},
          {"timestamp": 150, "value": "cache miss", "endpoint": {"serviceName": "api"}},
          {"timestamp": 300, "value": "ss", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.1", "port": 8080}}
        ],
        "binaryAnnotations": [
          {"key": "http.status_code", "value": "503"},
          {"key": "lc", "value": "servlet"},
          {"key": "retries", "value": "3"}
        ]
      }, {
        "traceId": "00000000000000010000000000000001", "id": "0000000000000004", "name": "local",
        "timestamp": 1000, "duration": 10,
        "binaryAnnotations": [{"key": "lc", "value": "worker"}, {"key": "error", "value": "oops"}]
      }]"#;

    #[test]
    fn translates_v1_json() {
        let rs = v1_json_to_otlp(V1_JSON.as_bytes(), true).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(
            attr_strings(&rs[0].resource.as_ref().unwrap().attributes),
            vec![("service.name", "api".to_owned()), ("ipv4", "10.0.0.1".to_owned()), ("port", "8080".to_owned())]
        );
        let server = &rs[0].scope_spans[0].spans[0];
        assert_eq!(server.kind, span::SpanKind::Server as i32);
        assert_eq!((server.start_time_unix_nano, server.end_time_unix_nano), (100_000, 300_000));
        assert_eq!(server.events.len(), 1);
        assert_eq!(server.events[0].name, "cache miss");
        assert_eq!(hex::encode(&server.parent_span_id), "0000000000000003");
        assert_eq!(server.status.as_ref().unwrap().code, status::StatusCode::Error as i32);
        assert_eq!(
            attr_strings(&server.attributes),
            vec![
                ("http.status_code", "503".to_owned()),
                ("component", "servlet".to_owned()),
                ("retries", "3".to_owned())
            ]
        );
        assert!(matches!(server.attributes[2].value.as_ref().unwrap().value, Some(any_value::Value::IntValue(3))));
        assert_eq!(
            attr_strings(&rs[1].resource.as_ref().unwrap().attributes),
            vec![("service.name", "worker".to_owned())],
            "the local component names the service"
        );
        let local = &rs[1].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&local.trace_id), "00000000000000010000000000000001");
        assert_eq!(local.status.as_ref().unwrap().code, status::StatusCode::Error as i32);
        assert_eq!((local.start_time_unix_nano, local.end_time_unix_nano), (1_000_000, 1_010_000));
    }

    #[test]
    fn v1_thrift_types_binary_annotations() {
        let annotation = |key: &str, value: Vec<u8>, t: zipkincore::AnnotationType| zipkincore::BinaryAnnotation {
            key: Some(key.to_owned()),
            value: Some(value),
            annotation_type: Some(t),
            host: None,
        };
        let span = zipkincore::Span {
            trace_id: Some(7),
            name: Some("op".to_owned()),
            id: Some(8),
            parent_id: None,
            annotations: Some(vec![zipkincore::Annotation {
                timestamp: Some(5),
                value: Some("cs".to_owned()),
                host: Some(zipkincore::Endpoint {
                    ipv4: Some(0x0a00_0001),
                    port: Some(80),
                    service_name: Some("client".to_owned()),
                    ipv6: None,
                }),
            }]),
            binary_annotations: Some(vec![
                annotation("b", vec![1], zipkincore::AnnotationType::BOOL),
                annotation("i", 300i16.to_be_bytes().to_vec(), zipkincore::AnnotationType::I16),
                annotation("d", 2.5f64.to_be_bytes().to_vec(), zipkincore::AnnotationType::DOUBLE),
                annotation("s", b"text".to_vec(), zipkincore::AnnotationType::STRING),
                annotation("short", vec![1], zipkincore::AnnotationType::I64),
            ]),
            debug: None,
            timestamp: Some(5),
            duration: Some(10),
            trace_id_high: Some(1),
        };
        let rs = v1_thrift_to_otlp(vec![span]);
        assert_eq!(
            attr_strings(&rs[0].resource.as_ref().unwrap().attributes),
            vec![("service.name", "client".to_owned()), ("ipv4", "10.0.0.1".to_owned()), ("port", "80".to_owned())]
        );
        let span = &rs[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, span::SpanKind::Client as i32);
        assert_eq!(hex::encode(&span.trace_id), "00000000000000010000000000000007");
        assert_eq!(
            attr_strings(&span.attributes),
            vec![
                ("b", "true".to_owned()),
                ("i", "300".to_owned()),
                ("d", "2.5".to_owned()),
                ("s", "text".to_owned()),
                ("short", "<not enough bytes representing the number>".to_owned()),
            ]
        );
    }

    #[test]
    fn bad_v1_json_is_an_error() {
        for body in [
            &b"not json"[..],
            b"[{\"traceId\":\"01\",\"id\":\"0000000000000001\"}]",
            b"[{\"traceId\":\"0000000000000001\",\"id\":\"0000000000000000\"}]",
        ] {
            assert!(v1_json_to_otlp(body, false).is_err());
        }
    }
}
