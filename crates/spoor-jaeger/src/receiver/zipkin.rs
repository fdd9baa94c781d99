//! The `zipkin` receiver: `POST /api/v2/spans` (JSON, protobuf) and `POST /api/v1/spans`
//! (JSON, Thrift) on 9411, gzip or deflate bodies accepted.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use spoor_pipeline::component::Validated;
use spoor_pipeline::otlp::ResourceSpans;
use spoor_pipeline::{Receiver, ReceiverObserver, ServerTasks, StartError, Telemetry, TraceBatch, TracesConsumer};
use tokio::sync::watch;

use super::config::ZipkinReceiverConfig;
use super::http::{Failure, media_type, read_body};
use crate::thrift::decode_zipkin_spans;
use crate::translate;

pub struct ZipkinReceiver {
    id: String,
    config: ZipkinReceiverConfig,
    telemetry: Telemetry,
    local_addr: Option<SocketAddr>,
    running: Option<ServerTasks>,
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

    /// A missing content type is JSON, as the collector assumes.
    fn of(v1: bool, media_type: Option<&str>) -> Option<Self> {
        match (v1, media_type) {
            (true, None | Some("application/json")) => Some(Self::V1Json),
            (true, Some("application/x-thrift")) => Some(Self::V1Thrift),
            (false, None | Some("application/json")) => Some(Self::V2Json),
            (false, Some("application/x-protobuf" | "application/protobuf")) => Some(Self::V2Proto),
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
    let body = read_body(request, state.body_limit, state.next.as_ref()).await?;
    let parse_string_tags = state.parse_string_tags;
    let resource_spans = body.decode(move |bytes| format.decode(bytes, parse_string_tags)).await?;
    state.observer(format).deliver(state.next.as_ref(), TraceBatch::new(resource_spans)).await.map_err(Failure::Consume)
}

impl ZipkinReceiver {
    /// Builds the receiver from a validated config; `id` (`zipkin`, `zipkin/2`) labels the
    /// self-metrics.
    pub fn new(id: impl Into<String>, config: Validated<ZipkinReceiverConfig>, telemetry: Telemetry) -> Self {
        Self { id: id.into(), config: config.into_inner(), telemetry, local_addr: None, running: None }
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
        let listener = spoor_pipeline::net::bind(&self.config.endpoint).await.map_err(|err| {
            StartError(format!("{}: endpoint {}: cannot listen: {err}", self.id, self.config.endpoint))
        })?;
        self.local_addr = listener.local_addr().ok();
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
            body_limit: self.config.body_limit(),
            parse_string_tags: self.config.parse_string_tags,
        };
        let router = axum::Router::new()
            .route("/api/v1/spans", axum::routing::post(post_v1))
            .route("/api/v2/spans", axum::routing::post(post_v2))
            .with_state(state)
            .layer(axum::extract::DefaultBodyLimit::disable());
        let (shutdown, mut watcher) = watch::channel(false);
        let id = self.id.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = watcher.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(receiver = %id, "zipkin HTTP server failed: {err}");
            }
        });
        self.running = Some(ServerTasks::new(shutdown, vec![task]));
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop(&self.id).await;
        }
    }
}
