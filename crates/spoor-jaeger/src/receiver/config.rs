//! Configs of the `jaeger` and `zipkin` receivers, in collector-contrib's shape.

use serde::Deserialize;
use spoor_config::serde_ext::null_as_default;

pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:14250";
pub const DEFAULT_THRIFT_HTTP_ENDPOINT: &str = "localhost:14268";
pub const DEFAULT_THRIFT_COMPACT_ENDPOINT: &str = "localhost:6831";
pub const DEFAULT_THRIFT_BINARY_ENDPOINT: &str = "localhost:6832";
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "localhost:9411";
/// The collector's UDP defaults.
pub const DEFAULT_QUEUE_SIZE: usize = 1_000;
pub const DEFAULT_MAX_PACKET_SIZE: usize = 65_000;
pub const DEFAULT_WORKERS: usize = 10;
/// confighttp's default body limit.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: usize = 20 * 1024 * 1024;
const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
/// The largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// A config value that is wrong, with its path inside the component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    fn new(path: &str, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), message: message.into() }
    }
}

/// `receivers.jaeger`. At least one protocol must be present; `grpc:` with no value enables
/// it with its defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerReceiverConfig {
    #[serde(default)]
    pub protocols: JaegerProtocols,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerProtocols {
    #[serde(default, deserialize_with = "null_as_default")]
    pub grpc: Option<GrpcServerConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub thrift_http: Option<ThriftHttpConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub thrift_compact: Option<ThriftCompactConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub thrift_binary: Option<ThriftBinaryConfig>,
}

/// `protocols.grpc`: the subset of configgrpc's server settings that applies here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    /// Default `localhost:14250`.
    pub endpoint: String,
    /// Only `tcp` (also `tcp4`/`tcp6`).
    pub transport: String,
    /// Largest decoded message, in MiB; default 4.
    pub max_recv_msg_size_mib: u64,
    /// 0 (the default) means no limit.
    pub max_concurrent_streams: u32,
    /// Accepted for compatibility; metadata is not propagated.
    pub include_metadata: bool,
    /// Accepted for compatibility; the HTTP/2 stack sizes its own buffers.
    pub read_buffer_size: Option<u64>,
    pub write_buffer_size: Option<u64>,
    /// Accepted for compatibility; not applied.
    pub keepalive: Option<serde_json::Value>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_owned(),
            transport: "tcp".to_owned(),
            max_recv_msg_size_mib: DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            max_concurrent_streams: 0,
            include_metadata: false,
            read_buffer_size: None,
            write_buffer_size: None,
            keepalive: None,
        }
    }
}

/// `protocols.thrift_http`: `POST /api/traces`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThriftHttpConfig {
    /// Default `localhost:14268`.
    pub endpoint: String,
    /// Bytes, as sent and after decompression; 0 or less means 20 MiB.
    pub max_request_body_size: i64,
    /// Accepted for compatibility; metadata is not propagated.
    pub include_metadata: bool,
}

impl Default for ThriftHttpConfig {
    fn default() -> Self {
        Self { endpoint: DEFAULT_THRIFT_HTTP_ENDPOINT.to_owned(), max_request_body_size: 0, include_metadata: false }
    }
}

impl ThriftHttpConfig {
    pub fn body_limit(&self) -> usize {
        body_limit(self.max_request_body_size)
    }
}

pub(crate) fn body_limit(configured: i64) -> usize {
    if configured <= 0 { DEFAULT_MAX_REQUEST_BODY_SIZE } else { usize::try_from(configured).unwrap_or(usize::MAX) }
}

/// The agent's UDP server settings (`ServerConfigUDP`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpServerSettings {
    pub endpoint: String,
    /// Datagrams waiting for a worker; when full, new ones are dropped and counted.
    pub queue_size: usize,
    /// Datagrams larger than this are dropped and counted.
    pub max_packet_size: usize,
    pub workers: usize,
    /// `SO_RCVBUF` in bytes; 0 keeps the system default.
    pub socket_buffer_size: usize,
}

macro_rules! udp_config {
    ($name:ident, $endpoint:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            pub endpoint: String,
            pub queue_size: usize,
            pub max_packet_size: usize,
            pub workers: usize,
            pub socket_buffer_size: usize,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    endpoint: $endpoint.to_owned(),
                    queue_size: DEFAULT_QUEUE_SIZE,
                    max_packet_size: DEFAULT_MAX_PACKET_SIZE,
                    workers: DEFAULT_WORKERS,
                    socket_buffer_size: 0,
                }
            }
        }

        impl From<&$name> for UdpServerSettings {
            fn from(config: &$name) -> Self {
                Self {
                    endpoint: config.endpoint.clone(),
                    queue_size: config.queue_size,
                    max_packet_size: config.max_packet_size,
                    workers: config.workers,
                    socket_buffer_size: config.socket_buffer_size,
                }
            }
        }
    };
}

udp_config!(
    ThriftCompactConfig,
    DEFAULT_THRIFT_COMPACT_ENDPOINT,
    "`protocols.thrift_compact`: the agent's `emitBatch` in compact Thrift over UDP (6831)."
);
udp_config!(
    ThriftBinaryConfig,
    DEFAULT_THRIFT_BINARY_ENDPOINT,
    "`protocols.thrift_binary`: the agent's `emitBatch` in binary Thrift over UDP (6832)."
);

