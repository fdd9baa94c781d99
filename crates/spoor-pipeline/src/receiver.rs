//! The receiver contract, and [`ReceiverObserver`], which every receiver uses to hand data to
//! the pipeline so that accepted and refused spans are counted the same way everywhere.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::telemetry::Telemetry;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

#[async_trait]
pub trait Receiver: Send + Sync + 'static {
    /// Binds every listener and starts serving. An error (port in use, bad certificate) stops
    /// the whole process from starting, as in the collector.
    async fn start(&mut self, next: Arc<dyn TracesConsumer>) -> Result<(), StartError>;

    /// Stops accepting new requests and waits for the ones in flight to be answered.
    async fn shutdown(&mut self);
}

/// A started receiver's server tasks and the signal that stops them.
pub struct ServerTasks {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerTasks {
    /// How long a stopping receiver waits for each task's in-flight requests.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

    /// `tasks` stop once `shutdown` carries `true`.
    pub fn new(shutdown: watch::Sender<bool>, tasks: Vec<JoinHandle<()>>) -> Self {
        Self { shutdown, tasks }
    }

    /// Signals the tasks to stop and waits for their in-flight requests to be answered, up to
    /// [`Self::SHUTDOWN_TIMEOUT`] each; a task still running then is aborted.
    pub async fn stop(self, receiver: &str) {
        let _ = self.shutdown.send(true);
        for mut task in self.tasks {
            if tokio::time::timeout(Self::SHUTDOWN_TIMEOUT, &mut task).await.is_err() {
                tracing::warn!(receiver, "in-flight requests did not finish in time");
                task.abort();
            }
        }
    }
}

/// Counts what one receiver transport accepts and refuses, under the collector's names.
#[derive(Clone)]
pub struct ReceiverObserver {
    accepted: Counter,
    refused: Counter,
}

impl ReceiverObserver {
    pub fn new(telemetry: &Telemetry, receiver: &str, transport: &str) -> Self {
        let (accepted, refused) = telemetry.receiver_counters(receiver, transport);
        Self { accepted, refused }
    }

    /// Passes the batch on and counts the outcome.
    pub async fn deliver(&self, next: &dyn TracesConsumer, batch: TraceBatch) -> Result<(), ConsumeError> {
        let spans = batch.span_count() as u64;
        if spans == 0 {
            return Ok(());
        }
        let result = next.consume(batch).await;
        match &result {
            Ok(()) => self.accepted.inc_by(spans),
            Err(_) => self.refused.inc_by(spans),
        };
        result
    }

    /// Counts spans refused before they reached the pipeline (undecodable, too large, ...),
    /// when the count is known.
    pub fn refused(&self, spans: u64) {
        self.refused.inc_by(spans);
    }
}

/// The `nop` receiver: configured like any other, receives nothing. For benchmarks and tests.
pub struct NopReceiver;

#[async_trait]
impl Receiver for NopReceiver {
    async fn start(&mut self, _next: Arc<dyn TracesConsumer>) -> Result<(), StartError> {
        Ok(())
    }

    async fn shutdown(&mut self) {}
}
