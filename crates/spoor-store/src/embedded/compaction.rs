//! Compaction and retention, under their own lock: a cut never waits behind them.
//!
//! Compaction is size-tiered: within one `compaction_window` (by the blocks' placed start),
//! blocks of similar size (the same tier, a factor of [`TIER_FACTOR`] apart above
//! [`TIER_BASE_SPANS`]) are merged, up to `compaction_max_spans` spans. A merge streams (see
//! `block::merge_blocks`): memory holds a row group per input and one of output, whatever
//! the blocks' sizes. Exact copies of a span are dropped. Retention deletes whole blocks
//! whose (placed) times are all past the TTL.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::background;
use super::block::{self, Block};
use super::view::BlockHandle;
use super::{Inner, new_block_id, now_nanos};
use crate::StoreError;

/// Blocks below this many spans are all one tier: the small blocks cuts make.
const TIER_BASE_SPANS: u64 = 16 * 1024;
/// The size ratio between one tier and the next.
const TIER_FACTOR: u64 = 4;

/// The size tier of a block of `spans` spans.
fn tier(spans: u64) -> u32 {
    (spans / TIER_BASE_SPANS).checked_ilog(TIER_FACTOR).map_or(0, |t| t + 1)
}

/// Groups of blocks to merge: per (window, tier), oldest first, each group at least two blocks
/// and at most `limit` spans.
fn plan<B: AsRef<Block>>(blocks: Vec<B>, window: u64, limit: u64) -> Vec<Vec<B>> {
    let mut tiers: BTreeMap<(u64, u32), Vec<B>> = BTreeMap::new();
    for block in blocks {
        let meta = &block.as_ref().meta;
        if meta.span_count < limit {
            tiers.entry((meta.min_time / window, tier(meta.span_count))).or_default().push(block);
        }
    }
    let mut groups = Vec::new();
    for (_, candidates) in tiers {
        let mut group: Vec<B> = Vec::new();
        let mut total = 0;
        for block in candidates {
            let spans = block.as_ref().meta.span_count;
            if total + spans > limit {
                if group.len() >= 2 {
                    groups.push(std::mem::take(&mut group));
                } else {
                    group.clear();
                }
                total = 0;
            }
            total += spans;
            group.push(block);
        }
        if group.len() >= 2 {
            groups.push(group);
        }
    }
    groups
}

impl Inner {
    /// Runs one compaction pass; returns how many blocks were merged away. A pass that merged
    /// blocks is timed in the metrics, a failed one counted.
    pub(super) async fn compact(&self) -> Result<usize, StoreError> {
        let started = std::time::Instant::now();
        let result = self.merge_windows().await;
        if !matches!(result, Ok(0)) {
            self.metrics.compaction(started.elapsed(), &result);
            self.publish_sizes();
        }
        result
    }

    async fn merge_windows(&self) -> Result<usize, StoreError> {
        let _compaction = self.compaction_lock.lock().await;
        let window = u64::try_from(self.config.compaction_window.as_nanos()).unwrap_or(u64::MAX).max(1);
        let limit = self.config.compaction_max_spans as u64;
        let mut merged = 0;
        for group in plan(self.blocks(), window, limit) {
            merged += group.len();
            self.merge(group).await?;
        }
        Ok(merged)
    }

    /// Merges `inputs` into one block, stores it and swaps it in for them.
    async fn merge(&self, inputs: Vec<Arc<BlockHandle>>) -> Result<(), StoreError> {
        let objects = self.objects.clone();
        let id = new_block_id();
        let runtime = tokio::runtime::Handle::current();
        let to_merge = inputs.clone();
        // Decoding and encoding are CPU work: off the runtime's worker threads, at a lower
        // priority (see `background`).
        let meta = background::build_off_runtime("compaction", move || {
            runtime.block_on(block::merge_blocks(&objects, &to_merge, id, now_nanos()))
        })
        .await?;
        self.put_meta(&meta).await?;
        tracing::debug!(block = %meta.id, inputs = inputs.len(), spans = meta.span_count, "compacted blocks");
        let merged = Block::new(meta)?;
        let retired: Vec<&str> = inputs.iter().map(|b| b.meta.id.as_str()).collect();
        self.swap_blocks(&retired, vec![merged]);
        for block in &inputs {
            self.delete_block(block).await?;
        }
        Ok(())
    }

    /// Deletes blocks past the TTL; returns how many.
    pub(super) async fn enforce_retention(&self) -> Result<usize, StoreError> {
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
        self.publish_sizes();
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blocks_share_a_tier_and_bigger_ones_go_up_by_four() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(TIER_BASE_SPANS - 1), 0);
        assert_eq!(tier(TIER_BASE_SPANS), 1);
        assert_eq!(tier(TIER_BASE_SPANS * 4 - 1), 1);
        assert_eq!(tier(TIER_BASE_SPANS * 4), 2);
    }
}
