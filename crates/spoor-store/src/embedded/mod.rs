//! The `embedded` backend: a WAL on local disk, an in-memory head, and immutable Parquet
//! blocks written through `object_store` (`LocalFileSystem` under `path`; S3 is the same code
//! with another store).
//!
//! Layout under `path`: `LOCK` (see `lock`), `wal/<segment>.wal`, `blocks/<id>.parquet` +
//! `<id>.search` (the search index, see `index`) + `<id>.meta.json`, and `quarantine/` for
//! damaged blocks (see `catalog`).
//!
//! Write: the batch's `ResourceSpans` bytes (as received, or encoded once) go to the WAL
//! (group commit), then to the head with a compact entry per span (see `head`). Every
//! `block_duration`, or once the head holds `max_head_bytes` or `max_block_spans`, the WAL
//! rotates and the head is frozen and cut into blocks, one per core for a big head (rows built
//! from the bytes, see `cut`); once the blocks are stored, the WAL segments they cover are
//! deleted (the last meta's `wal_through` also tells replay to skip them, if the process died
//! in between; on the local disk the blocks' files are fsynced first, see `durable`). Reads merge head, frozen heads and blocks from one consistent view (see `view`
//! and `read`), pruning blocks by time, services and operations, the bloom filter and
//! row-group trace-ID ranges. A search reads heads, then blocks newest first (each through
//! its index, when it has one), newest span first, and stops once `search_depth` traces are
//! found: the answer is the `search_depth` traces whose matching spans started latest, ties
//! broken by trace ID. Background tasks cut, and separately compact and apply the TTL
//! (see `background` and `compaction`: compaction and retention hold their own lock, so cuts
//! never wait for them). Block time ranges use placed span times (see `placement`). Writes,
//! cuts, compaction and retention report to the store's self-metrics (`metrics`).
//! Dependencies count calls whose two spans ended up in different heads or blocks too (see
//! `dependencies`).

mod background;
mod block;
mod catalog;
mod compaction;
mod cut;
mod dependencies;
pub(crate) mod durable;
mod head;
mod index;
mod lock;
pub mod metrics;
mod placement;
mod read;
mod view;
mod wal;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use spoor_pipeline::wire::{self as otlp_wire, FieldValue};
use spoor_pipeline::{EncodedRequest, TraceBatch};
use tokio::sync::{Mutex as AsyncMutex, Notify, RwLock as AsyncRwLock, watch};
use tokio::task::JoinHandle;

use self::background::CutHealth;
use self::block::Block;
use self::head::{Extracted, Head};
use self::lock::{DirLock, path_error};
use self::metrics::StoreMetrics;
use self::placement::Placement;
use self::view::{BlockHandle, FrozenHead, Reaper, View};
use self::wal::Wal;
use crate::{DependencyLink, EmbeddedConfig, Operation, StoreError, Trace, TraceId, TraceQuery, TraceStore};

/// How many result traces a search reads at once.
const CONCURRENT_TRACE_READS: usize = 16;

/// Sizes of what the store holds, for tests, benchmarks and self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    pub head_spans: usize,
    /// About how much memory the live and frozen heads hold (see `max_head_bytes`).
    pub head_bytes: u64,
    pub blocks: usize,
    pub block_spans: u64,
    pub block_bytes: u64,
    /// Cuts fail (full disk, unwritable directory): the head cannot be persisted.
    pub cut_failing: bool,
}

pub struct EmbeddedStore {
    inner: Arc<Inner>,
    shutdown: watch::Sender<bool>,
    background: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// Holds off cuts, compaction and retention while it lives (testing).
#[cfg(feature = "testing")]
pub struct MaintenancePaused<'a> {
    _cut: tokio::sync::MutexGuard<'a, ()>,
    _compaction: tokio::sync::MutexGuard<'a, ()>,
}

struct Inner {
    config: EmbeddedConfig,
    objects: Arc<dyn ObjectStore>,
    /// The data directory when blocks are on the local disk (fsync after a put).
    local_root: Option<PathBuf>,
    wal: Wal,
    /// The live head. Lock order: `head`, then `view`; a span moves out of the live head only
    /// under both, so a reader holding `head` while it clones `view` sees it exactly once.
    head: RwLock<Head>,
    /// The frozen heads and blocks, replaced as a whole by every transition.
    view: RwLock<Arc<View>>,
    reaper: Arc<Reaper>,
    /// Writers hold it shared across WAL append and head insert; a cut takes it exclusively,
    /// so that a WAL segment and the head it is cut with hold the same records.
    cut_gate: AsyncRwLock<()>,
    /// Serializes cuts (the live head → frozen → block path).
    cut_lock: AsyncMutex<()>,
    /// Serializes compaction and retention; never taken by a cut.
    compaction_lock: AsyncMutex<()>,
    /// One line per block quarantined since the store opened, for search responses.
    quarantined: RwLock<Vec<String>>,
    cut_health: CutHealth,
    /// The last blocks built by a cut whose put failed.
    built: std::sync::Mutex<Option<cut::BuiltCut>>,
    cut_wanted: Arc<Notify>,
    closed: AtomicBool,
    /// Released by `close` (or when the store is dropped).
    dir_lock: std::sync::Mutex<Option<DirLock>>,
    metrics: StoreMetrics,
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn new_block_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:020}-{:08x}-{counter:06}", now_nanos(), std::process::id())
}

