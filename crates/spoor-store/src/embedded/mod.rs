//! The `embedded` backend: a WAL on local disk, an in-memory head, and immutable Parquet
//! blocks written through `object_store` (`LocalFileSystem` under `path`; S3 is the same code
//! with another store).
//!
//! Layout under `path`: `wal/<segment>.wal` and `blocks/<id>.parquet` + `<id>.meta.json`.
//!
//! Write: the batch's `ResourceSpans` bytes (as received, or encoded once) go to the WAL
//! (group commit), then to the head with a compact entry per span (see `head`). Every
//! `block_duration`, or once the head holds `max_head_bytes` or `max_block_spans`, the WAL
//! rotates and the head is frozen and cut into a block (rows built from the bytes); once the
//! block is stored, the WAL segments it covers are deleted (the meta's `wal_through` also tells
//! replay to skip them, if the process died in between). Reads merge head, frozen heads and blocks, pruning blocks by
//! time, services and operations, the bloom filter and row-group trace-ID ranges. A
//! background task cuts, compacts (merges small blocks of one `compaction_window`, dropping
//! repeated span IDs) and applies the TTL. Dependencies count calls whose two spans ended up
//! in different heads or blocks too (see `dependencies`).

mod block;
mod dependencies;
mod head;
mod placement;
mod wal;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use spoor_pipeline::wire::{self as otlp_wire, FieldValue};
use spoor_pipeline::{EncodedRequest, TraceBatch};
use tokio::sync::{Mutex as AsyncMutex, Notify, RwLock as AsyncRwLock, watch};
use tokio::task::JoinHandle;

use self::block::{Block, BlockBuilder, BlockMeta};
use self::dependencies::{EdgeCounts, PendingCalls};
use self::head::{Extracted, Head};
use self::placement::Placement;
use self::wal::Wal;
use crate::model::{assemble_trace, dedupe_spans};
use crate::query::{SpanFilter, dependency_links};
use crate::{
    DEFAULT_SEARCH_DEPTH, DependencyLink, EmbeddedConfig, Operation, StoreError, Trace, TraceId, TraceQuery, TraceStore,
};

/// How often the background task checks whether the head is due to be cut.
const CUT_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// How many result traces a search reads at once.
const CONCURRENT_TRACE_READS: usize = 4;

/// Sizes of what the store holds, for tests, benchmarks and self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    pub head_spans: usize,
    /// About how much memory the live and frozen heads hold (see `max_head_bytes`).
    pub head_bytes: u64,
    pub blocks: usize,
    pub block_spans: u64,
    pub block_bytes: u64,
}

