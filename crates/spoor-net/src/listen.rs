//! Turning a listener's settings into a bound [`Listener`]: the socket, the TLS config, the
//! connection limits and the request guard, with the defaults every listener shares.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::auth::Authenticators;
use crate::connection::ConnectionTimeouts;
use crate::cors::Cors;
use crate::guard::{Protocol, RequestGuard};
use crate::host::HostAllowList;
use crate::serve::{ConnectionPolicy, Listener};
use crate::settings::{
    AuthSettings, DEFAULT_IDLE_TIMEOUT, DEFAULT_READ_HEADER_TIMEOUT, GrpcServerSettings, HttpServerSettings,
};
use crate::tls_reload::ServerTls;

/// gRPC connections with no call in flight are closed after this by default (clients
/// reconnect on their next call), so idle sockets cannot pile up.
pub const DEFAULT_GRPC_MAX_CONNECTION_IDLE: Duration = Duration::from_secs(300);

/// Why a listener could not start, with its endpoint.
#[derive(Debug, thiserror::Error)]
#[error("endpoint {endpoint}: {message}")]
pub struct ListenError {
    pub endpoint: String,
    pub message: String,
}

const HTTP_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
const GRPC_ALPN: &[&[u8]] = &[b"h2"];

impl Listener {
    /// Binds an HTTP listener (HTTP/1.1 and HTTP/2) from confighttp's settings.
    pub async fn http(
        settings: &HttpServerSettings,
        default_endpoint: &str,
        authenticators: &Authenticators,
    ) -> Result<Self, ListenError> {
        let endpoint = settings.endpoint_or(default_endpoint);
        let fail = |message: String| ListenError { endpoint: endpoint.to_owned(), message };
        let tls = settings.tls.as_ref().map(|tls| ServerTls::new(tls, HTTP_ALPN)).transpose().map_err(|e| fail(e.0))?;
        let hosts = HostAllowList::parse(&settings.allowed_hosts).map_err(fail)?;
        let policy = ConnectionPolicy {
            tls,
            header_read_timeout: Some(settings.read_header_timeout.unwrap_or(DEFAULT_READ_HEADER_TIMEOUT)),
            timeouts: ConnectionTimeouts {
                idle: Some(settings.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT)),
                write: settings.write_timeout.filter(|t| !t.is_zero()),
                max_age: None,
                max_age_grace: None,
            },
            max_connections: settings.max_connections,
            keep_alive: settings.keep_alives_enabled,
            http2_only: false,
            http2_max_concurrent_streams: None,
            http2_keepalive_interval: None,
            http2_keepalive_timeout: None,
            recv_buffer_size: None,
            send_buffer_size: None,
        };
        let response_headers = settings
            .response_headers
            .iter()
            .filter_map(|(name, value)| {
                Some((HeaderName::from_bytes(name.as_bytes()).ok()?, HeaderValue::from_str(value).ok()?))
            })
            .collect();
        let guard = RequestGuard {
            protocol: Protocol::Http,
            hosts: Some(hosts),
            cors: settings.cors.as_ref().and_then(Cors::new),
            auth: server_auth(settings.auth.as_ref(), authenticators).map_err(fail)?,
            public: None,
            include_metadata: settings.include_metadata,
            response_headers,
            read_timeout: settings.read_timeout.filter(|t| !t.is_zero()),
        };
        bind(endpoint, policy, guard).await
    }

    /// Binds a gRPC listener (HTTP/2 only) from configgrpc's settings.
    pub async fn grpc(
        settings: &GrpcServerSettings,
        default_endpoint: &str,
        authenticators: &Authenticators,
    ) -> Result<Self, ListenError> {
        let endpoint = settings.endpoint_or(default_endpoint);
        let fail = |message: String| ListenError { endpoint: endpoint.to_owned(), message };
        let tls = settings.tls.as_ref().map(|tls| ServerTls::new(tls, GRPC_ALPN)).transpose().map_err(|e| fail(e.0))?;
        let params = settings.server_parameters();
        let policy = ConnectionPolicy {
            tls,
            header_read_timeout: None,
            timeouts: ConnectionTimeouts {
                idle: Some(params.max_connection_idle.unwrap_or(DEFAULT_GRPC_MAX_CONNECTION_IDLE)),
                write: None,
                max_age: params.max_connection_age,
                max_age_grace: params.max_connection_age_grace,
            },
            max_connections: settings.max_connections,
            keep_alive: true,
            http2_only: true,
            http2_max_concurrent_streams: Some(settings.max_concurrent_streams).filter(|&n| n > 0),
            http2_keepalive_interval: params.time,
            http2_keepalive_timeout: params.timeout,
            recv_buffer_size: settings.read_buffer_size,
            send_buffer_size: settings.write_buffer_size,
        };
        let guard = RequestGuard {
            protocol: Protocol::Grpc,
            hosts: None,
            cors: None,
            auth: server_auth(settings.auth.as_ref(), authenticators).map_err(fail)?,
            public: None,
            include_metadata: settings.include_metadata,
            response_headers: Vec::new(),
            read_timeout: None,
        };
        bind(endpoint, policy, guard).await
    }
}

fn server_auth(
    auth: Option<&AuthSettings>,
    authenticators: &Authenticators,
) -> Result<Option<crate::auth::SharedServerAuthenticator>, String> {
    auth.map(|auth| authenticators.server(auth.authenticator.trim()).map_err(|err| err.to_string())).transpose()
}

async fn bind(endpoint: &str, policy: ConnectionPolicy, mut guard: RequestGuard) -> Result<Listener, ListenError> {
    let fail = |message: String| ListenError { endpoint: endpoint.to_owned(), message };
    let tcp = crate::endpoint::bind(endpoint).await.map_err(|err| fail(format!("cannot listen: {err}")))?;
    let local_addr = tcp.local_addr().map_err(|err| fail(err.to_string()))?;
    guard.hosts = guard.hosts.filter(|hosts| hosts.applies_to(local_addr.ip()));
    Ok(Listener { tcp, local_addr, policy, guard })
}
