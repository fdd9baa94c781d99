//! Builds a block from rows sorted by trace ID: gathers the meta and cuts the rows into row
//! groups, which the caller writes (in memory for a cut, streamed for compaction).
//!
//! Each batch [`BlockBuilder::push`] hands out must be written as exactly one row group, so
//! that the meta's row-group entries are the file's. A row group holds whole traces, except a
//! trace of more than [`MAX_ROW_GROUP_SPANS`] spans: it is split over several row groups,
//! whose trace-ID ranges then share its ID (reads select row groups by inclusive range).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, FixedSizeBinaryBuilder, Int32Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::RowGroupMetaData;

use super::meta::{BlockMeta, Bloom, EdgeMeta, OperationMeta, ParentRefMeta, RowGroupMeta};
use super::{MAX_ROW_GROUP_SPANS, META_FORMAT, NANOS_PER_MINUTE, ROW_GROUP_SPANS, RawRow, schema, writer_properties};
use crate::embedded::placement::Placement;
use crate::query::kind_name;
use crate::{StoreError, TraceId};

/// Which time a span is placed at in the block's and row groups' time ranges (see
/// `placement`). The span's own start is stored unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placing {
    /// A cut: starts outside the window are placed at the cut's time.
    Window(Placement),
    /// Compaction: starts are clamped into the inputs' time range, so that a span the cut
    /// placed stays where it was placed.
    Clamp { min: u64, max: u64 },
}

impl Placing {
    /// The time `start` is placed at, and whether it was moved.
    fn place(&self, start: u64) -> (u64, bool) {
        match *self {
            Self::Window(placement) => placement.place(start),
            Self::Clamp { min, max } => {
                let placed = start.clamp(min, max.max(min));
                (placed, placed != start)
            }
        }
    }
}

/// A span of the trace being added, for counting its calls once the trace is complete.
struct CallSpan {
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    service: String,
    minute: u64,
}

/// Gathers a block's meta from rows sorted by trace ID and cuts them into row groups.
pub(crate) struct BlockBuilder {
    placing: Placing,
    pending: Vec<RawRow>,
    /// Placed start times of `pending`, in the same order.
    pending_placed: Vec<u64>,
    trace_ids: Vec<TraceId>,
    /// The spans of the last trace pushed, whose calls are counted when the next one starts.
    current_trace: Vec<CallSpan>,
    min_time: u64,
    max_time: u64,
    span_count: u64,
    moved_spans: u64,
    services: BTreeMap<String, BTreeSet<(String, String)>>,
    row_groups: Vec<RowGroupMeta>,
    edges: HashMap<(String, String, u64), u64>,
    /// Calls whose parent span is not in the block, by (trace, parent span, child service, minute).
    unresolved_parents: HashMap<(TraceId, Vec<u8>, String, u64), u64>,
}

impl BlockBuilder {
    pub fn new(placing: Placing) -> Self {
        Self {
            placing,
            pending: Vec::new(),
            pending_placed: Vec::new(),
            trace_ids: Vec::new(),
            current_trace: Vec::new(),
            min_time: u64::MAX,
            max_time: 0,
            span_count: 0,
            moved_spans: 0,
            services: BTreeMap::new(),
            row_groups: Vec::new(),
            edges: HashMap::new(),
            unresolved_parents: HashMap::new(),
        }
    }

    /// Adds a row; rows must come ordered by trace ID. Returns a row group to write when one
    /// is full.
    pub fn push(&mut self, row: RawRow) -> Result<Option<RecordBatch>, StoreError> {
        let new_trace = self.trace_ids.last() != Some(&row.trace_id);
        let full = if new_trace {
            self.count_trace_calls();
            self.trace_ids.push(row.trace_id);
            self.pending.len() >= ROW_GROUP_SPANS
        } else {
            // A trace too big for one row group continues in the next.
            self.pending.len() >= MAX_ROW_GROUP_SPANS
        };
        let group = if full { self.take_row_group()? } else { None };
        let (placed, moved) = self.placing.place(row.start);
        self.moved_spans += u64::from(moved);
        self.min_time = self.min_time.min(placed);
        self.max_time = self.max_time.max(placed);
        self.span_count += 1;
        if !row.service_name.is_empty() {
            let operations = self.services.entry(row.service_name.clone()).or_default();
            if !operations.iter().any(|(name, kind)| *name == row.name && kind == kind_name(row.kind)) {
                operations.insert((row.name.clone(), kind_name(row.kind).to_owned()));
            }
        }
        self.current_trace.push(CallSpan {
            span_id: row.span_id.clone(),
            parent_span_id: row.parent_span_id.clone(),
            service: row.service_name.clone(),
            minute: row.start / NANOS_PER_MINUTE,
        });
        self.pending.push(row);
        self.pending_placed.push(placed);
        Ok(group)
    }

