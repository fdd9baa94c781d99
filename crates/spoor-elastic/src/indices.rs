//! Index names, as Jaeger lays them out (`internal/storage/elasticsearch/indices`):
//! `{prefix-}jaeger-span-2026-12-03` (periodic, the default), or the aliases
//! `{prefix-}jaeger-span-write` and `-read` with `use_aliases`. Reads over a time range list
//! every period's index from the range's end back to its start.

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use crate::client::{Client, EsError};
use crate::config::{DateLayout, ElasticConfig, IndexOptions};
use crate::version::Flavor;

pub const SPAN: &str = "jaeger-span";
pub const SERVICE: &str = "jaeger-service";
pub const DEPENDENCIES: &str = "jaeger-dependencies";

/// `prefix` joined to `name` with `-`, unless the prefix already ends with one.
pub fn with_prefix(prefix: &str, name: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('-') { format!("{prefix}{name}") } else { format!("{prefix}-{name}") }
}

/// Where one kind of document goes and is read from.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// One index per period: `{base}-{date}`.
    Periodic { base: String, layout: DateLayout, period: Duration },
    /// `{base}-write` and `{base}-read`, which `spoor es-rollover` points at real indices.
    Aliased { base: String },
}

impl Rotation {
    pub fn new(config: &ElasticConfig, name: &str, options: &IndexOptions) -> Result<Self, String> {
        let base = with_prefix(&config.indices.index_prefix, name);
        if config.use_aliases {
            return Ok(Self::Aliased { base });
        }
        Ok(Self::Periodic { base, layout: DateLayout::parse(&options.layout())?, period: options.rollover() })
    }

    /// The index (or alias) a document dated `unix_nanos` is written to.
    pub fn write_target(&self, unix_nanos: u64) -> String {
        match self {
            Self::Periodic { base, layout, .. } => {
                format!("{base}-{}", layout.format((unix_nanos / 1_000_000_000) as i64))
            }
            Self::Aliased { base } => format!("{base}-write"),
        }
    }

    /// The indices (or alias) that hold documents dated in `[start, end]` (Unix ns), newest
    /// first, as Jaeger's `timeRangeIndices`.
    pub fn read_targets(&self, start: u64, end: u64) -> Vec<String> {
        match self {
            Self::Aliased { base } => vec![format!("{base}-read")],
            Self::Periodic { base, layout, period } => {
                let name = |nanos: u64| format!("{base}-{}", layout.format((nanos / 1_000_000_000) as i64));
                let first = name(start);
                let step = period.as_nanos() as u64;
                let mut out: Vec<String> = Vec::new();
                let mut time = end;
                let mut current = name(time);
                while current != first && time > start {
                    if out.last() != Some(&current) {
                        out.push(current);
                    }
                    time = time.saturating_sub(step);
                    current = name(time);
                }
                out.push(first);
                out
            }
        }
    }

    /// The pattern every index of this rotation matches, for templates and the cleaner.
    pub fn base(&self) -> &str {
        match self {
            Self::Periodic { base, .. } | Self::Aliased { base } => base,
        }
    }
}

/// The three rotations of one backend.
#[derive(Debug, Clone)]
pub struct Layout {
    pub spans: Rotation,
    pub services: Rotation,
    pub dependencies: Rotation,
}

impl Layout {
    pub fn new(config: &ElasticConfig) -> Result<Self, String> {
        Ok(Self {
            spans: Rotation::new(config, SPAN, &config.indices.spans)?,
            services: Rotation::new(config, SERVICE, &config.indices.services)?,
            // `es-rollover init` gives dependencies aliases too (unless --skip-dependencies).
            dependencies: Rotation::new(config, DEPENDENCIES, &config.indices.dependencies)?,
        })
    }
}

