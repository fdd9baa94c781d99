//! The `otlp` exporter: OTLP over gRPC with tonic, connecting lazily.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use http::uri::Authority;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Uri};
use hyper_util::rt::TokioIo;
use prost::Message;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use spoor_pipeline::otlp::ExportTraceServiceResponse;
use spoor_pipeline::queue::{QueueSettings, RetrySettings};
use spoor_pipeline::{EncodedRequest, ExportError, Exporter, TraceBatch};
use tokio::net::TcpStream;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::GrpcMethod;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Response, Status};

use super::classify::classify_grpc_status;
use super::client_auth::ClientAuth;
use super::{Compression, ExporterBuildError, deserialize_headers, user_agent};
use spoor_net::AuthSettings;
use spoor_net::auth::Authenticators;
use spoor_net::tls::TlsSettings;

/// Responses are tiny; this bounds what a misbehaving server can make us buffer.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// `keepalive` of a gRPC client.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcKeepalive {
    #[serde(with = "spoor_config::duration::option")]
    pub time: Option<Duration>,
    #[serde(with = "spoor_config::duration::option")]
    pub timeout: Option<Duration>,
    pub permit_without_stream: bool,
}

/// The `otlp` exporter's config: the collector's `configgrpc.ClientConfig` plus the exporter
/// helper's `timeout`, `retry_on_failure` and `sending_queue`, with the collector's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcExporterConfig {
    /// `host:port`, or a URL (`http://` means plaintext, `https://` TLS), or `dns:///host:port`.
    pub endpoint: String,
    pub tls: TlsSettings,
    #[serde(deserialize_with = "deserialize_headers")]
    pub headers: BTreeMap<String, String>,
    pub compression: Compression,
    /// Per-attempt deadline; zero means none.
    #[serde(with = "spoor_config::duration")]
    pub timeout: Duration,
    pub retry_on_failure: RetrySettings,
    pub sending_queue: QueueSettings,
    pub keepalive: Option<GrpcKeepalive>,
    /// `pick_first` or `round_robin`; spoor keeps one HTTP/2 connection either way.
    pub balancer_name: String,
    /// Overrides the `:authority` of requests.
    pub authority: String,
    /// Accepted for compatibility; hyper sizes its own buffers.
    pub read_buffer_size: usize,
    /// Accepted for compatibility; hyper sizes its own buffers.
    pub write_buffer_size: usize,
    /// Accepted for compatibility: a call always waits for the connection it needs.
    pub wait_for_ready: bool,
    /// A client authenticator extension whose headers go with every call; see
    /// [`OtlpGrpcExporter::with_authenticators`].
    pub auth: Option<AuthSettings>,
}

impl Default for OtlpGrpcExporterConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            tls: TlsSettings::default(),
            headers: BTreeMap::new(),
            compression: Compression::Gzip,
            timeout: Duration::from_secs(5),
            retry_on_failure: RetrySettings::default(),
            sending_queue: QueueSettings::default(),
            keepalive: None,
            balancer_name: String::new(),
            authority: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 0,
            wait_for_ready: false,
            auth: None,
        }
    }
}

impl OtlpGrpcExporterConfig {
    pub fn retry_settings(&self) -> &RetrySettings {
        &self.retry_on_failure
    }

