//! Senders: one request per call over gRPC (tonic), HTTP/1.1 (hyper) or UDP (one datagram),
//! reporting how it ended. gRPC carries OTLP `Export` or Jaeger `PostSpans`; HTTP carries OTLP,
//! Jaeger Thrift or Zipkin v2 bodies; UDP carries Jaeger agent `emitBatch` datagrams.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST};
use http::uri::PathAndQuery;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use spoor_jaeger::proto::api_v2::PostSpansResponse;
use tokio::net::{TcpStream, UdpSocket};
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

use crate::codec::{EXPORT_PATH, POST_SPANS_PATH, RawRequestCodec};

/// How one export ended, as the report groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusKey {
    Http(u16),
    Grpc(i32),
    Timeout,
    ConnectError,
    TransportError,
    /// A datagram handed to the kernel; UDP has no answer.
    Sent,
    /// A datagram the kernel would not send (e.g. refused by an ICMP error).
    SendError,
}

impl fmt::Display for StatusKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusKey::Http(code) => write!(f, "{code}"),
            StatusKey::Grpc(code) => f.write_str(grpc_code_name(*code)),
            StatusKey::Timeout => f.write_str("timeout"),
            StatusKey::ConnectError => f.write_str("connect_error"),
            StatusKey::TransportError => f.write_str("transport_error"),
            StatusKey::Sent => f.write_str("sent"),
            StatusKey::SendError => f.write_str("send_error"),
        }
    }
}

/// Canonical gRPC status names, as grpc-go and the collector print them.
fn grpc_code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("UNKNOWN_CODE")
}

/// The result of one export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub key: StatusKey,
    pub ok: bool,
    /// `partial_success.rejected_spans` of a successful response.
    pub rejected_spans: u64,
}

impl Outcome {
    fn ok(key: StatusKey, response: Option<&ExportTraceServiceResponse>) -> Self {
        let rejected_spans = response
            .and_then(|r| r.partial_success.as_ref())
            .map(|p| u64::try_from(p.rejected_spans).unwrap_or(0))
            .unwrap_or(0);
        Self { key, ok: true, rejected_spans }
    }

    fn failed(key: StatusKey) -> Self {
        Self { key, ok: false, rejected_spans: 0 }
    }

    /// Whether the server refused the request for lack of room (gRPC `UNAVAILABLE` or
    /// `RESOURCE_EXHAUSTED`, HTTP 429 or 503): a client should back off before sending again.
    pub fn is_refusal(&self) -> bool {
        matches!(self.key, StatusKey::Grpc(8 | 14) | StatusKey::Http(429 | 503))
    }

    /// Whether the connection itself failed, so a retry right away would spin.
    pub fn is_connection_failure(&self) -> bool {
        matches!(self.key, StatusKey::ConnectError | StatusKey::TransportError | StatusKey::SendError)
    }
}

/// Sends one request per call on its protocol.
pub enum Sender {
    Grpc(GrpcSender),
    Http(HttpSender),
    Udp(UdpSender),
}

impl Sender {
    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match self {
            Sender::Grpc(sender) => sender.send(body).await,
            Sender::Http(sender) => sender.send(body).await,
            Sender::Udp(sender) => sender.send(body).await,
        }
    }
}

/// Accepts `host:port` as well as `http://host:port`; refuses TLS, which the tool does not do.
fn parse_http_uri(endpoint: &str) -> anyhow::Result<Uri> {
    let with_scheme = if endpoint.contains("://") { endpoint.to_owned() } else { format!("http://{endpoint}") };
    let uri: Uri = with_scheme.parse().with_context(|| format!("invalid endpoint '{endpoint}'"))?;
    if uri.scheme_str() != Some("http") {
        bail!("endpoint '{endpoint}': only plain http:// is supported");
    }
    if uri.authority().is_none() {
        bail!("endpoint '{endpoint}' has no host");
    }
    Ok(uri)
}

/// An `http://` base URL, with the `host:port` to connect to and the Host header to send.
pub(crate) struct HttpBase {
    pub uri: Uri,
    pub connect_to: String,
    pub host: String,
}

impl HttpBase {
    pub(crate) fn parse(endpoint: &str) -> anyhow::Result<Self> {
        let uri = parse_http_uri(endpoint)?;
        let authority = uri.authority().context("endpoint has no host")?.clone();
        let port = authority.port_u16().unwrap_or(80);
        Ok(Self { connect_to: format!("{}:{port}", authority.host()), host: authority.to_string(), uri })
    }
}

