//! The collector's top-level layout: components by kind, and the `service` section.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use crate::document::Document;
use crate::error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    Receiver,
    Processor,
    Exporter,
    Extension,
    Connector,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 5] =
        [Self::Receiver, Self::Processor, Self::Exporter, Self::Extension, Self::Connector];

    /// The top-level YAML key for this kind.
    pub fn section(self) -> &'static str {
        match self {
            Self::Receiver => "receivers",
            Self::Processor => "processors",
            Self::Exporter => "exporters",
            Self::Extension => "extensions",
            Self::Connector => "connectors",
        }
    }
}

/// `type[/name]`, as in `otlp/backend`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    pub kind_name: String,
    pub name: Option<String>,
}

impl ComponentId {
    pub fn type_name(&self) -> &str {
        &self.kind_name
    }
}

impl FromStr for ComponentId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (type_name, name) = match text.split_once('/') {
            Some((type_name, name)) => (type_name, Some(name)),
            None => (text, None),
        };
        let valid_type = type_name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && type_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_type {
            return Err(format!("invalid component type {type_name:?} in id {text:?}"));
        }
        if name.is_some_and(|name| name.is_empty() || name.chars().any(char::is_whitespace)) {
            return Err(format!("invalid component name in id {text:?}"));
        }
        Ok(Self { kind_name: type_name.to_owned(), name: name.map(str::to_owned) })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{name}", self.kind_name),
            None => f.write_str(&self.kind_name),
        }
    }
}

impl<'de> Deserialize<'de> for ComponentId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// `traces` or `traces/name`. Only the signal type is interpreted.
pub type PipelineId = ComponentId;

/// A component's config, still raw: its factory decodes `value` with [`Document::decode`].
#[derive(Debug, Clone)]
pub struct RawComponent {
    pub id: ComponentId,
    /// The YAML path, e.g. `exporters.otlp/backend`.
    pub path: String,
    pub value: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default)]
    pub receivers: Vec<ComponentId>,
    #[serde(default)]
    pub processors: Vec<ComponentId>,
    #[serde(default)]
    pub exporters: Vec<ComponentId>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default)]
    pub extensions: Vec<ComponentId>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineConfig>,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    #[serde(default)]
    pub logs: LogsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Accepted for compatibility; spoor does not export its own traces.
    #[serde(default)]
    pub traces: Option<Value>,
    #[serde(default)]
    pub resource: Option<BTreeMap<String, Value>>,
}

/// The levels `service.telemetry.logs.level` takes, as the collector's zap names them.
const LOG_LEVELS: [&str; 7] = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"];

/// The levels `service.telemetry.metrics.level` takes; `none` turns the endpoint off.
const METRICS_LEVELS: [&str; 4] = ["none", "basic", "normal", "detailed"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    #[serde(default = "LogsConfig::default_level")]
    pub level: String,
    #[serde(default = "LogsConfig::default_encoding")]
    pub encoding: String,
    #[serde(default)]
    pub development: bool,
    #[serde(default)]
    pub disable_caller: bool,
    #[serde(default)]
    pub disable_stacktrace: bool,
    #[serde(default)]
    pub output_paths: Vec<String>,
    #[serde(default)]
    pub error_output_paths: Vec<String>,
    #[serde(default)]
    pub initial_fields: BTreeMap<String, Value>,
    #[serde(default)]
    pub sampling: Option<Value>,
}

impl LogsConfig {
    fn default_level() -> String {
        "info".to_owned()
    }

    fn default_encoding() -> String {
        "console".to_owned()
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            level: Self::default_level(),
            encoding: Self::default_encoding(),
            development: false,
            disable_caller: false,
            disable_stacktrace: false,
            output_paths: Vec::new(),
            error_output_paths: Vec::new(),
            initial_fields: BTreeMap::new(),
            sampling: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `none`, `basic`, `normal` or `detailed`; `none` turns the endpoint off.
    #[serde(default = "MetricsConfig::default_level")]
    pub level: String,
    /// The pre-v0.123 form, `host:port`.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub readers: Vec<MetricReader>,
}

impl MetricsConfig {
    fn default_level() -> String {
        "normal".to_owned()
    }

