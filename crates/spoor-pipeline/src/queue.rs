//! The collector's `sending_queue` and `retry_on_failure` around any [`Exporter`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use serde::Deserialize;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::exporter::{ExportError, Exporter};
use crate::telemetry::ExporterMetrics;

/// `retry_on_failure`, with the collector's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    #[serde(with = "spoor_config::duration")]
    pub initial_interval: Duration,
    #[serde(with = "spoor_config::duration")]
    pub max_interval: Duration,
    /// Zero means retry forever.
    #[serde(with = "spoor_config::duration")]
    pub max_elapsed_time: Duration,
    pub multiplier: f64,
    pub randomization_factor: f64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}

/// `sending_queue`, with the collector's defaults. `queue_size` counts requests (batches).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    pub enabled: bool,
    pub num_consumers: usize,
    pub queue_size: usize,
    /// spoor's addition: the most the queued and in-delivery batches may weigh, in MiB, on top
    /// of `queue_size`. A thousand batches of 8192 spans are gigabytes, so without this bound a
    /// slow or stalled downstream grows the process instead of making receivers refuse. 0 turns
    /// it off.
    pub max_size_mib: usize,
    /// The collector's blocking mode: a full queue holds back its whole pipeline. Without it,
    /// a full queue in a pipeline with several exporters gives up the batch for this exporter
    /// alone (counted in `otelcol_exporter_enqueue_failed_spans`) while the others take it; a
    /// pipeline whose every queue is full holds back in both modes, so nothing acknowledged is
    /// dropped for lack of room.
    pub blocking: bool,
    /// The `file_storage` extension that backs a persistent queue.
    pub storage: Option<String>,
    pub sizer: Option<String>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            max_size_mib: DEFAULT_QUEUE_MAX_SIZE_MIB,
            blocking: false,
            storage: None,
            sizer: None,
        }
    }
}

impl QueueSettings {
    /// The collector's checks, with the key at fault first (`sending_queue.queue_size: ...`).
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.num_consumers == 0 {
            return Err("sending_queue.num_consumers: must be positive".to_owned());
        }
        if self.queue_size == 0 {
            return Err("sending_queue.queue_size: must be positive".to_owned());
        }
        if self.storage.is_some() {
            return Err("sending_queue.storage: persistent queues are not supported".to_owned());
        }
        Ok(())
    }
}

/// How often a full queue that gives up batches says so in the log.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The default of [`QueueSettings::max_size_mib`]: with the rest of the process this keeps a
/// collector under overload below ~150 MiB.
pub const DEFAULT_QUEUE_MAX_SIZE_MIB: usize = 32;

/// What an encoded batch weighs, in multiples of its size, while it is queued and delivered:
/// its bytes, plus the transport's copy of them (tonic and hyper write the request into a
/// buffer of their own, held until the peer's flow control lets it out).
const ENCODED_WEIGHT_FACTOR: usize = 2;

/// The same for a decoded batch: prost's owned strings, vectors and struct padding, plus the
/// encoding made to send it.
const DECODED_WEIGHT_FACTOR: usize = 4;

/// A batch's weight against [`QueueSettings::max_size_mib`], in KiB, at most `budget_kib`.
fn weight_kib(batch: &TraceBatch, budget_kib: usize) -> u32 {
    let factor = if batch.is_encoded() { ENCODED_WEIGHT_FACTOR } else { DECODED_WEIGHT_FACTOR };
    let kib = (batch.encoded_request_len() * factor).div_ceil(1024).clamp(1, budget_kib.max(1));
    u32::try_from(kib).unwrap_or(u32::MAX)
}

impl RetrySettings {
    /// The collector's checks, with the key at fault first (`retry_on_failure.multiplier: ...`).
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let key = "retry_on_failure";
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err(format!("{key}.randomization_factor: must be within [0, 1]"));
        }
        if self.multiplier.is_nan() || self.multiplier < 0.0 {
            return Err(format!("{key}.multiplier: must be non-negative"));
        }
        if !self.max_elapsed_time.is_zero() && self.max_elapsed_time < self.initial_interval {
            return Err(format!("{key}.max_elapsed_time: must not be less than initial_interval"));
        }
        if !self.max_elapsed_time.is_zero() && self.max_elapsed_time < self.max_interval {
            return Err(format!("{key}.max_elapsed_time: must not be less than max_interval"));
        }
        Ok(())
    }

    /// The wait before attempt `attempt + 1`: exponential, capped, randomised by
    /// `randomization_factor`, and never shorter than the server's hint.
    fn delay(&self, attempt: u32, server_hint: Option<Duration>) -> Duration {
        let base = self.initial_interval.as_secs_f64() * self.multiplier.max(1.0).powi(attempt as i32);
        let base = base.min(self.max_interval.as_secs_f64());
        let spread = base * self.randomization_factor.clamp(0.0, 1.0);
        let jittered = if spread > 0.0 { rand::rng().random_range(base - spread..=base + spread) } else { base };
        let delay = Duration::from_secs_f64(jittered.max(0.0));
        server_hint.map_or(delay, |hint| delay.max(hint))
    }
}

