//! Jaeger's Elasticsearch documents (`tracestore/core/dbmodel/model.go` at v2.20.0): a span
//! document per span in `jaeger-span-*`, and a service document per (service, operation) pair
//! in `jaeger-service-*`. [`docs_from_otlp`] writes them as Jaeger's `ToDBModel` does, and
//! [`otlp_from_docs`] reads them back as its `FromDBModel` does, also reading the documents
//! older Jaeger versions wrote (tag values as strings, 16-digit trace IDs, `tag` object fields).

mod from_doc;
mod to_doc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

pub use from_doc::otlp_from_docs;
pub use to_doc::docs_from_otlp;

/// A span document. Fields as Jaeger's JSON: `references`, `tags` and `logs` are `null` when
/// empty, as Go writes a nil slice; `parentSpanID`, `flags` and `tag` are left out when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanDoc {
    #[serde(rename = "traceID", default)]
    pub trace_id: String,
    #[serde(rename = "spanID", default)]
    pub span_id: String,
    #[serde(rename = "parentSpanID", default, skip_serializing_if = "String::is_empty")]
    pub parent_span_id: String,
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "number_u32")]
    pub flags: u32,
    #[serde(rename = "operationName", default)]
    pub operation_name: String,
    #[serde(default, serialize_with = "nil_when_empty", deserialize_with = "null_as_empty")]
    pub references: Vec<Reference>,
    /// Microseconds since the Unix epoch.
    #[serde(rename = "startTime", default, deserialize_with = "number_u64")]
    pub start_time: u64,
    /// `startTime / 1000`, which Elasticsearch can map as a date.
    #[serde(rename = "startTimeMillis", default, deserialize_with = "number_u64")]
    pub start_time_millis: u64,
    /// Microseconds.
    #[serde(default, deserialize_with = "number_u64")]
    pub duration: u64,
    #[serde(default, serialize_with = "nil_when_empty", deserialize_with = "null_as_empty")]
    pub tags: Vec<KeyValue>,
    /// Tags kept as object fields (`tags_as_fields`), keys with `.` replaced by `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Map<String, Value>>,
    #[serde(default, serialize_with = "nil_when_empty", deserialize_with = "null_as_empty")]
    pub logs: Vec<Log>,
    #[serde(default)]
    pub process: Process,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `CHILD_OF` or `FOLLOWS_FROM`.
    #[serde(rename = "refType", default)]
    pub ref_type: String,
    #[serde(rename = "traceID", default)]
    pub trace_id: String,
    #[serde(rename = "spanID", default)]
    pub span_id: String,
}

pub const CHILD_OF: &str = "CHILD_OF";
pub const FOLLOWS_FROM: &str = "FOLLOWS_FROM";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    #[serde(rename = "serviceName", default)]
    pub service_name: String,
    #[serde(default, serialize_with = "nil_when_empty", deserialize_with = "null_as_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Log {
    #[serde(default, deserialize_with = "number_u64")]
    pub timestamp: u64,
    #[serde(default, serialize_with = "nil_when_empty", deserialize_with = "null_as_empty")]
    pub fields: Vec<KeyValue>,
}

/// A typed tag: `type` is `string`, `bool`, `int64`, `float64` or `binary` (hex).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(default)]
    pub key: String,
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub value: Value,
}

/// A service document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDoc {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    #[serde(rename = "operationName")]
    pub operation_name: String,
}

impl ServiceDoc {
    /// The document ID Jaeger gives it: FNV-1a 64 over the service then the operation name,
    /// in lowercase hex without padding.
    pub fn id(&self) -> String {
        let hash = fnv1a64(fnv1a64(FNV_OFFSET, self.service_name.as_bytes()), self.operation_name.as_bytes());
        format!("{hash:x}")
    }
}

pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 of `bytes`, continuing from `hash` ([`FNV_OFFSET`] to start).
pub fn fnv1a64(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// A malformed document.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DocError(pub String);

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn nil_when_empty<S: serde::Serializer, T: Serialize>(items: &[T], serializer: S) -> Result<S::Ok, S::Error> {
    if items.is_empty() { serializer.serialize_none() } else { items.serialize(serializer) }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A non-negative number, written as an integer or a float (servers may return either).
fn number_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    match &value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()).map(|f| f as u64))
            .ok_or_else(|| serde::de::Error::custom(format!("expected a non-negative number, got {n}"))),
        Value::String(s) => s.parse().map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}"))),
        other => Err(serde::de::Error::custom(format!("expected a number, got {other}"))),
    }
}