    pub fn queue_settings(&self) -> &QueueSettings {
        &self.sending_queue
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Checks everything [`OtlpGrpcExporter::new`] checks, without building a client. Whether
    /// `auth.authenticator` names a client authenticator is checked by
    /// [`OtlpGrpcExporter::with_authenticators`].
    pub fn validate(&self) -> Result<(), ExporterBuildError> {
        self.plan().map(|_| ())
    }

    fn plan(&self) -> Result<Plan, ExporterBuildError> {
        let auth = ClientAuth::from_settings(self.auth.as_ref())?;
        self.retry_on_failure.validate().map_err(ExporterBuildError)?;
        self.sending_queue.validate().map_err(ExporterBuildError)?;
        let compression = match self.compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::None => None,
            other => {
                return Err(ExporterBuildError(format!(
                    "compression: {other} is not supported by the gRPC exporter (use gzip, zstd or none)"
                )));
            }
        };
        match self.balancer_name.as_str() {
            "" | "pick_first" | "round_robin" => {}
            other => {
                return Err(ExporterBuildError(format!("balancer_name: invalid balancer_name: {other}")));
            }
        }
        let target = Target::parse(&self.endpoint)?;
        let use_tls = match target.scheme {
            Scheme::Http => false,
            Scheme::Https => true,
            Scheme::Unspecified => !self.tls.insecure,
        };
        let tls = if use_tls {
            let settings = TlsSettings {
                // `https://` wins over `insecure: true`, as in the collector.
                insecure: false,
                ..self.tls.clone()
            };
            let config = settings
                .client_config(&[b"h2"])
                .map_err(|err| ExporterBuildError(err.to_string()))?
                .ok_or_else(|| ExporterBuildError("tls: no client config".to_owned()))?;
            let name = self
                .tls
                .server_name_override
                .clone()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| target.host.clone());
            let server_name = server_name(&name)?;
            Some(TlsConnector { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), server_name })
        } else {
            None
        };
        let metadata = metadata(&self.headers)?;
        let origin_authority =
            if self.authority.is_empty() { target.authority.clone() } else { self.authority.clone() };
        let origin_scheme = if tls.is_some() { "https" } else { "http" };
        let origin = Uri::from_str(&format!("{origin_scheme}://{origin_authority}"))
            .map_err(|err| ExporterBuildError(format!("authority: invalid {origin_authority:?}: {err}")))?;
        // The connection URI stays `http://` so that tonic hands the socket to our connector,
        // which does the TLS itself; requests carry the real scheme through the origin.
        let mut endpoint = Endpoint::from_shared(format!("http://{}", target.authority))
            .map_err(|err| ExporterBuildError(format!("endpoint: {err}")))?
            .origin(origin)
            .user_agent(user_agent())
            .map_err(|err| ExporterBuildError(format!("endpoint: {err}")))?
            .tcp_nodelay(true);
        if !self.timeout.is_zero() {
            endpoint = endpoint.connect_timeout(self.timeout);
        }
        if let Some(keepalive) = &self.keepalive {
            if let Some(time) = keepalive.time.filter(|t| !t.is_zero()) {
                endpoint = endpoint.http2_keep_alive_interval(time);
            }
            if let Some(timeout) = keepalive.timeout.filter(|t| !t.is_zero()) {
                endpoint = endpoint.keep_alive_timeout(timeout);
            }
            endpoint = endpoint.keep_alive_while_idle(keepalive.permit_without_stream);
        }
        Ok(Plan { endpoint, tls, metadata, auth, compression, display: self.endpoint.clone() })
    }
}

/// What the config turns into, before any network activity.
struct Plan {
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
    metadata: MetadataMap,
    auth: ClientAuth,
    compression: Option<CompressionEncoding>,
    display: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
    Unspecified,
}

/// A gRPC target reduced to what we dial.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    scheme: Scheme,
    /// `host:port`, IPv6 hosts in brackets.
    authority: String,
    /// The host without brackets, for SNI.
    host: String,
}

impl Target {
    fn parse(endpoint: &str) -> Result<Self, ExporterBuildError> {
        let endpoint = endpoint.trim();
        if endpoint.is_empty() {
            return Err(ExporterBuildError("endpoint: requires a non-empty \"endpoint\"".to_owned()));
        }
        let (scheme, rest) = if let Some(rest) = endpoint.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = endpoint.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = endpoint.strip_prefix("dns://") {
            // `dns:///host:port`, or `dns://resolver/host:port` whose resolver we ignore.
            (Scheme::Unspecified, rest.rsplit('/').next().unwrap_or(rest))
        } else if endpoint.contains("://") || endpoint.starts_with("unix:") {
            return Err(ExporterBuildError(format!(
                "endpoint: unsupported target {endpoint:?} (use host:port, http:// or https://)"
            )));
        } else {
            (Scheme::Unspecified, endpoint)
        };
        let rest = rest.trim_end_matches('/');
        let authority = Authority::from_str(rest)
            .map_err(|err| ExporterBuildError(format!("endpoint: invalid endpoint {endpoint:?}: {err}")))?;
        if rest.contains('/') || rest.contains('@') || authority.host().is_empty() {
            return Err(ExporterBuildError(format!("endpoint: invalid endpoint {endpoint:?}: expected host:port")));
        }
        let host = authority.host().to_owned();
        let port = match rest.strip_prefix(host.as_str()).and_then(|r| r.strip_prefix(':')) {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| ExporterBuildError(format!("endpoint: invalid port in {endpoint:?}")))?,
            // gRPC's default port.
            None => 443,
        };
        let bare_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        Ok(Self { scheme, authority: format!("{host}:{port}"), host: bare_host })
    }
}

