//! A frozen head as block rows, built from the received bytes: each row's `span` is the
//! span's encoding without the fields the typed columns hold, and `resource` and `scope` are
//! the `ResourceSpans` and `ScopeSpans` encodings without their nested scopes and spans,
//! copied field by field (no decode, no re-encode). For bytes as prost encodes them these are
//! the bytes the decoded path produced (`RawRow::from_record`); for any others they decode to
//! the same messages, so old and new blocks read the same way.
//!
//! Rows are built on two threads, each sorting its half, and the halves merged.

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

/// Threads a cut builds rows on.
const ROW_THREADS: usize = 2;
/// Below this many spans, one thread builds the rows.
const PARALLEL_MIN_SPANS: usize = 4096;

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
    /// The head's spans as block rows, sorted and without exact copies.
    pub fn rows(&self) -> Vec<RawRow> {
        let entries = &self.spans[..];
        if entries.len() < PARALLEL_MIN_SPANS {
            return self.sorted_rows(entries);
        }
        let chunk = entries.len().div_ceil(ROW_THREADS);
        let halves: Vec<Vec<RawRow>> = std::thread::scope(|scope| {
            let workers: Vec<_> =
                entries.chunks(chunk).map(|part| scope.spawn(move || self.sorted_rows(part))).collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker.join().unwrap_or_else(|_| {
                        tracing::error!("building block rows panicked");
                        Vec::new()
                    })
                })
                .collect()
        });
        halves.into_iter().reduce(merge_sorted).unwrap_or_default()
    }

    /// Rows of `entries`, ordered and without exact copies as `block::sort_and_dedupe` leaves
    /// them; sorted by index, so that each row (a few hundred bytes) moves once.
    fn sorted_rows(&self, entries: &[SpanEntry]) -> Vec<RawRow> {
        let mut builder = RowBuilder { head: self, resource: None, scope: None };
        let rows: Vec<RawRow> = entries.iter().filter_map(|entry| builder.row(entry)).collect();
        // Trace ID and the span ID's first 8 bytes (zero-padded, which orders as the whole ID
        // does wherever they differ) decide almost every comparison; the full key breaks ties.
        let mut order: Vec<(TraceId, [u8; 8], usize)> =
            rows.iter().enumerate().map(|(i, row)| (row.trace_id, id_prefix(&row.span_id), i)).collect();
        order.sort_unstable_by(|a, b| {
            (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| rows[a.2].sort_key().cmp(&rows[b.2].sort_key()))
        });
        order.dedup_by(|later, first| rows[later.2].sort_key() == rows[first.2].sort_key());
        let mut slots: Vec<Option<RawRow>> = rows.into_iter().map(Some).collect();
        order.into_iter().filter_map(|(_, _, i)| slots.get_mut(i).and_then(Option::take)).collect()
    }
}

/// The first 8 bytes of an ID, zero-padded.
fn id_prefix(id: &[u8]) -> [u8; 8] {
    let mut prefix = [0u8; 8];
    let len = id.len().min(8);
    prefix[..len].copy_from_slice(&id[..len]);
    prefix
}

/// Two sorted, deduplicated row lists as one.
fn merge_sorted(a: Vec<RawRow>, b: Vec<RawRow>) -> Vec<RawRow> {
    let mut out: Vec<RawRow> = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => {
                if x.sort_key() <= y.sort_key() {
                    a.next()
                } else {
                    b.next()
                }
            }
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        let Some(row) = next else {
            return out;
        };
        if out.last().is_none_or(|last| last.sort_key() != row.sort_key()) {
            out.push(row);
        }
    }
}

/// Builds rows, stripping each resource and scope once: a head's entries come resource by
/// resource and scope by scope, so the last of each is all it keeps.
struct RowBuilder<'a> {
    head: &'a Head,
    resource: Option<(u32, Bytes)>,
    scope: Option<((u32, u32), Bytes)>,
}

impl RowBuilder<'_> {
    fn row(&mut self, entry: &SpanEntry) -> Option<RawRow> {
        let head = self.head;
        let stripped = |bytes: &[u8], field: u32| match without_field(bytes, field) {
            Ok(stripped) => Some(Bytes::from(stripped)),
            Err(err) => {
                tracing::error!(error = %err, "a resource or scope in the head did not parse; span left out of the block");
                None
            }
        };
        let resource = match &self.resource {
            Some((chunk, resource)) if *chunk == entry.chunk => resource.clone(),
            _ => {
                let resource = stripped(head.chunk(entry), SCOPE_SPANS_FIELD)?;
                self.resource = Some((entry.chunk, resource.clone()));
                resource
            }
        };
        let key = (entry.chunk, entry.scope.start);
        let scope = match &self.scope {
            Some((at, scope)) if *at == key => scope.clone(),
            _ => {
                let scope = stripped(head.bytes_of(entry, entry.scope), SPANS_FIELD)?;
                self.scope = Some((key, scope.clone()));
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
