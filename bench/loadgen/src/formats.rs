//! The generated OTLP requests in the other ingest encodings spoor receives: Jaeger api_v2
//! protobuf (gRPC `PostSpans`), Jaeger Thrift (binary `Batch` over HTTP, agent `emitBatch` in
//! compact or binary Thrift over UDP) and Zipkin v2 (JSON and protobuf).
//!
//! The conversions run once, when the pool is built. OTLP → api_v2 is spoor-jaeger's own
//! (`model::to_proto::batches_from_otlp`, the query side's translation); api_v2 → Thrift and OTLP → Zipkin are
//! written here, as Jaeger and Zipkin clients lay the data out; the bytes come from spoor-jaeger's
//! generated types and encoders (prost, `thrift::encode`). Zipkin spans carry the resource
//! attributes as tags and events as OTel-encoded annotations, as the collector's Zipkin exporter
//! writes them, so every encoding carries the same information.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde_json::json;
use spoor_jaeger::model::{ids, to_proto};
use spoor_jaeger::proto::api_v2;
use spoor_jaeger::thrift::generated::jaeger as jthrift;
use spoor_jaeger::thrift::generated::zipkincore as zthrift;
use spoor_jaeger::thrift::{Protocol as ThriftProtocol, ZipkinSpan, encode};
use spoor_jaeger::translate::zipkin::proto as zproto;

/// The largest agent datagram the tool sends: the agent's (and spoor's) default
/// `max_packet_size`, below the 65,507-byte limit of UDP over IPv4.
pub const MAX_DATAGRAM_BYTES: usize = 65_000;

/// How a request is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OTLP `ExportTraceServiceRequest` (gRPC and HTTP).
    Otlp,
    /// Jaeger api_v2 `PostSpansRequest` (gRPC `CollectorService/PostSpans`).
    JaegerProto,
    /// A bare binary-protocol Jaeger `Batch` (`POST /api/traces`).
    JaegerThriftHttp,
    /// Agent `emitBatch` calls in compact Thrift, one per datagram.
    AgentCompact,
    /// Agent `emitBatch` calls in binary Thrift, one per datagram.
    AgentBinary,
    /// Zipkin v2 JSON array (`POST /api/v2/spans`).
    ZipkinJson,
    /// Zipkin v2 `ListOfSpans` protobuf (`POST /api/v2/spans`).
    ZipkinProto,
    /// Zipkin v1 JSON array (`POST /api/v1/spans`).
    ZipkinV1Json,
    /// Zipkin v1 binary-protocol Thrift `list<Span>` (`POST /api/v1/spans`).
    ZipkinV1Thrift,
}

/// One encoded body and the spans it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub body: Vec<u8>,
    pub spans: u64,
}

/// Encodes one request; agent formats may split it into several datagrams, each at most
/// [`MAX_DATAGRAM_BYTES`].
pub fn encode_request(request: &ExportTraceServiceRequest, format: Format) -> Result<Vec<Encoded>, String> {
    let spans = span_count(request);
    let one = |body: Vec<u8>| Ok(vec![Encoded { body, spans }]);
    match format {
        Format::Otlp => one(request.encode_to_vec()),
        Format::JaegerProto => match to_proto::batches_from_otlp(&request.resource_spans).as_slice() {
            [batch] => one(api_v2::PostSpansRequest { batch: Some(batch.clone()) }.encode_to_vec()),
            batches => Err(format!("a request of {} resources does not fit one Jaeger batch", batches.len())),
        },
        Format::JaegerThriftHttp => {
            let mut bodies = Vec::new();
            for batch in jaeger_thrift(request) {
                let spans = batch.spans.len() as u64;
                bodies.push(Encoded { body: encode::batch(&batch).map_err(|e| e.to_string())?, spans });
            }
            match bodies.len() {
                1 => Ok(bodies),
                n => Err(format!("a request of {n} resources does not fit one Jaeger batch")),
            }
        }
        Format::AgentCompact => agent_datagrams(request, ThriftProtocol::Compact),
        Format::AgentBinary => agent_datagrams(request, ThriftProtocol::Binary),
        Format::ZipkinJson => one(serde_json::to_vec(&zipkin_json(request)).map_err(|e| e.to_string())?),
        Format::ZipkinProto => one(zipkin_proto(request).encode_to_vec()),
        Format::ZipkinV1Json => one(serde_json::to_vec(&zipkin_v1_json(request)).map_err(|e| e.to_string())?),
        Format::ZipkinV1Thrift => one(encode::zipkin_spans(&zipkin_v1_thrift(request)).map_err(|e| e.to_string())?),
    }
}