/// Opens `count` HTTP/2 channels to a gRPC endpoint, failing if the server cannot be reached.
pub async fn connect_grpc_channels(
    endpoint: &str,
    count: usize,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Channel>> {
    // With a CA file the endpoint may say https://; the connection is TLS either way.
    let plain = parse_http_uri(endpoint.strip_prefix("https://").filter(|_| ca_file.is_some()).unwrap_or(endpoint))?;
    let host = plain.host().unwrap_or("localhost").to_owned();
    let mut endpoint = Endpoint::from(plain.clone());
    if let Some(ca_file) = ca_file {
        let authority = plain.authority().context("endpoint has no host")?.clone();
        let uri = Uri::builder().scheme("https").authority(authority).path_and_query("/").build()?;
        endpoint = Endpoint::from(uri);
        let pem = std::fs::read(ca_file).with_context(|| format!("cannot read {}", ca_file.display()))?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem))
            .domain_name(host);
        endpoint = endpoint.tls_config(tls)?;
    }
    let endpoint = endpoint
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20));
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        let channel = endpoint.connect().await.with_context(|| format!("cannot connect to {}", endpoint.uri()))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Which gRPC method a [`GrpcSender`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcMethod {
    /// OTLP `TraceService/Export`.
    OtlpExport,
    /// Jaeger api_v2 `CollectorService/PostSpans`.
    JaegerPostSpans,
}

/// gRPC sender on a shared channel; sends the pre-encoded request bytes as they are.
#[derive(Clone)]
pub struct GrpcSender {
    grpc: tonic::client::Grpc<Channel>,
    method: GrpcMethod,
    max_body_len: usize,
    timeout: Duration,
    authorization: Option<tonic::metadata::AsciiMetadataValue>,
}

impl GrpcSender {
    /// `max_body_len` sizes the frame buffer so that it is not grown while copying a body.
    pub fn new(channel: Channel, method: GrpcMethod, gzip: bool, timeout: Duration, max_body_len: usize) -> Self {
        let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(16 << 20);
        if gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        Self { grpc, method, max_body_len, timeout, authorization: None }
    }

    /// Sends this `authorization` metadata with every call.
    pub fn with_authorization(mut self, authorization: Option<tonic::metadata::AsciiMetadataValue>) -> Self {
        self.authorization = authorization;
        self
    }

    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match tokio::time::timeout(self.timeout, self.export(body)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::failed(StatusKey::Timeout),
        }
    }

    async fn export(&mut self, body: Bytes) -> Outcome {
        if self.grpc.ready().await.is_err() {
            return Outcome::failed(StatusKey::TransportError);
        }
        let mut request = tonic::Request::new(body);
        // Tell the server our deadline, as OTel exporters do.
        request.set_timeout(self.timeout);
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        let result = match self.method {
            GrpcMethod::OtlpExport => {
                let path = PathAndQuery::from_static(EXPORT_PATH);
                let codec = RawRequestCodec::<ExportTraceServiceResponse>::new(self.max_body_len);
                self.grpc.unary(request, path, codec).await.map(|response| Some(response.into_inner()))
            }
            GrpcMethod::JaegerPostSpans => {
                let path = PathAndQuery::from_static(POST_SPANS_PATH);
                let codec = RawRequestCodec::<PostSpansResponse>::new(self.max_body_len);
                self.grpc.unary(request, path, codec).await.map(|_| None)
            }
        };
        match result {
            Ok(response) => Outcome::ok(StatusKey::Grpc(0), response.as_ref()),
            // A status with a source was made by the client from a connection error; one
            // from the server has none.
            Err(status) if std::error::Error::source(&status).is_some() => Outcome::failed(StatusKey::TransportError),
            Err(status) => Outcome::failed(StatusKey::Grpc(status.code() as i32)),
        }
    }
}

/// What an HTTP sender posts, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpApi {
    /// OTLP/HTTP protobuf, `POST /v1/traces`.
    Otlp,
    /// A binary Thrift Jaeger `Batch`, `POST /api/traces` (the collector's port 14268).
    JaegerThrift,
    /// Zipkin v2 JSON, `POST /api/v2/spans`.
    ZipkinJson,
    /// Zipkin v2 protobuf, `POST /api/v2/spans`.
    ZipkinProto,
    /// Zipkin v1 JSON, `POST /api/v1/spans`.
    ZipkinV1Json,
    /// Zipkin v1 Thrift, `POST /api/v1/spans`.
    ZipkinV1Thrift,
}

