//! spoor-pipeline owns the collector's runtime model: the [`TracesConsumer`] interface that
//! every stage implements, the receiver and exporter contracts, the `memory_limiter` and
//! `batch` processors, fan-out, exporter queues with retry, the `debug` and `nop` components,
//! the `health_check` extension and the self-metrics; the component factories and their
//! registry (`component`); the request metadata a batch carries and Jaeger's tenancy rules;
//! and the one home of the OTLP helpers (`otlp::names`, `otlp::value`).
//!
//! It knows no wire protocol: OTLP, Jaeger and Zipkin live in their own crates and plug in
//! through the traits here. Its unit of data is the OTLP `ResourceSpans`.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
pub mod civil;
pub mod component;
pub mod consumer;
pub mod exporter;
pub mod exporters;
pub mod extensions;
pub mod factories;
pub mod fanout;
pub mod metadata;
pub mod otlp;
pub mod processors;
pub mod queue;
pub mod receiver;
pub mod telemetry;
pub mod tenancy;
pub mod wire;

pub use batch::{EncodedRequest, TraceBatch};
pub use consumer::{ConsumeError, TracesConsumer};
pub use exporter::{ExportError, Exporter};
pub use metadata::ClientMetadata;
pub use receiver::{Receiver, ReceiverObserver, ServerTasks, StartError};
pub use telemetry::Telemetry;