pub fn span_count(request: &ExportTraceServiceRequest) -> u64 {
    request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len() as u64).sum()
}

// ---------------------------------------------------------------------------------------------
// Jaeger

/// The request as Thrift batches, one per resource.
pub fn jaeger_thrift(request: &ExportTraceServiceRequest) -> Vec<jthrift::Batch> {
    to_proto::batches_from_otlp(&request.resource_spans).iter().map(thrift_batch).collect()
}

fn thrift_batch(batch: &api_v2::Batch) -> jthrift::Batch {
    let process = batch.process.clone().unwrap_or_default();
    let process = jthrift::Process::new(process.service_name, process.tags.iter().map(thrift_tag).collect::<Vec<_>>());
    jthrift::Batch::new(process, batch.spans.iter().map(thrift_span).collect(), None, None)
}

fn thrift_tag(kv: &api_v2::KeyValue) -> jthrift::Tag {
    let key = kv.key.clone();
    match api_v2::ValueType::try_from(kv.v_type).unwrap_or(api_v2::ValueType::String) {
        api_v2::ValueType::String => {
            jthrift::Tag::new(key, jthrift::TagType::STRING, kv.v_str.clone(), None, None, None, None)
        }
        api_v2::ValueType::Bool => jthrift::Tag::new(key, jthrift::TagType::BOOL, None, None, kv.v_bool, None, None),
        api_v2::ValueType::Int64 => jthrift::Tag::new(key, jthrift::TagType::LONG, None, None, None, kv.v_int64, None),
        api_v2::ValueType::Float64 => jthrift::Tag::new(
            key,
            jthrift::TagType::DOUBLE,
            None,
            thrift::OrderedFloat::from(kv.v_float64),
            None,
            None,
            None,
        ),
        api_v2::ValueType::Binary => {
            jthrift::Tag::new(key, jthrift::TagType::BINARY, None, None, None, None, kv.v_binary.clone())
        }
    }
}

fn micros(seconds: i64, nanos: i32) -> i64 {
    seconds.saturating_mul(1_000_000).saturating_add(i64::from(nanos) / 1_000)
}

fn id_i64(bytes: &[u8]) -> i64 {
    ids::span_id_u64(bytes) as i64
}

/// A Jaeger client's span: the first CHILD_OF reference in the same trace is `parentSpanId`.
fn thrift_span(span: &api_v2::Span) -> jthrift::Span {
    let (high, low) = ids::trace_id_halves(&span.trace_id);
    let is_parent =
        |r: &api_v2::SpanRef| r.ref_type == api_v2::SpanRefType::ChildOf as i32 && r.trace_id == span.trace_id;
    let parent = span.references.iter().find(|r| is_parent(r));
    let references: Vec<jthrift::SpanRef> = span
        .references
        .iter()
        .filter(|r| !parent.is_some_and(|p| std::ptr::eq(*r, p)))
        .map(|r| {
            let (high, low) = ids::trace_id_halves(&r.trace_id);
            let kind = if r.ref_type == api_v2::SpanRefType::FollowsFrom as i32 {
                jthrift::SpanRefType::FOLLOWS_FROM
            } else {
                jthrift::SpanRefType::CHILD_OF
            };
            jthrift::SpanRef::new(kind, low as i64, high as i64, id_i64(&r.span_id))
        })
        .collect();
    let start = span.start_time.map_or(0, |t| micros(t.seconds, t.nanos));
    let duration = span.duration.map_or(0, |d| micros(d.seconds, d.nanos));
    let logs: Vec<jthrift::Log> = span
        .logs
        .iter()
        .map(|log| {
            let at = log.timestamp.map_or(0, |t| micros(t.seconds, t.nanos));
            jthrift::Log::new(at, log.fields.iter().map(thrift_tag).collect())
        })
        .collect();
    jthrift::Span::new(
        low as i64,
        high as i64,
        id_i64(&span.span_id),
        parent.map_or(0, |p| id_i64(&p.span_id)),
        span.operation_name.clone(),
        (!references.is_empty()).then_some(references),
        // Sampled, as a client sets it.
        1,
        start,
        duration,
        span.tags.iter().map(thrift_tag).collect::<Vec<_>>(),
        (!logs.is_empty()).then_some(logs),
    )
}

