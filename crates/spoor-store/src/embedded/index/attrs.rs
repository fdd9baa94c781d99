//! A span's attributes read from its encoding, without decoding the span: what the search
//! index and the typed columns need of each span, at a cut and at every compaction.
//!
//! Each attribute comes out as its key and its value printed as a search compares it
//! (`value::as_string`). The common shape, a `KeyValue` holding one key and a string or int
//! value, is read in place; anything else (other value types, repeated or unknown fields)
//! is decoded with prost, so that every encoding reads as prost reads it.

use std::borrow::Cow;

use prost::Message;
use spoor_pipeline::otlp::{KeyValue, any_value, value};
use spoor_pipeline::wire::{self, FieldValue};

use crate::StoreError;

/// `Span.attributes`, `Span.events` and `Span.links`.
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_EVENTS: u32 = 11;
const SPAN_LINKS: u32 = 13;
/// `Span.Event.attributes` and `Span.Link.attributes`.
const EVENT_ATTRIBUTES: u32 = 3;
const LINK_ATTRIBUTES: u32 = 4;
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_VALUE_STRING: u32 = 1;
const ANY_VALUE_INT: u32 = 3;

/// Where in a span an attribute list lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    Span,
    /// An event's or a link's.
    Nested,
}

/// One attribute: its key and its value as a search prints it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attribute<'a> {
    pub key: Cow<'a, str>,
    pub value: Cow<'a, str>,
    /// The value as an integer: an int, or a string that parses as one.
    pub int: Option<i64>,
}

fn bad(what: &str) -> StoreError {
    StoreError::Other(format!("bad span in block row: {what}"))
}

/// The attribute encoded as `encoded` (a `KeyValue`).
pub(crate) fn attribute(encoded: &[u8]) -> Result<Attribute<'_>, StoreError> {
    if let Some(attribute) = simple_attribute(encoded) {
        return Ok(attribute);
    }
    let kv = KeyValue::decode(encoded).map_err(|e| bad(&e.to_string()))?;
    let int = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        Some(any_value::Value::StringValue(s)) => s.parse().ok(),
        _ => None,
    };
    let value = value::as_string(kv.value.as_ref());
    Ok(Attribute { key: Cow::Owned(kv.key), value: Cow::Owned(value), int })
}

/// One key field and at most one value field holding one string or int: read in place.
/// `None` for any other shape, which prost decodes.
fn simple_attribute(encoded: &[u8]) -> Option<Attribute<'_>> {
    let (mut key, mut value) = (None, None);
    for field in wire::fields(encoded) {
        match (field.ok()?, &mut key, &mut value) {
            (wire::Field { number: KEY_VALUE_KEY, value: FieldValue::Len(bytes), .. }, key @ None, _) => {
                *key = Some(std::str::from_utf8(bytes).ok()?);
            }
            (wire::Field { number: KEY_VALUE_VALUE, value: FieldValue::Len(bytes), .. }, _, value @ None) => {
                *value = Some(bytes);
            }
            _ => return None,
        }
    }
    let key = Cow::Borrowed(key?);
    let Some(value) = value else {
        return Some(Attribute { key, value: Cow::Borrowed(""), int: None });
    };
    let mut fields = wire::fields(value);
    let only = fields.next()?.ok()?;
    if fields.next().is_some() {
        return None;
    }
    match (only.number, only.value) {
        (ANY_VALUE_STRING, FieldValue::Len(bytes)) => {
            let text = std::str::from_utf8(bytes).ok()?;
            Some(Attribute { key, value: Cow::Borrowed(text), int: text.parse().ok() })
        }
        // Two's complement, as prost reads an int64 varint.
        (ANY_VALUE_INT, FieldValue::Varint(raw)) => {
            let int = raw as i64;
            Some(Attribute { key, value: Cow::Owned(int.to_string()), int: Some(int) })
        }
        _ => None,
    }
}

/// Calls `each` with every attribute of `span` (a `Span` encoding, or the block's `span`
/// column), list by list in encoding order, and only the first entry of each key within a
/// list, as pcommon's `Map.Get` finds it.
pub(crate) fn span_attributes<'a>(
    span: &'a [u8],
    mut each: impl FnMut(List, &Attribute<'a>),
) -> Result<(), StoreError> {
    let mut seen: Vec<Cow<'a, str>> = Vec::new();
    let mut list = |which: List, entries: &mut dyn Iterator<Item = Result<&'a [u8], StoreError>>| {
        seen.clear();
        for encoded in entries {
            let attribute = attribute(encoded?)?;
            if seen.contains(&attribute.key) {
                continue;
            }
            each(which, &attribute);
            seen.push(attribute.key);
        }
        Ok::<(), StoreError>(())
    };
    // The span's own attributes form one list, wherever their fields lie in the encoding.
    list(List::Span, &mut repeated(span, SPAN_ATTRIBUTES))?;
    for field in wire::fields(span) {
        let field = field.map_err(|e| bad(&e.to_string()))?;
        let inner_field = match field.number {
            SPAN_EVENTS => EVENT_ATTRIBUTES,
            SPAN_LINKS => LINK_ATTRIBUTES,
            _ => continue,
        };
        let FieldValue::Len(message) = field.value else {
            return Err(bad("an event or link that is not a message"));
        };
        list(List::Nested, &mut repeated(message, inner_field))?;
    }
    Ok(())
}

