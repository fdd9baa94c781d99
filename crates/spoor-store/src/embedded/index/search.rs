//! Searching a block through its index, newest span first.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};
use roaring::RoaringBitmap;

use super::{Directory, FOOTER_BYTES, FOOTER_MAGIC, FORMAT, MAGIC, Section, decode_chunk, search_path, source_code};
use crate::embedded::block::{Block, kth_newest};
use crate::query::SpanFilter;
use crate::{StoreError, TraceId};

/// A block's index directory, read once; chunks, bitmaps and trace IDs are read per search.
#[derive(Debug)]
pub(crate) struct SearchIndex {
    directory: Directory,
    path: object_store::path::Path,
}

fn bad(what: &str) -> StoreError {
    StoreError::Other(format!("bad search index: {what}"))
}

impl SearchIndex {
    /// Reads the footer and directory of block `id`'s index; `None` when it has none.
    pub async fn load(store: &Arc<dyn ObjectStore>, id: &str) -> Result<Option<Self>, StoreError> {
        let path = search_path(id);
        let size = match store.head(&path).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        if size < FOOTER_BYTES + MAGIC.len() as u64 {
            return Err(bad("too short"));
        }
        let footer = store.get_range(&path, size - FOOTER_BYTES..size).await?;
        let word = |at: usize, n: usize| footer.get(at..at + n).ok_or_else(|| bad("short footer"));
        let offset = u64::from_le_bytes(word(0, 8)?.try_into().map_err(|_| bad("footer"))?);
        let len = u32::from_le_bytes(word(8, 4)?.try_into().map_err(|_| bad("footer"))?);
        let crc = u32::from_le_bytes(word(12, 4)?.try_into().map_err(|_| bad("footer"))?);
        let format = u32::from_le_bytes(word(16, 4)?.try_into().map_err(|_| bad("footer"))?);
        if word(20, 4)? != FOOTER_MAGIC || format != FORMAT {
            return Err(bad("unknown format"));
        }
        let section = Section { offset, len: u64::from(len), crc };
        if section.range().end > size - FOOTER_BYTES {
            return Err(bad("directory out of the file"));
        }
        let compressed = store.get_range(&path, section.range()).await?;
        section.check(&compressed)?;
        let json = zstd::stream::decode_all(compressed.as_ref())?;
        let directory: Directory = serde_json::from_slice(&json).map_err(|e| bad(&e.to_string()))?;
        if directory.format != FORMAT {
            return Err(bad("unknown format"));
        }
        Ok(Some(Self { directory, path }))
    }

    async fn read(&self, store: &Arc<dyn ObjectStore>, section: &Section) -> Result<bytes::Bytes, StoreError> {
        let bytes = store.get_range(&self.path, section.range()).await?;
        section.check(&bytes)?;
        Ok(bytes)
    }

    /// The bitmaps of the filter's attribute conditions: `Ok(None)` when the index cannot
    /// answer one of them (its key is incomplete), `Ok(Some(None))` when one has no pair in
    /// the block, so no span matches.
    async fn condition_bitmaps(
        &self,
        store: &Arc<dyn ObjectStore>,
        filter: &SpanFilter,
    ) -> Result<Option<Option<Vec<RoaringBitmap>>>, StoreError> {
        let mut bitmaps = Vec::new();
        let directory = &self.directory;
        for (source, key, value) in filter.attribute_conditions() {
            let source = source_code(source);
            if directory.incomplete.binary_search_by(|(s, k)| (*s, k.as_str()).cmp(&(source, key))).is_ok() {
                return Ok(None);
            }
            let found = directory
                .pairs
                .binary_search_by(|p| (p.source, p.key.as_str(), p.value.as_str()).cmp(&(source, key, value)));
            let Ok(at) = found else {
                return Ok(Some(None));
            };
            let bytes = self.read(store, &directory.pairs[at].section).await?;
            bitmaps.push(RoaringBitmap::deserialize_from(bytes.as_ref())?);
        }
        Ok(Some(Some(bitmaps)))
    }