/// `emitBatch` datagrams of as many spans as fit in [`MAX_DATAGRAM_BYTES`].
fn agent_datagrams(request: &ExportTraceServiceRequest, protocol: ThriftProtocol) -> Result<Vec<Encoded>, String> {
    let err = |e: thrift::Error| e.to_string();
    let mut out = Vec::new();
    for batch in jaeger_thrift(request) {
        // A batch without spans gives the message, process and list overhead.
        let empty = jthrift::Batch::new(batch.process.clone(), Vec::new(), None, None);
        let overhead = encode::emit_batch(&empty, protocol).map_err(err)?.len() + 8;
        let mut chunk: Vec<jthrift::Span> = Vec::new();
        let mut size = overhead;
        for span in batch.spans {
            let span_size = span_bytes(&span, protocol).map_err(err)?;
            if overhead + span_size > MAX_DATAGRAM_BYTES {
                return Err(format!("one span takes {span_size} bytes, more than a datagram holds"));
            }
            if size + span_size > MAX_DATAGRAM_BYTES {
                out.push(datagram(&batch.process, std::mem::take(&mut chunk), protocol)?);
                size = overhead;
            }
            size += span_size;
            chunk.push(span);
        }
        if !chunk.is_empty() {
            out.push(datagram(&batch.process, chunk, protocol)?);
        }
    }
    Ok(out)
}

/// What one span adds to a datagram in `protocol`.
fn span_bytes(span: &jthrift::Span, protocol: ThriftProtocol) -> thrift::Result<usize> {
    let process = jthrift::Process::new(String::new(), None);
    let empty = jthrift::Batch::new(process.clone(), Vec::new(), None, None);
    let one = jthrift::Batch::new(process, vec![span.clone()], None, None);
    Ok(encode::emit_batch(&one, protocol)?.len().saturating_sub(encode::emit_batch(&empty, protocol)?.len()))
}

fn datagram(
    process: &jthrift::Process,
    spans: Vec<jthrift::Span>,
    protocol: ThriftProtocol,
) -> Result<Encoded, String> {
    let count = spans.len() as u64;
    let body = encode::emit_batch(&jthrift::Batch::new(process.clone(), spans, None, None), protocol)
        .map_err(|e| e.to_string())?;
    if body.len() > MAX_DATAGRAM_BYTES {
        return Err(format!("a datagram came out at {} bytes", body.len()));
    }
    Ok(Encoded { body, spans: count })
}

// ---------------------------------------------------------------------------------------------
// Zipkin v2

/// A span in Zipkin's model, before it is written as JSON or protobuf.
#[derive(Debug, Clone, PartialEq)]
pub struct Zipkin {
    pub trace_id: [u8; 16],
    pub id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    /// `CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`; none for internal spans.
    pub kind: Option<&'static str>,
    pub name: String,
    /// Epoch microseconds.
    pub timestamp: u64,
    pub duration: u64,
    pub service: String,
    /// `(epoch microseconds, value)`.
    pub annotations: Vec<(u64, String)>,
    pub tags: Vec<(String, String)>,
}

fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let take = bytes.len().min(N);
    out[N - take..].copy_from_slice(&bytes[bytes.len() - take..]);
    out
}

/// An attribute value as a Zipkin tag string.
fn tag_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes_json(attributes: &[KeyValue]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::IntValue(i)) => json!(i),
                Some(Value::BoolValue(b)) => json!(b),
                Some(Value::DoubleValue(d)) => json!(d),
                _ => json!(tag_text(kv.value.as_ref())),
            };
            (kv.key.clone(), value)
        })
        .collect();
    serde_json::Value::Object(map)
}

