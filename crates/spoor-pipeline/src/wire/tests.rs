//! The walker against prost: for random requests, mutated structurally (fields re-tagged,
//! given other wire types, inserted, duplicated, nested past the recursion limit, turned into
//! invalid UTF-8 or odd-length IDs, with lengths kept right) and byte by byte, the walker
//! accepts exactly what `ExportTraceServiceRequest::decode` accepts, with the same counts.

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, EntityRef, KeyValue, KeyValueList, any_value};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::otlp::{
    ExportTraceServiceRequest, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status, span,
};

/// What prost and the receiver's ID check make of `bytes`.
fn oracle(bytes: &[u8]) -> Option<(Scan, Vec<ResourceSpans>)> {
    let request = ExportTraceServiceRequest::decode(bytes).ok()?;
    let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
    let invalid = spans
        .clone()
        .filter(|s| s.trace_id.len() != 16 || s.span_id.len() != 8 || !matches!(s.parent_span_id.len(), 0 | 8))
        .count();
    Some((Scan { spans: spans.count(), invalid_id_spans: invalid }, request.resource_spans))
}

/// Asserts that the walker agrees with prost on `bytes`; returns whether they accepted.
fn check(bytes: &[u8]) -> bool {
    let mut ranges = Vec::new();
    let walked = scan_request(bytes, |range, spans| ranges.push((range, spans)));
    let expected = oracle(bytes);
    match (walked, expected) {
        (Ok(scan), Some((want, resources))) => {
            assert_eq!(scan, want, "counts differ for {bytes:02x?}");
            assert_eq!(ranges.len(), resources.len());
            for ((range, spans), resource) in ranges.into_iter().zip(resources) {
                let decoded = ResourceSpans::decode(&bytes[range]).unwrap();
                assert_eq!(decoded, resource);
                assert_eq!(spans, resource.scope_spans.iter().map(|s| s.spans.len()).sum::<usize>());
            }
            true
        }
        (Err(_), None) => false,
        (walked, expected) => panic!(
            "walker {walked:?} but prost {} for {bytes:02x?}",
            if expected.is_some() { "accepts" } else { "refuses" }
        ),
    }
}

fn text(rng: &mut StdRng) -> String {
    const PIECES: [&str; 6] = ["a", "span", "é", "日本", "🦀", ""];
    (0..rng.random_range(0..4)).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
}

fn id(rng: &mut StdRng, valid: usize) -> Vec<u8> {
    let len = if rng.random_bool(0.9) { valid } else { [0, 1, 8, 15, 16, 17][rng.random_range(0..6)] };
    (0..len).map(|_| rng.random()).collect()
}

fn any_value(rng: &mut StdRng, depth: u32) -> AnyValue {
    use any_value::Value;
    let value = match rng.random_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::StringValue(text(rng)),
        1 => Value::BoolValue(rng.random()),
        2 => Value::IntValue(rng.random()),
        3 => Value::DoubleValue(rng.random()),
        4 => Value::BytesValue(id(rng, 3)),
        5 => Value::StringValueStrindex(rng.random()),
        6 => Value::ArrayValue(ArrayValue { values: (0..2).map(|_| any_value(rng, depth - 1)).collect() }),
        _ => Value::KvlistValue(KeyValueList { values: attributes(rng, depth - 1) }),
    };
    AnyValue { value: rng.random_bool(0.95).then_some(value) }
}

fn attributes(rng: &mut StdRng, depth: u32) -> Vec<KeyValue> {
    (0..rng.random_range(0..3))
        .map(|_| KeyValue {
            key: text(rng),
            value: rng.random_bool(0.9).then(|| any_value(rng, depth)),
            key_strindex: 0,
        })
        .collect()
}

