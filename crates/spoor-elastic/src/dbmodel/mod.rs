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
