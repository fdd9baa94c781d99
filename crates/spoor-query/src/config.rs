//! The `jaeger_query` extension's config, in Jaeger v2.20.0's shape
//! (`cmd/jaeger/internal/extension/jaegerquery/config.go`). Unknown keys are errors; keys that
//! Jaeger has and spoor does not implement yet are accepted by the parser and refused by
//! [`JaegerQueryConfig::validate`], so a config never silently loses a setting.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::params::parse_go_duration;

pub const DEFAULT_HTTP_ENDPOINT: &str = "localhost:16686";
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:16685";

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerQueryConfig {
    pub storage: StorageConfig,
    /// Prefix of every HTTP route, e.g. `/jaeger`.
    pub base_path: String,
    pub ui: UiConfig,
    pub bearer_token_propagation: bool,
    pub multi_tenancy: TenancyConfig,
    /// The most a span is moved to correct clock skew; 0 (the default) disables the adjuster.
    #[serde(deserialize_with = "go_duration")]
    pub max_clock_skew_adjust: Duration,
    pub max_trace_size: usize,
    pub enable_tracing: bool,
    pub http: HttpServerConfig,
    pub grpc: GrpcServerConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The name of a `jaeger_storage` backend.
    pub traces: String,
    pub traces_archive: Option<String>,
    pub metrics: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    pub config_file: Option<String>,
    pub assets_path: Option<String>,
    pub log_access: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    pub enabled: bool,
    pub header: Option<String>,
    pub tenants: Vec<String>,
}

/// The collector's `confighttp.ServerConfig`; only `endpoint` is implemented.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    pub endpoint: String,
    pub tls: Option<serde_json::Value>,
    pub cors: Option<serde_json::Value>,
    pub auth: Option<serde_json::Value>,
    pub max_request_body_size: Option<u64>,
    pub include_metadata: Option<bool>,
    pub response_headers: Option<serde_json::Value>,
    pub compression_algorithms: Option<Vec<String>>,
    pub read_timeout: Option<serde_json::Value>,
    pub read_header_timeout: Option<serde_json::Value>,
    pub write_timeout: Option<serde_json::Value>,
    pub idle_timeout: Option<serde_json::Value>,
    pub keep_alives_enabled: Option<bool>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: DEFAULT_HTTP_ENDPOINT.into(),
            tls: None,
            cors: None,
            auth: None,
            max_request_body_size: None,
            include_metadata: None,
            response_headers: None,
            compression_algorithms: None,
            read_timeout: None,
            read_header_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            keep_alives_enabled: None,
        }
    }
}

/// The collector's `configgrpc.ServerConfig`; only `endpoint` (and `transport: tcp`) is
/// implemented.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    pub endpoint: String,
    pub transport: Option<String>,
    pub tls: Option<serde_json::Value>,
    pub auth: Option<serde_json::Value>,
    pub max_recv_msg_size_mib: Option<u64>,
    pub max_concurrent_streams: Option<u32>,
    pub read_buffer_size: Option<u64>,
    pub write_buffer_size: Option<u64>,
    pub keepalive: Option<serde_json::Value>,
    pub include_metadata: Option<bool>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: DEFAULT_GRPC_ENDPOINT.into(),
            transport: None,
            tls: None,
            auth: None,
            max_recv_msg_size_mib: None,
            max_concurrent_streams: None,
            read_buffer_size: None,
            write_buffer_size: None,
            keepalive: None,
            include_metadata: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl JaegerQueryConfig {
    /// Checks what the parser cannot: required keys and settings spoor does not implement yet.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |path: &str, message: &str| Err(ConfigError { path: path.into(), message: message.into() });
        if self.storage.traces.is_empty() {
            return err("storage.traces", "required");
        }
        if !self.base_path.is_empty() && !self.base_path.starts_with('/') {
            return err("base_path", "must start with '/'");
        }
        let unsupported: [(&str, bool); 9] = [
            ("ui.config_file", self.ui.config_file.is_some()),
            ("ui.assets_path", self.ui.assets_path.is_some()),
            ("http.tls", self.http.tls.is_some()),
            ("http.auth", self.http.auth.is_some()),
            ("grpc.tls", self.grpc.tls.is_some()),
            ("grpc.auth", self.grpc.auth.is_some()),
            ("multi_tenancy.enabled", self.multi_tenancy.enabled),
            ("storage.traces_archive", self.storage.traces_archive.is_some()),
            ("max_clock_skew_adjust", !self.max_clock_skew_adjust.is_zero()),
        ];
        if let Some((path, _)) = unsupported.iter().find(|(_, set)| *set) {
            return err(path, "not supported by spoor yet");
        }
        if let Some(transport) = self.grpc.transport.as_deref().filter(|t| *t != "tcp") {
            return err("grpc.transport", &format!("unsupported transport {transport:?}"));
        }
        Ok(())
    }

    /// `base_path` without a trailing slash; empty for the root.
    pub fn normalized_base_path(&self) -> String {
        self.base_path.trim_end_matches('/').to_string()
    }
}

/// A Go duration string (`"30s"`) or an integer of nanoseconds, as mapstructure takes them.
fn go_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Nanos(u64),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Nanos(n) => Ok(Duration::from_nanos(n)),
        Raw::Text(s) => {
            let nanos = parse_go_duration(&s).map_err(serde::de::Error::custom)?;
            u64::try_from(nanos).map(Duration::from_nanos).map_err(|_| serde::de::Error::custom("negative duration"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_v2_keys_parse() {
        let config: JaegerQueryConfig = serde_json::from_value(serde_json::json!({
            "storage": {"traces": "some_store", "traces_archive": "another_store"},
            "base_path": "/jaeger",
            "ui": {"config_file": "./ui-config.json"},
            "max_clock_skew_adjust": "0s",
            "http": {"endpoint": "0.0.0.0:16686"},
            "grpc": {"endpoint": "0.0.0.0:16685", "transport": "tcp"},
        }))
        .unwrap();
        assert_eq!(config.storage.traces, "some_store");
        assert_eq!(config.http.endpoint, "0.0.0.0:16686");
        assert_eq!(config.ui.config_file.as_deref(), Some("./ui-config.json"));
        assert_eq!(config.validate().unwrap_err().path, "ui.config_file");
    }

    #[test]
    fn defaults_are_jaegers() {
        let config: JaegerQueryConfig =
            serde_json::from_value(serde_json::json!({"storage": {"traces": "m"}})).unwrap();
        assert_eq!(config.http.endpoint, DEFAULT_HTTP_ENDPOINT);
        assert_eq!(config.grpc.endpoint, DEFAULT_GRPC_ENDPOINT);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let result: Result<JaegerQueryConfig, _> =
            serde_json::from_value(serde_json::json!({"storage": {"trace": "m"}}));
        assert!(result.unwrap_err().to_string().contains("unknown field `trace`"));
    }
}
