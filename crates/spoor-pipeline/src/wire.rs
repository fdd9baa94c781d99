//! A validating walker over an encoded OTLP `ExportTraceServiceRequest`.
//!
//! Decoding a request into owned prost types is most of what an OTLP pass-through costs (one
//! allocation per string, ID and attribute, and as many frees later). [`scan_request`] checks
//! the same things prost's decoder checks, in one pass over the bytes and without allocating:
//!
//! - every key is a valid varint below 2³², with a wire type 0–5 and a field number ≥ 1;
//! - varints are at most 10 bytes (the 10th at most 1), fixed fields and length-delimited
//!   fields fit in what is left of their enclosing message;
//! - a known field has the wire type its schema says (there are no packed fields in this
//!   schema), every `string` field is UTF-8, nested messages are valid themselves;
//! - unknown fields are skipped as prost skips them (groups included, with a matching end);
//! - nesting stays within prost's recursion limit of 100, counted the way prost counts it
//!   (a nested message, and an unknown field at the limit, fail).
//!
//! It also counts the spans and the spans whose IDs the receiver rejects (trace ID not 16
//! bytes, span ID not 8, parent span ID neither empty nor 8; the last occurrence of a field
//! wins, as in prost), and reports where each `ResourceSpans` lies, so a batch can keep the
//! received bytes instead of decoded structs. Property tests check that it accepts exactly
//! what `ExportTraceServiceRequest::decode` accepts, with the same counts.
//!
//! [`extract_spans`] reads what a store indexes of each span in one pass, and [`fields`] walks
//! one message's fields, for code that copies parts of the received bytes instead of
//! re-encoding decoded structs.
//!
//! The schema is the table in [`Msg::fields`], from `opentelemetry-proto`'s trace, common and
//! resource messages. A field it does not list is skipped, as prost skips it.

use std::ops::Range;

mod extract;

pub use extract::{Field, FieldValue, Fields, SpanFields, extract_spans, fields};

/// Why the walker refused the bytes. The receiver reports prost's own message instead (it
/// decodes once more to get it), so this only needs to be precise enough for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("invalid varint")]
    InvalidVarint,
    #[error("invalid key")]
    InvalidKey,
    #[error("invalid wire type")]
    InvalidWireType,
    #[error("buffer underflow")]
    Underflow,
    #[error("invalid string value: data is not UTF-8 encoded")]
    InvalidString,
    #[error("unexpected end group tag")]
    UnexpectedEndGroup,
    #[error("recursion limit reached")]
    RecursionLimit,
}

/// What [`scan_request`] found in a request it accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    pub spans: usize,
    /// Spans the receiver would reject for their IDs.
    pub invalid_id_spans: usize,
}

/// Checks `body` as prost would decode an `ExportTraceServiceRequest`, calling
/// `on_resource(range, spans)` for every `ResourceSpans` field (the range of its encoded
/// message inside `body`, without key and length, and its span count) in order.
pub fn scan_request(body: &[u8], mut on_resource: impl FnMut(Range<usize>, usize)) -> Result<Scan, WireError> {
    let mut tally = Scan::default();
    let mut reader = Reader { buf: body, pos: 0 };
    let ctx = RECURSION_LIMIT;
    while reader.pos < body.len() {
        let (tag, wire_type) = reader.key()?;
        if tag == REQUEST_RESOURCE_SPANS && wire_type == LEN {
            let before = tally.spans;
            let range = reader.nested_range()?;
            walk(&body[range.clone()], Msg::ResourceSpans, ctx - 1, &mut tally)?;
            on_resource(range, tally.spans - before);
        } else {
            field(&mut reader, Msg::Request, tag, wire_type, ctx, &mut tally, &mut [0; 3])?;
        }
    }
    Ok(tally)
}

/// prost's `RECURSION_LIMIT`: how many nested messages a decode may enter.
const RECURSION_LIMIT: u32 = 100;
/// Field 1 of `ExportTraceServiceRequest`.
const REQUEST_RESOURCE_SPANS: u32 = 1;

// Wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
const I32: u8 = 5;

/// What a field of the schema holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not in the schema: skipped whatever its wire type.
    Unknown,
    /// int32, int64, uint32, bool, enum: any varint.
    Varint,
    /// fixed32.
    Fixed32,
    /// fixed64, double.
    Fixed64,
    /// bytes: any content.
    Bytes,
    /// string: UTF-8.
    Str,
    /// A nested message.
    Msg(Msg),
    /// One of `Span`'s IDs (bytes), whose length is checked once the span ends:
    /// 0 trace_id, 1 span_id, 2 parent_span_id.
    Id(u8),
}

/// The messages of the trace request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    Request,
    ResourceSpans,
    Resource,
    EntityRef,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

impl Msg {
    /// The message's fields, indexed by field number (index 0 is never a field).
    const fn fields(self) -> &'static [Kind] {
        use Kind::{Bytes, Fixed32, Fixed64, Id, Msg as M, Str, Unknown as U, Varint};
        match self {
            // resource_spans
            Msg::Request => &[U, M(Msg::ResourceSpans)],
            // resource, scope_spans, schema_url
            Msg::ResourceSpans => &[U, M(Msg::Resource), M(Msg::ScopeSpans), Str],
            // attributes, dropped_attributes_count, entity_refs
            Msg::Resource => &[U, M(Msg::KeyValue), Varint, M(Msg::EntityRef)],
            // schema_url, type, id_keys (repeated), description_keys (repeated)
            Msg::EntityRef => &[U, Str, Str, Str, Str],
            // scope, spans, schema_url
            Msg::ScopeSpans => &[U, M(Msg::Scope), M(Msg::Span), Str],
            // name, version, attributes, dropped_attributes_count
            Msg::Scope => &[U, Str, Str, M(Msg::KeyValue), Varint],
            // trace_id, span_id, trace_state, parent_span_id, name, kind, start_time_unix_nano,
            // end_time_unix_nano, attributes, dropped_attributes_count, events,
            // dropped_events_count, links, dropped_links_count, status, flags
            Msg::Span => &[
                U,
                Id(0),
                Id(1),
                Str,
                Id(2),
                Str,
                Varint,
                Fixed64,
                Fixed64,
                M(Msg::KeyValue),
                Varint,
                M(Msg::Event),
                Varint,
                M(Msg::Link),
                Varint,
                M(Msg::Status),
                Fixed32,
            ],
            // time_unix_nano, name, attributes, dropped_attributes_count
            Msg::Event => &[U, Fixed64, Str, M(Msg::KeyValue), Varint],
            // trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags
            Msg::Link => &[U, Bytes, Bytes, Str, M(Msg::KeyValue), Varint, Fixed32],
            // (1 is reserved), message, code
            Msg::Status => &[U, U, Str, Varint],
            // key, value, key_strindex
            Msg::KeyValue => &[U, Str, M(Msg::AnyValue), Varint],
            // oneof: string, bool, int, double, array, kvlist, bytes, string_value_strindex
            Msg::AnyValue => {
                &[U, Str, Varint, Varint, Fixed64, M(Msg::ArrayValue), M(Msg::KeyValueList), Bytes, Varint]
            }
            // values
            Msg::ArrayValue => &[U, M(Msg::AnyValue)],
            // values
            Msg::KeyValueList => &[U, M(Msg::KeyValue)],
        }
    }
}

/// Walks one message's fields; `ctx` is prost's remaining recursion budget for them.
fn walk(buf: &[u8], msg: Msg, ctx: u32, tally: &mut Scan) -> Result<(), WireError> {
    let mut reader = Reader { buf, pos: 0 };
    let mut ids = [0usize; 3];
    while reader.pos < buf.len() {
        let (tag, wire_type) = reader.key()?;
        field(&mut reader, msg, tag, wire_type, ctx, tally, &mut ids)?;
    }
    if msg == Msg::Span {
        tally.spans += 1;
        if ids[0] != 16 || ids[1] != 8 || !matches!(ids[2], 0 | 8) {
            tally.invalid_id_spans += 1;
        }
    }
    Ok(())
}

