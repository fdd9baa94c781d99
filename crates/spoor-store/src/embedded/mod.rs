//! The `embedded` backend: a WAL on local disk, an in-memory head, and immutable Parquet
//! blocks written through `object_store` (`LocalFileSystem` under `path`; S3 is the same code
//! with another store).
//!
//! Layout under `path`: `LOCK` (see `lock`), `wal/<segment>.wal` and `blocks/<id>.parquet` +
//! `<id>.meta.json`.
//!
//! Write: WAL append (group commit) → head. Every `block_duration` or `max_block_spans`, the
//! WAL rotates and the head is frozen and cut into a block; once the block is stored, the WAL
//! segments it covers are deleted (the meta's `wal_through` also tells replay to skip them, if
//! the process died in between; on the local disk the block's files are fsynced first, see
//! `durable`). Reads merge head, frozen heads and blocks from one consistent view (see `view`
//! and `read`), pruning blocks by time, services and operations, the bloom filter and
//! row-group trace-ID ranges. Background tasks cut, and separately compact (merge small
//! blocks of one `compaction_window`, dropping repeated span IDs) and apply the TTL (see
//! `background`). Dependencies count calls whose two spans ended up in different heads or
//! blocks too (see `dependencies`).

mod background;
mod block;
mod dependencies;
pub(crate) mod durable;
mod head;
mod lock;
#[allow(dead_code)] // the head and the cut place spans with it (issue 13, in progress)
mod placement;
mod read;
mod view;
mod wal;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prost::Message;
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::ExportTraceServiceRequest;
use tokio::sync::{Mutex as AsyncMutex, Notify, RwLock as AsyncRwLock, watch};
use tokio::task::JoinHandle;

use self::background::CutHealth;
use self::block::{Block, BlockBuilder, BlockMeta, RawRow};
use self::head::Head;
use self::lock::{DirLock, path_error};
use self::view::{BlockHandle, FrozenHead, Reaper, View};
use self::wal::Wal;
use crate::{DependencyLink, EmbeddedConfig, Operation, StoreError, Trace, TraceId, TraceQuery, TraceStore};

/// How many result traces a search reads at once.
const CONCURRENT_TRACE_READS: usize = 4;

/// Sizes of what the store holds, for tests, benchmarks and self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    pub head_spans: usize,
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

/// A block built from a frozen head whose put failed, kept so that the retry does not build
/// the Parquet again.
struct BuiltBlock {
    wal_through: u64,
    bytes: Bytes,
    meta: BlockMeta,
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
    cut_health: CutHealth,
    /// The last block built by a cut whose put failed.
    built: std::sync::Mutex<Option<BuiltBlock>>,
    cut_wanted: Arc<Notify>,
    closed: AtomicBool,
    /// Released by `close` (or when the store is dropped).
    dir_lock: std::sync::Mutex<Option<DirLock>>,
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

fn encode_batch(batch: &TraceBatch) -> Vec<u8> {
    let mut payload = Vec::new();
    for resource_spans in batch.resource_spans() {
        prost::encoding::message::encode(1, resource_spans, &mut payload);
    }
    wal::frame(&payload)
}

impl EmbeddedStore {
    /// Opens (or creates) the store under `config.path`, with blocks on the local disk.
    pub async fn open(config: EmbeddedConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let blocks_dir = config.path.join(block::BLOCKS_DIR);
        std::fs::create_dir_all(&blocks_dir).map_err(|e| path_error("creating", &blocks_dir, e))?;
        let lock = DirLock::acquire(&config.path)?;
        let objects: Arc<dyn ObjectStore> = Arc::new(
            LocalFileSystem::new_with_prefix(&config.path)
                .map_err(|e| StoreError::Other(format!("opening {}: {e}", config.path.display())))?,
        );
        let root = config.path.clone();
        Self::open_inner(config, objects, Some(root), lock).await
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
        Self::open_inner(config, objects, None, lock).await
    }

