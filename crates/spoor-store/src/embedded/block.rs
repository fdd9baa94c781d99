//! Blocks: immutable Parquet files of spans, sorted by trace ID, each with a JSON meta file.
//!
//! Columns (one row per span):
//!
//! | column | type | holds |
//! | --- | --- | --- |
//! | `trace_id` | fixed binary 16 | the trace ID |
//! | `span_id`, `parent_span_id` | binary | IDs as sent (`parent_span_id` empty at roots) |
//! | `service_name`, `name` | string | `service.name` and the span name |
//! | `kind`, `status_code` | int32 | OTLP enum values |
//! | `status_message` | string | |
//! | `start_time_unix_nano`, `duration_nano` | uint64 | start, and end − start (wrapping) |
//! | `resource` | binary | protobuf `ResourceSpans` without scopes: resource and schema URL |
//! | `scope` | binary | protobuf `ScopeSpans` without spans: scope and schema URL |
//! | `span` | binary | protobuf `Span` with the fields of the columns above cleared |
//!
//! Why this shape: the typed columns are what search and DuckDB/pyarrow need; everything else
//! (attributes, events, links, trace state, flags, dropped counts) rides in the `span`
//! protobuf, so a span round-trips exactly without a column per OTLP field. `resource` and
//! `scope` repeat across spans and cost a dictionary index each. IDs are the incompressible
//! part (≈16 B of span and parent IDs per span; trace IDs are dictionary-coded once per
//! trace); zstd over whole pages takes the repeated attribute keys out of `span`.
//!
//! The meta file (`<id>.meta.json`) is written after the Parquet file and is what makes a
//! block exist: the time range, services and operations, a trace-ID bloom filter, each row
//! group's trace-ID range, and for dependencies the calls between services per minute plus the
//! child spans whose parent span is not in the block (see `dependencies`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, FixedSizeBinaryBuilder, Int32Builder, StringBuilder, UInt64Builder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, FixedSizeBinaryArray, Int32Array, RecordBatch, StringArray,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use base64::Engine as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use prost::Message;
use serde::{Deserialize, Serialize};
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans, Span, Status};

use super::dependencies::{EdgeCounts, ParentRef, count_calls};
use crate::model::{Interner, ResourcePart, ScopePart, SpanRecord};
use crate::query::{SpanFilter, kind_name};
use crate::{Operation, StoreError, TraceId};

/// Rows per row group: small enough that a trace lookup decodes little, large enough that
/// dictionaries and zstd frames pay off.
const ROW_GROUP_SPANS: usize = 16 * 1024;
const PAGE_SPANS: usize = 1024;
const BLOOM_BITS_PER_TRACE: usize = 10;
const BLOOM_HASHES: u32 = 7;
/// 2 added `unresolved_parents` and stopped counting calls within one service in `edges`.
const META_FORMAT: u32 = 2;
const NANOS_PER_MINUTE: u64 = 60_000_000_000;

pub(crate) const BLOCKS_DIR: &str = "blocks";
pub(crate) const PARQUET_SUFFIX: &str = ".parquet";
pub(crate) const META_SUFFIX: &str = ".meta.json";

fn schema() -> SchemaRef {
    schema_with_service_as(DataType::Utf8)
}

/// The schema a search reads with: `service_name` as dictionary keys, so that the first pass
/// compares each distinct name once per batch instead of every row's string.
fn search_schema() -> SchemaRef {
    schema_with_service_as(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)))
}

fn schema_with_service_as(service_name: DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::Binary, false),
        Field::new("parent_span_id", DataType::Binary, false),
        Field::new("service_name", service_name, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Int32, false),
        Field::new("status_code", DataType::Int32, false),
        Field::new("status_message", DataType::Utf8, false),
        Field::new("start_time_unix_nano", DataType::UInt64, false),
        Field::new("duration_nano", DataType::UInt64, false),
        Field::new("resource", DataType::Binary, false),
        Field::new("scope", DataType::Binary, false),
        Field::new("span", DataType::Binary, false),
    ]))
}

fn writer_properties() -> Result<WriterProperties, StoreError> {
    let plain_binary = |name: &str| ColumnPath::from(name);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(ROW_GROUP_SPANS * 4))
        // Small pages let a trace lookup skip most of a row group through the page index.
        .set_data_page_row_count_limit(PAGE_SPANS)
        .set_column_dictionary_enabled(plain_binary("span_id"), false)
        .set_column_encoding(plain_binary("span_id"), Encoding::DELTA_LENGTH_BYTE_ARRAY)
        .set_column_dictionary_enabled(plain_binary("parent_span_id"), false)
        .set_column_encoding(plain_binary("parent_span_id"), Encoding::DELTA_LENGTH_BYTE_ARRAY)
        .set_column_dictionary_enabled(plain_binary("start_time_unix_nano"), false)
        .set_column_encoding(plain_binary("start_time_unix_nano"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(plain_binary("span"), false)
        .set_column_encoding(plain_binary("span"), Encoding::DELTA_LENGTH_BYTE_ARRAY)
        .build())
}

/// A span as a block row: typed fields plus its remaining protobuf.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    pub trace_id: TraceId,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub service_name: String,
    pub name: String,
    pub kind: i32,
    pub status_code: i32,
    pub status_message: String,
    pub start: u64,
    pub duration: u64,
    pub resource: Bytes,
    pub scope: Bytes,
    pub span: Vec<u8>,
}

impl RawRow {
    /// The row of a decoded span: how rows were built before the head kept bytes, and what
    /// tests compare the head's rows with.
    #[cfg(test)]
    pub fn from_record(record: &SpanRecord) -> Self {
        let mut rest = record.span.clone();
        let status = rest.status.take();
        // An empty status marks that the span had one, so that `Some(default)` and `None`
        // both round-trip.
        rest.status = status.as_ref().map(|_| Status::default());
        let row = Self {
            trace_id: crate::model::trace_id_of(&record.span.trace_id),
            span_id: std::mem::take(&mut rest.span_id),
            parent_span_id: std::mem::take(&mut rest.parent_span_id),
            service_name: crate::query::service_name(record.resource.proto.resource.as_ref()).to_owned(),
            name: std::mem::take(&mut rest.name),
            kind: rest.kind,
            status_code: status.as_ref().map_or(0, |s| s.code),
            status_message: status.map(|s| s.message).unwrap_or_default(),
            start: rest.start_time_unix_nano,
            duration: rest.end_time_unix_nano.wrapping_sub(rest.start_time_unix_nano),
            resource: Bytes::from(record.resource.encoded.clone()),
            scope: Bytes::from(record.scope.encoded.clone()),
            span: Vec::new(),
        };
        rest.trace_id.clear();
        rest.kind = 0;
        rest.start_time_unix_nano = 0;
        rest.end_time_unix_nano = 0;
        Self { span: rest.encode_to_vec(), ..row }
    }

