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
pub(crate) mod test_support;
