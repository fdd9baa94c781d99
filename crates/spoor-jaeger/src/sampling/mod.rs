//! Remote sampling, as Jaeger v2's `remote_sampling` extension: strategies from a
//! strategies.json file (reloaded periodically), served over HTTP (5778: `/sampling`,
//! `/api/sampling`, and the legacy `/` with Thrift-style JSON) and gRPC (5779:
//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy`). The `jaeger` receiver serves the same
//! strategies on its Thrift HTTP port at `/api/sampling`, as Jaeger's collector did on 14268.
//!
//! Adaptive sampling is not supported yet; configuring `adaptive` is an error.

mod strategies;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use spoor_config::serde_ext::null_as_default;
use spoor_net::auth::Authenticators;
use spoor_net::{ConfigProblem, GrpcServerSettings, Listener, Server};
use spoor_pipeline::component::Validated;
use spoor_pipeline::otlp::value::go_json_float;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;

pub use self::strategies::{DEFAULT_SAMPLING_PROBABILITY, Strategies};
use crate::proto::api_v2::sampling_manager_server::{SamplingManager, SamplingManagerServer};
use crate::proto::api_v2::{
    PerOperationSamplingStrategies, SamplingStrategyParameters, SamplingStrategyResponse, SamplingStrategyType,
};
use crate::receiver::HttpServerConfig;

pub const TYPE_NAME: &str = "remote_sampling";
pub const DEFAULT_HTTP_ENDPOINT: &str = "localhost:5778";
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:5779";

/// `extensions.remote_sampling`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSamplingConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub file: Option<FileConfig>,
    /// Not supported yet; present only to give a clear error.
    #[serde(default)]
    pub adaptive: Option<serde_json::Value>,
    /// confighttp's server settings; default enabled on `localhost:5778`.
    #[serde(default = "default_http", deserialize_with = "null_as_default")]
    pub http: Option<HttpServerConfig>,
    /// configgrpc's server settings; default enabled on `localhost:5779`.
    #[serde(default = "default_grpc", deserialize_with = "null_as_default")]
    pub grpc: Option<GrpcServerSettings>,
}

fn default_http() -> Option<HttpServerConfig> {
    Some(HttpServerConfig::default())
}

fn default_grpc() -> Option<GrpcServerSettings> {
    Some(GrpcServerSettings::default())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// strategies.json; empty serves the default probabilistic strategy only.
    pub path: String,
    /// The default strategy when the file has none; default 0.001.
    pub default_sampling_probability: f64,
    /// How often the file is re-read; 0 (the default) never.
    #[serde(with = "spoor_config::duration")]
    pub reload_interval: Duration,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            default_sampling_probability: DEFAULT_SAMPLING_PROBABILITY,
            reload_interval: Duration::ZERO,
        }
    }
}

