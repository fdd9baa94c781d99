//! A frozen head as block rows, built from the received bytes: each row's `span` is the
//! span's encoding without the fields the typed columns hold, and `resource` and `scope` are
//! the `ResourceSpans` and `ScopeSpans` encodings without their nested scopes and spans,
//! copied field by field (no decode, no re-encode). For bytes as prost encodes them these are
//! the bytes the decoded path produced (`RawRow::from_record`); for any others they decode to
//! the same messages, so old and new blocks read the same way.
//!
//! The head's spans are put in block order by their IDs first; rows are then built one by one
//! as the block builder takes them.

use std::collections::HashMap;

use bytes::Bytes;
use spoor_pipeline::wire::{self, FieldValue, WireError};

use super::{Head, SpanEntry};
use crate::TraceId;
use crate::embedded::block::RawRow;

/// `ResourceSpans.scope_spans`.
pub(super) const SCOPE_SPANS_FIELD: u32 = 2;
/// `ScopeSpans.spans`.
pub(super) const SPANS_FIELD: u32 = 2;
/// `Span` fields that have columns of their own: trace ID, span ID, parent span ID, name,
/// kind, start and end. The status (15) is replaced by an empty one.
const SPAN_COLUMN_FIELDS: [u32; 7] = [1, 2, 4, 5, 6, 7, 8];
const SPAN_STATUS_FIELD: u32 = 15;
/// `Status.message`.
const STATUS_MESSAGE_FIELD: u32 = 2;
/// The key of `Span.status` with an empty message: marks that the span had a status, as
/// `RawRow::from_record` keeps `Some(Status::default())`.
const EMPTY_STATUS: [u8; 2] = [(SPAN_STATUS_FIELD << 3 | 2) as u8, 0];

/// `message` without its fields numbered `number`, the others copied as they are.
pub(super) fn without_field(message: &[u8], number: u32) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(message.len());
    for field in wire::fields(message) {
        let field = field?;
        if field.number != number {
            out.extend_from_slice(&message[field.raw]);
        }
    }
    Ok(out)
}

/// The `span` column of a span (see the module docs), and its status message.
fn span_rest(span: &[u8], out: &mut Vec<u8>) -> Result<String, WireError> {
    let mut status_message: &[u8] = &[];
    let mut has_status = false;
    for field in wire::fields(span) {
        let field = field?;
        if SPAN_COLUMN_FIELDS.contains(&field.number) {
            continue;
        }
        if field.number != SPAN_STATUS_FIELD {
            out.extend_from_slice(&span[field.raw]);
            continue;
        }
        if let FieldValue::Len(status) = field.value {
            // Occurrences of a message field merge: the last message wins.
            for inner in wire::fields(status) {
                let inner = inner?;
                if let (STATUS_MESSAGE_FIELD, FieldValue::Len(message)) = (inner.number, inner.value) {
                    status_message = message;
                }
            }
        }
        if !has_status {
            out.extend_from_slice(&EMPTY_STATUS);
            has_status = true;
        }
    }
    String::from_utf8(status_message.to_vec()).map_err(|_| WireError::InvalidString)
}

