//! The service lifecycle: start extensions and storage, build the pipelines from validated
//! components (exporters first, receivers last), and on SIGTERM or SIGINT stop them in the
//! reverse order, so that everything acknowledged is flushed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spoor_config::{ComponentId, Config, PipelineConfig};
use spoor_jaeger::receiver::{JaegerReceiver, ZipkinReceiver};
use spoor_jaeger::sampling::{RemoteSamplingExtension, StrategyProvider};
use spoor_net::auth::Authenticators;
use spoor_net::{HttpServerSettings, Listener, Server};
use spoor_otlp::exporter::{OtlpGrpcExporter, OtlpHttpExporter};
use spoor_otlp::receiver::OtlpReceiver;
use spoor_pipeline::exporters::debug::DebugExporter;
use spoor_pipeline::exporters::nop::NopExporter;
use spoor_pipeline::extensions::health_check::{self, HealthCheckConfig, Readiness};
use spoor_pipeline::fanout::{ExporterFanOut, PipelineFanOut};
use spoor_pipeline::processors::batch::{Acknowledge, BatchProcessor};
use spoor_pipeline::processors::memory_limiter::MemoryLimiter;
use spoor_pipeline::queue::QueuedExporter;
use spoor_pipeline::receiver::NopReceiver;
use spoor_pipeline::{Exporter, Receiver, Telemetry, TracesConsumer};
use spoor_query::QueryServer;
use spoor_store::TenantStores;

use crate::components::{Components, ExporterConfig, ExtensionConfig, ProcessorConfig, ReceiverConfig};
use crate::storage::{self, StorageExporter};

/// How long shutdown may spend delivering what is queued, within Kubernetes' default 30 s
/// grace period.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);
/// The self-metrics port has no config of its own, so its header timeout is set here.
const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(config: Config, components: Components) -> anyhow::Result<()> {
    let mut service = Service::new(Telemetry::new());
    let started = service.start(&config, components).await;
    if let Err(err) = started {
        service.shutdown().await;
        return Err(err);
    }
    wait_for_signal().await;
    service.shutdown().await;
    Ok(())
}

/// Everything that runs, held until shutdown.
struct Service {
    telemetry: Telemetry,
    readiness: Readiness,
    /// The authenticator extensions, built before anything that listens or sends.
    authenticators: Authenticators,
    servers: Vec<Server>,
    sampling: Vec<RemoteSamplingExtension>,
    stores: BTreeMap<String, TenantStores>,
    query: Vec<QueryServer>,
    exporters: BTreeMap<ComponentId, Arc<QueuedExporter>>,
    /// In pipeline order, so that each flushes into a processor that still runs.
    batchers: Vec<Arc<BatchProcessor>>,
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
}

impl Service {
    fn new(telemetry: Telemetry) -> Self {
        Self {
            telemetry,
            readiness: Readiness::default(),
            authenticators: Authenticators::default(),
            servers: Vec::new(),
            sampling: Vec::new(),
            stores: BTreeMap::new(),
            query: Vec::new(),
            exporters: BTreeMap::new(),
            batchers: Vec::new(),
            receivers: Vec::new(),
        }
    }

    async fn start(&mut self, config: &Config, mut components: Components) -> anyhow::Result<()> {
        self.build_authenticators(config, &mut components)?;
        self.start_metrics(config).await?;
        self.open_stores(config, &components).await?;
        self.start_extensions(config, &mut components).await?;
        self.build_exporters(config, &mut components)?;
        let mut receiver_targets: BTreeMap<ComponentId, Vec<Arc<dyn TracesConsumer>>> = BTreeMap::new();
        for (_, pipeline) in config.trace_pipelines() {
            let head = self.build_pipeline(pipeline, &components)?;
            for id in &pipeline.receivers {
                receiver_targets.entry(id.clone()).or_default().push(head.clone());
            }
        }
        self.start_receivers(receiver_targets, &mut components).await?;
        self.readiness.set_ready(true);
        tracing::info!("everything is ready; begin running and processing data");
        Ok(())
    }

