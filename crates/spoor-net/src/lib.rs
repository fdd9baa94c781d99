//! spoor-net is the server kit every listener uses, in the shape of the collector's
//! `configgrpc`, `confighttp` and `configtls`: one config type per transport, one bind helper,
//! one accept loop (connection cap, TLS with certificate reload, header-read and idle timeouts),
//! one graceful shutdown, the DNS-rebinding Host check, and the authenticators.
//!
//! It knows HTTP, gRPC and TLS, and nothing of traces or the pipeline.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod config_problem;

pub use config_problem::ConfigProblem;
