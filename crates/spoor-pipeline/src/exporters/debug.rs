//! The `debug` exporter (alias `logging`): writes what it receives to stdout in the shapes of
//! the collector's debug exporter (`basic`, `normal`, `detailed`), sampled as its zap logger.
//!
//! The formatters are pure functions over a [`TraceBatch`]; the exporter only adds the log-line
//! framing and writes each batch with one locked write, so batches never interleave.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Deserializer};

use crate::batch::TraceBatch;
use crate::exporter::{ExportError, Exporter};
use crate::otlp::value::{double_as_string, go_json_float};
use crate::otlp::{AnyValue, KeyValue, any_value};
use crate::queue::QueueSettings;

/// How much the exporter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// One summary line per batch.
    #[default]
    Basic,
    /// The summary, then one line per span.
    Normal,
    /// The summary, then every field of every span.
    Detailed,
}

impl<'de> Deserialize<'de> for Verbosity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The collector parses levels case-insensitively.
        match text.to_ascii_lowercase().as_str() {
            "basic" => Ok(Self::Basic),
            "normal" => Ok(Self::Normal),
            "detailed" => Ok(Self::Detailed),
            "none" => Err(serde::de::Error::custom("verbosity level \"none\" is not supported")),
            _ => Err(serde::de::Error::custom(format!(
                "unknown verbosity level {text:?}, expected basic, normal or detailed"
            ))),
        }
    }
}

/// The deprecated `loglevel` of the `logging` exporter; it maps onto a verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_lowercase().as_str() {
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" => Ok(Self::Warn),
            "error" | "dpanic" | "panic" | "fatal" => Ok(Self::Error),
            _ => Err(serde::de::Error::custom(format!("unknown log level {text:?}"))),
        }
    }
}

/// The `debug` exporter's config, with the collector's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    verbosity: Option<Verbosity>,
    /// Deprecated (the `logging` exporter's key); `debug` means detailed, `info` normal, and
    /// anything higher basic.
    loglevel: Option<LogLevel>,
    /// Batches logged in full each second before sampling starts.
    pub sampling_initial: u64,
    /// After the initial batches, every n-th batch of the second is logged; 0 logs none.
    pub sampling_thereafter: u64,
    /// Accepted for compatibility; spoor always writes to stdout.
    pub use_internal_logger: bool,
    /// The collector's debug exporter has no queue unless one is configured.
    pub sending_queue: Option<QueueSettings>,
}

impl Default for DebugConfig {
    fn default() -> Self {
        Self {
            verbosity: None,
            loglevel: None,
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
            sending_queue: None,
        }
    }
}

impl DebugConfig {
    /// The effective verbosity; an error when both `verbosity` and `loglevel` are set, as in
    /// the collector.
    pub fn verbosity(&self) -> Result<Verbosity, String> {
        match (self.verbosity, self.loglevel) {
            (Some(_), Some(_)) => {
                Err("'loglevel' and 'verbosity' are incompatible, use only 'verbosity' instead".to_owned())
            }
            (Some(verbosity), None) => Ok(verbosity),
            (None, Some(LogLevel::Debug)) => Ok(Verbosity::Detailed),
            (None, Some(LogLevel::Info)) => Ok(Verbosity::Normal),
            (None, Some(_)) => Ok(Verbosity::Basic),
            (None, None) => Ok(Verbosity::Basic),
        }
    }

    /// The `sending_queue` when one is configured; the debug exporter has none by default.
    pub fn queue_settings(&self) -> Option<&QueueSettings> {
        self.sending_queue.as_ref()
    }
}

/// zap's sampler: per one-second window, the first `initial` entries pass, then every
/// `thereafter`-th.
#[derive(Debug)]
struct Sampler {
    initial: u64,
    thereafter: u64,
    window_start: Option<Instant>,
    count: u64,
}

const SAMPLING_TICK: Duration = Duration::from_secs(1);

impl Sampler {
    fn new(initial: u64, thereafter: u64) -> Self {
        Self { initial, thereafter, window_start: None, count: 0 }
    }

    fn admit(&mut self, now: Instant) -> bool {
        let expired = self.window_start.is_none_or(|start| now.saturating_duration_since(start) >= SAMPLING_TICK);
        if expired {
            self.window_start = Some(now);
            self.count = 0;
        }
        self.count += 1;
        if self.count <= self.initial {
            return true;
        }
        self.thereafter != 0 && (self.count - self.initial).is_multiple_of(self.thereafter)
    }
}