    /// Self-metrics on every Prometheus reader address, with the health check at `/` too, as
    /// Jaeger's admin port serves both.
    async fn start_metrics(&mut self, config: &Config) -> anyhow::Result<()> {
        for address in config.service.telemetry.metrics.prometheus_addresses() {
            let telemetry = self.telemetry.clone();
            let metrics = move || {
                let body = telemetry.encode();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                }
            };
            let router = axum::Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .merge(health_check::router(HealthCheckConfig::default(), self.readiness.clone()));
            // Prometheus sends its request head at once; a slow one is not a scraper.
            let settings = HttpServerSettings {
                read_header_timeout: Some(METRICS_HEADER_TIMEOUT),
                ..HttpServerSettings::at(&address)
            };
            let listener = Listener::http(&settings, &address, &self.authenticators)
                .await
                .with_context(|| format!("cannot serve metrics on {address}"))?;
            tracing::info!(endpoint = %listener.local_addr(), "serving self-metrics on /metrics and health on /");
            self.servers.push(listener.serve("metrics", router));
        }
        Ok(())
    }

    /// Builds every authenticator extension the service enables, so that listeners and
    /// exporters can resolve their `auth.authenticator`.
    fn build_authenticators(&mut self, config: &Config, components: &mut Components) -> anyhow::Result<()> {
        for id in &config.service.extensions {
            if let Some(ExtensionConfig::Authenticator(authenticator)) = components.extensions.get(id) {
                let built = authenticator.build().map_err(|problem| anyhow::anyhow!("extension {id}: {problem}"))?;
                self.authenticators.insert(id.to_string(), built);
            }
        }
        Ok(())
    }

    /// Opens the storage backends of the `jaeger_storage` extensions the service enables.
    async fn open_stores(&mut self, config: &Config, components: &Components) -> anyhow::Result<()> {
        for id in &config.service.extensions {
            let Some(ExtensionConfig::JaegerStorage(extension)) = components.extensions.get(id) else { continue };
            for (name, backend) in &extension.backends {
                let store =
                    storage::open(name, backend).await.with_context(|| format!("extension {id}: backend {name}"))?;
                self.stores.insert(name.clone(), store);
            }
        }
        Ok(())
    }

    fn store(&self, name: &str) -> anyhow::Result<TenantStores> {
        self.stores.get(name).cloned().with_context(|| {
            format!("storage backend {name:?} is not open: add its jaeger_storage extension to service.extensions")
        })
    }

    async fn start_extensions(&mut self, config: &Config, components: &mut Components) -> anyhow::Result<()> {
        for id in &config.service.extensions {
            match components.extensions.remove(id) {
                Some(ExtensionConfig::JaegerStorage(_) | ExtensionConfig::Authenticator(_)) => {}
                Some(ExtensionConfig::HealthCheck(health)) => {
                    let server = health_check::start(health, self.readiness.clone(), &self.authenticators)
                        .await
                        .with_context(|| format!("extension {id}"))?;
                    tracing::info!(extension = %id, endpoint = %server.local_addr(), "health check listening");
                    self.servers.push(server);
                }
                Some(ExtensionConfig::RemoteSampling(remote)) => {
                    let mut extension = RemoteSamplingExtension::new(id.to_string(), *remote)
                        .map_err(anyhow::Error::msg)?
                        .with_authenticators(self.authenticators.clone());
                    extension.start().await.map_err(anyhow::Error::msg).with_context(|| format!("extension {id}"))?;
                    self.sampling.push(extension);
                }
                Some(ExtensionConfig::JaegerQuery(query)) => {
                    let store = self.store(&query.storage.traces)?;
                    let mut server = QueryServer::new(*query, store).with_authenticators(self.authenticators.clone());
                    server.start().await.with_context(|| format!("extension {id}"))?;
                    if let Some(http) = server.http_addr() {
                        tracing::info!("open http://{http}/ for the UI and the Jaeger API");
                    }
                    self.query.push(server);
                }
                None => anyhow::bail!("extension {id} is not configured"),
            }
        }
        Ok(())
    }

    fn build_exporters(&mut self, config: &Config, components: &mut Components) -> anyhow::Result<()> {
        for (_, pipeline) in config.trace_pipelines() {
            for id in &pipeline.exporters {
                if self.exporters.contains_key(id) {
                    continue;
                }
                let exporter_config =
                    components.exporters.remove(id).with_context(|| format!("exporter {id} is not configured"))?;
                let (queue, retry) = exporter_config.delivery();
                let exporter = self.build_exporter(id, exporter_config)?;
                let metrics = self.telemetry.exporter(&id.to_string());
                let queued = QueuedExporter::new(id.to_string(), exporter, &queue, retry, metrics);
                self.exporters.insert(id.clone(), Arc::new(queued));
            }
        }
        Ok(())
    }

    fn build_exporter(&self, id: &ComponentId, config: ExporterConfig) -> anyhow::Result<Arc<dyn Exporter>> {
        let name = id.to_string();
        Ok(match config {
            ExporterConfig::Debug(debug) => {
                Arc::new(DebugExporter::new(name, &debug).map_err(|err| anyhow::anyhow!("exporter {id}: {err}"))?)
            }
            ExporterConfig::Nop => Arc::new(NopExporter),
            ExporterConfig::OtlpGrpc(grpc) => Arc::new(
                OtlpGrpcExporter::new(name, &grpc)
                    .and_then(|exporter| exporter.with_authenticators(self.authenticators.clone()))
                    .with_context(|| format!("exporter {id}"))?,
            ),
            ExporterConfig::OtlpHttp(http) => Arc::new(
                OtlpHttpExporter::new(name, &http)
                    .and_then(|exporter| exporter.with_authenticators(self.authenticators.clone()))
                    .with_context(|| format!("exporter {id}"))?,
            ),
            ExporterConfig::JaegerStorage(exporter) => {
                let tenancy = exporter.validate().map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
                Arc::new(StorageExporter::new(self.store(&exporter.trace_storage)?, tenancy))
            }
        })
    }

    /// Chains the pipeline's processors in front of its exporters; returns the head.
    fn build_pipeline(
        &mut self,
        pipeline: &PipelineConfig,
        components: &Components,
    ) -> anyhow::Result<Arc<dyn TracesConsumer>> {
        let fan_out = pipeline.exporters.iter().filter_map(|id| self.exporters.get(id).cloned()).collect();
        let mut next: Arc<dyn TracesConsumer> = Arc::new(ExporterFanOut::new(fan_out));
        // A pipeline that writes into a store acknowledges what is stored: the WAL write, not
        // the batch processor's memory, is what a kill -9 cannot take back.
        let writes_to_store = pipeline.exporters.iter().any(|id| id.type_name() == "jaeger_storage_exporter");
        let acknowledge = if writes_to_store { Acknowledge::AfterExport } else { Acknowledge::OnReceipt };
        let mut batchers = Vec::new();
        for id in pipeline.processors.iter().rev() {
            let processor =
                components.processors.get(id).with_context(|| format!("processor {id} is not configured"))?;
            let name = id.to_string();
            let metrics = self.telemetry.processor(&name);
            next = match processor {
                ProcessorConfig::Batch(batch) => {
                    let send_size = self.telemetry.batch_send_size(&name);
                    let batcher =
                        Arc::new(BatchProcessor::new(name, batch.clone(), next, metrics, send_size, acknowledge));
                    batchers.push(batcher.clone());
                    batcher
                }
                ProcessorConfig::MemoryLimiter { config, limits } => {
                    Arc::new(MemoryLimiter::new(*limits, config.check_interval, next, metrics))
                }
            };
        }
        batchers.reverse();
        self.batchers.extend(batchers);
        Ok(next)
    }

    async fn start_receivers(
        &mut self,
        targets: BTreeMap<ComponentId, Vec<Arc<dyn TracesConsumer>>>,
        components: &mut Components,
    ) -> anyhow::Result<()> {
        for (id, pipelines) in targets {
            let receiver_config =
                components.receivers.remove(&id).with_context(|| format!("receiver {id} is not configured"))?;
            let next: Arc<dyn TracesConsumer> = match pipelines.len() {
                1 => pipelines.into_iter().next().context("receiver without pipeline")?,
                _ => Arc::new(PipelineFanOut::new(pipelines)),
            };
            let strategies = self.sampling.first().map(RemoteSamplingExtension::provider);
            let mut receiver = build_receiver(&id, receiver_config, &self.telemetry, strategies, &self.authenticators)?;
            receiver.start(next).await.with_context(|| format!("receiver {id} failed to start"))?;
            self.receivers.push((id, receiver));
        }
        Ok(())
    }

    async fn shutdown(mut self) {
        self.readiness.set_ready(false);
        for (id, receiver) in &mut self.receivers {
            receiver.shutdown().await;
            tracing::debug!(receiver = %id, "receiver stopped");
        }
        let mut lost = 0;
        for batcher in &self.batchers {
            lost += batcher.shutdown().await;
        }
        let drains = self.exporters.values().map(|exporter| async move {
            let lost = exporter.shutdown(SHUTDOWN_TIMEOUT).await;
            if lost > 0 {
                tracing::error!(
                    exporter = exporter.name(),
                    spans = lost,
                    "acknowledged spans could not be delivered during shutdown"
                );
            }
            lost
        });
        lost += futures::future::join_all(drains).await.into_iter().sum::<u64>();
        for query in &mut self.query {
            query.shutdown().await;
        }
        for (name, store) in &self.stores {
            if let Err(err) = store.close().await {
                tracing::error!(backend = %name, %err, "closing the trace storage failed");
            }
        }
        for extension in &mut self.sampling {
            extension.shutdown().await;
        }
        for server in &mut self.servers {
            server.shutdown().await;
        }
        tracing::info!(undelivered_spans = lost, "shutdown complete");
    }
}

