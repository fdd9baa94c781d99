//! The `jaeger_query` extension's config, in Jaeger v2.20.0's shape
//! (`cmd/jaeger/internal/extension/jaegerquery/config.go`). Unknown keys are errors; keys that
//! Jaeger has and spoor does not implement yet are accepted by the parser and refused by
//! [`JaegerQueryConfig::validate`], so a config never silently loses a setting. `http` and
//! `grpc` are spoor-net's listener settings, so every confighttp and configgrpc key works.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use spoor_net::{ConfigProblem, GrpcServerSettings, HttpServerSettings, OtherKeys};
pub use spoor_pipeline::tenancy::TenancyConfig;

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
    /// Jaeger hands the caller's bearer token (`Authorization: Bearer …`, else
    /// `X-Forwarded-Access-Token`) to the storage backend, where only Elasticsearch and
    /// OpenSearch use it: Jaeger's memory and Badger backends ignore it and answer as without
    /// it. spoor's backends (memory, embedded) are in-process and take no token either, so the
    /// key is accepted as Jaeger accepts it with those backends (a Jaeger config keeps working)
    /// and [`crate::QueryServer::start`] logs a warning that the token reaches no storage.
    /// Whoever may query is decided by `http.auth` and `grpc.auth`, never by this key.
    pub bearer_token_propagation: bool,
    /// Jaeger's `multi_tenancy`: every query request must name an allowed tenant in the header
    /// and sees only that tenant's data.
    pub multi_tenancy: TenancyConfig,
    /// The most a span is moved to correct clock skew; 0 (the default) disables the adjuster.
    #[serde(deserialize_with = "go_duration")]
    pub max_clock_skew_adjust: Duration,
    /// Not supported yet: any value but 0 is refused.
    pub max_trace_size: usize,
    /// Not supported yet: `true` is refused.
    pub enable_tracing: bool,
    /// The HTTP API and UI listener, default `localhost:16686`.
    #[serde(deserialize_with = "null_is_default")]
    pub http: HttpConfig,
    /// The gRPC api_v2 and api_v3 listener, default `localhost:16685`.
    #[serde(deserialize_with = "null_is_default")]
    pub grpc: GrpcServerSettings,
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

/// `http`: the collector's `confighttp.ServerConfig`, every key served by spoor-net's kit.
/// serde cannot deny unknown keys beside flattened ones, so the leftovers are collected in
/// `other` and refused by [`JaegerQueryConfig::validate`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpConfig {
    #[serde(flatten)]
    pub server: HttpServerSettings,
    #[serde(flatten)]
    pub other: OtherKeys,
}

impl JaegerQueryConfig {
    /// Checks what the parser cannot: required keys, the listeners' settings, and settings
    /// spoor does not implement yet.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.storage.traces.is_empty() {
            return Err(ConfigProblem::new("storage.traces", "required"));
        }
        if !self.base_path.is_empty() && !self.base_path.starts_with('/') {
            return Err(ConfigProblem::new("base_path", "must start with '/'"));
        }
        self.multi_tenancy
            .build()
            .map_err(|(key, message)| ConfigProblem::new(key, message).within("multi_tenancy"))?;
        let unsupported: [(&str, bool); 8] = [
            ("ui.config_file", self.ui.config_file.is_some()),
            ("ui.assets_path", self.ui.assets_path.is_some()),
            ("ui.log_access", self.ui.log_access),
            ("storage.traces_archive", self.storage.traces_archive.is_some()),
            ("storage.metrics", self.storage.metrics.is_some()),
            ("max_clock_skew_adjust", !self.max_clock_skew_adjust.is_zero()),
            ("max_trace_size", self.max_trace_size != 0),
            ("enable_tracing", self.enable_tracing),
        ];
        if let Some((path, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(ConfigProblem::new(*path, "not supported by spoor yet"));
        }
        self.validate_http().map_err(|problem| problem.within("http"))?;
        self.validate_grpc().map_err(|problem| problem.within("grpc"))
    }

    fn validate_http(&self) -> Result<(), ConfigProblem> {
        self.http.other.check()?;
        // Only `/api/transform` reads a body, and it takes it uncompressed, as Jaeger does.
        self.http.server.validate(false)?;
        if self.http.server.include_metadata {
            return Err(ConfigProblem::new("include_metadata", NO_METADATA));
        }
        Ok(())
    }

    fn validate_grpc(&self) -> Result<(), ConfigProblem> {
        self.grpc.validate()?;
        if self.grpc.include_metadata {
            return Err(ConfigProblem::new("include_metadata", NO_METADATA));
        }
        Ok(())
    }

    /// `base_path` without a trailing slash; empty for the root.
    pub fn normalized_base_path(&self) -> String {
        self.base_path.trim_end_matches('/').to_string()
    }
}

