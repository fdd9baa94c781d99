//! spoor-loadgen: an OTLP trace load generator and a counting sink.
//!
//! The generator builds a pool of realistic export requests once (`payload`), then workers send
//! those bytes as they are over OTLP/gRPC or OTLP/HTTP (`client`, `codec`), closed-loop or at a
//! fixed rate (`runner`), and report throughput and latency (`report`). The sink (`sink`) is a
//! minimal OTLP server that counts spans, for benchmarks and for tests that check delivery.
//!
//! This crate is a tool outside the data path: it talks to spoor only over the wire and uses no
//! spoor crate.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod codec;
pub mod payload;
pub mod report;
pub mod runner;
pub mod sink;
pub mod wire;
