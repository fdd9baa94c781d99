//! The `batch` processor: gathers spans until `send_batch_size` or `timeout`, splits batches
//! above `send_batch_max_size`, and flushes what it holds on shutdown.
//!
//! It takes data through a queue bounded in spans, so a stalled downstream fills the queue
//! and receivers refuse with a retryable error instead of memory growing without bound.
//!
//! In [`Acknowledge::AfterExport`] mode a request is answered only once every one of its spans
//! has been passed on successfully, so a pipeline that ends in a durable store acknowledges
//! what is stored, not what sits in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::metrics::histogram::Histogram;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::metadata::ClientMetadata;
use crate::telemetry::ProcessorMetrics;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub send_batch_size: usize,
    #[serde(with = "spoor_config::duration")]
    pub timeout: Duration,
    /// 0 means no maximum.
    pub send_batch_max_size: usize,
    /// Client metadata keys (see [`ClientMetadata`]) whose values partition the batches: each
    /// distinct combination of values gets a batcher of its own, and its batches carry those
    /// keys' values on, as the collector's batch processor does. Without keys every request
    /// shares one batcher and the batches carry no metadata.
    pub metadata_keys: Vec<String>,
    /// The most distinct combinations of `metadata_keys` values; a request that would make one
    /// more is refused for good. 0 means no limit.
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            send_batch_size: 8192,
            timeout: Duration::from_millis(200),
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl BatchConfig {
    /// The collector's checks; the error names the offending key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(("send_batch_max_size", "must be greater or equal to send_batch_size".to_owned()));
        }
        let mut seen = std::collections::HashSet::new();
        for key in &self.metadata_keys {
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(("metadata_keys", format!("duplicate entry in metadata_keys: {key:?} (case-insensitive)")));
            }
        }
        Ok(())
    }

    /// How many spans may wait in the input queue: a few full batches, and never less than a
    /// burst of large requests.
    fn queue_capacity_spans(&self) -> usize {
        (self.send_batch_size.max(1) * 4).clamp(16_384, 1 << 20)
    }
}

/// The collector's words for a request refused by `metadata_cardinality_limit`.
pub const TOO_MANY_BATCHERS: &str = "too many batcher metadata-value combinations";

/// When a request is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acknowledge {
    /// As soon as the batch processor holds it (the collector's behaviour).
    #[default]
    OnReceipt,
    /// Once the batch holding its last span has been passed on.
    AfterExport,
}

type Outcome = oneshot::Sender<Result<(), ConsumeError>>;

struct Queued {
    batch: TraceBatch,
    permit: OwnedSemaphorePermit,
    outcome: Option<Outcome>,
}

/// A request waiting for its spans to be passed on: done once `end` spans, counted from the
/// start of the batcher's stream, have been sent.
struct Waiter {
    end: u64,
    outcome: Outcome,
}

pub struct BatchProcessor {
    acknowledge: Acknowledge,
    /// Lowercase `metadata_keys`.
    keys: Vec<String>,
    cardinality_limit: usize,
    /// A batcher per combination of `metadata_keys` values (one, keyed by empty metadata,
    /// without keys), made on its first request.
    shards: Mutex<HashMap<ClientMetadata, mpsc::UnboundedSender<Queued>>>,
    workers: Mutex<Vec<JoinHandle<u64>>>,
    template: BatcherTemplate,
    /// Shared by every shard: the bound is on what the processor holds in all.
    room: Arc<Semaphore>,
    capacity: usize,
    /// Asked too before admitting: a full store or queue downstream refuses here, not later.
    next: Arc<dyn TracesConsumer>,
    metrics: ProcessorMetrics,
    closing: tokio::sync::watch::Sender<bool>,
}

/// What each shard's [`Batcher`] is made from.
struct BatcherTemplate {
    name: String,
    config: BatchConfig,
    next: Arc<dyn TracesConsumer>,
    metrics: ProcessorMetrics,
    send_size: Histogram,
}