    async fn open_inner(
        config: EmbeddedConfig,
        objects: Arc<dyn ObjectStore>,
        local_root: Option<PathBuf>,
        dir_lock: DirLock,
    ) -> Result<Self, StoreError> {
        let blocks = load_blocks(&objects).await?;
        let wal_through = blocks.iter().map(|b| b.meta.wal_through).max().unwrap_or(0);
        let mut head = Head::default();
        let mut replayed = 0usize;
        let wal_dir = config.path.join("wal");
        let wal = Wal::open(&wal_dir, config.sync, config.sync_interval, wal_through, |payload| {
            match ExportTraceServiceRequest::decode(payload) {
                Ok(request) => {
                    head.insert(&request.resource_spans);
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
            cut_health: CutHealth::default(),
            built: std::sync::Mutex::new(None),
            cut_wanted: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
            dir_lock: std::sync::Mutex::new(Some(dir_lock)),
        });
        inner.enforce_retention().await?;
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
            blocks: blocks.len(),
            block_spans: blocks.iter().map(|b| b.meta.span_count).sum(),
            block_bytes: blocks.iter().map(|b| b.meta.size_bytes).sum(),
            cut_failing: self.inner.cut_health.failing(),
        }
    }
}

async fn load_blocks(objects: &Arc<dyn ObjectStore>) -> Result<Vec<Block>, StoreError> {
    let listed: Vec<_> = objects.list(Some(&Path::from(block::BLOCKS_DIR))).try_collect().await?;
    let names: BTreeSet<String> = listed.iter().filter_map(|m| m.location.filename().map(str::to_owned)).collect();
    let mut blocks = Vec::new();
    for name in &names {
        if let Some(id) = name.strip_suffix(block::PARQUET_SUFFIX)
            && !names.contains(&format!("{id}{}", block::META_SUFFIX))
        {
            // A cut or compaction that died before its meta was written.
            tracing::warn!(block = id, "deleting block without meta");
            objects.delete(&block::parquet_path(id)).await?;
            continue;
        }
        let Some(id) = name.strip_suffix(block::META_SUFFIX) else {
            continue;
        };
        match load_block(objects, id).await {
            Ok(block) => blocks.push(block),
            Err(err) => tracing::warn!(block = id, error = %err, "ignoring unreadable block meta"),
        }
    }
    blocks.sort_by_key(|b| (b.meta.min_time, b.meta.created_unix_nano));
    Ok(blocks)
}

async fn load_block(objects: &Arc<dyn ObjectStore>, id: &str) -> Result<Block, StoreError> {
    let bytes = objects.get(&block::meta_path(id)).await?.bytes().await?;
    let meta: BlockMeta =
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Other(format!("bad block meta: {e}")))?;
    Block::new(meta)
}

impl Inner {
    /// Whether the live head is due to be cut, by size or by age.
    fn head_due(&self) -> bool {
        let head = lock_read(&self.head);
        head.len() >= self.config.max_block_spans
            || head.opened().is_some_and(|opened| opened.elapsed() >= self.config.block_duration)
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

    /// Spans held in memory: the live head and the heads being cut.
    fn head_spans(&self) -> usize {
        let head = lock_read(&self.head);
        let frozen: usize = lock_read(&self.view).heads().map(Head::len).sum();
        head.len() + frozen
    }

    /// `Unavailable` while the store cannot persist blocks (cuts fail: full disk, an
    /// unwritable directory); the write path refuses writes with it.
    #[allow(dead_code)] // the write path consults it (issue 13, the wal engineer's part)
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
        let record = encode_batch(batch);
        let head_len = {
            let _gate = self.cut_gate.read().await;
            self.wal.append(record).await?;
            let mut head = lock_write(&self.head);
            head.insert(batch.resource_spans());
            head.len()
        };
        if head_len >= self.config.max_block_spans {
            self.cut_wanted.notify_one();
        }
        Ok(())
    }

    /// Freezes the live head and writes every frozen head as a block.
    async fn cut_block(self: &Arc<Self>) -> Result<(), StoreError> {
        self.write_blocks(true).await
    }

    /// Writes the heads a failed cut left frozen, leaving the live head alone.
    async fn write_frozen_heads(self: &Arc<Self>) -> Result<(), StoreError> {
        self.write_blocks(false).await
    }

