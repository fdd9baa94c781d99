//! The sending queue's and the retry's tests, and exporters that fail on purpose for other
//! modules' tests.

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::batch::tests::sample_batch;
use crate::telemetry::Telemetry;

/// Fails the first `failures` attempts, then records what it gets.
pub(crate) struct Flaky {
    pub failures: AtomicUsize,
    pub permanent: bool,
    pub delivered: AtomicU64,
}

impl Flaky {
    /// Delivers everything.
    pub fn healthy() -> Arc<Self> {
        Arc::new(Self { failures: AtomicUsize::new(0), permanent: false, delivered: AtomicU64::new(0) })
    }

    /// Never delivers: a downstream that is down for good.
    pub fn down() -> Arc<Self> {
        Arc::new(Self { failures: AtomicUsize::new(usize::MAX), permanent: false, delivered: AtomicU64::new(0) })
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Exporter for Flaky {
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        let left = self.failures.load(Ordering::Relaxed);
        if left > 0 {
            self.failures.store(left - 1, Ordering::Relaxed);
            if self.permanent {
                return Err(ExportError::Permanent("bad data".into()));
            }
            return Err(ExportError::retryable("connection refused"));
        }
        self.delivered.fetch_add(batch.span_count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

pub(crate) fn fast_retry() -> RetrySettings {
    RetrySettings {
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
        max_elapsed_time: Duration::from_secs(5),
        ..Default::default()
    }
}

fn queued(exporter: Arc<Flaky>, retry: RetrySettings) -> (QueuedExporter, ExporterMetrics) {
    let metrics = Telemetry::new().exporter("test");
    let queue = QueueSettings { num_consumers: 2, queue_size: 4, ..Default::default() };
    (QueuedExporter::new("test".into(), exporter, &queue, retry, metrics.clone()), metrics)
}

#[tokio::test]
async fn retries_until_delivered() {
    let flaky = Arc::new(Flaky { failures: AtomicUsize::new(3), permanent: false, delivered: AtomicU64::new(0) });
    let (exporter, metrics) = queued(flaky.clone(), fast_retry());
    exporter.enqueue(Arc::new(sample_batch(1, 10))).await.unwrap();
    assert_eq!(exporter.shutdown(Duration::from_secs(5)).await, 0);
    assert_eq!(flaky.delivered.load(Ordering::Relaxed), 10);
    assert_eq!(metrics.sent.get(), 10);
    assert_eq!(metrics.queue_size.get(), 0);
}

/// Answers "retry after `hint`" once, then delivers; records when each attempt came.
struct Throttling {
    hint: Duration,
    attempts: std::sync::Mutex<Vec<Instant>>,
}

#[async_trait]
impl Exporter for Throttling {
    async fn export(&self, _: &TraceBatch) -> Result<(), ExportError> {
        let mut attempts = self.attempts.lock().unwrap();
        attempts.push(Instant::now());
        if attempts.len() == 1 {
            return Err(ExportError::Retryable { message: "429".into(), retry_after: Some(self.hint) });
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_server_retry_after_outlasts_a_shorter_backoff() {
    let hint = Duration::from_millis(300);
    let throttling = Arc::new(Throttling { hint, attempts: Default::default() });
    let metrics = Telemetry::new().exporter("test");
    let queue = QueueSettings { num_consumers: 1, ..Default::default() };
    let exporter = QueuedExporter::new("test".into(), throttling.clone(), &queue, fast_retry(), metrics.clone());
    exporter.enqueue(Arc::new(sample_batch(1, 4))).await.unwrap();
    assert_eq!(exporter.shutdown(Duration::from_secs(5)).await, 0);
    let attempts = throttling.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1] - attempts[0] >= hint, "retried after {:?}", attempts[1] - attempts[0]);
    assert_eq!(metrics.sent.get(), 4);
}

#[tokio::test]
async fn without_a_queue_enqueue_delivers_before_it_returns() {
    let flaky = Arc::new(Flaky { failures: AtomicUsize::new(2), permanent: false, delivered: AtomicU64::new(0) });
    let queue = QueueSettings { enabled: false, ..Default::default() };
    let metrics = Telemetry::new().exporter("test");
    let exporter = QueuedExporter::new("test".into(), flaky.clone(), &queue, fast_retry(), metrics);
    exporter.enqueue(Arc::new(sample_batch(1, 7))).await.unwrap();
    assert_eq!(flaky.delivered(), 7, "delivered, after two retries, before enqueue returned");
    assert!(exporter.try_enqueue(Arc::new(sample_batch(1, 1))).is_err(), "no queue, so never room to queue");

    let broken = Arc::new(Flaky { failures: AtomicUsize::new(1), permanent: true, delivered: AtomicU64::new(0) });
    let queue = QueueSettings { enabled: false, ..Default::default() };
    let exporter = QueuedExporter::new("test".into(), broken, &queue, fast_retry(), Telemetry::new().exporter("t"));
    assert!(exporter.enqueue(Arc::new(sample_batch(1, 3))).await.is_err(), "the sender hears of the failure");
}

/// Always refuses with a delay, as a store that cannot write does.
struct Unavailable;

#[async_trait]
impl Exporter for Unavailable {
    async fn export(&self, _: &TraceBatch) -> Result<(), ExportError> {
        Err(ExportError::Retryable { message: "disk full".into(), retry_after: Some(Duration::from_secs(2)) })
    }
}

#[tokio::test]
async fn without_a_queue_or_retries_a_refusal_reaches_the_sender_at_once_with_its_delay() {
    let queue = QueueSettings { enabled: false, ..Default::default() };
    let retry = RetrySettings { enabled: false, ..Default::default() };
    let metrics = Telemetry::new().exporter("test");
    let exporter = QueuedExporter::new("store".into(), Arc::new(Unavailable), &queue, retry, metrics.clone());
    let started = Instant::now();
    let refused = exporter.enqueue(Arc::new(sample_batch(1, 6))).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500), "answered after {:?}", started.elapsed());
    assert_eq!(
        refused,
        ConsumeError::Refused { reason: "exporter store: disk full".into(), retry_after: Some(Duration::from_secs(2)) }
    );
    assert_eq!(metrics.send_failed.get(), 6);
    assert_eq!(exporter.shutdown(Duration::from_secs(1)).await, 0, "the sender has the batch: nothing is lost");
}

#[test]
fn the_drop_log_says_the_first_drop_then_holds_the_rest_for_the_next_line() {
    let log = DropLog::new();
    assert_eq!(log.add(5), Some(5));
    assert_eq!(log.add(3), None);
    assert_eq!(log.add(4), None);
    // As if the interval had passed: the next line carries what was held back.
    log.logged_at.store(1, Ordering::Relaxed);
    let log = DropLog { created: Instant::now() - DROP_LOG_INTERVAL - Duration::from_millis(5), ..log };
    assert_eq!(log.add(1), Some(8));
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let flaky = Arc::new(Flaky { failures: AtomicUsize::new(1), permanent: true, delivered: AtomicU64::new(0) });
    let (exporter, metrics) = queued(flaky.clone(), fast_retry());
    exporter.enqueue(Arc::new(sample_batch(1, 10))).await.unwrap();
    exporter.shutdown(Duration::from_secs(5)).await;
    assert_eq!(metrics.send_failed.get(), 10);
    assert_eq!(flaky.delivered.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn shutdown_deadline_counts_what_is_lost() {
    let flaky =
        Arc::new(Flaky { failures: AtomicUsize::new(usize::MAX), permanent: false, delivered: AtomicU64::new(0) });
    let retry = RetrySettings { max_elapsed_time: Duration::ZERO, ..fast_retry() };
    let (exporter, _) = queued(flaky, retry);
    exporter.enqueue(Arc::new(sample_batch(1, 10))).await.unwrap();
    exporter.enqueue(Arc::new(sample_batch(1, 5))).await.unwrap();
    assert_eq!(exporter.shutdown(Duration::from_millis(100)).await, 15);
}

#[tokio::test]
async fn byte_budget_fills_then_refuses_and_frees_on_delivery() {
    let stalled =
        Arc::new(Flaky { failures: AtomicUsize::new(usize::MAX), permanent: false, delivered: AtomicU64::new(0) });
    let queue = QueueSettings { num_consumers: 2, queue_size: 1000, max_size_mib: 1, ..Default::default() };
    let metrics = Telemetry::new().exporter("test");
    let exporter = QueuedExporter::new("test".into(), stalled.clone(), &queue, fast_retry(), metrics.clone());
    let batch = Arc::new(sample_batch(1, 5000));
    let weight = weight_kib(&batch, 1024) as usize;
    assert!((64..512).contains(&weight), "a batch of 5000 spans weighs {weight} KiB");
    let mut queued = 0;
    let mut held_back = false;
    for _ in 0..1000 {
        if exporter.check_admission().is_err() {
            held_back = true;
            break;
        }
        // With room left for less than a batch, enqueue waits: that is backpressure too.
        if tokio::time::timeout(Duration::from_millis(50), exporter.enqueue(batch.clone())).await.is_err() {
            held_back = true;
            break;
        }
        queued += 1;
    }
    assert!(held_back, "1000 batches of {weight} KiB went into a 1 MiB queue");
    assert!(queued * weight <= 1024, "{queued} batches of {weight} KiB queued against 1 MiB");
    assert!(queued >= 1024 / weight - 1, "only {queued} batches of {weight} KiB queued");

    // Once the downstream recovers, delivery gives the budget back.
    stalled.failures.store(0, Ordering::Relaxed);
    for _ in 0..200 {
        if exporter.has_room() && metrics.queue_size.get() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(exporter.has_room());
    assert_eq!(exporter.shutdown(Duration::from_secs(5)).await, 0);
    assert!(stalled.delivered.load(Ordering::Relaxed) >= 5000 * queued as u64);
}

#[test]
fn delay_grows_and_honours_server_hint() {
    let retry = RetrySettings { randomization_factor: 0.0, ..Default::default() };
    assert_eq!(retry.delay(0, None), Duration::from_secs(5));
    assert_eq!(retry.delay(1, None), Duration::from_secs_f64(7.5));
    assert_eq!(retry.delay(10, None), Duration::from_secs(30));
    assert_eq!(retry.delay(0, Some(Duration::from_secs(9))), Duration::from_secs(9));
}
