//! spoor-store owns trace storage: the [`TraceStore`] contract that every backend implements
//! (Jaeger v2's trace reader/writer and dependency reader), and the `memory` and `embedded`
//! backends. It knows nothing of the Jaeger wire formats or of HTTP: the query crate turns
//! what it returns into Jaeger JSON.
//!
//! - [`MemoryStore`] keeps whole traces in a ring of `max_traces`, as Jaeger's memory store.
//! - [`EmbeddedStore`] is the default: a WAL on local disk, an in-memory head, and immutable
//!   Parquet blocks written through `object_store` (see `embedded` for the layout).
//!
//! - [`TenantStores`] keeps tenants apart: a store per tenant, opened through the backend.
//!
//! Both follow Jaeger v2.20.0's memory store for search semantics (`query` module) and pass
//! the shared conformance suite (`conformance`, behind the `testing` feature).

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod config;
#[cfg(feature = "testing")]
pub mod conformance;
mod embedded;
pub mod factories;
mod memory;
mod model;
mod query;
#[cfg(feature = "testing")]
pub mod synth;
mod tenants;

pub use config::{EmbeddedConfig, MemoryConfig, SyncMode};
pub use embedded::EmbeddedStore;
pub use embedded::metrics::{StoreMetricFamilies, StoreMetrics};
pub use memory::MemoryStore;
pub use tenants::{TENANTS_DIR, TenantStores};

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::ResourceSpans;

/// A 128-bit trace ID.
pub type TraceId = [u8; 16];

/// One trace, as OTLP: its spans grouped by resource and scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub trace_id: TraceId,
    pub resource_spans: Vec<ResourceSpans>,
}

/// Jaeger v2's `TraceQueryParams`. Times are Unix nanoseconds; bounds are inclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub service_name: String,
    pub operation_name: Option<String>,
    /// Every pair must match one span, as strings (see DESIGN.md "Query" for the special keys).
    pub attributes: BTreeMap<String, String>,
    pub start_time_min: Option<u64>,
    pub start_time_max: Option<u64>,
    pub duration_min: Option<Duration>,
    pub duration_max: Option<Duration>,
    /// The most traces to return; 0 means the backend's default.
    pub search_depth: usize,
}

/// An operation of a service, with its span kind (`server`, `client`, ... or empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub name: String,
    pub span_kind: String,
}

/// A service-to-service edge for `/api/dependencies`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("storage i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The store cannot take writes now (disk full, directory unwritable, a failed fsync,
    /// memory bound reached) and says when to try again. Receivers answer 503 with
    /// Retry-After or gRPC `UNAVAILABLE` at once instead of waiting inside the request.
    #[error("storage unavailable: {message}")]
    Unavailable { message: String, retry_after: Option<Duration> },
    #[error("{0}")]
    Other(String),
}

/// The search depth used when a query leaves it at 0 (Jaeger's HTTP API default limit).
pub const DEFAULT_SEARCH_DEPTH: usize = 100;

#[async_trait]
pub trait TraceStore: Send + Sync + 'static {
    /// Stores a batch. `Ok` means it is durable to the backend's promise (for `embedded`, in
    /// the WAL), so the pipeline may acknowledge it.
    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError>;

    /// A trace by ID; `range` (Unix ns, inclusive) narrows where to look, as Jaeger's
    /// `start`/`end` parameters do.
    async fn get_trace(&self, trace_id: TraceId, range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError>;

    /// Whole traces that have at least one span matching `query`, newest first.
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StoreError>;

    /// The IDs `find_traces` would return.
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError>;

    /// Problems a search should report beside its results (the `errors` of Jaeger's response),
    /// such as damaged blocks the store skips.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    async fn services(&self) -> Result<Vec<String>, StoreError>;

    /// Operations of `service`; with `span_kind`, only those of that kind.
    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StoreError>;

    /// Service edges seen in spans that started in `[end - lookback, end]` (Unix ns).
    async fn dependencies(&self, end: u64, lookback: Duration) -> Result<Vec<DependencyLink>, StoreError>;

    /// Whether a write now would be taken without growing memory past the backend's bound.
    /// The pipeline refuses new data while it is false (503 / `UNAVAILABLE`), so that clients
    /// retry instead of the process growing without limit.
    fn has_room(&self) -> bool {
        true
    }

    /// Flushes what is buffered; called on shutdown.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
