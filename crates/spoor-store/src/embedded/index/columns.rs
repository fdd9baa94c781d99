//! Typed block columns for well-known span attributes, so that DuckDB or pyarrow can filter
//! a block on them without decoding the `span` protobuf. They are appended at the end of the
//! block schema, nullable (null when the span lacks the attribute); the attributes stay in
//! `span` too, which remains what a span is read back from.
//!
//! Names follow the OpenTelemetry semantic conventions (HTTP, database, RPC and messaging
//! spans, `error.type`), dots as underscores; the older names the conventions replaced fill a
//! column when the current one is absent: `http.method`, `http.status_code`, `http.url`,
//! `db.system` (for `db.system.name`) and `db.operation`. Each value is the first entry of its
//! key (pcommon's `Map.Get`), as a search prints it (`value::as_string`), except
//! `http_response_status_code`, an integer (null when the value is not one).

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_schema::{DataType, Field};
use prost::Message;
use spoor_pipeline::otlp::{KeyValue, any_value, value};

use crate::StoreError;
use crate::embedded::block::RawRow;

/// Column name, then the attribute keys that fill it, the current one first.
const STRING_COLUMNS: [(&str, &[&str]); 11] = [
    ("http_request_method", &["http.request.method", "http.method"]),
    ("http_route", &["http.route"]),
    ("url_full", &["url.full", "http.url"]),
    ("server_address", &["server.address"]),
    ("db_system", &["db.system.name", "db.system"]),
    ("db_operation_name", &["db.operation.name", "db.operation"]),
    ("rpc_system", &["rpc.system"]),
    ("rpc_service", &["rpc.service"]),
    ("rpc_method", &["rpc.method"]),
    ("messaging_system", &["messaging.system"]),
    ("error_type", &["error.type"]),
];
const STATUS_CODE_COLUMN: (&str, &[&str]) =
    ("http_response_status_code", &["http.response.status_code", "http.status_code"]);

/// Only a span's attributes (field 9 of OTLP's `Span`): decoding skips everything else.
#[derive(Clone, PartialEq, Message)]
struct SpanAttributes {
    #[prost(message, repeated, tag = "9")]
    attributes: Vec<KeyValue>,
}

/// The fields appended to the block schema.
pub(crate) fn attribute_fields() -> Vec<Field> {
    let mut fields = vec![Field::new(STATUS_CODE_COLUMN.0, DataType::Int64, true)];
    fields.extend(STRING_COLUMNS.iter().map(|(name, _)| Field::new(*name, DataType::Utf8, true)));
    fields
}

fn first<'a>(attributes: &'a [KeyValue], keys: &[&str]) -> Option<&'a KeyValue> {
    keys.iter().find_map(|key| attributes.iter().find(|kv| kv.key == *key))
}

fn as_int(kv: &KeyValue) -> Option<i64> {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        Some(any_value::Value::StringValue(s)) => s.parse().ok(),
        _ => None,
    }
}

/// The columns of [`attribute_fields`] for `rows`, from each row's span attributes.
pub(crate) fn attribute_columns(rows: &[RawRow]) -> Result<Vec<ArrayRef>, StoreError> {
    let mut status = Int64Builder::with_capacity(rows.len());
    let mut strings: Vec<StringBuilder> = STRING_COLUMNS.iter().map(|_| StringBuilder::new()).collect();
    for row in rows {
        let span = SpanAttributes::decode(row.span.as_slice())
            .map_err(|e| StoreError::Other(format!("bad span in block row: {e}")))?;
        status.append_option(first(&span.attributes, STATUS_CODE_COLUMN.1).and_then(as_int));
        for ((_, keys), builder) in STRING_COLUMNS.iter().zip(&mut strings) {
            builder.append_option(first(&span.attributes, keys).map(|kv| value::as_string(kv.value.as_ref())));
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(status.finish())];
    columns.extend(strings.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, Int64Array, StringArray};
    use spoor_pipeline::otlp::{AnyValue, Span};

    use super::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    #[test]
    fn current_names_win_older_names_fill_in_and_absent_is_null() {
        let span = |attributes| Span { attributes, ..Default::default() }.encode_to_vec();
        let text = |s: &str| any_value::Value::StringValue(s.to_owned());
        let spans = [
            span(vec![
                kv("http.method", text("POST")),
                kv("http.request.method", text("GET")),
                kv("http.status_code", any_value::Value::IntValue(404)),
                kv("rpc.system", any_value::Value::BoolValue(true)),
            ]),
            span(vec![kv("http.response.status_code", text("503")), kv("db.system", text("postgresql"))]),
            span(Vec::new()),
        ];
        let rows: Vec<RawRow> = spans
            .into_iter()
            .map(|span| RawRow {
                trace_id: [1; 16],
                span_id: vec![1],
                parent_span_id: Vec::new(),
                service_name: "s".to_owned(),
                name: String::new(),
                kind: 0,
                status_code: 0,
                status_message: String::new(),
                start: 0,
                duration: 0,
                resource: bytes::Bytes::new(),
                scope: bytes::Bytes::new(),
                span,
            })
            .collect();
        let columns = attribute_columns(&rows).unwrap();
        assert_eq!(columns.len(), attribute_fields().len());
        let status = columns[0].as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(status.iter().collect::<Vec<_>>(), vec![Some(404), Some(503), None]);
        let column = |name: &str| {
            let at = attribute_fields().iter().position(|f| f.name() == name).unwrap();
            let strings = columns[at].as_any().downcast_ref::<StringArray>().unwrap();
            (0..strings.len()).map(|i| strings.is_valid(i).then(|| strings.value(i).to_owned())).collect::<Vec<_>>()
        };
        assert_eq!(column("http_request_method"), vec![Some("GET".to_owned()), None, None]);
        assert_eq!(column("rpc_system"), vec![Some("true".to_owned()), None, None]);
        assert_eq!(column("db_system"), vec![None, Some("postgresql".to_owned()), None]);
    }
}
