//! The one interface between stages, as the collector's `consumer.Traces`.

use std::time::Duration;

use async_trait::async_trait;

use crate::batch::TraceBatch;

/// Why a stage did not take a batch. The receiver maps this onto its protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    /// Temporarily refused (memory limit, full queue, shutting down); the sender should retry.
    /// gRPC `Unavailable`, HTTP 503 with `Retry-After`.
    #[error("refused: {reason}")]
    Refused { reason: String, retry_after: Option<Duration> },
    /// The data is bad and retrying will not help. gRPC `InvalidArgument`, HTTP 400.
    #[error("{0}")]
    Permanent(String),
}

impl ConsumeError {
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::Refused { reason: reason.into(), retry_after: None }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

#[async_trait]
pub trait TracesConsumer: Send + Sync + 'static {
    /// Takes ownership of the batch. `Ok` means the pipeline has accepted it and will deliver
    /// it or account for it; it is what a receiver acknowledges.
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError>;

    /// Whether a batch would be refused right now, so that a receiver can refuse before it
    /// reads and decodes a large body.
    fn check_admission(&self) -> Result<(), ConsumeError> {
        Ok(())
    }
}