pub type SharedBatch = Arc<TraceBatch>;
/// A queued batch and its share of the byte budget, given back once it is delivered or dropped.
type Queued = (SharedBatch, Option<OwnedSemaphorePermit>);

/// Spans a queue gave up for lack of room, said in the log at most every [`DROP_LOG_INTERVAL`].
struct DropLog {
    /// Spans given up since the last line.
    unlogged: AtomicU64,
    /// When the last line was written, in ms since `created`; 0 for never.
    logged_at: AtomicU64,
    created: Instant,
}

impl DropLog {
    fn new() -> Self {
        Self { unlogged: AtomicU64::new(0), logged_at: AtomicU64::new(0), created: Instant::now() }
    }

    /// Adds `spans`; returns the spans to log when a line is due.
    fn add(&self, spans: u64) -> Option<u64> {
        self.unlogged.fetch_add(spans, Ordering::Relaxed);
        let now = self.created.elapsed().as_millis() as u64;
        let last = self.logged_at.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= DROP_LOG_INTERVAL.as_millis() as u64;
        let claimed =
            due && self.logged_at.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok();
        claimed.then(|| self.unlogged.swap(0, Ordering::Relaxed))
    }
}

/// An exporter behind the collector's sending queue and retry. Enqueueing waits for room:
/// a full queue holds back the pipeline, which makes receivers refuse, instead of dropping
/// data that was already acknowledged.
pub struct QueuedExporter {
    name: String,
    inner: Arc<Delivery>,
    sender: Mutex<Option<mpsc::Sender<Queued>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    queue_enabled: bool,
    blocking: bool,
    drop_log: DropLog,
    /// KiB permits for `max_size_mib`; `None` when it is off.
    budget: Option<(Arc<Semaphore>, usize)>,
}

/// What the queue consumers share.
struct Delivery {
    name: String,
    exporter: Arc<dyn Exporter>,
    retry: RetrySettings,
    metrics: ExporterMetrics,
    /// Set when the shutdown deadline has passed: retries stop and what is left is lost.
    abandon: watch::Receiver<bool>,
    abandon_sender: watch::Sender<bool>,
    /// Set when shutdown starts: from then on, what is given up is reported as undelivered.
    closing: AtomicBool,
    lost_spans: AtomicU64,
}

