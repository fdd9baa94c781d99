//! The task that owns one shard's pending batch and sends it on, with up to `sends_in_flight`
//! sends at once.
//!
//! With [`super::Acknowledge::AfterExport`] the sends of a pipeline that ends in a durable
//! store are its writes: several in flight let the store's WAL group their records into one
//! fsync, and the next batch gathers while they are written. Spans are counted from the start
//! of the shard's stream; a request is answered once every batch holding one of its spans has
//! been sent, with the first failure among them, whatever order the sends finish in.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::{BatchConfig, Outcome, Queued};
use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::metadata::ClientMetadata;
use crate::telemetry::ProcessorMetrics;

/// A request waiting for its spans, `start..end` of the stream, to be passed on.
struct Waiter {
    start: u64,
    end: u64,
    outcome: Outcome,
    /// The first failed send that held some of its spans.
    error: Option<ConsumeError>,
}

/// A finished send of the spans `start..end`, with the queue permits it held.
struct Sent {
    start: u64,
    end: u64,
    result: Result<(), ConsumeError>,
    _permits: Vec<OwnedSemaphorePermit>,
}

pub(super) struct Batcher {
    pub(super) name: String,
    pub(super) config: BatchConfig,
    pub(super) next: Arc<dyn TracesConsumer>,
    pub(super) metrics: ProcessorMetrics,
    pub(super) send_size: Histogram,
    /// The shard's `metadata_keys` values, carried on by every batch it sends.
    pub(super) metadata: ClientMetadata,
    /// At least 1.
    pub(super) sends_in_flight: usize,
    pending: TraceBatch,
    /// Spans taken in, and spans handed to a send, since the start.
    received: u64,
    dispatched: u64,
    /// Every span before this one has been sent (successfully or not).
    sent: u64,
    /// Sends finished ahead of an earlier one still in flight: start → end.
    finished_ahead: BTreeMap<u64, u64>,
    in_flight: FuturesUnordered<BoxFuture<'static, Sent>>,
    waiters: VecDeque<Waiter>,
    /// Acknowledged spans that could not be passed on.
    lost: u64,
}

impl Batcher {
    pub(super) fn new(
        name: String,
        config: BatchConfig,
        next: Arc<dyn TracesConsumer>,
        (metrics, send_size): (ProcessorMetrics, Histogram),
        metadata: ClientMetadata,
        sends_in_flight: usize,
    ) -> Self {
        Self {
            name,
            config,
            next,
            metrics,
            send_size,
            metadata,
            sends_in_flight: sends_in_flight.max(1),
            pending: TraceBatch::default(),
            received: 0,
            dispatched: 0,
            sent: 0,
            finished_ahead: BTreeMap::new(),
            in_flight: FuturesUnordered::new(),
            waiters: VecDeque::new(),
            lost: 0,
        }
    }