impl HttpApi {
    pub fn path(self) -> &'static str {
        match self {
            HttpApi::Otlp => "/v1/traces",
            HttpApi::JaegerThrift => "/api/traces",
            HttpApi::ZipkinJson | HttpApi::ZipkinProto => "/api/v2/spans",
            HttpApi::ZipkinV1Json | HttpApi::ZipkinV1Thrift => "/api/v1/spans",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            HttpApi::Otlp | HttpApi::ZipkinProto => "application/x-protobuf",
            HttpApi::JaegerThrift | HttpApi::ZipkinV1Thrift => "application/x-thrift",
            HttpApi::ZipkinJson | HttpApi::ZipkinV1Json => "application/json",
        }
    }
}

/// Where HTTP requests go.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// `host:port` to connect to.
    authority: String,
    /// Host header value.
    host: String,
    uri: Uri,
    api: HttpApi,
    gzip: bool,
}

impl HttpTarget {
    /// `endpoint` is the base URL; the API's path (`/v1/traces`, `/api/traces`,
    /// `/api/v2/spans`) is appended unless it is already there.
    pub fn parse(endpoint: &str, api: HttpApi, gzip: bool) -> anyhow::Result<Self> {
        let base = HttpBase::parse(endpoint)?;
        let base_path = base.uri.path().trim_end_matches('/');
        let path =
            if base_path.ends_with(api.path()) { base_path.to_owned() } else { format!("{base_path}{}", api.path()) };
        let uri = Uri::builder()
            .scheme("http")
            .authority(base.host.as_str())
            .path_and_query(path)
            .build()
            .context("cannot build the request URI")?;
        Ok(Self { authority: base.connect_to, host: base.host, uri, api, gzip })
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    fn request(&self, body: Bytes) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(HOST, self.host.as_str())
            .header(CONTENT_TYPE, self.api.content_type());
        if self.gzip {
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        builder.body(Full::new(body))
    }
}

/// HTTP sender with its own HTTP/1.1 connection, reopened after errors.
pub struct HttpSender {
    target: HttpTarget,
    connection: HttpConnection,
}

impl HttpSender {
    /// Connects right away so that an unreachable endpoint fails the run at start.
    pub async fn connect(target: HttpTarget, timeout: Duration) -> anyhow::Result<Self> {
        let connection = HttpConnection::open(&target.authority, timeout).await?;
        Ok(Self { target, connection })
    }

    pub async fn send(&mut self, body: Bytes) -> Outcome {
        let Ok(request) = self.target.request(body) else {
            return Outcome::failed(StatusKey::TransportError);
        };
        match self.connection.exchange(request).await {
            Err(key) => Outcome::failed(key),
            Ok((status, _)) if !status.is_success() => Outcome::failed(StatusKey::Http(status.as_u16())),
            Ok((status, body)) => {
                // Only OTLP answers with a body that can report rejected spans.
                let response =
                    (self.target.api == HttpApi::Otlp).then(|| ExportTraceServiceResponse::decode(body).ok()).flatten();
                Outcome::ok(StatusKey::Http(status.as_u16()), response.as_ref())
            }
        }
    }
}

/// One HTTP/1.1 connection for one request at a time, opened again after a timeout or a
/// transport error.
pub struct HttpConnection {
    /// `host:port` to connect to.
    authority: String,
    timeout: Duration,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl HttpConnection {
    /// Connects right away so that an unreachable endpoint fails the run at start.
    pub async fn open(authority: &str, timeout: Duration) -> anyhow::Result<Self> {
        let connection = open_connection(authority).await.with_context(|| format!("cannot connect to {authority}"))?;
        Ok(Self { authority: authority.to_owned(), timeout, connection: Some(connection) })
    }

    /// Sends `request` and reads the whole answer (even an error's, so that the connection can
    /// be reused), within the timeout.
    pub async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), StatusKey> {
        match tokio::time::timeout(self.timeout, self.exchange_on_connection(request)).await {
            Ok(result) => result,
            Err(_) => {
                // The connection still has a request in flight; start over on a new one.
                self.connection = None;
                Err(StatusKey::Timeout)
            }
        }
    }

    async fn exchange_on_connection(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), StatusKey> {
        if self.connection.as_ref().is_none_or(|c| c.is_closed()) {
            self.connection = Some(open_connection(&self.authority).await.map_err(|_| StatusKey::ConnectError)?);
        }
        let connection = self.connection.as_mut().ok_or(StatusKey::ConnectError)?;
        let result = exchange(connection, request).await;
        if result.is_err() {
            self.connection = None;
        }
        result
    }
}

async fn exchange(
    connection: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), StatusKey> {
    connection.ready().await.map_err(|_| StatusKey::TransportError)?;
    let response = connection.send_request(request).await.map_err(|_| StatusKey::TransportError)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|_| StatusKey::TransportError)?;
    Ok((status, body.to_bytes()))
}