fn random_span(rng: &mut StdRng) -> Span {
    Span {
        trace_id: id(rng, 16),
        span_id: id(rng, 8),
        parent_span_id: if rng.random() { id(rng, 8) } else { Vec::new() },
        trace_state: text(rng),
        name: text(rng),
        kind: rng.random_range(0..6),
        start_time_unix_nano: rng.random(),
        end_time_unix_nano: rng.random(),
        attributes: attributes(rng, 2),
        dropped_attributes_count: rng.random_range(0..3),
        events: (0..rng.random_range(0..2))
            .map(|_| span::Event {
                time_unix_nano: rng.random(),
                name: text(rng),
                attributes: attributes(rng, 1),
                dropped_attributes_count: 1,
            })
            .collect(),
        links: (0..rng.random_range(0..2))
            .map(|_| span::Link {
                trace_id: id(rng, 16),
                span_id: id(rng, 8),
                trace_state: text(rng),
                attributes: attributes(rng, 1),
                dropped_attributes_count: 0,
                flags: rng.random(),
            })
            .collect(),
        dropped_events_count: 0,
        dropped_links_count: rng.random_range(0..2),
        status: rng.random_bool(0.5).then(|| Status { message: text(rng), code: rng.random_range(0..3) }),
        flags: rng.random(),
    }
}

fn random_request(rng: &mut StdRng) -> ExportTraceServiceRequest {
    let resource_spans = (0..rng.random_range(0..4))
        .map(|_| ResourceSpans {
            resource: rng.random_bool(0.8).then(|| Resource {
                attributes: attributes(rng, 2),
                dropped_attributes_count: rng.random_range(0..2),
                entity_refs: (0..rng.random_range(0..2))
                    .map(|_| EntityRef {
                        schema_url: text(rng),
                        r#type: text(rng),
                        id_keys: (0..rng.random_range(0..3)).map(|_| text(rng)).collect(),
                        description_keys: (0..rng.random_range(0..3)).map(|_| text(rng)).collect(),
                    })
                    .collect(),
            }),
            scope_spans: (0..rng.random_range(0..3))
                .map(|_| ScopeSpans {
                    scope: rng.random_bool(0.7).then(|| InstrumentationScope {
                        name: text(rng),
                        version: text(rng),
                        attributes: attributes(rng, 1),
                        dropped_attributes_count: 0,
                    }),
                    spans: (0..rng.random_range(0..4)).map(|_| random_span(rng)).collect(),
                    schema_url: text(rng),
                })
                .collect(),
            schema_url: text(rng),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

// A schema-free view of one message level, to mutate and re-encode with correct lengths.

enum Value {
    Varint(u64),
    I64([u8; 8]),
    Len(Vec<u8>),
    I32([u8; 4]),
    /// Raw bytes of a group's body and its end key, written after the start key as they are.
    Raw(Vec<u8>),
}

struct Field {
    tag: u32,
    value: Value,
}

fn put_varint(out: &mut Vec<u8>, value: u64) {
    prost::encoding::encode_varint(value, out);
}

fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u8) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(wire_type));
}

