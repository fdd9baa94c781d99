//! The `otlphttp` exporter: OTLP over HTTP (protobuf or JSON) with reqwest.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use prost::Message;
use serde::{Deserialize, Deserializer};
use spoor_pipeline::otlp::ExportTraceServiceResponse;
use spoor_pipeline::queue::{QueueSettings, RetrySettings};
use spoor_pipeline::{ExportError, Exporter, TraceBatch};

use super::classify::classify_http_status;
use super::client_auth::ClientAuth;
use super::{Compression, ExporterBuildError, deserialize_headers, user_agent};
use spoor_net::AuthSettings;
use spoor_net::auth::Authenticators;
use spoor_net::tls::TlsSettings;

/// The collector reads at most this much of a response body.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
const JSON_CONTENT_TYPE: &str = "application/json";

/// `encoding`: the body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpEncoding {
    #[default]
    Proto,
    Json,
}

impl<'de> Deserialize<'de> for HttpEncoding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "proto" => Ok(Self::Proto),
            "json" => Ok(Self::Json),
            other => Err(serde::de::Error::custom(format!("invalid encoding type: {other}"))),
        }
    }
}

/// `compression_params`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// Codec level; zero is the codec's default.
    pub level: i32,
}

/// `cookies`: accepted for compatibility; spoor keeps no cookie jar.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookiesConfig {
    pub enabled: bool,
}

/// The `otlphttp` exporter's config: the collector's `confighttp.ClientConfig` plus the
/// signal endpoints, `encoding`, `retry_on_failure` and `sending_queue`, with its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpExporterConfig {
    /// Base URL; traces go to `<endpoint>/v1/traces`.
    pub endpoint: String,
    /// The full traces URL, used as is; overrides `endpoint`.
    pub traces_endpoint: String,
    /// Accepted for compatibility; spoor exports traces only.
    pub metrics_endpoint: String,
    pub logs_endpoint: String,
    pub profiles_endpoint: String,
    pub encoding: HttpEncoding,
    pub tls: TlsSettings,
    #[serde(deserialize_with = "deserialize_headers")]
    pub headers: BTreeMap<String, String>,
    pub compression: Compression,
    pub compression_params: CompressionParams,
    /// Whole-request deadline; zero means none.
    #[serde(with = "spoor_config::duration")]
    pub timeout: Duration,
    pub proxy_url: String,
    /// Accepted for compatibility; hyper sizes its own buffers.
    pub read_buffer_size: usize,
    pub write_buffer_size: usize,
    /// Accepted for compatibility; reqwest pools per host.
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    /// Accepted for compatibility; the queue's consumers bound concurrency.
    pub max_conns_per_host: Option<usize>,
    #[serde(with = "spoor_config::duration::option")]
    pub idle_conn_timeout: Option<Duration>,
    pub disable_keep_alives: bool,
    /// Accepted for compatibility (HTTP/2 tuning of Go's client).
    #[serde(with = "spoor_config::duration::option")]
    pub http2_read_idle_timeout: Option<Duration>,
    #[serde(with = "spoor_config::duration::option")]
    pub http2_ping_timeout: Option<Duration>,
    pub force_attempt_http2: bool,
    pub cookies: CookiesConfig,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
    /// A client authenticator extension whose headers go with every request; see
    /// [`OtlpHttpExporter::with_authenticators`].
    pub auth: Option<AuthSettings>,
}

impl Default for OtlpHttpExporterConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            traces_endpoint: String::new(),
            metrics_endpoint: String::new(),
            logs_endpoint: String::new(),
            profiles_endpoint: String::new(),
            encoding: HttpEncoding::Proto,
            tls: TlsSettings::default(),
            headers: BTreeMap::new(),
            compression: Compression::Gzip,
            compression_params: CompressionParams::default(),
            timeout: Duration::from_secs(30),
            proxy_url: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 0,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: None,
            disable_keep_alives: false,
            http2_read_idle_timeout: None,
            http2_ping_timeout: None,
            force_attempt_http2: false,
            cookies: CookiesConfig::default(),
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            auth: None,
        }
    }
}

impl OtlpHttpExporterConfig {
    pub fn retry_settings(&self) -> &RetrySettings {
        &self.retry_on_failure
    }