fn build_receiver(
    id: &ComponentId,
    config: ReceiverConfig,
    telemetry: &Telemetry,
    sampling: Option<StrategyProvider>,
    authenticators: &Authenticators,
) -> anyhow::Result<Box<dyn Receiver>> {
    let name = id.to_string();
    let context = || format!("receiver {id}");
    Ok(match config {
        ReceiverConfig::Otlp(otlp) => {
            let receiver = OtlpReceiver::new(name, *otlp, telemetry.clone()).with_context(context)?;
            Box::new(receiver.with_authenticators(authenticators.clone()))
        }
        ReceiverConfig::Jaeger(jaeger) => {
            let mut receiver = JaegerReceiver::new(name, *jaeger, telemetry.clone())
                .with_context(context)?
                .with_authenticators(authenticators.clone());
            if let Some(provider) = sampling {
                receiver.set_sampling(provider);
            }
            Box::new(receiver)
        }
        ReceiverConfig::Zipkin(zipkin) => {
            let receiver = ZipkinReceiver::new(name, *zipkin, telemetry.clone()).with_context(context)?;
            Box::new(receiver.with_authenticators(authenticators.clone()))
        }
        ReceiverConfig::Nop => Box::new(NopReceiver),
    })
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("received SIGTERM, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, shutting down"),
    }
}
