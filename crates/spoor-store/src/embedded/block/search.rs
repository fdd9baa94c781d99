//! Search within a block: typed columns first, then the candidates' attributes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, BinaryArray, DictionaryArray, FixedSizeBinaryArray, Int32Array, RecordBatch, StringArray, UInt64Array,
};
use futures::TryStreamExt;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use prost::Message;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans, Span};

use super::ROW_GROUP_SPANS;
use super::columns::{
    COL_DURATION, COL_KIND, COL_NAME, COL_RESOURCE, COL_SCOPE, COL_SERVICE_NAME, COL_SPAN, COL_START, COL_STATUS_CODE,
    COL_TRACE_ID, column,
};
use super::read::Block;
use crate::query::SpanFilter;
use crate::{StoreError, TraceId};

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

impl Block {
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
}
