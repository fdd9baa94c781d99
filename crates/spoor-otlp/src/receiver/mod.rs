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
mod export;
mod grpc;
mod http;
mod json;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use spoor_net::auth::Authenticators;
use spoor_net::{Listener, Server};
use spoor_pipeline::component::Validated;
use spoor_pipeline::{Receiver, ReceiverObserver, StartError, Telemetry, TracesConsumer};

pub use self::body::Encoding;
pub use self::config::{
    DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_TRACES_URL_PATH, OtlpHttpConfig, OtlpReceiverConfig,
    Protocols,
};
pub use self::http::DEFAULT_RETRY_AFTER;

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
    authenticators: Authenticators,
    local_addrs: LocalAddrs,
    servers: Vec<Server>,
}

impl OtlpReceiver {
    /// Builds the receiver from a validated config; `id` is the component id (`otlp`,
    /// `otlp/2`) used as the `receiver` label of the self-metrics.
    pub fn new(id: impl Into<String>, config: Validated<OtlpReceiverConfig>, telemetry: Telemetry) -> Self {
        Self {
            id: id.into(),
            config: config.into_inner(),
            telemetry,
            authenticators: Authenticators::default(),
            local_addrs: LocalAddrs::default(),
            servers: Vec::new(),
        }
    }

    /// The authenticator extensions that `auth.authenticator` may name.
    pub fn with_authenticators(mut self, authenticators: Authenticators) -> Self {
        self.authenticators = authenticators;
        self
    }

    pub fn config(&self) -> &OtlpReceiverConfig {
        &self.config
    }

    pub fn local_addrs(&self) -> LocalAddrs {
        self.local_addrs
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(&mut self, next: Arc<dyn TracesConsumer>) -> Result<(), StartError> {
        if !self.servers.is_empty() {
            return Err(StartError(format!("{}: already started", self.id)));
        }
        let protocols = &self.config.protocols;
        let fail = |transport: &str, err: spoor_net::ListenError| StartError(format!("{}: {transport} {err}", self.id));
        // Bind everything first, so a failure leaves nothing running.
        let grpc = match &protocols.grpc {
            Some(settings) => Some(
                Listener::grpc(settings, DEFAULT_GRPC_ENDPOINT, &self.authenticators)
                    .await
                    .map_err(|e| fail("grpc", e))?,
            ),
            None => None,
        };
        let http = match &protocols.http {
            Some(config) => Some(
                Listener::http(&config.server, DEFAULT_HTTP_ENDPOINT, &self.authenticators)
                    .await
                    .map_err(|e| fail("http", e))?,
            ),
            None => None,
        };
        if let (Some(listener), Some(settings)) = (grpc, &protocols.grpc) {
            self.local_addrs.grpc = Some(listener.local_addr());
            tracing::info!(receiver = %self.id, endpoint = %listener.local_addr(), "starting gRPC server");
            let observer = ReceiverObserver::new(&self.telemetry, &self.id, "grpc");
            let service = grpc::service(settings, next.clone(), observer);
            self.servers.push(listener.serve(&format!("{} grpc", self.id), service));
        }
        if let (Some(listener), Some(config)) = (http, &protocols.http) {
            self.local_addrs.http = Some(listener.local_addr());
            tracing::info!(receiver = %self.id, endpoint = %listener.local_addr(), "starting HTTP server");
            let observer = ReceiverObserver::new(&self.telemetry, &self.id, "http");
            let handler = Arc::new(http::HttpHandler::new(config, next.clone(), observer));
            self.servers.push(listener.serve(&format!("{} http", self.id), http::service(handler)));
        }
        Ok(())
    }

    async fn shutdown(&mut self) {
        for server in &mut self.servers {
            server.shutdown().await;
        }
        self.servers.clear();
    }
}
