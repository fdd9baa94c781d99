//! `jaeger_storage.backends.<name>.elasticsearch` (or `.opensearch`): Jaeger v2's keys and
//! defaults (`internal/storage/elasticsearch/config` and `internal/storage/v1/elasticsearch`'s
//! `DefaultConfig` at v2.20.0). Keys spoor cannot honour are refused when the config is
//! validated: serde denies unknown keys, and [`ElasticConfig::validate`] the values.

use std::time::Duration;

use serde::Deserialize;
use spoor_net::tls::TlsSettings;
use spoor_pipeline::civil::civil_from_days;

/// The whole backend block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticConfig {
    /// The cluster's URLs; requests go to each in turn, and the next one is tried when one
    /// cannot be reached. Default `http://127.0.0.1:9200`.
    pub server_urls: Vec<String>,
    pub indices: Indices,
    /// Read from `{prefix-}jaeger-span-read` and write to `{prefix-}jaeger-span-write` (and the
    /// same for services) instead of day indices: the layout `spoor es-rollover` manages.
    pub use_aliases: bool,
    /// Create the index templates (mappings) at start. Default true.
    pub create_mappings: bool,
    pub auth: Auth,
    /// TLS towards the cluster, for `https://` URLs.
    pub tls: TlsSettings,
    pub bulk_processing: BulkProcessing,
    /// The most documents one search returns: the page size of a trace's spans, and the most
    /// services or operations listed. Default 10000.
    pub max_doc_count: usize,
    /// How far back services, operations and traces by ID are looked for. Default `72h`.
    #[serde(with = "spoor_config::duration")]
    pub max_span_age: Duration,
    /// A trace's spans are looked for this far around the searched window. Default `24h`.
    #[serde(with = "spoor_config::duration")]
    pub max_trace_duration: Duration,
    /// How long a service/operation pair is remembered as written. Default `12h`.
    #[serde(with = "spoor_config::duration")]
    pub service_cache_ttl: Duration,
    /// Each request's timeout. Default `30s` (Jaeger leaves it to the client).
    #[serde(with = "spoor_config::duration")]
    pub query_timeout: Duration,
    /// The server's major version, `0` to detect it from `GET /`: 7, 8, 9 for Elasticsearch,
    /// 101, 102, 103 for OpenSearch 1, 2, 3 (Jaeger's numbering).
    pub version: u32,
}

impl Default for ElasticConfig {
    fn default() -> Self {
        Self {
            server_urls: vec!["http://127.0.0.1:9200".to_owned()],
            indices: Indices::default(),
            use_aliases: false,
            create_mappings: true,
            auth: Auth::default(),
            tls: TlsSettings::default(),
            bulk_processing: BulkProcessing::default(),
            max_doc_count: 10_000,
            max_span_age: Duration::from_secs(72 * 3600),
            max_trace_duration: Duration::from_secs(24 * 3600),
            service_cache_ttl: Duration::from_secs(12 * 3600),
            query_timeout: Duration::from_secs(30),
            version: 0,
        }
    }
}

/// `indices`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Indices {
    /// Prepended to every index and alias name with a `-`: `tracing` gives
    /// `tracing-jaeger-span-2026-12-03`.
    pub index_prefix: String,
    pub spans: IndexOptions,
    pub services: IndexOptions,
    pub dependencies: IndexOptions,
}

/// `indices.{spans,services,dependencies}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexOptions {
    /// Go's layout of the index date: default `2006-01-02`; `2006`, `01`, `02` and `15` are
    /// replaced by year, month, day and hour, other characters kept.
    pub date_layout: Option<String>,
    /// `day` (default) or `hour`: how often a new index starts.
    pub rollover_frequency: String,
    /// The template's shard count. Default 5.
    pub shards: u32,
    /// The template's replica count. Default 1.
    pub replicas: u32,
    /// The composable template's priority (Elasticsearch 8 and 9). Default 0.
    pub priority: i64,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self { date_layout: None, rollover_frequency: "day".to_owned(), shards: 5, replicas: 1, priority: 0 }
    }
}

impl IndexOptions {
    /// The layout in effect: the configured one, or Jaeger's default for the frequency.
    pub fn layout(&self) -> String {
        match &self.date_layout {
            Some(layout) => layout.clone(),
            None if self.rollover_frequency == "hour" => "2006-01-02-15".to_owned(),
            None => "2006-01-02".to_owned(),
        }
    }

    pub fn rollover(&self) -> Duration {
        if self.rollover_frequency == "hour" { Duration::from_secs(3600) } else { Duration::from_secs(86_400) }
    }

    fn validate(&self, name: &str) -> Result<(), String> {
        if !matches!(self.rollover_frequency.as_str(), "day" | "hour") {
            return Err(format!(
                "indices.{name}.rollover_frequency: {:?} is not one of day, hour",
                self.rollover_frequency
            ));
        }
        DateLayout::parse(&self.layout()).map_err(|err| format!("indices.{name}.date_layout: {err}"))?;
        if self.shards == 0 {
            return Err(format!("indices.{name}.shards must be at least 1"));
        }
        Ok(())
    }
}

/// `auth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub basic: Option<BasicAuth>,
}

/// `auth.basic`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
    /// A file holding the password (read at start; trailing newlines dropped).
    pub password_file: Option<String>,
}

impl BasicAuth {
    /// The password: `password_file`'s content when set, else `password`.
    pub fn resolved_password(&self) -> Result<String, String> {
        match &self.password_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|err| format!("auth.basic.password_file {path}: {err}")),
            None => Ok(self.password.clone()),
        }
    }
}

