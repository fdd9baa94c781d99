//! Fan-out: every exporter of a pipeline gets every batch, shared behind one `Arc`, and every
//! pipeline of a receiver gets its own copy.

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::queue::QueuedExporter;

/// The end of a pipeline: hands each batch to every exporter's queue.
pub struct ExporterFanOut {
    exporters: Vec<Arc<QueuedExporter>>,
}

impl ExporterFanOut {
    pub fn new(exporters: Vec<Arc<QueuedExporter>>) -> Self {
        Self { exporters }
    }
}

#[async_trait]
impl TracesConsumer for ExporterFanOut {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        let batch = Arc::new(batch);
        // Sequential on purpose: each enqueue returns as soon as its queue has room, and a
        // full queue must hold back the pipeline rather than lose the batch for that exporter.
        // Every exporter gets the batch even when an earlier one failed; the first failure is
        // reported, so that a waiting sender retries.
        let mut first_error = None;
        for exporter in &self.exporters {
            if let Err(err) = exporter.enqueue(batch.clone()).await {
                tracing::error!(exporter = exporter.name(), error = %err, "batch not queued");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        self.exporters.iter().try_for_each(|exporter| exporter.check_admission())
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
