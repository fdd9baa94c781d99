//! Configs of the `jaeger` and `zipkin` receivers, in collector-contrib's shape: the TCP
//! listeners are the server kit's settings (configgrpc, confighttp), the agent's UDP ports
//! keep their own.

use serde::Deserialize;
use spoor_config::serde_ext::null_as_default;
use spoor_net::endpoint::parse_endpoint;
use spoor_net::{ConfigProblem, GrpcServerSettings, HttpServerSettings, OtherKeys};

use super::http::AcceptedEncodings;

pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:14250";
pub const DEFAULT_THRIFT_HTTP_ENDPOINT: &str = "localhost:14268";
pub const DEFAULT_THRIFT_COMPACT_ENDPOINT: &str = "localhost:6831";
pub const DEFAULT_THRIFT_BINARY_ENDPOINT: &str = "localhost:6832";
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "localhost:9411";
/// The collector's UDP defaults.
pub const DEFAULT_QUEUE_SIZE: usize = 1_000;
pub const DEFAULT_MAX_PACKET_SIZE: usize = 65_000;
pub const DEFAULT_WORKERS: usize = 10;
/// The largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD: usize = 65_507;

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
    /// configgrpc's server settings; endpoint default `localhost:14250`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub grpc: Option<GrpcServerSettings>,
    /// `POST /api/traces`; endpoint default `localhost:14268`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub thrift_http: Option<HttpServerConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub thrift_compact: Option<ThriftCompactConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub thrift_binary: Option<ThriftBinaryConfig>,
}

/// A block that is confighttp's `ServerConfig` and nothing else (`protocols.thrift_http`, the
/// remote sampling extension's `http`). The kit's settings are flattened so that the block
/// reads as in the collector, and any other key is refused at validation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpServerConfig {
    #[serde(flatten)]
    pub server: HttpServerSettings,
    #[serde(flatten)]
    pub other: OtherKeys,
}

impl HttpServerConfig {
    pub fn at(endpoint: &str) -> Self {
        Self { server: HttpServerSettings::at(endpoint), other: OtherKeys::default() }
    }

    /// `reads_compressed`: whether the listener reads request bodies, and so honours
    /// `compression_algorithms`.
    pub fn validate(&self, reads_compressed: bool) -> Result<(), ConfigProblem> {
        self.other.check()?;
        validate_http(&self.server, reads_compressed)
    }
}

