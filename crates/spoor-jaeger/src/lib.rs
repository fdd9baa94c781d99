//! spoor-jaeger owns Jaeger's data models and the translations between them and OTLP: the UI
//! JSON model that `/api/traces` serves, the api_v2 protobuf model and the api_v2/api_v3 query
//! service definitions, and OTLP JSON as api_v3 prints it. The conversions follow Jaeger v2.20.0
//! (`internal/jptrace`, `internal/uimodel`) and collector-contrib's `pkg/translator/jaeger`.
//!
//! The models hold no state and do no I/O: the query crate calls them. The `jaeger` and `zipkin`
//! receivers and the remote sampling extension live here too; they listen only through the
//! server kit (`spoor-net`) and must not reach into storage.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod factories;
pub mod model;
pub mod proto;
pub mod receiver;
pub mod sampling;
pub mod thrift;
pub mod translate;
