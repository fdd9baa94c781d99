//! The embedded store's self-metrics, served with the collector's on the metrics port (`:8888`):
//! spans and bytes written, head and WAL bytes, blocks and bytes on disk, cut and compaction
//! durations and failures, quarantined blocks, placed (clamped) and rejected spans, and the
//! disk-full state. Every series carries `backend` (the `jaeger_storage` backend's name) and
//! `tenant` (empty for the default tenant).
//!
//! [`StoreMetricFamilies`] are registered once per process in the [`Telemetry`] registry;
//! [`StoreMetrics`] are one store's handles into them. A store opened without telemetry (tests,
//! tools) gets [`StoreMetrics::default`], whose series are kept but exposed nowhere.

use std::path::Path;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use spoor_pipeline::Telemetry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    backend: String,
    tenant: String,
}

type DurationFamily = Family<StoreLabels, Histogram, fn() -> Histogram>;

/// Seconds, from a 1 ms cut of a small head to a few minutes of compaction.
fn duration_histogram() -> Histogram {
    Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0])
}

/// The series of every embedded store in the process, by backend and tenant.
#[derive(Clone)]
pub struct StoreMetricFamilies {
    spans_written: Family<StoreLabels, Counter>,
    bytes_written: Family<StoreLabels, Counter>,
    head_bytes: Family<StoreLabels, Gauge>,
    wal_bytes: Family<StoreLabels, Gauge>,
    blocks: Family<StoreLabels, Gauge>,
    block_bytes: Family<StoreLabels, Gauge>,
    cut_duration: DurationFamily,
    cut_failures: Family<StoreLabels, Counter>,
    compaction_duration: DurationFamily,
    compaction_failures: Family<StoreLabels, Counter>,
    quarantined_blocks: Family<StoreLabels, Gauge>,
    placed_spans: Family<StoreLabels, Counter>,
    rejected_spans: Family<StoreLabels, Counter>,
    disk_full: Family<StoreLabels, Gauge>,
}

impl Default for StoreMetricFamilies {
    fn default() -> Self {
        Self {
            spans_written: Family::default(),
            bytes_written: Family::default(),
            head_bytes: Family::default(),
            wal_bytes: Family::default(),
            blocks: Family::default(),
            block_bytes: Family::default(),
            cut_duration: Family::new_with_constructor(duration_histogram),
            cut_failures: Family::default(),
            compaction_duration: Family::new_with_constructor(duration_histogram),
            compaction_failures: Family::default(),
            quarantined_blocks: Family::default(),
            placed_spans: Family::default(),
            rejected_spans: Family::default(),
            disk_full: Family::default(),
        }
    }
}

impl StoreMetricFamilies {
    /// The families in `telemetry`'s registry, registered by the first caller.
    pub fn registered(telemetry: &Telemetry) -> Self {
        telemetry.register_once("spoor_store", |registry| {
            let families = Self::default();
            families.register(registry);
            families
        })
    }

    fn register(&self, r: &mut Registry) {
        r.register("spoor_store_spans_written", "Spans written to the store's WAL", self.spans_written.clone());
        r.register(
            "spoor_store_bytes_written",
            "Bytes of WAL records written (the received spans, framed)",
            self.bytes_written.clone(),
        );
        r.register(
            "spoor_store_head_bytes",
            "Bytes of spans held in memory, not yet in a block",
            self.head_bytes.clone(),
        );
        r.register("spoor_store_wal_bytes", "Bytes of the WAL segments on disk", self.wal_bytes.clone());
        r.register("spoor_store_blocks", "Blocks the store reads", self.blocks.clone());
        r.register("spoor_store_block_bytes", "Bytes of the blocks' Parquet files", self.block_bytes.clone());
        r.register(
            "spoor_store_cut_duration_seconds",
            "Time to cut the heads in memory into blocks",
            self.cut_duration.clone(),
        );
        r.register("spoor_store_cut_failures", "Cuts that failed (retried)", self.cut_failures.clone());
        r.register(
            "spoor_store_compaction_duration_seconds",
            "Time of a compaction pass that merged blocks",
            self.compaction_duration.clone(),
        );
        r.register(
            "spoor_store_compaction_failures",
            "Compaction passes that failed",
            self.compaction_failures.clone(),
        );
        r.register(
            "spoor_store_quarantined_blocks",
            "Damaged blocks moved to quarantine/ since the store opened",
            self.quarantined_blocks.clone(),
        );
        r.register(
            "spoor_store_placed_spans",
            "Spans whose start time lay outside [now - ttl, now + max_future], placed by ingestion time",
            self.placed_spans.clone(),
        );
        r.register("spoor_store_rejected_spans", "Spans the store refused to write", self.rejected_spans.clone());
        r.register(
            "spoor_store_disk_full",
            "1 while writes are refused for lack of disk space",
            self.disk_full.clone(),
        );
    }