    /// The Prometheus pull addresses: every `readers[].pull` Prometheus exporter, else the old
    /// `address`, else `localhost:8888`. Empty when `level: none`.
    pub fn prometheus_addresses(&self) -> Vec<String> {
        if self.level.eq_ignore_ascii_case("none") {
            return Vec::new();
        }
        let from_readers: Vec<String> = self
            .readers
            .iter()
            .filter_map(|reader| {
                let prometheus = reader.pull.as_ref()?.exporter.prometheus.as_ref()?;
                let host = prometheus.host.clone().unwrap_or_else(|| "localhost".to_owned());
                Some(format!("{host}:{}", prometheus.port.unwrap_or(8888)))
            })
            .collect();
        if !from_readers.is_empty() {
            return from_readers;
        }
        vec![self.address.clone().unwrap_or_else(|| "localhost:8888".to_owned())]
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { level: Self::default_level(), address: None, readers: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    #[serde(default)]
    pub pull: Option<PullReader>,
    /// Push readers (`periodic`) are accepted but not run.
    #[serde(default)]
    pub periodic: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    pub exporter: PullExporter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    #[serde(default)]
    pub prometheus: Option<PrometheusReader>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusReader {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub without_type_suffix: Option<bool>,
    #[serde(default)]
    pub without_units: Option<bool>,
    #[serde(default)]
    pub without_scope_info: Option<bool>,
}

/// A loaded config: every component's raw value, and the checked service section.
#[derive(Debug, Clone)]
pub struct Config {
    pub document: Document,
    pub components: BTreeMap<ComponentKind, BTreeMap<ComponentId, RawComponent>>,
    pub service: ServiceConfig,
}

const TOP_LEVEL_KEYS: [&str; 6] = ["receivers", "processors", "exporters", "extensions", "connectors", "service"];

impl Config {
    pub(crate) fn from_document(document: Document) -> Result<Self, ConfigError> {
        let root = document.root().as_object().cloned().unwrap_or_default();
        if let Some(key) = root.keys().find(|key| !TOP_LEVEL_KEYS.contains(&key.as_str())) {
            return Err(document.error(key, format!("unknown top-level key {key:?}")));
        }
        let mut components = BTreeMap::new();
        for kind in ComponentKind::ALL {
            let section = kind.section();
            let entries = match root.get(section) {
                None | Some(Value::Null) => Default::default(),
                Some(Value::Object(entries)) => entries.clone(),
                Some(_) => {
                    return Err(document.error(section, "must be a mapping of component ids"));
                }
            };
            let mut by_id = BTreeMap::new();
            for (key, value) in entries {
                let path = format!("{section}.{key}");
                let id: ComponentId = key.parse().map_err(|err: String| document.error(&path, err))?;
                by_id.insert(id.clone(), RawComponent { id, path, value });
            }
            components.insert(kind, by_id);
        }
        let service_value = root.get("service").cloned().unwrap_or(Value::Null);
        let service: ServiceConfig = document.decode("service", &service_value)?;
        let config = Self { document, components, service };
        config.check_references()?;
        config.check_telemetry()?;
        Ok(config)
    }

    pub fn component(&self, kind: ComponentKind, id: &ComponentId) -> Option<&RawComponent> {
        self.components.get(&kind)?.get(id)
    }

    /// The `traces` pipelines; other signals are reported by the caller as unsupported.
    pub fn trace_pipelines(&self) -> impl Iterator<Item = (&String, &PipelineConfig)> {
        self.service.pipelines.iter().filter(|(id, _)| signal_of(id) == "traces")
    }

    fn check_references(&self) -> Result<(), ConfigError> {
        for (index, id) in self.service.extensions.iter().enumerate() {
            self.check_defined(ComponentKind::Extension, id, &format!("service.extensions[{index}]"))?;
        }
        if self.service.pipelines.is_empty() {
            return Err(self.document.error("service.pipelines", "at least one pipeline must be configured"));
        }
        for (pipeline_id, pipeline) in &self.service.pipelines {
            let base = format!("service.pipelines.{pipeline_id}");
            pipeline_id.parse::<PipelineId>().map_err(|err| self.document.error(&base, err))?;
            if !["traces", "metrics", "logs"].contains(&signal_of(pipeline_id)) {
                return Err(self.document.error(&base, format!("unknown signal type in pipeline id {pipeline_id:?}")));
            }
            let lists = [
                ("receivers", ComponentKind::Receiver, &pipeline.receivers),
                ("processors", ComponentKind::Processor, &pipeline.processors),
                ("exporters", ComponentKind::Exporter, &pipeline.exporters),
            ];
            for (field, kind, ids) in lists {
                for (index, id) in ids.iter().enumerate() {
                    let path = format!("{base}.{field}[{index}]");
                    self.check_defined(kind, id, &path)?;
                    if ids[..index].contains(id) {
                        let message = format!("references {} \"{id}\" multiple times", kind_noun(kind));
                        return Err(self.document.error(&path, message));
                    }
                }
            }
            if pipeline.receivers.is_empty() {
                return Err(self.document.error(&base, "must have at least one receiver"));
            }
            if pipeline.exporters.is_empty() {
                return Err(self.document.error(&base, "must have at least one exporter"));
            }
        }
        Ok(())
    }

    /// The values of `service.telemetry` that serde takes as plain strings.
    fn check_telemetry(&self) -> Result<(), ConfigError> {
        let telemetry = &self.service.telemetry;
        let logs = &telemetry.logs;
        // Levels are read in any case, as the collector does; zap's encoding names are exact.
        let checks = [
            ("service.telemetry.logs.level", &logs.level, &LOG_LEVELS[..], true),
            ("service.telemetry.logs.encoding", &logs.encoding, &["console", "json"][..], false),
            ("service.telemetry.metrics.level", &telemetry.metrics.level, &METRICS_LEVELS[..], true),
        ];
        for (path, value, allowed, any_case) in checks {
            let known =
                allowed.iter().any(|name| if any_case { name.eq_ignore_ascii_case(value) } else { name == value });
            if !known {
                let message = format!("unknown value {value:?}, expected one of {}", allowed.join(", "));
                return Err(self.document.error(path, message));
            }
        }
        if let Some(address) = &telemetry.metrics.address {
            let port = address.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                let message = format!("{address:?} is not a host:port address");
                return Err(self.document.error("service.telemetry.metrics.address", message));
            }
        }
        Ok(())
    }

    fn check_defined(&self, kind: ComponentKind, id: &ComponentId, path: &str) -> Result<(), ConfigError> {
        if self.component(kind, id).is_some() {
            return Ok(());
        }
        let message =
            format!("references {} \"{id}\", which is not configured in {:?}", kind_noun(kind), kind.section());
        Err(self.document.error(path, message))
    }
}

fn kind_noun(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Receiver => "receiver",
        ComponentKind::Processor => "processor",
        ComponentKind::Exporter => "exporter",
        ComponentKind::Extension => "extension",
        ComponentKind::Connector => "connector",
    }
}

fn signal_of(pipeline_id: &str) -> &str {
    pipeline_id.split('/').next().unwrap_or(pipeline_id)
}

#[cfg(test)]
mod tests {
    use crate::load_sources;

