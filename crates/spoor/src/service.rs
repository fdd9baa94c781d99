//! The service lifecycle: build the pipelines from validated components, start them
//! (exporters first, receivers last), and on SIGTERM or SIGINT stop them in the reverse order
//! so that everything acknowledged is flushed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spoor_config::{ComponentId, Config};
use spoor_pipeline::exporters::debug::DebugExporter;
use spoor_pipeline::exporters::nop::NopExporter;
use spoor_pipeline::extensions::health_check::{self, Readiness};
use spoor_pipeline::fanout::{ExporterFanOut, PipelineFanOut};
use spoor_pipeline::net::HttpServer;
use spoor_pipeline::processors::batch::BatchProcessor;
use spoor_pipeline::processors::memory_limiter::MemoryLimiter;
use spoor_pipeline::queue::QueuedExporter;
use spoor_pipeline::receiver::NopReceiver;
use spoor_otlp::exporter::{OtlpGrpcExporter, OtlpHttpExporter};
use spoor_otlp::receiver::OtlpReceiver;
use spoor_jaeger::receiver::{JaegerReceiver, ZipkinReceiver};
use spoor_jaeger::sampling::{RemoteSamplingExtension, StrategyProvider};
use spoor_pipeline::{Exporter, Receiver, Telemetry, TracesConsumer};

use crate::components::{Components, ExporterConfig, ExtensionConfig, ProcessorConfig, ReceiverConfig};

/// How long shutdown may spend delivering what is queued, within Kubernetes' default 30 s
/// grace period.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// A running service, held until shutdown.
struct Running {
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
    /// In pipeline order, so that each flushes into a processor that still runs.
    batchers: Vec<Arc<BatchProcessor>>,
    exporters: Vec<Arc<QueuedExporter>>,
    servers: Vec<HttpServer>,
    sampling: Vec<RemoteSamplingExtension>,
    readiness: Readiness,
}

pub async fn run(config: Config, components: Components) -> anyhow::Result<()> {
    let telemetry = Telemetry::new();
    let running = start(&config, components, &telemetry).await?;
    wait_for_signal().await;
    shutdown(running).await;
    Ok(())
}

async fn start(config: &Config, mut components: Components, telemetry: &Telemetry) -> anyhow::Result<Running> {
    let readiness = Readiness::default();
    let mut servers = Vec::new();
    let mut sampling: Vec<RemoteSamplingExtension> = Vec::new();
    if let Some(address) = config.service.telemetry.metrics.prometheus_address() {
        let server = start_metrics(&address, telemetry.clone()).await.with_context(|| format!("cannot serve metrics on {address}"))?;
        tracing::info!(endpoint = %server.local_addr, "serving self-metrics on /metrics");
        servers.push(server);
    }
    for id in &config.service.extensions {
        match components.extensions.remove(id) {
            Some(ExtensionConfig::HealthCheck(health)) => {
                let endpoint = health.endpoint.clone();
                let server = health_check::start(health, readiness.clone()).await.with_context(|| format!("extension {id}: cannot listen on {endpoint}"))?;
                tracing::info!(extension = %id, endpoint = %server.local_addr, "health check listening");
                servers.push(server);
            }
            Some(ExtensionConfig::RemoteSampling(remote)) => {
                let mut extension = RemoteSamplingExtension::new(id.to_string(), *remote).map_err(anyhow::Error::msg)?;
                extension.start().await.map_err(anyhow::Error::msg)?;
                sampling.push(extension);
            }
            None => anyhow::bail!("extension {id} is not configured"),
        }
    }

    let used_exporters: Vec<&ComponentId> = config.trace_pipelines().flat_map(|(_, p)| &p.exporters).collect();
    let mut exporters = BTreeMap::new();
    for id in used_exporters {
        if exporters.contains_key(id) {
            continue;
        }
        let exporter_config = components.exporters.remove(id).with_context(|| format!("exporter {id} is not configured"))?;
        let (queue, retry) = exporter_config.delivery();
        let exporter = build_exporter(id, exporter_config)?;
        let queued = QueuedExporter::new(id.to_string(), exporter, &queue, retry, telemetry.exporter(&id.to_string()));
        exporters.insert(id.clone(), Arc::new(queued));
    }

    let mut batchers = Vec::new();
    let mut receiver_targets: BTreeMap<ComponentId, Vec<Arc<dyn TracesConsumer>>> = BTreeMap::new();
    for (pipeline_id, pipeline) in config.trace_pipelines() {
        let fan_out = pipeline.exporters.iter().filter_map(|id| exporters.get(id).cloned()).collect();
        let mut next: Arc<dyn TracesConsumer> = Arc::new(ExporterFanOut::new(fan_out));
        let mut pipeline_batchers = Vec::new();
        for id in pipeline.processors.iter().rev() {
            let processor = components.processors.get(id).with_context(|| format!("processor {id} is not configured"))?;
            let name = id.to_string();
            let metrics = telemetry.processor(&name);
            next = match processor {
                ProcessorConfig::Batch(batch) => {
                    let batcher = Arc::new(BatchProcessor::new(name.clone(), batch.clone(), next, metrics, telemetry.batch_send_size(&name)));
                    pipeline_batchers.push(batcher.clone());
                    batcher
                }
                ProcessorConfig::MemoryLimiter { config, limits } => Arc::new(MemoryLimiter::new(*limits, config.check_interval, next, metrics)),
            };
        }
        pipeline_batchers.reverse();
        batchers.extend(pipeline_batchers);
        tracing::debug!(pipeline = %pipeline_id, "pipeline built");
        for id in &pipeline.receivers {
            receiver_targets.entry(id.clone()).or_default().push(next.clone());
        }
    }

    let mut receivers = Vec::new();
    for (id, targets) in receiver_targets {
        let receiver_config = components.receivers.remove(&id).with_context(|| format!("receiver {id} is not configured"))?;
        let next: Arc<dyn TracesConsumer> = match targets.len() {
            1 => targets.into_iter().next().context("receiver without pipeline")?,
            _ => Arc::new(PipelineFanOut::new(targets)),
        };
        let strategies = sampling.first().map(RemoteSamplingExtension::provider);
        let mut receiver = build_receiver(&id, receiver_config, telemetry, strategies)?;
        receiver.start(next).await.with_context(|| format!("receiver {id} failed to start"))?;
        receivers.push((id, receiver));
    }

    readiness.set_ready(true);
    tracing::info!("everything is ready; begin running and processing data");
    Ok(Running { receivers, batchers, exporters: exporters.into_values().collect(), servers, sampling, readiness })
}

