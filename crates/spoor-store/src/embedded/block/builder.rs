//! Builds a block from rows sorted by trace ID: gathers the meta and cuts the rows into row
//! groups, which the caller writes (in memory for a cut, streamed for compaction).
//!
//! Each batch [`BlockBuilder::push`] hands out must be written as exactly one row group, so
//! that the meta's row-group entries are the file's. A row group holds whole traces, except a
//! trace of more than [`MAX_ROW_GROUP_SPANS`] spans: it is split over several row groups,
//! whose trace-ID ranges then share its ID (reads select row groups by inclusive range).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, FixedSizeBinaryBuilder, Int32Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::RowGroupMetaData;

use super::meta::{BlockMeta, Bloom, EdgeMeta, OperationMeta, ParentRefMeta, RowGroupMeta};
use super::{MAX_ROW_GROUP_SPANS, META_FORMAT, NANOS_PER_MINUTE, ROW_GROUP_SPANS, RawRow, schema, writer_properties};
use crate::embedded::index::{SearchIndexBuilder, TypedColumns};
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

type FastHasher = foldhash::fast::RandomState;

/// A span ID as a key of fixed size. OTLP's span IDs are 8 bytes; a longer one (invalid) is
/// cut to 16 bytes here, which can at worst join two such spans' calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SpanKey {
    len: u8,
    bytes: [u8; 16],
}

