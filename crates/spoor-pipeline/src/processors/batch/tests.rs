//! The batch processor's tests.

use std::sync::Mutex;

use super::*;
use crate::batch::tests::sample_batch;
use crate::telemetry::Telemetry;

#[derive(Default)]
struct Recorder {
    sizes: Mutex<Vec<usize>>,
    /// Refuses admission while set, as a full store or queue does.
    full: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl TracesConsumer for Recorder {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        self.sizes.lock().unwrap().push(batch.span_count());
        Ok(())
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        if self.full.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ConsumeError::refused("downstream is full"));
        }
        Ok(())
    }
}

fn processor(config: BatchConfig, next: Arc<Recorder>) -> BatchProcessor {
    processor_acknowledging(config, next, Acknowledge::OnReceipt)
}

fn processor_acknowledging(config: BatchConfig, next: Arc<Recorder>, acknowledge: Acknowledge) -> BatchProcessor {
    let telemetry = Telemetry::new();
    let (metrics, send_size) = (telemetry.processor("batch"), telemetry.batch_send_size("batch"));
    BatchProcessor::new("batch".into(), config, next, metrics, send_size, acknowledge)
}

#[tokio::test]
async fn sends_when_size_reached_and_splits_at_max() {
    let recorder = Arc::new(Recorder::default());
    let config = BatchConfig {
        send_batch_size: 10,
        send_batch_max_size: 15,
        timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let batcher = processor(config, recorder.clone());
    batcher.consume(sample_batch(4, 10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*recorder.sizes.lock().unwrap(), vec![15, 15, 10]);
    batcher.consume(sample_batch(1, 5)).await.unwrap();
    batcher.shutdown().await;
    assert_eq!(*recorder.sizes.lock().unwrap(), vec![15, 15, 10, 5]);
}

#[tokio::test]
async fn admission_asks_downstream_too() {
    let recorder = Arc::new(Recorder::default());
    let batcher = processor(BatchConfig::default(), recorder.clone());
    assert!(batcher.check_admission().is_ok());
    recorder.full.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(batcher.check_admission().is_err());
    recorder.full.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(batcher.check_admission().is_ok());
}

#[tokio::test]
async fn sends_on_timeout() {
    let recorder = Arc::new(Recorder::default());
    let config = BatchConfig { send_batch_size: 1000, timeout: Duration::from_millis(20), ..Default::default() };
    let batcher = processor(config, recorder.clone());
    batcher.consume(sample_batch(1, 3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*recorder.sizes.lock().unwrap(), vec![3]);
}

#[tokio::test]
async fn flushes_on_shutdown_and_then_refuses() {
    let recorder = Arc::new(Recorder::default());
    let config = BatchConfig { send_batch_size: 1000, timeout: Duration::from_secs(60), ..Default::default() };
    let batcher = processor(config, recorder.clone());
    for _ in 0..5 {
        batcher.consume(sample_batch(1, 7)).await.unwrap();
    }
    batcher.shutdown().await;
    assert_eq!(recorder.sizes.lock().unwrap().iter().sum::<usize>(), 35);
    assert!(batcher.consume(sample_batch(1, 1)).await.unwrap_err().is_retryable());
}

/// Holds every batch until the test opens it.
struct Gate {
    open: tokio::sync::Semaphore,
    passed: Mutex<Vec<usize>>,
}

#[async_trait]
impl TracesConsumer for Gate {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        let _ = self.open.acquire().await.unwrap();
        self.passed.lock().unwrap().push(batch.span_count());
        Ok(())
    }
}

#[tokio::test]
async fn after_export_answers_once_the_batch_is_passed_on() {
    let gate = Arc::new(Gate { open: tokio::sync::Semaphore::new(0), passed: Mutex::default() });
    let config = BatchConfig { send_batch_size: 1000, timeout: Duration::from_secs(60), ..Default::default() };
    let telemetry = Telemetry::new();
    let (metrics, send_size) = (telemetry.processor("batch"), telemetry.batch_send_size("batch"));
    let batcher = Arc::new(BatchProcessor::new(
        "batch".into(),
        config,
        gate.clone(),
        metrics,
        send_size,
        Acknowledge::AfterExport,
    ));
    let pending = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.consume(sample_batch(1, 3)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished(), "answered before the batch was passed on");
    gate.open.add_permits(1);
    // Sent at once, not at the 60 s timeout, because a sender is waiting.
    tokio::time::timeout(Duration::from_secs(5), pending).await.unwrap().unwrap().unwrap();
    assert_eq!(*gate.passed.lock().unwrap(), vec![3]);
}

/// Records each batch's span count and metadata.
#[derive(Default)]
struct MetadataRecorder {
    sent: Mutex<Vec<(usize, ClientMetadata)>>,
}

#[async_trait]
impl TracesConsumer for MetadataRecorder {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        self.sent.lock().unwrap().push((batch.span_count(), batch.metadata().clone()));
        Ok(())
    }
}

fn from_tenant(tenant: &str, spans: usize) -> TraceBatch {
    let metadata = ClientMetadata::from_pairs([("X-Tenant", tenant), ("authorization", "Bearer t")]);
    sample_batch(1, spans).with_metadata(metadata)
}

fn metadata_processor(config: BatchConfig, next: Arc<MetadataRecorder>) -> BatchProcessor {
    let telemetry = Telemetry::new();
    let (metrics, send_size) = (telemetry.processor("batch"), telemetry.batch_send_size("batch"));
    BatchProcessor::new("batch".into(), config, next, metrics, send_size, Acknowledge::OnReceipt)
}

#[tokio::test]
async fn metadata_keys_partition_batches_and_carry_only_their_values() {
    let recorder = Arc::new(MetadataRecorder::default());
    let config = BatchConfig {
        send_batch_size: 1000,
        timeout: Duration::from_secs(60),
        metadata_keys: vec!["x-TENANT".to_owned()],
        ..Default::default()
    };
    let batcher = metadata_processor(config, recorder.clone());
    for (tenant, spans) in [("acme", 2), ("globex", 3), ("acme", 4), ("globex", 5)] {
        batcher.consume(from_tenant(tenant, spans)).await.unwrap();
    }
    batcher.consume(sample_batch(1, 1)).await.unwrap();
    batcher.shutdown().await;
    let mut sent = recorder.sent.lock().unwrap().clone();
    sent.sort_by_key(|(spans, _)| *spans);
    let only = |tenant| ClientMetadata::from_pairs([("x-tenant", tenant)]);
    assert_eq!(sent, vec![(1, ClientMetadata::default()), (6, only("acme")), (8, only("globex"))]);
}

#[tokio::test]
async fn without_metadata_keys_one_batch_carries_no_metadata() {
    let recorder = Arc::new(MetadataRecorder::default());
    let config = BatchConfig { send_batch_size: 1000, timeout: Duration::from_secs(60), ..Default::default() };
    let batcher = metadata_processor(config, recorder.clone());
    batcher.consume(from_tenant("acme", 2)).await.unwrap();
    batcher.consume(from_tenant("globex", 3)).await.unwrap();
    batcher.shutdown().await;
    assert_eq!(*recorder.sent.lock().unwrap(), vec![(5, ClientMetadata::default())]);
}

#[tokio::test]
async fn cardinality_limit_refuses_one_combination_more_for_good() {
    let recorder = Arc::new(MetadataRecorder::default());
    let config = BatchConfig {
        timeout: Duration::from_secs(60),
        metadata_keys: vec!["x-tenant".to_owned()],
        metadata_cardinality_limit: 2,
        ..Default::default()
    };
    let batcher = metadata_processor(config, recorder.clone());
    batcher.consume(from_tenant("acme", 1)).await.unwrap();
    batcher.consume(from_tenant("globex", 1)).await.unwrap();
    let refused = batcher.consume(from_tenant("initech", 1)).await.unwrap_err();
    assert_eq!(refused, ConsumeError::Permanent(TOO_MANY_BATCHERS.to_owned()));
    batcher.consume(from_tenant("acme", 1)).await.unwrap();
    batcher.shutdown().await;
    assert_eq!(recorder.sent.lock().unwrap().iter().map(|(spans, _)| spans).sum::<usize>(), 3);
}

#[test]
fn duplicate_metadata_keys_are_rejected() {
    let config = BatchConfig { metadata_keys: vec!["x-tenant".into(), "X-Tenant".into()], ..Default::default() };
    assert_eq!(config.validate().unwrap_err().0, "metadata_keys");
}

#[test]
fn max_size_below_size_is_rejected() {
    let config = BatchConfig { send_batch_size: 100, send_batch_max_size: 10, ..Default::default() };
    assert_eq!(config.validate().unwrap_err().0, "send_batch_max_size");
}

/// Counts the sends in flight at once, holds each until released, and refuses the ones whose
/// call number (from 0) is in `refuse`.
#[derive(Default)]
struct Concurrency {
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
    refuse: Vec<usize>,
    release: tokio::sync::Notify,
    hold: bool,
}

#[async_trait]
impl TracesConsumer for Concurrency {
    async fn consume(&self, _batch: TraceBatch) -> Result<(), ConsumeError> {
        use std::sync::atomic::Ordering::SeqCst;
        let call = self.calls.fetch_add(1, SeqCst);
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        if self.hold {
            self.release.notified().await;
        }
        // Later calls finish first: the batcher must still answer in stream order.
        tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(call as u64 * 5))).await;
        self.in_flight.fetch_sub(1, SeqCst);
        if self.refuse.contains(&call) {
            return Err(ConsumeError::Refused {
                reason: "disk full".into(),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        Ok(())
    }
}

fn after_export(config: BatchConfig, next: Arc<Concurrency>) -> Arc<BatchProcessor> {
    let telemetry = Telemetry::new();
    let (metrics, send_size) = (telemetry.processor("batch"), telemetry.batch_send_size("batch"));
    Arc::new(BatchProcessor::new("batch".into(), config, next, metrics, send_size, Acknowledge::AfterExport))
}

#[tokio::test]
async fn after_export_keeps_several_sends_in_flight_and_no_more() {
    let downstream = Arc::new(Concurrency { hold: true, ..Default::default() });
    let config = BatchConfig { send_batch_size: 1000, timeout: Duration::from_secs(60), ..Default::default() };
    let batcher = after_export(config, downstream.clone());
    // One at a time, each arriving while the sends before it are still held.
    let mut requests = Vec::new();
    for _ in 0..10 {
        let batcher = batcher.clone();
        requests.push(tokio::spawn(async move { batcher.consume(sample_batch(1, 3)).await }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(downstream.most.load(std::sync::atomic::Ordering::SeqCst), SENDS_IN_FLIGHT_AFTER_EXPORT);
    assert!(requests.iter().all(|request| !request.is_finished()), "answered before its spans were sent");
    // Released, the held sends finish and the requests that gathered meanwhile go out together.
    while requests.iter().any(|request| !request.is_finished()) {
        downstream.release.notify_waiters();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for request in requests {
        request.await.unwrap().unwrap();
    }
    assert!(downstream.calls.load(std::sync::atomic::Ordering::SeqCst) < 10, "no send gathered two requests");
    assert_eq!(batcher.shutdown().await, 0);
}

#[tokio::test]
async fn a_request_split_over_sends_hears_of_any_failed_one() {
    // 4 spans go out as two sends of 2; the first is refused and finishes last.
    let downstream = Arc::new(Concurrency { refuse: vec![0], ..Default::default() });
    let config = BatchConfig {
        send_batch_size: 2,
        send_batch_max_size: 2,
        timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let batcher = after_export(config, downstream.clone());
    let refused = batcher.consume(sample_batch(1, 4)).await.unwrap_err();
    assert_eq!(
        refused,
        ConsumeError::Refused { reason: "disk full".into(), retry_after: Some(Duration::from_secs(1)) }
    );
    assert_eq!(downstream.most.load(std::sync::atomic::Ordering::SeqCst), 2, "the two sends overlapped");
    batcher.consume(sample_batch(1, 2)).await.unwrap();
    assert_eq!(batcher.shutdown().await, 0, "a refused request is not lost: its sender retries");
}
