//! spoor-net is the server kit every listener uses, in the shape of the collector's
//! `configgrpc`, `confighttp` and `configtls`: one settings type per transport
//! ([`HttpServerSettings`], [`GrpcServerSettings`]), one bind helper ([`endpoint::bind`]), one
//! accept loop ([`Listener::serve`]: connection cap, TLS with certificate reload, header-read,
//! write and idle timeouts), one graceful shutdown ([`Server::shutdown`]), the DNS-rebinding
//! Host check, CORS, and the authenticators.
//!
//! A listener is settings plus a handler: any tower service over `Request<RequestBody>`.
//! It knows HTTP, gRPC and TLS, and nothing of traces or the pipeline.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
mod body;
mod connection;
pub mod cors;
pub mod endpoint;
mod guard;
mod host;
pub mod limits;
mod listen;
mod problem;
mod serve;
mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
mod tls_reload;

pub use body::{BoxError, ReadTimeout, RequestBody, ResponseBody};
pub use connection::ConnectionTimeouts;
pub use guard::{Protocol, PublicPaths, RequestMetadata};
pub use host::HostAllowList;
pub use listen::{DEFAULT_GRPC_MAX_CONNECTION_IDLE, ListenError};
pub use problem::{ConfigProblem, OtherKeys};
pub use serve::{Listener, Server};
pub use settings::{
    AuthSettings, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_RECV_MSG_SIZE_MIB, DEFAULT_MAX_REQUEST_BODY_SIZE,
    DEFAULT_READ_HEADER_TIMEOUT, DEFAULT_WRITE_TIMEOUT, GrpcKeepalive, GrpcServerSettings, HttpServerSettings,
    KeepaliveServerParameters,
};
pub use tls_reload::ServerTls;