    /// Batches until the processor closes, and returns the acknowledged spans it could not
    /// pass on.
    pub(super) async fn run(
        mut self,
        mut queue: mpsc::UnboundedReceiver<Queued>,
        mut closed: watch::Receiver<bool>,
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
                Some(sent) = self.in_flight.next(), if !self.in_flight.is_empty() => self.finish(sent),
                received = queue.recv() => match received {
                    Some(queued) => {
                        if self.pending.is_empty() {
                            deadline.as_mut().reset(tokio::time::Instant::now() + timeout);
                        }
                        // Permits are released only once their spans have moved on.
                        let mut permits = vec![self.take(queued)];
                        if self.waiters.is_empty() {
                            self.send_full_batches(permits).await;
                        } else {
                            // Senders are waiting for these spans: take what else has arrived,
                            // then send now rather than at the timeout. Under load the next
                            // batch gathers while the sends in flight are written.
                            // Bounded: what the queue holds is bounded by its permits.
                            while let Ok(more) = queue.try_recv() {
                                permits.push(self.take(more));
                            }
                            self.send_all(permits).await;
                        }
                    }
                    None => break,
                },
                _ = &mut deadline, if !self.pending.is_empty() && !timeout.is_zero() => {
                    self.send_all(Vec::new()).await;
                }
                // Also taken when the processor is dropped without a shutdown.
                _ = closed.changed(), if !closing => {
                    closing = true;
                    queue.close();
                }
            }
            if timeout.is_zero() {
                self.send_all(Vec::new()).await;
            }
        }
        self.send_all(Vec::new()).await;
        while let Some(sent) = self.in_flight.next().await {
            self.finish(sent);
        }
        self.lost
    }

    /// Adds a request to the pending batch and returns its queue permit.
    fn take(&mut self, queued: Queued) -> OwnedSemaphorePermit {
        let start = self.received;
        self.received += queued.batch.span_count() as u64;
        if let Some(outcome) = queued.outcome {
            self.waiters.push_back(Waiter { start, end: self.received, outcome, error: None });
        }
        self.pending.append(queued.batch);
        queued.permit
    }

    /// Sends batches of `send_batch_size` spans while the pending batch holds that many; the
    /// first send holds `permits`, which are released otherwise (the spans left pending are
    /// bounded by `send_batch_size`).
    async fn send_full_batches(&mut self, mut permits: Vec<OwnedSemaphorePermit>) {
        while self.pending.span_count() >= self.config.send_batch_size.max(1) {
            let size = match self.config.send_batch_max_size {
                0 => self.pending.span_count(),
                max => max.min(self.pending.span_count()),
            };
            self.send(size, std::mem::take(&mut permits)).await;
        }
    }

    /// Sends everything pending, in batches of at most `send_batch_max_size`; the first send
    /// holds `permits`.
    async fn send_all(&mut self, mut permits: Vec<OwnedSemaphorePermit>) {
        while !self.pending.is_empty() {
            let size = match self.config.send_batch_max_size {
                0 => self.pending.span_count(),
                max => max,
            };
            self.send(size, std::mem::take(&mut permits)).await;
        }
    }

    /// Starts sending the first `size` pending spans once fewer than `sends_in_flight` sends
    /// are in flight. The send runs as the batcher polls it.
    async fn send(&mut self, size: usize, permits: Vec<OwnedSemaphorePermit>) {
        while self.in_flight.len() >= self.sends_in_flight {
            if let Some(sent) = self.in_flight.next().await {
                self.finish(sent);
            }
        }
        let mut batch = self.pending.split_front(size);
        batch.set_metadata(self.metadata.clone());
        let spans = batch.span_count() as u64;
        self.send_size.observe(spans as f64);
        let start = self.dispatched;
        self.dispatched += spans;
        let next = self.next.clone();
        self.in_flight.push(Box::pin(async move {
            let result = next.consume(batch).await;
            Sent { start, end: start + spans, result, _permits: permits }
        }));
    }

    /// Accounts for a finished send and answers every request whose spans have all been sent.
    fn finish(&mut self, sent: Sent) {
        let spans = sent.end - sent.start;
        match &sent.result {
            Ok(()) => {
                self.metrics.outgoing.inc_by(spans);
            }
            Err(err) => {
                let mut waited = false;
                for waiter in self.waiters.iter_mut().filter(|w| w.start < sent.end && w.end > sent.start) {
                    waiter.error.get_or_insert_with(|| err.clone());
                    waited = true;
                }
                if !waited {
                    // Acknowledged on receipt: these spans are lost.
                    tracing::error!(processor = %self.name, spans, error = %err, "batch could not be passed on");
                    self.lost += spans;
                } else if err.is_retryable() {
                    // Their senders are told and retry; what refused says so once itself.
                    tracing::debug!(processor = %self.name, spans, error = %err, "batch refused downstream");
                } else {
                    tracing::warn!(processor = %self.name, spans, error = %err, "batch could not be passed on");
                }
            }
        }
        self.finished_ahead.insert(sent.start, sent.end);
        while let Some(end) = self.finished_ahead.remove(&self.sent) {
            self.sent = end;
        }
        while self.waiters.front().is_some_and(|waiter| waiter.end <= self.sent) {
            if let Some(waiter) = self.waiters.pop_front() {
                let _ = waiter.outcome.send(waiter.error.map_or(Ok(()), Err));
            }
        }
    }
}
