//! Jaeger v2.20.0's conversion fixtures (`testdata/fixtures/jaeger/api`), converted exactly.

use std::path::PathBuf;

use serde_json::Value;
use spoor_jaeger::model::{self, gojson, time, to_ui};
use spoor_jaeger::proto::api_v2;

#[path = "support/api_v2_json.rs"]
mod api_v2_json;
use api_v2_json::{parse_span, strings};

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
