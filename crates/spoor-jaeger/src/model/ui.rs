//! Jaeger's UI JSON model (`internal/uimodel`), as `/api/traces` prints it. Field order and
//! `null`/`[]` choices follow the Go structs, so serializing gives Jaeger's bytes.

use std::collections::BTreeMap;

use base64::Engine;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use spoor_pipeline::otlp::value::go_json_float;

/// A trace: spans, the processes they reference, and warnings (`null` when none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<Span>,
    /// Keyed `p1`, `p2`, ...; a Go map, so the keys print sorted as strings (`p10` before `p2`).
    pub processes: BTreeMap<String, Process>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flags: u32,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    pub references: Vec<Reference>,
    /// Microseconds since the Unix epoch.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<KeyValue>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID", default, skip_serializing_if = "String::is_empty")]
    pub process_id: String,
    /// Only in the embedded-process form (Elasticsearch documents); the UI form omits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefType {
    #[serde(rename = "CHILD_OF")]
    ChildOf,
    #[serde(rename = "FOLLOWS_FROM")]
    FollowsFrom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: RefType,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    pub fields: Vec<KeyValue>,
}

/// The type name printed in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    String,
    Bool,
    Int64,
    Float64,
    Binary,
}

/// A typed tag or log field.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value_type: ValueType,
    pub value: Value,
}

/// A tag value. `Str` also carries the all-strings values of the embedded-process form.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(Vec<u8>),
}

const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bool(b) => serializer.serialize_bool(*b),
            // JavaScript loses precision past 2^53, so Jaeger prints those as strings.
            Value::Int64(i) if !(-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
                serializer.serialize_str(&i.to_string())
            }
            Value::Int64(i) => serializer.serialize_i64(*i),
            Value::Float64(f) => match go_json_float(*f) {
                Some(text) => serde_json::value::RawValue::from_string(text)
                    .map_err(serde::ser::Error::custom)?
                    .serialize(serializer),
                None => serializer.serialize_none(),
            },
            Value::Binary(b) => serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }
}

impl Serialize for KeyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("KeyValue", 3)?;
        s.serialize_field("key", &self.key)?;
        s.serialize_field("type", &self.value_type)?;
        s.serialize_field("value", &self.value)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for KeyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            key: String,
            #[serde(rename = "type", default = "string_type")]
            value_type: ValueType,
            value: serde_json::Value,
        }
        fn string_type() -> ValueType {
            ValueType::String
        }
        let raw = Raw::deserialize(deserializer)?;
        let value = match (raw.value_type, raw.value) {
            (_, serde_json::Value::String(s))
                if raw.value_type != ValueType::Int64 && raw.value_type != ValueType::Binary =>
            {
                Value::Str(s)
            }
            (ValueType::Int64, serde_json::Value::String(s)) => match s.parse() {
                Ok(i) => Value::Int64(i),
                Err(_) => Value::Str(s),
            },
            (ValueType::Binary, serde_json::Value::String(s)) => {
                match base64::engine::general_purpose::STANDARD.decode(&s) {
                    Ok(b) => Value::Binary(b),
                    Err(_) => Value::Str(s),
                }
            }
            (ValueType::Bool, serde_json::Value::Bool(b)) => Value::Bool(b),
            (ValueType::Int64, serde_json::Value::Number(n)) => {
                Value::Int64(n.as_i64().ok_or_else(|| D::Error::custom("int64 tag out of range"))?)
            }
            (ValueType::Float64, serde_json::Value::Number(n)) => {
                Value::Float64(n.as_f64().ok_or_else(|| D::Error::custom("bad float64 tag"))?)
            }
            (t, v) => return Err(D::Error::custom(format!("tag {:?} of type {t:?} has value {v}", raw.key))),
        };
        Ok(KeyValue { key: raw.key, value_type: raw.value_type, value })
    }
}

/// A service-to-service edge of `/api/dependencies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    #[serde(rename = "callCount")]
    pub call_count: u64,
}

/// An operation of `/api/operations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub name: String,
    #[serde(rename = "spanKind")]
    pub span_kind: String,
}
