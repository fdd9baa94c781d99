//! spoor-otlp owns the OTLP wire protocol at the edges of the pipeline: the `otlp` receiver
//! (gRPC and HTTP, protobuf and JSON) and the `otlp`/`otlphttp` exporters, and their
//! factories. Listeners, TLS settings and authenticators come from the server kit, spoor-net.
//!
//! It plugs into `spoor-pipeline` through its `Receiver` and `Exporter` traits and never
//! reaches into other stages; it knows no storage and no other protocol.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod exporter;
pub mod factories;
pub mod receiver;