impl BatchProcessor {
    pub fn new(
        name: String,
        config: BatchConfig,
        next: Arc<dyn TracesConsumer>,
        metrics: ProcessorMetrics,
        send_size: Histogram,
        acknowledge: Acknowledge,
    ) -> Self {
        let capacity = config.queue_capacity_spans();
        let (closing, _) = tokio::sync::watch::channel(false);
        let keys = config.metadata_keys.iter().map(|key| key.to_ascii_lowercase()).collect();
        let cardinality_limit = config.metadata_cardinality_limit as usize;
        let template = BatcherTemplate { name, config, next: next.clone(), metrics: metrics.clone(), send_size };
        Self {
            acknowledge,
            keys,
            cardinality_limit,
            shards: Mutex::default(),
            workers: Mutex::default(),
            template,
            room: Arc::new(Semaphore::new(capacity)),
            capacity,
            next,
            metrics,
            closing,
        }
    }

    /// Stops taking data, flushes everything held, and returns when it has been passed on.
    /// Returns the number of acknowledged spans it could not pass on.
    pub async fn shutdown(&self) -> u64 {
        let _ = self.closing.send(true);
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        let mut lost = 0;
        for worker in workers {
            lost += worker.await.unwrap_or(0);
        }
        lost
    }

    fn full() -> ConsumeError {
        ConsumeError::Refused {
            reason: "the batch processor queue is full".to_owned(),
            retry_after: Some(Duration::from_secs(1)),
        }
    }

    /// The input of the batcher for `metadata`'s values of the keys, made if it is the first.
    fn shard(&self, metadata: &ClientMetadata) -> Result<mpsc::UnboundedSender<Queued>, ConsumeError> {
        let key = if self.keys.is_empty() { ClientMetadata::default() } else { metadata.restricted_to(&self.keys) };
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(input) = shards.get(&key) {
            return Ok(input.clone());
        }
        if self.cardinality_limit > 0 && shards.len() >= self.cardinality_limit {
            return Err(ConsumeError::Permanent(TOO_MANY_BATCHERS.to_owned()));
        }
        let (input, queue) = mpsc::unbounded_channel();
        let template = &self.template;
        let batcher = Batcher {
            name: template.name.clone(),
            config: template.config.clone(),
            next: template.next.clone(),
            metrics: template.metrics.clone(),
            send_size: template.send_size.clone(),
            metadata: key.clone(),
            pending: TraceBatch::default(),
            received: 0,
            sent: 0,
            waiters: VecDeque::new(),
            lost: 0,
        };
        let worker = tokio::spawn(batcher.run(queue, self.closing.subscribe()));
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).push(worker);
        shards.insert(key, input.clone());
        Ok(input)
    }
}

#[async_trait]
impl TracesConsumer for BatchProcessor {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        if *self.closing.borrow() {
            return Err(ConsumeError::refused("shutting down"));
        }
        // A request larger than the whole queue is admitted alone rather than never.
        let input = self.shard(batch.metadata())?;
        let permits = batch.span_count().clamp(1, self.capacity) as u32;
        let permit = self.room.clone().try_acquire_many_owned(permits).map_err(|_| Self::full())?;
        self.metrics.incoming.inc_by(batch.span_count() as u64);
        let (outcome, result) = match self.acknowledge {
            Acknowledge::OnReceipt => (None, None),
            Acknowledge::AfterExport => {
                let (sender, receiver) = oneshot::channel();
                (Some(sender), Some(receiver))
            }
        };
        input.send(Queued { batch, permit, outcome }).map_err(|_| ConsumeError::refused("shutting down"))?;
        match result {
            None => Ok(()),
            Some(result) => result.await.unwrap_or_else(|_| Err(ConsumeError::refused("shutting down"))),
        }
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        if self.room.available_permits() == 0 {
            return Err(Self::full());
        }
        self.next.check_admission()
    }
}

/// The task that owns the pending batch.
struct Batcher {
    name: String,
    config: BatchConfig,
    next: Arc<dyn TracesConsumer>,
    metrics: ProcessorMetrics,
    send_size: Histogram,
    /// The shard's `metadata_keys` values, carried on by every batch it sends.
    metadata: ClientMetadata,
    pending: TraceBatch,
    /// Spans taken in and passed on since the start, to know when a waiter is done.
    received: u64,
    sent: u64,
    waiters: VecDeque<Waiter>,
    /// Acknowledged spans that could not be passed on.
    lost: u64,
}

