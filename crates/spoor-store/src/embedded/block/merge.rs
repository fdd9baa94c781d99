//! Merging block files for compaction.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bytes::Bytes;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::builder::*;
use super::columns::Columns;
use super::{ROW_GROUP_SPANS, RawRow};
use crate::StoreError;

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