fn server_name(name: &str) -> Result<ServerName<'static>, ExporterBuildError> {
    if let Ok(ip) = IpAddr::from_str(name) {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_owned())
        .map_err(|err| ExporterBuildError(format!("tls: invalid server name {name:?}: {err}")))
}

fn metadata(headers: &BTreeMap<String, String>) -> Result<MetadataMap, ExporterBuildError> {
    let mut metadata = MetadataMap::new();
    for (name, value) in headers {
        let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| ExporterBuildError(format!("headers: invalid header name {name:?}")))?;
        let value = MetadataValue::try_from(value.as_str())
            .map_err(|_| ExporterBuildError(format!("headers: invalid value for {name:?}")))?;
        metadata.insert(key, value);
    }
    Ok(metadata)
}

/// The authenticator's headers replace those of `headers:` with the same name. The
/// collector's gRPC client sends both, the authenticator's first, so a server that reads the
/// first value (as the collector's authenticators do) sees the authenticator's; replacing gets
/// that result without a second value for a server that reads the last one.
fn with_auth_headers(metadata: &MetadataMap, auth_headers: Vec<(HeaderName, HeaderValue)>) -> MetadataMap {
    if auth_headers.is_empty() {
        return metadata.clone();
    }
    let mut headers = metadata.clone().into_headers();
    for (name, value) in auth_headers {
        headers.insert(name, value);
    }
    MetadataMap::from_headers(headers)
}

/// Dials TCP and does TLS with our rustls config, so every `tls` setting applies (CA files,
/// client certificates, `insecure_skip_verify`, versions, `server_name_override`).
#[derive(Clone)]
struct TlsConnector {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

type TlsIo = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

impl tower::Service<Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.connector.clone();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .ok_or_else(|| std::io::Error::other(format!("no host in {uri}")))?;
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// The `otlp` exporter. Cheap to construct: the channel is created on the first export and
/// connects (and reconnects) in the background.
pub struct OtlpGrpcExporter {
    id: String,
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
    client: OnceLock<tonic::client::Grpc<Channel>>,
    metadata: MetadataMap,
    auth: ClientAuth,
    compression: Option<CompressionEncoding>,
    timeout: Duration,
    display: String,
}

impl OtlpGrpcExporter {
    /// Validates the config and prepares the client. Does no I/O and needs no runtime; an
    /// unreachable endpoint shows up later as retryable export errors.
    pub fn new(id: impl Into<String>, config: &OtlpGrpcExporterConfig) -> Result<Self, ExporterBuildError> {
        let plan = config.plan()?;
        Ok(Self {
            id: id.into(),
            endpoint: plan.endpoint,
            tls: plan.tls,
            client: OnceLock::new(),
            metadata: plan.metadata,
            auth: plan.auth,
            compression: plan.compression,
            timeout: config.timeout,
            display: plan.display,
        })
    }

    /// Resolves `auth.authenticator` among `authenticators`; fails, naming that key, when it
    /// is not a client authenticator there. Without `auth` in the config this does nothing.
    pub fn with_authenticators(self, authenticators: Authenticators) -> Result<Self, ExporterBuildError> {
        Ok(Self { auth: self.auth.resolve(&authenticators)?, ..self })
    }

    /// The endpoint as configured, for logs.
    pub fn endpoint(&self) -> &str {
        &self.display
    }

    /// `headers:` with the authenticator's headers for this call over them.
    async fn request_metadata(&self) -> Result<MetadataMap, ExportError> {
        let auth_headers = self.auth.headers().await?;
        Ok(with_auth_headers(&self.metadata, auth_headers))
    }

    /// Must run inside a tokio runtime: the lazy channel spawns its worker there.
    fn client(&self) -> tonic::client::Grpc<Channel> {
        self.client
            .get_or_init(|| {
                let channel = match &self.tls {
                    Some(tls) => self.endpoint.connect_with_connector_lazy(tls.clone()),
                    None => self.endpoint.connect_lazy(),
                };
                let mut client = tonic::client::Grpc::new(channel)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .max_decoding_message_size(MAX_RESPONSE_BYTES);
                if let Some(encoding) = self.compression {
                    client = client.send_compressed(encoding);
                }
                client
            })
            .clone()
    }

