//! Self-metrics under the collector's names, as its Prometheus endpoint shows them: counters
//! get `_total`, and series carry `receiver`/`transport`, `exporter`/`data_type` or
//! `processor`/`otel_signal` labels.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::processors::memory;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabels {
    receiver: String,
    transport: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExporterLabels {
    exporter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    exporter: String,
    data_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessorSignalLabels {
    processor: String,
    otel_signal: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessorLabels {
    processor: String,
}

type BatchSizeFamily = Family<ProcessorLabels, Histogram, fn() -> Histogram>;

/// The counters one exporter reports.
#[derive(Clone, Default)]
pub struct ExporterMetrics {
    pub sent: Counter,
    pub send_failed: Counter,
    pub enqueue_failed: Counter,
    pub queue_size: Gauge,
    pub queue_capacity: Gauge,
}

/// The counters one processor instance reports.
#[derive(Clone, Default)]
pub struct ProcessorMetrics {
    pub incoming: Counter,
    pub outgoing: Counter,
}

/// All self-metrics of one process. Cheap to clone; clones share the series.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    /// Metrics other crates registered, by key (`register_once`).
    registered: Mutex<HashMap<&'static str, Box<dyn Any + Send + Sync>>>,
    receiver_accepted: Family<ReceiverLabels, Counter>,
    receiver_refused: Family<ReceiverLabels, Counter>,
    exporter_sent: Family<ExporterLabels, Counter>,
    exporter_send_failed: Family<ExporterLabels, Counter>,
    exporter_enqueue_failed: Family<ExporterLabels, Counter>,
    exporter_queue_size: Family<QueueLabels, Gauge>,
    exporter_queue_capacity: Family<QueueLabels, Gauge>,
    processor_incoming: Family<ProcessorSignalLabels, Counter>,
    processor_outgoing: Family<ProcessorSignalLabels, Counter>,
    batch_send_size: BatchSizeFamily,
    memory_rss: Gauge,
    uptime: Counter<f64, AtomicU64>,
    started: Instant,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let receiver_accepted = Family::default();
        let receiver_refused = Family::default();
        let exporter_sent = Family::default();
        let exporter_send_failed = Family::default();
        let exporter_enqueue_failed = Family::default();
        let exporter_queue_size = Family::default();
        let exporter_queue_capacity = Family::default();
        let processor_incoming = Family::default();
        let processor_outgoing = Family::default();
        let batch_send_size: BatchSizeFamily = Family::new_with_constructor(|| {
            Histogram::new([
                10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0,
                7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0,
            ])
        });
        let memory_rss = Gauge::default();
        let uptime = Counter::<f64, AtomicU64>::default();

        let r = &mut registry;
        r.register(
            "otelcol_receiver_accepted_spans",
            "Number of spans successfully pushed into the pipeline",
            receiver_accepted.clone(),
        );
        r.register(
            "otelcol_receiver_refused_spans",
            "Number of spans that could not be pushed into the pipeline",
            receiver_refused.clone(),
        );
        r.register(
            "otelcol_exporter_sent_spans",
            "Number of spans successfully sent to destination",
            exporter_sent.clone(),
        );
        r.register(
            "otelcol_exporter_send_failed_spans",
            "Number of spans in failed attempts to send to destination",
            exporter_send_failed.clone(),
        );
        r.register(
            "otelcol_exporter_enqueue_failed_spans",
            "Number of spans failed to be added to the sending queue",
            exporter_enqueue_failed.clone(),
        );
        r.register(
            "otelcol_exporter_queue_size",
            "Current size of the retry queue (in batches)",
            exporter_queue_size.clone(),
        );
        r.register(
            "otelcol_exporter_queue_capacity",
            "Fixed capacity of the retry queue (in batches)",
            exporter_queue_capacity.clone(),
        );
        r.register(
            "otelcol_processor_incoming_items",
            "Number of items passed to the processor",
            processor_incoming.clone(),
        );
        r.register(
            "otelcol_processor_outgoing_items",
            "Number of items emitted from the processor",
            processor_outgoing.clone(),
        );
        r.register("otelcol_processor_batch_batch_send_size", "Number of units in the batch", batch_send_size.clone());
        r.register(
            "otelcol_process_memory_rss",
            "Total physical memory (resident set size) [bytes]",
            memory_rss.clone(),
        );
        r.register("otelcol_process_uptime", "Uptime of the process [seconds]", uptime.clone());

        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                registered: Mutex::default(),
                receiver_accepted,
                receiver_refused,
                exporter_sent,
                exporter_send_failed,
                exporter_enqueue_failed,
                exporter_queue_size,
                exporter_queue_capacity,
                processor_incoming,
                processor_outgoing,
                batch_send_size,
                memory_rss,
                uptime,
                started: Instant::now(),
            }),
        }
    }

    /// `(accepted, refused)` span counters for one receiver transport.
    pub fn receiver_counters(&self, receiver: &str, transport: &str) -> (Counter, Counter) {
        let labels = ReceiverLabels { receiver: receiver.to_owned(), transport: transport.to_owned() };
        (
            self.inner.receiver_accepted.get_or_create(&labels).clone(),
            self.inner.receiver_refused.get_or_create(&labels).clone(),
        )
    }

    pub fn exporter(&self, exporter: &str) -> ExporterMetrics {
        let labels = ExporterLabels { exporter: exporter.to_owned() };
        let queue = QueueLabels { exporter: exporter.to_owned(), data_type: "traces".to_owned() };
        ExporterMetrics {
            sent: self.inner.exporter_sent.get_or_create(&labels).clone(),
            send_failed: self.inner.exporter_send_failed.get_or_create(&labels).clone(),
            enqueue_failed: self.inner.exporter_enqueue_failed.get_or_create(&labels).clone(),
            queue_size: self.inner.exporter_queue_size.get_or_create(&queue).clone(),
            queue_capacity: self.inner.exporter_queue_capacity.get_or_create(&queue).clone(),
        }
    }

    pub fn processor(&self, processor: &str) -> ProcessorMetrics {
        let labels = ProcessorSignalLabels { processor: processor.to_owned(), otel_signal: "traces".to_owned() };
        ProcessorMetrics {
            incoming: self.inner.processor_incoming.get_or_create(&labels).clone(),
            outgoing: self.inner.processor_outgoing.get_or_create(&labels).clone(),
        }
    }

    pub fn batch_send_size(&self, processor: &str) -> Histogram {
        self.inner.batch_send_size.get_or_create(&ProcessorLabels { processor: processor.to_owned() }).clone()
    }

    /// Metrics another crate defines (the trace stores' own, say), registered once per
    /// `key`: the first call builds them into the registry with `make`, later calls get a
    /// clone of what it built (clones share the series).
    pub fn register_once<T: Clone + Send + Sync + 'static>(
        &self,
        key: &'static str,
        make: impl FnOnce(&mut Registry) -> T,
    ) -> T {
        let mut registered = self.inner.registered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = registered.get(key).and_then(|value| value.downcast_ref::<T>()) {
            return existing.clone();
        }
        let metrics = make(&mut self.inner.registry.lock().unwrap_or_else(|p| p.into_inner()));
        registered.insert(key, Box::new(metrics.clone()));
        metrics
    }

    /// The Prometheus text exposition, with the process metrics read now.
    pub fn encode(&self) -> String {
        let inner = &self.inner;
        inner.memory_rss.set(memory::rss_bytes().unwrap_or(0) as i64);
        let uptime = inner.started.elapsed().as_secs_f64();
        let delta = uptime - inner.uptime.get();
        if delta > 0.0 {
            inner.uptime.inc_by(delta);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &inner.registry.lock().unwrap_or_else(|p| p.into_inner()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_collector_names_with_total_suffix() {
        let telemetry = Telemetry::new();
        let (accepted, _) = telemetry.receiver_counters("otlp", "grpc");
        accepted.inc_by(5);
        telemetry.exporter("otlp").queue_capacity.set(1000);
        let text = telemetry.encode();
        assert!(
            text.contains("otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("otelcol_exporter_queue_capacity{exporter=\"otlp\",data_type=\"traces\"} 1000"),
            "{text}"
        );
        assert!(text.contains("otelcol_process_uptime_total"), "{text}");
        assert!(text.contains("otelcol_process_memory_rss "), "{text}");
    }

    #[test]
    fn register_once_shares_the_series_of_the_first_registration() {
        let telemetry = Telemetry::new();
        let make = |registry: &mut Registry| {
            let counter = Counter::<u64>::default();
            registry.register("spoor_test_things", "Things", counter.clone());
            counter
        };
        telemetry.register_once("things", make).inc();
        telemetry.register_once("things", make).inc_by(2);
        let text = telemetry.encode();
        assert!(text.contains("spoor_test_things_total 3"), "{text}");
        assert_eq!(text.matches("# TYPE spoor_test_things counter").count(), 1, "{text}");
    }
}