    async fn write_blocks(self: &Arc<Self>, freeze_live_head: bool) -> Result<(), StoreError> {
        let _cut = self.cut_lock.lock().await;
        let result = self.write_blocks_locked(freeze_live_head).await;
        self.cut_health.record(&result);
        result
    }

    async fn write_blocks_locked(self: &Arc<Self>, freeze_live_head: bool) -> Result<(), StoreError> {
        if freeze_live_head {
            let _gate = self.cut_gate.write().await;
            if !lock_read(&self.head).is_empty() {
                let wal_through = self.wal.rotate().await?;
                // On a blocking thread: the head's lock may wait for a scan to finish.
                let inner = self.clone();
                tokio::task::spawn_blocking(move || inner.freeze_live_head(wal_through))
                    .await
                    .map_err(|e| StoreError::Other(format!("freezing the head failed: {e}")))?;
            }
        }
        loop {
            let Some(frozen) = self.view().frozen.first().cloned() else {
                return Ok(());
            };
            let meta = self.store_head(frozen.head.clone(), frozen.wal_through).await?;
            tracing::debug!(block = %meta.id, spans = meta.span_count, bytes = meta.size_bytes, "cut block");
            let block = self.reaper.handle(Block::new(meta)?);
            {
                // The frozen head leaves the view as its block enters it, in one swap.
                let mut view = lock_write(&self.view);
                let mut next = view.with_blocks(&[], vec![block]);
                next.frozen.retain(|f| !Arc::ptr_eq(&f.head, &frozen.head));
                *view = Arc::new(next);
            }
            self.wal.delete_through(frozen.wal_through)?;
        }
    }

    /// Moves the live head into the view's frozen heads, under both locks in order: a reader
    /// sees its spans in the live head or in the frozen heads, never in neither.
    fn freeze_live_head(&self, wal_through: u64) {
        let mut live = lock_write(&self.head);
        let mut view = lock_write(&self.view);
        let head = Arc::new(std::mem::take(&mut *live));
        let mut next = View::clone(&view);
        next.frozen.push(FrozenHead { head, wal_through });
        *view = Arc::new(next);
    }

    async fn store_head(&self, head: Arc<Head>, through: u64) -> Result<BlockMeta, StoreError> {
        // A put that failed (full disk) is retried with the block already built.
        let cached = {
            let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
            built.take_if(|b| b.wal_through == through)
        };
        let built = match cached {
            Some(built) => built,
            None => {
                let (bytes, meta) = tokio::task::spawn_blocking(move || {
                    let mut rows: Vec<RawRow> = head.records().iter().map(RawRow::from_record).collect();
                    block::sort_and_dedupe(&mut rows);
                    let mut builder = BlockBuilder::new()?;
                    for row in rows {
                        builder.push(row)?;
                    }
                    builder.finish(new_block_id(), through, now_nanos())
                })
                .await
                .map_err(|e| StoreError::Other(format!("block builder task failed: {e}")))??;
                BuiltBlock { wal_through: through, bytes: Bytes::from(bytes), meta }
            }
        };
        match self.put_block_bytes(built.bytes.clone(), &built.meta).await {
            Ok(()) => Ok(built.meta),
            Err(err) => {
                *self.built.lock().unwrap_or_else(|p| p.into_inner()) = Some(built);
                Err(err)
            }
        }
    }

    /// Writes the Parquet file, then the meta that makes the block exist, and makes both
    /// durable.
    async fn put_block(&self, (bytes, meta): (Vec<u8>, BlockMeta)) -> Result<BlockMeta, StoreError> {
        self.put_block_bytes(Bytes::from(bytes), &meta).await?;
        Ok(meta)
    }

    async fn put_block_bytes(&self, bytes: Bytes, meta: &BlockMeta) -> Result<(), StoreError> {
        let parquet = block::parquet_path(&meta.id);
        self.objects.put(&parquet, PutPayload::from(bytes)).await?;
        // The data is on disk before the meta that makes the block exist is written.
        self.sync_local(move |root| durable::sync_path(&root.join(parquet.as_ref()))).await?;
        let json = serde_json::to_vec(meta).map_err(|e| StoreError::Other(format!("encoding block meta: {e}")))?;
        self.objects.put(&block::meta_path(&meta.id), PutPayload::from(json)).await?;
        let id = meta.id.clone();
        self.sync_local(move |root| durable::sync_block_files(root, &id)).await
    }