/// The collector's `include_metadata` hands the request's headers on with the data it carries;
/// a query carries nothing on, so the key would be silently ignored.
const NO_METADATA: &str = "the query service carries no data on, so it has no metadata to include";

/// `http:` with no value (YAML null) means every key at its default, as in the collector.
fn null_is_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
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
        assert_eq!(config.http.server.endpoint.as_deref(), Some("0.0.0.0:16686"));
        assert_eq!(config.ui.config_file.as_deref(), Some("./ui-config.json"));
        assert_eq!(config.validate().unwrap_err().path, "ui.config_file");
    }

    #[test]
    fn defaults_are_jaegers() {
        let config: JaegerQueryConfig =
            serde_json::from_value(serde_json::json!({"storage": {"traces": "m"}})).unwrap();
        assert_eq!(config.http.server.endpoint_or(DEFAULT_HTTP_ENDPOINT), DEFAULT_HTTP_ENDPOINT);
        assert_eq!(config.grpc.endpoint_or(DEFAULT_GRPC_ENDPOINT), DEFAULT_GRPC_ENDPOINT);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let result: Result<JaegerQueryConfig, _> =
            serde_json::from_value(serde_json::json!({"storage": {"trace": "m"}}));
        assert!(result.unwrap_err().to_string().contains("unknown field `trace`"));
    }

    fn with(patch: serde_json::Value) -> Result<JaegerQueryConfig, String> {
        let mut config = serde_json::json!({"storage": {"traces": "m"}});
        for (key, value) in patch.as_object().unwrap() {
            config[key] = value.clone();
        }
        serde_json::from_value(config).map_err(|e| e.to_string())
    }

    #[test]
    fn every_confighttp_and_configgrpc_key_is_accepted() {
        let tls = serde_json::json!({"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "ca.pem"});
        let auth = serde_json::json!({"authenticator": "bearertokenauth/in"});
        let config = with(serde_json::json!({
            "http": {
                "endpoint": "0.0.0.0:16686", "tls": tls, "auth": auth,
                "cors": {"allowed_origins": ["https://*.example.com"], "allowed_headers": ["X-Scope"], "max_age": 60},
                "max_request_body_size": 1000, "response_headers": {"X-Frame-Options": "DENY"},
                "read_timeout": "1s", "read_header_timeout": "2s", "write_timeout": "3s", "idle_timeout": "4s",
                "keep_alives_enabled": false, "allowed_hosts": ["jaeger.internal"], "max_connections": 10,
            },
            "grpc": {
                "endpoint": "0.0.0.0:16685", "transport": "tcp", "tls": tls, "auth": auth,
                "max_recv_msg_size_mib": 16, "max_concurrent_streams": 100,
                "read_buffer_size": 524288, "write_buffer_size": 524288, "max_connections": 10,
                "keepalive": {"server_parameters": {"max_connection_idle": "1m", "max_connection_age": "1h",
                    "max_connection_age_grace": "1m", "time": "2h", "timeout": "20s"}},
            },
        }))
        .unwrap();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.http.server.body_limit(), 1000);
        assert_eq!(config.grpc.max_recv_msg_size(), 16 << 20);
    }

    #[test]
    fn empty_listener_blocks_take_the_defaults() {
        let config = with(serde_json::json!({"http": null, "grpc": null})).unwrap();
        assert_eq!(config.http, HttpConfig::default());
        assert_eq!(config.grpc, GrpcServerSettings::default());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn bearer_token_propagation_is_accepted() {
        assert_eq!(with(serde_json::json!({"bearer_token_propagation": true})).unwrap().validate(), Ok(()));
    }

    /// Each key spoor cannot honour on the query is refused with its path, never ignored.
    #[test]
    fn unsupported_keys_are_refused_with_their_path() {
        let cases = [
            (serde_json::json!({"ui": {"config_file": "ui.json"}}), "ui.config_file"),
            (serde_json::json!({"ui": {"assets_path": "/ui"}}), "ui.assets_path"),
            (serde_json::json!({"ui": {"log_access": true}}), "ui.log_access"),
            (serde_json::json!({"multi_tenancy": {"enabled": true, "header": "a b"}}), "multi_tenancy.header"),
            (serde_json::json!({"storage": {"traces": "m", "traces_archive": "a"}}), "storage.traces_archive"),
            (serde_json::json!({"storage": {"traces": "m", "metrics": "p"}}), "storage.metrics"),
            (serde_json::json!({"max_clock_skew_adjust": "1s"}), "max_clock_skew_adjust"),
            (serde_json::json!({"max_trace_size": 1000}), "max_trace_size"),
            (serde_json::json!({"enable_tracing": true}), "enable_tracing"),
            (serde_json::json!({"http": {"include_metadata": true}}), "http.include_metadata"),
            (serde_json::json!({"http": {"compression_algorithms": ["gzip"]}}), "http.compression_algorithms"),
            (serde_json::json!({"http": {"endpoint": "16686"}}), "http.endpoint"),
            (serde_json::json!({"http": {"tls": {"cert_file": "server.pem"}}}), "http.tls"),
            (
                serde_json::json!({"http": {"tls": {"cert_file": "c", "key_file": "k", "insecure": true}}}),
                "http.tls.insecure",
            ),
            (serde_json::json!({"http": {"auth": {"authenticator": ""}}}), "http.auth.authenticator"),
            (serde_json::json!({"http": {"response_headers": {"bad header": "x"}}}), "http.response_headers"),
            (serde_json::json!({"http": {"allowed_hosts": ["a/b"]}}), "http.allowed_hosts"),
            (serde_json::json!({"http": {"max_connections": 0}}), "http.max_connections"),
            (serde_json::json!({"http": {"enpoint": "localhost:1"}}), "http.enpoint"),
            (serde_json::json!({"grpc": {"include_metadata": true}}), "grpc.include_metadata"),
            (serde_json::json!({"grpc": {"transport": "unix"}}), "grpc.transport"),
            (serde_json::json!({"grpc": {"tls": {"key_file": "k"}}}), "grpc.tls"),
            (
                serde_json::json!({"grpc": {"keepalive": {"enforcement_policy": {"min_time": "1s"}}}}),
                "grpc.keepalive.enforcement_policy",
            ),
            (serde_json::json!({"grpc": {"max_connections": 0}}), "grpc.max_connections"),
        ];
        for (patch, path) in cases {
            let problem = with(patch.clone()).unwrap().validate().unwrap_err();
            assert_eq!(problem.path, path, "{patch}: {problem}");
        }
        let multi_tenancy_off = serde_json::json!({"multi_tenancy": {"enabled": false, "header": "x-tenant"}});
        assert_eq!(with(multi_tenancy_off).unwrap().validate(), Ok(()));
        let multi_tenancy_on = serde_json::json!({"multi_tenancy": {"enabled": true, "tenants": ["acme"]}});
        assert_eq!(with(multi_tenancy_on).unwrap().validate(), Ok(()));
    }

    #[test]
    fn unknown_grpc_keys_fail_the_parse() {
        let err = with(serde_json::json!({"grpc": {"max_recv_msg_size": 4}})).unwrap_err();
        assert!(err.contains("unknown field `max_recv_msg_size`"), "{err}");
    }
}
