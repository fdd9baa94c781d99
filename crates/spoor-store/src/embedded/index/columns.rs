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

use super::attrs::Attribute;

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

/// The fields appended to the block schema.
pub(crate) fn attribute_fields() -> Vec<Field> {
    let mut fields = vec![Field::new(STATUS_CODE_COLUMN.0, DataType::Int64, true)];
    fields.extend(STRING_COLUMNS.iter().map(|(name, _)| Field::new(*name, DataType::Utf8, true)));
    fields
}

/// The position of `key` among a column's keys (0 for the current name).
fn rank(keys: &[&str], key: &str) -> Option<usize> {
    keys.iter().position(|k| *k == key)
}

/// One span's typed values, offered its span attributes (each key's first entry) one by one:
/// each column keeps the attribute of its best-ranked key.
#[derive(Default)]
pub(crate) struct TypedRow {
    status: Option<(usize, Option<i64>)>,
    strings: [Option<(usize, String)>; STRING_COLUMNS.len()],
}

impl TypedRow {
    pub fn offer(&mut self, attribute: &Attribute<'_>) {
        let key = attribute.key.as_ref();
        if let Some(rank) = rank(STATUS_CODE_COLUMN.1, key)
            && self.status.as_ref().is_none_or(|(best, _)| rank < *best)
        {
            self.status = Some((rank, attribute.int));
        }
        for ((_, keys), slot) in STRING_COLUMNS.iter().zip(&mut self.strings) {
            if let Some(rank) = rank(keys, key)
                && slot.as_ref().is_none_or(|(best, _)| rank < *best)
            {
                *slot = Some((rank, attribute.value.clone().into_owned()));
            }
        }
    }
}

/// The columns of [`attribute_fields`] for a row group, a row at a time.
pub(crate) struct TypedColumns {
    status: Int64Builder,
    strings: Vec<StringBuilder>,
}

impl Default for TypedColumns {
    fn default() -> Self {
        Self { status: Int64Builder::new(), strings: STRING_COLUMNS.iter().map(|_| StringBuilder::new()).collect() }
    }
}

impl TypedColumns {
    pub fn append(&mut self, row: TypedRow) {
        self.status.append_option(row.status.and_then(|(_, int)| int));
        for (builder, value) in self.strings.iter_mut().zip(row.strings) {
            builder.append_option(value.map(|(_, value)| value));
        }
    }

    /// The columns of the rows appended since the last call.
    pub fn finish(&mut self) -> Vec<ArrayRef> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.status.finish())];
        columns.extend(self.strings.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, Int64Array, StringArray};
    use prost::Message;
    use spoor_pipeline::otlp::{AnyValue, KeyValue, Span, any_value};

    use super::*;
    use crate::embedded::index::attrs::{List, span_attributes};

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
                kv("http.request.method", text("PUT")),
            ]),
            span(vec![kv("http.response.status_code", text("503")), kv("db.system", text("postgresql"))]),
            span(vec![
                kv("http.response.status_code", text("x")),
                kv("http.status_code", any_value::Value::IntValue(1)),
            ]),
            span(Vec::new()),
        ];
        let mut typed = TypedColumns::default();
        for span in &spans {
            let mut row = TypedRow::default();
            span_attributes(span, |list, attribute| {
                if list == List::Span {
                    row.offer(attribute);
                }
            })
            .unwrap();
            typed.append(row);
        }
        let columns = typed.finish();
        assert_eq!(columns.len(), attribute_fields().len());
        let status = columns[0].as_any().downcast_ref::<Int64Array>().unwrap();
        // The current name wins even when its value is no integer.
        assert_eq!(status.iter().collect::<Vec<_>>(), vec![Some(404), Some(503), None, None]);
        let column = |name: &str| {
            let at = attribute_fields().iter().position(|f| f.name() == name).unwrap();
            let strings = columns[at].as_any().downcast_ref::<StringArray>().unwrap();
            (0..strings.len()).map(|i| strings.is_valid(i).then(|| strings.value(i).to_owned())).collect::<Vec<_>>()
        };
        assert_eq!(column("http_request_method"), vec![Some("GET".to_owned()), None, None, None]);
        assert_eq!(column("rpc_system"), vec![Some("true".to_owned()), None, None, None]);
        assert_eq!(column("db_system"), vec![None, Some("postgresql".to_owned()), None, None]);
    }
}