    /// One `TraceService/Export` call, as tonic's generated client makes it, with the request
    /// written from the batch's bytes.
    async fn call(
        &self,
        request: tonic::Request<EncodedRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut client = self.client();
        client.ready().await.map_err(|err| Status::unknown(format!("Service was not ready: {err}")))?;
        let mut request = request;
        request.extensions_mut().insert(GrpcMethod::new(SERVICE_NAME, "Export"));
        client.unary(request, PathAndQuery::from_static(EXPORT_PATH), PreEncodedCodec).await
    }
}

/// Sends an [`EncodedRequest`] as it is (the batch's received bytes, or the batch encoded
/// once), where tonic's prost codec would need an owned request: a deep copy of every span.
#[derive(Debug, Clone, Copy, Default)]
struct PreEncodedCodec;

impl Codec for PreEncodedCodec {
    type Encode = EncodedRequest;
    type Decode = ExportTraceServiceResponse;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for PreEncodedCodec {
    type Item = EncodedRequest;
    type Error = Status;

    fn encode(&mut self, item: EncodedRequest, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.reserve(item.len());
        item.write_to(buf);
        Ok(())
    }
}

impl Decoder for PreEncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<ExportTraceServiceResponse>, Status> {
        // As tonic's prost codec maps it.
        ExportTraceServiceResponse::decode(buf).map(Some).map_err(|err| Status::internal(err.to_string()))
    }
}

#[async_trait]
impl Exporter for OtlpGrpcExporter {
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        let metadata = self.request_metadata().await?;
        let mut request = tonic::Request::new(batch.encoded_request());
        *request.metadata_mut() = metadata;
        let response = if self.timeout.is_zero() {
            self.call(request).await
        } else {
            request.set_timeout(self.timeout);
            match tokio::time::timeout(self.timeout, self.call(request)).await {
                Ok(response) => response,
                Err(_) => {
                    return Err(ExportError::retryable(format!(
                        "rpc error: code = DeadlineExceeded desc = no response from {} within {}",
                        self.display,
                        spoor_config::duration::format(self.timeout)
                    )));
                }
            }
        };
        match response {
            Ok(response) => {
                super::warn_partial_success(&self.id, response.get_ref().partial_success.as_ref());
                Ok(())
            }
            Err(status) => classify_grpc_status(&status).map_err(|err| with_endpoint(err, &self.display)),
        }
    }
}