fn lock_read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn lock_write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// `ExportTraceServiceRequest.resource_spans`.
const REQUEST_RESOURCE_SPANS: u32 = 1;

/// The `ResourceSpans` messages of an encoded request, sharing its bytes. A whole request was
/// encoded from decoded structs (or checked when replayed), so its top level is all it reads.
fn resource_parts(request: &EncodedRequest) -> Vec<Bytes> {
    match request {
        EncodedRequest::Resources(parts) => parts.clone(),
        EncodedRequest::Whole(body) => otlp_wire::fields(body)
            .map_while(Result::ok)
            .filter(|field| field.number == REQUEST_RESOURCE_SPANS && matches!(field.value, FieldValue::Len(_)))
            .map(|field| body.slice(field.value_range))
            .collect(),
    }
}

/// A batch's WAL record, as `write` makes it.
#[cfg(test)]
fn encode_batch(batch: &TraceBatch) -> Vec<u8> {
    wal_record(&batch.encoded_request())
}

/// The WAL record of a request: its bytes as received (or as encoded once, for a decoded
/// batch), framed.
fn wal_record(request: &EncodedRequest) -> Vec<u8> {
    wal::frame_with(request.len(), |out| request.write_to(out))
}

impl EmbeddedStore {
    /// Opens (or creates) the store under `config.path`, with blocks on the local disk.
    pub async fn open(config: EmbeddedConfig) -> Result<Self, StoreError> {
        Self::open_with_metrics(config, StoreMetrics::default()).await
    }

    /// Opens the store as [`open`](Self::open) does, reporting to `metrics`.
    pub async fn open_with_metrics(config: EmbeddedConfig, metrics: StoreMetrics) -> Result<Self, StoreError> {
        config.validate()?;
        let blocks_dir = config.path.join(block::BLOCKS_DIR);
        std::fs::create_dir_all(&blocks_dir).map_err(|e| path_error("creating", &blocks_dir, e))?;
        let lock = DirLock::acquire(&config.path)?;
        catalog::remove_staging_files(&blocks_dir);
        let objects: Arc<dyn ObjectStore> = Arc::new(
            LocalFileSystem::new_with_prefix(&config.path)
                .map_err(|e| StoreError::Other(format!("opening {}: {e}", config.path.display())))?,
        );
        let root = config.path.clone();
        Self::open_inner(config, objects, Some(root), lock, metrics).await
    }

    /// Opens the store with blocks in `objects` (under `blocks/`) and the WAL under
    /// `config.path/wal`.
    pub async fn open_with_object_store(
        config: EmbeddedConfig,
        objects: Arc<dyn ObjectStore>,
    ) -> Result<Self, StoreError> {
        config.validate()?;
        std::fs::create_dir_all(&config.path).map_err(|e| path_error("creating", &config.path, e))?;
        let lock = DirLock::acquire(&config.path)?;
        Self::open_inner(config, objects, None, lock, StoreMetrics::default()).await
    }

