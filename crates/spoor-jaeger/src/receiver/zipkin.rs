//! The `zipkin` receiver: `POST /api/v2/spans` (JSON, protobuf) and `POST /api/v1/spans`
//! (JSON, Thrift) on 9411, compressed bodies accepted as `compression_algorithms` says. A body
//! must say what it is: without a known Zipkin Content-Type it gets 415, so that a web page
//! cannot post spans with a no-cors request (which can send only text/plain and form types).

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use spoor_net::auth::Authenticators;
use spoor_net::{Listener, RequestMetadata, Server};
use spoor_pipeline::component::Validated;
use spoor_pipeline::otlp::ResourceSpans;
use spoor_pipeline::{ClientMetadata, Receiver, ReceiverObserver, StartError, Telemetry, TraceBatch, TracesConsumer};

use super::config::{DEFAULT_ZIPKIN_ENDPOINT, ZipkinReceiverConfig};
use super::http::{AcceptedEncodings, Failure, media_type, read_body};
use crate::thrift::decode_zipkin_spans;
use crate::translate;

pub struct ZipkinReceiver {
    id: String,
    config: ZipkinReceiverConfig,
    telemetry: Telemetry,
    authenticators: Authenticators,
    local_addr: Option<SocketAddr>,
    running: Option<Server>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V1Json,
    V1Thrift,
    V2Json,
    V2Proto,
}

impl Format {
    /// The collector's transport labels.
    fn transport(self) -> &'static str {
        match self {
            Self::V1Json => "http_v1_json",
            Self::V1Thrift => "http_v1_thrift",
            Self::V2Json => "http_v2_json",
            Self::V2Proto => "http_v2_proto",
        }
    }

    /// Unlike the collector, a missing content type is not read as JSON (see the module doc).
    fn of(v1: bool, media_type: Option<&str>) -> Option<Self> {
        match (v1, media_type?) {
            (true, "application/json") => Some(Self::V1Json),
            (true, "application/x-thrift") => Some(Self::V1Thrift),
            (false, "application/json") => Some(Self::V2Json),
            (false, "application/x-protobuf" | "application/protobuf") => Some(Self::V2Proto),
            _ => None,
        }
    }

    fn decode(self, body: &[u8], parse_string_tags: bool) -> Result<Vec<ResourceSpans>, String> {
        match self {
            Self::V1Json => translate::v1_json_to_otlp(body, parse_string_tags).map_err(|e| e.to_string()),
            Self::V1Thrift => {
                decode_zipkin_spans(body).map(translate::v1_thrift_to_otlp).map_err(|e| format!("zipkin v1 {e}"))
            }
            Self::V2Json => translate::decode_v2_json(body)
                .and_then(|spans| translate::v2_to_otlp(spans, parse_string_tags))
                .map_err(|e| e.to_string()),
            Self::V2Proto => translate::decode_v2_proto(body)
                .and_then(|spans| translate::v2_to_otlp(spans, parse_string_tags))
                .map_err(|e| e.to_string()),
        }
    }
}

#[derive(Clone)]
struct ZipkinState {
    next: Arc<dyn TracesConsumer>,
    observers: Arc<[ReceiverObserver; 4]>,
    body_limit: usize,
    encodings: AcceptedEncodings,
    parse_string_tags: bool,
}

impl ZipkinState {
    fn observer(&self, format: Format) -> &ReceiverObserver {
        &self.observers[format as usize]
    }
}

async fn post_v1(State(state): State<ZipkinState>, request: Request<Body>) -> Response {
    respond(receive(&state, true, request).await)
}

async fn post_v2(State(state): State<ZipkinState>, request: Request<Body>) -> Response {
    respond(receive(&state, false, request).await)
}

fn respond(result: Result<(), Failure>) -> Response {
    match result {
        // Zipkin's API answers 202 with an empty body.
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn receive(state: &ZipkinState, v1: bool, request: Request<Body>) -> Result<(), Failure> {
    let media_type = media_type(request.headers());
    let Some(format) = Format::of(v1, media_type.as_deref()) else {
        let supported =
            if v1 { "application/json, application/x-thrift" } else { "application/json, application/x-protobuf" };
        return Err(Failure::UnsupportedMediaType(format!(
            "unsupported content type {:?}, supported: {supported}",
            media_type.unwrap_or_default()
        )));
    };
    let metadata = request.extensions().get::<RequestMetadata>().map(ClientMetadata::from_request).unwrap_or_default();
    let body = read_body(request, state.body_limit, &state.encodings, state.next.as_ref()).await?;
    let parse_string_tags = state.parse_string_tags;
    let resource_spans = body.decode(move |bytes| format.decode(bytes, parse_string_tags)).await?;
    let batch = TraceBatch::new(resource_spans).with_metadata(metadata);
    state.observer(format).deliver(state.next.as_ref(), batch).await.map_err(Failure::Consume)
}

impl ZipkinReceiver {
    /// Builds the receiver from a validated config; `id` (`zipkin`, `zipkin/2`) labels the
    /// self-metrics.
    pub fn new(id: impl Into<String>, config: Validated<ZipkinReceiverConfig>, telemetry: Telemetry) -> Self {
        Self {
            id: id.into(),
            config: config.into_inner(),
            telemetry,
            authenticators: Authenticators::default(),
            local_addr: None,
            running: None,
        }
    }

    /// The authenticator extensions that `auth.authenticator` may name.
    pub fn with_authenticators(mut self, authenticators: Authenticators) -> Self {
        self.authenticators = authenticators;
        self
    }

    pub fn config(&self) -> &ZipkinReceiverConfig {
        &self.config
    }

    /// The address the receiver listens on, known after `start`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }
}

#[async_trait]
impl Receiver for ZipkinReceiver {
    async fn start(&mut self, next: Arc<dyn TracesConsumer>) -> Result<(), StartError> {
        if self.running.is_some() {
            return Err(StartError(format!("{}: already started", self.id)));
        }
        let server = &self.config.server;
        let encodings = AcceptedEncodings::new(server.compression_algorithms.as_deref())
            .map_err(|message| StartError(format!("{}: {message}", self.id)))?;
        let listener = Listener::http(server, DEFAULT_ZIPKIN_ENDPOINT, &self.authenticators)
            .await
            .map_err(|err| StartError(format!("{}: {err}", self.id)))?;
        self.local_addr = Some(listener.local_addr());
        tracing::info!(receiver = %self.id, endpoint = ?self.local_addr, "starting Zipkin HTTP server");
        let observer = |format: Format| ReceiverObserver::new(&self.telemetry, &self.id, format.transport());
        let state = ZipkinState {
            next,
            observers: Arc::new([
                observer(Format::V1Json),
                observer(Format::V1Thrift),
                observer(Format::V2Json),
                observer(Format::V2Proto),
            ]),
            body_limit: server.body_limit(),
            encodings,
            parse_string_tags: self.config.parse_string_tags,
        };
        let router = axum::Router::new()
            .route("/api/v1/spans", axum::routing::post(post_v1))
            .route("/api/v2/spans", axum::routing::post(post_v2))
            .with_state(state)
            .layer(axum::extract::DefaultBodyLimit::disable());
        self.running = Some(listener.serve("zipkin", router));
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(mut server) = self.running.take() {
            server.shutdown().await;
        }
    }
}