/// The request's spans as the collector's Zipkin exporter writes them.
pub fn zipkin_spans(request: &ExportTraceServiceRequest) -> Vec<Zipkin> {
    let mut out = Vec::with_capacity(span_count(request) as usize);
    for rs in &request.resource_spans {
        let attributes = rs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
        let service = attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .map_or_else(|| "unknown_service".to_owned(), |kv| tag_text(kv.value.as_ref()));
        let resource_tags: Vec<(String, String)> = attributes
            .iter()
            .filter(|kv| kv.key != "service.name")
            .map(|kv| (kv.key.clone(), tag_text(kv.value.as_ref())))
            .collect();
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref();
            for span in &ss.spans {
                let mut tags: Vec<(String, String)> =
                    span.attributes.iter().map(|kv| (kv.key.clone(), tag_text(kv.value.as_ref()))).collect();
                if let Some(scope) = scope.filter(|s| !s.name.is_empty()) {
                    tags.push(("otel.library.name".into(), scope.name.clone()));
                    tags.push(("otel.library.version".into(), scope.version.clone()));
                }
                if let Some(status) = span.status.as_ref().filter(|s| s.code == StatusCode::Error as i32) {
                    tags.push(("otel.status_code".into(), "ERROR".into()));
                    tags.push(("error".into(), status.message.clone()));
                }
                tags.extend(resource_tags.iter().cloned());
                let annotations = span
                    .events
                    .iter()
                    .map(|event| {
                        let value = format!(
                            "{}|{}|{}",
                            event.name,
                            attributes_json(&event.attributes),
                            event.dropped_attributes_count
                        );
                        (event.time_unix_nano / 1_000, value)
                    })
                    .collect();
                let kind = match SpanKind::try_from(span.kind) {
                    Ok(SpanKind::Client) => Some("CLIENT"),
                    Ok(SpanKind::Server) => Some("SERVER"),
                    Ok(SpanKind::Producer) => Some("PRODUCER"),
                    Ok(SpanKind::Consumer) => Some("CONSUMER"),
                    _ => None,
                };
                let start = span.start_time_unix_nano / 1_000;
                out.push(Zipkin {
                    trace_id: fixed(&span.trace_id),
                    id: fixed(&span.span_id),
                    parent_id: (!span.parent_span_id.is_empty()).then(|| fixed(&span.parent_span_id)),
                    kind,
                    name: span.name.clone(),
                    timestamp: start,
                    duration: (span.end_time_unix_nano / 1_000).saturating_sub(start).max(1),
                    service: service.clone(),
                    annotations,
                    tags,
                });
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fields v1 and v2 JSON spans share: IDs, name and times.
fn json_span(span: &Zipkin) -> serde_json::Value {
    let mut out = json!({
        "traceId": hex(&span.trace_id),
        "id": hex(&span.id),
        "name": span.name,
        "timestamp": span.timestamp,
        "duration": span.duration,
    });
    if let Some(parent) = span.parent_id {
        out["parentId"] = json!(hex(&parent));
    }
    out
}

/// The Zipkin v2 JSON body: an array of spans.
pub fn zipkin_json(request: &ExportTraceServiceRequest) -> serde_json::Value {
    let spans: Vec<serde_json::Value> = zipkin_spans(request)
        .into_iter()
        .map(|span| {
            let mut out = json_span(&span);
            out["localEndpoint"] = json!({ "serviceName": span.service });
            out["tags"] = span.tags.into_iter().map(|(k, v)| (k, json!(v))).collect::<serde_json::Map<_, _>>().into();
            if let Some(kind) = span.kind {
                out["kind"] = json!(kind);
            }
            if !span.annotations.is_empty() {
                out["annotations"] = span
                    .annotations
                    .into_iter()
                    .map(|(timestamp, value)| json!({ "timestamp": timestamp, "value": value }))
                    .collect();
            }
            out
        })
        .collect();
    serde_json::Value::Array(spans)
}

/// The Zipkin v2 protobuf body.
pub fn zipkin_proto(request: &ExportTraceServiceRequest) -> zproto::ListOfSpans {
    let spans = zipkin_spans(request)
        .into_iter()
        .map(|span| {
            let kind = match span.kind {
                Some("CLIENT") => zproto::span::Kind::Client,
                Some("SERVER") => zproto::span::Kind::Server,
                Some("PRODUCER") => zproto::span::Kind::Producer,
                Some("CONSUMER") => zproto::span::Kind::Consumer,
                _ => zproto::span::Kind::SpanKindUnspecified,
            };
            zproto::Span {
                trace_id: span.trace_id.to_vec(),
                parent_id: span.parent_id.map(|p| p.to_vec()).unwrap_or_default(),
                id: span.id.to_vec(),
                kind: kind as i32,
                name: span.name,
                timestamp: span.timestamp,
                duration: span.duration,
                local_endpoint: Some(zproto::Endpoint { service_name: span.service, ..Default::default() }),
                remote_endpoint: None,
                annotations: span
                    .annotations
                    .into_iter()
                    .map(|(timestamp, value)| zproto::Annotation { timestamp, value })
                    .collect(),
                tags: span.tags.into_iter().collect::<HashMap<String, String>>(),
                debug: false,
                shared: false,
            }
        })
        .collect();
    zproto::ListOfSpans { spans }
}

// ---------------------------------------------------------------------------------------------
// Zipkin v1: the same spans, with the kind as the core annotations (`cs`/`cr`, `sr`/`ss`, ...)
// and the tags as string binary annotations, each carrying the local endpoint.

/// The core annotations that say a span's kind in v1: at its start, and for RPCs at its end.
/// Messaging spans have one (`ms` sent, `mr` received).
fn v1_core_annotations(kind: Option<&str>) -> (Option<&'static str>, Option<&'static str>) {
    match kind {
        Some("CLIENT") => (Some("cs"), Some("cr")),
        Some("SERVER") => (Some("sr"), Some("ss")),
        Some("PRODUCER") => (Some("ms"), None),
        Some("CONSUMER") => (Some("mr"), None),
        _ => (None, None),
    }
}

/// The span's annotations in v1: the kind's core annotations, then its events.
fn v1_annotations(span: &Zipkin) -> Vec<(u64, String)> {
    let (start, end) = v1_core_annotations(span.kind);
    let core = [(span.timestamp, start), (span.timestamp + span.duration, end)];
    let core = core.into_iter().filter_map(|(timestamp, value)| Some((timestamp, value?.to_owned())));
    core.chain(span.annotations.iter().cloned()).collect()
}

/// The Zipkin v1 JSON body: an array of spans.
pub fn zipkin_v1_json(request: &ExportTraceServiceRequest) -> serde_json::Value {
    let spans: Vec<serde_json::Value> = zipkin_spans(request)
        .into_iter()
        .map(|span| {
            let endpoint = json!({ "serviceName": span.service });
            let mut out = json_span(&span);
            out["annotations"] = v1_annotations(&span)
                .into_iter()
                .map(|(timestamp, value)| json!({ "timestamp": timestamp, "value": value, "endpoint": endpoint }))
                .collect();
            out["binaryAnnotations"] = span
                .tags
                .iter()
                .map(|(key, value)| json!({ "key": key, "value": value, "endpoint": endpoint }))
                .collect();
            out
        })
        .collect();
    serde_json::Value::Array(spans)
}

/// The Zipkin v1 Thrift spans.
pub fn zipkin_v1_thrift(request: &ExportTraceServiceRequest) -> Vec<ZipkinSpan> {
    zipkin_spans(request)
        .into_iter()
        .map(|span| {
            let host = || Some(zthrift::Endpoint::new(None::<i32>, None::<i16>, span.service.clone(), None::<Vec<u8>>));
            let annotations = v1_annotations(&span)
                .into_iter()
                .map(|(timestamp, value)| zthrift::Annotation::new(timestamp as i64, value, host()))
                .collect::<Vec<_>>();
            let binary_annotations = span
                .tags
                .iter()
                .map(|(key, value)| {
                    let bytes = value.as_bytes().to_vec();
                    zthrift::BinaryAnnotation::new(key.clone(), bytes, zthrift::AnnotationType::STRING, host())
                })
                .collect::<Vec<_>>();
            let half = |bytes: &[u8]| i64::from_be_bytes(fixed(bytes));
            ZipkinSpan::new(
                half(&span.trace_id[8..]),
                span.name,
                i64::from_be_bytes(span.id),
                span.parent_id.map(i64::from_be_bytes),
                annotations,
                binary_annotations,
                None::<bool>,
                span.timestamp as i64,
                span.duration as i64,
                half(&span.trace_id[..8]),
            )
        })
        .collect()
}