    pub fn queue_settings(&self) -> &QueueSettings {
        &self.sending_queue
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The URL traces are posted to: `traces_endpoint`, or `endpoint` + `/v1/traces`.
    pub fn traces_url(&self) -> Result<reqwest::Url, ExporterBuildError> {
        let (key, text) = if !self.traces_endpoint.is_empty() {
            ("traces_endpoint", self.traces_endpoint.clone())
        } else if !self.endpoint.is_empty() {
            let base = self.endpoint.trim_end_matches('/');
            ("endpoint", format!("{base}/v1/traces"))
        } else {
            return Err(ExporterBuildError(
                "endpoint: either endpoint or traces_endpoint must be specified".to_owned(),
            ));
        };
        let url = reqwest::Url::parse(&text)
            .map_err(|err| ExporterBuildError(format!("{key}: invalid URL {text:?}: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ExporterBuildError(format!("{key}: {text:?} must be an http:// or https:// URL")));
        }
        Ok(url)
    }

    /// Checks everything [`OtlpHttpExporter::new`] checks, without building a client. Whether
    /// `auth.authenticator` names a client authenticator is checked by
    /// [`OtlpHttpExporter::with_authenticators`].
    pub fn validate(&self) -> Result<(), ExporterBuildError> {
        ClientAuth::from_settings(self.auth.as_ref())?;
        self.retry_on_failure.validate().map_err(ExporterBuildError)?;
        self.sending_queue.validate().map_err(ExporterBuildError)?;
        self.traces_url()?;
        self.build_client()?;
        Ok(())
    }

    fn check_compression(&self) -> Result<(), ExporterBuildError> {
        let level = self.compression_params.level;
        let valid = match self.compression {
            Compression::Gzip | Compression::Deflate | Compression::Zlib => (-1..=9).contains(&level),
            Compression::Zstd => (-7..=22).contains(&level),
            Compression::Snappy | Compression::Lz4 | Compression::None => true,
        };
        if valid {
            Ok(())
        } else {
            Err(ExporterBuildError(format!("compression_params: level {level} is invalid for {}", self.compression)))
        }
    }

    fn build_client(&self) -> Result<reqwest::Client, ExporterBuildError> {
        self.check_compression()?;
        let mut builder =
            reqwest::Client::builder().user_agent(user_agent()).default_headers(header_map(&self.headers)?);
        if !self.timeout.is_zero() {
            builder = builder.timeout(self.timeout);
        }
        if let Some(idle) = self.idle_conn_timeout {
            builder = builder.pool_idle_timeout(idle);
        }
        if self.disable_keep_alives {
            builder = builder.pool_max_idle_per_host(0);
        } else if let Some(max) = self.max_idle_conns_per_host {
            builder = builder.pool_max_idle_per_host(max);
        }
        if !self.proxy_url.is_empty() {
            let proxy = reqwest::Proxy::all(&self.proxy_url)
                .map_err(|err| ExporterBuildError(format!("proxy_url: invalid {:?}: {err}", self.proxy_url)))?;
            builder = builder.proxy(proxy);
        }
        if let Some(tls) = self.tls.client_config(&[b"http/1.1"]).map_err(|err| ExporterBuildError(err.to_string()))? {
            builder = builder.use_preconfigured_tls(tls);
        }
        if self.cookies.enabled {
            tracing::warn!("otlphttp: cookies are not supported and are ignored");
        }
        builder.build().map_err(|err| ExporterBuildError(format!("cannot build the HTTP client: {err}")))
    }
}

fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, ExporterBuildError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ExporterBuildError(format!("headers: invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| ExporterBuildError(format!("headers: invalid value for {name:?}")))?;
        map.insert(header, value);
    }
    Ok(map)
}

/// The `otlphttp` exporter. Construction does no I/O; DNS and connections happen per export.
pub struct OtlpHttpExporter {
    id: String,
    client: reqwest::Client,
    url: reqwest::Url,
    auth: ClientAuth,
    encoding: HttpEncoding,
    compression: Compression,
    level: i32,
}

impl OtlpHttpExporter {
    pub fn new(id: impl Into<String>, config: &OtlpHttpExporterConfig) -> Result<Self, ExporterBuildError> {
        let url = config.traces_url()?;
        let auth = ClientAuth::from_settings(config.auth.as_ref())?;
        let client = config.build_client()?;
        Ok(Self {
            id: id.into(),
            client,
            url,
            auth,
            encoding: config.encoding,
            compression: config.compression,
            level: config.compression_params.level,
        })
    }

    /// Resolves `auth.authenticator` among `authenticators`; fails, naming that key, when it
    /// is not a client authenticator there. Without `auth` in the config this does nothing.
    pub fn with_authenticators(self, authenticators: Authenticators) -> Result<Self, ExporterBuildError> {
        Ok(Self { auth: self.auth.resolve(&authenticators)?, ..self })
    }

    /// The URL traces are posted to.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    fn encode(&self, batch: &TraceBatch) -> Result<Vec<u8>, ExportError> {
        match self.encoding {
            HttpEncoding::Proto => Ok(batch.encode_request()),
            HttpEncoding::Json => serde_json::to_vec(&batch.to_request())
                .map_err(|err| ExportError::Permanent(format!("cannot encode JSON: {err}"))),
        }
    }

    fn content_type(&self) -> &'static str {
        match self.encoding {
            HttpEncoding::Proto => PROTOBUF_CONTENT_TYPE,
            HttpEncoding::Json => JSON_CONTENT_TYPE,
        }
    }

    async fn handle_success(&self, response: reqwest::Response) {
        let content_type =
            response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = read_limited(response).await;
        if body.is_empty() {
            return;
        }
        let decoded = if content_type.starts_with(PROTOBUF_CONTENT_TYPE) {
            ExportTraceServiceResponse::decode(body.as_slice()).map_err(|err| err.to_string())
        } else if content_type.starts_with(JSON_CONTENT_TYPE) {
            serde_json::from_slice::<ExportTraceServiceResponse>(&body).map_err(|err| err.to_string())
        } else {
            return;
        };
        match decoded {
            Ok(response) => super::warn_partial_success(&self.id, response.partial_success.as_ref()),
            // The data was accepted; an unreadable response is not a reason to resend it.
            Err(err) => tracing::debug!(exporter = %self.id, error = %err, "cannot parse export response"),
        }
    }
}

#[async_trait]
impl Exporter for OtlpHttpExporter {
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        let body = self.encode(batch)?;
        let body = compress(self.compression, self.level, body)
            .map_err(|err| ExportError::Permanent(format!("cannot compress the request: {err}")))?;
        let mut request = self.client.post(self.url.clone()).header(http::header::CONTENT_TYPE, self.content_type());
        if self.compression != Compression::None {
            request = request.header(http::header::CONTENT_ENCODING, self.compression.name());
        }
        // reqwest fills in `headers:` (the client's default headers) only where the request
        // has no value, so the authenticator's win, as confighttp's auth round tripper, the
        // innermost, sets its headers over those of `headers:`.
        for (name, value) in self.auth.headers().await? {
            request = request.header(name, value);
        }
        let response =
            request.body(body).send().await.map_err(|err| {
                ExportError::retryable(format!("failed to make an HTTP request: {}", error_chain(&err)))
            })?;
        let status = response.status();
        if status.is_success() {
            self.handle_success(response).await;
            return Ok(());
        }
        let retry_after =
            response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = read_limited(response).await;
        Err(classify_http_status(self.url.as_str(), status.as_u16(), retry_after.as_deref(), &body, SystemTime::now()))
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`]; a body that breaks off is used as far as it came.
async fn read_limited(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_RESPONSE_BYTES);
    body
}

/// `err` and its sources, so that "error sending request" says which DNS name failed.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    // Source chains are short; the bound only guards against a cyclic one.
    for _ in 0..8 {
        let Some(cause) = source else { break };
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Compresses a request body as the collector's HTTP client does; `deflate` is zlib-wrapped
/// (RFC 9110) and `snappy` is the block format.
pub(crate) fn compress(compression: Compression, level: i32, body: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let flate_level = || {
        if level <= 0 { flate2::Compression::default() } else { flate2::Compression::new(level.unsigned_abs().min(9)) }
    };
    match compression {
        Compression::None => Ok(body),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate_level());
            encoder.write_all(&body)?;
            encoder.finish()
        }
        Compression::Deflate | Compression::Zlib => {
            let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate_level());
            encoder.write_all(&body)?;
            encoder.finish()
        }
        Compression::Zstd => zstd::encode_all(body.as_slice(), level),
        Compression::Snappy => snap::raw::Encoder::new().compress_vec(&body).map_err(std::io::Error::other),
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(&body)?;
            encoder.finish().map_err(std::io::Error::other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn config(json: serde_json::Value) -> OtlpHttpExporterConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn traces_url_follows_the_collector() {
        let url = |json| config(json).traces_url().map(|u| u.to_string());
        assert_eq!(
            url(serde_json::json!({"endpoint": "http://collector:4318"})).unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            url(serde_json::json!({"endpoint": "https://collector:4318/prefix/"})).unwrap(),
            "https://collector:4318/prefix/v1/traces"
        );
        assert_eq!(
            url(serde_json::json!({"endpoint": "http://a:1", "traces_endpoint": "http://b:2/custom"})).unwrap(),
            "http://b:2/custom"
        );
        assert!(url(serde_json::json!({})).is_err());
        assert!(url(serde_json::json!({"endpoint": "collector:4318"})).is_err());
    }

    #[test]
    fn defaults_match_the_collector() {
        let config = config(serde_json::json!({"endpoint": "http://x:4318"}));
        assert_eq!(config.timeout(), Duration::from_secs(30));
        assert_eq!(config.compression, Compression::Gzip);
        assert_eq!(config.encoding, HttpEncoding::Proto);
        assert_eq!(config.retry_settings(), &RetrySettings::default());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn accepts_collector_keys_and_rejects_bad_values() {
        let full = config(serde_json::json!({
            "endpoint": "https://x:4318",
            "encoding": "json",
            "compression": "zstd",
            "compression_params": {"level": 5},
            "timeout": "10s",
            "headers": {"authorization": "Bearer t"},
            "tls": {"insecure_skip_verify": true, "min_version": "1.3"},
            "max_idle_conns": 10,
            "idle_conn_timeout": "90s",
            "disable_keep_alives": false,
            "http2_ping_timeout": "15s",
            "metrics_endpoint": "https://x:4318/v1/metrics",
            "cookies": {"enabled": false},
            "retry_on_failure": {"max_elapsed_time": "0"},
            "sending_queue": {"enabled": false},
        }));
        assert!(full.validate().is_ok());
        assert!(serde_json::from_value::<OtlpHttpExporterConfig>(serde_json::json!({"encoding": "xml"})).is_err());
        assert!(serde_json::from_value::<OtlpHttpExporterConfig>(serde_json::json!({"endpont": "x"})).is_err());
        let with_auth =
            config(serde_json::json!({"endpoint": "http://x:1", "auth": {"authenticator": "basicauth/out"}}));
        assert!(with_auth.validate().is_ok(), "the id is resolved by with_authenticators");
        assert!(
            serde_json::from_value::<OtlpHttpExporterConfig>(
                serde_json::json!({"endpoint": "http://x:1", "auth": {"authenticator": "a", "extra": 1}})
            )
            .is_err()
        );
        for (json, needle) in [
            (serde_json::json!({"endpoint": "http://x:1", "auth": {"authenticator": ""}}), "auth.authenticator"),
            (serde_json::json!({"endpoint": "http://x:1", "headers": {"a b": "c"}}), "headers"),
            (serde_json::json!({"endpoint": "http://x:1", "compression_params": {"level": 42}}), "compression_params"),
            (
                serde_json::json!({"endpoint": "http://x:1", "tls": {"ca_file": "/nonexistent/ca.pem"}}),
                "/nonexistent/ca.pem",
            ),
        ] {
            let err = config(json).validate().unwrap_err();
            assert!(err.0.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn compression_round_trips() {
        let body = b"spans spans spans spans spans".repeat(20);
        let gz = compress(Compression::Gzip, 0, body.clone()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);

        let zl = compress(Compression::Deflate, 0, body.clone()).unwrap();
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(zl.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);

        let zs = compress(Compression::Zstd, 0, body.clone()).unwrap();
        assert_eq!(zstd::decode_all(zs.as_slice()).unwrap(), body);

        let sn = compress(Compression::Snappy, 0, body.clone()).unwrap();
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&sn).unwrap(), body);

        let lz = compress(Compression::Lz4, 0, body.clone()).unwrap();
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(lz.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);

        assert_eq!(compress(Compression::None, 0, body.clone()).unwrap(), body);
    }
}
