//! spoor-loadgen: a trace load generator and a counting OTLP sink.
//!
//! The generator builds a pool of realistic export requests once (`payload`), encoded as OTLP or
//! as the Jaeger and Zipkin ingest formats (`formats`), then workers send those bytes as they
//! are over gRPC, HTTP or UDP (`client`, `codec`), closed-loop or at a fixed rate (`runner`), and
//! report throughput and latency (`report`), plus what the server's metrics say it accepted
//! (`metrics`). With unique traces, each send patches its pooled bytes so that its trace IDs are
//! its own and its times spread over hours (`stamp`), and the run can list the traces it had
//! acknowledged (`known`); the query mode (`query`) then times Jaeger API lookups and searches of
//! those traces. The sink (`sink`) is a minimal OTLP server that counts spans, for benchmarks and
//! for tests that check delivery.
//!
//! This crate is a tool outside the data path: it talks to spoor only over the wire. It uses
//! spoor-jaeger only for the Jaeger and Zipkin types, encoders and OTLP → Jaeger translation, so
//! that the bytes it sends are laid out as spoor's own decoders expect.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod codec;
pub mod formats;
pub mod known;
pub mod metrics;
pub mod payload;
pub mod query;
pub mod report;
pub mod runner;
pub mod sink;
pub mod stamp;
pub mod wire;
