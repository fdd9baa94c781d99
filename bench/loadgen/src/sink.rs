//! A minimal OTLP trace server that counts what it receives.
//!
//! gRPC: `TraceService/Export` through tonic with a codec that counts spans in place.
//! HTTP: `POST /v1/traces` (protobuf or JSON; gzip, deflate or zstd), `GET /count` returning
//! `{"spans":N,"requests":M}` and `POST /reset`, which returns the count and zeroes it.
//! Counts are added before the response is sent, so an acknowledged span is always counted.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io::Read;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::codec::CompressionEncoding;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;

use crate::codec::{self, EXPORT_PATH, SpanCount, SpanCountingCodec};

/// Largest request body accepted, compressed or not (collector batches can be tens of MiB).
const MAX_BODY_BYTES: usize = 256 << 20;
/// How long `Sink::stop` waits for open connections to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    /// Decode every request fully with prost instead of walking the framing.
    pub full_decode: bool,
}

/// Spans and requests received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkCount {
    pub spans: u64,
    pub requests: u64,
}

#[derive(Debug, Default)]
pub struct SinkCounters {
    spans: AtomicU64,
    requests: AtomicU64,
}

impl SinkCounters {
    fn add(&self, spans: u64) {
        self.spans.fetch_add(spans, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> SinkCount {
        SinkCount { spans: self.spans.load(Ordering::Relaxed), requests: self.requests.load(Ordering::Relaxed) }
    }

    pub fn reset(&self) -> SinkCount {
        SinkCount { spans: self.spans.swap(0, Ordering::Relaxed), requests: self.requests.swap(0, Ordering::Relaxed) }
    }
}

/// A running sink; dropping it without `stop` leaves its tasks running until the runtime ends.
pub struct Sink {
    pub grpc_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub counters: Arc<SinkCounters>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Sink {
    /// Binds the configured listeners (port 0 picks a free port) and starts serving.
    pub async fn start(config: SinkConfig) -> std::io::Result<Self> {
        let counters = Arc::new(SinkCounters::default());
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut grpc_addr = None;
        if let Some(addr) = config.grpc {
            let listener = TcpListener::bind(addr).await?;
            grpc_addr = Some(listener.local_addr()?);
            let service = GrpcSink { counters: Arc::clone(&counters), full_decode: config.full_decode };
            tasks.spawn(serve_grpc(listener, service, shutdown.subscribe()));
        }
        let mut http_addr = None;
        if let Some(addr) = config.http {
            let listener = TcpListener::bind(addr).await?;
            http_addr = Some(listener.local_addr()?);
            let state = Arc::new(HttpSink { counters: Arc::clone(&counters), full_decode: config.full_decode });
            tasks.spawn(serve_http(listener, state, shutdown.subscribe()));
        }
        Ok(Self { grpc_addr, http_addr, counters, shutdown, tasks })
    }

    pub fn count(&self) -> SinkCount {
        self.counters.get()
    }

    /// Stops accepting, closes open connections, and returns the final count.
    pub async fn stop(mut self) -> SinkCount {
        let _ = self.shutdown.send(true);
        let drained = async { while self.tasks.join_next().await.is_some() {} };
        // gRPC shutdown waits for open streams; a client that never finishes must not hang us.
        if tokio::time::timeout(STOP_TIMEOUT, drained).await.is_err() {
            self.tasks.shutdown().await;
        }
        self.counters.get()
    }
}

async fn wait_for_shutdown(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn serve_grpc(listener: TcpListener, service: GrpcSink, shutdown: watch::Receiver<bool>) {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, wait_for_shutdown(shutdown))
        .await;
    if let Err(error) = result {
        eprintln!("sink: grpc server failed: {error}");
    }
}

/// `TraceService` with the span-counting codec, so requests are never fully decoded.
#[derive(Clone)]
struct GrpcSink {
    counters: Arc<SinkCounters>,
    full_decode: bool,
}

impl NamedService for GrpcSink {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<Request<tonic::body::Body>> for GrpcSink {
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(ready(Ok(tonic::Status::unimplemented("only TraceService/Export is served").into_http())));
        }
        let codec = SpanCountingCodec { full_decode: self.full_decode };
        let mut grpc = tonic::server::Grpc::new(codec)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(MAX_BODY_BYTES);
        let handler = ExportHandler { counters: Arc::clone(&self.counters) };
        Box::pin(async move { Ok(grpc.unary(handler, request).await) })
    }
}

struct ExportHandler {
    counters: Arc<SinkCounters>,
}

impl UnaryService<SpanCount> for ExportHandler {
    type Response = ExportTraceServiceResponse;
    type Future = Ready<Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<SpanCount>) -> Self::Future {
        self.counters.add(request.get_ref().0);
        ready(Ok(tonic::Response::new(ExportTraceServiceResponse::default())))
    }
}

struct HttpSink {
    counters: Arc<SinkCounters>,
    full_decode: bool,
}

async fn serve_http(listener: TcpListener, state: Arc<HttpSink>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Ok((stream, _)) = accepted else {
            // Accept fails on fd exhaustion and the like; the next one may work.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = service_fn(move |request| handle_http(Arc::clone(&state), request));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections so the set does not grow for the life of the sink.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle_http(state: Arc<HttpSink>, request: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/traces") => export_http(&state, request).await,
        (&Method::GET, "/count") => json_response(&state.counters.get()),
        (&Method::POST, "/reset") => json_response(&state.counters.reset()),
        _ => text_response(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Protobuf,
    Json,
}

async fn export_http(state: &HttpSink, request: Request<Incoming>) -> HttpResponse {
    let format = match header(&request, CONTENT_TYPE) {
        "" | "application/x-protobuf" | "application/protobuf" => BodyFormat::Protobuf,
        "application/json" => BodyFormat::Json,
        other => {
            let message = format!("unsupported content-type '{other}'");
            return text_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
        }
    };
    let encoding = header(&request, CONTENT_ENCODING).to_owned();
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return text_response(StatusCode::BAD_REQUEST, &format!("cannot read body: {error}"));
        }
    };
    let body = match decompress(&encoding, body) {
        Ok(body) => body,
        Err(message) => return text_response(StatusCode::BAD_REQUEST, &message),
    };
    let spans = match format {
        BodyFormat::Protobuf => codec::count_spans(&body, state.full_decode),
        BodyFormat::Json => count_json_spans(&body),
    };
    match spans {
        Ok(spans) => {
            state.counters.add(spans);
            match format {
                BodyFormat::Protobuf => {
                    Response::builder().header(CONTENT_TYPE, "application/x-protobuf").body(Full::new(Bytes::new()))
                }
                BodyFormat::Json => Response::builder()
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from_static(b"{}"))),
            }
            .unwrap_or_else(|_| text_response(StatusCode::INTERNAL_SERVER_ERROR, "response"))
        }
        Err(message) => text_response(StatusCode::BAD_REQUEST, &message),
    }
}

