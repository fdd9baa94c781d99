//! OTLP/JSON as pdata's JSON marshaler writes it (api_v3 HTTP responses): lowerCamelCase keys
//! in proto field order, hex IDs, 64-bit integers as strings, enums as numbers, zero scalars
//! and empty lists left out, embedded messages (resource, scope, status) always present.

use base64::Engine;
use spoor_pipeline::otlp::value::go_json_float;
use spoor_pipeline::otlp::{
    AnyValue, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    any_value, span,
};

/// Parses an OTLP/JSON `TracesData` (the body of `/api/transform`).
pub fn parse_traces(body: &[u8]) -> Result<Vec<ResourceSpans>, serde_json::Error> {
    let request: ExportTraceServiceRequest = serde_json::from_slice(body)?;
    Ok(request.resource_spans)
}

/// `TracesData` as JSON text.
pub fn traces_data_json(resource_spans: &[ResourceSpans]) -> String {
    let mut w = Writer::default();
    w.open();
    w.list("resourceSpans", resource_spans, Writer::resource_spans);
    w.close();
    w.out
}

#[derive(Default)]
struct Writer {
    out: String,
    first: bool,
}

impl Writer {
    fn open(&mut self) {
        self.out.push('{');
        self.first = true;
    }

    fn close(&mut self) {
        self.out.push('}');
        self.first = false;
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    fn string(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.key(key);
            self.push_json_string(value);
        }
    }

    fn push_json_string(&mut self, value: &str) {
        self.out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".into()));
    }

    fn hex(&mut self, key: &str, bytes: &[u8]) {
        if !bytes.is_empty() && bytes.iter().any(|b| *b != 0) {
            self.key(key);
            self.out.push('"');
            self.out.push_str(&hex::encode(bytes));
            self.out.push('"');
        }
    }

    fn number(&mut self, key: &str, value: u64) {
        if value != 0 {
            self.key(key);
            self.out.push_str(&value.to_string());
        }
    }

    fn int_enum(&mut self, key: &str, value: i32) {
        if value != 0 {
            self.key(key);
            self.out.push_str(&value.to_string());
        }
    }

    fn quoted_u64(&mut self, key: &str, value: u64) {
        if value != 0 {
            self.key(key);
            self.out.push('"');
            self.out.push_str(&value.to_string());
            self.out.push('"');
        }
    }

    fn list<T>(&mut self, key: &str, items: &[T], write: fn(&mut Self, &T)) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write(self, item);
        }
        self.out.push(']');
    }

    fn message(&mut self, key: &str, write: impl FnOnce(&mut Self)) {
        self.key(key);
        self.open();
        write(self);
        self.close();
    }

    fn resource_spans(&mut self, rs: &ResourceSpans) {
        self.open();
        let resource = rs.resource.clone().unwrap_or_default();
        self.message("resource", |w| w.resource(&resource));
        self.list("scopeSpans", &rs.scope_spans, Self::scope_spans);
        self.string("schemaUrl", &rs.schema_url);
        self.close();
    }

    fn resource(&mut self, resource: &Resource) {
        self.list("attributes", &resource.attributes, Self::key_value);
        self.number("droppedAttributesCount", resource.dropped_attributes_count.into());
    }

    fn scope_spans(&mut self, ss: &ScopeSpans) {
        self.open();
        let scope = ss.scope.clone().unwrap_or_default();
        self.message("scope", |w| w.scope(&scope));
        self.list("spans", &ss.spans, Self::span);
        self.string("schemaUrl", &ss.schema_url);
        self.close();
    }

    fn scope(&mut self, scope: &InstrumentationScope) {
        self.string("name", &scope.name);
        self.string("version", &scope.version);
        self.list("attributes", &scope.attributes, Self::key_value);
        self.number("droppedAttributesCount", scope.dropped_attributes_count.into());
    }

    fn span(&mut self, s: &Span) {
        self.open();
        self.hex("traceId", &s.trace_id);
        self.hex("spanId", &s.span_id);
        self.string("traceState", &s.trace_state);
        self.hex("parentSpanId", &s.parent_span_id);
        self.number("flags", s.flags.into());
        self.string("name", &s.name);
        self.int_enum("kind", s.kind);
        self.quoted_u64("startTimeUnixNano", s.start_time_unix_nano);
        self.quoted_u64("endTimeUnixNano", s.end_time_unix_nano);
        self.list("attributes", &s.attributes, Self::key_value);
        self.number("droppedAttributesCount", s.dropped_attributes_count.into());
        self.list("events", &s.events, Self::event);
        self.number("droppedEventsCount", s.dropped_events_count.into());
        self.list("links", &s.links, Self::link);
        self.number("droppedLinksCount", s.dropped_links_count.into());
        let status = s.status.clone().unwrap_or_default();
        self.message("status", |w| {
            w.string("message", &status.message);
            w.int_enum("code", status.code);
        });
        self.close();
    }

    fn event(&mut self, e: &span::Event) {
        self.open();
        self.quoted_u64("timeUnixNano", e.time_unix_nano);
        self.string("name", &e.name);
        self.list("attributes", &e.attributes, Self::key_value);
        self.number("droppedAttributesCount", e.dropped_attributes_count.into());
        self.close();
    }

    fn link(&mut self, l: &span::Link) {
        self.open();
        self.hex("traceId", &l.trace_id);
        self.hex("spanId", &l.span_id);
        self.string("traceState", &l.trace_state);
        self.list("attributes", &l.attributes, Self::key_value);
        self.number("droppedAttributesCount", l.dropped_attributes_count.into());
        self.number("flags", l.flags.into());
        self.close();
    }

    fn key_value(&mut self, kv: &KeyValue) {
        self.open();
        self.string("key", &kv.key);
        let value = kv.value.clone().unwrap_or_default();
        self.message("value", |w| w.any_value(&value));
        self.close();
    }

    fn any_value(&mut self, value: &AnyValue) {
        use any_value::Value;
        match &value.value {
            None | Some(Value::StringValueStrindex(_)) => {}
            Some(Value::StringValue(s)) => {
                self.key("stringValue");
                self.push_json_string(s);
            }
            Some(Value::BoolValue(b)) => {
                self.key("boolValue");
                self.out.push_str(if *b { "true" } else { "false" });
            }
            Some(Value::IntValue(i)) => {
                self.key("intValue");
                self.out.push_str(&format!("\"{i}\""));
            }
            Some(Value::DoubleValue(d)) => {
                self.key("doubleValue");
                match go_json_float(*d) {
                    Some(text) => self.out.push_str(&text),
                    None if d.is_nan() => self.out.push_str("\"NaN\""),
                    None if *d > 0.0 => self.out.push_str("\"Infinity\""),
                    None => self.out.push_str("\"-Infinity\""),
                }
            }
            Some(Value::BytesValue(b)) => {
                self.key("bytesValue");
                self.push_json_string(&base64::engine::general_purpose::STANDARD.encode(b));
            }
            Some(Value::ArrayValue(a)) => {
                let values = a.values.clone();
                self.message("arrayValue", |w| w.list("values", &values, Self::any_value_object));
            }
            Some(Value::KvlistValue(l)) => {
                let values = l.values.clone();
                self.message("kvlistValue", |w| w.list("values", &values, Self::key_value));
            }
        }
    }

    fn any_value_object(&mut self, value: &AnyValue) {
        self.open();
        self.any_value(value);
        self.close();
    }
}
