//! Reading fields out of encoded messages without decoding them: a field iterator
//! ([`fields`]) and, on top of it, [`extract_spans`], which reads what a store indexes of each
//! span of an encoded `ResourceSpans` (IDs, times, name, kind, status code, service, and where
//! the span and its scope lie) in one pass.
//!
//! Both read the way prost decodes: the last occurrence of a scalar field wins, occurrences of
//! a message field merge, and a known field with another wire type is an error. They check
//! only what they read (the keys and lengths of the levels they walk, the wire types and UTF-8
//! of the fields they return) and skip the rest by its length: they are meant for bytes that
//! [`super::scan_request`] accepted, or that prost encoded.

use std::ops::Range;

use super::{EGROUP, I32, I64, LEN, RECURSION_LIMIT, Reader, SGROUP, VARINT, WireError};

// Field numbers read here, checked against the schema table (`Msg::fields`) by the tests.
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const SCOPE_SPANS_SPANS: u32 = 2;
const RESOURCE_ATTRIBUTES: u32 = 1;
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_VALUE_STRING: u32 = 1;
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START: u32 = 7;
const SPAN_END: u32 = 8;
const SPAN_STATUS: u32 = 15;
const STATUS_CODE: u32 = 3;

/// One field of an encoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: FieldValue<'a>,
    /// The whole field, key included, as a range of the message.
    pub raw: Range<usize>,
    /// The field's value (for a length-delimited field, its content) as a range of the message.
    pub value_range: Range<usize>,
}

/// A field's value by wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    /// A group (deprecated; skipped whole, up to its matching end key).
    Group,
    Fixed32(u32),
}

/// The fields of an encoded message, in order; an error ends the iteration.
pub fn fields(message: &[u8]) -> Fields<'_> {
    Fields { reader: Reader { buf: message, pos: 0 }, failed: false }
}

/// See [`fields`].
pub struct Fields<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Result<Field<'a>, WireError> {
        let reader = &mut self.reader;
        let start = reader.pos;
        let (number, wire_type) = reader.key()?;
        let value_start = reader.pos;
        let value = match wire_type {
            VARINT => FieldValue::Varint(reader.varint()?),
            I64 => {
                reader.advance(8)?;
                let mut le = [0u8; 8];
                le.copy_from_slice(&reader.buf[value_start..reader.pos]);
                FieldValue::Fixed64(u64::from_le_bytes(le))
            }
            LEN => {
                let range = reader.nested_range()?;
                let value = FieldValue::Len(&reader.buf[range.clone()]);
                return Ok(Field { number, value, raw: start..reader.pos, value_range: range });
            }
            SGROUP => {
                reader.skip(number, SGROUP, RECURSION_LIMIT)?;
                FieldValue::Group
            }
            I32 => {
                reader.advance(4)?;
                let mut le = [0u8; 4];
                le.copy_from_slice(&reader.buf[value_start..reader.pos]);
                FieldValue::Fixed32(u32::from_le_bytes(le))
            }
            EGROUP => return Err(WireError::UnexpectedEndGroup),
            _ => return Err(WireError::InvalidWireType),
        };
        Ok(Field { number, value, raw: start..reader.pos, value_range: value_start..reader.pos })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.pos >= self.reader.buf.len() {
            return None;
        }
        let field = self.read();
        self.failed = field.is_err();
        Some(field)
    }
}

/// What [`extract_spans`] reads of one span. Fields the span lacks are empty or zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanFields<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub name: &'a str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    /// Whether the span has a status (possibly an empty one), and its code.
    pub has_status: bool,
    pub status_code: i32,
    /// The `ScopeSpans` message that holds the span, as a range of the `ResourceSpans` bytes.
    pub scope: Range<usize>,
    /// The span's message, as a range of the `ResourceSpans` bytes.
    pub span: Range<usize>,
}

/// Reads every span of an encoded `ResourceSpans` (without its field key and length), calling
/// `on_span` for each in order, and returns the resource's `service.name` (the first such
/// attribute's string value, empty when it is missing or not a string, as pdata's `Str()`).
pub fn extract_spans<'a>(
    resource_spans: &'a [u8],
    mut on_span: impl FnMut(SpanFields<'a>),
) -> Result<&'a str, WireError> {
    let mut service = None;
    for field in fields(resource_spans) {
        let field = field?;
        match (field.number, field.value) {
            // resource: occurrences merge, so their attributes are one list, in order.
            (RESOURCE_SPANS_RESOURCE, FieldValue::Len(resource)) if service.is_none() => {
                service = service_of(resource)?;
            }
            (RESOURCE_SPANS_RESOURCE, FieldValue::Len(_)) => {}
            (RESOURCE_SPANS_SCOPE_SPANS, FieldValue::Len(scope_spans)) => {
                let scope = field.value_range;
                for field in fields(scope_spans) {
                    let field = field?;
                    match (field.number, field.value) {
                        (SCOPE_SPANS_SPANS, FieldValue::Len(span)) => {
                            let range = scope.start + field.value_range.start..scope.start + field.value_range.end;
                            on_span(span_fields(span, scope.clone(), range)?);
                        }
                        (SCOPE_SPANS_SPANS, _) => return Err(WireError::InvalidWireType),
                        _ => {}
                    }
                }
            }
            (RESOURCE_SPANS_RESOURCE | RESOURCE_SPANS_SCOPE_SPANS, _) => return Err(WireError::InvalidWireType),
            _ => {}
        }
    }
    Ok(service.unwrap_or(""))
}

