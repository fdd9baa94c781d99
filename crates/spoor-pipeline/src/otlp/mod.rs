//! The OTLP protobuf types, re-exported so every crate uses the same ones, and the facts about
//! them that several crates need: [`names`] (span-kind and status names, attribute keys) and
//! [`value`] (an `AnyValue` as text, as pdata renders it).

pub mod names;
pub mod value;

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
pub use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};