    /// Trace ID, span ID and start first (the block order), then the rest, so that exact
    /// copies end up next to each other.
    #[allow(clippy::type_complexity)]
    pub(crate) fn sort_key(&self) -> (&TraceId, &[u8], u64, &[u8], &str, &[u8], &[u8], &[u8], (i32, i32, u64), &str) {
        (
            &self.trace_id,
            &self.span_id,
            self.start,
            &self.span,
            &self.name,
            &self.parent_span_id,
            &self.resource,
            &self.scope,
            (self.kind, self.status_code, self.duration),
            &self.status_message,
        )
    }
}

/// Orders rows for a block and drops exact copies of a span (retried writes, replays).
/// Different spans that share a span ID are kept, as Jaeger's stores keep them. (The cut
/// orders the head's rows the same way in `head::rows`; tests compare the two.)
#[cfg(test)]
pub(crate) fn sort_and_dedupe(rows: &mut Vec<RawRow>) {
    rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    rows.dedup_by(|later, first| later.sort_key() == first.sort_key());
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OperationMeta {
    pub name: String,
    pub span_kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowGroupMeta {
    pub min_trace_id: String,
    pub max_trace_id: String,
    pub spans: u64,
    pub min_time: u64,
    pub max_time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EdgeMeta {
    pub parent: String,
    pub child: String,
    /// Unix minute of the child spans' start.
    pub minute: u64,
    pub call_count: u64,
}

/// Child spans of `child` whose parent span `parent_span_id` (of `trace_id`) is not in the
/// block; dependencies look the parent up elsewhere. IDs are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParentRefMeta {
    pub trace_id: String,
    pub parent_span_id: String,
    pub child: String,
    /// Unix minute of the child spans' start.
    pub minute: u64,
    pub call_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BloomMeta {
    pub hashes: u32,
    /// The bit array, base64.
    pub bits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockMeta {
    pub format: u32,
    pub id: String,
    /// Earliest and latest span start, Unix ns.
    pub min_time: u64,
    pub max_time: u64,
    pub span_count: u64,
    pub trace_count: u64,
    pub size_bytes: u64,
    pub created_unix_nano: u64,
    /// The highest WAL segment whose records this block holds; replay skips it and older.
    pub wal_through: u64,
    pub services: BTreeMap<String, Vec<OperationMeta>>,
    pub bloom: BloomMeta,
    pub row_groups: Vec<RowGroupMeta>,
    pub edges: Vec<EdgeMeta>,
    /// Empty in metas of format 1, which also counted calls within one service in `edges`.
    #[serde(default)]
    pub unresolved_parents: Vec<ParentRefMeta>,
}

pub(crate) fn parquet_path(id: &str) -> Path {
    Path::from(format!("{BLOCKS_DIR}/{id}{PARQUET_SUFFIX}"))
}

pub(crate) fn meta_path(id: &str) -> Path {
    Path::from(format!("{BLOCKS_DIR}/{id}{META_SUFFIX}"))
}

/// A bloom filter over trace IDs, with double hashing.
#[derive(Debug, Clone)]
pub(crate) struct Bloom {
    bits: Vec<u8>,
    hashes: u32,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer: trace IDs such as 0…011 are far from random.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Bloom {
    fn with_capacity(traces: usize) -> Self {
        let bytes = (traces * BLOOM_BITS_PER_TRACE).div_ceil(8).max(8);
        Self { bits: vec![0; bytes], hashes: BLOOM_HASHES }
    }

    fn positions(&self, id: &TraceId) -> impl Iterator<Item = usize> + use<> {
        let (high, low) = id.split_at(8);
        let a = u64::from_le_bytes(high.try_into().unwrap_or_default());
        let b = u64::from_le_bytes(low.try_into().unwrap_or_default());
        let h1 = mix(a.wrapping_add(mix(b ^ 0x9e37_79b9_7f4a_7c15)));
        let h2 = mix(b.wrapping_add(mix(a ^ 0xc2b2_ae3d_27d4_eb4f))) | 1;
        let m = (self.bits.len() * 8) as u64;
        (0..u64::from(self.hashes)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn insert(&mut self, id: &TraceId) {
        for bit in self.positions(id).collect::<Vec<_>>() {
            self.bits[bit / 8] |= 1 << (bit % 8);
        }
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.positions(id).all(|bit| self.bits[bit / 8] & (1 << (bit % 8)) != 0)
    }

    fn to_meta(&self) -> BloomMeta {
        BloomMeta { hashes: self.hashes, bits: base64::engine::general_purpose::STANDARD.encode(&self.bits) }
    }

    fn from_meta(meta: &BloomMeta) -> Result<Self, StoreError> {
        let bits = base64::engine::general_purpose::STANDARD
            .decode(&meta.bits)
            .map_err(|e| StoreError::Other(format!("bad bloom filter: {e}")))?;
        if bits.is_empty() || meta.hashes == 0 {
            return Err(StoreError::Other("empty bloom filter".to_owned()));
        }
        Ok(Self { bits, hashes: meta.hashes })
    }
}

/// Writes rows, sorted by trace ID, into a Parquet file in memory, and gathers the meta.
pub(crate) struct BlockBuilder {
    writer: ArrowWriter<Vec<u8>>,
    pending: Vec<RawRow>,
    trace_ids: Vec<TraceId>,
    min_time: u64,
    max_time: u64,
    span_count: u64,
    services: BTreeMap<String, BTreeSet<(String, String)>>,
    row_groups: Vec<RowGroupMeta>,
    edges: HashMap<(String, String, u64), u64>,
    /// Calls whose parent span is not in the block, by (trace, parent span, child service, minute).
    unresolved_parents: HashMap<(TraceId, Vec<u8>, String, u64), u64>,
}

impl BlockBuilder {
    pub fn new() -> Result<Self, StoreError> {
        Ok(Self {
            writer: ArrowWriter::try_new(Vec::new(), schema(), Some(writer_properties()?))?,
            pending: Vec::new(),
            trace_ids: Vec::new(),
            min_time: u64::MAX,
            max_time: 0,
            span_count: 0,
            services: BTreeMap::new(),
            row_groups: Vec::new(),
            edges: HashMap::new(),
            unresolved_parents: HashMap::new(),
        })
    }

    /// Adds a row; rows must come ordered by trace ID.
    pub fn push(&mut self, row: RawRow) -> Result<(), StoreError> {
        let new_trace = self.trace_ids.last() != Some(&row.trace_id);
        if new_trace {
            if self.pending.len() >= ROW_GROUP_SPANS {
                self.flush_row_group()?;
            }
            self.trace_ids.push(row.trace_id);
        }
        self.min_time = self.min_time.min(row.start);
        self.max_time = self.max_time.max(row.start);
        self.span_count += 1;
        if !row.service_name.is_empty() {
            let operations = self.services.entry(row.service_name.clone()).or_default();
            if !operations.iter().any(|(name, kind)| *name == row.name && kind == kind_name(row.kind)) {
                operations.insert((row.name.clone(), kind_name(row.kind).to_owned()));
            }
        }
        self.pending.push(row);
        Ok(())
    }

    /// Counts the calls of the pending rows, which hold whole traces: between services where
    /// the parent span is in the block, and per parent span where it is not.
    fn count_edges(&mut self) {
        let mut start = 0;
        while start < self.pending.len() {
            let trace = self.pending[start].trace_id;
            let end = start + self.pending[start..].iter().take_while(|r| r.trace_id == trace).count();
            let rows = &self.pending[start..end];
            let service_of: HashMap<&[u8], &str> =
                rows.iter().map(|r| (r.span_id.as_slice(), r.service_name.as_str())).collect();
            for row in rows.iter().filter(|r| !r.parent_span_id.is_empty()) {
                let minute = row.start / NANOS_PER_MINUTE;
                match service_of.get(row.parent_span_id.as_slice()) {
                    Some(parent) if *parent == row.service_name => {}
                    Some(parent) => {
                        let key = ((*parent).to_owned(), row.service_name.clone(), minute);
                        *self.edges.entry(key).or_default() += 1;
                    }
                    None => {
                        let key = (trace, row.parent_span_id.clone(), row.service_name.clone(), minute);
                        *self.unresolved_parents.entry(key).or_default() += 1;
                    }
                }
            }
            start = end;
        }
    }

    fn flush_row_group(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.count_edges();
        let rows = std::mem::take(&mut self.pending);
        let (first, last) = (rows[0].trace_id, rows[rows.len() - 1].trace_id);
        self.row_groups.push(RowGroupMeta {
            min_trace_id: hex::encode(first),
            max_trace_id: hex::encode(last),
            spans: rows.len() as u64,
            min_time: rows.iter().map(|r| r.start).min().unwrap_or(0),
            max_time: rows.iter().map(|r| r.start).max().unwrap_or(0),
        });
        self.writer.write(&to_record_batch(&rows)?)?;
        self.writer.flush()?;
        Ok(())
    }

    /// The Parquet bytes and the block's meta.
    pub fn finish(
        mut self,
        id: String,
        wal_through: u64,
        created_unix_nano: u64,
    ) -> Result<(Vec<u8>, BlockMeta), StoreError> {
        self.flush_row_group()?;
        let bytes = self.writer.into_inner()?;
        let mut bloom = Bloom::with_capacity(self.trace_ids.len());
        for id in &self.trace_ids {
            bloom.insert(id);
        }
        let mut edges: Vec<EdgeMeta> = self
            .edges
            .into_iter()
            .map(|((parent, child, minute), call_count)| EdgeMeta { parent, child, minute, call_count })
            .collect();
        edges.sort_by(|a, b| (a.minute, &a.parent, &a.child).cmp(&(b.minute, &b.parent, &b.child)));
        let mut unresolved_parents: Vec<_> = self.unresolved_parents.into_iter().collect();
        unresolved_parents.sort_unstable();
        let unresolved_parents = unresolved_parents
            .into_iter()
            .map(|((trace_id, parent_span_id, child, minute), call_count)| ParentRefMeta {
                trace_id: hex::encode(trace_id),
                parent_span_id: hex::encode(parent_span_id),
                child,
                minute,
                call_count,
            })
            .collect();
        let meta = BlockMeta {
            format: META_FORMAT,
            id,
            min_time: if self.span_count == 0 { 0 } else { self.min_time },
            max_time: self.max_time,
            span_count: self.span_count,
            trace_count: self.trace_ids.len() as u64,
            size_bytes: bytes.len() as u64,
            created_unix_nano,
            wal_through,
            services: self
                .services
                .into_iter()
                .map(|(service, ops)| {
                    let ops = ops.into_iter().map(|(name, span_kind)| OperationMeta { name, span_kind }).collect();
                    (service, ops)
                })
                .collect(),
            bloom: bloom.to_meta(),
            row_groups: self.row_groups,
            edges,
            unresolved_parents,
        };
        Ok((bytes, meta))
    }
}

fn to_record_batch(rows: &[RawRow]) -> Result<RecordBatch, StoreError> {
    let n = rows.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = BinaryBuilder::with_capacity(n, n * 8);
    let mut parent = BinaryBuilder::with_capacity(n, n * 8);
    let mut service = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = Int32Builder::with_capacity(n);
    let mut status_code = Int32Builder::with_capacity(n);
    let mut status_message = StringBuilder::new();
    let mut start = UInt64Builder::with_capacity(n);
    let mut duration = UInt64Builder::with_capacity(n);
    let mut resource = BinaryBuilder::new();
    let mut scope = BinaryBuilder::new();
    let mut span = BinaryBuilder::new();
    for row in rows {
        trace_id.append_value(row.trace_id)?;
        span_id.append_value(&row.span_id);
        parent.append_value(&row.parent_span_id);
        service.append_value(&row.service_name);
        name.append_value(&row.name);
        kind.append_value(row.kind);
        status_code.append_value(row.status_code);
        status_message.append_value(&row.status_message);
        start.append_value(row.start);
        duration.append_value(row.duration);
        resource.append_value(&row.resource);
        scope.append_value(&row.scope);
        span.append_value(&row.span);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(service.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(status_code.finish()),
        Arc::new(status_message.finish()),
        Arc::new(start.finish()),
        Arc::new(duration.finish()),
        Arc::new(resource.finish()),
        Arc::new(scope.finish()),
        Arc::new(span.finish()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// The typed columns of a record batch read from a block.
struct Columns<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a BinaryArray,
    parent_span_id: &'a BinaryArray,
    service_name: &'a StringArray,
    name: &'a StringArray,
    kind: &'a Int32Array,
    status_code: &'a Int32Array,
    status_message: &'a StringArray,
    start: &'a UInt64Array,
    duration: &'a UInt64Array,
    resource: &'a BinaryArray,
    scope: &'a BinaryArray,
    span: &'a BinaryArray,
}

fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StoreError::Other(format!("block column {name} is missing or has the wrong type")))
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self, StoreError> {
        Ok(Self {
            trace_id: column(batch, "trace_id")?,
            span_id: column(batch, "span_id")?,
            parent_span_id: column(batch, "parent_span_id")?,
            service_name: column(batch, "service_name")?,
            name: column(batch, "name")?,
            kind: column(batch, "kind")?,
            status_code: column(batch, "status_code")?,
            status_message: column(batch, "status_message")?,
            start: column(batch, "start_time_unix_nano")?,
            duration: column(batch, "duration_nano")?,
            resource: column(batch, "resource")?,
            scope: column(batch, "scope")?,
            span: column(batch, "span")?,
        })
    }

    fn len(&self) -> usize {
        self.trace_id.len()
    }

    fn trace_id(&self, row: usize) -> TraceId {
        let mut id = [0u8; 16];
        let value = self.trace_id.value(row);
        if value.len() == 16 {
            id.copy_from_slice(value);
        }
        id
    }

    fn raw_row(&self, row: usize) -> RawRow {
        RawRow {
            trace_id: self.trace_id(row),
            span_id: self.span_id.value(row).to_vec(),
            parent_span_id: self.parent_span_id.value(row).to_vec(),
            service_name: self.service_name.value(row).to_owned(),
            name: self.name.value(row).to_owned(),
            kind: self.kind.value(row),
            status_code: self.status_code.value(row),
            status_message: self.status_message.value(row).to_owned(),
            start: self.start.value(row),
            duration: self.duration.value(row),
            resource: Bytes::copy_from_slice(self.resource.value(row)),
            scope: Bytes::copy_from_slice(self.scope.value(row)),
            span: self.span.value(row).to_vec(),
        }
    }

    /// The full span of `row`, with its resource and scope interned.
    fn record(&self, row: usize, interner: &mut Interner) -> Result<SpanRecord, StoreError> {
        let decode_error = |what: &str, e: prost::DecodeError| StoreError::Other(format!("bad {what} in block: {e}"));
        let resource = ResourcePart::from_proto(
            ResourceSpans::decode(self.resource.value(row)).map_err(|e| decode_error("resource", e))?,
        );
        let scope =
            ScopePart::from_proto(ScopeSpans::decode(self.scope.value(row)).map_err(|e| decode_error("scope", e))?);
        let mut span = Span::decode(self.span.value(row)).map_err(|e| decode_error("span", e))?;
        let trace_id = self.trace_id(row);
        span.trace_id = trace_id.to_vec();
        span.span_id = self.span_id.value(row).to_vec();
        span.parent_span_id = self.parent_span_id.value(row).to_vec();
        span.name = self.name.value(row).to_owned();
        span.kind = self.kind.value(row);
        span.start_time_unix_nano = self.start.value(row);
        span.end_time_unix_nano = span.start_time_unix_nano.wrapping_add(self.duration.value(row));
        let (code, message) = (self.status_code.value(row), self.status_message.value(row));
        if span.status.is_some() || code != 0 || !message.is_empty() {
            span.status = Some(Status { code, message: message.to_owned() });
        }
        Ok(SpanRecord { resource: interner.resource(resource), scope: interner.scope(scope), span })
    }
}

/// Leaf (column) indexes in [`schema`].
const COL_TRACE_ID: usize = 0;
const COL_SPAN_ID: usize = 1;
const COL_SERVICE_NAME: usize = 3;
const COL_NAME: usize = 4;
const COL_KIND: usize = 5;
const COL_STATUS_CODE: usize = 6;
const COL_START: usize = 8;
const COL_DURATION: usize = 9;
const COL_RESOURCE: usize = 10;
const COL_SCOPE: usize = 11;
const COL_SPAN: usize = 12;

/// Candidate rows whose attributes a search checks first, before growing fourfold.
const FIRST_CANDIDATE_CHUNK: usize = 256;

/// A row whose typed columns matched a search, and its span's start.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: u64,
    row_group: usize,
    row: usize,
}

/// The `depth`-th newest start among `hits`, once there are `depth` of them.
pub(crate) fn kth_newest(hits: &HashMap<TraceId, u64>, depth: usize) -> Option<u64> {
    if depth == 0 || hits.len() < depth {
        return None;
    }
    let mut starts: Vec<u64> = hits.values().copied().collect();
    let (_, kth, _) = starts.select_nth_unstable_by(depth - 1, |a, b| b.cmp(a));
    Some(*kth)
}

/// A stored block: its meta, decoded pruning structures and cached Parquet footer.
pub(crate) struct Block {
    /// The meta as stored, except `unresolved_parents`, which is moved to `parent_refs`.
    pub meta: BlockMeta,
    bloom: Bloom,
    row_group_ranges: Vec<(TraceId, TraceId)>,
    /// The meta's `unresolved_parents`, decoded, each with its Unix minute.
    parent_refs: Vec<(u64, ParentRef)>,
    reader_metadata: tokio::sync::OnceCell<ArrowReaderMetadata>,
    /// The same footer, read with [`search_schema`].
    search_metadata: std::sync::OnceLock<ArrowReaderMetadata>,
}

fn parse_trace_id(text: &str) -> Result<TraceId, StoreError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id)
        .map_err(|e| StoreError::Other(format!("bad trace id {text:?} in block meta: {e}")))?;
    Ok(id)
}

fn parse_parent_ref(meta: ParentRefMeta) -> Result<(u64, ParentRef), StoreError> {
    let parent_span_id = hex::decode(&meta.parent_span_id)
        .map_err(|e| StoreError::Other(format!("bad parent span id {:?} in block meta: {e}", meta.parent_span_id)))?;
    let parent_ref = ParentRef {
        trace_id: parse_trace_id(&meta.trace_id)?,
        parent_span_id,
        child: meta.child,
        call_count: meta.call_count,
    };
    Ok((meta.minute, parent_ref))
}

impl Block {
    pub fn new(mut meta: BlockMeta) -> Result<Self, StoreError> {
        let bloom = Bloom::from_meta(&meta.bloom)?;
        let row_group_ranges = meta
            .row_groups
            .iter()
            .map(|rg| Ok((parse_trace_id(&rg.min_trace_id)?, parse_trace_id(&rg.max_trace_id)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Held once, decoded: a block may list a parent per trace when callers go untraced.
        let parent_refs = std::mem::take(&mut meta.unresolved_parents)
            .into_iter()
            .map(parse_parent_ref)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self {
            meta,
            bloom,
            row_group_ranges,
            parent_refs,
            reader_metadata: tokio::sync::OnceCell::new(),
            search_metadata: std::sync::OnceLock::new(),
        })
    }

    pub fn parquet_path(&self) -> Path {
        parquet_path(&self.meta.id)
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.meta.min_time <= end && self.meta.max_time >= start
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.bloom.may_contain(id)
    }

    /// Whether any span in the block could match `filter`, from the meta alone.
    pub fn may_match(&self, filter: &SpanFilter) -> bool {
        if filter.start_min.is_some_and(|min| self.meta.max_time < min)
            || filter.start_max.is_some_and(|max| self.meta.min_time > max)
        {
            return false;
        }
        if filter.service.is_empty() {
            return true;
        }
        match self.meta.services.get(&filter.service) {
            Some(ops) => filter.operation.as_ref().is_none_or(|op| ops.iter().any(|o| &o.name == op)),
            None => false,
        }
    }

    fn object_reader(&self, store: &Arc<dyn ObjectStore>) -> BlockReader {
        BlockReader { store: store.clone(), path: self.parquet_path(), size: self.meta.size_bytes }
    }

    async fn reader_metadata(&self, store: &Arc<dyn ObjectStore>) -> Result<ArrowReaderMetadata, StoreError> {
        let metadata = self
            .reader_metadata
            .get_or_try_init(|| async {
                let mut reader = self.object_reader(store);
                let options = ArrowReaderOptions::new()
                    .with_offset_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
                ArrowReaderMetadata::load_async(&mut reader, options).await
            })
            .await?;
        Ok(metadata.clone())
    }

    /// The footer with `service_name` read as a dictionary, for the first pass of a search.
    async fn search_metadata(&self, store: &Arc<dyn ObjectStore>) -> Result<ArrowReaderMetadata, StoreError> {
        if let Some(metadata) = self.search_metadata.get() {
            return Ok(metadata.clone());
        }
        let plain = self.reader_metadata(store).await?;
        let options = ArrowReaderOptions::new().with_schema(search_schema());
        let metadata = ArrowReaderMetadata::try_new(plain.metadata().clone(), options)?;
        Ok(self.search_metadata.get_or_init(|| metadata).clone())
    }

    /// The row groups whose trace-ID range holds `trace_id`.
    fn row_groups_of(&self, trace_id: &TraceId) -> Vec<usize> {
        self.row_group_ranges
            .iter()
            .enumerate()
            .filter(|(_, (min, max))| min <= trace_id && trace_id <= max)
            .map(|(i, _)| i)
            .collect()
    }

    /// The spans of `trace_id` in this block.
    pub async fn trace(&self, store: &Arc<dyn ObjectStore>, trace_id: &TraceId) -> Result<Vec<SpanRecord>, StoreError> {
        let row_groups = self.row_groups_of(trace_id);
        // First only the trace ID column, to find the trace's rows; then every column of just
        // those rows, so that the page index lets the reader skip most pages.
        let (row_groups, selection) = self.select_trace_rows(store, row_groups, trace_id).await?;
        let mut interner = Interner::default();
        let mut records = Vec::new();
        if row_groups.is_empty() {
            return Ok(records);
        }
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(
            self.object_reader(store),
            self.reader_metadata(store).await?,
        )
        .with_row_groups(row_groups)
        .with_row_selection(selection)
        .with_batch_size(ROW_GROUP_SPANS)
        .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        for batch in batches {
            let columns = Columns::new(&batch)?;
            for row in 0..columns.len() {
                if columns.trace_id(row) == *trace_id {
                    records.push(columns.record(row, &mut interner)?);
                }
            }
        }
        Ok(records)
    }

    /// The services of the spans of `trace_id` whose IDs are in `span_ids`, by span ID. Reads
    /// only the ID and service columns of the trace's rows.
    pub async fn span_services(
        &self,
        store: &Arc<dyn ObjectStore>,
        trace_id: &TraceId,
        span_ids: &HashSet<Vec<u8>>,
    ) -> Result<HashMap<Vec<u8>, String>, StoreError> {
        let (row_groups, selection) = self.select_trace_rows(store, self.row_groups_of(trace_id), trace_id).await?;
        let mut services = HashMap::new();
        if row_groups.is_empty() {
            return Ok(services);
        }
        let metadata = self.reader_metadata(store).await?;
        let mask = ProjectionMask::leaves(metadata.parquet_schema(), [COL_TRACE_ID, COL_SPAN_ID, COL_SERVICE_NAME]);
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.object_reader(store), metadata)
            .with_row_groups(row_groups)
            .with_row_selection(selection)
            .with_projection(mask)
            .with_batch_size(ROW_GROUP_SPANS)
            .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        for batch in &batches {
            let trace_ids = column::<FixedSizeBinaryArray>(batch, "trace_id")?;
            let ids = column::<BinaryArray>(batch, "span_id")?;
            let service = column::<StringArray>(batch, "service_name")?;
            for row in 0..batch.num_rows() {
                let span_id = ids.value(row);
                if trace_ids.value(row) == trace_id.as_slice() && span_ids.contains(span_id) {
                    services.entry(span_id.to_vec()).or_insert_with(|| service.value(row).to_owned());
                }
            }
        }
        Ok(services)
    }

    /// The row groups that hold `trace_id` and a selection of its rows in them.
    async fn select_trace_rows(
        &self,
        store: &Arc<dyn ObjectStore>,
        row_groups: Vec<usize>,
        trace_id: &TraceId,
    ) -> Result<(Vec<usize>, RowSelection), StoreError> {
        if row_groups.is_empty() {
            return Ok((row_groups, RowSelection::from(Vec::new())));
        }
        let metadata = self.reader_metadata(store).await?;
        let mask = ProjectionMask::leaves(metadata.parquet_schema(), [0]);
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.object_reader(store), metadata.clone())
            .with_row_groups(row_groups.clone())
            .with_projection(mask)
            .with_batch_size(ROW_GROUP_SPANS * 4)
            .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        // Row counts per selected row group, to place each match in the concatenated rows.
        let mut selectors = Vec::new();
        let mut found_groups = Vec::new();
        let mut batch_rows = batches.iter().flat_map(|b| {
            let ids = b.column(0).as_any().downcast_ref::<FixedSizeBinaryArray>();
            (0..b.num_rows()).map(move |row| ids.is_some_and(|ids| ids.value(row) == trace_id.as_slice()))
        });
        for &group in &row_groups {
            let rows = metadata.metadata().row_group(group).num_rows();
            let matches: Vec<bool> = batch_rows.by_ref().take(usize::try_from(rows).unwrap_or(0)).collect();
            let Some(first) = matches.iter().position(|&m| m) else {
                continue;
            };
            let last = matches.iter().rposition(|&m| m).unwrap_or(first);
            found_groups.push(group);
            selectors.push(RowSelector::skip(first));
            selectors.push(RowSelector::select(last + 1 - first));
            selectors.push(RowSelector::skip(matches.len() - last - 1));
        }
        Ok((found_groups, RowSelection::from(selectors)))
    }

    /// Adds to `hits` the traces with a span matching `filter`, with their newest matching
    /// start, as far as they can be among the `depth` newest traces of `hits`.
    ///
    /// Blocks are sorted by trace ID, so a time window selects rows all over the file. A search
    /// reads only the typed columns of the window's row groups first, to find the spans whose
    /// service, name, kind, status, start and duration match; then it decodes the attributes
    /// of those candidates newest first, in growing chunks of rows (the page index skips the
    /// pages without one), and stops once no remaining candidate can enter the `depth` newest.
    pub async fn find(
        &self,
        store: &Arc<dyn ObjectStore>,
        filter: &SpanFilter,
        depth: usize,
        hits: &mut HashMap<TraceId, u64>,
    ) -> Result<(), StoreError> {
        let mut candidates = self.candidates(store, filter).await?;
        candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.start));
        let mut done = 0;
        let mut chunk = FIRST_CANDIDATE_CHUNK;
        while done < candidates.len() {
            // A trace first met at a start older than the depth-th newest found cannot enter
            // the answer, and a trace already found keeps its newer start.
            if kth_newest(hits, depth).is_some_and(|kth| candidates[done].start < kth) {
                break;
            }
            let end = done.saturating_add(chunk).min(candidates.len());
            self.match_candidates(store, filter, &mut candidates[done..end], hits).await?;
            done = end;
            chunk = chunk.saturating_mul(4);
        }
        Ok(())
    }

    /// The rows whose typed columns match `filter`, from the row groups of its time window.
    async fn candidates(
        &self,
        store: &Arc<dyn ObjectStore>,
        filter: &SpanFilter,
    ) -> Result<Vec<Candidate>, StoreError> {
        let row_groups: Vec<usize> = self
            .meta
            .row_groups
            .iter()
            .enumerate()
            .filter(|(_, rg)| {
                !(filter.start_min.is_some_and(|min| rg.max_time < min)
                    || filter.start_max.is_some_and(|max| rg.min_time > max))
            })
            .map(|(i, _)| i)
            .collect();
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let metadata = self.search_metadata(store).await?;
        // Only the columns the filter looks at; the others are passed to it as 0 or "".
        let needed = filter.fields_needed();
        let mut leaves = vec![COL_SERVICE_NAME, COL_START];
        for (needed, leaf) in [
            (needed.name, COL_NAME),
            (needed.kind, COL_KIND),
            (needed.status_code, COL_STATUS_CODE),
            (needed.duration, COL_DURATION),
        ] {
            if needed {
                leaves.push(leaf);
            }
        }
        leaves.sort_unstable();
        let mask = ProjectionMask::leaves(metadata.parquet_schema(), leaves);
        let group_rows: Vec<(usize, usize)> = row_groups
            .iter()
            .map(|&g| (g, usize::try_from(metadata.metadata().row_group(g).num_rows()).unwrap_or(0)))
            .collect();
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.object_reader(store), metadata)
            .with_row_groups(row_groups)
            .with_projection(mask)
            .with_batch_size(ROW_GROUP_SPANS * 4)
            .build()?;
        let mut candidates = Vec::new();
        // Where the next row is: an index into `group_rows` and a row in that group.
        let (mut group, mut row) = (0usize, 0usize);
        while let Some(batch) = stream.try_next().await? {
            let service = column::<DictionaryArray<Int32Type>>(&batch, "service_name")?;
            let names = service.values().as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                StoreError::Other("block column service_name is not a dictionary of strings".to_owned())
            })?;
            let service_matches: Vec<bool> = (0..names.len()).map(|k| filter.matches_service(names.value(k))).collect();
            let keys = service.keys();
            let name = if needed.name { Some(column::<StringArray>(&batch, "name")?) } else { None };
            let kind = if needed.kind { Some(column::<Int32Array>(&batch, "kind")?) } else { None };
            let status = if needed.status_code { Some(column::<Int32Array>(&batch, "status_code")?) } else { None };
            let duration = if needed.duration { Some(column::<UInt64Array>(&batch, "duration_nano")?) } else { None };
            let start = column::<UInt64Array>(&batch, "start_time_unix_nano")?;
            for i in 0..batch.num_rows() {
                while group < group_rows.len() && row >= group_rows[group].1 {
                    (group, row) = (group + 1, 0);
                }
                let Some(&(row_group, _)) = group_rows.get(group) else {
                    return Err(StoreError::Other("block has more rows than its row groups".to_owned()));
                };
                let this_row = row;
                row += 1;
                let key = usize::try_from(keys.value(i)).unwrap_or(usize::MAX);
                if !service_matches.get(key).copied().unwrap_or(false) {
                    continue;
                }
                let span_start = start.value(i);
                let end = span_start.wrapping_add(duration.map_or(0, |d| d.value(i)));
                let name = name.map_or("", |n| n.value(i));
                let (kind, status) = (kind.map_or(0, |k| k.value(i)), status.map_or(0, |s| s.value(i)));
                if filter.matches_fields(name, kind, status, span_start, end) {
                    candidates.push(Candidate { start: span_start, row_group, row: this_row });
                }
            }
        }
        Ok(candidates)
    }

    /// Checks the attributes of `candidates` (when the filter has any) and adds their traces.
    async fn match_candidates(
        &self,
        store: &Arc<dyn ObjectStore>,
        filter: &SpanFilter,
        candidates: &mut [Candidate],
        hits: &mut HashMap<TraceId, u64>,
    ) -> Result<(), StoreError> {
        candidates.sort_unstable_by_key(|c| (c.row_group, c.row));
        let metadata = self.reader_metadata(store).await?;
        let mut row_groups = Vec::new();
        let mut selectors = Vec::new();
        let mut next = 0;
        for (i, candidate) in candidates.iter().enumerate() {
            if row_groups.last() != Some(&candidate.row_group) {
                row_groups.push(candidate.row_group);
                next = 0;
            }
            if candidate.row > next {
                selectors.push(RowSelector::skip(candidate.row - next));
            }
            selectors.push(RowSelector::select(1));
            next = candidate.row + 1;
            let group_ends = candidates.get(i + 1).is_none_or(|c| c.row_group != candidate.row_group);
            if group_ends {
                let rows = usize::try_from(metadata.metadata().row_group(candidate.row_group).num_rows()).unwrap_or(0);
                if rows > next {
                    selectors.push(RowSelector::skip(rows - next));
                }
            }
        }
        let needs_attributes = filter.needs_attributes();
        let leaves =
            if needs_attributes { vec![COL_TRACE_ID, COL_RESOURCE, COL_SCOPE, COL_SPAN] } else { vec![COL_TRACE_ID] };
        let mask = ProjectionMask::leaves(metadata.parquet_schema(), leaves);
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.object_reader(store), metadata)
            .with_row_groups(row_groups)
            .with_row_selection(RowSelection::from(selectors))
            .with_projection(mask)
            .with_batch_size(ROW_GROUP_SPANS)
            .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let decode_error = |what: &str, e: prost::DecodeError| StoreError::Other(format!("bad {what} in block: {e}"));
        // Resources and scopes repeat across spans: each distinct encoding is decoded once.
        let mut resources: HashMap<&[u8], ResourceSpans> = HashMap::new();
        let mut scopes: HashMap<&[u8], ScopeSpans> = HashMap::new();
        let mut candidates = candidates.iter();
        for batch in &batches {
            let trace_ids = column::<FixedSizeBinaryArray>(batch, "trace_id")?;
            let parts = match needs_attributes {
                true => Some((
                    column::<BinaryArray>(batch, "resource")?,
                    column::<BinaryArray>(batch, "scope")?,
                    column::<BinaryArray>(batch, "span")?,
                )),
                false => None,
            };
            for row in 0..batch.num_rows() {
                let Some(candidate) = candidates.next() else {
                    return Err(StoreError::Other("block returned more rows than selected".to_owned()));
                };
                if let Some((resource, scope, span)) = parts {
                    let resource_bytes = resource.value(row);
                    if !resources.contains_key(resource_bytes) {
                        let decoded = ResourceSpans::decode(resource_bytes).map_err(|e| decode_error("resource", e))?;
                        resources.insert(resource_bytes, decoded);
                    }
                    let scope_bytes = scope.value(row);
                    if !scopes.contains_key(scope_bytes) {
                        let decoded = ScopeSpans::decode(scope_bytes).map_err(|e| decode_error("scope", e))?;
                        scopes.insert(scope_bytes, decoded);
                    }
                    let span = Span::decode(span.value(row)).map_err(|e| decode_error("span", e))?;
                    let resource = resources.get(resource_bytes).and_then(|r| r.resource.as_ref());
                    let scope = scopes.get(scope_bytes).and_then(|s| s.scope.as_ref());
                    if !filter.matches_attributes(resource, scope, &span) {
                        continue;
                    }
                }
                let mut trace_id = [0u8; 16];
                let value = trace_ids.value(row);
                if value.len() == 16 {
                    trace_id.copy_from_slice(value);
                }
                let newest = hits.entry(trace_id).or_insert(candidate.start);
                *newest = (*newest).max(candidate.start);
            }
        }
        Ok(())
    }

    pub fn operations(&self, service: &str, out: &mut BTreeSet<Operation>) {
        if let Some(ops) = self.meta.services.get(service) {
            out.extend(ops.iter().map(|o| Operation { name: o.name.clone(), span_kind: o.span_kind.clone() }));
        }
    }

    /// Counts the calls between services of the minutes that overlap `[start, end]`, and lists
    /// in `elsewhere` those minutes' child spans whose parent span is not in the block.
    pub fn dependencies(&self, start: u64, end: u64, counts: &mut EdgeCounts, elsewhere: &mut Vec<ParentRef>) {
        if !self.overlaps(start.saturating_sub(NANOS_PER_MINUTE), end) {
            return;
        }
        let in_window = |minute: u64| {
            let minute_start = minute.saturating_mul(NANOS_PER_MINUTE);
            minute_start <= end && minute_start.saturating_add(NANOS_PER_MINUTE) > start
        };
        for edge in self.meta.edges.iter().filter(|e| in_window(e.minute)) {
            // Metas of format 1 counted calls within a service too; `count_calls` skips them.
            count_calls(counts, &edge.parent, &edge.child, edge.call_count);
        }
        elsewhere.extend(self.parent_refs.iter().filter(|(minute, _)| in_window(*minute)).map(|(_, r)| r.clone()));
    }
}

