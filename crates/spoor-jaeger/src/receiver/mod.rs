//! The collector's `jaeger` and `zipkin` receivers: every port of Jaeger's collector and agent
//! (gRPC 14250, Thrift over HTTP 14268, the agent's UDP 6831 compact and 6832 binary) and
//! Zipkin's 9411. Each decodes at the edge, translates into OTLP (see [`crate::translate`]) and
//! hands the batch to the pipeline through a [`spoor_pipeline::ReceiverObserver`] per
//! transport, with the collector's transport labels.
//!
//! The TCP listeners are the server kit's ([`spoor_net`]): its settings, TLS, auth, limits and
//! lifecycle; this module adds only the handlers.
//!
//! Errors map as in the `otlp` receiver: undecodable input is 400 / `InvalidArgument`, a
//! pipeline refusal is 503 with `Retry-After` / `Unavailable`, a wrong content type is 415 and
//! an oversized body 413. UDP has no answer, so bad datagrams are dropped and counted in
//! `otelcol_receiver_refused_spans` (as one span each, since their span count is unknown).

mod config;
mod grpc;
pub(crate) mod http;
mod jaeger;
mod udp;
mod zipkin;

pub use config::{
    DEFAULT_GRPC_ENDPOINT, DEFAULT_MAX_PACKET_SIZE, DEFAULT_QUEUE_SIZE, DEFAULT_THRIFT_BINARY_ENDPOINT,
    DEFAULT_THRIFT_COMPACT_ENDPOINT, DEFAULT_THRIFT_HTTP_ENDPOINT, DEFAULT_WORKERS, DEFAULT_ZIPKIN_ENDPOINT,
    HttpServerConfig, JaegerProtocols, JaegerReceiverConfig, ThriftBinaryConfig, ThriftCompactConfig,
    UdpServerSettings, ZipkinReceiverConfig,
};
pub use jaeger::{JaegerLocalAddrs, JaegerReceiver};
pub use zipkin::ZipkinReceiver;

/// Component type names, as in the collector.
pub const JAEGER_TYPE_NAME: &str = "jaeger";
pub const ZIPKIN_TYPE_NAME: &str = "zipkin";

#[cfg(test)]
mod tests;