fn span_fields(span: &[u8], scope: Range<usize>, range: Range<usize>) -> Result<SpanFields<'_>, WireError> {
    let mut out = SpanFields { scope, span: range, ..SpanFields::default() };
    for field in fields(span) {
        let field = field?;
        match (field.number, field.value) {
            (SPAN_TRACE_ID, FieldValue::Len(id)) => out.trace_id = id,
            (SPAN_SPAN_ID, FieldValue::Len(id)) => out.span_id = id,
            (SPAN_PARENT_SPAN_ID, FieldValue::Len(id)) => out.parent_span_id = id,
            (SPAN_NAME, FieldValue::Len(name)) => out.name = utf8(name)?,
            // int32 and enums take the varint's low 32 bits, as prost does.
            (SPAN_KIND, FieldValue::Varint(kind)) => out.kind = kind as i32,
            (SPAN_START, FieldValue::Fixed64(start)) => out.start_time_unix_nano = start,
            (SPAN_END, FieldValue::Fixed64(end)) => out.end_time_unix_nano = end,
            (SPAN_STATUS, FieldValue::Len(status)) => {
                out.has_status = true;
                for field in fields(status) {
                    match field? {
                        Field { number: STATUS_CODE, value: FieldValue::Varint(code), .. } => {
                            out.status_code = code as i32;
                        }
                        Field { number: STATUS_CODE, .. } => return Err(WireError::InvalidWireType),
                        _ => {}
                    }
                }
            }
            (
                SPAN_TRACE_ID | SPAN_SPAN_ID | SPAN_PARENT_SPAN_ID | SPAN_NAME | SPAN_KIND | SPAN_START | SPAN_END
                | SPAN_STATUS,
                _,
            ) => return Err(WireError::InvalidWireType),
            _ => {}
        }
    }
    Ok(out)
}

fn utf8(bytes: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(bytes).map_err(|_| WireError::InvalidString)
}

const SERVICE_NAME: &str = "service.name";

/// The string value of the first `service.name` attribute of an encoded `Resource`: `None`
/// when there is none, `Some("")` when its value is not a string.
fn service_of(resource: &[u8]) -> Result<Option<&str>, WireError> {
    for field in fields(resource) {
        let field = field?;
        match (field.number, field.value) {
            (RESOURCE_ATTRIBUTES, FieldValue::Len(key_value)) => {
                let (key, value) = key_value_str(key_value)?;
                if key == SERVICE_NAME {
                    return Ok(Some(value));
                }
            }
            (RESOURCE_ATTRIBUTES, _) => return Err(WireError::InvalidWireType),
            _ => {}
        }
    }
    Ok(None)
}

/// A `KeyValue`'s key, and its value when that is a string ("" otherwise).
fn key_value_str(key_value: &[u8]) -> Result<(&str, &str), WireError> {
    let (mut key, mut value) = ("", "");
    for field in fields(key_value) {
        let field = field?;
        match (field.number, field.value) {
            (KEY_VALUE_KEY, FieldValue::Len(bytes)) => key = utf8(bytes)?,
            // value: occurrences merge; the oneof holds the last variant set.
            (KEY_VALUE_VALUE, FieldValue::Len(any_value)) => {
                for field in fields(any_value) {
                    let field = field?;
                    match (field.number, field.value) {
                        (ANY_VALUE_STRING, FieldValue::Len(bytes)) => value = utf8(bytes)?,
                        // The oneof's other members: bool, int, double, array, kvlist, bytes,
                        // string_value_strindex.
                        (2..=8, _) => value = "",
                        _ => {}
                    }
                }
            }
            (KEY_VALUE_KEY | KEY_VALUE_VALUE, _) => return Err(WireError::InvalidWireType),
            _ => {}
        }
    }
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Msg};
    use super::*;

    fn kind(msg: Msg, number: u32) -> Kind {
        msg.fields()[number as usize]
    }

    #[test]
    fn field_numbers_are_the_schema_tables() {
        assert_eq!(kind(Msg::ResourceSpans, RESOURCE_SPANS_RESOURCE), Kind::Msg(Msg::Resource));
        assert_eq!(kind(Msg::ResourceSpans, RESOURCE_SPANS_SCOPE_SPANS), Kind::Msg(Msg::ScopeSpans));
        assert_eq!(kind(Msg::ScopeSpans, SCOPE_SPANS_SPANS), Kind::Msg(Msg::Span));
        assert_eq!(kind(Msg::Resource, RESOURCE_ATTRIBUTES), Kind::Msg(Msg::KeyValue));
        assert_eq!(kind(Msg::KeyValue, KEY_VALUE_KEY), Kind::Str);
        assert_eq!(kind(Msg::KeyValue, KEY_VALUE_VALUE), Kind::Msg(Msg::AnyValue));
        assert_eq!(kind(Msg::AnyValue, ANY_VALUE_STRING), Kind::Str);
        assert_eq!(kind(Msg::Span, SPAN_TRACE_ID), Kind::Id(0));
        assert_eq!(kind(Msg::Span, SPAN_SPAN_ID), Kind::Id(1));
        assert_eq!(kind(Msg::Span, SPAN_PARENT_SPAN_ID), Kind::Id(2));
        assert_eq!(kind(Msg::Span, SPAN_NAME), Kind::Str);
        assert_eq!(kind(Msg::Span, SPAN_KIND), Kind::Varint);
        assert_eq!((kind(Msg::Span, SPAN_START), kind(Msg::Span, SPAN_END)), (Kind::Fixed64, Kind::Fixed64));
        assert_eq!(kind(Msg::Span, SPAN_STATUS), Kind::Msg(Msg::Status));
        assert_eq!(kind(Msg::Status, STATUS_CODE), Kind::Varint);
    }
}
