//! The `jaeger` receiver: gRPC `PostSpans`, Thrift over HTTP and the agent's UDP ports.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use spoor_pipeline::component::Validated;
use spoor_pipeline::{Receiver, ReceiverObserver, ServerTasks, StartError, Telemetry, TraceBatch, TracesConsumer};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::{JaegerReceiverConfig, UdpServerSettings};
use super::http::{Failure, media_type, read_body};
use super::{grpc, udp};
use crate::sampling::{self, StrategyProvider};
use crate::thrift::{Protocol, decode_batch};
use crate::translate;

/// The collector's transport labels.
const TRANSPORT_GRPC: &str = "grpc";
const TRANSPORT_HTTP: &str = "collector_http";
const TRANSPORT_COMPACT: &str = "udp_thrift_compact";
const TRANSPORT_BINARY: &str = "udp_thrift_binary";
const THRIFT_CONTENT_TYPES: [&str; 2] = ["application/x-thrift", "application/vnd.apache.thrift.binary"];

/// Where the receiver listens, known after `start` (useful with port 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JaegerLocalAddrs {
    pub grpc: Option<SocketAddr>,
    pub thrift_http: Option<SocketAddr>,
    pub thrift_compact: Option<SocketAddr>,
    pub thrift_binary: Option<SocketAddr>,
}

pub struct JaegerReceiver {
    id: String,
    config: JaegerReceiverConfig,
    telemetry: Telemetry,
    sampling: Option<StrategyProvider>,
    local_addrs: JaegerLocalAddrs,
    running: Option<ServerTasks>,
}

struct Bound {
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
    compact: Option<UdpSocket>,
    binary: Option<UdpSocket>,
}

impl JaegerReceiver {
    /// Builds the receiver from a validated config; `id` (`jaeger`, `jaeger/2`) labels the
    /// self-metrics.
    pub fn new(id: impl Into<String>, config: Validated<JaegerReceiverConfig>, telemetry: Telemetry) -> Self {
        Self {
            id: id.into(),
            config: config.into_inner(),
            telemetry,
            sampling: None,
            local_addrs: JaegerLocalAddrs::default(),
            running: None,
        }
    }

    /// Serves these strategies at `/api/sampling` on the Thrift HTTP port, as Jaeger's
    /// collector does when remote sampling is configured. Call before `start`.
    pub fn with_sampling(mut self, provider: StrategyProvider) -> Self {
        self.sampling = Some(provider);
        self
    }

    pub fn set_sampling(&mut self, provider: StrategyProvider) {
        self.sampling = Some(provider);
    }

    pub fn config(&self) -> &JaegerReceiverConfig {
        &self.config
    }

    pub fn local_addrs(&self) -> JaegerLocalAddrs {
        self.local_addrs
    }

    fn fail(&self, transport: &str, endpoint: &str, err: impl std::fmt::Display) -> StartError {
        StartError(format!("{}: {transport} endpoint {endpoint}: cannot listen: {err}", self.id))
    }

    /// Binds everything before serving anything, so that a failure leaves nothing running.
    async fn bind(&self) -> Result<Bound, StartError> {
        let p = &self.config.protocols;
        let mut bound = Bound { grpc: None, http: None, compact: None, binary: None };
        if let Some(grpc) = &p.grpc {
            let listener = spoor_pipeline::net::bind(&grpc.endpoint)
                .await
                .map_err(|err| self.fail("grpc", &grpc.endpoint, err))?;
            bound.grpc = Some(listener);
        }
        if let Some(http) = &p.thrift_http {
            let listener = spoor_pipeline::net::bind(&http.endpoint)
                .await
                .map_err(|err| self.fail("thrift_http", &http.endpoint, err))?;
            bound.http = Some(listener);
        }
        if let Some(compact) = &p.thrift_compact {
            let settings = UdpServerSettings::from(compact);
            let socket =
                udp::bind(&settings).await.map_err(|err| self.fail("thrift_compact", &settings.endpoint, err))?;
            bound.compact = Some(socket);
        }
        if let Some(binary) = &p.thrift_binary {
            let settings = UdpServerSettings::from(binary);
            let socket =
                udp::bind(&settings).await.map_err(|err| self.fail("thrift_binary", &settings.endpoint, err))?;
            bound.binary = Some(socket);
        }
        Ok(bound)
    }
}

#[derive(Clone)]
struct HttpState {
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
    body_limit: usize,
}

