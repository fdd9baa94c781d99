//! OTLP/JSON requests and responses.
//!
//! opentelemetry-proto's serde derive covers the core of the spec (camelCase names, hex trace
//! and span IDs, int64 as strings or numbers, base64 bytes, unknown fields ignored), but not
//! the rest of the protobuf JSON mapping that OTLP/JSON senders use and the collector
//! accepts: enum values by name, the original snake_case field names, `null` for a default,
//! and numbers written as strings for 32-bit fields and doubles. [`normalize`] rewrites those
//! into the forms the derive takes, so the generated types stay the single decoder.

use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use serde_json::{Map, Value};
use spoor_pipeline::otlp::{ExportTracePartialSuccess, ExportTraceServiceRequest};

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_request(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    // serde_json bounds nesting at 128 levels, so the walks below cannot overflow the stack.
    let mut value: Value = serde_json::from_slice(body).map_err(|err| err.to_string())?;
    if !value.is_object() {
        return Err("expected a JSON object".to_owned());
    }
    normalize(&mut value);
    serde_json::from_value(value).map_err(|err| err.to_string())
}

/// Encodes an `ExportTraceServiceResponse` as the collector does: `{}` when fully accepted,
/// with int64 counts as strings.
pub fn encode_response(partial: Option<&ExportTracePartialSuccess>) -> Vec<u8> {
    let value = match partial {
        Some(partial) => {
            let mut inner = Map::new();
            if partial.rejected_spans != 0 {
                inner.insert("rejectedSpans".to_owned(), Value::String(partial.rejected_spans.to_string()));
            }
            if !partial.error_message.is_empty() {
                inner.insert("errorMessage".to_owned(), Value::String(partial.error_message.clone()));
            }
            serde_json::json!({ "partialSuccess": inner })
        }
        None => Value::Object(Map::new()),
    };
    value.to_string().into_bytes()
}

/// Fields of 32-bit integer types, which protobuf JSON allows as strings.
const INTEGER_FIELDS: [&str; 4] = ["droppedAttributesCount", "droppedEventsCount", "droppedLinksCount", "flags"];

fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => normalize_object(map),
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn normalize_object(map: &mut Map<String, Value>) {
    let entries = std::mem::take(map);
    for (key, mut value) in entries {
        if value.is_null() {
            continue;
        }
        let key = if key.contains('_') { to_camel_case(&key) } else { key };
        match key.as_str() {
            "kind" => enum_by_name(&mut value, |name| SpanKind::from_str_name(name).map(|k| k as i32)),
            "code" => enum_by_name(&mut value, |name| StatusCode::from_str_name(name).map(|c| c as i32)),
            "doubleValue" => {
                number_from_string(&mut value, |text| text.parse::<f64>().ok().and_then(serde_json::Number::from_f64))
            }
            field if INTEGER_FIELDS.contains(&field) => {
                number_from_string(&mut value, |text| text.parse::<u64>().ok().map(serde_json::Number::from))
            }
            _ => normalize(&mut value),
        }
        map.insert(key, value);
    }
}

fn enum_by_name(value: &mut Value, lookup: impl Fn(&str) -> Option<i32>) {
    if let Value::String(name) = value
        && let Some(number) = lookup(name).or_else(|| name.parse().ok())
    {
        *value = Value::from(number);
    }
}

fn number_from_string(value: &mut Value, parse: impl Fn(&str) -> Option<serde_json::Number>) {
    if let Value::String(text) = value
        && let Some(number) = parse(text)
    {
        *value = Value::Number(number);
    }
}

fn to_camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;

    use super::*;

    const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
    const SPAN_ID: &str = "eee19b7ec3c1b174";

    fn spec_example() -> String {
        // The shape of the OTLP/JSON example in the spec, with both spellings of enums.
        format!(
            r#"{{
  "resourceSpans": [{{
    "resource": {{"attributes": [{{"key": "service.name", "value": {{"stringValue": "my.service"}}}}]}},
    "scopeSpans": [{{
      "scope": {{"name": "my.library", "version": "1.0.0"}},
      "spans": [
        {{
          "traceId": "{TRACE_ID}", "spanId": "{SPAN_ID}", "parentSpanId": "",
          "name": "I'm a server span", "kind": 2,
          "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
          "attributes": [
            {{"key": "my.span.attr", "value": {{"stringValue": "some value"}}}},
            {{"key": "int", "value": {{"intValue": "42"}}}},
            {{"key": "double", "value": {{"doubleValue": "1.5"}}}},
            {{"key": "bytes", "value": {{"bytesValue": "aGk="}}}},
            {{"key": "list", "value": {{"arrayValue": {{"values": [{{"boolValue": true}}]}}}}}}
          ],
          "events": [{{"timeUnixNano": "1544712660500000000", "name": "ev"}}],
          "links": [{{"traceId": "{TRACE_ID}", "spanId": "{SPAN_ID}", "flags": "1"}}],
          "status": {{"code": "STATUS_CODE_ERROR", "message": "boom"}},
          "droppedAttributesCount": "3",
          "unknownField": {{"ignored": true}}
        }},
        {{
          "trace_id": "{TRACE_ID}", "span_id": "{SPAN_ID}", "name": "snake",
          "kind": "SPAN_KIND_CLIENT", "start_time_unix_nano": 5, "status": null
        }}
      ]
    }}]
  }}]
}}"#
        )
    }

    #[test]
    fn decodes_the_spec_forms() {
        let request = decode_request(spec_example().as_bytes()).unwrap();
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        let span = &spans[0];
        assert_eq!(hex(&span.trace_id), TRACE_ID);
        assert_eq!(hex(&span.span_id), SPAN_ID);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.dropped_attributes_count, 3);
        assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
        assert_eq!(span.events[0].time_unix_nano, 1_544_712_660_500_000_000);
        assert_eq!(span.links[0].flags, 1);
        let values: Vec<_> =
            span.attributes.iter().map(|kv| kv.value.as_ref().unwrap().value.clone().unwrap()).collect();
        assert_eq!(values[1], AnyValue::IntValue(42));
        assert_eq!(values[2], AnyValue::DoubleValue(1.5));
        assert_eq!(values[3], AnyValue::BytesValue(b"hi".to_vec()));
        let snake = &spans[1];
        assert_eq!(snake.name, "snake");
        assert_eq!(hex(&snake.span_id), SPAN_ID);
        assert_eq!(snake.kind, SpanKind::Client as i32);
        assert_eq!(snake.start_time_unix_nano, 5);
    }

    #[test]
    fn rejects_malformed_json() {
        for bad in [
            &b"{"[..],
            b"[]",
            b"42",
            b"{\"resourceSpans\": 5}",
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_NOPE"}]}]}]}"#,
        ] {
            assert!(decode_request(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(100_000);
        assert!(decode_request(deep.as_bytes()).is_err());
    }

    #[test]
    fn empty_object_is_an_empty_request() {
        assert!(decode_request(b"{}").unwrap().resource_spans.is_empty());
    }

    #[test]
    fn encodes_responses_like_the_collector() {
        assert_eq!(encode_response(None), b"{}");
        let partial = ExportTracePartialSuccess { rejected_spans: 2, error_message: "bad ids".to_owned() };
        let value: Value = serde_json::from_slice(&encode_response(Some(&partial))).unwrap();
        assert_eq!(value, serde_json::json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "bad ids"}}));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