fn header<B>(request: &Request<B>, name: http::HeaderName) -> &str {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or("")
        .trim()
}

fn decompress(encoding: &str, body: Bytes) -> Result<Bytes, String> {
    let mut out = Vec::new();
    let limit = MAX_BODY_BYTES as u64 + 1;
    let result = match encoding {
        "" | "identity" => return Ok(body),
        "gzip" => flate2::read::GzDecoder::new(&body[..]).take(limit).read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(&body[..]).take(limit).read_to_end(&mut out),
        "zstd" => {
            zstd::stream::read::Decoder::new(&body[..]).and_then(|decoder| decoder.take(limit).read_to_end(&mut out))
        }
        other => return Err(format!("unsupported content-encoding '{other}'")),
    };
    result.map_err(|error| format!("cannot decompress {encoding} body: {error}"))?;
    if out.len() > MAX_BODY_BYTES {
        return Err("decompressed body is too large".into());
    }
    Ok(Bytes::from(out))
}

fn count_json_spans(body: &[u8]) -> Result<u64, String> {
    let request: ExportTraceServiceRequest =
        serde_json::from_slice(body).map_err(|error| format!("invalid OTLP JSON: {error}"))?;
    Ok(request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len() as u64).sum())
}

fn json_response(count: &SinkCount) -> HttpResponse {
    let body = serde_json::to_vec(count).unwrap_or_default();
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| text_response(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

fn text_response(status: StatusCode, message: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response
}