impl SpanKey {
    fn new(id: &[u8]) -> Self {
        let len = id.len().min(16);
        let mut bytes = [0; 16];
        bytes[..len].copy_from_slice(&id[..len]);
        Self { len: len as u8, bytes }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A span of the trace being added, for counting its calls once the trace is complete.
struct CallSpan {
    span_id: SpanKey,
    parent_span_id: SpanKey,
    service: u32,
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
    /// (service, span name, kind) of every span with a service, as the search index numbers
    /// services and names.
    operations: HashSet<(u32, u32, i32), FastHasher>,
    row_groups: Vec<RowGroupMeta>,
    /// Calls between services (by number) per minute.
    edges: HashMap<(u32, u32, u64), u64, FastHasher>,
    /// Calls whose parent span is not in the block, by (trace, parent span, child service, minute).
    unresolved_parents: HashMap<(TraceId, SpanKey, u32, u64), u64, FastHasher>,
    /// The services of the current trace's spans, by span ID (kept to reuse its memory).
    service_of: HashMap<SpanKey, u32, FastHasher>,
    /// The block's search index (see `index`).
    search: SearchIndexBuilder,
    /// The typed attribute columns of `pending`.
    typed: TypedColumns,
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
            operations: HashSet::default(),
            row_groups: Vec::new(),
            edges: HashMap::default(),
            unresolved_parents: HashMap::default(),
            service_of: HashMap::default(),
            search: SearchIndexBuilder::default(),
            typed: TypedColumns::default(),
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
        let trace = u32::try_from(self.trace_ids.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let interned = self.search.push(&row, trace, &mut self.typed)?;
        let (placed, moved) = self.placing.place(row.start);
        self.moved_spans += u64::from(moved);
        self.min_time = self.min_time.min(placed);
        self.max_time = self.max_time.max(placed);
        self.span_count += 1;
        if !row.service_name.is_empty() {
            self.operations.insert((interned.service, interned.name, row.kind));
        }
        self.current_trace.push(CallSpan {
            span_id: SpanKey::new(&row.span_id),
            parent_span_id: SpanKey::new(&row.parent_span_id),
            service: interned.service,
            minute: row.start / NANOS_PER_MINUTE,
        });
        self.pending.push(row);
        self.pending_placed.push(placed);
        Ok(group)
    }

    /// Counts the calls of the trace just completed: between services where the parent span
    /// is in the block, and per parent span where it is not.
    fn count_trace_calls(&mut self) {
        let Some(&trace) = self.trace_ids.last() else {
            return;
        };
        self.service_of.clear();
        // The last of repeated span IDs wins, as collecting into a map kept it.
        self.service_of.extend(self.current_trace.iter().map(|s| (s.span_id, s.service)));
        for span in self.current_trace.iter().filter(|s| s.parent_span_id.len > 0) {
            match self.service_of.get(&span.parent_span_id) {
                Some(&parent) if parent == span.service => {}
                Some(&parent) => *self.edges.entry((parent, span.service, span.minute)).or_default() += 1,
                None => {
                    let key = (trace, span.parent_span_id, span.service, span.minute);
                    *self.unresolved_parents.entry(key).or_default() += 1;
                }
            }
        }
        self.current_trace.clear();
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
        to_record_batch(&rows, self.typed.finish()).map(Some)
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

    /// The block's meta and its search index file, once [`flush`](Self::flush) returned the
    /// last row group and the file (of `size_bytes`) is written.
    pub fn finish(
        mut self,
        id: String,
        wal_through: u64,
        created_unix_nano: u64,
        size_bytes: u64,
    ) -> Result<(BlockMeta, Vec<u8>), StoreError> {
        let (services, edges, unresolved_parents) = self.named();
        let search_index = std::mem::take(&mut self.search).finish(&self.trace_ids)?;
        let mut bloom = Bloom::with_capacity(self.trace_ids.len());
        for id in &self.trace_ids {
            bloom.insert(id);
        }
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
            services,
            bloom: bloom.to_meta(),
            row_groups: self.row_groups,
            edges,
            unresolved_parents,
            moved_spans: self.moved_spans,
            checksum: None,
        };
        meta.seal();
        Ok((meta, search_index))
    }
}

impl BlockBuilder {
    /// The services with their operations, the calls between services and the calls to parents
    /// outside the block, by name, ordered for the meta.
    fn named(&self) -> (BTreeMap<String, Vec<OperationMeta>>, Vec<EdgeMeta>, Vec<ParentRefMeta>) {
        let (service_names, span_names) = self.search.names();
        let service = |id: u32| service_names.name(id).to_owned();
        let mut services: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
        for &(id, name, kind) in &self.operations {
            let operation = (span_names.name(name).to_owned(), kind_name(kind).to_owned());
            services.entry(service(id)).or_default().insert(operation);
        }
        let services = services
            .into_iter()
            .map(|(service, ops)| {
                let ops = ops.into_iter().map(|(name, span_kind)| OperationMeta { name, span_kind }).collect();
                (service, ops)
            })
            .collect();
        let mut edges: Vec<EdgeMeta> = self
            .edges
            .iter()
            .map(|(&(parent, child, minute), &call_count)| EdgeMeta {
                parent: service(parent),
                child: service(child),
                minute,
                call_count,
            })
            .collect();
        edges.sort_by(|a, b| (a.minute, &a.parent, &a.child).cmp(&(b.minute, &b.parent, &b.child)));
        let mut unresolved: Vec<_> = self
            .unresolved_parents
            .iter()
            .map(|(&(trace, parent, child, minute), &count)| {
                (trace, parent.as_slice().to_vec(), service(child), minute, count)
            })
            .collect();
        unresolved.sort_unstable();
        let unresolved = unresolved
            .into_iter()
            .map(|(trace_id, parent_span_id, child, minute, call_count)| ParentRefMeta {
                trace_id: hex::encode(trace_id),
                parent_span_id: hex::encode(parent_span_id),
                child,
                minute,
                call_count,
            })
            .collect();
        (services, edges, unresolved)
    }
}

/// A block built in memory by a cut: the Parquet bytes, the meta and the search index.
pub(crate) struct BuiltInMemory {
    pub parquet: Vec<u8>,
    pub meta: BlockMeta,
    pub search_index: Vec<u8>,
}

/// Builds a whole block in memory (a cut).
pub(crate) fn build_in_memory(
    rows: impl IntoIterator<Item = RawRow>,
    placing: Placing,
    id: String,
    wal_through: u64,
    created_unix_nano: u64,
) -> Result<BuiltInMemory, StoreError> {
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
    let (meta, search_index) = builder.finish(id, wal_through, created_unix_nano, size)?;
    Ok(BuiltInMemory { parquet: bytes, meta, search_index })
}

/// The row group of `rows`, whose typed attribute columns are `typed`.
fn to_record_batch(rows: &[RawRow], typed: Vec<ArrayRef>) -> Result<RecordBatch, StoreError> {
    let n = rows.len();
    // Sized up front: growing the bigger columns copies them again and again.
    let bytes = |field: fn(&RawRow) -> usize| rows.iter().map(field).sum::<usize>();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = BinaryBuilder::with_capacity(n, bytes(|r| r.span_id.len()));
    let mut parent = BinaryBuilder::with_capacity(n, bytes(|r| r.parent_span_id.len()));
    let mut service = StringBuilder::with_capacity(n, bytes(|r| r.service_name.len()));
    let mut name = StringBuilder::with_capacity(n, bytes(|r| r.name.len()));
    let mut kind = Int32Builder::with_capacity(n);
    let mut status_code = Int32Builder::with_capacity(n);
    let mut status_message = StringBuilder::with_capacity(n, bytes(|r| r.status_message.len()));
    let mut start = UInt64Builder::with_capacity(n);
    let mut duration = UInt64Builder::with_capacity(n);
    let mut resource = BinaryBuilder::with_capacity(n, bytes(|r| r.resource.len()));
    let mut scope = BinaryBuilder::with_capacity(n, bytes(|r| r.scope.len()));
    let mut span = BinaryBuilder::with_capacity(n, bytes(|r| r.span.len()));
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
    let mut columns: Vec<ArrayRef> = vec![
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
    columns.extend(typed);
    Ok(RecordBatch::try_new(schema(), columns)?)
}
