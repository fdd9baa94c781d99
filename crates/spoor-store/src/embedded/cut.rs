//! The cut: the live head is frozen (the WAL rotates with it), and each frozen head is
//! written as blocks, then swapped into the view for its blocks in one step, and its WAL
//! segments are deleted.
//!
//! A big head is built as several blocks at once, one per core ([`cut_parts`]): the head's
//! spans are put in block order, split into runs of whole traces, and each run is built on a
//! thread of its own. Blocks of one cut have disjoint trace-ID ranges; compaction merges them
//! like any others (they are of one size tier).
//!
//! Crash safety: a block's meta makes it exist, and the highest `wal_through` among the
//! metas tells WAL replay which segments blocks already hold. So the blocks of a cut are
//! written in order, every one but the last with `wal_through` 0 (they cover no WAL on their
//! own), and the last with the head's. A crash between two of them replays the whole head
//! from the WAL; the spans already in a block are then held twice, which reads and
//! compaction dedupe.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use super::block::{self, Block, BlockMeta, BuiltInMemory, Placing};
use super::head::Head;
use super::placement::Placement;
use super::{Inner, background, durable, index, lock_read, lock_write, new_block_id, now_nanos};
use crate::StoreError;

/// The fewest spans a cut puts in each block when it splits a head, however many cores there
/// are: a small head is not worth splitting (its blocks would only be merged again soon).
const MIN_SPANS_PER_PART: usize = 32 * 1024;

/// How many blocks a head of `spans` spans is built as: one per available core (as the
/// process's CPU affinity allows), and at least [`MIN_SPANS_PER_PART`] spans each.
fn cut_parts(spans: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.min(spans / MIN_SPANS_PER_PART).max(1)
}

/// The blocks built from one frozen head, kept when their put failed so that the retry does
/// not build them again.
pub(super) struct BuiltCut {
    wal_through: u64,
    blocks: Vec<BuiltBlock>,
}

struct BuiltBlock {
    bytes: Bytes,
    search_index: Bytes,
    meta: BlockMeta,
}

impl From<BuiltInMemory> for BuiltBlock {
    fn from(built: BuiltInMemory) -> Self {
        Self { bytes: Bytes::from(built.parquet), search_index: Bytes::from(built.search_index), meta: built.meta }
    }
}

/// Builds `head` as up to `parts` blocks, each on a thread of its own; the last carries
/// `wal_through` (see the module docs).
pub(super) fn build_head(
    head: &Head,
    parts: usize,
    wal_through: u64,
    placing: Placing,
    now: u64,
) -> Result<Vec<BuiltInMemory>, StoreError> {
    let order = head.block_order();
    let parts = head.split_by_trace(order, parts);
    let last = parts.len() - 1;
    std::thread::scope(|scope| {
        let builders = parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let through = if i == last { wal_through } else { 0 };
                std::thread::Builder::new().name(format!("spoor-cut-{i}")).spawn_scoped(scope, move || {
                    block::build_in_memory(head.rows_of(part), placing, new_block_id(), through, now)
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Other(format!("starting a cut thread failed: {e}")))?;
        builders
            .into_iter()
            .map(|builder| builder.join().map_err(|_| StoreError::Other("a cut thread panicked".to_owned()))?)
            .collect()
    })
}

impl Inner {
    /// Freezes the live head and writes every frozen head as blocks.
    pub(super) async fn cut_block(self: &Arc<Self>) -> Result<(), StoreError> {
        self.write_blocks(true).await
    }

    /// Writes the heads a failed cut left frozen, leaving the live head alone.
    pub(super) async fn write_frozen_heads(self: &Arc<Self>) -> Result<(), StoreError> {
        self.write_blocks(false).await
    }

    async fn write_blocks(self: &Arc<Self>, freeze_live_head: bool) -> Result<(), StoreError> {
        let _cut = self.cut_lock.lock().await;
        let started = std::time::Instant::now();
        let result = self.write_blocks_locked(freeze_live_head).await;
        self.cut_health.record(&result);
        self.metrics.cut(started.elapsed(), &result);
        self.publish_sizes();
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
            let metas = self.store_head(frozen.head.clone(), frozen.wal_through).await?;
            let mut blocks = Vec::with_capacity(metas.len());
            for meta in metas {
                tracing::debug!(block = %meta.id, spans = meta.span_count, bytes = meta.size_bytes, "cut block");
                blocks.push(self.reaper.handle(Block::new(meta)?));
            }
            {
                // The frozen head leaves the view as its blocks enter it, in one swap.
                let mut view = lock_write(&self.view);
                let mut next = view.with_blocks(&[], blocks);
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
        let mut next = super::View::clone(&view);
        next.frozen.push(super::FrozenHead { head, wal_through });
        *view = Arc::new(next);
    }

    /// Builds `head` as blocks and stores them, in order (see the module docs).
    async fn store_head(&self, head: Arc<Head>, through: u64) -> Result<Vec<BlockMeta>, StoreError> {
        // A put that failed (full disk) is retried with the blocks already built.
        let cached = {
            let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
            built.take_if(|b| b.wal_through == through)
        };
        let built = match cached {
            Some(built) => built,
            None => {
                let now = now_nanos();
                let placing = Placing::Window(Placement::new(now, self.config.ttl, self.config.max_future));
                let built = background::build_off_runtime("cut", move || {
                    build_head(&head, cut_parts(head.len()), through, placing, now)
                })
                .await?;
                BuiltCut { wal_through: through, blocks: built.into_iter().map(BuiltBlock::from).collect() }
            }
        };
        for block in &built.blocks {
            if let Err(err) = self.put_block_bytes(block.bytes.clone(), block.search_index.clone(), &block.meta).await {
                *self.built.lock().unwrap_or_else(|p| p.into_inner()) = Some(built);
                return Err(err);
            }
        }
        Ok(built.blocks.into_iter().map(|block| block.meta).collect())
    }

    /// Writes the Parquet file and the search index, then the meta that makes the block
    /// exist, and makes them durable.
    async fn put_block_bytes(&self, bytes: Bytes, search_index: Bytes, meta: &BlockMeta) -> Result<(), StoreError> {
        self.objects.put(&block::parquet_path(&meta.id), PutPayload::from(bytes)).await?;
        self.objects.put(&index::search_path(&meta.id), PutPayload::from(search_index)).await?;
        self.put_meta(meta).await
    }

    /// Writes a block's meta once its Parquet file is written: the Parquet file is made durable
    /// first, then the meta that makes the block exist, and the directory.
    pub(super) async fn put_meta(&self, meta: &BlockMeta) -> Result<(), StoreError> {
        let id = meta.id.clone();
        self.sync_local(move |root| durable::sync_block_data(root, &id)).await?;
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
}
