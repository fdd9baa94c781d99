//! The exporter contract. Queueing and retry are not the exporter's job: [`crate::queue`]
//! wraps every exporter with the collector's `sending_queue` and `retry_on_failure`.

use std::time::Duration;

use async_trait::async_trait;

use crate::batch::TraceBatch;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Worth retrying: a connection failure, gRPC `Unavailable`, HTTP 429/502/503/504.
    /// `retry_after` is the server's hint (Retry-After, gRPC RetryInfo).
    #[error("{message}")]
    Retryable { message: String, retry_after: Option<Duration> },
    /// The destination rejected the data for good (HTTP 400, gRPC `InvalidArgument`).
    #[error("permanent: {0}")]
    Permanent(String),
}

impl ExportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable { message: message.into(), retry_after: None }
    }
}

#[async_trait]
pub trait Exporter: Send + Sync + 'static {
    /// Sends one batch, once. Called concurrently by the queue's consumers.
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError>;

    /// Whether the exporter can take a batch now without growing memory past its bound
    /// (a store whose in-memory part is full, say). Receivers refuse while it is false.
    fn has_room(&self) -> bool {
        true
    }

    /// Flushes and releases resources; called after the queue has drained.
    async fn shutdown(&self) {}
}