/// The index template of one kind, as Jaeger renders it for `flavor`: composable
/// (`_index_template/{name}`) for Elasticsearch 8 and 9, legacy (`_template/{name}`) else.
/// Returns the request path and body.
pub fn template(config: &ElasticConfig, flavor: Flavor, name: &str) -> (String, Value) {
    let (options, mappings) = match name {
        SPAN => (&config.indices.spans, include_str!("../templates/jaeger-span-mappings.json")),
        SERVICE => (&config.indices.services, include_str!("../templates/jaeger-service-mappings.json")),
        _ => (&config.indices.dependencies, "{}"),
    };
    let mappings: Value = serde_json::from_str(mappings).unwrap_or_else(|_| json!({}));
    let settings = json!({
        "index.number_of_shards": options.shards,
        "index.number_of_replicas": options.replicas,
        "index.mapping.nested_fields.limit": 50,
        "index.requests.cache.enable": true,
    });
    let prefix = with_prefix(&config.indices.index_prefix, "");
    let template_name = with_prefix(&config.indices.index_prefix, name);
    if flavor.uses_v8_api() {
        let body = json!({
            "priority": options.priority,
            "index_patterns": format!("{prefix}{name}-*"),
            "template": {"settings": settings, "mappings": mappings},
        });
        (format!("_index_template/{template_name}"), body)
    } else {
        let pattern = if name == DEPENDENCIES { format!("*{name}-*") } else { format!("*{prefix}{name}-*") };
        let body = json!({"index_patterns": pattern, "settings": settings, "mappings": mappings});
        (format!("_template/{template_name}"), body)
    }
}

/// Puts the span, service and dependencies templates.
pub async fn create_templates(client: &Client, config: &ElasticConfig, flavor: Flavor) -> Result<(), EsError> {
    for name in [SPAN, SERVICE, DEPENDENCIES] {
        let (path, body) = template(config, flavor, name);
        client.json(Method::PUT, &path, Some(&body)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000_000_000;

    fn config(json: &str) -> ElasticConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn names_follow_jaeger() {
        let config = config(r#"{"indices":{"index_prefix":"tracing"}}"#);
        let layout = Layout::new(&config).unwrap();
        // 2026-12-03T21:35:56Z
        let t = 1_796_333_756 * 1_000_000_000;
        assert_eq!(layout.spans.write_target(t), "tracing-jaeger-span-2026-12-03");
        assert_eq!(layout.services.write_target(t), "tracing-jaeger-service-2026-12-03");
        assert_eq!(
            layout.spans.read_targets(t - 2 * DAY, t),
            ["tracing-jaeger-span-2026-12-03", "tracing-jaeger-span-2026-12-02", "tracing-jaeger-span-2026-12-01"]
        );
        assert_eq!(layout.spans.read_targets(t - 1000, t), ["tracing-jaeger-span-2026-12-03"]);
        assert_eq!(with_prefix("tracing-", SPAN), "tracing-jaeger-span");
        assert_eq!(with_prefix("", SPAN), "jaeger-span");

        let aliased = Layout::new(&self::config(r#"{"use_aliases":true}"#)).unwrap();
        assert_eq!(aliased.spans.write_target(t), "jaeger-span-write");
        assert_eq!(aliased.spans.read_targets(0, t), ["jaeger-span-read"]);

        let hourly = Layout::new(&self::config(r#"{"indices":{"spans":{"rollover_frequency":"hour"}}}"#)).unwrap();
        assert_eq!(hourly.spans.write_target(t), "jaeger-span-2026-12-03-21");
        assert_eq!(hourly.spans.read_targets(t - 3_600_000_000_000, t).len(), 2);
    }

    #[test]
    fn templates_by_flavor() {
        let config = config(r#"{"indices":{"index_prefix":"tracing","spans":{"shards":3,"replicas":0}}}"#);
        let (path, body) = template(&config, Flavor::OpenSearch(3), SPAN);
        assert_eq!(path, "_template/tracing-jaeger-span");
        assert_eq!(body["index_patterns"], "*tracing-jaeger-span-*");
        assert_eq!(body["settings"]["index.number_of_shards"], 3);
        assert_eq!(body["mappings"]["properties"]["tags"]["type"], "nested");
        let (path, body) = template(&config, Flavor::Elasticsearch(8), SERVICE);
        assert_eq!(path, "_index_template/tracing-jaeger-service");
        assert_eq!(body["index_patterns"], "tracing-jaeger-service-*");
        assert_eq!(body["template"]["mappings"]["properties"]["serviceName"]["type"], "keyword");
    }
}