impl Batcher {
    /// Batches until the processor closes, and returns the acknowledged spans it could not
    /// pass on.
    async fn run(
        mut self,
        mut queue: mpsc::UnboundedReceiver<Queued>,
        mut closed: tokio::sync::watch::Receiver<bool>,
    ) -> u64 {
        let timeout = self.config.timeout;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // A shard made while the processor closes must not wait for a change already made.
        let mut closing = *closed.borrow_and_update();
        if closing {
            queue.close();
        }
        loop {
            tokio::select! {
                biased;
                received = queue.recv() => match received {
                    Some(queued) => {
                        if self.pending.is_empty() {
                            deadline.as_mut().reset(tokio::time::Instant::now() + timeout);
                        }
                        // Permits are released only after their spans have moved on.
                        let permit = self.take(queued);
                        // Stays empty, and so does not allocate, unless senders are waiting.
                        let mut permits = Vec::new();
                        if self.waiters.is_empty() {
                            self.send_full_batches().await;
                        } else {
                            // Senders are waiting for these spans: take what else has arrived,
                            // then send now rather than at the timeout. Under load the next
                            // batch gathers while this one is written, as in a group commit.
                            // Bounded: what the queue holds is bounded by its permits.
                            while let Ok(more) = queue.try_recv() {
                                permits.push(self.take(more));
                            }
                            self.send_all().await;
                        }
                        drop((permit, permits));
                    }
                    None => break,
                },
                _ = &mut deadline, if !self.pending.is_empty() && !timeout.is_zero() => {
                    self.send_all().await;
                }
                // Also taken when the processor is dropped without a shutdown.
                _ = closed.changed(), if !closing => {
                    closing = true;
                    queue.close();
                }
            }
            if timeout.is_zero() {
                self.send_all().await;
            }
        }
        self.send_all().await;
        self.lost
    }

    /// Adds a request to the pending batch and returns its queue permit.
    fn take(&mut self, queued: Queued) -> OwnedSemaphorePermit {
        self.received += queued.batch.span_count() as u64;
        if let Some(outcome) = queued.outcome {
            self.waiters.push_back(Waiter { end: self.received, outcome });
        }
        self.pending.append(queued.batch);
        queued.permit
    }

    async fn send_full_batches(&mut self) {
        while self.pending.span_count() >= self.config.send_batch_size.max(1) {
            let size = match self.config.send_batch_max_size {
                0 => self.pending.span_count(),
                max => max.min(self.pending.span_count()),
            };
            let batch = self.pending.split_front(size);
            self.send(batch).await;
        }
    }

    async fn send_all(&mut self) {
        while !self.pending.is_empty() {
            let size = match self.config.send_batch_max_size {
                0 => self.pending.span_count(),
                max => max,
            };
            let batch = self.pending.split_front(size);
            self.send(batch).await;
        }
    }

    async fn send(&mut self, mut batch: TraceBatch) {
        batch.set_metadata(self.metadata.clone());
        let spans = batch.span_count() as u64;
        self.send_size.observe(spans as f64);
        let result = self.next.consume(batch).await;
        match &result {
            Ok(()) => {
                self.metrics.outgoing.inc_by(spans);
            }
            Err(err) => {
                tracing::error!(processor = %self.name, spans, error = %err, "batch could not be passed on");
                // Without waiters these spans were acknowledged on receipt; with them, their
                // senders are told and retry.
                if self.waiters.is_empty() {
                    self.lost += spans;
                }
            }
        }
        self.sent += spans;
        self.answer_waiters(result);
    }

    /// Answers every request whose last span has now been sent. A request whose spans went out
    /// in several batches gets the last one's result; an earlier failure was logged, and its
    /// sender retries the whole request, so nothing is lost.
    fn answer_waiters(&mut self, result: Result<(), ConsumeError>) {
        while self.waiters.front().is_some_and(|waiter| waiter.end <= self.sent) {
            if let Some(waiter) = self.waiters.pop_front() {
                let _ = waiter.outcome.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