/// Names the endpoint in connection errors, where tonic's message alone does not.
fn with_endpoint(err: ExportError, endpoint: &str) -> ExportError {
    match err {
        ExportError::Retryable { message, retry_after } => {
            ExportError::Retryable { message: format!("{message} (endpoint {endpoint})"), retry_after }
        }
        ExportError::Permanent(message) => ExportError::Permanent(format!("{message} (endpoint {endpoint})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(endpoint: &str) -> Target {
        Target::parse(endpoint).unwrap()
    }

    #[test]
    fn parses_collector_endpoint_forms() {
        assert_eq!(
            target("jaeger-collector:4317"),
            Target {
                scheme: Scheme::Unspecified,
                authority: "jaeger-collector:4317".to_owned(),
                host: "jaeger-collector".to_owned()
            }
        );
        assert_eq!(target("http://localhost:4317").scheme, Scheme::Http);
        assert_eq!(target("https://example.com").authority, "example.com:443");
        assert_eq!(target("dns:///collector:4317").authority, "collector:4317");
        assert_eq!(target("[::1]:4317").host, "::1");
        assert_eq!(target("[::1]:4317").authority, "[::1]:4317");
        for bad in ["", "unix:///tmp/x.sock", "ftp://x:1", "http://x:1/path", "x:notaport"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_defaults_match_the_collector() {
        let config: OtlpGrpcExporterConfig = serde_json::from_value(serde_json::json!({"endpoint": "x:4317"})).unwrap();
        assert_eq!(config.compression, Compression::Gzip);
        assert_eq!(config.timeout(), Duration::from_secs(5));
        assert_eq!(config.retry_settings(), &RetrySettings::default());
        assert_eq!(config.queue_settings(), &QueueSettings::default());
        assert!(!config.tls.insecure);
    }

    #[test]
    fn config_accepts_collector_keys_and_rejects_unknown_ones() {
        let config: OtlpGrpcExporterConfig = serde_json::from_value(serde_json::json!({
            "endpoint": "jaeger-collector:4317",
            "tls": {"insecure": true},
            "headers": {"x-tenant": "a", "x-num": 7},
            "compression": "zstd",
            "timeout": "10s",
            "balancer_name": "round_robin",
            "keepalive": {"time": "10s", "timeout": "5s", "permit_without_stream": true},
            "write_buffer_size": 524288,
            "read_buffer_size": 1024,
            "wait_for_ready": true,
            "retry_on_failure": {"enabled": true, "initial_interval": "1s"},
            "sending_queue": {"num_consumers": 2, "queue_size": 10},
        }))
        .unwrap();
        assert_eq!(config.headers["x-num"], "7");
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.retry_on_failure.initial_interval, Duration::from_secs(1));
        assert!(config.validate().is_ok());
        assert!(
            serde_json::from_value::<OtlpGrpcExporterConfig>(serde_json::json!({"endpoint": "x:1", "endpont": "y"}))
                .is_err()
        );
    }

    #[test]
    fn invalid_settings_fail_validation() {
        let with = |json: serde_json::Value| -> OtlpGrpcExporterConfig { serde_json::from_value(json).unwrap() };
        let cases = [
            (with(serde_json::json!({})), "endpoint"),
            (with(serde_json::json!({"endpoint": "x:1", "auth": {"authenticator": " "}})), "auth.authenticator"),
            (with(serde_json::json!({"endpoint": "x:1", "compression": "snappy"})), "compression"),
            (with(serde_json::json!({"endpoint": "x:1", "balancer_name": "ring"})), "balancer_name"),
            (with(serde_json::json!({"endpoint": "x:1", "headers": {"bad header": "v"}})), "headers"),
            (
                with(serde_json::json!({"endpoint": "x:1", "tls": {"ca_file": "/nonexistent/ca.pem"}})),
                "/nonexistent/ca.pem",
            ),
        ];
        for (config, needle) in cases {
            let err = config.validate().unwrap_err();
            assert!(err.0.contains(needle), "{needle}: {err}");
        }
        assert!(
            serde_json::from_value::<OtlpGrpcExporterConfig>(serde_json::json!({"compression": "brotli"})).is_err()
        );
    }

    #[test]
    fn construction_needs_no_runtime_and_no_network() {
        let config: OtlpGrpcExporterConfig =
            serde_json::from_value(serde_json::json!({"endpoint": "jaeger-collector:4317"})).unwrap();
        let exporter = OtlpGrpcExporter::new("otlp", &config).unwrap();
        assert!(exporter.tls.is_some(), "TLS is the default without insecure: true");
        assert_eq!(exporter.endpoint(), "jaeger-collector:4317");
    }

    #[test]
    fn auth_takes_the_configauth_key_only() {
        let config: OtlpGrpcExporterConfig = serde_json::from_value(
            serde_json::json!({"endpoint": "x:1", "auth": {"authenticator": "bearertokenauth/out"}}),
        )
        .unwrap();
        assert_eq!(config.auth, Some(AuthSettings { authenticator: "bearertokenauth/out".to_owned() }));
        assert!(config.validate().is_ok(), "the id is resolved by with_authenticators");
        let typo = serde_json::json!({"endpoint": "x:1", "auth": {"authenticatr": "bearertokenauth/out"}});
        assert!(serde_json::from_value::<OtlpGrpcExporterConfig>(typo).is_err());
    }

    #[test]
    fn auth_headers_replace_configured_ones() {
        let configured = BTreeMap::from([
            ("Authorization".to_owned(), "Bearer configured".to_owned()),
            ("x-tenant".to_owned(), "a".to_owned()),
        ]);
        let metadata = metadata(&configured).unwrap();
        let auth = vec![(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer from-auth"))];
        let merged = with_auth_headers(&metadata, auth);
        let values: Vec<_> = merged.get_all("authorization").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert_eq!(values, ["Bearer from-auth"]);
        assert_eq!(merged.get("x-tenant").unwrap(), "a");
        assert_eq!(with_auth_headers(&metadata, Vec::new()).get("authorization").unwrap(), "Bearer configured");
    }
}
