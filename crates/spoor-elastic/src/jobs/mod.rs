//! The maintenance jobs Jaeger ships as separate programs, as `spoor` subcommands:
//! - [`rollover`]: `spoor es-rollover init|rollover|lookback URL` (Jaeger's `es-rollover`);
//! - [`cleaner`]: `spoor es-index-cleaner NUM_OF_DAYS URL` (Jaeger's `es-index-cleaner`);
//! - [`dependencies`]: `spoor es-dependencies --date D URL` (Jaeger's spark-dependencies job).
//!
//! Each takes the cluster's URL and the connection flags of [`Connection`], with Jaeger's names.

pub mod cleaner;
pub mod dependencies;
pub mod rollover;

use std::collections::BTreeSet;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::client::{Client, EsError};
use crate::config::{BasicAuth, ElasticConfig};
use crate::indices::with_prefix;

/// The cluster and how to reach it: its URL and the flags of Jaeger's jobs.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The cluster's URL, e.g. http://elasticsearch:9200.
    #[arg(value_name = "URL")]
    pub url: String,
    #[command(flatten)]
    pub flags: ConnectionFlags,
}

/// The connection flags of Jaeger's jobs, beside the URL.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionFlags {
    /// The index prefix the backend uses (`indices.index_prefix`).
    #[arg(long = "index-prefix", default_value = "")]
    pub index_prefix: String,
    #[arg(long = "es.username", default_value = "")]
    pub username: String,
    #[arg(long = "es.password", default_value = "", env = "ES_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// A PEM file of CAs that verify the cluster's certificate.
    #[arg(long = "es.tls.ca")]
    pub tls_ca: Option<String>,
    #[arg(long = "es.tls.skip-host-verify")]
    pub tls_skip_host_verify: bool,
    /// Seconds to wait for each request.
    #[arg(long = "timeout", default_value_t = 120)]
    pub timeout: u64,
}

impl Connection {
    /// The backend config the URL and flags stand for.
    pub fn config(&self) -> ElasticConfig {
        let flags = &self.flags;
        let mut config = ElasticConfig { server_urls: vec![self.url.clone()], ..ElasticConfig::default() };
        config.indices.index_prefix = flags.index_prefix.clone();
        config.query_timeout = Duration::from_secs(flags.timeout.max(1));
        if !flags.username.is_empty() {
            config.auth.basic = Some(BasicAuth {
                username: flags.username.clone(),
                password: flags.password.clone(),
                password_file: None,
            });
        }
        config.tls.ca_file = flags.tls_ca.clone();
        config.tls.insecure_skip_verify = flags.tls_skip_host_verify;
        config
    }

    pub fn client(&self) -> Result<(Client, ElasticConfig), String> {
        let config = self.config();
        config.validate()?;
        Ok((Client::new(&config)?, config))
    }

    /// `{prefix-}name`.
    pub fn name(&self, name: &str) -> String {
        with_prefix(&self.flags.index_prefix, name)
    }
}

/// An index of the backend's, with its aliases and creation time.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub name: String,
    pub aliases: BTreeSet<String>,
    /// Unix ms (`index.creation_date`).
    pub created_ms: u64,
}

/// Every `{prefix-}jaeger-*` index, as Jaeger's `GetJaegerIndices`.
pub async fn jaeger_indices(client: &Client, prefix: &str) -> Result<Vec<Index>, EsError> {
    let pattern = with_prefix(prefix, "jaeger-*");
    let path = format!("{pattern}?flat_settings=true&filter_path=*.aliases,*.settings&expand_wildcards=open");
    let answer = client.json(Method::GET, &path, None).await?;
    Ok(parse_indices(&answer))
}

fn parse_indices(answer: &Value) -> Vec<Index> {
    let Some(map) = answer.as_object() else { return Vec::new() };
    let mut indices: Vec<Index> = map
        .iter()
        .map(|(name, info)| Index {
            name: name.clone(),
            aliases: info
                .get("aliases")
                .and_then(Value::as_object)
                .map(|a| a.keys().cloned().collect())
                .unwrap_or_default(),
            created_ms: info
                .pointer("/settings/index.creation_date")
                .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()))
                .unwrap_or_default(),
        })
        .collect();
    indices.sort_by(|a, b| a.name.cmp(&b.name));
    indices
}

/// One `_aliases` action.
#[derive(Debug, Clone, PartialEq)]
pub enum AliasAction {
    Add { index: String, alias: String, is_write_index: bool },
    Remove { index: String, alias: String },
}

/// `POST _aliases` with `actions`, applied atomically.
pub async fn update_aliases(client: &Client, actions: &[AliasAction]) -> Result<(), EsError> {
    if actions.is_empty() {
        return Ok(());
    }
    let actions: Vec<Value> = actions
        .iter()
        .map(|action| match action {
            AliasAction::Add { index, alias, is_write_index } => {
                let mut add = serde_json::json!({"index": index, "alias": alias});
                if *is_write_index {
                    add["is_write_index"] = Value::Bool(true);
                }
                serde_json::json!({"add": add})
            }
            AliasAction::Remove { index, alias } => serde_json::json!({"remove": {"index": index, "alias": alias}}),
        })
        .collect();
    client.json(Method::POST, "_aliases", Some(&serde_json::json!({ "actions": actions }))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_parse_from_the_settings_answer() {
        // osmem-server's (and OpenSearch's) answer to GET t-jaeger-*?flat_settings=true&filter_path=...
        let answer: Value = serde_json::from_str(
            r#"{"t-jaeger-span-000001":{"aliases":{"t-jaeger-span-read":{},"t-jaeger-span-write":{}},
                "settings":{"index.creation_date":"1796335843310","index.number_of_shards":"1"}}}"#,
        )
        .unwrap();
        let indices = parse_indices(&answer);
        assert_eq!(indices.len(), 1);
        assert_eq!(indices[0].name, "t-jaeger-span-000001");
        assert!(indices[0].aliases.contains("t-jaeger-span-write"));
        assert_eq!(indices[0].created_ms, 1_796_335_843_310);
    }
}
