//! Fixture readers for the translators' unit tests.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;
use spoor_pipeline::otlp::{KeyValue, any_value};

use crate::model::time;
use crate::proto::api_v2;
use crate::thrift::generated::jaeger as thrift;

#[path = "../../tests/support/api_v2_json.rs"]
mod api_v2_json;

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures/jaeger/thrift-converter")
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `(key, value as text)` pairs, for readable assertions.
pub fn attr_strings(attributes: &[KeyValue]) -> Vec<(&str, String)> {
    attributes
        .iter()
        .map(|kv| {
            let text = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                Some(any_value::Value::BytesValue(b)) => hex::encode(b),
                other => format!("{other:?}"),
            };
            (kv.key.as_str(), text)
        })
        .collect()
}

fn thrift_tag(tag: &Value) -> thrift::Tag {
    let v_type = match tag["vType"].as_str().unwrap() {
        "STRING" => thrift::TagType::STRING,
        "DOUBLE" => thrift::TagType::DOUBLE,
        "BOOL" => thrift::TagType::BOOL,
        "LONG" => thrift::TagType::LONG,
        "BINARY" => thrift::TagType::BINARY,
        other => panic!("{other}"),
    };
    thrift::Tag {
        key: tag["key"].as_str().unwrap().to_owned(),
        v_type,
        v_str: tag["vStr"].as_str().map(str::to_owned),
        v_double: tag["vDouble"].as_f64().map(::thrift::OrderedFloat::from),
        v_bool: tag["vBool"].as_bool(),
        v_long: tag["vLong"].as_i64(),
        v_binary: tag["vBinary"].as_str().map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap()),
    }
}

fn thrift_tags(tags: &Value) -> Option<Vec<thrift::Tag>> {
    tags.as_array().map(|tags| tags.iter().map(thrift_tag).collect())
}

/// A Thrift-converter fixture batch (Go JSON of the generated struct).
pub fn thrift_fixture(name: &str) -> thrift::Batch {
    let json = read(name);
    let spans = json["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| thrift::Span {
            trace_id_low: s["traceIdLow"].as_i64().unwrap_or(0),
            trace_id_high: s["traceIdHigh"].as_i64().unwrap_or(0),
            span_id: s["spanId"].as_i64().unwrap_or(0),
            parent_span_id: s["parentSpanId"].as_i64().unwrap_or(0),
            operation_name: s["operationName"].as_str().unwrap_or("").to_owned(),
            references: s["references"].as_array().map(|refs| {
                refs.iter()
                    .map(|r| thrift::SpanRef {
                        ref_type: if r["refType"] == "CHILD_OF" {
                            thrift::SpanRefType::CHILD_OF
                        } else {
                            thrift::SpanRefType::FOLLOWS_FROM
                        },
                        trace_id_low: r["traceIdLow"].as_i64().unwrap_or(0),
                        trace_id_high: r["traceIdHigh"].as_i64().unwrap_or(0),
                        span_id: r["spanId"].as_i64().unwrap_or(0),
                    })
                    .collect()
            }),
            flags: s["flags"].as_i64().unwrap_or(0) as i32,
            start_time: s["startTime"].as_i64().unwrap_or(0),
            duration: s["duration"].as_i64().unwrap_or(0),
            tags: thrift_tags(&s["tags"]),
            logs: s["logs"].as_array().map(|logs| {
                logs.iter()
                    .map(|l| thrift::Log {
                        timestamp: l["timestamp"].as_i64().unwrap(),
                        fields: thrift_tags(&l["fields"]).unwrap_or_default(),
                    })
                    .collect()
            }),
        })
        .collect();
    thrift::Batch {
        process: thrift::Process {
            service_name: json["process"]["serviceName"].as_str().unwrap().to_owned(),
            tags: thrift_tags(&json["process"]["tags"]),
        },
        spans,
        seq_no: None,
        stats: None,
    }
}

/// A Thrift-converter `domain_*.json` (api_v2 proto-JSON spans) as one `PostSpans` batch.
pub fn domain_fixture(name: &str) -> api_v2::Batch {
    let spans = read(name)["spans"].as_array().unwrap().iter().map(api_v2_json::parse_span).collect();
    api_v2::Batch { spans, process: None }
}

#[test]
fn rfc3339_with_offset() {
    let t = api_v2_json::timestamp(&Value::from("2017-01-26T16:46:31.639875-05:00")).unwrap();
    assert_eq!((t.seconds, t.nanos), (1_485_467_191, 639_875_000));
}