fn serialize(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        match &field.value {
            Value::Varint(v) => {
                put_key(&mut out, field.tag, VARINT);
                put_varint(&mut out, *v);
            }
            Value::I64(b) => {
                put_key(&mut out, field.tag, I64);
                out.extend_from_slice(b);
            }
            Value::Len(b) => {
                put_key(&mut out, field.tag, LEN);
                put_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::I32(b) => {
                put_key(&mut out, field.tag, I32);
                out.extend_from_slice(b);
            }
            Value::Raw(b) => {
                put_key(&mut out, field.tag, SGROUP);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

/// Splits one message level into fields; `None` when it is not well-formed framing.
fn parse(bytes: &[u8]) -> Option<Vec<Field>> {
    let mut reader = Reader { buf: bytes, pos: 0 };
    let mut fields = Vec::new();
    while reader.pos < bytes.len() {
        let (tag, wire_type) = reader.key().ok()?;
        let value = match wire_type {
            VARINT => Value::Varint(reader.varint().ok()?),
            I64 => {
                let start = reader.pos;
                reader.advance(8).ok()?;
                Value::I64(bytes[start..reader.pos].try_into().ok()?)
            }
            LEN => Value::Len(bytes[reader.nested_range().ok()?].to_vec()),
            I32 => {
                let start = reader.pos;
                reader.advance(4).ok()?;
                Value::I32(bytes[start..reader.pos].try_into().ok()?)
            }
            _ => return None,
        };
        fields.push(Field { tag, value });
    }
    Some(fields)
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..5) {
        0 => vec![0xff, 0xfe],
        1 => "日本".as_bytes()[..4].to_vec(),
        2 => (0..[0, 8, 15, 16, 17][rng.random_range(0..5)]).map(|_| rng.random()).collect(),
        3 => text(rng).into_bytes(),
        _ => (0..rng.random_range(0..12)).map(|_| rng.random()).collect(),
    }
}

fn random_varint(rng: &mut StdRng) -> u64 {
    match rng.random_range(0..4) {
        0 => rng.random_range(0..200),
        1 => u64::MAX,
        2 => u64::from(u32::MAX) + 1,
        _ => rng.random(),
    }
}

/// A field number: mostly a small one, which most messages of the schema know.
fn random_tag(rng: &mut StdRng) -> u32 {
    if rng.random_bool(0.7) { rng.random_range(1..6) } else { rng.random_range(1..20) }
}

/// A random field of any wire type, groups included.
fn random_field(rng: &mut StdRng) -> Field {
    let tag = random_tag(rng);
    let value = match rng.random_range(0..7) {
        0 => Value::Varint(random_varint(rng)),
        1 => Value::I64(rng.random()),
        2 => Value::I32(rng.random()),
        3 => Value::Len(random_bytes(rng)),
        4 => {
            let inner: Vec<Field> = (0..rng.random_range(0..3)).map(|_| random_field(rng)).collect();
            Value::Len(serialize(&inner))
        }
        5 => {
            // A group, usually closed with its own tag.
            let mut body = serialize(&(0..rng.random_range(0..3)).map(|_| random_field(rng)).collect::<Vec<_>>());
            let end = if rng.random_bool(0.8) { tag } else { rng.random_range(1..20) };
            put_key(&mut body, end, EGROUP);
            Value::Raw(body)
        }
        _ => Value::Raw(Vec::new()),
    };
    Field { tag, value }
}

/// Applies one structural mutation somewhere in the message tree and re-encodes it.
fn mutate(bytes: &[u8], rng: &mut StdRng, depth: u32) -> Vec<u8> {
    let Some(mut fields) = parse(bytes) else {
        return mutate_bytes(bytes.to_vec(), rng);
    };
    let lens: Vec<usize> =
        fields.iter().enumerate().filter(|(_, f)| matches!(f.value, Value::Len(_))).map(|(i, _)| i).collect();
    // Mostly go deeper, so that every level of the schema gets its share.
    if !lens.is_empty() && depth < 12 && rng.random_bool(0.75) {
        let i = lens[rng.random_range(0..lens.len())];
        if let Value::Len(inner) = &fields[i].value {
            let mutated = mutate(inner, rng, depth + 1);
            fields[i].value = Value::Len(mutated);
        }
        return serialize(&fields);
    }
    let n = fields.len();
    match rng.random_range(0..7) {
        0 if n > 0 => fields[rng.random_range(0..n)].tag = random_tag(rng),
        1 if n > 0 => {
            let i = rng.random_range(0..n);
            let tag = fields[i].tag;
            fields[i] = Field { tag, ..random_field(rng) };
        }
        2 if n > 0 => {
            fields.remove(rng.random_range(0..n));
        }
        3 if n > 0 => {
            let i = rng.random_range(0..n);
            let copy = serialize(&fields[i..=i]);
            fields.extend(parse(&copy).unwrap_or_default());
        }
        4 if n > 0 => {
            let i = rng.random_range(0..n);
            fields[i].value = Value::Len(random_bytes(rng));
        }
        5 => {
            // Wrap this level into itself a few times: nesting towards the limit.
            let mut nested = serialize(&fields);
            let tag = fields.first().map_or(1, |f| f.tag);
            for _ in 0..rng.random_range(1..40) {
                nested = serialize(&[Field { tag, value: Value::Len(nested) }]);
            }
            return nested;
        }
        _ => fields.insert(rng.random_range(0..=n), random_field(rng)),
    }
    serialize(&fields)
}

fn mutate_bytes(mut bytes: Vec<u8>, rng: &mut StdRng) -> Vec<u8> {
    if bytes.is_empty() {
        return vec![rng.random()];
    }
    let i = rng.random_range(0..bytes.len());
    match rng.random_range(0..4) {
        0 => bytes[i] ^= 1 << rng.random_range(0..8),
        1 => bytes.truncate(i),
        2 => bytes.insert(i, rng.random()),
        _ => {
            bytes.remove(i);
        }
    }
    bytes
}

#[test]
fn agrees_with_prost_on_valid_requests() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..500 {
        let request = random_request(&mut rng);
        let bytes = request.encode_to_vec();
        assert!(check(&bytes));
    }
}

#[test]
fn agrees_with_prost_on_mutated_requests() {
    let mut rng = StdRng::seed_from_u64(7);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..40_000 {
        let mut bytes = random_request(&mut rng).encode_to_vec();
        for _ in 0..rng.random_range(1..4) {
            bytes = if round % 5 == 0 { mutate_bytes(bytes, &mut rng) } else { mutate(&bytes, &mut rng, 0) };
        }
        if check(&bytes) {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    // Both sides of the boundary were exercised.
    assert!(accepted > 4_000 && refused > 4_000, "accepted {accepted}, refused {refused}");
}

#[test]
fn agrees_with_prost_on_random_bytes() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..5_000 {
        let len = rng.random_range(0..64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if rng.random() {
            bytes.splice(0..0, [0x0a, rng.random_range(0..40), 0x12, rng.random_range(0..40)]);
        }
        check(&bytes);
    }
}

/// A span whose attribute nests `levels` key-value lists, with `innermost` as the deepest
/// `KeyValue`'s extra content.
fn nested_request(levels: usize, innermost: &[u8]) -> Vec<u8> {
    let len = |tag: u32, payload: Vec<u8>| serialize(&[Field { tag, value: Value::Len(payload) }]);
    let mut key_value = innermost.to_vec();
    for _ in 0..levels {
        let any_value = len(6, len(1, key_value)); // AnyValue.kvlist_value { values: [kv] }
        key_value = len(2, any_value); // KeyValue.value
    }
    let mut span = Span { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }.encode_to_vec();
    span.extend(len(9, key_value)); // Span.attributes
    len(1, len(2, len(2, span))) // Request.resource_spans.scope_spans.spans
}

#[test]
fn recursion_limit_is_where_prost_puts_it() {
    let mut flips = 0;
    for innermost in [&b""[..], b"\x48\x01", b"\x18\x01", b"\x5b\x5c", b"\x0a\x00"] {
        let mut last = None;
        for levels in 26..40 {
            let accepted = check(&nested_request(levels, innermost));
            if last.is_some_and(|l| l != accepted) {
                flips += 1;
            }
            last = Some(accepted);
        }
    }
    assert!(flips >= 5, "the limit was crossed for every innermost field");
}

#[test]
fn edge_cases() {
    let span = |fields: &[u8]| {
        let mut span = fields.to_vec();
        span.splice(0..0, [0x0a, 16].into_iter().chain([1; 16]).chain([0x12, 8]).chain([2; 8]));
        let scope = serialize(&[Field { tag: 2, value: Value::Len(span) }]);
        let resource = serialize(&[Field { tag: 2, value: Value::Len(scope) }]);
        serialize(&[Field { tag: 1, value: Value::Len(resource) }])
    };
    // A 10-byte varint whose last byte is 1 is fine, 2 is not; 11 bytes never.
    assert!(check(&span(b"\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")));
    assert!(!check(&span(b"\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02")));
    assert!(!check(&span(b"\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00")));
    // Unknown fields of every wire type, groups nested and closed.
    assert!(check(&span(b"\xa8\x01\x05\xb1\x01\x01\x02\x03\x04\x05\x06\x07\x08\xbd\x01\x01\x02\x03\x04")));
    assert!(check(&span(b"\xbb\x01\xc3\x01\xc4\x01\xbc\x01")));
    assert!(!check(&span(b"\xbb\x01\xc4\x01")));
    assert!(!check(&span(b"\xbc\x01")));
    // A known field with another wire type; tag 0; wire types 6 and 7.
    assert!(!check(&span(b"\x2d\x00\x00\x00\x00")));
    assert!(!check(&span(b"\x00\x00")));
    assert!(!check(&span(b"\x0e")));
    assert!(!check(&span(b"\x0f")));
    // A parent span ID of 4 bytes is counted as invalid; a repeated trace ID, the last wins.
    let mut scan = scan_request(&span(b"\x22\x04abcd"), |_, _| {}).unwrap();
    assert_eq!(scan, Scan { spans: 1, invalid_id_spans: 1 });
    scan = scan_request(&span(b"\x0a\x03abc"), |_, _| {}).unwrap();
    assert_eq!(scan.invalid_id_spans, 1);
    assert!(check(&span(b"\x0a\x03abc")));
    // A key above 2^32.
    assert!(!check(b"\x80\x80\x80\x80\x10"));
    assert!(check(b""));
}

/// Asserts that [`extract_spans`] reads what prost decodes from every `ResourceSpans` of
/// `bytes` that prost accepts, and the field walk gives back the bytes; returns whether prost
/// accepted.
fn check_extract(bytes: &[u8]) -> bool {
    let mut ranges = Vec::new();
    let (Ok(_), Some((_, resources))) = (scan_request(bytes, |range, _| ranges.push(range)), oracle(bytes)) else {
        return false;
    };
    for (range, resource) in ranges.into_iter().zip(resources) {
        let encoded = &bytes[range];
        let rebuilt: Vec<u8> = fields(encoded).flat_map(|f| encoded[f.unwrap().raw].to_vec()).collect();
        assert_eq!(rebuilt, encoded);
        let mut extracted = Vec::new();
        let service = extract_spans(encoded, |span| extracted.push(span)).unwrap();
        let resource_attributes = resource.resource.as_ref().map_or(&[][..], |r| r.attributes.as_slice());
        let want_service = resource_attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map_or("", |v| if let any_value::Value::StringValue(s) = v { s.as_str() } else { "" });
        assert_eq!(service, want_service);
        let spans: Vec<(&ScopeSpans, &Span)> =
            resource.scope_spans.iter().flat_map(|s| s.spans.iter().map(move |span| (s, span))).collect();
        assert_eq!(extracted.len(), spans.len());
        for (got, (scope, span)) in extracted.iter().zip(spans) {
            assert_eq!(got.trace_id, span.trace_id);
            assert_eq!(got.span_id, span.span_id);
            assert_eq!(got.parent_span_id, span.parent_span_id);
            assert_eq!(got.name, span.name);
            assert_eq!(got.kind, span.kind);
            assert_eq!(got.start_time_unix_nano, span.start_time_unix_nano);
            assert_eq!(got.end_time_unix_nano, span.end_time_unix_nano);
            assert_eq!(got.has_status, span.status.is_some());
            assert_eq!(got.status_code, span.status.as_ref().map_or(0, |s| s.code));
            assert_eq!(&Span::decode(&encoded[got.span.clone()]).unwrap(), span);
            let decoded_scope = ScopeSpans::decode(&encoded[got.scope.clone()]).unwrap();
            assert_eq!(
                (decoded_scope.scope.as_ref(), &decoded_scope.schema_url),
                (scope.scope.as_ref(), &scope.schema_url)
            );
        }
    }
    true
}

#[test]
fn extraction_agrees_with_prost() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut accepted = 0;
    for round in 0..20_000 {
        let mut request = random_request(&mut rng);
        for resource in &mut request.resource_spans {
            if let Some(r) = resource.resource.as_mut().filter(|_| rng.random_bool(0.5)) {
                let value = any_value::Value::StringValue(text(&mut rng));
                let at = rng.random_range(0..=r.attributes.len());
                let kv = KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue { value: Some(value) }),
                    key_strindex: 0,
                };
                r.attributes.insert(at, kv);
            }
        }
        let mut bytes = request.encode_to_vec();
        for _ in 0..round % 3 {
            bytes = mutate(&bytes, &mut rng, 0);
        }
        if check_extract(&bytes) {
            accepted += 1;
        }
    }
    assert!(accepted > 10_000, "accepted {accepted}");
}
