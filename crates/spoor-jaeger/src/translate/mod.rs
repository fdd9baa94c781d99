//! Translation of Jaeger and Zipkin ingest formats into OTLP, following collector-contrib's
//! `pkg/translator/jaeger` and `pkg/translator/zipkin`: Jaeger Thrift and api_v2 protobuf
//! batches, Zipkin v2 (JSON, protobuf) and Zipkin v1 (JSON, Thrift) spans.
//!
//! Everything here is pure: bytes or decoded structs in, `ResourceSpans` out.

pub(crate) mod attrs;
pub mod jaeger;
pub mod zipkin;
pub mod zipkin_v1;

pub use jaeger::{proto_to_otlp, thrift_to_otlp};
pub use zipkin::{ZipkinSpan, decode_v2_json, decode_v2_proto, v2_to_otlp};
pub use zipkin_v1::{v1_json_to_otlp, v1_thrift_to_otlp};

/// Input that cannot be translated; receivers answer it with 400 / `InvalidArgument`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TranslateError(pub String);

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    use base64::Engine as _;
    use serde_json::Value;
    use spoor_pipeline::otlp::{KeyValue, any_value};

    use crate::proto::api_v2;
    use crate::thrift::generated::jaeger as thrift;

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

    /// `2017-01-26T16:46:31.639875-05:00` as a protobuf timestamp.
    fn rfc3339(text: &str) -> prost_types::Timestamp {
        let (date, rest) = text.split_once('T').unwrap();
        let mut ymd = date.split('-').map(|p| p.parse::<i64>().unwrap());
        let (y, m, d) = (ymd.next().unwrap(), ymd.next().unwrap(), ymd.next().unwrap());
        let offset_at = rest.rfind(['+', '-', 'Z']).unwrap();
        let (time, offset) = rest.split_at(offset_at);
        let offset_seconds = if offset == "Z" {
            0
        } else {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let mut hm = offset[1..].split(':').map(|p| p.parse::<i64>().unwrap());
            sign * (hm.next().unwrap() * 3600 + hm.next().unwrap() * 60)
        };
        let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
        let mut hms = hms.split(':').map(|p| p.parse::<i64>().unwrap());
        let (h, mi, s) = (hms.next().unwrap(), hms.next().unwrap(), hms.next().unwrap());
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let nanos: i64 = format!("{fraction:0<9}")[..9].parse().unwrap();
        prost_types::Timestamp { seconds: days * 86_400 + h * 3600 + mi * 60 + s - offset_seconds, nanos: nanos as i32 }
    }

    fn proto_tags(tags: &Value) -> Vec<api_v2::KeyValue> {
        tags.as_array()
            .map(|tags| {
                tags.iter()
                    .map(|t| {
                        let v_type = api_v2::ValueType::from_str_name(t["vType"].as_str().unwrap()).unwrap() as i32;
                        api_v2::KeyValue {
                            key: t["key"].as_str().unwrap().to_owned(),
                            v_type,
                            v_str: t["vStr"].as_str().unwrap_or("").to_owned(),
                            v_bool: t["vBool"].as_bool().unwrap_or(false),
                            v_int64: t["vInt64"].as_i64().unwrap_or(0),
                            v_float64: t["vFloat64"].as_f64().unwrap_or(0.0),
                            v_binary: t["vBinary"]
                                .as_str()
                                .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                                .unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn b64(value: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(value.as_str().unwrap()).unwrap()
    }

    /// A Thrift-converter `domain_*.json` (api_v2 proto-JSON spans) as one `PostSpans` batch.
    pub fn domain_fixture(name: &str) -> api_v2::Batch {
        let json = read(name);
        let spans = json["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let nanos: u64 = s["duration"].as_str().unwrap().trim_end_matches("ns").parse().unwrap();
                api_v2::Span {
                    trace_id: b64(&s["traceId"]),
                    span_id: b64(&s["spanId"]),
                    operation_name: s["operationName"].as_str().unwrap().to_owned(),
                    references: s["references"]
                        .as_array()
                        .map(|refs| {
                            refs.iter()
                                .map(|r| api_v2::SpanRef {
                                    trace_id: b64(&r["traceId"]),
                                    span_id: b64(&r["spanId"]),
                                    ref_type: api_v2::SpanRefType::from_str_name(r["refType"].as_str().unwrap())
                                        .unwrap() as i32,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    start_time: Some(rfc3339(s["startTime"].as_str().unwrap())),
                    duration: Some(prost_types::Duration {
                        seconds: (nanos / 1_000_000_000) as i64,
                        nanos: (nanos % 1_000_000_000) as i32,
                    }),
                    tags: proto_tags(&s["tags"]),
                    logs: s["logs"]
                        .as_array()
                        .map(|logs| {
                            logs.iter()
                                .map(|l| api_v2::Log {
                                    timestamp: Some(rfc3339(l["timestamp"].as_str().unwrap())),
                                    fields: proto_tags(&l["fields"]),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    process: Some(api_v2::Process {
                        service_name: s["process"]["serviceName"].as_str().unwrap().to_owned(),
                        tags: proto_tags(&s["process"]["tags"]),
                    }),
                    ..Default::default()
                }
            })
            .collect();
        api_v2::Batch { spans, process: None }
    }

    #[test]
    fn rfc3339_with_offset() {
        let t = rfc3339("2017-01-26T16:46:31.639875-05:00");
        assert_eq!((t.seconds, t.nanos), (1_485_467_191, 639_875_000));
    }
}