enum Output {
    Stdout,
    Writer(Mutex<Box<dyn Write + Send>>),
}

impl Output {
    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Stdout => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(bytes)?;
                stdout.flush()
            }
            Self::Writer(writer) => {
                let mut writer = writer.lock().unwrap_or_else(|poison| poison.into_inner());
                writer.write_all(bytes)?;
                writer.flush()
            }
        }
    }
}

pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
    sampler: Mutex<Sampler>,
    output: Output,
}

impl DebugExporter {
    /// A debug exporter writing to stdout. `id` is the component id (`debug`, `logging/x`),
    /// which the summary line names.
    pub fn new(id: impl Into<String>, config: &DebugConfig) -> Result<Self, String> {
        Ok(Self {
            id: id.into(),
            verbosity: config.verbosity()?,
            sampler: Mutex::new(Sampler::new(config.sampling_initial, config.sampling_thereafter)),
            output: Output::Stdout,
        })
    }

    /// Like [`DebugExporter::new`], writing to `writer` instead of stdout.
    pub fn with_writer(
        id: impl Into<String>,
        config: &DebugConfig,
        writer: Box<dyn Write + Send>,
    ) -> Result<Self, String> {
        let mut exporter = Self::new(id, config)?;
        exporter.output = Output::Writer(Mutex::new(writer));
        Ok(exporter)
    }

    fn sampled(&self) -> bool {
        let mut sampler = self.sampler.lock().unwrap_or_else(|poison| poison.into_inner());
        sampler.admit(Instant::now())
    }

    /// The text for one batch: the summary line and, above `basic`, the formatted spans,
    /// framed as the collector's console log lines.
    fn render(&self, batch: &TraceBatch, now: SystemTime) -> String {
        let timestamp = humantime::format_rfc3339_millis(now).to_string();
        let fields = component_fields(&self.id);
        let mut out = format!(
            "{timestamp}\tinfo\tTraces\t{{{fields}, \"resource spans\": {}, \"spans\": {}}}\n",
            batch.resource_spans().len(),
            batch.span_count()
        );
        let body = match self.verbosity {
            Verbosity::Basic => return out,
            Verbosity::Normal => format_normal(batch),
            Verbosity::Detailed => format_detailed(batch),
        };
        let _ = writeln!(out, "{timestamp}\tinfo\t{body}\t{{{fields}}}");
        out
    }
}

