//! Makes every send of a pooled OTLP request distinct, without encoding it again.
//!
//! The runner cycles through `--pool-size` encoded requests, so the same spans come back every
//! `pool_size` sends: a store dedupes them, and every span starts in the seconds before the run,
//! so a search over one hour of data means nothing. With `--unique-traces` the pool notes once
//! where each request's trace IDs and times lie (`Marks`), and each send copies the bytes and
//! patches them in place:
//!
//! - the last 8 bytes of every trace ID (of spans and links) are XORed with the send's turn
//!   through the pool (`n / pool_len`), so send `n` carries trace IDs no other send of the run
//!   has, and the spans of a trace still share one;
//! - with `--spread-start`, every time (span start and end, event time) moves back by one shift
//!   per send, `frac(n × 0.618…) × spread`: evenly spread over the window for any number of
//!   sends (the golden ratio's sequence), and the same for the same `n`.
//!
//! Patching costs a copy of the body and a few hundred byte writes, against ~1.5 µs per span to
//! generate and encode the spans afresh.

use std::time::Duration;

use bytes::Bytes;

use crate::known::KnownTrace;
use crate::wire::{FieldValue, WireError, for_each_field, for_each_span};

// Field numbers in opentelemetry/proto/trace/v1/trace.proto.
const SPAN_TRACE_ID: u64 = 1;
const SPAN_START: u64 = 7;
const SPAN_END: u64 = 8;
const SPAN_EVENTS: u64 = 11;
const SPAN_LINKS: u64 = 13;
const EVENT_TIME: u64 = 1;
const LINK_TRACE_ID: u64 = 1;

const TRACE_ID_LEN: usize = 16;
/// The fractional part of the golden ratio: `frac(n × GOLDEN)` fills [0, 1) evenly.
const GOLDEN: f64 = 0.618_033_988_749_894_9;

/// Where one encoded request's trace IDs and times lie, as byte offsets into its body.
#[derive(Debug, Clone)]
pub(crate) struct Marks {
    /// 16-byte trace IDs.
    trace_ids: Vec<usize>,
    /// Little-endian `fixed64` Unix-nanosecond times.
    times: Vec<usize>,
    /// The first span's trace ID and start: what the runner lists for `--trace-ids-out`.
    first_span: Option<(usize, usize)>,
}

impl Marks {
    pub(crate) fn find(request: &[u8]) -> Result<Self, WireError> {
        let offset = |value: &[u8]| value.as_ptr() as usize - request.as_ptr() as usize;
        let mut marks = Marks { trace_ids: Vec::new(), times: Vec::new(), first_span: None };
        for_each_span(request, |span| {
            let (mut trace_id, mut start) = (None, None);
            for_each_field(span, |field, value| {
                match (field, value) {
                    (SPAN_TRACE_ID, FieldValue::Bytes(id)) if id.len() == TRACE_ID_LEN => {
                        trace_id = Some(offset(id));
                        marks.trace_ids.push(offset(id));
                    }
                    (SPAN_START, FieldValue::Fixed64(time)) => {
                        start = Some(offset(time));
                        marks.times.push(offset(time));
                    }
                    (SPAN_END, FieldValue::Fixed64(time)) => marks.times.push(offset(time)),
                    (SPAN_EVENTS, FieldValue::Bytes(event)) => for_each_field(event, |field, value| {
                        if let (EVENT_TIME, FieldValue::Fixed64(time)) = (field, value) {
                            marks.times.push(offset(time));
                        }
                        Ok(())
                    })?,
                    (SPAN_LINKS, FieldValue::Bytes(link)) => for_each_field(link, |field, value| {
                        if let (LINK_TRACE_ID, FieldValue::Bytes(id)) = (field, value)
                            && id.len() == TRACE_ID_LEN
                        {
                            marks.trace_ids.push(offset(id));
                        }
                        Ok(())
                    })?,
                    _ => {}
                }
                Ok(())
            })?;
            if marks.first_span.is_none() {
                marks.first_span = trace_id.zip(start);
            }
            Ok(())
        })?;
        Ok(marks)
    }
}

/// How far back send `n` moves its times: `frac(n × GOLDEN) × spread`.
pub(crate) fn shift_nanos(n: u64, spread: Duration) -> u64 {
    let fraction = (n as f64 * GOLDEN).fract();
    (spread.as_nanos() as f64 * fraction) as u64
}

