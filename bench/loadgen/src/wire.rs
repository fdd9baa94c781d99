//! Walks the protobuf framing of an encoded `ExportTraceServiceRequest` without decoding it.
//!
//! The sink only needs the count, so it walks the three outer levels (request →
//! `ResourceSpans` → `ScopeSpans` → `Span`) and skips everything else. Malformed framing at
//! those levels is an error, so truncated or garbled bodies are still refused. `stamp` walks
//! into the spans to find where their trace IDs and times lie.

use std::fmt;

/// Why a body could not be walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(&'static str);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed protobuf: {}", self.0)
    }
}

impl std::error::Error for WireError {}

// Field numbers in opentelemetry/proto/collector/trace/v1 and trace/v1.
const REQUEST_RESOURCE_SPANS: u64 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u64 = 2;
const SCOPE_SPANS_SPANS: u64 = 2;

/// Number of spans in an encoded `ExportTraceServiceRequest`.
pub fn count_spans(request: &[u8]) -> Result<u64, WireError> {
    let mut spans = 0;
    for_each_span(request, |_span| {
        spans += 1;
        Ok(())
    })?;
    Ok(spans)
}

/// Calls `visit` with the encoded bytes of every span of an `ExportTraceServiceRequest`.
pub(crate) fn for_each_span<'a>(
    request: &'a [u8],
    mut visit: impl FnMut(&'a [u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    for_each_message_field(request, REQUEST_RESOURCE_SPANS, |resource_spans| {
        for_each_message_field(resource_spans, RESOURCE_SPANS_SCOPE_SPANS, |scope_spans| {
            for_each_message_field(scope_spans, SCOPE_SPANS_SPANS, &mut visit)
        })
    })
}

/// Calls `visit` with the bytes of every length-delimited field numbered `wanted`.
fn for_each_message_field<'a>(
    buf: &'a [u8],
    wanted: u64,
    mut visit: impl FnMut(&'a [u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    for_each_field(buf, |field, value| match value {
        FieldValue::Bytes(bytes) if field == wanted => visit(bytes),
        _ => Ok(()),
    })
}

/// A field's value as it lies in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValue<'a> {
    Varint(u64),
    /// The 8 bytes of a `fixed64`, `sfixed64` or `double`.
    Fixed64(&'a [u8]),
    /// The bytes of a length-delimited field (a message, string or bytes).
    Bytes(&'a [u8]),
    Fixed32(&'a [u8]),
}

/// Calls `visit` with the number and value of every field of one message, in order.
pub(crate) fn for_each_field<'a>(
    mut buf: &'a [u8],
    mut visit: impl FnMut(u64, FieldValue<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    while !buf.is_empty() {
        let key = read_varint(&mut buf)?;
        let field = key >> 3;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        let value = match key & 7 {
            0 => FieldValue::Varint(read_varint(&mut buf)?),
            1 => FieldValue::Fixed64(take(&mut buf, 8)?),
            2 => {
                let len = usize::try_from(read_varint(&mut buf)?).map_err(|_| WireError("length overflows"))?;
                FieldValue::Bytes(take(&mut buf, len)?)
            }
            5 => FieldValue::Fixed32(take(&mut buf, 4)?),
            _ => return Err(WireError("unsupported wire type")),
        };
        visit(field, value)?;
    }
    Ok(())
}

/// Splits the first `n` bytes off `buf`.
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if n > buf.len() {
        return Err(WireError("field past end of buffer"));
    }
    let (value, rest) = buf.split_at(n);
    *buf = rest;
    Ok(value)
}

fn read_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err(WireError("truncated or overlong varint"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{PayloadConfig, PayloadPool};

    #[test]
    fn counts_generated_requests() {
        for spans in [1, 10, 100, 513] {
            let pool = PayloadPool::build(&PayloadConfig {
                spans_per_request: spans,
                pool_size: 3,
                seed: 1,
                gzip: false,
                format: crate::payload::Format::Otlp,
            })
            .unwrap();
            for n in 0..3 {
                assert_eq!(count_spans(&pool.get(n).body), Ok(spans as u64));
            }
        }
    }

    #[test]
    fn empty_request_has_no_spans() {
        assert_eq!(count_spans(&[]), Ok(0));
    }

    #[test]
    fn truncated_bodies_are_refused() {
        let pool = PayloadPool::build(&PayloadConfig {
            spans_per_request: 5,
            pool_size: 1,
            seed: 1,
            gzip: false,
            format: crate::payload::Format::Otlp,
        })
        .unwrap();
        let body = &pool.get(0).body;
        for cut in [1, body.len() / 2, body.len() - 1] {
            assert!(count_spans(&body[..cut]).is_err(), "cut at {cut}");
        }
    }
}
