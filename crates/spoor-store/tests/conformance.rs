//! Jaeger's storage integration suite against both backends.

use spoor_pipeline::TraceBatch;
use spoor_store::conformance::{self, Report};
use spoor_store::{
    DependencyLink, EmbeddedConfig, EmbeddedStore, MemoryConfig, MemoryStore, Operation, StoreError, Trace, TraceId,
    TraceQuery, TraceStore,
};

/// The fixtures are part of the repository: a missing folder is a failure, not a skip.
fn require_fixtures() {
    let dir = conformance::default_fixtures_dir();
    assert!(dir.is_dir(), "fixtures not found at {}", dir.display());
}

fn assert_passed(backend: &str, report: &Report) {
    println!("{backend}: {}", report.summary());
    assert_eq!(report.failed(), 0, "{backend}: {}", report.summary());
}

#[tokio::test]
async fn memory_store_passes_conformance() {
    require_fixtures();
    let report = conformance::run(&conformance::default_fixtures_dir(), || async {
        MemoryStore::new(MemoryConfig::default()).unwrap()
    })
    .await;
    assert_passed("memory", &report);
}

/// An embedded store in a temporary directory that lives as long as the store.
struct TempEmbedded {
    store: EmbeddedStore,
    /// Cut a block after every write, and compact, so that reads come from Parquet.
    blocks: bool,
    _dir: tempfile::TempDir,
}

impl TempEmbedded {
    async fn new(blocks: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(EmbeddedConfig::with_path(dir.path())).await.unwrap();
        Self { store, blocks, _dir: dir }
    }
}

#[async_trait::async_trait]
impl TraceStore for TempEmbedded {
    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        self.store.write(batch).await?;
        if self.blocks {
            self.store.cut_block().await?;
            self.store.compact().await?;
        }
        Ok(())
    }
    async fn get_trace(&self, id: TraceId, range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError> {
        self.store.get_trace(id, range).await
    }
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StoreError> {
        self.store.find_traces(query).await
    }
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        self.store.find_trace_ids(query).await
    }
    async fn services(&self) -> Result<Vec<String>, StoreError> {
        self.store.services().await
    }
    async fn operations(&self, service: &str, kind: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        self.store.operations(service, kind).await
    }
    async fn dependencies(&self, end: u64, lookback: std::time::Duration) -> Result<Vec<DependencyLink>, StoreError> {
        self.store.dependencies(end, lookback).await
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.store.close().await
    }
}

#[tokio::test]
async fn embedded_store_passes_conformance_from_the_head() {
    require_fixtures();
    let report = conformance::run(&conformance::default_fixtures_dir(), || TempEmbedded::new(false)).await;
    assert_passed("embedded (head)", &report);
}

#[tokio::test]
async fn embedded_store_passes_conformance_from_blocks() {
    require_fixtures();
    let report = conformance::run(&conformance::default_fixtures_dir(), || TempEmbedded::new(true)).await;
    assert_passed("embedded (blocks)", &report);
}