    /// Runs `sync` on a blocking thread with the data directory, when blocks are on the local
    /// disk; other object stores are durable once a put returns.
    async fn sync_local(
        &self,
        sync: impl FnOnce(&std::path::Path) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), StoreError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || sync(&root))
            .await
            .map_err(|e| StoreError::Other(format!("fsync task failed: {e}")))??;
        Ok(())
    }

    /// Retires a block that compaction or retention took out of the view: its meta goes now,
    /// its Parquet file once no reader holds it (see `view`).
    async fn delete_block(&self, block: &Block) -> Result<(), StoreError> {
        self.reaper.retire(block).await
    }

    async fn enforce_retention(&self) -> Result<usize, StoreError> {
        if self.config.ttl.is_zero() {
            return Ok(0);
        }
        let _compaction = self.compaction_lock.lock().await;
        let ttl = u64::try_from(self.config.ttl.as_nanos()).unwrap_or(u64::MAX);
        let horizon = now_nanos().saturating_sub(ttl);
        let expired: Vec<Arc<BlockHandle>> = self.blocks().into_iter().filter(|b| b.meta.max_time < horizon).collect();
        for block in &expired {
            self.swap_blocks(&[block.meta.id.as_str()], Vec::new());
            self.delete_block(block).await?;
            tracing::info!(block = %block.meta.id, "deleted block past ttl");
        }
        Ok(expired.len())
    }

    /// Merges the small blocks of each compaction window, oldest window first.
    async fn compact(&self) -> Result<usize, StoreError> {
        let _compaction = self.compaction_lock.lock().await;
        let window = u64::try_from(self.config.compaction_window.as_nanos()).unwrap_or(u64::MAX).max(1);
        let limit = self.config.compaction_max_spans as u64;
        let mut windows: std::collections::BTreeMap<u64, Vec<Arc<BlockHandle>>> = std::collections::BTreeMap::new();
        for block in self.blocks() {
            if block.meta.span_count < limit {
                windows.entry(block.meta.min_time / window).or_default().push(block);
            }
        }
        let mut merged = 0;
        for (_, candidates) in windows {
            let mut group = Vec::new();
            let mut total = 0;
            for block in candidates {
                if total + block.meta.span_count > limit && group.len() >= 2 {
                    break;
                }
                total += block.meta.span_count;
                group.push(block);
            }
            if group.len() >= 2 {
                merged += group.len();
                self.merge(group).await?;
            }
        }
        Ok(merged)
    }

    async fn merge(&self, inputs: Vec<Arc<BlockHandle>>) -> Result<(), StoreError> {
        let mut files: Vec<Bytes> = Vec::with_capacity(inputs.len());
        for block in &inputs {
            files.push(self.objects.get(&block.parquet_path()).await?.bytes().await?);
        }
        let through = inputs.iter().map(|b| b.meta.wal_through).max().unwrap_or(0);
        let built = tokio::task::spawn_blocking(move || {
            let mut builder = BlockBuilder::new()?;
            block::merge_blocks(files, &mut builder)?;
            builder.finish(new_block_id(), through, now_nanos())
        })
        .await
        .map_err(|e| StoreError::Other(format!("compaction task failed: {e}")))??;
        let meta = self.put_block(built).await?;
        tracing::debug!(block = %meta.id, inputs = inputs.len(), spans = meta.span_count, "compacted blocks");
        let merged = Block::new(meta)?;
        let retired: Vec<&str> = inputs.iter().map(|b| b.meta.id.as_str()).collect();
        self.swap_blocks(&retired, vec![merged]);
        for block in &inputs {
            self.delete_block(block).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TraceStore for EmbeddedStore {
    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        self.inner.write(batch).await
    }

    /// No room once the heads in memory hold two blocks' worth (`max_block_spans`): the live
    /// head has filled up again while the previous one is still being written, so cutting
    /// cannot keep up with the intake.
    fn has_room(&self) -> bool {
        self.inner.head_spans() < self.inner.config.max_block_spans.saturating_mul(2)
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