async fn post_traces(State(state): State<HttpState>, request: Request<Body>) -> Response {
    match receive_thrift(&state, request).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn receive_thrift(state: &HttpState, request: Request<Body>) -> Result<(), Failure> {
    let media_type = media_type(request.headers()).unwrap_or_default();
    if !THRIFT_CONTENT_TYPES.contains(&media_type.as_str()) {
        return Err(Failure::UnsupportedMediaType(format!("Unsupported content type: {media_type}")));
    }
    let body = read_body(request, state.body_limit, state.next.as_ref()).await?;
    let resource_spans = body
        .decode(|bytes| {
            decode_batch(bytes)
                .map(translate::thrift_to_otlp)
                .map_err(|err| format!("Unable to process request body: {err}"))
        })
        .await?;
    state.observer.deliver(state.next.as_ref(), TraceBatch::new(resource_spans)).await.map_err(Failure::Consume)
}

fn spawn_logged<F>(id: &str, what: &'static str, future: F) -> JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let id = id.to_owned();
    tokio::spawn(async move {
        if let Err(err) = future.await {
            tracing::error!(receiver = %id, "{what} failed: {err}");
        }
    })
}

#[async_trait]
impl Receiver for JaegerReceiver {
    async fn start(&mut self, next: Arc<dyn TracesConsumer>) -> Result<(), StartError> {
        if self.running.is_some() {
            return Err(StartError(format!("{}: already started", self.id)));
        }
        let bound = self.bind().await?;
        let protocols = self.config.protocols.clone();
        let (shutdown, watcher) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut addrs = JaegerLocalAddrs::default();
        let observer = |transport: &str| ReceiverObserver::new(&self.telemetry, &self.id, transport);

        if let (Some(listener), Some(config)) = (bound.grpc, protocols.grpc) {
            addrs.grpc = listener.local_addr().ok();
            tracing::info!(receiver = %self.id, endpoint = ?addrs.grpc, "starting gRPC server for Jaeger collector");
            let (next, observer, watcher) = (next.clone(), observer(TRANSPORT_GRPC), watcher.clone());
            tasks.push(spawn_logged(&self.id, "gRPC server", async move {
                grpc::serve(listener, &config, next, observer, watcher).await.map_err(|err| err.to_string())
            }));
        }
        if let (Some(listener), Some(config)) = (bound.http, protocols.thrift_http) {
            addrs.thrift_http = listener.local_addr().ok();
            tracing::info!(receiver = %self.id, endpoint = ?addrs.thrift_http, "starting HTTP server for Jaeger collector");
            let state =
                HttpState { next: next.clone(), observer: observer(TRANSPORT_HTTP), body_limit: config.body_limit() };
            let mut router = axum::Router::new()
                .route("/api/traces", axum::routing::post(post_traces))
                .with_state(state)
                // The limit is enforced while reading; lift axum's own 2 MB default.
                .layer(axum::extract::DefaultBodyLimit::disable());
            if let Some(provider) = &self.sampling {
                router = router.merge(sampling::collector_routes(provider.clone()));
            }
            let mut watcher = watcher.clone();
            tasks.push(spawn_logged(&self.id, "HTTP server", async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = watcher.wait_for(|stop| *stop).await;
                    })
                    .await
                    .map_err(|err| err.to_string())
            }));
        }
        for (socket, config, protocol, transport) in [
            (
                bound.compact,
                protocols.thrift_compact.as_ref().map(UdpServerSettings::from),
                Protocol::Compact,
                TRANSPORT_COMPACT,
            ),
            (
                bound.binary,
                protocols.thrift_binary.as_ref().map(UdpServerSettings::from),
                Protocol::Binary,
                TRANSPORT_BINARY,
            ),
        ] {
            let (Some(socket), Some(settings)) = (socket, config) else {
                continue;
            };
            let local = socket.local_addr().ok();
            match protocol {
                Protocol::Compact => addrs.thrift_compact = local,
                Protocol::Binary => addrs.thrift_binary = local,
            }
            tracing::info!(receiver = %self.id, endpoint = ?local, transport, "starting UDP server for Jaeger agent");
            tasks.extend(udp::serve(socket, &settings, protocol, next.clone(), observer(transport), watcher.clone()));
        }
        self.local_addrs = addrs;
        self.running = Some(ServerTasks::new(shutdown, tasks));
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop(&self.id).await;
        }
    }
}