    async fn open_inner(
        config: EmbeddedConfig,
        objects: Arc<dyn ObjectStore>,
        local_root: Option<PathBuf>,
        dir_lock: DirLock,
        metrics: StoreMetrics,
    ) -> Result<Self, StoreError> {
        let local_blocks = local_root.as_ref().map(|root| root.join(block::BLOCKS_DIR));
        let catalog::Catalog { blocks, quarantined } = catalog::load_blocks(&objects, local_blocks.as_deref()).await?;
        let wal_through = blocks.iter().map(|b| b.meta.wal_through).max().unwrap_or(0);
        let mut head = Head::default();
        let mut replayed = 0usize;
        let placement = Placement::new(now_nanos(), config.ttl, config.max_future);
        let wal_dir = config.path.join("wal");
        let wal = Wal::open(&wal_dir, config.sync, config.sync_interval, wal_through, |payload| {
            let body = Bytes::copy_from_slice(payload);
            let mut parts = Vec::new();
            match otlp_wire::scan_request(&body, |range, _| parts.push(body.slice(range))) {
                Ok(_) => {
                    head.insert(&parts, &placement);
                    replayed += 1;
                    true
                }
                Err(_) => false,
            }
        })
        .map_err(|e| StoreError::Other(format!("opening the wal in {}: {e}", wal_dir.display())))?;
        if replayed > 0 {
            tracing::info!(records = replayed, spans = head.len(), "replayed wal into the head");
        }
        let reaper = Reaper::new(objects.clone(), local_root.clone());
        let blocks = blocks.into_iter().map(|block| reaper.handle(block)).collect();
        let inner = Arc::new(Inner {
            config,
            objects,
            local_root,
            wal,
            head: RwLock::new(head),
            view: RwLock::new(Arc::new(View { frozen: Vec::new(), blocks })),
            reaper,
            cut_gate: AsyncRwLock::new(()),
            cut_lock: AsyncMutex::new(()),
            compaction_lock: AsyncMutex::new(()),
            quarantined: RwLock::new(quarantined),
            cut_health: CutHealth::default(),
            built: std::sync::Mutex::new(None),
            cut_wanted: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
            dir_lock: std::sync::Mutex::new(Some(dir_lock)),
            metrics,
        });
        if let Err(err) = inner.enforce_retention().await {
            tracing::error!(error = %err, "retention at startup failed; it runs again in the background");
        }
        inner.publish_sizes();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let background = background::spawn(&inner, &shutdown_rx);
        Ok(Self { inner, shutdown, background: std::sync::Mutex::new(background) })
    }

    /// Cuts the head into a block now, whatever its age and size.
    pub async fn cut_block(&self) -> Result<(), StoreError> {
        self.inner.cut_block().await
    }

    /// Holds off cuts, compaction and retention while the guard lives, so that tests can see
    /// the store with a head that cannot be cut.
    #[cfg(feature = "testing")]
    pub async fn pause_maintenance(&self) -> MaintenancePaused<'_> {
        let cut = self.inner.cut_lock.lock().await;
        let compaction = self.inner.compaction_lock.lock().await;
        MaintenancePaused { _cut: cut, _compaction: compaction }
    }

    /// Runs one compaction pass; returns how many blocks were merged away.
    pub async fn compact(&self) -> Result<usize, StoreError> {
        self.inner.compact().await
    }

    /// Deletes blocks past the TTL; returns how many.
    pub async fn enforce_retention(&self) -> Result<usize, StoreError> {
        self.inner.enforce_retention().await
    }

    pub fn stats(&self) -> EmbeddedStats {
        let blocks = self.inner.blocks();
        EmbeddedStats {
            head_spans: self.inner.head_spans(),
            head_bytes: self.inner.head_bytes() as u64,
            blocks: blocks.len(),
            block_spans: blocks.iter().map(|b| b.meta.span_count).sum(),
            block_bytes: blocks.iter().map(|b| b.meta.size_bytes).sum(),
            cut_failing: self.inner.cut_health.failing(),
        }
    }
}

impl Inner {
    /// Whether the live head is due to be cut, by size or by age.
    fn head_due(&self) -> bool {
        let head = lock_read(&self.head);
        self.head_full(&head) || head.opened().is_some_and(|opened| opened.elapsed() >= self.config.block_duration)
    }

    /// Whether `head` holds `max_head_bytes` or `max_block_spans`.
    fn head_full(&self, head: &Head) -> bool {
        head.len() >= self.config.max_block_spans || head.bytes() as u64 >= self.config.max_head_bytes
    }

    /// The current frozen heads and blocks.
    fn view(&self) -> Arc<View> {
        lock_read(&self.view).clone()
    }

    fn blocks(&self) -> Vec<Arc<BlockHandle>> {
        self.view().blocks.clone()
    }

    fn has_frozen_heads(&self) -> bool {
        !self.view().frozen.is_empty()
    }

    /// Swaps in a view where `retired` blocks are gone and `added` ones are in: one atomic
    /// step for readers. Compaction and retention then `delete_block` the retired ones.
    fn swap_blocks(&self, retired: &[&str], added: Vec<Block>) {
        let added: Vec<Arc<BlockHandle>> = added.into_iter().map(|block| self.reaper.handle(block)).collect();
        let mut view = lock_write(&self.view);
        *view = Arc::new(view.with_blocks(retired, added));
    }

    /// Takes block `id` out of the view (a damaged block on its way to quarantine); whether it
    /// was there, so that of several reads meeting the damage at once one moves it.
    fn take_out_of_view(&self, id: &str) -> bool {
        let mut view = lock_write(&self.view);
        if !view.blocks.iter().any(|b| b.meta.id == id) {
            return false;
        }
        *view = Arc::new(view.with_blocks(&[id], Vec::new()));
        true
    }

