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
//! | `http_request_method`, `http_response_status_code`, … | nullable | well-known attributes, typed (see `index::columns`) |
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

mod builder;
mod columns;
mod merge;
mod meta;
mod read;
mod search;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;

use object_store::path::Path;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
#[cfg(test)]
use prost::Message;
#[cfg(test)]
use spoor_pipeline::otlp::Status;

use super::index::attribute_fields;
#[cfg(test)]
use crate::model::SpanRecord;
use crate::{StoreError, TraceId};

pub(crate) use self::builder::{BuiltInMemory, Placing, build_in_memory};
pub(crate) use self::merge::merge_blocks;
pub(crate) use self::meta::{BlockMeta, MetaProblem};
pub(crate) use self::read::Block;
pub(crate) use self::search::kth_newest;

/// Rows per row group: small enough that a trace lookup decodes little, large enough that
/// dictionaries and zstd frames pay off.
const ROW_GROUP_SPANS: usize = 16 * 1024;
const PAGE_SPANS: usize = 1024;
const BLOOM_BITS_PER_TRACE: usize = 10;
const BLOOM_HASHES: u32 = 7;
/// Rows a row group holds at most: a bigger trace is split over several row groups.
const MAX_ROW_GROUP_SPANS: usize = ROW_GROUP_SPANS * 4;
/// 2 added `unresolved_parents` and stopped counting calls within one service in `edges`; 3
/// added `checksum` and `moved_spans`, and row groups that split a trace too big for one.
const META_FORMAT: u32 = 3;
const NANOS_PER_MINUTE: u64 = 60_000_000_000;

pub(crate) const BLOCKS_DIR: &str = "blocks";
pub(crate) const PARQUET_SUFFIX: &str = ".parquet";
pub(crate) const META_SUFFIX: &str = ".meta.json";

fn schema() -> SchemaRef {
    schema_with_service_as(DataType::Utf8)
}

/// The schema a search reads a file of schema `file` with: `service_name` as dictionary keys,
/// so that the first pass compares each distinct name once per batch instead of every row's
/// string. From the file's own schema, which blocks written before the attribute columns lack.
fn search_schema(file: &Schema) -> SchemaRef {
    let service_name = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let fields: Vec<Field> = file
        .fields()
        .iter()
        .map(|f| match f.name() == "service_name" {
            true => Field::new("service_name", service_name.clone(), false),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn schema_with_service_as(service_name: DataType) -> SchemaRef {
    // The typed columns of well-known attributes (see `index::columns`) come last.
    let mut fields = vec![
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
    ];
    fields.extend(attribute_fields());
    Arc::new(Schema::new(fields))
}

/// Columns whose statistics no reader uses (IDs and protobuf payloads): computing min and
/// max over them costs a cut more than their encoding.
const UNSTATISTICAL_COLUMNS: [&str; 6] = ["span_id", "parent_span_id", "status_message", "resource", "scope", "span"];

fn writer_properties() -> Result<WriterProperties, StoreError> {
    let plain_binary = |name: &str| ColumnPath::from(name);
    let mut builder = WriterProperties::builder();
    for column in UNSTATISTICAL_COLUMNS {
        builder = builder.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    Ok(builder
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_SPANS))
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
/// Different spans that share a span ID are kept, as Jaeger's stores keep them.
#[cfg(test)]
pub(crate) fn sort_and_dedupe(rows: &mut Vec<RawRow>) {
    rows.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    rows.dedup_by(|later, first| later.sort_key() == first.sort_key());
}

pub(crate) fn parquet_path(id: &str) -> Path {
    Path::from(format!("{BLOCKS_DIR}/{id}{PARQUET_SUFFIX}"))
}

pub(crate) fn meta_path(id: &str) -> Path {
    Path::from(format!("{BLOCKS_DIR}/{id}{META_SUFFIX}"))
}
