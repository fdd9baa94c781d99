//! Jaeger's models and the conversions Jaeger v2.20.0 applies when it serves stored OTLP.
//!
//! The path of a trace to the UI is: [`adjust`] (the query service's standard adjusters, on OTLP),
//! then [`to_proto`] (OTLP to the api_v2 model, as `jptrace.ProtoFromTraces`), then [`to_ui`]
//! (the api_v2 model to UI JSON, as `uiconv.FromDomain`).

pub mod adjust;
pub mod gojson;
pub mod ids;
pub mod otlp_json;
pub mod time;
pub mod to_proto;
pub mod to_ui;
pub mod ui;

use spoor_pipeline::otlp::ResourceSpans;

/// Converts one trace's OTLP spans to the UI model, without adjusters (as `/api/transform`).
pub fn ui_trace_from_otlp(resource_spans: &[ResourceSpans]) -> ui::Trace {
    let spans = to_proto::spans_from_otlp(resource_spans);
    to_ui::trace_from_spans(&spans, Vec::new())
}
