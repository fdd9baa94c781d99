//! The listener settings, in the shape of the collector's `confighttp.ServerConfig` and
//! `configgrpc.ServerConfig`, with their defaults and validation. A listener's config holds one
//! of these (flattened for HTTP, where the collector adds the component's keys beside them).

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use spoor_config::serde_ext::null_as_default;

use crate::cors::CorsConfig;
use crate::endpoint::parse_endpoint;
use crate::host::HostAllowList;
use crate::problem::ConfigProblem;
use crate::tls::TlsSettings;

const MIB: usize = 1024 * 1024;
/// confighttp's default body limit: 20 MiB, as sent and after decompression.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: usize = 20 * MIB;
/// configgrpc's default message limit, in MiB.
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
/// confighttp's defaults for the slow-client timeouts.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// `auth`, as configauth: the id of an authenticator extension (`bearertokenauth/in`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub authenticator: String,
}

/// confighttp's server keys. `endpoint: None` means the listener's default endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpServerSettings {
    pub endpoint: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Option<TlsSettings>,
    #[serde(deserialize_with = "null_as_default")]
    pub cors: Option<CorsConfig>,
    pub auth: Option<AuthSettings>,
    /// Bytes, as sent and after decompression; 0 or less means 20 MiB.
    pub max_request_body_size: i64,
    /// Puts the request's headers (and the authenticated caller) beside the data it carries.
    pub include_metadata: bool,
    /// Headers added to every response.
    pub response_headers: BTreeMap<String, String>,
    /// Accepted `Content-Encoding`s, where the listener reads compressed bodies.
    pub compression_algorithms: Option<Vec<String>>,
    /// The most a request's body may take to arrive; none by default.
    #[serde(with = "spoor_config::duration::option")]
    pub read_timeout: Option<Duration>,
    /// The most a request's headers may take to arrive; default 1m.
    #[serde(with = "spoor_config::duration::option")]
    pub read_header_timeout: Option<Duration>,
    /// The most a request may take from its headers to the end of its response; default 30s.
    #[serde(with = "spoor_config::duration::option")]
    pub write_timeout: Option<Duration>,
    /// How long a keep-alive connection may wait for its next request; default 1m.
    #[serde(with = "spoor_config::duration::option")]
    pub idle_timeout: Option<Duration>,
    /// `false` closes each HTTP/1.1 connection after one request.
    pub keep_alives_enabled: bool,
    /// spoor: Host names a loopback-bound listener answers besides `localhost` and loopback
    /// addresses (the defence against DNS rebinding); `["*"]` turns the check off.
    pub allowed_hosts: Vec<String>,
    /// spoor: open connections beyond this are closed at once; default 4096 (at most a quarter
    /// of the open-files limit).
    pub max_connections: Option<usize>,
}

impl Default for HttpServerSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            tls: None,
            cors: None,
            auth: None,
            max_request_body_size: 0,
            include_metadata: false,
            response_headers: BTreeMap::new(),
            compression_algorithms: None,
            read_timeout: None,
            read_header_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            keep_alives_enabled: true,
            allowed_hosts: Vec::new(),
            max_connections: None,
        }
    }
}

impl HttpServerSettings {
    /// A listener on `endpoint` with every other key at its default.
    pub fn at(endpoint: &str) -> Self {
        Self { endpoint: Some(endpoint.to_owned()), ..Self::default() }
    }