fn component_fields(id: &str) -> String {
    format!(
        "\"otelcol.component.id\": {}, \"otelcol.component.kind\": \"exporter\", \"otelcol.signal\": \"traces\"",
        json_string(id)
    )
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        if !self.sampled() {
            return Ok(());
        }
        let text = self.render(batch, SystemTime::now());
        // A closed or full stdout must not fail the pipeline, as in the collector, where the
        // logger swallows write errors.
        if let Err(err) = self.output.write(text.as_bytes()) {
            tracing::debug!(exporter = %self.id, error = %err, "debug exporter cannot write");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Formatters

/// The `normal` verbosity: a line per resource and scope, and one line per span with its name,
/// IDs and attributes.
pub fn format_normal(batch: &TraceBatch) -> String {
    let mut out = String::new();
    for (i, resource_spans) in batch.resource_spans().iter().enumerate() {
        let resource_attributes = resource_spans.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let schema = if resource_spans.schema_url.is_empty() {
            String::new()
        } else {
            format!(" [{}]", resource_spans.schema_url)
        };
        let _ = writeln!(out, "ResourceTraces #{i}{schema}{}", attributes_inline(resource_attributes));
        for (j, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            let (name, version, attributes) = match &scope_spans.scope {
                Some(scope) => (&scope.name[..], &scope.version[..], &scope.attributes[..]),
                None => ("", "", &[][..]),
            };
            let _ = writeln!(
                out,
                "ScopeTraces #{j}{}{}",
                scope_details(name, version, &scope_spans.schema_url),
                attributes_inline(attributes)
            );
            for span in &scope_spans.spans {
                let _ = writeln!(
                    out,
                    "{} {} {}{}",
                    span.name,
                    id_hex(&span.trace_id),
                    id_hex(&span.span_id),
                    attributes_inline(&span.attributes)
                );
            }
        }
    }
    out
}

fn scope_details(name: &str, version: &str, schema_url: &str) -> String {
    let mut details = name.to_owned();
    if !version.is_empty() {
        details.push('@');
        details.push_str(version);
    }
    if !schema_url.is_empty() {
        if !details.is_empty() {
            details.push(' ');
        }
        details.push('[');
        details.push_str(schema_url);
        details.push(']');
    }
    if details.is_empty() { details } else { format!(" {details}") }
}

/// ` k1=v1 k2=v2`, or nothing when there are no attributes.
fn attributes_inline(attributes: &[KeyValue]) -> String {
    let mut out = String::new();
    for attribute in attributes {
        let _ = write!(out, " {}={}", attribute.key, value_as_string(attribute.value.as_ref()));
    }
    out
}

/// The `detailed` verbosity: every resource, scope and span field, as the collector's
/// `otlptext` marshaler prints them.
pub fn format_detailed(batch: &TraceBatch) -> String {
    let mut out = String::new();
    for (i, resource_spans) in batch.resource_spans().iter().enumerate() {
        let _ = writeln!(out, "ResourceSpans #{i}");
        let _ = writeln!(out, "Resource SchemaURL: {}", resource_spans.schema_url);
        if let Some(resource) = &resource_spans.resource {
            log_attributes(&mut out, "Resource attributes", &resource.attributes);
            log_entity_refs(&mut out, resource);
        }
        for (j, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            let _ = writeln!(out, "ScopeSpans #{j}");
            let _ = writeln!(out, "ScopeSpans SchemaURL: {}", scope_spans.schema_url);
            match &scope_spans.scope {
                Some(scope) => {
                    let _ = writeln!(out, "InstrumentationScope {} {}", scope.name, scope.version);
                    log_attributes(&mut out, "InstrumentationScope attributes", &scope.attributes);
                }
                None => out.push_str("InstrumentationScope  \n"),
            }
            for (k, span) in scope_spans.spans.iter().enumerate() {
                let _ = writeln!(out, "Span #{k}");
                log_span(&mut out, span);
            }
        }
    }
    out
}

fn log_span(out: &mut String, span: &crate::otlp::Span) {
    let status = span.status.as_ref();
    log_field(out, "Trace ID", &id_hex(&span.trace_id));
    log_field(out, "Parent ID", &id_hex(&span.parent_span_id));
    log_field(out, "ID", &id_hex(&span.span_id));
    log_field(out, "Name", &span.name);
    log_field(out, "Kind", span_kind_name(span.kind));
    if !span.trace_state.is_empty() {
        log_field(out, "TraceState", &span.trace_state);
    }
    log_field(out, "Start time", &go_timestamp(span.start_time_unix_nano));
    log_field(out, "End time", &go_timestamp(span.end_time_unix_nano));
    log_field(out, "Status code", status_code_name(status.map_or(0, |s| s.code)));
    log_field(out, "Status message", status.map_or("", |s| &s.message));
    log_field(out, "DroppedAttributesCount", &span.dropped_attributes_count.to_string());
    log_field(out, "DroppedEventsCount", &span.dropped_events_count.to_string());
    log_field(out, "DroppedLinksCount", &span.dropped_links_count.to_string());
    log_attributes(out, "Attributes", &span.attributes);
    if !span.events.is_empty() {
        out.push_str("Events:\n");
        for (n, event) in span.events.iter().enumerate() {
            let _ = writeln!(out, "SpanEvent #{n}");
            let _ = writeln!(out, "     -> Name: {}", event.name);
            let _ = writeln!(out, "     -> Timestamp: {}", go_timestamp(event.time_unix_nano));
            let _ = writeln!(out, "     -> DroppedAttributesCount: {}", event.dropped_attributes_count);
            log_attributes(out, "     -> Attributes:", &event.attributes);
        }
    }
    if !span.links.is_empty() {
        out.push_str("Links:\n");
        for (n, link) in span.links.iter().enumerate() {
            let _ = writeln!(out, "SpanLink #{n}");
            let _ = writeln!(out, "     -> Trace ID: {}", id_hex(&link.trace_id));
            let _ = writeln!(out, "     -> ID: {}", id_hex(&link.span_id));
            let _ = writeln!(out, "     -> TraceState: {}", link.trace_state);
            let _ = writeln!(out, "     -> DroppedAttributesCount: {}", link.dropped_attributes_count);
            log_attributes(out, "     -> Attributes:", &link.attributes);
        }
    }
}

/// `    Name           : value` (Go's `%-15s: %s`).
fn log_field(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "    {name:<15}: {value}");
}

/// A header line and one `-> key: Type(value)` line per attribute; a header containing `->`
/// indents the attributes under it, as the collector does for event and link attributes.
fn log_attributes(out: &mut String, header: &str, attributes: &[KeyValue]) {
    if attributes.is_empty() {
        return;
    }
    let _ = writeln!(out, "{header}:");
    let prefix = match header.split_once("->") {
        Some((indent, _)) => format!("{indent}     ->"),
        None => "     ->".to_owned(),
    };
    for attribute in attributes {
        let _ = writeln!(out, "{prefix} {}: {}", attribute.key, typed_value(attribute.value.as_ref()));
    }
}

fn log_entity_refs(out: &mut String, resource: &crate::otlp::Resource) {
    if resource.entity_refs.is_empty() {
        return;
    }
    out.push_str("Resource entity refs:\n");
    for (i, entity) in resource.entity_refs.iter().enumerate() {
        let _ = writeln!(out, "     -> Entity ref #{i}:");
        let _ = writeln!(out, "          -> Type: {}", entity.r#type);
        if !entity.schema_url.is_empty() {
            let _ = writeln!(out, "          -> Schema URL: {}", entity.schema_url);
        }
        for (title, keys) in [("ID keys", &entity.id_keys), ("Description keys", &entity.description_keys)] {
            if !keys.is_empty() {
                let _ = writeln!(out, "          -> {title}:");
                for key in keys {
                    let _ = writeln!(out, "               -> {key}");
                }
            }
        }
    }
}

/// Lowercase hex, or nothing for an all-zero (unset) ID, as pdata prints IDs.
fn id_hex(id: &[u8]) -> String {
    if id.iter().all(|b| *b == 0) { String::new() } else { hex::encode(id) }
}

fn span_kind_name(kind: i32) -> &'static str {
    match kind {
        0 => "Unspecified",
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "",
    }
}

fn status_code_name(code: i32) -> &'static str {
    match code {
        0 => "Unset",
        1 => "Ok",
        2 => "Error",
        _ => "",
    }
}

