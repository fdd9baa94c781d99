//! The `otlp` receiver's config, in the collector's shape: `protocols.grpc` is configgrpc's
//! server config and `protocols.http` is confighttp's plus the signal paths, both the server
//! kit's ([`spoor_net`]).

use serde::{Deserialize, Deserializer};
use spoor_config::serde_ext::null_as_default;
use spoor_net::{ConfigProblem, GrpcServerSettings, HttpServerSettings, OtherKeys};

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
    pub grpc: Option<GrpcServerSettings>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub http: Option<OtlpHttpConfig>,
}

/// `protocols.http`: confighttp's server keys plus the otlp receiver's URL paths.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct OtlpHttpConfig {
    #[serde(flatten)]
    pub server: HttpServerSettings,
    /// Default `/v1/traces`; a missing leading `/` is added, as the collector does.
    #[serde(deserialize_with = "url_path")]
    pub traces_url_path: String,
    /// Accepted; this receiver serves traces only, so these paths answer 404.
    #[serde(deserialize_with = "url_path")]
    pub metrics_url_path: String,
    #[serde(deserialize_with = "url_path")]
    pub logs_url_path: String,
    #[serde(flatten)]
    pub other: OtherKeys,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        Self {
            server: HttpServerSettings::default(),
            traces_url_path: DEFAULT_TRACES_URL_PATH.to_owned(),
            metrics_url_path: "/v1/metrics".to_owned(),
            logs_url_path: "/v1/logs".to_owned(),
            other: OtherKeys::default(),
        }
    }
}

fn url_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    // The collector parses the value as a URL and keeps only its path.
    let path = text.split(['?', '#']).next().unwrap_or_default();
    Ok(if path.starts_with('/') { path.to_owned() } else { format!("/{path}") })
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
            grpc.validate().map_err(|problem| problem.within("protocols.grpc"))?;
        }
        if let Some(http) = &self.protocols.http {
            http.validate().map_err(|problem| problem.within("protocols.http"))?;
        }
        Ok(())
    }
}

impl OtlpHttpConfig {
    fn validate(&self) -> Result<(), ConfigProblem> {
        self.other.check()?;
        self.server.validate(true)?;
        for algorithm in self.server.compression_algorithms.iter().flatten() {
            if super::body::Encoding::parse(algorithm).is_none() {
                return Err(ConfigProblem::new(
                    "compression_algorithms",
                    format!("unsupported compression algorithm {algorithm:?}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use serde_json::json;

    const MIB: usize = 1024 * 1024;

    fn decode(value: serde_json::Value) -> Result<OtlpReceiverConfig, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn null_protocol_means_defaults() {
        let config = decode(json!({"protocols": {"grpc": null, "http": null}})).unwrap();
        assert_eq!(config.protocols.grpc, Some(GrpcServerSettings::default()));
        let http = config.protocols.http.unwrap();
        assert_eq!(http.server.endpoint_or(DEFAULT_HTTP_ENDPOINT), "localhost:4318");
        assert_eq!(http.traces_url_path, "/v1/traces");
        assert_eq!(http.server.body_limit(), 20 * MIB);
        assert_eq!(config.protocols.grpc.unwrap().max_recv_msg_size(), 4 * MIB);
        let zero = GrpcServerSettings { max_recv_msg_size_mib: 0, ..Default::default() };
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
    fn rejects_unknown_keys_with_their_path() {
        assert!(decode(json!({"protocols": {"grpc": {"endpont": "x:1"}}})).is_err());
        assert!(decode(json!({"protocols": {"thrift": null}})).is_err());
        let config = decode(json!({"protocols": {"http": {"endpont": "x:1"}}})).unwrap();
        assert_eq!(config.validate().unwrap_err().path, "protocols.http.endpont");
        let config = decode(json!({"protocols": {"http": {"auth": {"authenticator": ""}}}})).unwrap();
        assert_eq!(config.validate().unwrap_err().path, "protocols.http.auth.authenticator");
        let config = decode(json!({"protocols": {"grpc": {"keepalive": {"enforcement_policy": {"min_time": "1s"}}}}}));
        assert_eq!(config.unwrap().validate().unwrap_err().path, "protocols.grpc.keepalive.enforcement_policy");
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
                "auth": {"authenticator": "bearertokenauth/in"},
                "keepalive": {
                    "server_parameters": {"max_connection_idle": "11s", "max_connection_age": "12s",
                        "max_connection_age_grace": "13s", "time": "30s", "timeout": "5s"}
                },
                "tls": {"cert_file": "a.pem", "key_file": "b.pem", "client_ca_file": "c.pem", "reload_interval": "1m"}
            },
            "http": {
                "endpoint": ":4318",
                "traces_url_path": "traces",
                "cors": {"allowed_origins": ["https://*.example.com"], "allowed_headers": ["X-Foo"], "max_age": 7200},
                "max_request_body_size": 1048576,
                "include_metadata": true,
                "read_header_timeout": "10s",
                "idle_timeout": "30s",
                "response_headers": {"X-Served-By": "spoor"}
            }
        }}))
        .unwrap();
        config.validate().unwrap();
        let http = config.protocols.http.unwrap();
        assert_eq!(http.traces_url_path, "/traces");
        assert_eq!(http.server.body_limit(), MIB);
        assert_eq!(http.server.read_header_timeout, Some(Duration::from_secs(10)));
        let grpc = config.protocols.grpc.unwrap();
        assert_eq!(grpc.server_parameters().time, Some(Duration::from_secs(30)));
        assert_eq!(grpc.tls.unwrap().reload_interval, Some(Duration::from_secs(60)));
    }
}
