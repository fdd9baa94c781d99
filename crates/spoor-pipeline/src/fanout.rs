//! Fan-out: every exporter of a pipeline gets every batch, shared behind one `Arc`, and every
//! pipeline of a receiver gets its own copy.

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::queue::{QueuedExporter, SharedBatch};

/// The end of a pipeline: hands each batch to every exporter's queue.
///
/// A slow or down exporter holds back only its own queue. When its queue is full and another
/// exporter of the pipeline takes the batch, it gives the batch up (counted in its
/// `enqueue_failed` metric), unless its `sending_queue.blocking` is set. When no queue has
/// room, the pipeline waits for the first that has: backpressure, not loss.
pub struct ExporterFanOut {
    exporters: Vec<Arc<QueuedExporter>>,
}

impl ExporterFanOut {
    pub fn new(exporters: Vec<Arc<QueuedExporter>>) -> Self {
        Self { exporters }
    }

    /// Waits until one of `exporters` queues the batch, and returns its index there.
    async fn enqueue_first(exporters: &[&Arc<QueuedExporter>], batch: &SharedBatch) -> Result<usize, ConsumeError> {
        let waiting = exporters.iter().map(|exporter| Box::pin(exporter.enqueue(batch.clone())));
        let (result, index, _) = futures::future::select_all(waiting).await;
        result.map(|()| index)
    }
}

#[async_trait]
impl TracesConsumer for ExporterFanOut {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        let batch = Arc::new(batch);
        if let [only] = self.exporters.as_slice() {
            return only.enqueue(batch).await;
        }
        // Blocking exporters are waited for, each in turn; a failure of one (shutdown) does
        // not keep the batch from the others, and the first failure is reported.
        let mut first_error = None;
        let mut any_taken = false;
        for exporter in self.exporters.iter().filter(|e| e.is_blocking()) {
            match exporter.enqueue(batch.clone()).await {
                Ok(()) => any_taken = true,
                Err(err) => {
                    tracing::error!(exporter = exporter.name(), error = %err, "batch not queued");
                    first_error.get_or_insert(err);
                }
            }
        }
        let mut full = Vec::new();
        for exporter in self.exporters.iter().filter(|e| !e.is_blocking()) {
            match exporter.try_enqueue(batch.clone()) {
                Ok(()) => any_taken = true,
                Err(_) => full.push(exporter),
            }
        }
        if !any_taken && !full.is_empty() {
            // Nobody had room: hold back the pipeline until the first full queue frees up.
            let first = Self::enqueue_first(&full, &batch).await?;
            full.remove(first);
            full.retain(|exporter| exporter.try_enqueue(batch.clone()).is_err());
        }
        for exporter in full {
            exporter.drop_for_full_queue(&batch);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Refuses only when a blocking exporter has no room, or when no exporter has.
    fn check_admission(&self) -> Result<(), ConsumeError> {
        let mut any_room = false;
        let mut refusal = None;
        for exporter in &self.exporters {
            match exporter.check_admission() {
                Ok(()) => any_room = true,
                Err(err) if exporter.is_blocking() => return Err(err),
                Err(err) => {
                    refusal.get_or_insert(err);
                }
            }
        }
        match refusal {
            Some(err) if !any_room => Err(err),
            _ => Ok(()),
        }
    }
}

/// The start of a receiver's path when it feeds several pipelines.
pub struct PipelineFanOut {
    pipelines: Vec<Arc<dyn TracesConsumer>>,
}

impl PipelineFanOut {
    pub fn new(pipelines: Vec<Arc<dyn TracesConsumer>>) -> Self {
        Self { pipelines }
    }
}

#[async_trait]
impl TracesConsumer for PipelineFanOut {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        self.check_admission()?;
        let Some((last, rest)) = self.pipelines.split_last() else { return Ok(()) };
        for pipeline in rest {
            pipeline.consume(batch.clone()).await?;
        }
        last.consume(batch).await
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        self.pipelines.iter().try_for_each(|pipeline| pipeline.check_admission())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::batch::tests::sample_batch;
    use crate::queue::tests::{Flaky, fast_retry};
    use crate::queue::{QueueSettings, RetrySettings};
    use crate::telemetry::{ExporterMetrics, Telemetry};

    /// An exporter behind a queue of two batches, retrying forever.
    fn queued(name: &str, exporter: Arc<Flaky>, blocking: bool) -> (Arc<QueuedExporter>, ExporterMetrics) {
        let queue = QueueSettings { num_consumers: 1, queue_size: 2, blocking, ..Default::default() };
        let retry = RetrySettings { max_elapsed_time: Duration::ZERO, ..fast_retry() };
        let metrics = Telemetry::new().exporter(name);
        (Arc::new(QueuedExporter::new(name.into(), exporter, &queue, retry, metrics.clone())), metrics)
    }

    #[tokio::test]
    async fn a_down_exporter_holds_back_only_its_own_queue() {
        let healthy_sink = Flaky::healthy();
        let (up, _) = queued("up", healthy_sink.clone(), false);
        let (down, down_metrics) = queued("down", Flaky::down(), false);
        let fanout = ExporterFanOut::new(vec![up.clone(), down]);
        for _ in 0..20 {
            let sent = tokio::time::timeout(Duration::from_secs(5), fanout.consume(sample_batch(1, 10))).await;
            assert!(matches!(sent, Ok(Ok(()))), "the pipeline was held back by the down exporter");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(fanout.check_admission().is_ok(), "receivers must keep admitting while one exporter has room");
        assert_eq!(up.shutdown(Duration::from_secs(5)).await, 0);
        assert_eq!(healthy_sink.delivered(), 200, "the healthy exporter got every batch");
        // One batch in delivery and two queued; the rest were given up for this exporter only.
        let dropped = down_metrics.enqueue_failed.get();
        assert!((160..=180).contains(&dropped), "enqueue_failed {dropped}");
    }

    /// Whether consuming blocks (for 200 ms) before twenty batches have gone in.
    async fn held_back_within_twenty_batches(fanout: &ExporterFanOut) -> bool {
        for _ in 0..20 {
            let sent = tokio::time::timeout(Duration::from_millis(200), fanout.consume(sample_batch(1, 10))).await;
            if sent.is_err() {
                return true;
            }
        }
        false
    }

    #[tokio::test]
    async fn a_blocking_exporter_holds_back_the_pipeline() {
        let (up, _) = queued("up", Flaky::healthy(), false);
        let (down, down_metrics) = queued("down", Flaky::down(), true);
        let fanout = ExporterFanOut::new(vec![up, down]);
        let held_back = held_back_within_twenty_batches(&fanout).await;
        assert!(held_back, "a full blocking queue must hold the pipeline back");
        assert!(fanout.check_admission().is_err());
        assert_eq!(down_metrics.enqueue_failed.get(), 0);
    }

    #[tokio::test]
    async fn a_pipeline_with_every_queue_full_waits_instead_of_dropping() {
        let (first, first_metrics) = queued("first", Flaky::down(), false);
        let (second, second_metrics) = queued("second", Flaky::down(), false);
        let fanout = ExporterFanOut::new(vec![first, second]);
        let held_back = held_back_within_twenty_batches(&fanout).await;
        assert!(held_back, "with no room anywhere the pipeline must wait");
        assert!(fanout.check_admission().is_err());
        assert_eq!(first_metrics.enqueue_failed.get() + second_metrics.enqueue_failed.get(), 0);
    }
}