impl QueuedExporter {
    pub fn new(
        name: String,
        exporter: Arc<dyn Exporter>,
        queue: &QueueSettings,
        retry: RetrySettings,
        metrics: ExporterMetrics,
    ) -> Self {
        let (abandon_sender, abandon) = watch::channel(false);
        let inner = Arc::new(Delivery {
            name: name.clone(),
            exporter,
            retry,
            metrics,
            abandon,
            abandon_sender,
            closing: AtomicBool::new(false),
            lost_spans: AtomicU64::new(0),
        });
        if !queue.enabled {
            return Self {
                name,
                inner,
                sender: Mutex::new(None),
                workers: Mutex::new(Vec::new()),
                queue_enabled: false,
                blocking: true,
                drop_log: DropLog::new(),
                budget: None,
            };
        }
        let capacity = queue.queue_size.max(1);
        inner.metrics.queue_capacity.set(capacity as i64);
        let (sender, receiver) = mpsc::channel::<Queued>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..queue.num_consumers.max(1))
            .map(|_| tokio::spawn(inner.clone().consume_queue(receiver.clone())))
            .collect();
        let budget_kib = queue.max_size_mib.saturating_mul(1024).min(Semaphore::MAX_PERMITS);
        let budget = (budget_kib > 0).then(|| (Arc::new(Semaphore::new(budget_kib)), budget_kib));
        Self {
            name,
            inner,
            sender: Mutex::new(Some(sender)),
            workers: Mutex::new(workers),
            queue_enabled: true,
            blocking: queue.blocking,
            drop_log: DropLog::new(),
            budget,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands a batch over for delivery; returns once it is queued (or, without a queue, sent).
    /// Without a queue the sender hears how the send ended: a retryable failure, once the
    /// retries (if enabled) are spent, is a refusal carrying the destination's retry delay, so
    /// the client retries; a permanent one is permanent. Cancel-safe: a dropped call has
    /// queued nothing and holds none of the budget.
    pub async fn enqueue(&self, batch: SharedBatch) -> Result<(), ConsumeError> {
        if !self.queue_enabled {
            return self.inner.deliver(&batch).await.map_err(|err| self.inner.answer_failure(err));
        }
        let sender = self.sender.lock().await.clone();
        let Some(sender) = sender else { return Err(self.shutting_down(&batch)) };
        // Waits, like a full channel, until delivered batches give back enough of the budget.
        let permit = match &self.budget {
            Some((budget, kib)) => budget.clone().acquire_many_owned(weight_kib(&batch, *kib)).await.ok(),
            None => None,
        };
        let Ok(slot) = sender.reserve().await else { return Err(self.shutting_down(&batch)) };
        self.inner.metrics.queue_size.inc();
        slot.send((batch, permit));
        Ok(())
    }

    /// Queues the batch if there is room now, in requests and in bytes, and never waits.
    /// Returns the batch when there is not; without a queue there never is.
    pub fn try_enqueue(&self, batch: SharedBatch) -> Result<(), SharedBatch> {
        let Ok(sender) = self.sender.try_lock() else { return Err(batch) };
        let Some(sender) = sender.as_ref() else { return Err(batch) };
        let permit = match &self.budget {
            Some((budget, kib)) => match budget.clone().try_acquire_many_owned(weight_kib(&batch, *kib)) {
                Ok(permit) => Some(permit),
                Err(_) => return Err(batch),
            },
            None => None,
        };
        let Ok(slot) = sender.try_reserve() else { return Err(batch) };
        self.inner.metrics.queue_size.inc();
        slot.send((batch, permit));
        Ok(())
    }

    /// Counts a batch this exporter will never send because its queue was full, as the
    /// collector's `otelcol_exporter_enqueue_failed_spans`.
    fn count_enqueue_failed(&self, batch: &TraceBatch) {
        self.inner.metrics.enqueue_failed.inc_by(batch.span_count() as u64);
    }

    /// Gives up a batch because this exporter's queue is full while the pipeline's other
    /// exporters took it: counted, and logged at most every [`DROP_LOG_INTERVAL`] with the
    /// spans dropped since the last line, so that a down destination does not flood the log.
    pub fn drop_for_full_queue(&self, batch: &TraceBatch) {
        self.count_enqueue_failed(batch);
        if let Some(spans) = self.drop_log.add(batch.span_count() as u64) {
            tracing::warn!(
                exporter = %self.name,
                spans,
                "sending queue is full, dropping data for this exporter; the pipeline's other exporters have it"
            );
        }
    }

    /// `sending_queue.blocking`: whether a full queue holds back the pipeline even when its
    /// other exporters could take the batch.
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }

    fn shutting_down(&self, batch: &TraceBatch) -> ConsumeError {
        self.count_enqueue_failed(batch);
        ConsumeError::refused(format!("exporter {} is shutting down", self.name))
    }

    /// Whether the exporter and the queue have room, in requests and in bytes, so receivers can
    /// refuse before decoding.
    pub fn has_room(&self) -> bool {
        if !self.inner.exporter.has_room() {
            return false;
        }
        if self.budget.as_ref().is_some_and(|(budget, _)| budget.available_permits() == 0) {
            return false;
        }
        match self.sender.try_lock() {
            Ok(sender) => sender.as_ref().is_none_or(|sender| sender.capacity() > 0),
            Err(_) => true,
        }
    }

