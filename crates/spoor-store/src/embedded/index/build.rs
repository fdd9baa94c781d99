//! Building a block's search index from the rows the block builder is given.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use prost::Message;
use roaring::RoaringBitmap;
use spoor_pipeline::otlp::{KeyValue, ResourceSpans, ScopeSpans, Span, value};

use super::{
    CHUNK_ROWS, ChunkDir, Directory, Entry, FOOTER_MAGIC, FORMAT, MAGIC, MAX_VALUE_BYTES, MAX_VALUES_PER_KEY, PairDir,
    Section, ServiceDir, encode_chunk,
};
use crate::embedded::block::RawRow;
use crate::{StoreError, TraceId};

const ANY: u8 = 0;
const RESOURCE: u8 = 1;
const SCOPE: u8 = 2;

/// Strings numbered in order of first sight.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
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
}

/// The pairs of one (source, key), by value.
#[derive(Default)]
struct KeyPairs {
    ids: HashMap<String, u32>,
    /// Too many or too long values: the index leaves the key out.
    incomplete: bool,
}

/// A span, before the index is sorted: its entry, service and pairs (a range of `pair_ids`).
struct Pending {
    entry: super::Entry,
    service: u32,
    pairs: std::ops::Range<usize>,
}

/// Gathers the index rows of a block while it is built.
#[derive(Default)]
pub(crate) struct SearchIndexBuilder {
    rows: Vec<Pending>,
    pair_ids: Vec<u32>,
    services: Names,
    names: Names,
    /// Per source (`ANY`, `RESOURCE`, `SCOPE`), per key: its pairs.
    keys: [HashMap<String, KeyPairs>; 3],
    pair_list: Vec<(u8, String, String)>,
    /// Pair IDs of each distinct resource and scope encoding, decoded once.
    resources: HashMap<Bytes, Vec<u32>>,
    scopes: HashMap<Bytes, Vec<u32>>,
}

/// The first entry of each key, as pcommon's `Map.Get` finds it.
fn first_per_key(attributes: &[KeyValue]) -> impl Iterator<Item = &KeyValue> {
    let mut seen = HashSet::new();
    attributes.iter().filter(move |kv| seen.insert(kv.key.as_str()))
}

impl SearchIndexBuilder {
    /// The pair's ID, or `None` once the key has too many or too long values to index.
    fn pair(&mut self, source: u8, key: &str, value: String) -> Option<u32> {
        let keys = &mut self.keys[usize::from(source)];
        if !keys.contains_key(key) {
            keys.insert(key.to_owned(), KeyPairs::default());
        }
        let pairs = keys.get_mut(key)?;
        if pairs.incomplete {
            return None;
        }
        if let Some(&id) = pairs.ids.get(value.as_str()) {
            return Some(id);
        }
        if value.len() > MAX_VALUE_BYTES || pairs.ids.len() >= MAX_VALUES_PER_KEY {
            pairs.incomplete = true;
            return None;
        }
        let id = self.pair_list.len() as u32;
        pairs.ids.insert(value.clone(), id);
        self.pair_list.push((source, key.to_owned(), value));
        Some(id)
    }

    fn add_attributes(&mut self, source: u8, attributes: &[KeyValue], out: &mut Vec<u32>) {
        for kv in first_per_key(attributes) {
            if let Some(id) = self.pair(source, &kv.key, value::as_string(kv.value.as_ref())) {
                out.push(id);
            }
        }
    }

    fn resource_pairs(&mut self, encoded: &Bytes) -> Result<Vec<u32>, StoreError> {
        if let Some(ids) = self.resources.get(encoded) {
            return Ok(ids.clone());
        }
        let resource = ResourceSpans::decode(encoded.as_ref())
            .map_err(|e| StoreError::Other(format!("bad resource in block row: {e}")))?;
        let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
        let mut ids = Vec::new();
        self.add_attributes(ANY, &attributes, &mut ids);
        self.add_attributes(RESOURCE, &attributes, &mut ids);
        self.resources.insert(encoded.clone(), ids.clone());
        Ok(ids)
    }

    fn scope_pairs(&mut self, encoded: &Bytes) -> Result<Vec<u32>, StoreError> {
        if let Some(ids) = self.scopes.get(encoded) {
            return Ok(ids.clone());
        }
        let scope = ScopeSpans::decode(encoded.as_ref())
            .map_err(|e| StoreError::Other(format!("bad scope in block row: {e}")))?
            .scope
            .unwrap_or_default();
        let mut ids = Vec::new();
        ids.extend(self.pair(SCOPE, "name", scope.name.clone()));
        ids.extend(self.pair(SCOPE, "version", scope.version.clone()));
        self.add_attributes(ANY, &scope.attributes, &mut ids);
        self.scopes.insert(encoded.clone(), ids.clone());
        Ok(ids)
    }

    /// Adds a block row; `trace` is its trace's ordinal in the block's sorted trace IDs.
    pub fn push(&mut self, row: &RawRow, trace: u32) -> Result<(), StoreError> {
        let span =
            Span::decode(row.span.as_slice()).map_err(|e| StoreError::Other(format!("bad span in block row: {e}")))?;
        let mut ids = self.resource_pairs(&row.resource)?;
        ids.extend(self.scope_pairs(&row.scope)?);
        self.add_attributes(ANY, &span.attributes, &mut ids);
        for event in &span.events {
            self.add_attributes(ANY, &event.attributes, &mut ids);
        }
        for link in &span.links {
            self.add_attributes(ANY, &link.attributes, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        let begin = self.pair_ids.len();
        self.pair_ids.extend(ids);
        let entry = Entry {
            start: row.start,
            duration: row.duration,
            name: self.names.id(&row.name),
            kind: row.kind,
            status_code: row.status_code,
            trace,
        };
        let service = self.services.id(&row.service_name);
        self.rows.push(Pending { entry, service, pairs: begin..self.pair_ids.len() });
        Ok(())
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
        self.rows.sort_by(|a, b| {
            (&service_names[a.service as usize], a.entry.start)
                .cmp(&(&service_names[b.service as usize], b.entry.start))
        });
        let mut bitmaps: BTreeMap<u32, RoaringBitmap> = BTreeMap::new();
        for (row, pending) in self.rows.iter().enumerate() {
            for &pair in &self.pair_ids[pending.pairs.clone()] {
                bitmaps.entry(pair).or_default().insert(row as u32);
            }
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
        for (id, mut bitmap) in bitmaps {
            let (source, key, value) = &self.pair_list[id as usize];
            if self.keys[usize::from(*source)].get(key).is_some_and(|pairs| pairs.incomplete) {
                continue;
            }
            bitmap.optimize();
            let mut bytes = Vec::with_capacity(bitmap.serialized_size());
            bitmap.serialize_into(&mut bytes)?;
            let section = section(&mut out, &bytes);
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
