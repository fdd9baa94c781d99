//! The `health_check` extension: 200 with the collector's JSON once the pipelines run, 503
//! while starting or stopping.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use spoor_net::auth::Authenticators;
use spoor_net::{ConfigProblem, HttpServerSettings, ListenError, Listener, OtherKeys, Server};

pub const DEFAULT_ENDPOINT: &str = "localhost:13133";

/// `extensions.health_check`: confighttp's server keys plus the extension's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HealthCheckConfig {
    #[serde(flatten)]
    pub server: HttpServerSettings,
    pub path: String,
    /// Accepted for compatibility; deprecated in the collector and ignored there too.
    pub check_collector_pipeline: Option<serde_json::Value>,
    pub response_body: Option<ResponseBody>,
    #[serde(flatten)]
    pub other: OtherKeys,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseBody {
    pub healthy: Option<String>,
    pub unhealthy: Option<String>,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            server: HttpServerSettings::default(),
            path: "/".to_owned(),
            check_collector_pipeline: None,
            response_body: None,
            other: OtherKeys::default(),
        }
    }
}

impl HealthCheckConfig {
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        self.other.check()?;
        self.server.validate(false)
    }
}

/// Whether the service is ready, shared with the service lifecycle.
#[derive(Clone)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    since: Arc<std::sync::Mutex<Option<(SystemTime, Instant)>>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self { ready: Arc::new(AtomicBool::new(false)), since: Arc::new(std::sync::Mutex::new(None)) }
    }
}

impl Readiness {
    pub fn set_ready(&self, ready: bool) {
        if let Ok(mut since) = self.since.lock() {
            *since = ready.then(|| (SystemTime::now(), Instant::now()));
        }
        self.ready.store(ready, Ordering::Relaxed);
    }

    fn body(&self, config: &HealthCheckConfig) -> (StatusCode, String) {
        let since = self.since.lock().ok().and_then(|since| *since);
        let custom = config.response_body.as_ref();
        match (self.ready.load(Ordering::Relaxed), since) {
            (true, Some((up_since, started))) => {
                let body = custom.and_then(|c| c.healthy.clone()).unwrap_or_else(|| {
                    serde_json::json!({
                        "status": "Server available",
                        "upSince": humantime::format_rfc3339_nanos(up_since).to_string(),
                        "uptime": spoor_config::duration::format(started.elapsed()),
                    })
                    .to_string()
                });
                (StatusCode::OK, body)
            }
            _ => {
                let body = custom.and_then(|c| c.unhealthy.clone()).unwrap_or_else(|| {
                    r#"{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}"#.to_owned()
                });
                (StatusCode::SERVICE_UNAVAILABLE, body)
            }
        }
    }
}

pub async fn start(
    config: HealthCheckConfig,
    readiness: Readiness,
    authenticators: &Authenticators,
) -> Result<Server, ListenError> {
    let listener = Listener::http(&config.server, DEFAULT_ENDPOINT, authenticators).await?;
    Ok(listener.serve("health_check", router(config, readiness)))
}

/// The health route alone, for servers that also serve other paths (Jaeger's admin port).
pub fn router(config: HealthCheckConfig, readiness: Readiness) -> axum::Router {
    let path = if config.path.starts_with('/') { config.path.clone() } else { format!("/{}", config.path) };
    let handler = move || {
        let (status, body) = readiness.body(&config);
        async move { (status, [(header::CONTENT_TYPE, "application/json")], body).into_response() }
    };
    axum::Router::new().route(&path, axum::routing::get(handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_503_until_ready_then_200() {
        let readiness = Readiness::default();
        let config = HealthCheckConfig { server: HttpServerSettings::at("127.0.0.1:0"), ..Default::default() };
        let mut server = start(config, readiness.clone(), &Authenticators::default()).await.unwrap();
        let url = format!("http://{}/", server.local_addr());
        let (status, body) = get(&url).await;
        assert_eq!(status, 503);
        assert!(body.contains("Server not available"));
        readiness.set_ready(true);
        let (status, body) = get(&url).await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "Server available");
        assert!(json["upSince"].as_str().unwrap().ends_with('Z'));
        server.shutdown().await;
    }

    /// A minimal HTTP/1.0 GET, to keep an HTTP client out of this crate's dependencies.
    async fn get(url: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }
}