/// Go's `time.Time.String()` in UTC: `2020-02-11 20:26:12.000000321 +0000 UTC`, with the
/// fraction's trailing zeros trimmed and no fraction for whole seconds.
pub fn go_timestamp(unix_nanos: u64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_nanos(unix_nanos);
    // `2020-02-11T20:26:12.000000321Z`
    let rfc3339 = humantime::format_rfc3339_nanos(time).to_string();
    let rfc3339 = rfc3339.trim_end_matches('Z');
    let (date, clock) = rfc3339.split_once('T').unwrap_or((rfc3339, ""));
    let clock = match clock.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() { whole.to_owned() } else { format!("{whole}.{fraction}") }
        }
        None => clock.to_owned(),
    };
    format!("{date} {clock} +0000 UTC")
}

/// `Type(value)`, as pdata's `Value.Type().String()` and `AsString()`.
fn typed_value(value: Option<&AnyValue>) -> String {
    let type_name = match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(_)) => "Str",
        Some(any_value::Value::BoolValue(_)) => "Bool",
        Some(any_value::Value::IntValue(_)) => "Int",
        Some(any_value::Value::DoubleValue(_)) => "Double",
        Some(any_value::Value::ArrayValue(_)) => "Slice",
        Some(any_value::Value::KvlistValue(_)) => "Map",
        Some(any_value::Value::BytesValue(_)) => "Bytes",
        Some(any_value::Value::StringValueStrindex(_)) | None => "Empty",
    };
    format!("{type_name}({})", value_as_string(value))
}

/// pdata's `Value.AsString()`: raw strings, JSON for maps and slices, base64 for bytes.
fn value_as_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => double_as_string(*d),
        Some(any_value::Value::BytesValue(bytes)) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            let mut json = String::new();
            write_json(&mut json, value);
            json
        }
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