    /// The handles of one store: the backend `backend`, tenant `tenant` (empty: the default).
    pub fn store(&self, backend: &str, tenant: &str) -> StoreMetrics {
        let labels = StoreLabels { backend: backend.to_owned(), tenant: tenant.to_owned() };
        StoreMetrics {
            spans_written: self.spans_written.get_or_create(&labels).clone(),
            bytes_written: self.bytes_written.get_or_create(&labels).clone(),
            head_bytes: self.head_bytes.get_or_create(&labels).clone(),
            wal_bytes: self.wal_bytes.get_or_create(&labels).clone(),
            blocks: self.blocks.get_or_create(&labels).clone(),
            block_bytes: self.block_bytes.get_or_create(&labels).clone(),
            cut_duration: self.cut_duration.get_or_create(&labels).clone(),
            cut_failures: self.cut_failures.get_or_create(&labels).clone(),
            compaction_duration: self.compaction_duration.get_or_create(&labels).clone(),
            compaction_failures: self.compaction_failures.get_or_create(&labels).clone(),
            quarantined_blocks: self.quarantined_blocks.get_or_create(&labels).clone(),
            placed_spans: self.placed_spans.get_or_create(&labels).clone(),
            rejected_spans: self.rejected_spans.get_or_create(&labels).clone(),
            disk_full: self.disk_full.get_or_create(&labels).clone(),
        }
    }
}

/// One store's metrics. Cheap to clone; clones share the series.
#[derive(Clone)]
pub struct StoreMetrics {
    pub spans_written: Counter,
    pub bytes_written: Counter,
    pub head_bytes: Gauge,
    pub wal_bytes: Gauge,
    pub blocks: Gauge,
    pub block_bytes: Gauge,
    pub cut_duration: Histogram,
    pub cut_failures: Counter,
    pub compaction_duration: Histogram,
    pub compaction_failures: Counter,
    pub quarantined_blocks: Gauge,
    pub placed_spans: Counter,
    pub rejected_spans: Counter,
    pub disk_full: Gauge,
}

impl Default for StoreMetrics {
    /// Series exposed nowhere, for a store opened without telemetry.
    fn default() -> Self {
        StoreMetricFamilies::default().store("", "")
    }
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl StoreMetrics {
    /// A write of `spans` spans in a WAL record of `bytes` bytes, of which `placed` were
    /// placed by their arrival time (see `placement`); the heads now hold `head_bytes`.
    pub fn written(&self, spans: usize, bytes: usize, placed: u64, head_bytes: usize) {
        self.spans_written.inc_by(spans as u64);
        self.bytes_written.inc_by(bytes as u64);
        self.placed_spans.inc_by(placed);
        self.head_bytes.set(gauge_value(head_bytes as u64));
        self.wal_bytes.inc_by(gauge_value(bytes as u64));
    }

    /// The outcome of a cut (or compaction pass) that took `took`.
    pub fn cut<T, E>(&self, took: Duration, result: &Result<T, E>) {
        Self::timed(&self.cut_duration, &self.cut_failures, took, result);
    }

    pub fn compaction<T, E>(&self, took: Duration, result: &Result<T, E>) {
        Self::timed(&self.compaction_duration, &self.compaction_failures, took, result);
    }

    fn timed<T, E>(duration: &Histogram, failures: &Counter, took: Duration, result: &Result<T, E>) {
        match result {
            Ok(_) => duration.observe(took.as_secs_f64()),
            Err(_) => {
                failures.inc();
            }
        }
    }

    /// The sizes now: the blocks' count and bytes, the WAL's bytes under `wal_dir`, and the
    /// bytes the heads hold in memory.
    pub fn sizes(&self, blocks: usize, block_bytes: u64, wal_dir: &Path, head_bytes: usize) {
        self.blocks.set(gauge_value(blocks as u64));
        self.block_bytes.set(gauge_value(block_bytes));
        self.wal_bytes.set(gauge_value(dir_bytes(wal_dir)));
        self.head_bytes.set(gauge_value(head_bytes as u64));
    }
}

/// The bytes of the files directly in `dir` (0 when it cannot be read).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|metadata| metadata.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_share_the_families_and_keep_their_labels() {
        let telemetry = Telemetry::new();
        let main = StoreMetricFamilies::registered(&telemetry).store("main", "");
        let tenant = StoreMetricFamilies::registered(&telemetry).store("main", "acme");
        main.written(3, 120, 1, 500);
        tenant.written(2, 80, 0, 80);
        main.cut(Duration::from_millis(20), &Ok::<(), ()>(()));
        tenant.compaction(Duration::from_millis(20), &Err::<(), ()>(()));
        let text = telemetry.encode();
        for line in [
            "spoor_store_spans_written_total{backend=\"main\",tenant=\"\"} 3",
            "spoor_store_spans_written_total{backend=\"main\",tenant=\"acme\"} 2",
            "spoor_store_bytes_written_total{backend=\"main\",tenant=\"\"} 120",
            "spoor_store_head_bytes{backend=\"main\",tenant=\"acme\"} 80",
            "spoor_store_placed_spans_total{backend=\"main\",tenant=\"\"} 1",
            "spoor_store_cut_duration_seconds_count{backend=\"main\",tenant=\"\"} 1",
            "spoor_store_compaction_failures_total{backend=\"main\",tenant=\"acme\"} 1",
            "spoor_store_disk_full{backend=\"main\",tenant=\"\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert_eq!(text.matches("# TYPE spoor_store_blocks gauge").count(), 1, "{text}");
    }

    #[test]
    fn sizes_read_the_wal_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.wal"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let metrics = StoreMetrics::default();
        metrics.written(1, 40, 0, 300);
        metrics.sizes(2, 5000, dir.path(), 0);
        assert_eq!((metrics.blocks.get(), metrics.block_bytes.get()), (2, 5000));
        assert_eq!((metrics.wal_bytes.get(), metrics.head_bytes.get()), (100, 0));
    }
}
