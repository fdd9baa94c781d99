//! The typed columns of record batches read from blocks.

use arrow_array::{Array, BinaryArray, FixedSizeBinaryArray, Int32Array, RecordBatch, StringArray, UInt64Array};
use bytes::Bytes;

use prost::Message;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans, Span, Status};

use super::RawRow;
use crate::model::{Interner, ResourcePart, ScopePart, SpanRecord};
use crate::{StoreError, TraceId};

/// The typed columns of a record batch read from a block.
pub(super) struct Columns<'a> {
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

pub(super) fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StoreError::Other(format!("block column {name} is missing or has the wrong type")))
}

impl<'a> Columns<'a> {
    pub(super) fn new(batch: &'a RecordBatch) -> Result<Self, StoreError> {
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

    pub(super) fn len(&self) -> usize {
        self.trace_id.len()
    }

    pub(super) fn trace_id(&self, row: usize) -> TraceId {
        let mut id = [0u8; 16];
        let value = self.trace_id.value(row);
        if value.len() == 16 {
            id.copy_from_slice(value);
        }
        id
    }

    pub(super) fn raw_row(&self, row: usize) -> RawRow {
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
    pub(super) fn record(&self, row: usize, interner: &mut Interner) -> Result<SpanRecord, StoreError> {
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
pub(super) const COL_TRACE_ID: usize = 0;
pub(super) const COL_SPAN_ID: usize = 1;
pub(super) const COL_SERVICE_NAME: usize = 3;
pub(super) const COL_NAME: usize = 4;
pub(super) const COL_KIND: usize = 5;
pub(super) const COL_STATUS_CODE: usize = 6;
pub(super) const COL_START: usize = 8;
pub(super) const COL_DURATION: usize = 9;
pub(super) const COL_RESOURCE: usize = 10;
pub(super) const COL_SCOPE: usize = 11;
pub(super) const COL_SPAN: usize = 12;

/// The leaves a span is read back from: every column up to `span`. The typed attribute
/// columns after it repeat what `span` holds, and each column read costs a decompressor, so
/// reads of whole spans leave them out.
pub(super) fn span_leaves() -> std::ops::RangeInclusive<usize> {
    COL_TRACE_ID..=COL_SPAN
}