    /// Sets the size gauges (blocks, their bytes, the WAL's and the head's bytes).
    fn publish_sizes(&self) {
        let blocks = self.blocks();
        let block_bytes = blocks.iter().map(|b| b.meta.size_bytes).sum();
        self.metrics.sizes(blocks.len(), block_bytes, &self.config.path.join("wal"), self.head_bytes());
        self.metrics.quarantined_blocks.set(i64::try_from(self.quarantined().len()).unwrap_or(i64::MAX));
        self.metrics.disk_full.set(i64::from(self.cut_health.failing()));
    }

    /// Spans held in memory: the live head and the heads being cut.
    fn head_spans(&self) -> usize {
        let head = lock_read(&self.head);
        let frozen: usize = lock_read(&self.view).heads().map(Head::len).sum();
        head.len() + frozen
    }

    /// Bytes held in memory by the live head and the heads being cut.
    fn head_bytes(&self) -> usize {
        let head = lock_read(&self.head);
        let frozen: usize = lock_read(&self.view).heads().map(Head::bytes).sum();
        head.bytes() + frozen
    }

    /// `Unavailable` while the store cannot persist blocks (cuts fail: full disk, an
    /// unwritable directory); the write path refuses writes with it.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        self.cut_health.writable()
    }

    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Other("the store is closed".to_owned()));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let refused = |err: StoreError| {
            if matches!(err, StoreError::Unavailable { .. }) {
                self.metrics.rejected_spans.inc_by(batch.span_count() as u64);
            }
            err
        };
        // Nothing is taken that could not be persisted: a full disk refuses at once.
        self.writable().map_err(refused)?;
        let request = batch.encoded_request();
        let extracted = Extracted::new(&resource_parts(&request));
        let record = wal_record(&request);
        let record_len = record.len();
        let (full, placed) = {
            let _gate = self.cut_gate.read().await;
            self.wal.append(record).await.map_err(refused)?;
            let placement = Placement::new(now_nanos(), self.config.ttl, self.config.max_future);
            let mut head = lock_write(&self.head);
            let moved_before = head.moved();
            head.insert_extracted(extracted, &placement);
            (self.head_full(&head), head.moved() - moved_before)
        };
        self.metrics.written(batch.span_count(), record_len, placed, self.head_bytes());
        if full {
            self.cut_wanted.notify_one();
        }
        Ok(())
    }

    /// Retires a block that compaction or retention took out of the view: its meta goes now,
    /// its Parquet file once no reader holds it (see `view`).
    async fn delete_block(&self, block: &Block) -> Result<(), StoreError> {
        self.reaper.retire(block).await
    }
}

#[async_trait]
impl TraceStore for EmbeddedStore {
    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        self.inner.write(batch).await
    }

    /// No room once the heads in memory hold two heads' worth (twice `max_head_bytes`, or of
    /// `max_block_spans`): the live head has filled up again while the previous one is still
    /// being written, so cutting cannot keep up with the intake.
    fn has_room(&self) -> bool {
        let config = &self.inner.config;
        (self.inner.head_bytes() as u64) < config.max_head_bytes.saturating_mul(2)
            && self.inner.head_spans() < config.max_block_spans.saturating_mul(2)
    }

    async fn get_trace(&self, trace_id: TraceId, range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError> {
        self.inner.get_trace(trace_id, range).await
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StoreError> {
        let ids = self.inner.find_trace_ids(query).await?;
        // A few at once, in order: each read waits on its block's pages as much as it decodes.
        let traces: Vec<Option<Trace>> = futures::stream::iter(ids)
            .map(|id| self.inner.get_trace(id, None))
            .buffered(CONCURRENT_TRACE_READS)
            .try_collect()
            .await?;
        Ok(traces.into_iter().flatten().collect())
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        self.inner.find_trace_ids(query).await
    }

    /// The blocks found damaged and quarantined, at startup or by a read.
    fn warnings(&self) -> Vec<String> {
        self.inner.quarantined()
    }

    async fn services(&self) -> Result<Vec<String>, StoreError> {
        self.inner.services().await
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations(service, span_kind).await
    }

    /// Calls between services, of child spans that started in the window. Blocks count per
    /// minute of start, so the window is minute-aligned there.
    async fn dependencies(&self, end: u64, lookback: Duration) -> Result<Vec<DependencyLink>, StoreError> {
        let start = end.saturating_sub(u64::try_from(lookback.as_nanos()).unwrap_or(u64::MAX));
        self.inner.dependencies(start, end).await
    }

    /// Stops the background task and syncs and closes the WAL. The head is not cut: replay
    /// restores it on the next open.
    async fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _ = self.shutdown.send(true);
        let background = std::mem::take(&mut *self.background.lock().unwrap_or_else(|p| p.into_inner()));
        for task in background {
            let _ = task.await;
        }
        // Wait for writers in flight, then stop the WAL thread.
        let _gate = self.inner.cut_gate.write().await;
        self.inner.wal.sync().await?;
        self.inner.wal.close();
        // Another store may open the directory now.
        self.inner.dir_lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(())
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