fn number_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let n = number_u64(deserializer)?;
    u32::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is out of range")))
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::otlp::{
        AnyValue, ExportTraceServiceRequest, InstrumentationScope, KeyValue as OtlpKeyValue, Resource, ResourceSpans,
        ScopeSpans, Span, Status, any_value, span, status,
    };

    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn otlp_fixture() -> Vec<ResourceSpans> {
        serde_json::from_str::<ExportTraceServiceRequest>(&fixture("otel_traces_01.json")).unwrap().resource_spans
    }

    /// Jaeger's `TestFromDbModel_Fixtures` and `TestToDbModel_Fixtures`: the fixture span
    /// becomes exactly the fixture document, and the document exactly the span.
    #[test]
    fn jaegers_fixture_converts_both_ways() {
        let docs = docs_from_otlp(&otlp_fixture());
        assert_eq!(docs.len(), 1);
        let written = serde_json::to_value(&docs[0]).unwrap();
        let expected: Value = serde_json::from_str(&fixture("es_01.json")).unwrap();
        assert_eq!(written, expected);

        let doc: SpanDoc = serde_json::from_str(&fixture("es_01.json")).unwrap();
        assert_eq!(otlp_from_docs(vec![doc]).unwrap(), otlp_fixture());
    }

    /// Jaeger's `TestToDbModel_Fixtures_StringTags`: values written as strings read back typed.
    #[test]
    fn string_tag_values_read_back_typed() {
        let doc: SpanDoc = serde_json::from_str(&fixture("es_01_string_tags.json")).unwrap();
        assert_eq!(otlp_from_docs(vec![doc]).unwrap(), otlp_fixture());
    }

    fn attribute(key: &str, value: any_value::Value) -> OtlpKeyValue {
        OtlpKeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    #[test]
    fn span_fields_round_trip() {
        let span = Span {
            trace_id: vec![7; 16],
            span_id: vec![1; 8],
            parent_span_id: vec![2; 8],
            name: "op".into(),
            kind: span::SpanKind::Consumer as i32,
            start_time_unix_nano: 1_700_000_000_123_456_000,
            end_time_unix_nano: 1_700_000_000_123_999_000,
            trace_state: "k=v".into(),
            flags: 1,
            status: Some(Status { code: status::StatusCode::Error as i32, message: "boom".into() }),
            attributes: vec![
                attribute("i", any_value::Value::IntValue(-3)),
                attribute("d", any_value::Value::DoubleValue(72.0)),
                attribute("b", any_value::Value::BoolValue(false)),
                attribute("bytes", any_value::Value::BytesValue(vec![0, 255])),
            ],
            events: vec![span::Event {
                time_unix_nano: 1_700_000_000_123_500_000,
                name: "retry".into(),
                attributes: vec![attribute("attempt", any_value::Value::IntValue(2))],
                ..Default::default()
            }],
            links: vec![span::Link {
                trace_id: vec![9; 16],
                span_id: vec![8; 8],
                attributes: vec![attribute(
                    "opentracing.ref_type",
                    any_value::Value::StringValue("follows_from".into()),
                )],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resource_spans = vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    attribute("service.name", any_value::Value::StringValue("svc".into())),
                    attribute("host.name", any_value::Value::StringValue("h".into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "lib".into(), version: "2".into(), ..Default::default() }),
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let docs = docs_from_otlp(&resource_spans);
        let json = serde_json::to_value(&docs[0]).unwrap();
        // Typed values, as Go writes them (72.0 as 72), and the parent as the first reference.
        assert_eq!(json["tags"][3], serde_json::json!({"key": "d", "type": "float64", "value": 72}));
        assert_eq!(json["tags"][5], serde_json::json!({"key": "bytes", "type": "binary", "value": "00ff"}));
        assert_eq!(json["references"][0]["refType"], "CHILD_OF");
        assert_eq!(json["duration"], 543);
        let text = serde_json::to_string(&docs[0]).unwrap();
        let back = otlp_from_docs(vec![serde_json::from_str(&text).unwrap()]).unwrap();
        assert_eq!(back, resource_spans);
    }

    #[test]
    fn empty_lists_are_null_and_object_tags_merge_back() {
        let doc = SpanDoc { trace_id: "1".into(), span_id: "2".into(), ..SpanDoc::default() };
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["references"], Value::Null);
        assert_eq!(json["tags"], Value::Null);
        assert!(json.get("parentSpanID").is_none() && json.get("flags").is_none() && json.get("tag").is_none());

        let doc: SpanDoc = serde_json::from_str(
            r#"{"traceID":"1","spanID":"2","startTime":1.0e3,"duration":5,"references":null,
                "tag":{"http@method":"GET","retries":3},"process":{"serviceName":"s","tag":{"ip":"1.2.3.4"}}}"#,
        )
        .unwrap();
        let spans = otlp_from_docs(vec![doc]).unwrap();
        let span = &spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[15], 1);
        assert_eq!(span.start_time_unix_nano, 1_000_000);
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["http.method", "retries"]);
        assert_eq!(spans[0].resource.as_ref().unwrap().attributes[1].key, "ip");
        assert!(otlp_from_docs(vec![SpanDoc { trace_id: "zz".into(), ..SpanDoc::default() }]).is_err());
    }

    #[test]
    fn service_ids_are_jaegers() {
        let doc = ServiceDoc { service_name: "svc".into(), operation_name: "op".into() };
        let expected = fnv1a64(FNV_OFFSET, b"svcop");
        assert_eq!(doc.id(), format!("{expected:x}"));
        assert_eq!(fnv1a64(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
