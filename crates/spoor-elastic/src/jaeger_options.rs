//! The Jaeger operator's `spec.storage.options` for `type: elasticsearch` (Jaeger v1's
//! `--es.*` flags, nested as the seed writes them, `es: {server-urls: ..}`, or dotted,
//! `es.server-urls: ..`), mapped onto this backend's config. This is the one place the mapping
//! lives; the Kubernetes operator and chart reuse it. An option spoor cannot honour is an error
//! that names it, never dropped.

use serde_json::{Map, Value, json};

/// The `elasticsearch:` block (as JSON, to be written into a `jaeger_storage` backend) for
/// `options`. The result decodes as [`ElasticConfig`](crate::ElasticConfig).
pub fn config_from_jaeger_options(options: &Value) -> Result<Value, String> {
    let mut flat = Vec::new();
    flatten("", options, &mut flat)?;
    let mut config = json!({});
    for (key, value) in flat {
        let text = scalar_text(&key, &value)?;
        let Some(option) = key.strip_prefix("es.") else {
            return Err(format!("storage option {key:?} does not apply to elasticsearch storage"));
        };
        match option {
            "server-urls" => {
                let urls: Vec<&str> = text.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
                set(&mut config, &["server_urls"], json!(urls));
            }
            "index-prefix" => set(&mut config, &["indices", "index_prefix"], json!(text)),
            "username" => set(&mut config, &["auth", "basic", "username"], json!(text)),
            "password" => set(&mut config, &["auth", "basic", "password"], json!(text)),
            "num-shards" => {
                let shards = number(&key, &text)?;
                for index in ["spans", "services"] {
                    set(&mut config, &["indices", index, "shards"], json!(shards));
                }
            }
            "num-replicas" => {
                let replicas = number(&key, &text)?;
                for index in ["spans", "services"] {
                    set(&mut config, &["indices", index, "replicas"], json!(replicas));
                }
            }
            "index-date-separator" => {
                let layout = format!("2006{text}01{text}02");
                for index in ["spans", "services", "dependencies"] {
                    set(&mut config, &["indices", index, "date_layout"], json!(layout));
                }
            }
            "index-rollover-frequency-spans" => {
                set(&mut config, &["indices", "spans", "rollover_frequency"], json!(text));
            }
            "index-rollover-frequency-services" => {
                set(&mut config, &["indices", "services", "rollover_frequency"], json!(text));
            }
            "use-aliases" => set(&mut config, &["use_aliases"], json!(boolean(&key, &text)?)),
            "create-index-templates" => set(&mut config, &["create_mappings"], json!(boolean(&key, &text)?)),
            "max-doc-count" => set(&mut config, &["max_doc_count"], json!(number(&key, &text)?)),
            "max-span-age" => set(&mut config, &["max_span_age"], json!(text)),
            "timeout" => set(&mut config, &["query_timeout"], json!(text)),
            "version" => set(&mut config, &["version"], json!(number(&key, &text)?)),
            "bulk.size" => set(&mut config, &["bulk_processing", "max_bytes"], json!(number(&key, &text)?)),
            "bulk.actions" => set(&mut config, &["bulk_processing", "max_actions"], json!(number(&key, &text)?)),
            "bulk.workers" => set(&mut config, &["bulk_processing", "workers"], json!(number(&key, &text)?)),
            "bulk.flush-interval" => set(&mut config, &["bulk_processing", "flush_interval"], json!(text)),
            "tls.enabled" => {
                // TLS follows the URL's scheme; `false` keeps https URLs from verifying nothing.
                if !boolean(&key, &text)? {
                    set(&mut config, &["tls", "insecure"], json!(true));
                }
            }
            "tls.ca" => set(&mut config, &["tls", "ca_file"], json!(text)),
            "tls.cert" => set(&mut config, &["tls", "cert_file"], json!(text)),
            "tls.key" => set(&mut config, &["tls", "key_file"], json!(text)),
            "tls.server-name" => set(&mut config, &["tls", "server_name_override"], json!(text)),
            "tls.skip-host-verify" => set(&mut config, &["tls", "insecure_skip_verify"], json!(boolean(&key, &text)?)),
            _ => return Err(format!("storage option {key:?} is not supported by spoor's elasticsearch storage")),
        }
    }
    Ok(config)
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&key, value, out)?;
            }
        }
        Value::Null if prefix.is_empty() => {}
        other if prefix.is_empty() => return Err(format!("storage options must be a map, not {other}")),
        other => out.push((prefix.to_owned(), other.clone())),
    }
    Ok(())
}

fn scalar_text(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("storage option {key:?}: expected a string, number or bool, got {other}")),
    }
}

fn number(key: &str, text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| format!("storage option {key:?}: {text:?} is not a whole number"))
}

fn boolean(key: &str, text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("storage option {key:?}: {other:?} is not true or false")),
    }
}

fn set(config: &mut Value, path: &[&str], value: Value) {
    let mut node = config;
    for key in &path[..path.len() - 1] {
        if !node.get(*key).is_some_and(Value::is_object) {
            node[*key] = Value::Object(Map::new());
        }
        node = &mut node[*key];
    }
    node[path[path.len() - 1]] = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ElasticConfig;

    #[test]
    fn the_seed_options_map_onto_the_config() {
        // testdata/fixtures/seed/jaeger-cr.yaml's spec.storage.options.
        let options = json!({"es": {"server-urls": "http://elastic.centre.com:9201", "index-prefix": "tracing"}});
        let block = config_from_jaeger_options(&options).unwrap();
        assert_eq!(
            block,
            json!({"server_urls": ["http://elastic.centre.com:9201"], "indices": {"index_prefix": "tracing"}})
        );
        let config: ElasticConfig = serde_json::from_value(block).unwrap();
        config.validate().unwrap();
        assert_eq!(config.indices.index_prefix, "tracing");
    }

    #[test]
    fn dotted_and_typed_options_map_and_unknown_ones_are_refused() {
        let options = json!({
            "es.server-urls": "https://a:9200, https://b:9200",
            "es.num-shards": 3,
            "es.use-aliases": true,
            "es.bulk.flush-interval": "500ms",
            "es.tls.ca": "/etc/ca.pem",
            "es.index-date-separator": ".",
        });
        let config: ElasticConfig = serde_json::from_value(config_from_jaeger_options(&options).unwrap()).unwrap();
        config.validate().unwrap();
        assert_eq!(config.server_urls, ["https://a:9200", "https://b:9200"]);
        assert_eq!((config.indices.spans.shards, config.indices.services.shards), (3, 3));
        assert!(config.use_aliases);
        assert_eq!(config.bulk_processing.flush_interval, std::time::Duration::from_millis(500));
        assert_eq!(config.tls.ca_file.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(config.indices.spans.layout(), "2006.01.02");
        let err = config_from_jaeger_options(&json!({"es": {"sniffer": true}})).unwrap_err();
        assert!(err.contains("es.sniffer"), "{err}");
        let err = config_from_jaeger_options(&json!({"kafka.producer.topic": "x"})).unwrap_err();
        assert!(err.contains("does not apply"), "{err}");
    }
}