/// Range reads of a block file through the object store.
struct BlockReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn external(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl AsyncFileReader for BlockReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.store.get_range(&self.path, range).await.map_err(external) }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.store.get_ranges(&self.path, &ranges).await.map_err(external) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata =
                ParquetMetaDataReader::new().with_arrow_reader_options(options).load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Rows of one block file, in file order.
struct RowCursor {
    batches: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    rows: std::vec::IntoIter<RawRow>,
}

impl RowCursor {
    fn new(bytes: Bytes) -> Result<Self, StoreError> {
        let batches = ParquetRecordBatchReaderBuilder::try_new(bytes)?.with_batch_size(ROW_GROUP_SPANS).build()?;
        Ok(Self { batches, rows: Vec::new().into_iter() })
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, StoreError> {
        loop {
            if let Some(row) = self.rows.next() {
                return Ok(Some(row));
            }
            let Some(batch) = self.batches.next().transpose()? else {
                return Ok(None);
            };
            let columns = Columns::new(&batch)?;
            let rows: Vec<RawRow> = (0..columns.len()).map(|row| columns.raw_row(row)).collect();
            self.rows = rows.into_iter();
        }
    }
}

struct HeapItem {
    row: RawRow,
    input: usize,
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for HeapItem {}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.row.sort_key(), self.input).cmp(&(other.row.sort_key(), other.input))
    }
}

