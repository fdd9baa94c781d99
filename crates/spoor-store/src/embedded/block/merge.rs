//! Merging blocks for compaction, streamed with bounded memory: each input is read a row
//! group at a time through the async reader, and the output is written a row group at a time
//! into an `object_store` upload (multipart once it outgrows a buffer), then its meta.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::async_reader::{ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder};
use parquet::arrow::{AsyncArrowWriter, ProjectionMask};

use super::builder::{BlockBuilder, Placing};
use super::columns::{Columns, span_leaves};
use super::meta::BlockMeta;
use super::read::{Block, BlockReader};
use super::{PAGE_SPANS, RawRow, parquet_path, schema, writer_properties};
use crate::StoreError;
use crate::embedded::index::search_path;

/// Rows of one block, in file order, a batch at a time.
struct RowCursor {
    batches: ParquetRecordBatchStream<BlockReader>,
    rows: std::vec::IntoIter<RawRow>,
}

impl RowCursor {
    async fn open(store: &Arc<dyn ObjectStore>, block: &Block) -> Result<Self, StoreError> {
        let metadata = block.reader_metadata(store).await?;
        // The typed attribute columns are built again from `span`.
        let mask = ProjectionMask::leaves(metadata.parquet_schema(), span_leaves());
        let batches = ParquetRecordBatchStreamBuilder::new_with_metadata(block.object_reader(store), metadata)
            .with_projection(mask)
            // Small batches: every input holds one decoded at a time.
            .with_batch_size(PAGE_SPANS)
            .build()?;
        Ok(Self { batches, rows: Vec::new().into_iter() })
    }

    async fn next_row(&mut self) -> Result<Option<RawRow>, StoreError> {
        loop {
            if let Some(row) = self.rows.next() {
                return Ok(Some(row));
            }
            let Some(batch) = self.batches.try_next().await? else {
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

/// Merges `inputs` (each sorted as [`super::sort_and_dedupe`] sorts) into a new block file
/// `id`, dropping exact copies of a span, and returns its meta (not yet stored). Spans keep the
/// placement the inputs gave them: starts are clamped into the inputs' time range. A failed
/// merge deletes what it wrote.
pub(crate) async fn merge_blocks<B: AsRef<Block>>(
    store: &Arc<dyn ObjectStore>,
    inputs: &[B],
    id: String,
    created_unix_nano: u64,
) -> Result<BlockMeta, StoreError> {
    let written = write_merged(store, inputs, id.clone(), created_unix_nano).await;
    if written.is_err()
        && let Err(err) = store.delete(&parquet_path(&id)).await
        && !matches!(err, object_store::Error::NotFound { .. })
    {
        tracing::warn!(block = %id, error = %err, "could not delete the output of a failed compaction");
    }
    written
}

async fn write_merged<B: AsRef<Block>>(
    store: &Arc<dyn ObjectStore>,
    inputs: &[B],
    id: String,
    created_unix_nano: u64,
) -> Result<BlockMeta, StoreError> {
    let min = inputs.iter().map(|b| b.as_ref().meta.min_time).min().unwrap_or(0);
    let max = inputs.iter().map(|b| b.as_ref().meta.max_time).max().unwrap_or(0);
    let wal_through = inputs.iter().map(|b| b.as_ref().meta.wal_through).max().unwrap_or(0);
    let mut builder = BlockBuilder::new(Placing::Clamp { min, max });
    let path = parquet_path(&id);
    let mut writer =
        AsyncArrowWriter::try_new(BufWriter::new(store.clone(), path.clone()), schema(), Some(writer_properties()?))?;
    let mut cursors = Vec::with_capacity(inputs.len());
    for block in inputs {
        let block = block.as_ref();
        cursors.push(RowCursor::open(store, block).await?);
    }
    let mut heap = BinaryHeap::new();
    for (input, cursor) in cursors.iter_mut().enumerate() {
        if let Some(row) = cursor.next_row().await? {
            heap.push(Reverse(HeapItem { row, input }));
        }
    }
    let mut last: Option<RawRow> = None;
    while let Some(Reverse(HeapItem { row, input })) = heap.pop() {
        if let Some(next) = cursors[input].next_row().await? {
            heap.push(Reverse(HeapItem { row: next, input }));
        }
        if last.as_ref().is_some_and(|last| last.sort_key() == row.sort_key()) {
            continue;
        }
        if let Some(previous) = last.replace(row) {
            write_row_group(&mut writer, builder.push(previous)?).await?;
        }
    }
    if let Some(previous) = last {
        write_row_group(&mut writer, builder.push(previous)?).await?;
    }
    write_row_group(&mut writer, builder.flush()?).await?;
    builder.check_written(writer.flushed_row_groups())?;
    writer.close().await?;
    let size = store.head(&path).await?.size;
    let (meta, search_index) = builder.finish(id.clone(), wal_through, created_unix_nano, size)?;
    store.put(&search_path(&id), PutPayload::from(search_index)).await?;
    Ok(meta)
}

/// Writes `group`, if any, as exactly one row group.
async fn write_row_group(
    writer: &mut AsyncArrowWriter<BufWriter>,
    group: Option<RecordBatch>,
) -> Result<(), StoreError> {
    if let Some(group) = group {
        writer.write(&group).await?;
        writer.flush().await?;
    }
    Ok(())
}
