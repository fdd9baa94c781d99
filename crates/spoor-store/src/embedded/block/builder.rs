//! Builds a block from rows sorted by trace ID.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, FixedSizeBinaryBuilder, Int32Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};

use parquet::arrow::ArrowWriter;

use super::meta::*;
use super::{META_FORMAT, NANOS_PER_MINUTE, ROW_GROUP_SPANS, RawRow, schema, writer_properties};
use crate::query::kind_name;
use crate::{StoreError, TraceId};

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