    /// Closes the queue and delivers what it holds, retrying until `timeout`. Returns the
    /// number of acknowledged spans given up from then on: abandoned at the deadline, out of
    /// retries, or refused for good by the destination.
    pub async fn shutdown(&self, timeout: Duration) -> u64 {
        self.inner.closing.store(true, Ordering::Relaxed);
        self.sender.lock().await.take();
        let workers: Vec<_> = self.workers.lock().await.drain(..).collect();
        let mut waiting = futures::future::join_all(workers);
        if tokio::time::timeout(timeout, &mut waiting).await.is_err() {
            let _ = self.inner.abandon_sender.send(true);
            let _ = waiting.await;
        }
        self.inner.exporter.shutdown().await;
        self.inner.lost_spans.load(Ordering::Relaxed)
    }
}

impl Delivery {
    async fn consume_queue(self: Arc<Self>, receiver: Arc<Mutex<mpsc::Receiver<Queued>>>) {
        loop {
            let next = receiver.lock().await.recv().await;
            let Some((batch, permit)) = next else { return };
            self.metrics.queue_size.dec();
            // The sender was answered when it was queued: a failure now loses the batch.
            if let Err(err) = self.deliver(&batch).await {
                self.give_up(batch.span_count() as u64, &err);
            }
            drop(permit);
        }
    }

    /// Sends with retry until success, a permanent error, `max_elapsed_time`, or abandonment.
    /// A batch not delivered is counted in `send_failed`; the error says why.
    async fn deliver(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        let spans = batch.span_count() as u64;
        let result = self.attempt(batch).await;
        match &result {
            Ok(()) => self.metrics.sent.inc_by(spans),
            Err(_) => self.metrics.send_failed.inc_by(spans),
        };
        result
    }

    async fn attempt(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        let spans = batch.span_count();
        let started = Instant::now();
        let mut abandon = self.abandon.clone();
        for attempt in 0u32.. {
            // Bounded: every pass either returns or sleeps a growing delay, and ends at
            // `max_elapsed_time` or at the shutdown deadline.
            if *abandon.borrow() {
                return Err(ExportError::retryable("shutdown deadline passed"));
            }
            let (message, hint) = match self.exporter.export(batch).await {
                Ok(()) => return Ok(()),
                Err(ExportError::Permanent(message)) => return Err(ExportError::Permanent(message)),
                Err(ExportError::Retryable { message, retry_after }) => (message, retry_after),
            };
            if !self.retry.enabled {
                return Err(ExportError::Retryable { message, retry_after: hint });
            }
            let delay = self.retry.delay(attempt, hint);
            let max_elapsed = self.retry.max_elapsed_time;
            if !max_elapsed.is_zero() && started.elapsed() + delay > max_elapsed {
                return Err(ExportError::Retryable {
                    message: format!("no more retries left: {message}"),
                    retry_after: hint,
                });
            }
            tracing::warn!(exporter = %self.name, spans, error = %message, interval = ?delay, "exporting failed, will retry");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = abandon.wait_for(|abandoned| *abandoned) => {}
            }
        }
        Err(ExportError::retryable("retries exhausted"))
    }

    /// A queued batch that could not be delivered: lost, since its sender was answered.
    fn give_up(&self, spans: u64, err: &ExportError) {
        if self.closing.load(Ordering::Relaxed) {
            self.lost_spans.fetch_add(spans, Ordering::Relaxed);
        }
        tracing::error!(exporter = %self.name, spans, reason = %err, "exporting failed, dropping data");
    }

    /// What the sender of a batch that could not be delivered without a queue is told. Nothing
    /// is lost: the sender keeps the batch, and retries it when the refusal is retryable.
    /// Failures the sender retries itself are logged at debug level only: the exporter or the
    /// store logs the state behind them once, not every refused batch.
    fn answer_failure(&self, err: ExportError) -> ConsumeError {
        match err {
            ExportError::Retryable { message, retry_after } => {
                if self.retry.enabled {
                    tracing::warn!(exporter = %self.name, error = %message, "exporting failed; the sender is told to retry");
                } else {
                    tracing::debug!(exporter = %self.name, error = %message, "exporting refused; the sender is told to retry");
                }
                ConsumeError::Refused { reason: format!("exporter {}: {message}", self.name), retry_after }
            }
            ExportError::Permanent(message) => {
                tracing::warn!(exporter = %self.name, error = %message, "exporting failed for good");
                ConsumeError::Permanent(format!("exporter {}: {message}", self.name))
            }
        }
    }
}

#[async_trait]
impl TracesConsumer for QueuedExporter {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        self.enqueue(Arc::new(batch)).await
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        if self.has_room() {
            Ok(())
        } else {
            Err(ConsumeError::refused(format!("exporter {} queue is full", self.name)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