/// Go's `json.Marshal` of pdata's `AsRaw()`: map keys sorted, HTML characters escaped.
fn write_json(out: &mut String, value: Option<&AnyValue>) {
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(any_value::Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(any_value::Value::StringValue(s)) => out.push_str(&json_string(s)),
        Some(any_value::Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => out.push_str(&i.to_string()),
        Some(any_value::Value::DoubleValue(d)) => out.push_str(go_json_float(*d).as_deref().unwrap_or("null")),
        Some(any_value::Value::BytesValue(bytes)) => {
            out.push_str(&json_string(&base64::engine::general_purpose::STANDARD.encode(bytes)))
        }
        Some(any_value::Value::ArrayValue(array)) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, Some(item));
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let mut entries: Vec<&KeyValue> = list.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            // Go maps keep the last value of a repeated key.
            entries.dedup_by(|later, earlier| {
                if later.key == earlier.key {
                    std::mem::swap(later, earlier);
                    true
                } else {
                    false
                }
            });
            out.push('{');
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(&entry.key));
                out.push(':');
                write_json(out, entry.value.as_ref());
            }
            out.push('}');
        }
    }
}

/// A JSON string literal escaped as Go's encoder does by default.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status, span};
    use std::sync::Arc;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn str_kv(key: &str, value: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(value.to_owned()))
    }

    /// The collector's `two_spans` fixture (otlptext testdata), rebuilt in OTLP types.
    fn two_spans() -> TraceBatch {
        let first = Span {
            trace_id: (1..=16).collect(),
            span_id: (0x11..=0x18).collect(),
            trace_state: "ot=th:0".to_owned(),
            name: "operationA".to_owned(),
            start_time_unix_nano: 1_581_452_772_000_000_321,
            end_time_unix_nano: 1_581_452_773_000_000_789,
            dropped_attributes_count: 1,
            events: vec![
                span::Event {
                    time_unix_nano: 1_581_452_773_000_000_123,
                    name: "event-with-attr".to_owned(),
                    attributes: vec![str_kv("span-event-attr", "span-event-attr-val")],
                    dropped_attributes_count: 2,
                },
                span::Event {
                    time_unix_nano: 1_581_452_773_000_000_123,
                    name: "event".to_owned(),
                    attributes: vec![],
                    dropped_attributes_count: 2,
                },
            ],
            dropped_events_count: 1,
            status: Some(Status { message: "status-cancelled".to_owned(), code: 2 }),
            ..Default::default()
        };
        let second = Span {
            name: "operationB".to_owned(),
            start_time_unix_nano: 1_581_452_772_000_000_321,
            end_time_unix_nano: 1_581_452_773_000_000_789,
            links: vec![
                span::Link {
                    attributes: vec![str_kv("span-link-attr", "span-link-attr-val")],
                    dropped_attributes_count: 4,
                    ..Default::default()
                },
                span::Link { dropped_attributes_count: 4, ..Default::default() },
            ],
            dropped_links_count: 3,
            ..Default::default()
        };
        TraceBatch::new(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![str_kv("resource-attr", "resource-attr-val-1")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans: vec![first, second], ..Default::default() }],
            ..Default::default()
        }])
    }

    const TWO_SPANS_DETAILED: &str = "ResourceSpans #0
Resource SchemaURL: 
Resource attributes:
     -> resource-attr: Str(resource-attr-val-1)
ScopeSpans #0
ScopeSpans SchemaURL: 
InstrumentationScope  
Span #0
    Trace ID       : 0102030405060708090a0b0c0d0e0f10
    Parent ID      : 
    ID             : 1112131415161718
    Name           : operationA
    Kind           : Unspecified
    TraceState     : ot=th:0
    Start time     : 2020-02-11 20:26:12.000000321 +0000 UTC
    End time       : 2020-02-11 20:26:13.000000789 +0000 UTC
    Status code    : Error
    Status message : status-cancelled
    DroppedAttributesCount: 1
    DroppedEventsCount: 1
    DroppedLinksCount: 0
Events:
SpanEvent #0
     -> Name: event-with-attr
     -> Timestamp: 2020-02-11 20:26:13.000000123 +0000 UTC
     -> DroppedAttributesCount: 2
     -> Attributes::
          -> span-event-attr: Str(span-event-attr-val)
SpanEvent #1
     -> Name: event
     -> Timestamp: 2020-02-11 20:26:13.000000123 +0000 UTC
     -> DroppedAttributesCount: 2
Span #1
    Trace ID       : 
    Parent ID      : 
    ID             : 
    Name           : operationB
    Kind           : Unspecified
    Start time     : 2020-02-11 20:26:12.000000321 +0000 UTC
    End time       : 2020-02-11 20:26:13.000000789 +0000 UTC
    Status code    : Unset
    Status message : 
    DroppedAttributesCount: 0
    DroppedEventsCount: 0
    DroppedLinksCount: 3