pub struct EmbeddedStore {
    inner: Arc<Inner>,
    shutdown: watch::Sender<bool>,
    background: std::sync::Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    config: EmbeddedConfig,
    objects: Arc<dyn ObjectStore>,
    wal: Wal,
    head: RwLock<Head>,
    /// Heads being cut into blocks, oldest first, with the last WAL segment each covers.
    frozen: RwLock<Vec<(Arc<Head>, u64)>>,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Writers hold it shared across WAL append and head insert; a cut takes it exclusively,
    /// so that a WAL segment and the head it is cut with hold the same records.
    cut_gate: AsyncRwLock<()>,
    /// Serializes cuts, compaction and retention.
    maintenance: AsyncMutex<()>,
    cut_wanted: Arc<Notify>,
    closed: AtomicBool,
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

/// The WAL record of a request: its bytes as received (or as encoded once, for a decoded
/// batch), framed.
fn wal_record(request: &EncodedRequest) -> Vec<u8> {
    let mut payload = Vec::with_capacity(request.len());
    request.write_to(&mut payload);
    wal::frame(&payload)
}

impl EmbeddedStore {
    /// Opens (or creates) the store under `config.path`, with blocks on the local disk.
    pub async fn open(config: EmbeddedConfig) -> Result<Self, StoreError> {
        config.validate()?;
        std::fs::create_dir_all(config.path.join(block::BLOCKS_DIR))?;
        let objects: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&config.path)?);
        Self::open_with_object_store(config, objects).await
    }

    /// Opens the store with blocks in `objects` (under `blocks/`) and the WAL under
    /// `config.path/wal`.
    pub async fn open_with_object_store(
        config: EmbeddedConfig,
        objects: Arc<dyn ObjectStore>,
    ) -> Result<Self, StoreError> {
        config.validate()?;
        let blocks = load_blocks(&objects).await?;
        let wal_through = blocks.iter().map(|b| b.meta.wal_through).max().unwrap_or(0);
        let mut head = Head::default();
        let mut replayed = 0usize;
        let placement = Placement::new(now_nanos(), config.ttl, config.max_future);
        let wal = Wal::open(&config.path.join("wal"), config.sync, config.sync_interval, wal_through, |payload| {
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
        })?;
        if replayed > 0 {
            tracing::info!(records = replayed, spans = head.len(), "replayed wal into the head");
        }
        let inner = Arc::new(Inner {
            config,
            objects,
            wal,
            head: RwLock::new(head),
            frozen: RwLock::new(Vec::new()),
            blocks: RwLock::new(blocks.into_iter().map(Arc::new).collect()),
            cut_gate: AsyncRwLock::new(()),
            maintenance: AsyncMutex::new(()),
            cut_wanted: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
        });
        inner.enforce_retention().await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let background = tokio::spawn(run_background(Arc::downgrade(&inner), inner.cut_wanted.clone(), shutdown_rx));
        Ok(Self { inner, shutdown, background: std::sync::Mutex::new(Some(background)) })
    }

    /// Cuts the head into a block now, whatever its age and size.
    pub async fn cut_block(&self) -> Result<(), StoreError> {
        self.inner.cut_block().await
    }

    /// Holds off cuts, compaction and retention while the guard lives, so that tests can see
    /// the store with a head that cannot be cut.
    #[cfg(feature = "testing")]
    pub async fn pause_maintenance(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.maintenance.lock().await
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
        let blocks = lock_read(&self.inner.blocks);
        EmbeddedStats {
            head_spans: self.inner.head_spans(),
            head_bytes: self.inner.head_bytes() as u64,
            blocks: blocks.len(),
            block_spans: blocks.iter().map(|b| b.meta.span_count).sum(),
            block_bytes: blocks.iter().map(|b| b.meta.size_bytes).sum(),
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

async fn run_background(inner: Weak<Inner>, cut_wanted: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(CUT_CHECK_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_maintenance = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = cut_wanted.notified() => {}
            _ = shutdown.changed() => return,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        // A head left frozen by a failed cut is retried on its own: cutting the live head
        // here too would race an explicit cut and split fresh data into a tiny block.
        let cut = if inner.head_due() {
            inner.cut_block().await
        } else if !lock_read(&inner.frozen).is_empty() {
            inner.write_frozen_heads().await
        } else {
            Ok(())
        };
        if let Err(err) = cut {
            tracing::error!(error = %err, "cutting the head into a block failed");
        }
        if last_maintenance.elapsed() >= inner.config.maintenance_interval {
            last_maintenance = tokio::time::Instant::now();
            if let Err(err) = inner.enforce_retention().await {
                tracing::error!(error = %err, "retention failed");
            }
            if let Err(err) = inner.compact().await {
                tracing::error!(error = %err, "compaction failed");
            }
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

    fn blocks(&self) -> Vec<Arc<Block>> {
        lock_read(&self.blocks).clone()
    }

    /// Spans held in memory: the live head and the heads being cut.
    fn head_spans(&self) -> usize {
        let frozen: usize = lock_read(&self.frozen).iter().map(|(head, _)| head.len()).sum();
        lock_read(&self.head).len() + frozen
    }

    /// Bytes held in memory by the live head and the heads being cut.
    fn head_bytes(&self) -> usize {
        let frozen: usize = lock_read(&self.frozen).iter().map(|(head, _)| head.bytes()).sum();
        lock_read(&self.head).bytes() + frozen
    }

    fn frozen_heads(&self) -> Vec<Arc<Head>> {
        lock_read(&self.frozen).iter().map(|(head, _)| head.clone()).collect()
    }

    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Other("the store is closed".to_owned()));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let request = batch.encoded_request();
        let extracted = Extracted::new(&resource_parts(&request));
        let record = wal_record(&request);
        let full = {
            let _gate = self.cut_gate.read().await;
            self.wal.append(record).await?;
            let placement = Placement::new(now_nanos(), self.config.ttl, self.config.max_future);
            let mut head = lock_write(&self.head);
            head.insert_extracted(extracted, &placement);
            self.head_full(&head)
        };
        if full {
            self.cut_wanted.notify_one();
        }
        Ok(())
    }

    /// Freezes the live head and writes every frozen head as a block.
    async fn cut_block(&self) -> Result<(), StoreError> {
        self.write_blocks(true).await
    }

    /// Writes the heads a failed cut left frozen, leaving the live head alone.
    async fn write_frozen_heads(&self) -> Result<(), StoreError> {
        self.write_blocks(false).await
    }

    async fn write_blocks(&self, freeze_live_head: bool) -> Result<(), StoreError> {
        let _maintenance = self.maintenance.lock().await;
        if freeze_live_head {
            let _gate = self.cut_gate.write().await;
            if !lock_read(&self.head).is_empty() {
                let through = self.wal.rotate().await?;
                let head = std::mem::take(&mut *lock_write(&self.head));
                lock_write(&self.frozen).push((Arc::new(head), through));
            }
        }
        loop {
            let Some((head, through)) = lock_read(&self.frozen).first().cloned() else {
                return Ok(());
            };
            let meta = self.store_head(head, through).await?;
            tracing::debug!(block = %meta.id, spans = meta.span_count, bytes = meta.size_bytes, "cut block");
            let block = Arc::new(Block::new(meta)?);
            {
                let mut blocks = lock_write(&self.blocks);
                blocks.push(block);
                blocks.sort_by_key(|b| (b.meta.min_time, b.meta.created_unix_nano));
            }
            lock_write(&self.frozen).remove(0);
            self.wal.delete_through(through)?;
        }
    }

    async fn store_head(&self, head: Arc<Head>, through: u64) -> Result<BlockMeta, StoreError> {
        let built = tokio::task::spawn_blocking(move || {
            let began = std::time::Instant::now();
            let rows = head.rows();
            let rows_done = began.elapsed();
            let mut builder = BlockBuilder::new()?;
            for row in rows {
                builder.push(row)?;
            }
            let built = builder.finish(new_block_id(), through, now_nanos());
            tracing::debug!(
                spans = head.len(),
                head_bytes = head.bytes(),
                rows_ms = rows_done.as_millis(),
                parquet_ms = (began.elapsed() - rows_done).as_millis(),
                "built block"
            );
            built
        })
        .await
        .map_err(|e| StoreError::Other(format!("block builder task failed: {e}")))??;
        self.put_block(built).await
    }

    /// Writes the Parquet file, then the meta that makes the block exist.
    async fn put_block(&self, (bytes, meta): (Vec<u8>, BlockMeta)) -> Result<BlockMeta, StoreError> {
        self.objects.put(&block::parquet_path(&meta.id), PutPayload::from(bytes)).await?;
        let json = serde_json::to_vec(&meta).map_err(|e| StoreError::Other(format!("encoding block meta: {e}")))?;
        self.objects.put(&block::meta_path(&meta.id), PutPayload::from(json)).await?;
        Ok(meta)
    }

    async fn delete_block(&self, block: &Block) -> Result<(), StoreError> {
        self.objects.delete(&block::meta_path(&block.meta.id)).await?;
        self.objects.delete(&block.parquet_path()).await?;
        Ok(())
    }

    async fn enforce_retention(&self) -> Result<usize, StoreError> {
        if self.config.ttl.is_zero() {
            return Ok(0);
        }
        let _maintenance = self.maintenance.lock().await;
        let ttl = u64::try_from(self.config.ttl.as_nanos()).unwrap_or(u64::MAX);
        let horizon = now_nanos().saturating_sub(ttl);
        let expired: Vec<Arc<Block>> = self.blocks().into_iter().filter(|b| b.meta.max_time < horizon).collect();
        for block in &expired {
            lock_write(&self.blocks).retain(|b| b.meta.id != block.meta.id);
            self.delete_block(block).await?;
            tracing::info!(block = %block.meta.id, "deleted block past ttl");
        }
        Ok(expired.len())
    }

    /// Merges the small blocks of each compaction window, oldest window first.
    async fn compact(&self) -> Result<usize, StoreError> {
        let _maintenance = self.maintenance.lock().await;
        let window = u64::try_from(self.config.compaction_window.as_nanos()).unwrap_or(u64::MAX).max(1);
        let limit = self.config.compaction_max_spans as u64;
        let mut windows: std::collections::BTreeMap<u64, Vec<Arc<Block>>> = std::collections::BTreeMap::new();
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

    async fn merge(&self, inputs: Vec<Arc<Block>>) -> Result<(), StoreError> {
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
        let merged = Arc::new(Block::new(meta)?);
        {
            let mut blocks = lock_write(&self.blocks);
            blocks.retain(|b| !inputs.iter().any(|input| input.meta.id == b.meta.id));
            blocks.push(merged);
            blocks.sort_by_key(|b| (b.meta.min_time, b.meta.created_unix_nano));
        }
        for block in &inputs {
            self.delete_block(block).await?;
        }
        Ok(())
    }

    async fn get_trace(&self, trace_id: TraceId, range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError> {
        let mut records = Vec::new();
        for block in self.blocks() {
            if range.is_some_and(|(start, end)| !block.overlaps(start, end)) || !block.may_contain(&trace_id) {
                continue;
            }
            records.extend(block.trace(&self.objects, &trace_id).await?);
        }
        for head in self.frozen_heads() {
            records.extend(head.trace(&trace_id));
        }
        records.extend(lock_read(&self.head).trace(&trace_id));
        if records.is_empty() {
            return Ok(None);
        }
        dedupe_spans(&mut records);
        Ok(Some(assemble_trace(trace_id, records)))
    }

    /// Calls between services of child spans that started in `[start, end]`, each counted once
    /// wherever its parent and child spans are stored.
    async fn dependencies(&self, start: u64, end: u64) -> Result<Vec<DependencyLink>, StoreError> {
        let mut counts = EdgeCounts::new();
        let mut pending = PendingCalls::default();
        let blocks = {
            // The live head, then frozen heads, then blocks: the order in which a cut moves
            // spans, so that a cut running meanwhile cannot hide them from this query.
            let live = lock_read(&self.head);
            let frozen = self.frozen_heads();
            let blocks = self.blocks();
            let heads: Vec<&Head> = std::iter::once(&*live).chain(frozen.iter().map(|head| head.as_ref())).collect();
            let mut elsewhere = Vec::new();
            for head in &heads {
                head.dependencies(start, end, &mut counts, &mut elsewhere);
            }
            for parent_ref in elsewhere.drain(..) {
                pending.add(parent_ref, None);
            }
            for (index, block) in blocks.iter().enumerate() {
                block.dependencies(start, end, &mut counts, &mut elsewhere);
                for parent_ref in elsewhere.drain(..) {
                    pending.add(parent_ref, Some(index));
                }
            }
            pending.resolve_in_heads(&heads, &mut counts);
            blocks
        };
        pending.resolve_in_blocks(&blocks, &self.objects, &mut counts).await?;
        Ok(dependency_links(counts))
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        let filter = SpanFilter::new(query);
        let mut hits = HashMap::new();
        lock_read(&self.head).find(&filter, &mut hits);
        for head in self.frozen_heads() {
            head.find(&filter, &mut hits);
        }
        let depth = match query.search_depth {
            0 => DEFAULT_SEARCH_DEPTH,
            depth => depth,
        };
        // Newest blocks first: once `depth` traces are found, a block whose spans all started
        // before the `depth`-th newest of them cannot change the answer.
        let mut blocks: Vec<Arc<Block>> = self.blocks().into_iter().filter(|b| b.may_match(&filter)).collect();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.meta.max_time));
        for block in blocks {
            if block::kth_newest(&hits, depth).is_some_and(|kth| block.meta.max_time < kth) {
                continue;
            }
            block.find(&self.objects, &filter, depth, &mut hits).await?;
        }
        let mut hits: Vec<(TraceId, u64)> = hits.into_iter().collect();
        hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(hits.into_iter().take(depth).map(|(id, _)| id).collect())
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

    async fn services(&self) -> Result<Vec<String>, StoreError> {
        let mut services = BTreeSet::new();
        lock_read(&self.inner.head).services(&mut services);
        for head in self.inner.frozen_heads() {
            head.services(&mut services);
        }
        for block in self.inner.blocks() {
            services.extend(block.meta.services.keys().cloned());
        }
        Ok(services.into_iter().collect())
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        let mut operations = BTreeSet::new();
        lock_read(&self.inner.head).operations(service, &mut operations);
        for head in self.inner.frozen_heads() {
            head.operations(service, &mut operations);
        }
        for block in self.inner.blocks() {
            block.operations(service, &mut operations);
        }
        Ok(operations
            .into_iter()
            .filter(|op| span_kind.is_none_or(|kind| kind.is_empty() || op.span_kind == kind))
            .collect())
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
        let background = self.background.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(background) = background {
            let _ = background.await;
        }
        // Wait for writers in flight, then stop the WAL thread.
        let _gate = self.inner.cut_gate.write().await;
        self.inner.wal.sync().await?;
        self.inner.wal.close();
        Ok(())
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