/// Merges block files (each sorted as [`sort_and_dedupe`] sorts) into one builder, dropping
/// exact copies of a span.
pub(crate) fn merge_blocks(inputs: Vec<Bytes>, builder: &mut BlockBuilder) -> Result<(), StoreError> {
    let mut cursors = inputs.into_iter().map(RowCursor::new).collect::<Result<Vec<_>, _>>()?;
    let mut heap = BinaryHeap::new();
    for (input, cursor) in cursors.iter_mut().enumerate() {
        if let Some(row) = cursor.next_row()? {
            heap.push(Reverse(HeapItem { row, input }));
        }
    }
    let mut last: Option<RawRow> = None;
    while let Some(Reverse(HeapItem { row, input })) = heap.pop() {
        if let Some(next) = cursors[input].next_row()? {
            heap.push(Reverse(HeapItem { row: next, input }));
        }
        if last.as_ref().is_some_and(|last| last.sort_key() == row.sort_key()) {
            continue;
        }
        if let Some(previous) = last.replace(row) {
            builder.push(previous)?;
        }
    }
    if let Some(previous) = last {
        builder.push(previous)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    #[test]
    fn bloom_has_no_false_negatives() {
        let ids: Vec<TraceId> = (0u128..1000).map(|i| i.to_be_bytes()).collect();
        let mut bloom = Bloom::with_capacity(ids.len());
        for id in &ids {
            bloom.insert(id);
        }
        assert!(ids.iter().all(|id| bloom.may_contain(id)));
        let false_positives = (1000u128..11000).filter(|i| bloom.may_contain(&i.to_be_bytes())).count();
        assert!(false_positives < 300, "{false_positives} false positives");
        let restored = Bloom::from_meta(&bloom.to_meta()).unwrap();
        assert!(ids.iter().all(|id| restored.may_contain(id)));
    }

    fn row(span: u8, parent: u8, service: &str) -> RawRow {
        RawRow {
            trace_id: [7; 16],
            span_id: vec![span],
            parent_span_id: if parent == 0 { Vec::new() } else { vec![parent] },
            service_name: service.to_owned(),
            name: String::new(),
            kind: 0,
            status_code: 0,
            status_message: String::new(),
            start: 3 * NANOS_PER_MINUTE,
            duration: 1,
            resource: Bytes::new(),
            scope: Bytes::new(),
            span: Vec::new(),
        }
    }

    /// a(1) → b(2) → b(3), and c(4) → a(1)'s missing parent 9, twice.
    fn built_meta() -> BlockMeta {
        let mut rows = vec![row(1, 0, "a"), row(2, 1, "b"), row(3, 2, "b"), row(4, 9, "c"), row(5, 9, "c")];
        sort_and_dedupe(&mut rows);
        let mut builder = BlockBuilder::new().unwrap();
        for row in rows {
            builder.push(row).unwrap();
        }
        builder.finish("test".to_owned(), 0, 0).unwrap().1
    }

    #[test]
    fn row_groups_hold_whole_traces_and_their_meta_ranges_match_the_file() {
        // 3 spans a trace, enough traces for three row groups.
        let traces = (ROW_GROUP_SPANS * 5 / 2 / 3) as u128;
        let mut builder = BlockBuilder::new().unwrap();
        for trace in 0..traces {
            for span in 1..=3u8 {
                builder.push(RawRow { trace_id: (trace * 7919).to_be_bytes(), ..row(span, span - 1, "a") }).unwrap();
            }
        }
        let (bytes, meta) = builder.finish("test".to_owned(), 0, 0).unwrap();
        assert_eq!(meta.row_groups.len(), 3);
        assert_eq!(meta.row_groups.iter().map(|group| group.spans).sum::<u64>(), traces as u64 * 3);
        for pair in meta.row_groups.windows(2) {
            assert!(pair[0].max_trace_id < pair[1].min_trace_id, "a trace split across row groups");
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let file_groups = reader.metadata().row_groups();
        assert_eq!(file_groups.len(), meta.row_groups.len());
        for (file_group, group) in file_groups.iter().zip(&meta.row_groups) {
            assert_eq!(file_group.num_rows() as u64, group.spans);
        }
    }

    #[test]
    fn meta_lists_calls_between_services_and_parents_it_lacks() {
        let meta = built_meta();
        let edges: Vec<_> = meta.edges.iter().map(|e| (e.parent.as_str(), e.child.as_str(), e.call_count)).collect();
        assert_eq!(edges, vec![("a", "b", 1)]);
        let parent = ParentRefMeta {
            trace_id: hex::encode([7; 16]),
            parent_span_id: "09".to_owned(),
            child: "c".to_owned(),
            minute: 3,
            call_count: 2,
        };
        assert_eq!(meta.unresolved_parents, vec![parent]);
    }

    #[test]
    fn format_1_metas_still_load_and_skip_calls_within_a_service() {
        let mut json = serde_json::to_value(built_meta()).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.remove("unresolved_parents");
        fields["format"] = 1.into();
        // Format 1 counted calls within one service.
        fields["edges"].as_array_mut().unwrap().push(serde_json::json!(
            {"parent": "b", "child": "b", "minute": 3, "call_count": 1}
        ));
        let meta: BlockMeta = serde_json::from_value(json).unwrap();
        let block = Block::new(meta).unwrap();
        let (mut counts, mut elsewhere) = (EdgeCounts::new(), Vec::new());
        block.dependencies(0, u64::MAX, &mut counts, &mut elsewhere);
        assert_eq!(counts, EdgeCounts::from([(("a".to_owned(), "b".to_owned()), 1)]));
        assert!(elsewhere.is_empty());
    }
}
