//! The service lifecycle: start extensions and storage, build the pipelines from validated
//! components (exporters first, receivers last), and on SIGTERM or SIGINT stop them in the
//! reverse order, so that everything acknowledged is flushed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spoor_config::{ComponentId, Config, PipelineConfig};
use spoor_net::auth::Authenticators;
use spoor_net::{HttpServerSettings, Listener, Server};
use spoor_pipeline::component::{Acknowledge, BuildContext, Components, Extension, Processor, Provided};
use spoor_pipeline::extensions::health_check::{self, HealthCheckConfig, Readiness};
use spoor_pipeline::fanout::{ExporterFanOut, PipelineFanOut};
use spoor_pipeline::queue::QueuedExporter;
use spoor_pipeline::{Receiver, Telemetry, TracesConsumer};

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
    /// The self-metrics endpoints.
    servers: Vec<Server>,
    /// In start order; stopped in reverse, after the pipelines.
    extensions: Vec<(ComponentId, Box<dyn Extension>)>,
    /// What the started extensions offer the components built after them.
    provided: Provided,
    exporters: BTreeMap<ComponentId, Arc<QueuedExporter>>,
    /// When a pipeline that ends in each exporter may answer a request.
    acknowledgements: BTreeMap<ComponentId, Acknowledge>,
    /// In pipeline order, so that each flushes into a processor that still runs.
    processors: Vec<Arc<dyn Processor>>,
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
}

impl Service {
    fn new(telemetry: Telemetry) -> Self {
        Self {
            telemetry,
            readiness: Readiness::default(),
            authenticators: Authenticators::default(),
            servers: Vec::new(),
            extensions: Vec::new(),
            provided: Provided::default(),
            exporters: BTreeMap::new(),
            acknowledgements: BTreeMap::new(),
            processors: Vec::new(),
            receivers: Vec::new(),
        }
    }

    fn context<'a>(&'a self, id: &'a ComponentId) -> BuildContext<'a> {
        BuildContext {
            id,
            telemetry: &self.telemetry,
            readiness: &self.readiness,
            stores: &self.provided.stores,
            extensions: &self.provided.extensions,
            authenticators: &self.authenticators,
        }
    }

    async fn start(&mut self, config: &Config, mut components: Components) -> anyhow::Result<()> {
        self.build_authenticators(config, &components)?;
        self.start_metrics(config).await?;
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
    fn build_authenticators(&mut self, config: &Config, components: &Components) -> anyhow::Result<()> {
        for id in &config.service.extensions {
            let built = components.extensions.get(id).and_then(|extension| extension.authenticator());
            if let Some(built) = built {
                let authenticator = built.map_err(|problem| anyhow::anyhow!("extension {id}: {problem}"))?;
                self.authenticators.insert(id.to_string(), authenticator);
            }
        }
        Ok(())
    }

    /// Builds and starts the enabled extensions, those that open storage backends first, so
    /// that the others (the query service) find their store.
    async fn start_extensions(&mut self, config: &Config, components: &mut Components) -> anyhow::Result<()> {
        let opens_stores =
            |id: &ComponentId| components.extensions.get(id).is_some_and(|e| !e.stores_provided().is_empty());
        let (storage, others): (Vec<&ComponentId>, Vec<&ComponentId>) =
            config.service.extensions.iter().partition(|id| opens_stores(id));
        for id in storage.into_iter().chain(others) {
            let validated =
                components.extensions.remove(id).with_context(|| format!("extension {id} is not configured"))?;
            let mut extension = validated.build(&self.context(id)).with_context(|| format!("extension {id}"))?;
            extension.start().await.with_context(|| format!("extension {id}"))?;
            extension.provide(id, &mut self.provided);
            self.extensions.push((id.clone(), extension));
        }
        Ok(())
    }

    fn build_exporters(&mut self, config: &Config, components: &mut Components) -> anyhow::Result<()> {
        for (_, pipeline) in config.trace_pipelines() {
            for id in &pipeline.exporters {
                if self.exporters.contains_key(id) {
                    continue;
                }
                let validated =
                    components.exporters.remove(id).with_context(|| format!("exporter {id} is not configured"))?;
                let delivery = validated.delivery();
                let exporter = validated.build(&self.context(id)).with_context(|| format!("exporter {id}"))?;
                let metrics = self.telemetry.exporter(&id.to_string());
                let queued = QueuedExporter::new(id.to_string(), exporter, &delivery.queue, delivery.retry, metrics);
                self.exporters.insert(id.clone(), Arc::new(queued));
                self.acknowledgements.insert(id.clone(), delivery.acknowledge);
            }
        }
        Ok(())
    }

    /// Chains the pipeline's processors in front of its exporters; returns the head.
    fn build_pipeline(
        &mut self,
        pipeline: &PipelineConfig,
        components: &Components,
    ) -> anyhow::Result<Arc<dyn TracesConsumer>> {
        let fan_out = pipeline.exporters.iter().filter_map(|id| self.exporters.get(id).cloned()).collect();
        let mut next: Arc<dyn TracesConsumer> = Arc::new(ExporterFanOut::new(fan_out));
        // A pipeline answers a request when its most careful exporter allows: one that writes
        // to a store only once the write is durable.
        let after_export =
            pipeline.exporters.iter().any(|id| self.acknowledgements.get(id) == Some(&Acknowledge::AfterExport));
        let acknowledge = if after_export { Acknowledge::AfterExport } else { Acknowledge::OnReceipt };
        let mut processors = Vec::new();
        for id in pipeline.processors.iter().rev() {
            let validated =
                components.processors.get(id).with_context(|| format!("processor {id} is not configured"))?;
            let processor =
                validated.build(&self.context(id), next, acknowledge).with_context(|| format!("processor {id}"))?;
            processors.push(processor.clone());
            next = processor;
        }
        processors.reverse();
        self.processors.extend(processors);
        Ok(next)
    }

    async fn start_receivers(
        &mut self,
        targets: BTreeMap<ComponentId, Vec<Arc<dyn TracesConsumer>>>,
        components: &mut Components,
    ) -> anyhow::Result<()> {
        for (id, pipelines) in targets {
            let validated =
                components.receivers.remove(&id).with_context(|| format!("receiver {id} is not configured"))?;
            let next: Arc<dyn TracesConsumer> = match pipelines.len() {
                1 => pipelines.into_iter().next().context("receiver without pipeline")?,
                _ => Arc::new(PipelineFanOut::new(pipelines)),
            };
            let mut receiver = validated.build(&self.context(&id)).with_context(|| format!("receiver {id}"))?;
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
        for processor in &self.processors {
            lost += processor.shutdown().await;
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
        for (id, extension) in self.extensions.iter_mut().rev() {
            extension.shutdown().await;
            tracing::debug!(extension = %id, "extension stopped");
        }
        for server in &mut self.servers {
            server.shutdown().await;
        }
        tracing::info!(undelivered_spans = lost, "shutdown complete");
    }
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