impl RemoteSamplingConfig {
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.adaptive.is_some() {
            return Err(ConfigProblem::new("adaptive", "adaptive sampling is not supported yet; use file"));
        }
        let Some(file) = &self.file else {
            return Err(ConfigProblem::new("", "no sampling strategy specified, has to be 'file'"));
        };
        if !(0.0..=1.0).contains(&file.default_sampling_probability) {
            return Err(ConfigProblem::new("file.default_sampling_probability", "must be between 0 and 1"));
        }
        if let Some(http) = &self.http {
            // The HTTP API has only GETs: no body to decompress.
            http.validate(false).map_err(|problem| problem.within("http"))?;
        }
        if let Some(grpc) = &self.grpc {
            grpc.validate().map_err(|problem| problem.within("grpc"))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The provider

/// The current strategies, shared by every server that answers sampling requests.
#[derive(Clone)]
pub struct StrategyProvider {
    strategies: Arc<RwLock<Arc<Strategies>>>,
}

impl StrategyProvider {
    pub fn new(strategies: Strategies) -> Self {
        Self { strategies: Arc::new(RwLock::new(Arc::new(strategies))) }
    }

    /// Reads `file`; an empty path gives the default strategy only.
    pub fn load(file: &FileConfig) -> Result<Strategies, String> {
        if file.path.is_empty() {
            return Ok(Strategies::with_default(file.default_sampling_probability));
        }
        let bytes =
            std::fs::read(&file.path).map_err(|err| format!("cannot read sampling strategies {}: {err}", file.path))?;
        Strategies::parse(&bytes, file.default_sampling_probability)
    }

    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        let current = match self.strategies.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        current.strategy(service)
    }

    fn replace(&self, strategies: Strategies) {
        match self.strategies.write() {
            Ok(mut current) => *current = Arc::new(strategies),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(strategies),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

fn float(value: f64) -> String {
    go_json_float(value).unwrap_or_else(|| "0".to_owned())
}

fn operations_json(operations: &PerOperationSamplingStrategies, enum_names: bool) -> String {
    let per_operation: Vec<String> = operations
        .per_operation_strategies
        .iter()
        .map(|o| {
            let rate = o.probabilistic_sampling.map_or(0.0, |p| p.sampling_rate);
            format!(
                r#"{{"operation":{},"probabilisticSampling":{{"samplingRate":{}}}}}"#,
                serde_json::Value::String(o.operation.clone()),
                float(rate)
            )
        })
        .collect();
    let upper = if enum_names || operations.default_upper_bound_traces_per_second != 0.0 {
        format!(r#","defaultUpperBoundTracesPerSecond":{}"#, float(operations.default_upper_bound_traces_per_second))
    } else {
        String::new()
    };
    format!(
        r#"{{"defaultSamplingProbability":{},"defaultLowerBoundTracesPerSecond":{},"perOperationStrategies":[{}]{}}}"#,
        float(operations.default_sampling_probability),
        float(operations.default_lower_bound_traces_per_second),
        per_operation.join(","),
        upper
    )
}

/// The JSON Jaeger serves on `/sampling`: protobuf JSON with defaults emitted and the absent
/// strategies left out (`p2json.SamplingStrategyResponseToJSON`).
pub fn strategy_json(response: &SamplingStrategyResponse) -> String {
    strategy_json_with(response, true)
}

/// The legacy JSON of the agent's `/`: the Thrift struct as Go's `encoding/json` writes it,
/// with the strategy type as a number.
pub fn legacy_strategy_json(response: &SamplingStrategyResponse) -> String {
    strategy_json_with(response, false)
}

fn strategy_json_with(response: &SamplingStrategyResponse, enum_names: bool) -> String {
    let kind = SamplingStrategyType::try_from(response.strategy_type).unwrap_or(SamplingStrategyType::Probabilistic);
    let mut out = if enum_names {
        format!(r#"{{"strategyType":"{}""#, kind.as_str_name())
    } else {
        format!(r#"{{"strategyType":{}"#, response.strategy_type)
    };
    if let Some(p) = &response.probabilistic_sampling {
        out.push_str(&format!(r#","probabilisticSampling":{{"samplingRate":{}}}"#, float(p.sampling_rate)));
    }
    if let Some(r) = &response.rate_limiting_sampling {
        out.push_str(&format!(r#","rateLimitingSampling":{{"maxTracesPerSecond":{}}}"#, r.max_traces_per_second));
    }
    if let Some(o) = &response.operation_sampling {
        out.push_str(&format!(r#","operationSampling":{}"#, operations_json(o, enum_names)));
    }
    out.push('}');
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

/// The `service` parameter; `None` when missing or empty, which Jaeger answers with 400.
fn service_of(query: &ServiceQuery) -> Option<&str> {
    query.service.as_deref().filter(|service| !service.is_empty())
}

fn missing_service() -> Response {
    (StatusCode::BAD_REQUEST, "'service' parameter must be provided once\n").into_response()
}

fn json_response(body: String) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

async fn get_strategy(State(provider): State<StrategyProvider>, Query(query): Query<ServiceQuery>) -> Response {
    match service_of(&query) {
        Some(service) => json_response(strategy_json(&provider.strategy(service))),
        None => missing_service(),
    }
}

async fn get_legacy_strategy(State(provider): State<StrategyProvider>, Query(query): Query<ServiceQuery>) -> Response {
    match service_of(&query) {
        Some(service) => json_response(legacy_strategy_json(&provider.strategy(service))),
        None => missing_service(),
    }
}

/// `/api/sampling` alone, for the jaeger receiver's Thrift HTTP port.
pub fn collector_routes(provider: StrategyProvider) -> axum::Router {
    axum::Router::new().route("/api/sampling", axum::routing::get(get_strategy)).with_state(provider)
}

/// The extension's HTTP routes: `/sampling`, `/api/sampling` and the legacy `/`.
pub fn http_routes(provider: StrategyProvider) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(get_legacy_strategy))
        .route("/sampling", axum::routing::get(get_strategy))
        .route("/api/sampling", axum::routing::get(get_strategy))
        .with_state(provider)
}

// ---------------------------------------------------------------------------------------------
// gRPC

struct SamplingService {
    provider: StrategyProvider,
}

#[tonic::async_trait]
impl SamplingManager for SamplingService {
    async fn get_sampling_strategy(
        &self,
        request: tonic::Request<SamplingStrategyParameters>,
    ) -> Result<tonic::Response<SamplingStrategyResponse>, tonic::Status> {
        let service = request.into_inner().service_name;
        Ok(tonic::Response::new(self.provider.strategy(&service)))
    }
}

// ---------------------------------------------------------------------------------------------
// The extension

/// Where the extension listens, known after `start`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SamplingLocalAddrs {
    pub http: Option<SocketAddr>,
    pub grpc: Option<SocketAddr>,
}

/// The `remote_sampling` extension.
pub struct RemoteSamplingExtension {
    id: String,
    config: RemoteSamplingConfig,
    provider: StrategyProvider,
    authenticators: Authenticators,
    local_addrs: SamplingLocalAddrs,
    servers: Vec<Server>,
    /// Stops the file reloader.
    shutdown: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RemoteSamplingExtension {
    /// Loads the strategies file, so that a bad file stops the process from starting.
    pub fn new(id: impl Into<String>, config: Validated<RemoteSamplingConfig>) -> Result<Self, String> {
        let id = id.into();
        let config = config.into_inner();
        let file = config.file.clone().unwrap_or_default();
        let strategies = StrategyProvider::load(&file).map_err(|err| format!("{id}: {err}"))?;
        Ok(Self {
            id,
            config,
            provider: StrategyProvider::new(strategies),
            authenticators: Authenticators::default(),
            local_addrs: SamplingLocalAddrs::default(),
            servers: Vec::new(),
            shutdown: None,
            tasks: Vec::new(),
        })
    }

    /// The authenticator extensions that `auth.authenticator` of `http` and `grpc` may name.
    pub fn with_authenticators(mut self, authenticators: Authenticators) -> Self {
        self.authenticators = authenticators;
        self
    }

    /// The strategies this extension serves, for the jaeger receiver's `/api/sampling`.
    pub fn provider(&self) -> StrategyProvider {
        self.provider.clone()
    }

    pub fn local_addrs(&self) -> SamplingLocalAddrs {
        self.local_addrs
    }

    /// Binds both listeners before serving either, so that a failure leaves nothing running.
    pub async fn start(&mut self) -> Result<(), String> {
        let fail = |transport: &str, err: spoor_net::ListenError| format!("{}: {transport} {err}", self.id);
        let grpc = match &self.config.grpc {
            Some(grpc) => Some(
                Listener::grpc(grpc, DEFAULT_GRPC_ENDPOINT, &self.authenticators).await.map_err(|e| fail("grpc", e))?,
            ),
            None => None,
        };
        let http = match &self.config.http {
            Some(http) => Some(
                Listener::http(&http.server, DEFAULT_HTTP_ENDPOINT, &self.authenticators)
                    .await
                    .map_err(|e| fail("http", e))?,
            ),
            None => None,
        };
        if let Some(listener) = grpc {
            let endpoint = listener.local_addr();
            self.local_addrs.grpc = Some(endpoint);
            let service = SamplingManagerServer::new(SamplingService { provider: self.provider.clone() });
            self.servers.push(listener.serve("remote_sampling grpc", Routes::new(service).prepare()));
            tracing::info!(extension = %self.id, %endpoint, "remote sampling gRPC server listening");
        }
        if let Some(listener) = http {
            let endpoint = listener.local_addr();
            self.local_addrs.http = Some(endpoint);
            self.servers.push(listener.serve("remote_sampling http", http_routes(self.provider.clone())));
            tracing::info!(extension = %self.id, %endpoint, "remote sampling HTTP server listening");
        }
        let (shutdown, watcher) = watch::channel(false);
        if let Some(file) = self.config.file.clone()
            && !file.path.is_empty()
            && !file.reload_interval.is_zero()
        {
            self.tasks.push(tokio::spawn(reload(self.id.clone(), file, self.provider.clone(), watcher)));
        }
        self.shutdown = Some(shutdown);
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(true);
        }
        for server in &mut self.servers {
            server.shutdown().await;
        }
        self.servers.clear();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// Re-reads the file every interval until shutdown; a bad file keeps the previous strategies.
async fn reload(id: String, file: FileConfig, provider: StrategyProvider, mut shutdown: watch::Receiver<bool>) {
    let path = PathBuf::from(&file.path);
    let mut last = std::fs::read(&path).ok();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep(file.reload_interval) => {}
        }
        let current = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(extension = %id, "cannot read sampling strategies: {err}");
                continue;
            }
        };
        if last.as_ref() == Some(&current) {
            continue;
        }
        match Strategies::parse(&current, file.default_sampling_probability) {
            Ok(strategies) => {
                provider.replace(strategies);
                tracing::info!(extension = %id, "sampling strategies reloaded");
            }
            Err(err) => tracing::warn!(extension = %id, "keeping the previous strategies: {err}"),
        }
        last = Some(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::api_v2::sampling_manager_client::SamplingManagerClient;

    const FILE: &str = r#"{"service_strategies": [
        {"service": "foo", "type": "probabilistic", "param": 0.8,
         "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
        {"service": "bar", "type": "ratelimiting", "param": 5}],
      "default_strategy": {"type": "probabilistic", "param": 0.5}}"#;

    #[test]
    fn json_as_jaeger_serves_it() {
        let strategies = Strategies::parse(FILE.as_bytes(), 0.001).unwrap();
        assert_eq!(
            strategy_json(&strategies.strategy("x")),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
        );
        assert_eq!(
            strategy_json(&strategies.strategy("bar")),
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#
        );
        assert_eq!(
            strategy_json(&strategies.strategy("foo")),
            concat!(
                r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8},"#,
                r#""operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0,"#,
                r#""perOperationStrategies":[{"operation":"op1","probabilisticSampling":{"samplingRate":0.2}}],"#,
                r#""defaultUpperBoundTracesPerSecond":0}}"#
            )
        );
        assert_eq!(
            legacy_strategy_json(&strategies.strategy("x")),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#
        );
    }

    #[tokio::test]
    async fn serves_http_and_grpc_and_reloads() {
        let dir = std::env::temp_dir().join(format!("spoor-sampling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("strategies.json");
        std::fs::write(&path, FILE).unwrap();
        let config: RemoteSamplingConfig = serde_json::from_value(serde_json::json!({
            "file": {"path": path.to_str().unwrap(), "reload_interval": "50ms"},
            "http": {"endpoint": "127.0.0.1:0"},
            "grpc": {"endpoint": "127.0.0.1:0"},
        }))
        .unwrap();
        let mut extension = RemoteSamplingExtension::new("remote_sampling", Validated::new(config).unwrap()).unwrap();
        extension.start().await.unwrap();
        let addrs = extension.local_addrs();
        let http = addrs.http.unwrap();
        let get = |path: String| async move {
            let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            stream.read_to_string(&mut out).await.unwrap();
            out
        };
        let response = get("/sampling?service=bar".to_owned()).await;
        assert!(
            response.ends_with(r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#),
            "{response}"
        );
        assert!(get("/api/sampling?service=foo".to_owned()).await.contains(r#""samplingRate":0.8"#));
        assert!(
            get("/?service=zzz".to_owned())
                .await
                .ends_with(r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#)
        );
        assert!(get("/sampling".to_owned()).await.starts_with("HTTP/1.1 400"));

        let mut client = SamplingManagerClient::connect(format!("http://{}", addrs.grpc.unwrap())).await.unwrap();
        let response = client
            .get_sampling_strategy(SamplingStrategyParameters { service_name: "foo".to_owned() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.probabilistic_sampling.unwrap().sampling_rate, 0.8);

        std::fs::write(&path, r#"{"default_strategy": {"type": "probabilistic", "param": 0.25}}"#).unwrap();
        let provider = extension.provider();
        let mut reloaded = false;
        for _ in 0..100 {
            if provider.strategy("x").probabilistic_sampling.unwrap().sampling_rate == 0.25 {
                reloaded = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(reloaded, "the file was reloaded");
        extension.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_errors() {
        let adaptive: RemoteSamplingConfig = serde_json::from_str(r#"{"adaptive": {}}"#).unwrap();
        assert_eq!(adaptive.validate().unwrap_err().path, "adaptive");
        let none: RemoteSamplingConfig = serde_json::from_str(r#"{}"#).unwrap();
        assert!(none.validate().is_err());
        let ok: RemoteSamplingConfig = serde_json::from_str(r#"{"file": null}"#).unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.http.unwrap().server.endpoint_or(DEFAULT_HTTP_ENDPOINT), "localhost:5778");
        assert_eq!(ok.grpc.unwrap(), GrpcServerSettings::default());
        assert!(serde_json::from_str::<RemoteSamplingConfig>(r#"{"file": {"pth": "x"}}"#).is_err());
        assert!(serde_json::from_str::<RemoteSamplingConfig>(r#"{"file": null, "grpc": {"tls": {"x": 1}}}"#).is_err());
        let problem = |json: &str| serde_json::from_str::<RemoteSamplingConfig>(json).unwrap().validate().unwrap_err();
        assert_eq!(problem(r#"{"file": null, "http": {"endpont": "x:1"}}"#).path, "http.endpont");
        assert_eq!(
            problem(r#"{"file": null, "http": {"compression_algorithms": ["gzip"]}}"#).path,
            "http.compression_algorithms"
        );
        assert_eq!(problem(r#"{"file": null, "grpc": {"endpoint": "nope"}}"#).path, "grpc.endpoint");
    }
}
