//! The `batch` processor: gathers spans until `send_batch_size` or `timeout`, splits batches
//! above `send_batch_max_size`, and flushes what it holds on shutdown.
//!
//! It takes data through a queue bounded in spans, so a stalled downstream fills the queue
//! and receivers refuse with a retryable error instead of memory growing without bound.
//!
//! In [`Acknowledge::AfterExport`] mode a request is answered only once every one of its spans
//! has been passed on successfully, so a pipeline that ends in a durable store acknowledges
//! what is stored, not what sits in memory.

mod batcher;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::metrics::histogram::Histogram;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use self::batcher::Batcher;
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

/// How many sends a shard has in flight at once when requests are acknowledged after export:
/// the writes of a pipeline that ends in a store, which group them (WAL group commit). With
/// acknowledgement on receipt the sends go out one at a time and in order, as the collector's
/// do; a queue downstream gives the concurrency.
pub const SENDS_IN_FLIGHT_AFTER_EXPORT: usize = 4;

struct Queued {
    batch: TraceBatch,
    permit: OwnedSemaphorePermit,
    outcome: Option<Outcome>,
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
        let sends_in_flight = match self.acknowledge {
            Acknowledge::OnReceipt => 1,
            Acknowledge::AfterExport => SENDS_IN_FLIGHT_AFTER_EXPORT,
        };
        let batcher = Batcher::new(
            template.name.clone(),
            template.config.clone(),
            template.next.clone(),
            (template.metrics.clone(), template.send_size.clone()),
            key.clone(),
            sends_in_flight,
        );
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

#[cfg(test)]
mod tests;