async fn open_connection(authority: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Drives the connection; it ends when the sender is dropped or the peer closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Parses a UDP endpoint: `host:port`, optionally with a `udp://` prefix.
pub async fn resolve_udp(endpoint: &str) -> anyhow::Result<SocketAddr> {
    let target = endpoint.strip_prefix("udp://").unwrap_or(endpoint).trim_end_matches('/');
    if target.contains("://") {
        bail!("endpoint '{endpoint}': a UDP endpoint is host:port or udp://host:port");
    }
    tokio::net::lookup_host(target)
        .await
        .with_context(|| format!("invalid UDP endpoint '{endpoint}'"))?
        .next()
        .with_context(|| format!("UDP endpoint '{endpoint}' resolves to no address"))
}

/// Agent sender: one datagram per call on its own connected UDP socket. Nothing answers, so
/// `ok` means the kernel took the datagram; what the server accepted comes from its metrics.
pub struct UdpSender {
    socket: UdpSocket,
    timeout: Duration,
}

impl UdpSender {
    pub async fn connect(target: SocketAddr, timeout: Duration) -> anyhow::Result<Self> {
        // Bound to loopback when the target is, so that the socket is not reachable from outside.
        let local: SocketAddr = match (target.is_ipv4(), target.ip().is_loopback()) {
            (true, true) => ([127, 0, 0, 1], 0).into(),
            (true, false) => ([0, 0, 0, 0], 0).into(),
            (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
            (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await.context("cannot open a UDP socket")?;
        socket.connect(target).await.with_context(|| format!("cannot connect a UDP socket to {target}"))?;
        Ok(Self { socket, timeout })
    }

    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match tokio::time::timeout(self.timeout, self.socket.send(&body)).await {
            Ok(Ok(_)) => Outcome { key: StatusKey::Sent, ok: true, rejected_spans: 0 },
            Ok(Err(_)) => Outcome::failed(StatusKey::SendError),
            Err(_) => Outcome::failed(StatusKey::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_target_appends_the_traces_path() {
        let target = HttpTarget::parse("http://127.0.0.1:4318", HttpApi::Otlp, false).unwrap();
        assert_eq!(target.uri().to_string(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(target.authority, "127.0.0.1:4318");
        let target = HttpTarget::parse("127.0.0.1:4318/v1/traces", HttpApi::Otlp, false).unwrap();
        assert_eq!(target.uri().to_string(), "http://127.0.0.1:4318/v1/traces");
        let target = HttpTarget::parse("http://localhost:9/otlp/", HttpApi::Otlp, false).unwrap();
        assert_eq!(target.uri().to_string(), "http://localhost:9/otlp/v1/traces");
    }

    #[test]
    fn http_target_appends_the_jaeger_and_zipkin_paths() {
        let target = HttpTarget::parse("http://127.0.0.1:14268", HttpApi::JaegerThrift, false).unwrap();
        assert_eq!(target.uri().to_string(), "http://127.0.0.1:14268/api/traces");
        let target = HttpTarget::parse("127.0.0.1:9411/api/v2/spans", HttpApi::ZipkinJson, false).unwrap();
        assert_eq!(target.uri().to_string(), "http://127.0.0.1:9411/api/v2/spans");
        assert_eq!(HttpApi::ZipkinProto.content_type(), "application/x-protobuf");
        assert_eq!(HttpApi::JaegerThrift.content_type(), "application/x-thrift");
    }

    #[test]
    fn tls_endpoints_are_refused() {
        assert!(HttpTarget::parse("https://127.0.0.1:4318", HttpApi::Otlp, false).is_err());
    }

    #[tokio::test]
    async fn udp_endpoints_parse_with_or_without_a_scheme() {
        assert_eq!(resolve_udp("127.0.0.1:6831").await.unwrap(), "127.0.0.1:6831".parse().unwrap());
        assert_eq!(resolve_udp("udp://127.0.0.1:6832").await.unwrap(), "127.0.0.1:6832".parse().unwrap());
        assert!(resolve_udp("http://127.0.0.1:6831").await.is_err());
    }

    #[test]
    fn status_keys_print_like_the_collector() {
        assert_eq!(StatusKey::Grpc(14).to_string(), "UNAVAILABLE");
        assert_eq!(StatusKey::Grpc(0).to_string(), "OK");
        assert_eq!(StatusKey::Http(503).to_string(), "503");
    }
}
