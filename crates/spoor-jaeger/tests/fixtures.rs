//! Jaeger v2.20.0's conversion fixtures (`testdata/fixtures/jaeger/api`), converted exactly.

use std::path::PathBuf;

use base64::Engine;
use serde_json::Value;
use spoor_jaeger::model::{self, gojson, time, to_ui};
use spoor_jaeger::proto::api_v2;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures/jaeger/api")
}

fn read(path: &str) -> String {
    let path = fixtures_dir().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    String::from_utf8(gojson::to_vec(value, Some("  ")).unwrap()).unwrap()
}

#[test]
fn otlp_to_ui_matches_transform_fixture() {
    let input = read("jaegerquery-fixture/otlp2jaeger-in.json");
    let expected = read("jaegerquery-fixture/otlp2jaeger-out.json");
    let resource_spans = model::otlp_json::parse_traces(input.as_bytes()).unwrap();
    let trace = model::ui_trace_from_otlp(&resource_spans);
    let envelope = serde_json::json!({
        "data": [trace],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": null,
    });
    let ours: Value = serde_json::from_str(&pretty(&envelope)).unwrap();
    let theirs: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(ours, theirs);
    // Key order too: the trace itself serializes in Jaeger's field order.
    let trace_text = pretty(&trace);
    let expected_trace = pretty(&theirs["data"][0]);
    assert_eq!(
        serde_json::from_str::<Value>(&trace_text).unwrap(),
        serde_json::from_str::<Value>(&expected_trace).unwrap()
    );
    assert!(expected.contains(&indent_block(&trace_text, 4)), "field order differs from the fixture");
}

fn indent_block(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { l.to_string() } else { format!("{pad}{l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn domain_trace_to_ui_is_byte_exact() {
    let domain: Value = serde_json::from_str(&read("uimodel-json/domain_01.json")).unwrap();
    let spans: Vec<api_v2::Span> = domain["spans"].as_array().unwrap().iter().map(parse_span).collect();
    let warnings = strings(&domain["warnings"]);
    let trace = to_ui::trace_from_spans(&spans, warnings);
    assert_eq!(pretty(&trace), read("uimodel-json/ui_01.json").trim_end());
}

#[test]
fn domain_span_to_embedded_process_form_is_byte_exact() {
    let domain: Value = serde_json::from_str(&read("uimodel-json/domain_es_01.json")).unwrap();
    let span = to_ui::span_with_embedded_process(&parse_span(&domain));
    assert_eq!(pretty(&span), read("uimodel-json/es_01.json").trim_end());
}

#[test]
fn ui_json_round_trips_through_serde() {
    let text = read("uimodel-json/ui_01.json");
    let trace: model::ui::Trace = serde_json::from_str(&text).unwrap();
    assert_eq!(pretty(&trace), text.trim_end());
}

// --- a reader for the api_v2 proto-JSON of the fixtures ---

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap()
}

fn timestamp(v: &Value) -> Option<prost_types::Timestamp> {
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

fn parse_span(s: &Value) -> api_v2::Span {
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
