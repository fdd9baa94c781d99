//! The search index of a block: `blocks/<id>.search`, written beside the Parquet file at cut
//! and compaction (before the meta, which makes the block exist), so that a search reads a
//! slice of one service's spans around its time window instead of the block's columns.
//!
//! Per span it holds the start, duration, name, kind, status code and the trace (an ordinal
//! into the block's sorted trace-ID table), ordered by (service, start). The rows of a service
//! are cut into chunks of [`CHUNK_ROWS`], each compressed on its own, with its start range in
//! the directory: a (service, window) query reads the chunks that overlap the window, newest
//! first, and stops once `limit` traces are found.
//!
//! Tags are answered by an attribute index: for each `key=value` pair, a roaring bitmap of
//! the index rows (positions in the (service, start) order) of the spans it matches, the way
//! [`SpanFilter`] compares: a plain tag matches the first entry of the key in the span's,
//! scope's, resource's, an event's or a link's attributes, printed as a string
//! (`value::as_string`: doubles as Go prints them); `resource.<key>` the resource's only;
//! `scope.name`/`scope.version` the scope's fields ("" without one). `error`, `span.kind` and
//! `span.status` are typed fields. A key with values over [`MAX_VALUE_BYTES`] or more than
//! [`MAX_VALUES_PER_KEY`] distinct values in the block is listed as incomplete, and a search
//! on it reads the block as blocks without an index are read.
//!
//! Why bitmaps and not per-chunk bloom filters over hash(key=value): every condition must
//! hold on one span, so a bloom filter only narrows to chunks and the spans would still need
//! their attributes decoded from the block; a bitmap answers per span, and for a common value
//! (a run of rows) costs a few bytes as a run container.
//!
//! File layout (integers little-endian):
//!
//! ```text
//! "SPOORIX1" | trace IDs (16 B each, sorted) | chunks (zstd) | bitmaps (roaring) |
//! directory (zstd JSON, see `Directory`) | footer: directory offset u64, length u32,
//! crc32c u32, format u32, "SPIX"
//! ```
//!
//! Pairs whose bitmaps are equal share one section. Every section's crc32c is in the
//! directory; a section that fails it is an error, and an
//! index that cannot be read at all leaves the block to the plain search.

mod attrs;
mod build;
mod columns;
mod search;
#[cfg(test)]
mod tests;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::block::BLOCKS_DIR;
use crate::StoreError;

pub(crate) use build::SearchIndexBuilder;
pub(crate) use columns::{TypedColumns, attribute_fields};
pub(crate) use search::{SearchIndex, find_in_block};

pub(crate) const SEARCH_SUFFIX: &str = ".search";
/// Index rows per chunk: a chunk is the unit of reading and decompressing.
const CHUNK_ROWS: usize = 1024;
const MAX_VALUE_BYTES: usize = 256;
const MAX_VALUES_PER_KEY: usize = 4096;
const MAGIC: &[u8; 8] = b"SPOORIX1";
const FOOTER_MAGIC: &[u8; 4] = b"SPIX";
const FOOTER_BYTES: u64 = 24;
const FORMAT: u32 = 1;

pub(crate) fn search_path(id: &str) -> Path {
    Path::from(format!("{BLOCKS_DIR}/{id}{SEARCH_SUFFIX}"))
}

/// A byte range of the file and its crc32c.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Section {
    offset: u64,
    len: u64,
    crc: u32,
}

impl Section {
    fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + self.len
    }

    fn check(&self, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.len() as u64 != self.len || crc32c::crc32c(bytes) != self.crc {
            return Err(StoreError::Other("search index section fails its checksum".to_owned()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChunkDir {
    /// The chunk's first row, counted from the service's first.
    first: u32,
    rows: u32,
    min_start: u64,
    max_start: u64,
    section: Section,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServiceDir {
    name: String,
    /// The service's first index row.
    first: u32,
    chunks: Vec<ChunkDir>,
}

/// A `(source, key, value)` pair and its bitmap. Sources as [`source_code`] numbers them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PairDir {
    source: u8,
    key: String,
    value: String,
    section: Section,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Directory {
    format: u32,
    rows: u64,
    trace_ids: Section,
    /// Span names, which chunks refer to by index.
    names: Vec<String>,
    /// Sorted by name.
    services: Vec<ServiceDir>,
    /// Sorted by (source, key, value).
    pairs: Vec<PairDir>,
    /// (source, key) whose pairs are not all in `pairs`, sorted.
    incomplete: Vec<(u8, String)>,
}

fn source_code(source: crate::query::AttributeSource) -> u8 {
    match source {
        crate::query::AttributeSource::Any => 0,
        crate::query::AttributeSource::Resource => 1,
        crate::query::AttributeSource::Scope => 2,
    }
}

/// One index row, as a chunk stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    start: u64,
    duration: u64,
    name: u32,
    kind: i32,
    status_code: i32,
    trace: u32,
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, StoreError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or_else(|| StoreError::Other("truncated search index chunk".to_owned()))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(StoreError::Other("bad varint in search index chunk".to_owned()))
}

fn zigzag(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

fn unzigzag(value: u64) -> i32 {
    let value = value as u32;
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// Column by column (starts as deltas), then zstd.
fn encode_chunk(entries: &[Entry]) -> Result<Vec<u8>, StoreError> {
    let mut raw = Vec::with_capacity(entries.len() * 12);
    let mut previous = entries.first().map_or(0, |e| e.start);
    put_varint(&mut raw, entries.len() as u64);
    put_varint(&mut raw, previous);
    for entry in entries {
        put_varint(&mut raw, entry.start - previous);
        previous = entry.start;
    }
    for entry in entries {
        put_varint(&mut raw, entry.duration);
    }
    for entry in entries {
        put_varint(&mut raw, u64::from(entry.name));
    }
    for entry in entries {
        put_varint(&mut raw, zigzag(entry.kind));
        put_varint(&mut raw, zigzag(entry.status_code));
    }
    for entry in entries {
        put_varint(&mut raw, u64::from(entry.trace));
    }
    Ok(zstd::bulk::compress(&raw, 3)?)
}

fn decode_chunk(compressed: &[u8], rows: usize) -> Result<Vec<Entry>, StoreError> {
    // Varints take at most 10 bytes; six columns per row and a header.
    let raw = zstd::bulk::decompress(compressed, rows.saturating_mul(60).saturating_add(32))?;
    let mut at = 0;
    let count = usize::try_from(get_varint(&raw, &mut at)?).unwrap_or(usize::MAX);
    if count != rows {
        return Err(StoreError::Other("search index chunk holds another row count".to_owned()));
    }
    let mut start = get_varint(&raw, &mut at)?;
    let mut entries = vec![Entry { start: 0, duration: 0, name: 0, kind: 0, status_code: 0, trace: 0 }; rows];
    let narrow = |v: u64| u32::try_from(v).map_err(|_| StoreError::Other("bad search index chunk".to_owned()));
    for entry in entries.iter_mut() {
        start = start.wrapping_add(get_varint(&raw, &mut at)?);
        entry.start = start;
    }
    for entry in entries.iter_mut() {
        entry.duration = get_varint(&raw, &mut at)?;
    }
    for entry in entries.iter_mut() {
        entry.name = narrow(get_varint(&raw, &mut at)?)?;
    }
    for entry in entries.iter_mut() {
        entry.kind = unzigzag(get_varint(&raw, &mut at)?);
        entry.status_code = unzigzag(get_varint(&raw, &mut at)?);
    }
    for entry in entries.iter_mut() {
        entry.trace = narrow(get_varint(&raw, &mut at)?)?;
    }
    Ok(entries)
}