/// The kit's checks, and for a listener that reads bodies, that it decodes every listed
/// `compression_algorithms` entry.
fn validate_http(server: &HttpServerSettings, reads_compressed: bool) -> Result<(), ConfigProblem> {
    server.validate(reads_compressed)?;
    if reads_compressed {
        AcceptedEncodings::new(server.compression_algorithms.as_deref())
            .map_err(|message| ConfigProblem::new("compression_algorithms", message))?;
    }
    Ok(())
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

impl UdpServerSettings {
    fn validate(&self, path: &str) -> Result<(), ConfigProblem> {
        parse_endpoint(&self.endpoint).map_err(|message| ConfigProblem::new(format!("{path}.endpoint"), message))?;
        if self.queue_size == 0 {
            return Err(ConfigProblem::new(format!("{path}.queue_size"), "must be positive"));
        }
        if self.workers == 0 {
            return Err(ConfigProblem::new(format!("{path}.workers"), "must be positive"));
        }
        if self.max_packet_size == 0 || self.max_packet_size > MAX_UDP_PAYLOAD {
            return Err(ConfigProblem::new(
                format!("{path}.max_packet_size"),
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
            grpc.validate().map_err(|problem| problem.within("protocols.grpc"))?;
        }
        if let Some(http) = &p.thrift_http {
            http.validate(true).map_err(|problem| problem.within("protocols.thrift_http"))?;
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

/// `receivers.zipkin`: confighttp's server settings (endpoint default `localhost:9411`) plus
/// `parse_string_tags`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ZipkinReceiverConfig {
    #[serde(flatten)]
    pub server: HttpServerSettings,
    /// Turn tag values that look like numbers or booleans into typed attributes.
    #[serde(default)]
    pub parse_string_tags: bool,
    #[serde(flatten)]
    pub other: OtherKeys,
}

impl ZipkinReceiverConfig {
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        self.other.check()?;
        validate_http(&self.server, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jaeger(json: serde_json::Value) -> JaegerReceiverConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn null_protocols_take_defaults() {
        let config = jaeger(serde_json::json!(
            {"protocols": {"grpc": null, "thrift_compact": {"queue_size": 5}, "thrift_binary": null}}
        ));
        assert_eq!(config.protocols.grpc, Some(GrpcServerSettings::default()));
        assert!(config.protocols.thrift_http.is_none());
        let compact = config.protocols.thrift_compact.as_ref().unwrap();
        assert_eq!(
            (compact.endpoint.as_str(), compact.queue_size, compact.max_packet_size),
            ("localhost:6831", 5, 65_000)
        );
        assert_eq!(config.protocols.thrift_binary.as_ref().unwrap().endpoint, "localhost:6832");
        config.validate().unwrap();
        let http = jaeger(serde_json::json!({"protocols": {"thrift_http": null}}));
        assert_eq!(http.protocols.thrift_http, Some(HttpServerConfig::default()));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(serde_json::from_str::<JaegerReceiverConfig>(r#"{"protocols": {"thrift_udp": null}}"#).is_err());
        assert!(serde_json::from_str::<JaegerReceiverConfig>(r#"{"protocols": {"grpc": {"tls": {"x": 1}}}}"#).is_err());
        assert!(serde_json::from_str::<JaegerReceiverConfig>(r#"{"protocols": {"grpc": {"endpont": "x"}}}"#).is_err());
        let empty = jaeger(serde_json::json!({"protocols": {}}));
        assert_eq!(empty.validate().unwrap_err().path, "protocols");
        let problem = |json: serde_json::Value| jaeger(json).validate().unwrap_err().path;
        assert_eq!(
            problem(serde_json::json!({"protocols": {"thrift_binary": {"max_packet_size": 70000}}})),
            "protocols.thrift_binary.max_packet_size"
        );
        assert_eq!(
            problem(serde_json::json!({"protocols": {"grpc": {"endpoint": "localhost"}}})),
            "protocols.grpc.endpoint"
        );
        assert_eq!(
            problem(serde_json::json!({"protocols": {"thrift_http": {"endpont": "localhost:1"}}})),
            "protocols.thrift_http.endpont"
        );
        assert_eq!(
            problem(serde_json::json!({"protocols": {"thrift_http": {"tls": {"cert_file": "c"}}}})),
            "protocols.thrift_http.tls"
        );
        assert_eq!(
            problem(serde_json::json!({"protocols": {"grpc": {"keepalive": {"enforcement_policy": {}}}}})),
            "protocols.grpc.keepalive.enforcement_policy"
        );
    }

    #[test]
    fn compression_algorithms_are_the_ones_decoded() {
        let http =
            jaeger(serde_json::json!({"protocols": {"thrift_http": {"compression_algorithms": ["", "gzip", "zstd"]}}}));
        http.validate().unwrap();
        let snappy = jaeger(serde_json::json!({"protocols": {"thrift_http": {"compression_algorithms": ["snappy"]}}}));
        assert_eq!(snappy.validate().unwrap_err().path, "protocols.thrift_http.compression_algorithms");
        let sampling_only = HttpServerConfig {
            server: HttpServerSettings { compression_algorithms: Some(vec!["gzip".to_owned()]), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(sampling_only.validate(false).unwrap_err().path, "compression_algorithms");
    }

    #[test]
    fn zipkin_is_confighttp_plus_its_own_keys() {
        let zipkin: ZipkinReceiverConfig =
            serde_json::from_value(serde_json::json!({"parse_string_tags": true, "max_request_body_size": 10}))
                .unwrap();
        assert!(zipkin.parse_string_tags);
        assert_eq!(
            (zipkin.server.endpoint_or(DEFAULT_ZIPKIN_ENDPOINT), zipkin.server.body_limit()),
            ("localhost:9411", 10)
        );
        zipkin.validate().unwrap();
        let typo: ZipkinReceiverConfig = serde_json::from_value(serde_json::json!({"endpont": "x"})).unwrap();
        assert_eq!(typo.validate().unwrap_err().path, "endpont");
        let bad: ZipkinReceiverConfig =
            serde_json::from_value(serde_json::json!({"compression_algorithms": ["br"]})).unwrap();
        assert_eq!(bad.validate().unwrap_err().path, "compression_algorithms");
    }
}