impl Head {
    /// The head's spans as block rows, sorted and without exact copies, as
    /// `block::sort_and_dedupe` leaves them. Only the order is computed up front; each row is
    /// built when the block builder takes it, so a cut holds the rows of one row group, not a
    /// copy of the whole head.
    #[cfg(test)]
    pub fn rows(&self) -> impl Iterator<Item = RawRow> + '_ {
        self.rows_of(self.block_order())
    }

    /// The head's spans in block order (by trace ID, then span ID, then the whole row), exact
    /// copies left out, as span numbers for [`Head::rows_of`].
    pub fn block_order(&self) -> Vec<u32> {
        let mut builder = RowBuilder::new(self);
        // Trace ID and the span ID's first 8 bytes (zero-padded, which orders as the whole ID
        // does wherever they differ) decide almost every comparison; the full row breaks ties.
        let mut order: Vec<(TraceId, [u8; 8], u32)> = self
            .spans
            .iter()
            .enumerate()
            .map(|(i, entry)| (entry.trace_id, id_prefix(self.bytes_of(entry, entry.span_id)), i as u32))
            .collect();
        order.sort_unstable_by(|a, b| {
            (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| {
                let (x, y) = (builder.row_at(a.2), builder.row_at(b.2));
                x.as_ref().map(RawRow::sort_key).cmp(&y.as_ref().map(RawRow::sort_key))
            })
        });
        // Exact copies are next to each other, and share the prefix.
        order.dedup_by(|later, first| {
            (later.0, later.1) == (first.0, first.1) && {
                let (x, y) = (builder.row_at(later.2), builder.row_at(first.2));
                x.as_ref().map(RawRow::sort_key) == y.as_ref().map(RawRow::sort_key)
            }
        });
        order.into_iter().map(|(_, _, i)| i).collect()
    }

    /// Splits a block order into at most `parts` runs of about equal length, each of whole
    /// traces, so that each can be built into a block of its own.
    pub fn split_by_trace(&self, mut order: Vec<u32>, parts: usize) -> Vec<Vec<u32>> {
        let mut runs = Vec::with_capacity(parts);
        for left in (2..=parts).rev() {
            let mut at = order.len() / left;
            let trace = |i: usize| self.spans[order[i] as usize].trace_id;
            while at > 0 && at < order.len() && trace(at) == trace(at - 1) {
                at += 1;
            }
            if at == 0 || at >= order.len() {
                continue;
            }
            let rest = order.split_off(at);
            runs.push(std::mem::replace(&mut order, rest));
        }
        runs.push(order);
        runs
    }

    /// The rows of the head's spans numbered `order`, built one by one as they are taken.
    pub fn rows_of(&self, order: Vec<u32>) -> impl Iterator<Item = RawRow> + '_ {
        let mut builder = RowBuilder::new(self);
        order.into_iter().filter_map(move |i| builder.row_at(i))
    }
}

/// The first 8 bytes of an ID, zero-padded.
fn id_prefix(id: &[u8]) -> [u8; 8] {
    let mut prefix = [0u8; 8];
    let len = id.len().min(8);
    prefix[..len].copy_from_slice(&id[..len]);
    prefix
}

/// Builds rows, stripping each resource and scope once: rows are built in trace order, and
/// share the stripped encodings of their resource and scope.
struct RowBuilder<'a> {
    head: &'a Head,
    resources: HashMap<u32, Bytes, FastHasher>,
    scopes: HashMap<(u32, u32), Bytes, FastHasher>,
}

type FastHasher = foldhash::fast::RandomState;

impl<'a> RowBuilder<'a> {
    fn new(head: &'a Head) -> Self {
        Self { head, resources: HashMap::default(), scopes: HashMap::default() }
    }

    /// The row of the head's span number `i`; `None` (logged) when its bytes do not parse.
    fn row_at(&mut self, i: u32) -> Option<RawRow> {
        let head = self.head;
        self.row(&head.spans[i as usize])
    }

    fn row(&mut self, entry: &SpanEntry) -> Option<RawRow> {
        let head = self.head;
        let stripped = |bytes: &[u8], field: u32| match without_field(bytes, field) {
            Ok(stripped) => Some(Bytes::from(stripped)),
            Err(err) => {
                tracing::error!(error = %err, "a resource or scope in the head did not parse; span left out of the block");
                None
            }
        };
        let resource = match self.resources.get(&entry.chunk) {
            Some(resource) => resource.clone(),
            None => {
                let resource = stripped(head.chunk(entry), SCOPE_SPANS_FIELD)?;
                self.resources.insert(entry.chunk, resource.clone());
                resource
            }
        };
        let key = (entry.chunk, entry.scope.start);
        let scope = match self.scopes.get(&key) {
            Some(scope) => scope.clone(),
            None => {
                let scope = stripped(head.bytes_of(entry, entry.scope), SPANS_FIELD)?;
                self.scopes.insert(key, scope.clone());
                scope
            }
        };
        let encoded = head.bytes_of(entry, entry.span);
        let mut span = Vec::with_capacity(encoded.len());
        let status_message = span_rest(encoded, &mut span)
            .inspect_err(|err| tracing::error!(error = %err, "a span in the head did not parse; left out of the block"))
            .ok()?;
        Some(RawRow {
            trace_id: entry.trace_id,
            span_id: head.bytes_of(entry, entry.span_id).to_vec(),
            parent_span_id: head.bytes_of(entry, entry.parent_span_id).to_vec(),
            service_name: head.services.get(entry.service).to_owned(),
            name: head.names.get(entry.name).to_owned(),
            kind: entry.kind,
            status_code: entry.status_code,
            status_message,
            start: entry.start,
            duration: entry.end.wrapping_sub(entry.start),
            resource,
            scope,
            span,
        })
    }
}
