//! The `jaeger` receiver: gRPC `PostSpans`, Thrift over HTTP and the agent's UDP ports.

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
use spoor_pipeline::{
    ClientMetadata, Receiver, ReceiverObserver, ServerTasks, StartError, Telemetry, TraceBatch, TracesConsumer,
};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::config::{DEFAULT_GRPC_ENDPOINT, DEFAULT_THRIFT_HTTP_ENDPOINT, JaegerReceiverConfig, UdpServerSettings};
use super::http::{AcceptedEncodings, Failure, media_type, read_body};
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
    authenticators: Authenticators,
    local_addrs: JaegerLocalAddrs,
    running: Option<Running>,
}

/// The TCP servers, and the UDP tasks with the signal that stops them.
struct Running {
    servers: Vec<Server>,
    udp: ServerTasks,
}

struct Bound {
    grpc: Option<Listener>,
    http: Option<Listener>,
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
            authenticators: Authenticators::default(),
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

    /// The authenticator extensions that `auth.authenticator` of the TCP protocols may name.
    pub fn with_authenticators(mut self, authenticators: Authenticators) -> Self {
        self.authenticators = authenticators;
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

    fn fail(&self, transport: &str, err: impl std::fmt::Display) -> StartError {
        StartError(format!("{}: {transport} {err}", self.id))
    }

    /// Binds everything before serving anything, so that a failure leaves nothing running.
    async fn bind(&self) -> Result<Bound, StartError> {
        let p = &self.config.protocols;
        let mut bound = Bound { grpc: None, http: None, compact: None, binary: None };
        if let Some(grpc) = &p.grpc {
            let listener = Listener::grpc(grpc, DEFAULT_GRPC_ENDPOINT, &self.authenticators)
                .await
                .map_err(|err| self.fail("grpc", err))?;
            bound.grpc = Some(listener);
        }
        if let Some(http) = &p.thrift_http {
            let listener = Listener::http(&http.server, DEFAULT_THRIFT_HTTP_ENDPOINT, &self.authenticators)
                .await
                .map_err(|err| self.fail("thrift_http", err))?;
            bound.http = Some(listener);
        }
        if let Some(compact) = &p.thrift_compact {
            let settings = UdpServerSettings::from(compact);
            let socket = udp::bind(&settings).await.map_err(|err| {
                self.fail("thrift_compact", format!("endpoint {}: cannot listen: {err}", settings.endpoint))
            })?;
            bound.compact = Some(socket);
        }
        if let Some(binary) = &p.thrift_binary {
            let settings = UdpServerSettings::from(binary);
            let socket = udp::bind(&settings).await.map_err(|err| {
                self.fail("thrift_binary", format!("endpoint {}: cannot listen: {err}", settings.endpoint))
            })?;
            bound.binary = Some(socket);
        }
        Ok(bound)
    }

    /// `POST /api/traces`, and `/api/sampling` when strategies are set.
    fn thrift_http_router(&self, state: HttpState) -> axum::Router {
        let mut router = axum::Router::new()
            .route("/api/traces", axum::routing::post(post_traces))
            .with_state(state)
            // The limit is enforced while reading; lift axum's own 2 MB default.
            .layer(axum::extract::DefaultBodyLimit::disable());
        if let Some(provider) = &self.sampling {
            router = router.merge(sampling::collector_routes(provider.clone()));
        }
        router
    }
}

#[derive(Clone)]
struct HttpState {
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
    body_limit: usize,
    encodings: AcceptedEncodings,
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
    let metadata = request.extensions().get::<RequestMetadata>().map(ClientMetadata::from_request).unwrap_or_default();
    let body = read_body(request, state.body_limit, &state.encodings, state.next.as_ref()).await?;
    let resource_spans = body
        .decode(|bytes| {
            decode_batch(bytes)
                .map(translate::thrift_to_otlp)
                .map_err(|err| format!("Unable to process request body: {err}"))
        })
        .await?;
    let batch = TraceBatch::new(resource_spans).with_metadata(metadata);
    state.observer.deliver(state.next.as_ref(), batch).await.map_err(Failure::Consume)
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
        let mut servers = Vec::new();
        let mut tasks = Vec::new();
        let mut addrs = JaegerLocalAddrs::default();
        let observer = |transport: &str| ReceiverObserver::new(&self.telemetry, &self.id, transport);

        if let (Some(listener), Some(settings)) = (bound.grpc, &protocols.grpc) {
            addrs.grpc = Some(listener.local_addr());
            tracing::info!(receiver = %self.id, endpoint = ?addrs.grpc, "starting gRPC server for Jaeger collector");
            let service = grpc::service(settings, next.clone(), observer(TRANSPORT_GRPC));
            servers.push(listener.serve("jaeger grpc", service));
        }
        if let (Some(listener), Some(config)) = (bound.http, &protocols.thrift_http) {
            addrs.thrift_http = Some(listener.local_addr());
            tracing::info!(receiver = %self.id, endpoint = ?addrs.thrift_http, "starting HTTP server for Jaeger collector");
            let encodings = AcceptedEncodings::new(config.server.compression_algorithms.as_deref())
                .map_err(|message| StartError(format!("{}: thrift_http: {message}", self.id)))?;
            let state = HttpState {
                next: next.clone(),
                observer: observer(TRANSPORT_HTTP),
                body_limit: config.server.body_limit(),
                encodings,
            };
            servers.push(listener.serve("jaeger thrift_http", self.thrift_http_router(state)));
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
        self.running = Some(Running { servers, udp: ServerTasks::new(shutdown, tasks) });
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(mut running) = self.running.take() {
            for server in &mut running.servers {
                server.shutdown().await;
            }
            running.udp.stop(&self.id).await;
        }
    }
}
