//! Service dependencies across heads and blocks.
//!
//! Each head and block counts the calls whose parent and child spans it holds both of. A trace
//! that straddles a cut has calls whose two spans ended up apart, so each head and block also
//! lists its child spans whose parent span it does not hold (a [`ParentRef`]). A query looks
//! those parents up in the rest of the store, so that each call counts once wherever its spans
//! are. Compaction rebuilds both lists from the merged rows, so nothing counts twice.
//!
//! As Jaeger, a call counts only between two different services.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use object_store::ObjectStore;

use super::head::Head;
use super::view::BlockHandle;
use crate::{StoreError, TraceId};

/// Calls per (parent service, child service).
pub(crate) type EdgeCounts = HashMap<(String, String), u64>;

/// Block reads a dependencies query may spend on finding parent spans. Parents are looked up
/// only for traces that straddle a cut, and a bloom filter rules out most blocks; the bound
/// keeps a store full of spans whose parents never arrive (an uninstrumented caller) from
/// making the query read a block per trace.
const MAX_PARENT_LOOKUP_READS: usize = 1024;

/// Child spans of one service, in one trace, whose parent span is stored elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParentRef {
    pub trace_id: TraceId,
    pub parent_span_id: Vec<u8>,
    pub child: String,
    pub call_count: u64,
}

/// Adds `calls` to the edge `parent` → `child`, unless both are one service.
pub(crate) fn count_calls(counts: &mut EdgeCounts, parent: &str, child: &str, calls: u64) {
    if parent != child {
        *counts.entry((parent.to_owned(), child.to_owned())).or_default() += calls;
    }
}

/// A [`ParentRef`] waiting for its parent's service, and the block it came from.
struct PendingCall {
    parent_span_id: Vec<u8>,
    child: String,
    call_count: u64,
    /// Index of the block that listed it (which cannot hold the parent); `None` for a head.
    from_block: Option<usize>,
}

/// The calls of a dependencies query whose parent span is still to be found, by trace.
#[derive(Default)]
pub(crate) struct PendingCalls {
    by_trace: BTreeMap<TraceId, Vec<PendingCall>>,
}

impl PendingCalls {
    /// Adds `parent_ref`, listed by the block at `from_block` of the query's blocks, or a head.
    pub fn add(&mut self, parent_ref: ParentRef, from_block: Option<usize>) {
        let ParentRef { trace_id, parent_span_id, child, call_count } = parent_ref;
        self.by_trace.entry(trace_id).or_default().push(PendingCall { parent_span_id, child, call_count, from_block });
    }

    /// Counts the calls whose parent span one of `heads` holds, and keeps the others.
    pub fn resolve_in_heads(&mut self, heads: &[&Head], counts: &mut EdgeCounts) {
        self.by_trace.retain(|trace_id, calls| {
            calls.retain(|call| {
                let Some(parent) = heads.iter().find_map(|head| head.span_service(trace_id, &call.parent_span_id))
                else {
                    return true;
                };
                count_calls(counts, parent, &call.child, call.call_count);
                false
            });
            !calls.is_empty()
        });
    }

    /// Counts the calls whose parent span one of `blocks` holds (the blocks the `from_block`
    /// indexes point into). Calls whose parent is nowhere are dropped, as Jaeger drops them.
    pub async fn resolve_in_blocks(
        self,
        blocks: &[Arc<BlockHandle>],
        store: &Arc<dyn ObjectStore>,
        counts: &mut EdgeCounts,
    ) -> Result<(), StoreError> {
        // A parent span usually arrives after its children (spans are sent when they end).
        let mut order: Vec<usize> = (0..blocks.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(blocks[i].meta.max_time));
        let mut reads = 0;
        let traces = self.by_trace.len();
        for (done, (trace_id, calls)) in self.by_trace.into_iter().enumerate() {
            let mut wanted: HashSet<Vec<u8>> = calls.iter().map(|c| c.parent_span_id.clone()).collect();
            let mut found: HashMap<Vec<u8>, String> = HashMap::new();
            let mut out_of_reads = false;
            for &index in &order {
                if wanted.is_empty() {
                    break;
                }
                let block = &blocks[index];
                // The block that listed a call does not hold its parent; skip it unless it
                // listed only some of this trace's calls.
                let listed_all = calls.iter().all(|c| c.from_block == Some(index));
                if listed_all || !block.may_contain(&trace_id) {
                    continue;
                }
                if reads == MAX_PARENT_LOOKUP_READS {
                    out_of_reads = true;
                    break;
                }
                reads += 1;
                for (span_id, service) in block.span_services(store, &trace_id, &wanted).await? {
                    wanted.remove(&span_id);
                    found.insert(span_id, service);
                }
            }
            for call in &calls {
                if let Some(parent) = found.get(&call.parent_span_id) {
                    count_calls(counts, parent, &call.child, call.call_count);
                }
            }
            if out_of_reads {
                tracing::warn!(
                    traces = traces - done,
                    reads,
                    "dependencies: out of block reads for parent spans; some cross-block calls are not counted"
                );
                break;
            }
        }
        Ok(())
    }
}