    const SEED: &str = "receivers:\n  otlp:\n    protocols:\n      grpc:\n      http:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";

    fn load(text: &str) -> Result<super::Config, crate::ConfigError> {
        load_sources(&[("c.yaml".to_owned(), text.to_owned())])
    }

    #[test]
    fn loads_a_minimal_pipeline() {
        let config = load(SEED).unwrap();
        assert_eq!(config.trace_pipelines().count(), 1);
    }

    #[test]
    fn undefined_component_names_path_and_line() {
        let text = SEED.replace("exporters: [debug]", "exporters: [debug, otlp]");
        let err = load(&text).unwrap_err();
        assert_eq!(err.path, "service.pipelines.traces.exporters[1]");
        assert_eq!(err.location.as_ref().unwrap().line, 12);
        assert!(err.message.contains(r#"references exporter "otlp", which is not configured"#), "{err}");
    }

    #[test]
    fn a_component_listed_twice_in_a_pipeline_is_an_error() {
        let text = SEED.replace("exporters: [debug]", "exporters: [debug, debug]");
        let err = load(&text).unwrap_err();
        assert_eq!(err.path, "service.pipelines.traces.exporters[1]");
        assert!(err.message.contains(r#"references exporter "debug" multiple times"#), "{err}");
    }

    #[test]
    fn telemetry_values_are_checked_with_their_line() {
        let cases = [
            ("    logs:\n      level: loud\n", "service.telemetry.logs.level"),
            ("    logs:\n      encoding: xml\n", "service.telemetry.logs.encoding"),
            ("    metrics:\n      level: bogus\n", "service.telemetry.metrics.level"),
            ("    metrics:\n      address: notanaddress\n", "service.telemetry.metrics.address"),
        ];
        for (telemetry, path) in cases {
            let err = load(&format!("{SEED}  telemetry:\n{telemetry}")).unwrap_err();
            assert_eq!(err.path, path, "{err}");
            assert!(err.location.is_some(), "{err} has no line");
        }
        let fine = format!("{SEED}  telemetry:\n    logs:\n      level: WARN\n      encoding: json\n");
        assert!(load(&fine).is_ok());
        let shouting = format!("{SEED}  telemetry:\n    logs:\n      encoding: JSON\n");
        assert_eq!(load(&shouting).unwrap_err().path, "service.telemetry.logs.encoding", "zap's encodings are exact");
    }

    #[test]
    fn unknown_service_key_is_an_error() {
        let err = load(&format!("{SEED}  extra: 1\n")).unwrap_err();
        assert_eq!(err.path, "service.extra");
        assert!(err.message.contains("unknown field"), "{err}");
    }

    #[test]
    fn metrics_address_in_both_forms() {
        let old = load(&format!("{SEED}  telemetry:\n    metrics:\n      address: 0.0.0.0:9999\n")).unwrap();
        assert_eq!(old.service.telemetry.metrics.prometheus_addresses(), ["0.0.0.0:9999"]);
        let new = load(&format!(
            "{SEED}  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: 9000\n"
        ))
        .unwrap();
        assert_eq!(new.service.telemetry.metrics.prometheus_addresses(), ["127.0.0.1:9000"]);
    }
}
