//! Building a block's search index from the rows the block builder is given.

use std::borrow::Cow;

use bytes::Bytes;
use prost::Message;
use roaring::RoaringBitmap;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans};

use super::attrs::{self, List};
use super::columns::{TypedColumns, TypedRow};
use super::{
    CHUNK_ROWS, ChunkDir, Directory, Entry, FOOTER_MAGIC, FORMAT, MAGIC, MAX_VALUE_BYTES, MAX_VALUES_PER_KEY, PairDir,
    Section, ServiceDir, encode_chunk, get_varint, put_varint,
};
use crate::embedded::block::RawRow;
use crate::{StoreError, TraceId};

const ANY: u8 = 0;
const RESOURCE: u8 = 1;
const SCOPE: u8 = 2;

/// A hash map with a fast hasher: keys here are span data, hashed once per span.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Strings numbered in order of first sight.
#[derive(Default)]
pub(crate) struct Names {
    ids: FastMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    /// The name numbered `id`.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// The pairs of one (source, key), by value.
#[derive(Default)]
struct KeyPairs {
    ids: FastMap<String, u32>,
    /// Too many or too long values: the index leaves the key out.
    incomplete: bool,
}

/// A span, before the index is sorted: its entry, service, and its place in push order.
struct Pending {
    entry: super::Entry,
    service: u32,
    pushed: u32,
}

/// Increasing row numbers, each stored as its distance from the previous one in a LEB128
/// varint: a pair that most rows match costs a byte a row.
#[derive(Default)]
struct RowList {
    bytes: Vec<u8>,
    /// The last row pushed, plus one (0: none yet).
    next: u64,
}

impl RowList {
    /// Adds `row`; a row not above the last (a pair a span matched twice) is already there.
    fn push(&mut self, row: u32) {
        if self.next > u64::from(row) {
            return;
        }
        put_varint(&mut self.bytes, u64::from(row) - self.next);
        self.next = u64::from(row) + 1;
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        let (mut at, mut next) = (0usize, 0u64);
        std::iter::from_fn(move || {
            // The list is this builder's own bytes: the only failed read is at its end.
            let row = next + get_varint(&self.bytes, &mut at).ok()?;
            next = row + 1;
            u32::try_from(row).ok()
        })
    }
}

/// Gathers the index rows of a block while it is built.
#[derive(Default)]
pub(crate) struct SearchIndexBuilder {
    rows: Vec<Pending>,
    /// Per pair ID, the rows (in push order) that match it. A compaction builds the index of
    /// millions of spans with some tens of pairs each: a list of `u32` would cost 4 bytes per
    /// span and pair, these about one.
    pushed_rows: Vec<RowList>,
    services: Names,
    names: Names,
    /// Per source (`ANY`, `RESOURCE`, `SCOPE`), per key: its pairs.
    keys: [FastMap<String, KeyPairs>; 3],
    pair_list: Vec<(u8, String, String)>,
    /// Pair IDs of each distinct resource and scope encoding, decoded once.
    resources: PairCache,
    scopes: PairCache,
}

/// Pair IDs by resource or scope encoding. Rows come in trace order, and the spans of a
/// trace mostly share their resource's and scope's bytes (one buffer, see `head::rows`), so
/// the last one is checked by address first: hashing and comparing a resource's few hundred
/// bytes for every span cost more than the rest of its index entry.
#[derive(Default)]
struct PairCache {
    by_bytes: FastMap<Bytes, Vec<u32>>,
    /// The last encoding looked up and its pair IDs. Holding the `Bytes` keeps its buffer
    /// alive, so another encoding cannot be at the same address.
    last: Option<(Bytes, Vec<u32>)>,
}

impl PairCache {
    fn get(&mut self, encoded: &Bytes) -> Option<&[u32]> {
        let same = |last: &Bytes| last.as_ptr() == encoded.as_ptr() && last.len() == encoded.len();
        if !self.last.as_ref().is_some_and(|(last, _)| same(last)) {
            let ids = self.by_bytes.get(encoded)?.clone();
            self.last = Some((encoded.clone(), ids));
        }
        self.last.as_ref().map(|(_, ids)| ids.as_slice())
    }

    fn insert(&mut self, encoded: &Bytes, ids: Vec<u32>) {
        self.by_bytes.insert(encoded.clone(), ids.clone());
        self.last = Some((encoded.clone(), ids));
    }
}

/// What the block builder keeps of a row the index took: its service's and name's numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interned {
    pub service: u32,
    pub name: u32,
}