/// The contents of the length-delimited fields numbered `number` of `message`.
fn repeated(message: &[u8], number: u32) -> impl Iterator<Item = Result<&[u8], StoreError>> {
    wire::fields(message).filter_map(move |field| match field {
        Err(e) => Some(Err(bad(&e.to_string()))),
        Ok(field) if field.number != number => None,
        Ok(wire::Field { value: FieldValue::Len(bytes), .. }) => Some(Ok(bytes)),
        Ok(_) => Some(Err(bad("an attribute that is not a message"))),
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
    use spoor_pipeline::otlp::span::{Event, Link};
    use spoor_pipeline::otlp::{AnyValue, Span};

    use super::*;

    fn kv(key: &str, value: Option<any_value::Value>) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: value.map(|value| AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn text(s: &str) -> Option<any_value::Value> {
        Some(any_value::Value::StringValue(s.to_owned()))
    }

    /// What the decoded path gave: each list's first entry per key, as a string.
    fn decoded(span: &Span) -> Vec<(List, String, String)> {
        let mut out = Vec::new();
        let mut add = |list: List, attributes: &[KeyValue]| {
            let mut seen = std::collections::HashSet::new();
            for kv in attributes.iter().filter(|kv| seen.insert(kv.key.clone())) {
                out.push((list, kv.key.clone(), value::as_string(kv.value.as_ref())));
            }
        };
        add(List::Span, &span.attributes);
        for event in &span.events {
            add(List::Nested, &event.attributes);
        }
        for link in &span.links {
            add(List::Nested, &link.attributes);
        }
        out
    }

    fn walked(encoded: &[u8]) -> Vec<(List, String, String)> {
        let mut out = Vec::new();
        span_attributes(encoded, |list, a| out.push((list, a.key.to_string(), a.value.to_string()))).unwrap();
        out
    }

    #[test]
    fn reads_every_list_as_the_decoded_span_does() {
        let array = any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: text("x") }] });
        let span = Span {
            name: "op".into(),
            attributes: vec![
                kv("http.method", text("GET")),
                kv("http.status_code", Some(any_value::Value::IntValue(-404))),
                kv("http.method", text("POST")),
                kv("ratio", Some(any_value::Value::DoubleValue(0.5))),
                kv("ok", Some(any_value::Value::BoolValue(true))),
                kv("list", Some(array)),
                kv("none", None),
            ],
            events: vec![Event {
                name: "e".into(),
                attributes: vec![kv("exception.type", text("E"))],
                ..Default::default()
            }],
            links: vec![Link { attributes: vec![kv("link.kind", text("follows"))], ..Default::default() }],
            ..Default::default()
        };
        let encoded = span.encode_to_vec();
        assert_eq!(walked(&encoded), decoded(&span));
        assert_eq!(walked(&encoded)[1].2, "-404");
    }

    #[test]
    fn attribute_fields_split_around_other_fields_form_one_list() {
        let first = Span { attributes: vec![kv("a", text("1"))], ..Default::default() }.encode_to_vec();
        let name = Span { name: "between".into(), ..Default::default() }.encode_to_vec();
        let second =
            Span { attributes: vec![kv("a", text("2")), kv("b", text("3"))], ..Default::default() }.encode_to_vec();
        let encoded = [first, name, second].concat();
        let span = Span::decode(encoded.as_slice()).unwrap();
        assert_eq!(walked(&encoded), decoded(&span));
    }

    #[test]
    fn unusual_encodings_read_as_prost_reads_them() {
        // A key written twice (the last wins) and a value of two fields (the last wins).
        let mut odd = KeyValue { key: "first".into(), ..Default::default() }.encode_to_vec();
        odd.extend(kv("second", text("a")).encode_to_vec());
        odd.extend(
            KeyValue { value: Some(AnyValue { value: Some(any_value::Value::IntValue(7)) }), ..Default::default() }
                .encode_to_vec(),
        );
        let attribute = attribute(&odd).unwrap();
        assert_eq!((attribute.key.as_ref(), attribute.value.as_ref(), attribute.int), ("second", "7", Some(7)));
        assert!(super::attribute(&[0x0a, 0x02, 0xff, 0xfe]).is_err(), "a key that is not UTF-8");
    }

    #[test]
    fn ints_come_from_ints_and_numeric_strings() {
        let int = |kv: KeyValue| attribute(&kv.encode_to_vec()).unwrap().int;
        assert_eq!(int(kv("a", Some(any_value::Value::IntValue(503)))), Some(503));
        assert_eq!(int(kv("a", text("503"))), Some(503));
        assert_eq!(int(kv("a", text("x"))), None);
        assert_eq!(int(kv("a", Some(any_value::Value::DoubleValue(503.0)))), None);
    }
}
