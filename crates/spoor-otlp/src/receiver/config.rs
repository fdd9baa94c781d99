//! The `otlp` receiver's config, in the collector's shape (`protocols.grpc` is configgrpc's
//! server config, `protocols.http` is confighttp's plus the signal paths).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use spoor_config::serde_ext::null_as_default;

use crate::tls::TlsSettings;

const MIB: usize = 1024 * 1024;

/// The collector's default HTTP body limit: 20 MiB, for the body as sent and as decompressed.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: usize = 20 * MIB;
/// The collector's default gRPC message limit, in MiB.
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";
pub const DEFAULT_HTTP_ENDPOINT: &str = "localhost:4318";
pub const DEFAULT_TRACES_URL_PATH: &str = "/v1/traces";

/// `receivers.otlp`. At least one protocol must be present; a present key with no value
/// (`grpc:`) enables that protocol with its defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    #[serde(default)]
    pub protocols: Protocols,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "null_as_default")]
    pub grpc: Option<GrpcServerConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub http: Option<HttpServerConfig>,
}

/// `protocols.grpc`, as configgrpc's `ServerConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    /// `host:port`; default `localhost:4317` (binds 127.0.0.1 only).
    pub endpoint: String,
    /// Only `tcp` (also `tcp4`/`tcp6`) is supported.
    pub transport: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Option<TlsSettings>,
    /// Largest decoded message accepted, in MiB; default (and when 0) 4. Larger ones get
    /// ResourceExhausted.
    pub max_recv_msg_size_mib: u64,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`; 0 (the default) means no limit.
    pub max_concurrent_streams: u32,
    /// Accepted for compatibility; the HTTP/2 stack sizes its own buffers.
    pub read_buffer_size: Option<u64>,
    /// Accepted for compatibility; the HTTP/2 stack sizes its own buffers.
    pub write_buffer_size: Option<u64>,
    pub keepalive: Option<GrpcKeepalive>,
    /// Accepted; request metadata is not propagated through the pipeline yet.
    pub include_metadata: bool,
    /// Authenticator extensions are not supported; setting this is an error.
    pub auth: Option<serde_json::Value>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_owned(),
            transport: "tcp".to_owned(),
            tls: None,
            max_recv_msg_size_mib: DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            max_concurrent_streams: 0,
            read_buffer_size: None,
            write_buffer_size: None,
            keepalive: None,
            include_metadata: false,
            auth: None,
        }
    }
}

impl GrpcServerConfig {
    /// The decoded message limit in bytes; 0 MiB means the default, as in configgrpc.
    pub fn max_recv_msg_size(&self) -> usize {
        let mib = match self.max_recv_msg_size_mib {
            0 => DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            mib => mib,
        };
        usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(MIB)
    }
}

/// `keepalive`, as gRPC-Go's server keepalive options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcKeepalive {
    pub server_parameters: Option<KeepaliveServerParameters>,
    pub enforcement_policy: Option<KeepaliveEnforcementPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerParameters {
    /// Accepted; idle connections are not closed early.
    #[serde(with = "spoor_config::duration::option")]
    pub max_connection_idle: Option<Duration>,
    #[serde(with = "spoor_config::duration::option")]
    pub max_connection_age: Option<Duration>,
    #[serde(with = "spoor_config::duration::option")]
    pub max_connection_age_grace: Option<Duration>,
    /// HTTP/2 PING interval.
    #[serde(with = "spoor_config::duration::option")]
    pub time: Option<Duration>,
    /// How long to wait for a PING ack before closing.
    #[serde(with = "spoor_config::duration::option")]
    pub timeout: Option<Duration>,
}

/// Accepted for compatibility; the HTTP/2 stack does not police client pings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveEnforcementPolicy {
    #[serde(with = "spoor_config::duration::option")]
    pub min_time: Option<Duration>,
    pub permit_without_stream: bool,
}

/// `protocols.http`, as confighttp's `ServerConfig` plus the otlp receiver's URL paths.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// `host:port`; default `localhost:4318` (binds 127.0.0.1 only).
    pub endpoint: String,
    /// Default `/v1/traces`; a missing leading `/` is added, as the collector does.
    #[serde(deserialize_with = "url_path")]
    pub traces_url_path: String,
    /// Accepted; this receiver serves traces only, so these paths answer 404.
    #[serde(deserialize_with = "url_path")]
    pub metrics_url_path: String,
    #[serde(deserialize_with = "url_path")]
    pub logs_url_path: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Option<TlsSettings>,
    #[serde(deserialize_with = "null_as_default")]
    pub cors: Option<CorsConfig>,
    /// Limit in bytes for the body as sent and after decompression; 0 or less means the
    /// default, 20 MiB.
    pub max_request_body_size: i64,
    /// Accepted; request metadata is not propagated through the pipeline yet.
    pub include_metadata: bool,
    /// Headers added to every response.
    pub response_headers: BTreeMap<String, String>,
    /// Accepted `Content-Encoding` values; default `["", "gzip", "zstd", "zlib", "snappy",
    /// "deflate", "lz4", "x-snappy-framed"]` (`""` is an uncompressed body, always accepted).
    pub compression_algorithms: Option<Vec<String>>,
    /// Limit for reading the whole request body; none by default.
    #[serde(with = "spoor_config::duration::option")]
    pub read_timeout: Option<Duration>,
    /// Limit for reading request headers; default 1m, as the collector.
    #[serde(with = "spoor_config::duration::option")]
    pub read_header_timeout: Option<Duration>,
    /// Accepted for compatibility.
    #[serde(with = "spoor_config::duration::option")]
    pub write_timeout: Option<Duration>,
    /// Accepted for compatibility.
    #[serde(with = "spoor_config::duration::option")]
    pub idle_timeout: Option<Duration>,
    /// Authenticator extensions are not supported; setting this is an error.
    pub auth: Option<serde_json::Value>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_HTTP_ENDPOINT.to_owned(),
            traces_url_path: DEFAULT_TRACES_URL_PATH.to_owned(),
            metrics_url_path: "/v1/metrics".to_owned(),
            logs_url_path: "/v1/logs".to_owned(),
            tls: None,
            cors: None,
            max_request_body_size: 0,
            include_metadata: false,
            response_headers: BTreeMap::new(),
            compression_algorithms: None,
            read_timeout: None,
            read_header_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            auth: None,
        }
    }
}