    /// Counts the calls of the trace just completed: between services where the parent span
    /// is in the block, and per parent span where it is not.
    fn count_trace_calls(&mut self) {
        let spans = std::mem::take(&mut self.current_trace);
        let Some(&trace) = self.trace_ids.last() else {
            return;
        };
        let service_of: HashMap<&[u8], &str> =
            spans.iter().map(|s| (s.span_id.as_slice(), s.service.as_str())).collect();
        for span in spans.iter().filter(|s| !s.parent_span_id.is_empty()) {
            match service_of.get(span.parent_span_id.as_slice()) {
                Some(parent) if *parent == span.service => {}
                Some(parent) => {
                    let key = ((*parent).to_owned(), span.service.clone(), span.minute);
                    *self.edges.entry(key).or_default() += 1;
                }
                None => {
                    let key = (trace, span.parent_span_id.clone(), span.service.clone(), span.minute);
                    *self.unresolved_parents.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// The pending rows as one row group, recorded in the meta.
    fn take_row_group(&mut self) -> Result<Option<RecordBatch>, StoreError> {
        let rows = std::mem::take(&mut self.pending);
        let placed = std::mem::take(&mut self.pending_placed);
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(None);
        };
        self.row_groups.push(RowGroupMeta {
            min_trace_id: hex::encode(first.trace_id),
            max_trace_id: hex::encode(last.trace_id),
            spans: rows.len() as u64,
            min_time: placed.iter().copied().min().unwrap_or(0),
            max_time: placed.iter().copied().max().unwrap_or(0),
        });
        to_record_batch(&rows).map(Some)
    }

    /// The last row group, once every row is pushed.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, StoreError> {
        self.count_trace_calls();
        self.take_row_group()
    }

    /// Checks that the writer wrote exactly the row groups the meta lists.
    pub fn check_written(&self, written: &[RowGroupMetaData]) -> Result<(), StoreError> {
        super::meta::check_row_groups(&self.row_groups, written.iter().map(RowGroupMetaData::num_rows))
            .map_err(|problem| StoreError::Other(format!("block writer: {problem}")))
    }

    /// The block's meta, once [`flush`](Self::flush) returned the last row group and the
    /// file (of `size_bytes`) is written.
    pub fn finish(self, id: String, wal_through: u64, created_unix_nano: u64, size_bytes: u64) -> BlockMeta {
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
        let mut meta = BlockMeta {
            format: META_FORMAT,
            id,
            min_time: if self.span_count == 0 { 0 } else { self.min_time },
            max_time: self.max_time,
            span_count: self.span_count,
            trace_count: self.trace_ids.len() as u64,
            size_bytes,
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
            moved_spans: self.moved_spans,
            checksum: None,
        };
        meta.seal();
        meta
    }
}

/// Builds a whole block in memory (a cut): the Parquet bytes and the meta.
pub(crate) fn build_in_memory(
    rows: impl IntoIterator<Item = RawRow>,
    placing: Placing,
    id: String,
    wal_through: u64,
    created_unix_nano: u64,
) -> Result<(Vec<u8>, BlockMeta), StoreError> {
    let mut writer = ArrowWriter::try_new(Vec::new(), schema(), Some(writer_properties()?))?;
    let mut builder = BlockBuilder::new(placing);
    let mut write = |group: Option<RecordBatch>| -> Result<(), StoreError> {
        if let Some(group) = group {
            writer.write(&group)?;
            writer.flush()?;
        }
        Ok(())
    };
    for row in rows {
        write(builder.push(row)?)?;
    }
    write(builder.flush()?)?;
    builder.check_written(writer.flushed_row_groups())?;
    let bytes = writer.into_inner()?;
    let size = bytes.len() as u64;
    Ok((bytes, builder.finish(id, wal_through, created_unix_nano, size)))
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