/// `bulk_processing`: spans of concurrent writes are gathered into one `_bulk` request, sent
/// when it reaches `max_actions` documents or `max_bytes`, or `flush_interval` after its first
/// document. A write is acknowledged only when every one of its documents is indexed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkProcessing {
    /// Default 5000000.
    pub max_bytes: usize,
    /// Default 1000.
    pub max_actions: usize,
    /// Default `200ms`.
    #[serde(with = "spoor_config::duration")]
    pub flush_interval: Duration,
    /// How many `_bulk` requests may be in flight at once. Default 1.
    pub workers: usize,
}

impl Default for BulkProcessing {
    fn default() -> Self {
        Self { max_bytes: 5_000_000, max_actions: 1000, flush_interval: Duration::from_millis(200), workers: 1 }
    }
}

impl ElasticConfig {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.server_urls.is_empty() {
            return Err("server_urls: at least one URL is required".to_owned());
        }
        for url in &self.server_urls {
            let parsed = reqwest::Url::parse(url).map_err(|err| format!("server_urls: {url:?}: {err}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("server_urls: {url:?}: the scheme must be http or https"));
            }
        }
        self.indices.spans.validate("spans")?;
        self.indices.services.validate("services")?;
        self.indices.dependencies.validate("dependencies")?;
        if self.bulk_processing.workers == 0 {
            return Err("bulk_processing.workers must be at least 1".to_owned());
        }
        if self.bulk_processing.max_actions == 0 || self.bulk_processing.max_bytes == 0 {
            return Err("bulk_processing.max_actions and max_bytes must be greater than zero".to_owned());
        }
        if self.max_doc_count == 0 {
            return Err("max_doc_count must be greater than zero".to_owned());
        }
        if self.query_timeout.is_zero() {
            return Err("query_timeout must be greater than zero".to_owned());
        }
        if self.version != 0 && crate::version::Flavor::from_number(self.version).is_none() {
            return Err(format!(
                "version: {} is not one of 7, 8, 9 (Elasticsearch) or 101, 102, 103 (OpenSearch 1-3)",
                self.version
            ));
        }
        if let Some(basic) = &self.auth.basic {
            if basic.username.is_empty() {
                return Err("auth.basic.username is required".to_owned());
            }
            basic.resolved_password()?;
        }
        Ok(())
    }
}

/// A Go date layout, reduced to the parts an index date uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateLayout(Vec<LayoutPart>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum LayoutPart {
    Year,
    Month,
    Day,
    Hour,
    Literal(char),
}

impl DateLayout {
    pub fn parse(layout: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let token = [
                ("2006", LayoutPart::Year),
                ("01", LayoutPart::Month),
                ("02", LayoutPart::Day),
                ("15", LayoutPart::Hour),
            ]
            .into_iter()
            .find(|(text, _)| rest.starts_with(text));
            if let Some((text, part)) = token {
                parts.push(part);
                rest = &rest[text.len()..];
                continue;
            }
            let Some(c) = rest.chars().next() else { break };
            if c.is_ascii_alphanumeric() {
                return Err(format!(
                    "{layout:?}: only 2006, 01, 02 and 15 (year, month, day, hour) and separators are supported"
                ));
            }
            parts.push(LayoutPart::Literal(c));
            rest = &rest[c.len_utf8()..];
        }
        if parts.is_empty() {
            return Err("the layout is empty".to_owned());
        }
        Ok(Self(parts))
    }

    /// The date of `unix_secs` (UTC) in this layout.
    pub fn format(&self, unix_secs: i64) -> String {
        let days = unix_secs.div_euclid(86_400);
        let hour = unix_secs.rem_euclid(86_400) / 3600;
        let (year, month, day) = civil_from_days(days);
        let mut out = String::with_capacity(16);
        for part in &self.0 {
            match part {
                LayoutPart::Year => out.push_str(&format!("{year:04}")),
                LayoutPart::Month => out.push_str(&format!("{month:02}")),
                LayoutPart::Day => out.push_str(&format!("{day:02}")),
                LayoutPart::Hour => out.push_str(&format!("{hour:02}")),
                LayoutPart::Literal(c) => out.push(*c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Result<ElasticConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn layouts_format_dates_as_go_does() {
        // 2026-12-03T21:35:56Z
        let t = 1_796_333_756;
        assert_eq!(DateLayout::parse("2006-01-02").unwrap().format(t), "2026-12-03");
        assert_eq!(DateLayout::parse("2006.01.02.15").unwrap().format(t), "2026.12.03.21");
        assert_eq!(DateLayout::parse("2006-01-02").unwrap().format(0), "1970-01-01");
        assert!(DateLayout::parse("Jan 2 2006").is_err());
        assert!(DateLayout::parse("").is_err());
    }

    #[test]
    fn the_seed_shape_decodes_and_unknown_keys_are_refused() {
        let config =
            decode(r#"{"server_urls":["http://es:9200"],"indices":{"index_prefix":"tracing","spans":{"shards":3}}}"#)
                .unwrap();
        assert_eq!(config.indices.index_prefix, "tracing");
        assert_eq!(config.indices.spans.shards, 3);
        assert_eq!(config.indices.services.shards, 5);
        config.validate().unwrap();
        assert!(decode(r#"{"sniffing":{"enabled":true}}"#).is_err());
        let bad = decode(r#"{"indices":{"spans":{"rollover_frequency":"week"}}}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("rollover_frequency"));
        let bad = decode(r#"{"server_urls":["ftp://es"]}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("scheme"));
    }
}
