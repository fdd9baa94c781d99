//! The collector's `otlp` receiver: OTLP/gRPC on 4317 and OTLP/HTTP (protobuf and JSON) on
//! 4318, delivering into the pipeline through a [`ReceiverObserver`] per transport.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use spoor_otlp::receiver::{OtlpReceiver, OtlpReceiverConfig};
//! use spoor_pipeline::component::Validated;
//! use spoor_pipeline::{Receiver, Telemetry, TracesConsumer};
//!
//! # async fn run(next: Arc<dyn TracesConsumer>) -> Result<(), Box<dyn std::error::Error>> {
//! let config: OtlpReceiverConfig = serde_json::from_str(r#"{"protocols": {"grpc": null}}"#)?;
//! let mut receiver = OtlpReceiver::new("otlp", Validated::new(config)?, Telemetry::new());
//! receiver.start(next).await?;
//! println!("gRPC on {:?}", receiver.local_addrs().grpc);
//! receiver.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod body;
mod config;
mod cors;
mod export;
mod grpc;
mod http;
mod json;
mod listen;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use spoor_pipeline::component::Validated;
use spoor_pipeline::{Receiver, ReceiverObserver, ServerTasks, StartError, Telemetry, TracesConsumer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use self::body::Encoding;
pub use self::config::{
    ConfigProblem, CorsConfig, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_MAX_RECV_MSG_SIZE_MIB,
    DEFAULT_MAX_REQUEST_BODY_SIZE, DEFAULT_TRACES_URL_PATH, GrpcKeepalive, GrpcServerConfig, HttpServerConfig,
    KeepaliveEnforcementPolicy, KeepaliveServerParameters, OtlpReceiverConfig, Protocols,
};
pub use self::http::DEFAULT_RETRY_AFTER;
use crate::tls::TlsSettings;

/// The component type name, as in the collector.
pub const TYPE_NAME: &str = "otlp";

/// The addresses the receiver actually listens on, known after `start` (useful with port 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
}

pub struct OtlpReceiver {
    id: String,
    config: OtlpReceiverConfig,
    telemetry: Telemetry,
    local_addrs: LocalAddrs,
    running: Option<ServerTasks>,
}

/// A listener bound during `start`, before any server task runs.
struct Bound {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl OtlpReceiver {
    /// Builds the receiver from a validated config; `id` is the component id (`otlp`,
    /// `otlp/2`) used as the `receiver` label of the self-metrics.
    pub fn new(id: impl Into<String>, config: Validated<OtlpReceiverConfig>, telemetry: Telemetry) -> Self {
        let config = config.into_inner();
        Self { id: id.into(), config, telemetry, local_addrs: LocalAddrs::default(), running: None }
    }

    pub fn config(&self) -> &OtlpReceiverConfig {
        &self.config
    }

    pub fn local_addrs(&self) -> LocalAddrs {
        self.local_addrs
    }

    async fn bind(
        &self,
        endpoint: &str,
        tls: Option<&TlsSettings>,
        alpn: &[&[u8]],
        transport: &str,
    ) -> Result<Bound, StartError> {
        let fail = |message: String| StartError(format!("{}: {transport} endpoint {endpoint}: {message}", self.id));
        let tls = match tls {
            Some(settings) => {
                let config = settings.server_config(alpn).map_err(|err| fail(err.to_string()))?;
                Some(TlsAcceptor::from(Arc::new(config)))
            }
            None => None,
        };
        let addr = config::resolve_endpoint(endpoint).await.map_err(fail)?;
        let listener = listen::bind(addr).await.map_err(|err| fail(format!("cannot listen: {err}")))?;
        Ok(Bound { listener, tls })
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(&mut self, next: Arc<dyn TracesConsumer>) -> Result<(), StartError> {
        if self.running.is_some() {
            return Err(StartError(format!("{}: already started", self.id)));
        }
        let protocols = self.config.protocols.clone();
        // Bind everything first, so a failure leaves nothing running.
        let grpc = match &protocols.grpc {
            Some(grpc) => Some(self.bind(&grpc.endpoint, grpc.tls.as_ref(), &[b"h2"], "grpc").await?),
            None => None,
        };
        let http = match &protocols.http {
            Some(http) => Some(self.bind(&http.endpoint, http.tls.as_ref(), &[b"h2", b"http/1.1"], "http").await?),
            None => None,
        };
        let (shutdown, watcher) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut local_addrs = LocalAddrs::default();
        if let (Some(bound), Some(config)) = (grpc, protocols.grpc) {
            local_addrs.grpc = bound.listener.local_addr().ok();
            tracing::info!(receiver = %self.id, endpoint = ?local_addrs.grpc, "starting gRPC server");
            let observer = ReceiverObserver::new(&self.telemetry, &self.id, "grpc");
            let (next, watcher, id) = (next.clone(), watcher.clone(), self.id.clone());
            tasks.push(tokio::spawn(async move {
                let served = grpc::serve(bound.listener, bound.tls, &config, next, observer, watcher).await;
                if let Err(err) = served {
                    tracing::error!(receiver = %id, "gRPC server failed: {err}");
                }
            }));
        }
        if let (Some(bound), Some(config)) = (http, protocols.http) {
            local_addrs.http = bound.listener.local_addr().ok();
            tracing::info!(receiver = %self.id, endpoint = ?local_addrs.http, "starting HTTP server");
            let observer = ReceiverObserver::new(&self.telemetry, &self.id, "http");
            let handler = Arc::new(http::HttpHandler::new(&config, next.clone(), observer));
            tasks.push(tokio::spawn(http::serve(
                bound.listener,
                bound.tls,
                handler,
                config.read_header_timeout,
                watcher.clone(),
            )));
        }
        self.local_addrs = local_addrs;
        self.running = Some(ServerTasks::new(shutdown, tasks));
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop(&self.id).await;
        }
    }
}