impl SearchIndexBuilder {
    /// The pair's ID, or `None` once the key has too many or too long values to index.
    fn pair(&mut self, source: u8, key: &str, value: Cow<'_, str>) -> Option<u32> {
        let keys = &mut self.keys[usize::from(source)];
        if !keys.contains_key(key) {
            keys.insert(key.to_owned(), KeyPairs::default());
        }
        let pairs = keys.get_mut(key)?;
        if pairs.incomplete {
            return None;
        }
        if let Some(&id) = pairs.ids.get(value.as_ref()) {
            return Some(id);
        }
        if value.len() > MAX_VALUE_BYTES || pairs.ids.len() >= MAX_VALUES_PER_KEY {
            pairs.incomplete = true;
            return None;
        }
        let id = self.pair_list.len() as u32;
        self.pushed_rows.push(RowList::default());
        let value = value.into_owned();
        pairs.ids.insert(value.clone(), id);
        self.pair_list.push((source, key.to_owned(), value));
        Some(id)
    }

    /// Adds the pairs of `attributes` (encoded `KeyValue`s), each key's first entry.
    fn add_attributes(&mut self, sources: &[u8], attributes: &[spoor_pipeline::otlp::KeyValue], out: &mut Vec<u32>) {
        let mut seen: Vec<&str> = Vec::new();
        for kv in attributes {
            if seen.contains(&kv.key.as_str()) {
                continue;
            }
            seen.push(&kv.key);
            let value = spoor_pipeline::otlp::value::as_string(kv.value.as_ref());
            for &source in sources {
                out.extend(self.pair(source, &kv.key, Cow::Borrowed(&value)));
            }
        }
    }

    fn resource_pairs(&mut self, encoded: &Bytes, out: &mut Vec<u32>) -> Result<(), StoreError> {
        if let Some(ids) = self.resources.get(encoded) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let resource = ResourceSpans::decode(encoded.as_ref())
            .map_err(|e| StoreError::Other(format!("bad resource in block row: {e}")))?;
        let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
        let mut ids = Vec::new();
        self.add_attributes(&[ANY, RESOURCE], &attributes, &mut ids);
        out.extend_from_slice(&ids);
        self.resources.insert(encoded, ids);
        Ok(())
    }

    fn scope_pairs(&mut self, encoded: &Bytes, out: &mut Vec<u32>) -> Result<(), StoreError> {
        if let Some(ids) = self.scopes.get(encoded) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let scope = ScopeSpans::decode(encoded.as_ref())
            .map_err(|e| StoreError::Other(format!("bad scope in block row: {e}")))?
            .scope
            .unwrap_or_default();
        let mut ids = Vec::new();
        ids.extend(self.pair(SCOPE, "name", Cow::Borrowed(&scope.name)));
        ids.extend(self.pair(SCOPE, "version", Cow::Borrowed(&scope.version)));
        self.add_attributes(&[ANY], &scope.attributes, &mut ids);
        out.extend_from_slice(&ids);
        self.scopes.insert(encoded, ids);
        Ok(())
    }

    /// Adds a block row; `trace` is its trace's ordinal in the block's sorted trace IDs. The
    /// span's attributes are read once, for the index and for the typed columns' row.
    pub fn push(&mut self, row: &RawRow, trace: u32, typed: &mut TypedColumns) -> Result<Interned, StoreError> {
        let mut ids = Vec::new();
        self.resource_pairs(&row.resource, &mut ids)?;
        self.scope_pairs(&row.scope, &mut ids)?;
        let mut typed_row = TypedRow::default();
        attrs::span_attributes(&row.span, |list, attribute| {
            if list == List::Span {
                typed_row.offer(attribute);
            }
            ids.extend(self.pair(ANY, &attribute.key, Cow::Borrowed(attribute.value.as_ref())));
        })?;
        typed.append(typed_row);
        let pushed = u32::try_from(self.rows.len())
            .map_err(|_| StoreError::Other("too many spans for one block's search index".to_owned()))?;
        for id in ids {
            self.pushed_rows[id as usize].push(pushed);
        }
        let interned = Interned { service: self.services.id(&row.service_name), name: self.names.id(&row.name) };
        let entry = Entry {
            start: row.start,
            duration: row.duration,
            name: interned.name,
            kind: row.kind,
            status_code: row.status_code,
            trace,
        };
        self.rows.push(Pending { entry, service: interned.service, pushed });
        Ok(interned)
    }

    /// The services and span names [`push`](Self::push) numbered.
    pub fn names(&self) -> (&Names, &Names) {
        (&self.services, &self.names)
    }