/// Checks one field of `msg` whose key has just been read.
fn field(
    reader: &mut Reader<'_>,
    msg: Msg,
    tag: u32,
    wire_type: u8,
    ctx: u32,
    tally: &mut Scan,
    ids: &mut [usize; 3],
) -> Result<(), WireError> {
    let kind = usize::try_from(tag).ok().and_then(|t| msg.fields().get(t)).copied().unwrap_or(Kind::Unknown);
    match (kind, wire_type) {
        (Kind::Unknown, _) => reader.skip(tag, wire_type, ctx)?,
        (Kind::Varint, VARINT) => {
            reader.varint()?;
        }
        (Kind::Fixed32, I32) => reader.advance(4)?,
        (Kind::Fixed64, I64) => reader.advance(8)?,
        (Kind::Bytes, LEN) => {
            reader.nested_range()?;
        }
        (Kind::Str, LEN) => {
            let range = reader.nested_range()?;
            if std::str::from_utf8(&reader.buf[range]).is_err() {
                return Err(WireError::InvalidString);
            }
        }
        (Kind::Id(slot), LEN) => {
            let range = reader.nested_range()?;
            if let Some(id) = ids.get_mut(usize::from(slot)) {
                *id = range.len();
            }
        }
        (Kind::Msg(nested), LEN) => {
            if ctx == 0 {
                return Err(WireError::RecursionLimit);
            }
            let range = reader.nested_range()?;
            walk(&reader.buf[range], nested, ctx - 1, tally)?;
        }
        _ => return Err(WireError::InvalidWireType),
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(WireError::InvalidVarint)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                // The 10th byte holds bit 63 only.
                if i == 9 && byte > 1 {
                    return Err(WireError::InvalidVarint);
                }
                return Ok(value);
            }
        }
        Err(WireError::InvalidVarint)
    }

    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = u32::try_from(self.varint()?).map_err(|_| WireError::InvalidKey)?;
        let wire_type = (key & 7) as u8;
        if wire_type > I32 {
            return Err(WireError::InvalidWireType);
        }
        let tag = key >> 3;
        if tag == 0 {
            return Err(WireError::InvalidKey);
        }
        Ok((tag, wire_type))
    }

    fn advance(&mut self, len: usize) -> Result<(), WireError> {
        if len > self.buf.len() - self.pos {
            return Err(WireError::Underflow);
        }
        self.pos += len;
        Ok(())
    }

    /// Reads a length and returns the range of the bytes it delimits.
    fn nested_range(&mut self) -> Result<Range<usize>, WireError> {
        let len = self.varint()?;
        let start = self.pos;
        let len = usize::try_from(len).map_err(|_| WireError::Underflow)?;
        self.advance(len)?;
        Ok(start..self.pos)
    }

    /// Skips a field the schema does not know, as prost's `skip_field` does.
    fn skip(&mut self, tag: u32, wire_type: u8, ctx: u32) -> Result<(), WireError> {
        if ctx == 0 {
            return Err(WireError::RecursionLimit);
        }
        match wire_type {
            VARINT => {
                self.varint()?;
            }
            I64 => self.advance(8)?,
            LEN => {
                self.nested_range()?;
            }
            SGROUP => loop {
                let (inner_tag, inner_wire_type) = self.key()?;
                if inner_wire_type == EGROUP {
                    if inner_tag != tag {
                        return Err(WireError::UnexpectedEndGroup);
                    }
                    break;
                }
                self.skip(inner_tag, inner_wire_type, ctx - 1)?;
            },
            I32 => self.advance(4)?,
            _ => return Err(WireError::UnexpectedEndGroup),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
