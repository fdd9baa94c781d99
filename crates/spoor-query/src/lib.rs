//! spoor-query owns the query service of the `jaeger_query` extension: Jaeger v2.20.0's HTTP
//! API (`/api/*` and `/api/v3/*`, default port 16686) and its gRPC `jaeger.api_v2` and
//! `jaeger.api_v3` query services with reflection limited to those two (default port 16685), over any
//! [`TraceStore`]. Jaeger's JSON and proto models come from spoor-jaeger; storage stays behind
//! the trait. The web UI, embedded from `ui/dist`, is served on the HTTP port under `base_path`.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod factory;
mod grpc;
mod http;
mod http_v3;
pub mod params;
mod reflection;
mod service;
mod summary;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use spoor_store::TraceStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::compression::CompressionLayer;

pub use config::{ConfigError, JaegerQueryConfig};
pub use service::QueryService;

#[derive(Debug, thiserror::Error)]
pub enum QueryServerError {
    #[error("query {listener} listener on {endpoint}: {source}")]
    Bind { listener: &'static str, endpoint: String, source: std::io::Error },
    #[error("grpc reflection: {0}")]
    Reflection(String),
    #[error("query server already started")]
    AlreadyStarted,
}

/// The query service's listeners: HTTP (API and UI) and gRPC, over one store.
pub struct QueryServer {
    config: JaegerQueryConfig,
    service: Arc<QueryService>,
    running: Option<Running>,
}

struct Running {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl QueryServer {
    /// `config` should have passed [`JaegerQueryConfig::validate`].
    pub fn new(config: JaegerQueryConfig, store: Arc<dyn TraceStore>) -> Self {
        QueryServer { config, service: Arc::new(QueryService::new(store)), running: None }
    }

    /// The HTTP application: the API routes under `base_path`, compression (gzip and deflate
    /// only: Grafana refuses other encodings), and the web UI for every other path.
    pub fn router(&self) -> Router {
        let api = http::routes().merge(http_v3::routes()).with_state(self.service.clone());
        let base = self.config.normalized_base_path();
        let app = if base.is_empty() { api } else { Router::new().nest(&base, api) };
        app.merge(ui::router(&base)).layer(CompressionLayer::new().no_br().no_zstd())
    }

    /// Binds both listeners and serves until [`QueryServer::shutdown`].
    pub async fn start(&mut self) -> Result<(), QueryServerError> {
        if self.running.is_some() {
            return Err(QueryServerError::AlreadyStarted);
        }
        let http_listener = bind("http", &self.config.http.endpoint).await?;
        let grpc_listener = bind("grpc", &self.config.grpc.endpoint).await?;
        let http_addr = local_addr("http", &self.config.http.endpoint, &http_listener)?;
        let grpc_addr = local_addr("grpc", &self.config.grpc.endpoint, &grpc_listener)?;
        let (stop, stopped) = watch::channel(false);

        let app = self.router();
        let mut http_stop = stopped.clone();
        let http_task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = http_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(http_listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "query http server failed");
            }
        });

        let grpc_router = self.grpc_router()?;
        let mut grpc_stop = stopped;
        let grpc_task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
            let shutdown = async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = grpc_router.serve_with_incoming_shutdown(incoming, shutdown).await {
                tracing::error!(error = %e, "query grpc server failed");
            }
        });

        tracing::info!(endpoint = %http_addr, "query HTTP server listening (Jaeger API and UI)");
        tracing::info!(endpoint = %grpc_addr, "query gRPC server listening (api_v2 and api_v3)");
        self.running = Some(Running { http_addr, grpc_addr, stop, tasks: vec![http_task, grpc_task] });
        Ok(())
    }

    fn grpc_router(&self) -> Result<tonic::transport::server::Router, QueryServerError> {
        let reflection = reflection::services(spoor_jaeger::proto::FILE_DESCRIPTOR_SET)?;
        let v2 = spoor_jaeger::proto::api_v2::query_service_server::QueryServiceServer::new(grpc::QueryServiceV2 {
            svc: self.service.clone(),
        });
        let v3 = spoor_jaeger::proto::api_v3::query_service_server::QueryServiceServer::new(grpc::QueryServiceV3 {
            svc: self.service.clone(),
        });
        Ok(tonic::transport::Server::builder().add_routes(reflection).add_service(v2).add_service(v3))
    }

    /// The bound HTTP address, once started.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.http_addr)
    }

    /// The bound gRPC address, once started.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.grpc_addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits for both servers.
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            for task in running.tasks {
                let _ = task.await;
            }
        }
    }
}

/// Binds an endpoint in the collector's form; `:port` means every interface.
async fn bind(listener: &'static str, endpoint: &str) -> Result<TcpListener, QueryServerError> {
    let address = if endpoint.starts_with(':') { format!("0.0.0.0{endpoint}") } else { endpoint.to_string() };
    TcpListener::bind(&address).await.map_err(|source| QueryServerError::Bind {
        listener,
        endpoint: endpoint.to_string(),
        source,
    })
}

fn local_addr(listener: &'static str, endpoint: &str, l: &TcpListener) -> Result<SocketAddr, QueryServerError> {
    l.local_addr().map_err(|source| QueryServerError::Bind { listener, endpoint: endpoint.to_string(), source })
}