Links:
SpanLink #0
     -> Trace ID: 
     -> ID: 
     -> TraceState: 
     -> DroppedAttributesCount: 4
     -> Attributes::
          -> span-link-attr: Str(span-link-attr-val)
SpanLink #1
     -> Trace ID: 
     -> ID: 
     -> TraceState: 
     -> DroppedAttributesCount: 4
";

    #[test]
    fn detailed_matches_the_collectors_two_spans_fixture() {
        assert_eq!(format_detailed(&two_spans()), TWO_SPANS_DETAILED);
    }

    #[test]
    fn detailed_prints_typed_values_scope_and_kinds() {
        let batch = TraceBatch::new(vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![str_kv("service.name", "telemetrygen")], ..Default::default() }),
            schema_url: "https://opentelemetry.io/schemas/1.4.0".to_owned(),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "telemetrygen".to_owned(),
                    version: "1.0".to_owned(),
                    attributes: vec![kv("scope.flag", any_value::Value::BoolValue(true))],
                    dropped_attributes_count: 0,
                }),
                spans: vec![Span {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    parent_span_id: vec![0x01; 8],
                    name: "okey-dokey".to_owned(),
                    kind: 2,
                    start_time_unix_nano: 1_699_678_143_509_369_393,
                    end_time_unix_nano: 1_699_678_143_000_000_000,
                    attributes: vec![
                        kv("int", any_value::Value::IntValue(-42)),
                        kv("double", any_value::Value::DoubleValue(1.5)),
                        kv("bytes", any_value::Value::BytesValue(b"hi".to_vec())),
                        kv(
                            "list",
                            any_value::Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                                values: vec![
                                    AnyValue { value: Some(any_value::Value::StringValue("a<b".into())) },
                                    AnyValue { value: Some(any_value::Value::IntValue(7)) },
                                ],
                            }),
                        ),
                        kv(
                            "map",
                            any_value::Value::KvlistValue(opentelemetry_proto::tonic::common::v1::KeyValueList {
                                values: vec![
                                    kv("z", any_value::Value::DoubleValue(1e21)),
                                    kv("a", any_value::Value::BoolValue(false)),
                                ],
                            }),
                        ),
                        KeyValue { key: "empty".to_owned(), value: None, ..Default::default() },
                    ],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
        }]);
        let text = format_detailed(&batch);
        let expected = "ResourceSpans #0
Resource SchemaURL: https://opentelemetry.io/schemas/1.4.0
Resource attributes:
     -> service.name: Str(telemetrygen)
ScopeSpans #0
ScopeSpans SchemaURL: 
InstrumentationScope telemetrygen 1.0
InstrumentationScope attributes:
     -> scope.flag: Bool(true)
Span #0
    Trace ID       : abababababababababababababababab
    Parent ID      : 0101010101010101
    ID             : cdcdcdcdcdcdcdcd
    Name           : okey-dokey
    Kind           : Server
    Start time     : 2023-11-11 04:49:03.509369393 +0000 UTC
    End time       : 2023-11-11 04:49:03 +0000 UTC
    Status code    : Unset
    Status message : 
    DroppedAttributesCount: 0
    DroppedEventsCount: 0
    DroppedLinksCount: 0