/// A copy of `body` with its trace IDs XORed with `turn` and its times moved back by `shift`,
/// and the first span's trace as it was sent.
pub(crate) fn stamp(body: &[u8], marks: &Marks, turn: u64, shift: u64) -> (Bytes, Option<KnownTrace>) {
    let mut copy = body.to_vec();
    let turn = turn.to_be_bytes();
    for &at in &marks.trace_ids {
        for (byte, mask) in copy[at + TRACE_ID_LEN - 8..at + TRACE_ID_LEN].iter_mut().zip(turn) {
            *byte ^= mask;
        }
    }
    if shift > 0 {
        for &at in &marks.times {
            let time = read_u64(&copy, at).saturating_sub(shift);
            copy[at..at + 8].copy_from_slice(&time.to_le_bytes());
        }
    }
    let first = marks.first_span.map(|(id, start)| {
        let mut trace_id = [0u8; TRACE_ID_LEN];
        trace_id.copy_from_slice(&copy[id..id + TRACE_ID_LEN]);
        KnownTrace { trace_id, start_unix_nanos: read_u64(&copy, start) }
    });
    (Bytes::from(copy), first)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;
    use crate::payload::{Format, PayloadConfig, PayloadPool};

    fn spans(body: &[u8]) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        let request = ExportTraceServiceRequest::decode(body).unwrap();
        request.resource_spans.into_iter().flat_map(|rs| rs.scope_spans).flat_map(|ss| ss.spans).collect()
    }

    fn pool() -> PayloadPool {
        PayloadPool::build(&PayloadConfig {
            spans_per_request: 100,
            pool_size: 2,
            seed: 3,
            gzip: false,
            format: Format::Otlp,
        })
        .unwrap()
    }

    #[test]
    fn marks_find_every_trace_id_and_time() {
        let body = pool().get(0).body.clone();
        let marks = Marks::find(&body).unwrap();
        let spans = spans(&body);
        let events: usize = spans.iter().map(|s| s.events.len()).sum();
        assert_eq!(marks.trace_ids.len(), spans.len());
        assert_eq!(marks.times.len(), 2 * spans.len() + events);
        let (id, start) = marks.first_span.unwrap();
        assert_eq!(&body[id..id + 16], spans[0].trace_id.as_slice());
        assert_eq!(read_u64(&body, start), spans[0].start_time_unix_nano);
    }

    #[test]
    fn stamping_gives_new_trace_ids_and_keeps_traces_whole() {
        let body = pool().get(1).body.clone();
        let marks = Marks::find(&body).unwrap();
        let original = spans(&body);
        let (same, _) = stamp(&body, &marks, 0, 0);
        assert_eq!(same, body, "turn 0 without a shift sends the pool's bytes");
        let (stamped, first) = stamp(&body, &marks, 7, 0);
        let stamped = spans(&stamped);
        let before: HashSet<&[u8]> = original.iter().map(|s| s.trace_id.as_slice()).collect();
        let after: HashSet<&[u8]> = stamped.iter().map(|s| s.trace_id.as_slice()).collect();
        assert_eq!(before.len(), after.len(), "spans of one trace still share an ID");
        assert!(before.is_disjoint(&after));
        for (old, new) in original.iter().zip(&stamped) {
            assert_eq!(old.trace_id[..8], new.trace_id[..8]);
            assert_eq!((old.span_id.as_slice(), old.name.as_str()), (new.span_id.as_slice(), new.name.as_str()));
        }
        assert_eq!(first.unwrap().trace_id.as_slice(), stamped[0].trace_id.as_slice());
    }

    #[test]
    fn stamping_moves_every_time_back_by_the_shift() {
        let body = pool().get(0).body.clone();
        let marks = Marks::find(&body).unwrap();
        let hour = 3_600_000_000_000;
        let (stamped, first) = stamp(&body, &marks, 1, hour);
        for (old, new) in spans(&body).iter().zip(spans(&stamped)) {
            assert_eq!(new.start_time_unix_nano, old.start_time_unix_nano - hour);
            assert_eq!(new.end_time_unix_nano, old.end_time_unix_nano - hour);
            for (old, new) in old.events.iter().zip(&new.events) {
                assert_eq!(new.time_unix_nano, old.time_unix_nano - hour);
            }
        }
        assert_eq!(first.unwrap().start_unix_nanos, spans(&body)[0].start_time_unix_nano - hour);
    }

    #[test]
    fn shifts_spread_evenly_over_the_window() {
        let spread = Duration::from_secs(4 * 3600);
        let mut per_quarter = [0u32; 4];
        for n in 0..1000 {
            let shift = shift_nanos(n, spread);
            assert!(shift < spread.as_nanos() as u64);
            per_quarter[(shift / (3600 * 1_000_000_000)) as usize] += 1;
        }
        assert!(per_quarter.iter().all(|&count| (245..=255).contains(&count)), "{per_quarter:?}");
        assert_eq!(shift_nanos(5, spread), shift_nanos(5, spread));
    }
}