impl HttpServerConfig {
    pub fn body_limit(&self) -> usize {
        usize::try_from(self.max_request_body_size)
            .ok()
            .filter(|&limit| limit > 0)
            .unwrap_or(DEFAULT_MAX_REQUEST_BODY_SIZE)
    }
}

/// `cors`, as confighttp's (rs/cors underneath). Without `allowed_origins` it does nothing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to send requests; `*` matches any, and one `*` inside an origin
    /// (`https://*.example.com`) matches any run of characters there.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides Accept, Accept-Language, Content-Type and
    /// Content-Language; with none listed, X-Requested-With is allowed too; `*` allows all.
    pub allowed_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds for preflight responses; 0 leaves it out.
    pub max_age: u64,
}

fn url_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    // The collector parses the value as a URL and keeps only its path.
    let path = text.split(['?', '#']).next().unwrap_or_default();
    Ok(if path.starts_with('/') { path.to_owned() } else { format!("/{path}") })
}

/// What is wrong with a config, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    /// Relative to the receiver, e.g. `protocols.grpc.endpoint`.
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    fn new(path: &str, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), message: message.into() }
    }
}

impl OtlpReceiverConfig {
    /// Checks everything that can be checked without touching the network or files.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            return Err(ConfigProblem::new(
                "protocols",
                "must specify at least one protocol when using the OTLP receiver",
            ));
        }
        if let Some(grpc) = &self.protocols.grpc {
            parse_endpoint(&grpc.endpoint).map_err(|m| ConfigProblem::new("protocols.grpc.endpoint", m))?;
            if !matches!(grpc.transport.as_str(), "tcp" | "tcp4" | "tcp6") {
                return Err(ConfigProblem::new(
                    "protocols.grpc.transport",
                    format!("unsupported transport {:?} (only tcp)", grpc.transport),
                ));
            }
            if grpc.auth.is_some() {
                return Err(ConfigProblem::new("protocols.grpc.auth", "authenticator extensions are not supported"));
            }
            if grpc.max_recv_msg_size_mib > (usize::MAX / MIB) as u64 {
                return Err(ConfigProblem::new("protocols.grpc.max_recv_msg_size_mib", "is too large"));
            }
        }
        if let Some(http) = &self.protocols.http {
            parse_endpoint(&http.endpoint).map_err(|m| ConfigProblem::new("protocols.http.endpoint", m))?;
            if http.auth.is_some() {
                return Err(ConfigProblem::new("protocols.http.auth", "authenticator extensions are not supported"));
            }
            for (name, value) in &http.response_headers {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err()
                {
                    return Err(ConfigProblem::new(
                        "protocols.http.response_headers",
                        format!("invalid header {name:?}"),
                    ));
                }
            }
            for algorithm in http.compression_algorithms.iter().flatten() {
                if super::body::Encoding::parse(algorithm).is_none() {
                    return Err(ConfigProblem::new(
                        "protocols.http.compression_algorithms",
                        format!("unsupported compression algorithm {algorithm:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Where an endpoint asks to listen, before name resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListenHost {
    Ip(IpAddr),
    Name(String),
}

/// Splits `host:port`, `[v6]:port` or `:port` (all interfaces, as in Go).
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<(ListenHost, u16), String> {
    let endpoint = endpoint.trim();
    let invalid = || format!("invalid endpoint {endpoint:?}: expected host:port");
    let (host, port) = if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
        let port = after.strip_prefix(':').ok_or_else(invalid)?;
        (host, port)
    } else {
        let (host, port) = endpoint.rsplit_once(':').ok_or_else(invalid)?;
        if host.contains(':') {
            return Err(format!("invalid endpoint {endpoint:?}: IPv6 addresses need brackets, as [::1]:4317"));
        }
        (host, port)
    };
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?} in endpoint {endpoint:?}"))?;
    let host = if host.is_empty() {
        ListenHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else if host.eq_ignore_ascii_case("localhost") {
        // Go resolves localhost to the IPv4 loopback first; never all interfaces.
        ListenHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        ListenHost::Ip(ip)
    } else {
        ListenHost::Name(host.to_owned())
    };
    Ok((host, port))
}

/// Resolves an endpoint to the one address to bind, preferring IPv4 as Go does.
pub(crate) async fn resolve_endpoint(endpoint: &str) -> Result<SocketAddr, String> {
    let (host, port) = parse_endpoint(endpoint)?;
    match host {
        ListenHost::Ip(ip) => Ok(SocketAddr::new(ip, port)),
        ListenHost::Name(name) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|err| format!("cannot resolve {name:?}: {err}"))?
                .collect();
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| addrs.first())
                .copied()
                .ok_or_else(|| format!("{name:?} resolves to no address"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(value: serde_json::Value) -> Result<OtlpReceiverConfig, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn null_protocol_means_defaults() {
        let config = decode(json!({"protocols": {"grpc": null, "http": null}})).unwrap();
        assert_eq!(config.protocols.grpc, Some(GrpcServerConfig::default()));
        let http = config.protocols.http.unwrap();
        assert_eq!(http.endpoint, "localhost:4318");
        assert_eq!(http.traces_url_path, "/v1/traces");
        assert_eq!(http.body_limit(), 20 * MIB);
        assert_eq!(config.protocols.grpc.unwrap().max_recv_msg_size(), 4 * MIB);
        let zero = GrpcServerConfig { max_recv_msg_size_mib: 0, ..Default::default() };
        assert_eq!(zero.max_recv_msg_size(), 4 * MIB);
    }

    #[test]
    fn requires_a_protocol() {
        let err = decode(json!({"protocols": {}})).unwrap().validate().unwrap_err();
        assert_eq!(err.path, "protocols");
        let err = decode(json!({})).unwrap().validate().unwrap_err();
        assert!(err.message.contains("at least one protocol"));
    }

    #[test]
    fn rejects_unknown_keys_and_auth() {
        assert!(decode(json!({"protocols": {"grpc": {"endpont": "x:1"}}})).is_err());
        assert!(decode(json!({"protocols": {"thrift": null}})).is_err());
        let config = decode(json!({"protocols": {"http": {"auth": {"authenticator": "x"}}}}));
        assert_eq!(config.unwrap().validate().unwrap_err().path, "protocols.http.auth");
    }

    #[test]
    fn accepts_the_collectors_full_shape() {
        let config = decode(json!({"protocols": {
            "grpc": {
                "endpoint": "0.0.0.0:4317",
                "max_recv_msg_size_mib": 16,
                "max_concurrent_streams": 100,
                "read_buffer_size": 524288,
                "write_buffer_size": 524288,
                "include_metadata": true,
                "keepalive": {
                    "server_parameters": {"max_connection_idle": "11s", "max_connection_age": "12s",
                        "max_connection_age_grace": "13s", "time": "30s", "timeout": "5s"},
                    "enforcement_policy": {"min_time": "10s", "permit_without_stream": true}
                },
                "tls": {"cert_file": "a.pem", "key_file": "b.pem", "client_ca_file": "c.pem"}
            },
            "http": {
                "endpoint": ":4318",
                "traces_url_path": "traces",
                "cors": {"allowed_origins": ["https://*.example.com"], "allowed_headers": ["X-Foo"], "max_age": 7200},
                "max_request_body_size": 1048576,
                "include_metadata": true
            }
        }}))
        .unwrap();
        config.validate().unwrap();
        let http = config.protocols.http.unwrap();
        assert_eq!(http.traces_url_path, "/traces");
        assert_eq!(http.body_limit(), MIB);
        let keepalive = config.protocols.grpc.unwrap().keepalive.unwrap();
        assert_eq!(keepalive.server_parameters.unwrap().time, Some(Duration::from_secs(30)));
    }

    #[test]
    fn parses_endpoints() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(parse_endpoint("localhost:4317").unwrap(), (ListenHost::Ip(lo), 4317));
        assert_eq!(parse_endpoint(":4318").unwrap(), (ListenHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), 4318));
        assert_eq!(parse_endpoint("[::1]:4317").unwrap().0, ListenHost::Ip("::1".parse().unwrap()));
        assert_eq!(parse_endpoint("collector:1").unwrap().0, ListenHost::Name("collector".into()));
        for bad in ["4317", "localhost", "::1:4317", "host:99999", "[::1]4317", "host:"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn localhost_binds_ipv4_loopback() {
        let addr = resolve_endpoint("localhost:0").await.unwrap();
        assert_eq!(addr, "127.0.0.1:0".parse().unwrap());
    }
}
