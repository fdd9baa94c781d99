//! spoor-query owns the query service of the `jaeger_query` extension: Jaeger v2.20.0's HTTP
//! API (`/api/*` and `/api/v3/*`, default port 16686) and its gRPC `jaeger.api_v2` and
//! `jaeger.api_v3` query services with reflection limited to those two (default port 16685),
//! over any [`TraceStore`](spoor_store::TraceStore) (one per tenant with `multi_tenancy`).
//! Jaeger's JSON and proto models come from spoor-jaeger; storage stays behind the trait. Both
//! listeners are the server kit's (spoor-net: TLS, auth, limits). The web UI, embedded from
//! `ui/dist`, is served on the HTTP port under `base_path`, its files without credentials and
//! the API with them.

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
mod tenant;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use spoor_jaeger::proto::{api_v2, api_v3};
use spoor_net::auth::Authenticators;
use spoor_net::{ListenError, Listener, PublicPaths, Server};
use spoor_store::TenantStores;
use tower_http::compression::CompressionLayer;

use crate::config::{DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT};
pub use config::JaegerQueryConfig;
pub use service::QueryService;

#[derive(Debug, thiserror::Error)]
pub enum QueryServerError {
    #[error("query {listener} listener: {source}")]
    Listen { listener: &'static str, source: ListenError },
    #[error("grpc reflection: {0}")]
    Reflection(String),
    #[error("query server already started")]
    AlreadyStarted,
}

/// The query service's listeners: HTTP (API and UI) and gRPC, over one store.
pub struct QueryServer {
    config: JaegerQueryConfig,
    tenants: Arc<tenant::Tenants>,
    authenticators: Authenticators,
    running: Option<Running>,
}

struct Running {
    http: Server,
    grpc: Server,
}

impl QueryServer {
    /// `config` should have passed [`JaegerQueryConfig::validate`]. With `multi_tenancy`,
    /// each tenant is served from its store in `stores`.
    pub fn new(config: JaegerQueryConfig, stores: impl Into<TenantStores>) -> Self {
        let tenancy = config.multi_tenancy.build().unwrap_or_else(|(key, message)| {
            tracing::error!(key, message, "jaeger_query multi_tenancy was not validated; every request is refused");
            refuse_everyone()
        });
        QueryServer {
            config,
            tenants: Arc::new(tenant::Tenants { stores: stores.into(), tenancy }),
            authenticators: Authenticators::default(),
            running: None,
        }
    }

    /// The authenticator extensions that `http.auth` and `grpc.auth` name; none by default.
    pub fn with_authenticators(mut self, authenticators: Authenticators) -> Self {
        self.authenticators = authenticators;
        self
    }

    /// The HTTP application: the API routes under `base_path`, compression (gzip and deflate
    /// only: Grafana refuses other encodings), the body limit, and the web UI for every other
    /// path.
    pub fn router(&self) -> Router {
        // Every API route needs the tenant (when multi-tenancy is on); the UI's assets do not.
        let api = http::routes()
            .merge(http_v3::routes())
            .layer(axum::middleware::from_fn_with_state(self.tenants.clone(), tenant::resolve));
        let base = self.config.normalized_base_path();
        let app = if base.is_empty() { api } else { Router::new().nest(&base, api) };
        app.merge(ui::router(&base))
            .layer(DefaultBodyLimit::max(self.config.http.server.body_limit()))
            .layer(CompressionLayer::new().no_br().no_zstd())
    }

    /// Binds both listeners (so a port conflict fails here) and serves until
    /// [`QueryServer::shutdown`].
    pub async fn start(&mut self) -> Result<(), QueryServerError> {
        if self.running.is_some() {
            return Err(QueryServerError::AlreadyStarted);
        }
        let http = Listener::http(&self.config.http.server, DEFAULT_HTTP_ENDPOINT, &self.authenticators)
            .await
            .map_err(|source| QueryServerError::Listen { listener: "http", source })?;
        let grpc = Listener::grpc(&self.config.grpc, DEFAULT_GRPC_ENDPOINT, &self.authenticators)
            .await
            .map_err(|source| QueryServerError::Listen { listener: "grpc", source })?;
        let routes = self.grpc_routes()?;
        if self.config.bearer_token_propagation {
            tracing::warn!(
                "jaeger_query bearer_token_propagation: spoor's storage backends take no token, so the caller's \
                 token reaches no storage; use http.auth and grpc.auth to decide who may query"
            );
        }
        // The UI's files carry no data; the API under `{base}/api` asks for credentials.
        let api = format!("{}/api", self.config.normalized_base_path());
        let public: PublicPaths = Arc::new(move |path: &str| !(path == api || path.starts_with(&format!("{api}/"))));
        let http = http.with_public_paths(public).serve("jaeger_query http", self.router());
        let grpc = grpc.serve("jaeger_query grpc", routes);
        tracing::info!(endpoint = %http.local_addr(), "query HTTP server listening (Jaeger API and UI)");
        tracing::info!(endpoint = %grpc.local_addr(), "query gRPC server listening (api_v2 and api_v3)");
        self.running = Some(Running { http, grpc });
        Ok(())
    }

    /// The api_v2 and api_v3 query services and their reflection, each refusing messages over
    /// `grpc.max_recv_msg_size_mib`.
    fn grpc_routes(&self) -> Result<tonic::service::Routes, QueryServerError> {
        let limit = self.config.grpc.max_recv_msg_size();
        let v2 = api_v2::query_service_server::QueryServiceServer::new(grpc::QueryServiceV2 {
            tenants: self.tenants.clone(),
        })
        .max_decoding_message_size(limit);
        let v3 = api_v3::query_service_server::QueryServiceServer::new(grpc::QueryServiceV3 {
            tenants: self.tenants.clone(),
        })
        .max_decoding_message_size(limit);
        Ok(reflection::services(spoor_jaeger::proto::FILE_DESCRIPTOR_SET, limit)?.add_service(v2).add_service(v3))
    }

    /// The bound HTTP address, once started.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.http.local_addr())
    }

    /// The bound gRPC address, once started.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.grpc.local_addr())
    }

    /// Stops accepting, lets requests in flight finish, and waits for both servers.
    pub async fn shutdown(&mut self) {
        if let Some(mut running) = self.running.take() {
            tokio::join!(running.http.shutdown(), running.grpc.shutdown());
        }
    }
}

/// What an invalid `multi_tenancy` block (one that skipped validation) becomes: tenancy on,
/// with a list no tenant is in, so that nothing is served across tenants by mistake.
fn refuse_everyone() -> spoor_pipeline::tenancy::Tenancy {
    let config = spoor_pipeline::tenancy::TenancyConfig { enabled: true, header: None, tenants: vec!["\0".to_owned()] };
    config.build().unwrap_or_default()
}