    pub fn endpoint_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.endpoint.as_deref().unwrap_or(default)
    }

    /// The body limit in bytes; 0 or less means the default.
    pub fn body_limit(&self) -> usize {
        usize::try_from(self.max_request_body_size)
            .ok()
            .filter(|&limit| limit > 0)
            .unwrap_or(DEFAULT_MAX_REQUEST_BODY_SIZE)
    }

    /// Everything that can be checked without the network or the files. A listener that reads
    /// no compressed bodies passes `reads_compressed: false`, and then refuses
    /// `compression_algorithms` rather than ignore it.
    pub fn validate(&self, reads_compressed: bool) -> Result<(), ConfigProblem> {
        check_endpoint(self.endpoint.as_deref())?;
        check_tls(self.tls.as_ref())?;
        check_auth(self.auth.as_ref())?;
        for (name, value) in &self.response_headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err() {
                return Err(ConfigProblem::new("response_headers", format!("invalid header {name:?}")));
            }
        }
        if self.compression_algorithms.is_some() && !reads_compressed {
            return Err(ConfigProblem::new("compression_algorithms", "this listener reads no compressed bodies"));
        }
        HostAllowList::parse(&self.allowed_hosts).map_err(|message| ConfigProblem::new("allowed_hosts", message))?;
        if self.max_connections == Some(0) {
            return Err(ConfigProblem::new("max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

/// configgrpc's server keys. `endpoint: None` means the listener's default endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerSettings {
    pub endpoint: Option<String>,
    /// Only `tcp` (also `tcp4`/`tcp6`).
    pub transport: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Option<TlsSettings>,
    pub auth: Option<AuthSettings>,
    /// Largest decoded message accepted, in MiB; default (and when 0) 4. Larger ones get
    /// ResourceExhausted.
    pub max_recv_msg_size_mib: u64,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`; 0 (the default) means no limit.
    pub max_concurrent_streams: u32,
    /// The socket's receive buffer (`SO_RCVBUF`), in bytes.
    pub read_buffer_size: Option<u32>,
    /// The socket's send buffer (`SO_SNDBUF`), in bytes.
    pub write_buffer_size: Option<u32>,
    pub keepalive: Option<GrpcKeepalive>,
    /// Puts the call's metadata (and the authenticated caller) beside the data it carries.
    pub include_metadata: bool,
    /// spoor: open connections beyond this are closed at once; default as for HTTP.
    pub max_connections: Option<usize>,
}

impl Default for GrpcServerSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            transport: "tcp".to_owned(),
            tls: None,
            auth: None,
            max_recv_msg_size_mib: DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            max_concurrent_streams: 0,
            read_buffer_size: None,
            write_buffer_size: None,
            keepalive: None,
            include_metadata: false,
            max_connections: None,
        }
    }
}

/// `keepalive`, as gRPC-Go's server keepalive options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcKeepalive {
    pub server_parameters: Option<KeepaliveServerParameters>,
    /// gRPC-Go closes connections that ping more often than `min_time`; the HTTP/2 stack here
    /// does not police pings, so setting this is refused rather than ignored.
    pub enforcement_policy: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerParameters {
    /// A connection with no call in flight for this long is closed (GOAWAY).
    #[serde(with = "spoor_config::duration::option")]
    pub max_connection_idle: Option<Duration>,
    /// A connection is asked to close (GOAWAY) after this long.
    #[serde(with = "spoor_config::duration::option")]
    pub max_connection_age: Option<Duration>,
    /// After `max_connection_age`, calls in flight get this long before the connection is cut.
    #[serde(with = "spoor_config::duration::option")]
    pub max_connection_age_grace: Option<Duration>,
    /// HTTP/2 PING interval.
    #[serde(with = "spoor_config::duration::option")]
    pub time: Option<Duration>,
    /// How long to wait for a PING ack before closing.
    #[serde(with = "spoor_config::duration::option")]
    pub timeout: Option<Duration>,
}

impl GrpcServerSettings {
    pub fn at(endpoint: &str) -> Self {
        Self { endpoint: Some(endpoint.to_owned()), ..Self::default() }
    }

    pub fn endpoint_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.endpoint.as_deref().unwrap_or(default)
    }

    /// The decoded message limit in bytes; 0 MiB means the default, as in configgrpc.
    pub fn max_recv_msg_size(&self) -> usize {
        let mib = match self.max_recv_msg_size_mib {
            0 => DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            mib => mib,
        };
        usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(MIB)
    }

    pub fn server_parameters(&self) -> KeepaliveServerParameters {
        self.keepalive.as_ref().and_then(|k| k.server_parameters.clone()).unwrap_or_default()
    }

    pub fn validate(&self) -> Result<(), ConfigProblem> {
        check_endpoint(self.endpoint.as_deref())?;
        if !matches!(self.transport.as_str(), "tcp" | "tcp4" | "tcp6") {
            return Err(ConfigProblem::new(
                "transport",
                format!("unsupported transport {:?} (only tcp)", self.transport),
            ));
        }
        check_tls(self.tls.as_ref())?;
        check_auth(self.auth.as_ref())?;
        if self.max_recv_msg_size_mib > (usize::MAX / MIB) as u64 {
            return Err(ConfigProblem::new("max_recv_msg_size_mib", "is too large"));
        }
        if self.keepalive.as_ref().is_some_and(|k| k.enforcement_policy.is_some()) {
            return Err(ConfigProblem::new(
                "keepalive.enforcement_policy",
                "not supported: spoor's HTTP/2 server answers client pings without policing them",
            ));
        }
        if self.max_connections == Some(0) {
            return Err(ConfigProblem::new("max_connections", "must be at least 1"));
        }
        Ok(())
    }
}

fn check_endpoint(endpoint: Option<&str>) -> Result<(), ConfigProblem> {
    match endpoint {
        Some(endpoint) => parse_endpoint(endpoint).map(drop).map_err(|m| ConfigProblem::new("endpoint", m)),
        None => Ok(()),
    }
}

/// A server needs its own certificate and key; client-only keys make no sense here.
fn check_tls(tls: Option<&TlsSettings>) -> Result<(), ConfigProblem> {
    let Some(tls) = tls else { return Ok(()) };
    let has_cert = tls.cert_file.is_some() || tls.cert_pem.is_some();
    let has_key = tls.key_file.is_some() || tls.key_pem.is_some();
    if !has_cert || !has_key {
        return Err(ConfigProblem::new("tls", "cert_file and key_file are required on a server"));
    }
    let client_only = [
        ("tls.insecure", tls.insecure),
        ("tls.insecure_skip_verify", tls.insecure_skip_verify),
        ("tls.server_name_override", tls.server_name_override.is_some()),
    ];
    if let Some((key, _)) = client_only.iter().find(|(_, set)| *set) {
        return Err(ConfigProblem::new(*key, "is a client setting; a server does not use it"));
    }
    tls.check_versions().map_err(|err| ConfigProblem::new("tls.min_version", err.0))?;
    tls.check_algorithms().map_err(|err| {
        let key = if err.0.contains("cipher_suites") { "tls.cipher_suites" } else { "tls.curve_preferences" };
        ConfigProblem::new(key, err.0)
    })
}

fn check_auth(auth: Option<&AuthSettings>) -> Result<(), ConfigProblem> {
    match auth {
        Some(auth) if auth.authenticator.trim().is_empty() => {
            Err(ConfigProblem::new("auth.authenticator", "must name an authenticator extension"))
        }
        _ => Ok(()),
    }
}
