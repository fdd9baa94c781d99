//! The `otlp` (gRPC, alias `otlp_grpc`) and `otlphttp` (alias `otlp_http`) exporters.
//!
//! Each export is one attempt: the queue and retry around it belong to
//! `spoor_pipeline::queue`, which reads [`OtlpGrpcExporterConfig::retry_settings`] and
//! [`OtlpGrpcExporterConfig::queue_settings`] (and the same on the HTTP config). Errors are
//! classified as the collector does, so the wrapper retries exactly what the collector retries.
//!
//! `auth: {authenticator: <id>}` names a client authenticator extension; the exporter resolves
//! it in `with_authenticators` and adds the authenticator's headers to every request.
//!
//! Neither exporter touches the network before its first export: an endpoint that does not
//! resolve yet (a Kubernetes service name outside the cluster) only makes exports fail with a
//! retryable error.

mod classify;
mod client_auth;
mod grpc;
mod http;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

pub use classify::{classify_grpc_status, classify_http_status, parse_retry_after};
pub use grpc::{GrpcKeepalive, OtlpGrpcExporter, OtlpGrpcExporterConfig};
pub use http::{HttpEncoding, OtlpHttpExporter, OtlpHttpExporterConfig};

/// The exporter type names (and aliases) the config may use.
pub const GRPC_TYPE_NAMES: &[&str] = &["otlp", "otlp_grpc"];
pub const HTTP_TYPE_NAMES: &[&str] = &["otlphttp", "otlp_http"];

/// A config that cannot become an exporter. The message names the key at fault, relative to
/// the exporter (`tls: cannot read /x.pem: ...`), for the binary to prefix with the YAML path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExporterBuildError(pub String);

impl ExporterBuildError {
    /// The key at fault, relative to the exporter (`tls.ca_file`), or "" when the message
    /// does not start with one.
    pub fn key(&self) -> &str {
        match self.0.split_once(": ") {
            Some((key, _)) if is_key_path(key) => key,
            _ => "",
        }
    }

    /// The message without its key.
    pub fn message(&self) -> &str {
        match self.0.split_once(": ") {
            Some((key, message)) if is_key_path(key) => message,
            _ => &self.0,
        }
    }
}

/// `tls`, `retry_on_failure.multiplier`: YAML keys joined by dots.
fn is_key_path(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|key| !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// The collector's `compression` values. An empty string and `none` mean no compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    Snappy,
    Deflate,
    Zlib,
    Lz4,
    None,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Snappy => "snappy",
            Self::Deflate => "deflate",
            Self::Zlib => "zlib",
            Self::Lz4 => "lz4",
            Self::None => "none",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        match text.as_str() {
            "gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            "snappy" => Ok(Self::Snappy),
            "deflate" => Ok(Self::Deflate),
            "zlib" => Ok(Self::Zlib),
            "lz4" => Ok(Self::Lz4),
            "" | "none" => Ok(Self::None),
            other => Err(serde::de::Error::custom(format!("unsupported compression type {other:?}"))),
        }
    }
}

/// `headers`: YAML scalars of any type become strings, as the collector's decoder does.
fn deserialize_headers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?;
    raw.unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                serde_json::Value::Null => String::new(),
                _ => {
                    return Err(serde::de::Error::custom(format!("header {key:?} must be a string")));
                }
            };
            Ok((key, value))
        })
        .collect()
}

fn user_agent() -> String {
    format!("spoor/{} ({}/{})", env!("CARGO_PKG_VERSION"), std::env::consts::OS, std::env::consts::ARCH)
}

/// Logs a partial success as the collector does: a warning, never a retry.
fn warn_partial_success(exporter: &str, partial: Option<&spoor_pipeline::otlp::ExportTracePartialSuccess>) {
    if let Some(partial) = partial
        && (partial.rejected_spans != 0 || !partial.error_message.is_empty())
    {
        tracing::warn!(
            exporter,
            message = %partial.error_message,
            dropped_spans = partial.rejected_spans,
            "partial success response"
        );
    }
}
