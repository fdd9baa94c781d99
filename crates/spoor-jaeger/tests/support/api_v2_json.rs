//! A reader for the api_v2 proto-JSON spans of Jaeger's fixtures (`domain_*.json`).
//!
//! Shared by the unit tests (`translate::test_support`) and the integration tests, so the
//! including module brings `api_v2` and `time` into scope: the paths differ between the two.

use base64::Engine as _;
use serde_json::Value;

use super::{api_v2, time};

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap()
}

pub fn timestamp(v: &Value) -> Option<prost_types::Timestamp> {
    let nanos = time::parse_rfc3339_nanos(v.as_str()?).unwrap();
    Some(prost_types::Timestamp { seconds: (nanos / 1_000_000_000) as i64, nanos: (nanos % 1_000_000_000) as i32 })
}

fn duration(v: &Value) -> Option<prost_types::Duration> {
    let nanos: i64 = v.as_str()?.strip_suffix("ns")?.parse().ok()?;
    Some(prost_types::Duration { seconds: nanos / 1_000_000_000, nanos: (nanos % 1_000_000_000) as i32 })
}

fn tags(v: &Value) -> Vec<api_v2::KeyValue> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|t| api_v2::KeyValue {
                    key: t["key"].as_str().unwrap().into(),
                    v_type: match t["vType"].as_str().unwrap_or("STRING") {
                        "BOOL" => 1,
                        "INT64" => 2,
                        "FLOAT64" => 3,
                        "BINARY" => 4,
                        _ => 0,
                    },
                    v_str: t["vStr"].as_str().unwrap_or_default().into(),
                    v_bool: t["vBool"].as_bool().unwrap_or_default(),
                    v_int64: t["vInt64"].as_i64().unwrap_or_default(),
                    v_float64: t["vFloat64"].as_f64().unwrap_or_default(),
                    v_binary: if t["vBinary"].is_string() { b64(&t["vBinary"]) } else { Vec::new() },
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse_span(s: &Value) -> api_v2::Span {
    api_v2::Span {
        trace_id: b64(&s["traceId"]),
        span_id: b64(&s["spanId"]),
        operation_name: s["operationName"].as_str().unwrap_or_default().into(),
        references: s["references"]
            .as_array()
            .map(|refs| {
                refs.iter()
                    .map(|r| api_v2::SpanRef {
                        trace_id: b64(&r["traceId"]),
                        span_id: b64(&r["spanId"]),
                        ref_type: i32::from(r["refType"] == "FOLLOWS_FROM"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        flags: s["flags"].as_u64().unwrap_or_default() as u32,
        start_time: timestamp(&s["startTime"]),
        duration: duration(&s["duration"]),
        tags: tags(&s["tags"]),
        logs: s["logs"]
            .as_array()
            .map(|logs| {
                logs.iter()
                    .map(|l| api_v2::Log { timestamp: timestamp(&l["timestamp"]), fields: tags(&l["fields"]) })
                    .collect()
            })
            .unwrap_or_default(),
        process: s.get("process").map(|p| api_v2::Process {
            service_name: p["serviceName"].as_str().unwrap_or_default().into(),
            tags: tags(&p["tags"]),
        }),
        process_id: String::new(),
        warnings: strings(&s["warnings"]),
    }
}