fn build_exporter(id: &ComponentId, config: ExporterConfig) -> anyhow::Result<Arc<dyn Exporter>> {
    let name = id.to_string();
    Ok(match config {
        ExporterConfig::Debug(debug) => {
            Arc::new(DebugExporter::new(name, &debug).map_err(|err| anyhow::anyhow!("exporter {id}: {err}"))?)
        }
        ExporterConfig::Nop => Arc::new(NopExporter),
        ExporterConfig::OtlpGrpc(grpc) => {
            Arc::new(OtlpGrpcExporter::new(name, &grpc).with_context(|| format!("exporter {id}"))?)
        }
        ExporterConfig::OtlpHttp(http) => {
            Arc::new(OtlpHttpExporter::new(name, &http).with_context(|| format!("exporter {id}"))?)
        }
    })
}

fn build_receiver(
    id: &ComponentId,
    config: ReceiverConfig,
    telemetry: &Telemetry,
    sampling: Option<StrategyProvider>,
) -> anyhow::Result<Box<dyn Receiver>> {
    Ok(match config {
        ReceiverConfig::Otlp(otlp) => Box::new(
            OtlpReceiver::new(id.to_string(), *otlp, telemetry.clone()).with_context(|| format!("receiver {id}"))?,
        ),
        ReceiverConfig::Jaeger(jaeger) => {
            let mut receiver = JaegerReceiver::new(id.to_string(), *jaeger, telemetry.clone()).with_context(|| format!("receiver {id}"))?;
            if let Some(provider) = sampling {
                receiver.set_sampling(provider);
            }
            Box::new(receiver)
        }
        ReceiverConfig::Zipkin(zipkin) => {
            Box::new(ZipkinReceiver::new(id.to_string(), *zipkin, telemetry.clone()).with_context(|| format!("receiver {id}"))?)
        }
        ReceiverConfig::Nop => Box::new(NopReceiver),
    })
}

async fn start_metrics(address: &str, telemetry: Telemetry) -> std::io::Result<HttpServer> {
    let handler = move || {
        let body = telemetry.encode();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body) }
    };
    HttpServer::start(address, axum::Router::new().route("/metrics", axum::routing::get(handler))).await
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

async fn shutdown(mut running: Running) {
    running.readiness.set_ready(false);
    for (id, receiver) in &mut running.receivers {
        receiver.shutdown().await;
        tracing::debug!(receiver = %id, "receiver stopped");
    }
    for batcher in &running.batchers {
        batcher.shutdown().await;
    }
    let drains = running.exporters.iter().map(|exporter| async move {
        let lost = exporter.shutdown(SHUTDOWN_TIMEOUT).await;
        if lost > 0 {
            tracing::error!(exporter = exporter.name(), spans = lost, "acknowledged spans could not be delivered before the shutdown deadline");
        }
        lost
    });
    let lost: u64 = futures::future::join_all(drains).await.into_iter().sum();
    for server in &mut running.servers {
        server.shutdown().await;
    }
    for extension in &mut running.sampling {
        extension.shutdown().await;
    }
    tracing::info!(undelivered_spans = lost, "shutdown complete");
}