    /// Adds to `hits` the traces of the block's spans that match `filter`, newest first, as
    /// far as they can be among the `depth` newest traces. `Ok(false)` when the index cannot
    /// answer the filter: a search without a service, or on a key it holds incompletely.
    pub async fn find(
        &self,
        store: &Arc<dyn ObjectStore>,
        filter: &SpanFilter,
        depth: usize,
        hits: &mut HashMap<TraceId, u64>,
    ) -> Result<bool, StoreError> {
        if filter.service.is_empty() {
            return Ok(false);
        }
        let bitmaps = match self.condition_bitmaps(store, filter).await? {
            None => return Ok(false),
            Some(None) => return Ok(true),
            Some(Some(bitmaps)) => bitmaps,
        };
        let directory = &self.directory;
        let Ok(at) = directory.services.binary_search_by(|s| s.name.as_str().cmp(&filter.service)) else {
            return Ok(true);
        };
        let service = &directory.services[at];
        let (min, max) = (filter.start_min.unwrap_or(0), filter.start_max.unwrap_or(u64::MAX));
        // Spans older than the depth-th newest trace found elsewhere cannot change the answer;
        // nor can those older than `depth` traces found here. Spans at that very start can,
        // through ties, which the answer breaks by trace ID.
        let mut floor = kth_newest(hits, depth).unwrap_or(0).max(min);
        // Traces found here, by ordinal, with their newest matching start.
        let mut found: HashMap<u32, u64> = HashMap::new();
        'chunks: for chunk in service.chunks.iter().rev() {
            if chunk.min_start > max || chunk.max_start < min {
                continue;
            }
            if chunk.max_start < floor {
                break;
            }
            let first = service.first + chunk.first;
            let rows = first..first + chunk.rows;
            if bitmaps.iter().any(|b| b.range_cardinality(rows.clone()) == 0) {
                continue;
            }
            let compressed = self.read(store, &chunk.section).await?;
            let entries = decode_chunk(&compressed, chunk.rows as usize)?;
            for (i, entry) in entries.iter().enumerate().rev() {
                if entry.start < floor {
                    break 'chunks;
                }
                let name = directory.names.get(entry.name as usize).map_or("", String::as_str);
                let end = entry.start.wrapping_add(entry.duration);
                if !filter.matches_fields(name, entry.kind, entry.status_code, entry.start, end) {
                    continue;
                }
                let row = first + i as u32;
                if !bitmaps.iter().all(|b| b.contains(row)) {
                    continue;
                }
                let newest = found.entry(entry.trace).or_insert(entry.start);
                *newest = (*newest).max(entry.start);
                if found.len() >= depth {
                    floor = floor.max(entry.start);
                }
            }
        }
        self.add_traces(store, found, hits).await?;
        Ok(true)
    }

    /// Looks up the trace IDs of `found` (ordinals) and adds them to `hits`.
    async fn add_traces(
        &self,
        store: &Arc<dyn ObjectStore>,
        found: HashMap<u32, u64>,
        hits: &mut HashMap<TraceId, u64>,
    ) -> Result<(), StoreError> {
        if found.is_empty() {
            return Ok(());
        }
        let table = &self.directory.trace_ids;
        let mut found: Vec<(u32, u64)> = found.into_iter().collect();
        found.sort_unstable();
        let ranges: Vec<std::ops::Range<u64>> = found
            .iter()
            .map(|(ordinal, _)| {
                let at = table.offset + u64::from(*ordinal) * 16;
                at..at + 16
            })
            .collect();
        if ranges.last().is_some_and(|r| r.end > table.offset + table.len) {
            return Err(bad("trace ordinal out of the table"));
        }
        // The table's checksum covers it whole; these reads are checked by length only.
        let ids = store.get_ranges(&self.path, &ranges).await?;
        for (bytes, (_, start)) in ids.iter().zip(found) {
            let id: TraceId = bytes.as_ref().try_into().map_err(|_| bad("short trace id"))?;
            let newest = hits.entry(id).or_insert(start);
            *newest = (*newest).max(start);
        }
        Ok(())
    }
}

/// Searches `block` through its index when it has one that answers `filter`, else as blocks
/// without an index are searched (`Block::find`). The index's directory is read once a block.
pub(crate) async fn find_in_block(
    block: &Block,
    store: &Arc<dyn ObjectStore>,
    filter: &SpanFilter,
    depth: usize,
    hits: &mut HashMap<TraceId, u64>,
) -> Result<(), StoreError> {
    let index = block
        .search_index
        .get_or_init(|| async {
            match SearchIndex::load(store, &block.meta.id).await {
                Ok(index) => index.map(Arc::new),
                Err(err) => {
                    tracing::warn!(block = %block.meta.id, error = %err, "search index unreadable; searching the block");
                    None
                }
            }
        })
        .await;
    if let Some(index) = index
        && index.find(store, filter, depth, hits).await?
    {
        return Ok(());
    }
    block.find(store, filter, depth, hits).await
}
