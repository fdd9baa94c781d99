//! A stored block: pruning by its meta, and reads of a trace's rows.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, BinaryArray, FixedSizeBinaryArray, RecordBatch, StringArray};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::columns::{COL_SERVICE_NAME, COL_SPAN_ID, COL_TRACE_ID, Columns, column, span_leaves};
use super::meta::{BlockMeta, Bloom, ParentRefMeta};
use super::{NANOS_PER_MINUTE, ROW_GROUP_SPANS, parquet_path, search_schema};
use crate::embedded::dependencies::{EdgeCounts, ParentRef, count_calls};
use crate::embedded::index::SearchIndex;
use crate::model::{Interner, SpanRecord};
use crate::query::SpanFilter;
use crate::{Operation, StoreError, TraceId};

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
    /// The search index's directory, once read; `None` for blocks written without one.
    pub search_index: tokio::sync::OnceCell<Option<Arc<SearchIndex>>>,
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
            search_index: tokio::sync::OnceCell::new(),
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

    pub(super) fn object_reader(&self, store: &Arc<dyn ObjectStore>) -> BlockReader {
        BlockReader { store: store.clone(), path: self.parquet_path(), size: self.meta.size_bytes }
    }

    pub(crate) async fn reader_metadata(
        &self,
        store: &Arc<dyn ObjectStore>,
    ) -> Result<ArrowReaderMetadata, StoreError> {
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
    pub(super) async fn search_metadata(
        &self,
        store: &Arc<dyn ObjectStore>,
    ) -> Result<ArrowReaderMetadata, StoreError> {
        if let Some(metadata) = self.search_metadata.get() {
            return Ok(metadata.clone());
        }
        let plain = self.reader_metadata(store).await?;
        let options = ArrowReaderOptions::new().with_schema(search_schema(plain.schema()));
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
        let mut interner = Interner::default();
        let mut records = Vec::new();
        for batch in self.trace_rows(store, row_groups, trace_id, span_leaves()).await? {
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
        let leaves = [COL_TRACE_ID, COL_SPAN_ID, COL_SERVICE_NAME];
        let batches = self.trace_rows(store, self.row_groups_of(trace_id), trace_id, leaves).await?;
        let mut services = HashMap::new();
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

    /// The rows of `trace_id` in `row_groups` (and some rows around them), with the columns
    /// `leaves`: first only the trace ID column, to find the trace's rows; then the columns of
    /// just those rows, so that the page index lets the reader skip most pages.
    async fn trace_rows(
        &self,
        store: &Arc<dyn ObjectStore>,
        row_groups: Vec<usize>,
        trace_id: &TraceId,
        leaves: impl IntoIterator<Item = usize>,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let (row_groups, selection) = self.select_trace_rows(store, row_groups, trace_id).await?;
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let metadata = self.reader_metadata(store).await?;
        let mask = ProjectionMask::leaves(metadata.parquet_schema(), leaves);
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.object_reader(store), metadata)
            .with_row_groups(row_groups)
            .with_row_selection(selection)
            .with_projection(mask)
            .with_batch_size(ROW_GROUP_SPANS)
            .build()?;
        Ok(stream.try_collect().await?)
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
pub(crate) struct BlockReader {
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
