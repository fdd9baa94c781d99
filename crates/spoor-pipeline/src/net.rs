//! Deprecated: the listeners move to the spoor-net kit; this goes once the last user has moved.
//! Listening on the collector's `host:port` endpoints, and a small HTTP server for the
//! extensions and self-metrics.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Binds `host:port` as the collector reads it: `localhost:4317`, `0.0.0.0:4317`,
/// `[::1]:4317`, or `:4317` (all interfaces).
pub async fn bind(endpoint: &str) -> std::io::Result<TcpListener> {
    let endpoint = endpoint.trim();
    let target = match endpoint.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => endpoint.to_owned(),
    };
    let mut last_error = None;
    for address in tokio::net::lookup_host(&target).await? {
        match TcpListener::bind(address).await {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, format!("{endpoint} resolves to no address"))
    }))
}

/// A running HTTP server that stops gracefully.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub async fn start(endpoint: &str, router: axum::Router) -> std::io::Result<Self> {
        let listener = bind(endpoint).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(%err, "http server failed");
            }
        });
        Ok(Self { local_addr, stop: Some(stop), task: Some(task) })
    }

    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