/// Checks that an endpoint is `host:port` with a port in 1..=65535 (or 0, for tests that let
/// the system pick), as the collector's `checkPortFromEndpoint`.
pub fn check_endpoint(path: &str, endpoint: &str) -> Result<(), ConfigProblem> {
    let Some((_, port)) = endpoint.trim().rsplit_once(':') else {
        return Err(ConfigProblem::new(
            path,
            format!("endpoint {endpoint:?} is not formatted correctly: missing port"),
        ));
    };
    port.parse::<u16>()
        .map(|_| ())
        .map_err(|_| ConfigProblem::new(path, format!("endpoint port {port:?} is not a number in 0..65535")))
}

fn check_transport(path: &str, transport: &str) -> Result<(), ConfigProblem> {
    match transport {
        "tcp" | "tcp4" | "tcp6" => Ok(()),
        other => Err(ConfigProblem::new(path, format!("transport {other:?} is not supported, use tcp"))),
    }
}

impl UdpServerSettings {
    fn validate(&self, path: &str) -> Result<(), ConfigProblem> {
        check_endpoint(&format!("{path}.endpoint"), &self.endpoint)?;
        if self.queue_size == 0 {
            return Err(ConfigProblem::new(&format!("{path}.queue_size"), "must be positive"));
        }
        if self.workers == 0 {
            return Err(ConfigProblem::new(&format!("{path}.workers"), "must be positive"));
        }
        if self.max_packet_size == 0 || self.max_packet_size > MAX_UDP_PAYLOAD {
            return Err(ConfigProblem::new(
                &format!("{path}.max_packet_size"),
                format!("must be in 1..={MAX_UDP_PAYLOAD}"),
            ));
        }
        Ok(())
    }
}

impl JaegerReceiverConfig {
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        let p = &self.protocols;
        if p.grpc.is_none() && p.thrift_http.is_none() && p.thrift_compact.is_none() && p.thrift_binary.is_none() {
            return Err(ConfigProblem::new(
                "protocols",
                "must specify at least one protocol when using the Jaeger receiver",
            ));
        }
        if let Some(grpc) = &p.grpc {
            check_endpoint("protocols.grpc.endpoint", &grpc.endpoint)?;
            check_transport("protocols.grpc.transport", &grpc.transport)?;
        }
        if let Some(http) = &p.thrift_http {
            check_endpoint("protocols.thrift_http.endpoint", &http.endpoint)?;
        }
        if let Some(compact) = &p.thrift_compact {
            UdpServerSettings::from(compact).validate("protocols.thrift_compact")?;
        }
        if let Some(binary) = &p.thrift_binary {
            UdpServerSettings::from(binary).validate("protocols.thrift_binary")?;
        }
        Ok(())
    }
}

/// `receivers.zipkin`: confighttp's server settings plus `parse_string_tags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinReceiverConfig {
    /// Default `localhost:9411`.
    pub endpoint: String,
    /// Turn tag values that look like numbers or booleans into typed attributes.
    pub parse_string_tags: bool,
    /// Bytes, as sent and after decompression; 0 or less means 20 MiB.
    pub max_request_body_size: i64,
    /// Accepted for compatibility; metadata is not propagated.
    pub include_metadata: bool,
}

impl Default for ZipkinReceiverConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ZIPKIN_ENDPOINT.to_owned(),
            parse_string_tags: false,
            max_request_body_size: 0,
            include_metadata: false,
        }
    }
}

impl ZipkinReceiverConfig {
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        check_endpoint("endpoint", &self.endpoint)
    }

    pub fn body_limit(&self) -> usize {
        body_limit(self.max_request_body_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_protocols_take_defaults() {
        let config: JaegerReceiverConfig = serde_json::from_str(
            r#"{"protocols": {"grpc": null, "thrift_compact": {"queue_size": 5}, "thrift_binary": null}}"#,
        )
        .unwrap();
        assert_eq!(config.protocols.grpc.as_ref().unwrap().endpoint, "localhost:14250");
        assert!(config.protocols.thrift_http.is_none());
        let compact = config.protocols.thrift_compact.as_ref().unwrap();
        assert_eq!(
            (compact.endpoint.as_str(), compact.queue_size, compact.max_packet_size),
            ("localhost:6831", 5, 65_000)
        );
        assert_eq!(config.protocols.thrift_binary.as_ref().unwrap().endpoint, "localhost:6832");
        config.validate().unwrap();
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(serde_json::from_str::<JaegerReceiverConfig>(r#"{"protocols": {"thrift_udp": null}}"#).is_err());
        assert!(serde_json::from_str::<JaegerReceiverConfig>(r#"{"protocols": {"grpc": {"tls": {}}}}"#).is_err());
        let empty: JaegerReceiverConfig = serde_json::from_str(r#"{"protocols": {}}"#).unwrap();
        assert_eq!(empty.validate().unwrap_err().path, "protocols");
        let bad: JaegerReceiverConfig =
            serde_json::from_str(r#"{"protocols": {"thrift_binary": {"max_packet_size": 70000}}}"#).unwrap();
        assert_eq!(bad.validate().unwrap_err().path, "protocols.thrift_binary.max_packet_size");
        let bad: JaegerReceiverConfig =
            serde_json::from_str(r#"{"protocols": {"grpc": {"endpoint": "localhost"}}}"#).unwrap();
        assert_eq!(bad.validate().unwrap_err().path, "protocols.grpc.endpoint");
        let zipkin: ZipkinReceiverConfig = serde_json::from_str(r#"{"parse_string_tags": true}"#).unwrap();
        assert_eq!(zipkin.endpoint, "localhost:9411");
        assert!(serde_json::from_str::<ZipkinReceiverConfig>(r#"{"endpont": "x"}"#).is_err());
    }
}