Attributes:
     -> int: Int(-42)
     -> double: Double(1.5)
     -> bytes: Bytes(aGk=)
     -> list: Slice([\"a\\u003cb\",7])
     -> map: Map({\"a\":false,\"z\":1e+21})
     -> empty: Empty()
";
        assert_eq!(text, expected);
    }

    #[test]
    fn normal_matches_the_collectors_format() {
        let mut batch = two_spans();
        let mut resource_spans = batch.into_resource_spans();
        resource_spans[0].schema_url = "https://opentelemetry.io/resource-schema-url".to_owned();
        resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
            name: "scope-name".to_owned(),
            version: "1.2.3".to_owned(),
            attributes: vec![kv("scopeKey2", any_value::Value::BoolValue(true))],
            dropped_attributes_count: 0,
        });
        resource_spans[0].scope_spans[0].spans[0].attributes =
            vec![str_kv("key1", "value1"), kv("key2", any_value::Value::IntValue(2))];
        batch = TraceBatch::new(resource_spans);
        let expected =
            "ResourceTraces #0 [https://opentelemetry.io/resource-schema-url] resource-attr=resource-attr-val-1
ScopeTraces #0 scope-name@1.2.3 scopeKey2=true
operationA 0102030405060708090a0b0c0d0e0f10 1112131415161718 key1=value1 key2=2
operationB  \n";
        assert_eq!(format_normal(&batch), expected);
        assert_eq!(format_normal(&TraceBatch::default()), "");
    }

    #[test]
    fn go_timestamps() {
        assert_eq!(go_timestamp(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_timestamp(1_699_678_143_509_493_770), "2023-11-11 04:49:03.50949377 +0000 UTC");
    }

    #[test]
    fn config_defaults_and_loglevel_mapping() {
        let config: DebugConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.verbosity(), Ok(Verbosity::Basic));
        assert_eq!((config.sampling_initial, config.sampling_thereafter), (2, 1));
        assert!(config.queue_settings().is_none());

        let config: DebugConfig = serde_json::from_str(r#"{"verbosity": "Detailed"}"#).unwrap();
        assert_eq!(config.verbosity(), Ok(Verbosity::Detailed));
        let config: DebugConfig = serde_json::from_str(r#"{"loglevel": "debug"}"#).unwrap();
        assert_eq!(config.verbosity(), Ok(Verbosity::Detailed));
        let config: DebugConfig = serde_json::from_str(r#"{"loglevel": "info"}"#).unwrap();
        assert_eq!(config.verbosity(), Ok(Verbosity::Normal));
        let config: DebugConfig = serde_json::from_str(r#"{"loglevel": "info", "verbosity": "basic"}"#).unwrap();
        assert!(config.verbosity().is_err());

        assert!(serde_json::from_str::<DebugConfig>(r#"{"verbosity": "loud"}"#).is_err());
        assert!(serde_json::from_str::<DebugConfig>(r#"{"verbosity": "none"}"#).is_err());
        assert!(serde_json::from_str::<DebugConfig>(r#"{"colour": true}"#).is_err());
    }

    #[test]
    fn sampler_passes_initial_then_every_nth_per_second() {
        let start = Instant::now();
        let mut sampler = Sampler::new(2, 3);
        let admitted: Vec<bool> = (0..8).map(|_| sampler.admit(start)).collect();
        assert_eq!(admitted, [true, true, false, false, true, false, false, true]);
        // A new second starts over.
        assert!(sampler.admit(start + Duration::from_millis(1000)));

        let mut never_after = Sampler::new(1, 0);
        assert!(never_after.admit(start));
        assert!(!never_after.admit(start));
        assert!(!never_after.admit(start));
    }

    #[derive(Clone, Default)]
    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn exporter_writes_summary_and_spans() {
        let buffer = SharedBuffer::default();
        let config: DebugConfig = serde_json::from_str(r#"{"verbosity": "normal"}"#).unwrap();
        let exporter = DebugExporter::with_writer("debug/x", &config, Box::new(buffer.clone())).unwrap();
        exporter.export(&two_spans()).await.unwrap();
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let first_line = text.lines().next().unwrap();
        assert!(first_line.contains("\tinfo\tTraces\t{\"otelcol.component.id\": \"debug/x\""));
        assert!(first_line.ends_with("\"resource spans\": 1, \"spans\": 2}"), "{first_line}");
        assert!(text.contains("operationA 0102030405060708090a0b0c0d0e0f10"), "{text}");
        assert!(text.ends_with("\t{\"otelcol.component.id\": \"debug/x\", \"otelcol.component.kind\": \"exporter\", \"otelcol.signal\": \"traces\"}\n"), "{text}");
    }

    #[tokio::test]
    async fn basic_prints_one_line_and_sampling_drops_the_rest() {
        let buffer = SharedBuffer::default();
        let config: DebugConfig = serde_json::from_str(r#"{"sampling_initial": 1, "sampling_thereafter": 0}"#).unwrap();
        let exporter = DebugExporter::with_writer("debug", &config, Box::new(buffer.clone())).unwrap();
        for _ in 0..3 {
            exporter.export(&two_spans()).await.unwrap();
        }
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    struct BrokenPipe;

    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn write_errors_do_not_fail_the_export() {
        let exporter = DebugExporter::with_writer("debug", &DebugConfig::default(), Box::new(BrokenPipe)).unwrap();
        assert_eq!(exporter.export(&two_spans()).await, Ok(()));
    }
}
