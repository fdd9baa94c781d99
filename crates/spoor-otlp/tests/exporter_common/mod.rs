//! What the exporter tests send: one resource with a parent span and its child.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{Resource, ResourceSpans, ScopeSpans, Span};

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

pub fn sample_batch() -> TraceBatch {
    let span = |name: &str, id: u8| Span {
        trace_id: vec![7; 16],
        span_id: vec![id; 8],
        parent_span_id: if id > 1 { vec![1; 8] } else { vec![] },
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![
            attribute("http.method", any_value::Value::StringValue("GET".to_owned())),
            attribute("retries", any_value::Value::IntValue(3)),
        ],
        ..Default::default()
    };
    TraceBatch::new(vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attribute("service.name", any_value::Value::StringValue("checkout".to_owned()))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![span("GET /cart", 1), span("SELECT cart", 2)],
            ..Default::default()
        }],
        ..Default::default()
    }])
}