    /// The index file, for a block whose sorted trace IDs are `trace_ids`.
    pub fn finish(mut self, trace_ids: &[TraceId]) -> Result<Vec<u8>, StoreError> {
        let mut out = MAGIC.to_vec();
        let section = |out: &mut Vec<u8>, bytes: &[u8]| {
            let section = Section { offset: out.len() as u64, len: bytes.len() as u64, crc: crc32c::crc32c(bytes) };
            out.extend_from_slice(bytes);
            section
        };
        let trace_bytes: Vec<u8> = trace_ids.iter().flatten().copied().collect();
        let trace_section = section(&mut out, &trace_bytes);

        let service_names = std::mem::take(&mut self.services.names);
        // Services by name, as numbers: the sort compares integers, not strings.
        let mut by_name: Vec<u32> = (0..service_names.len() as u32).collect();
        by_name.sort_by(|a, b| service_names[*a as usize].cmp(&service_names[*b as usize]));
        let mut rank = vec![0u32; service_names.len()];
        for (position, service) in by_name.into_iter().enumerate() {
            rank[service as usize] = position as u32;
        }
        // Ties keep push order, as a stable sort would.
        self.rows.sort_unstable_by_key(|row| (rank[row.service as usize], row.entry.start, row.pushed));
        // Where each pushed row went.
        let mut position = vec![0u32; self.rows.len()];
        for (at, row) in self.rows.iter().enumerate() {
            position[row.pushed as usize] = at as u32;
        }
        let mut services: Vec<ServiceDir> = Vec::new();
        let mut start = 0;
        while start < self.rows.len() {
            let service = self.rows[start].service;
            let end = start + self.rows[start..].iter().take_while(|r| r.service == service).count();
            let mut chunks = Vec::new();
            for (i, rows) in self.rows[start..end].chunks(CHUNK_ROWS).enumerate() {
                let entries: Vec<Entry> = rows.iter().map(|r| r.entry).collect();
                chunks.push(ChunkDir {
                    first: (i * CHUNK_ROWS) as u32,
                    rows: entries.len() as u32,
                    min_start: entries.first().map_or(0, |e| e.start),
                    max_start: entries.last().map_or(0, |e| e.start),
                    section: section(&mut out, &encode_chunk(&entries)?),
                });
            }
            services.push(ServiceDir { name: service_names[service as usize].clone(), first: start as u32, chunks });
            start = end;
        }
        let mut pairs = Vec::new();
        // Pairs that match the same rows share one section: a resource's attributes are
        // indexed for `resource.<key>` and plain tags alike, and attributes that come together
        // (a database's name, user and system) have equal bitmaps. By crc, then bytes.
        let mut written: FastMap<u32, Vec<Section>> = FastMap::default();
        let pushed_rows = std::mem::take(&mut self.pushed_rows);
        for (pushed, (source, key, value)) in pushed_rows.into_iter().zip(&self.pair_list) {
            if pushed.is_empty() || self.keys[usize::from(*source)].get(key).is_some_and(|pairs| pairs.incomplete) {
                continue;
            }
            // One pair at a time: its rows in index order.
            let mut rows: Vec<u32> = pushed.rows().map(|row| position[row as usize]).collect();
            drop(pushed);
            rows.sort_unstable();
            let mut bitmap = RoaringBitmap::from_sorted_iter(rows)
                .map_err(|e| StoreError::Other(format!("search index rows out of order: {e}")))?;
            bitmap.optimize();
            let mut bytes = Vec::with_capacity(bitmap.serialized_size());
            bitmap.serialize_into(&mut bytes)?;
            let crc = crc32c::crc32c(&bytes);
            let same = written.entry(crc).or_default();
            let section = match same.iter().find(|s| out[s.offset as usize..][..s.len as usize] == bytes[..]) {
                Some(earlier) => *earlier,
                None => {
                    let section = section(&mut out, &bytes);
                    same.push(section);
                    section
                }
            };
            pairs.push(PairDir { source: *source, key: key.clone(), value: value.clone(), section });
        }
        pairs.sort_by(|a, b| (a.source, &a.key, &a.value).cmp(&(b.source, &b.key, &b.value)));
        let mut incomplete: Vec<(u8, String)> = (0u8..)
            .zip(&self.keys)
            .flat_map(|(source, keys)| {
                keys.iter().filter(|(_, p)| p.incomplete).map(move |(key, _)| (source, key.clone()))
            })
            .collect();
        incomplete.sort();
        let directory = Directory {
            format: FORMAT,
            rows: self.rows.len() as u64,
            trace_ids: trace_section,
            names: self.names.names,
            services,
            pairs,
            incomplete,
        };
        let json = serde_json::to_vec(&directory)
            .map_err(|e| StoreError::Other(format!("encoding search index directory: {e}")))?;
        let compressed = zstd::bulk::compress(&json, 3)?;
        let directory = section(&mut out, &compressed);
        out.extend_from_slice(&directory.offset.to_le_bytes());
        out.extend_from_slice(&(directory.len as u32).to_le_bytes());
        out.extend_from_slice(&directory.crc.to_le_bytes());
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(FOOTER_MAGIC);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::RowList;

    #[test]
    fn row_lists_keep_increasing_rows_once() {
        let mut list = RowList::default();
        let rows = [0u32, 1, 2, 200, 201, 70_000, 70_000, 4_000_000_000, u32::MAX];
        for row in rows {
            list.push(row);
        }
        let mut want = rows.to_vec();
        want.dedup();
        assert_eq!(list.rows().collect::<Vec<_>>(), want);
        assert_eq!(list.bytes.len(), 1 + 1 + 1 + 2 + 1 + 3 + 5 + 5);
    }
}
