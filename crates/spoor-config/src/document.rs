//! The merged YAML tree as JSON values, with the source location of every path.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::expand::{Expanded, Provider, Providers, expand};
use crate::secrets;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The config after parsing, expansion and merging. Paths are dotted with `[i]` for sequence
/// items, the same form `serde_path_to_error` prints.
#[derive(Debug, Clone, Default)]
pub struct Document {
    root: Value,
    locations: HashMap<String, Location>,
}

impl Document {
    pub(crate) fn parse_and_merge(
        sources: &[(String, String)],
        providers: &dyn Providers,
    ) -> Result<Self, ConfigError> {
        let mut merged = Document { root: Value::Object(Map::new()), locations: HashMap::new() };
        for (name, text) in sources {
            let file: Arc<str> = Arc::from(name.as_str());
            let node = parse_yaml(&file, text)?;
            let mut locations = HashMap::new();
            let value = to_json(&node, "", &file, Some(providers), &mut locations)?;
            let value = if value.is_null() { Value::Object(Map::new()) } else { value };
            if !value.is_object() {
                return Err(ConfigError::new("", None, format!("{name}: the top level must be a mapping")));
            }
            merge(&mut merged.root, value);
            merged.locations.extend(locations);
        }
        Ok(merged)
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The location of `path`, or of its closest ancestor that has one.
    pub fn location(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(location) = self.locations.get(path) {
                return Some(location.clone());
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// An error at `path`. The message is scrubbed of every secret in the config (see
    /// [`crate::secrets`]), so a decode error or a check that quotes a value cannot show one.
    pub fn error(&self, path: &str, message: impl Into<String>) -> ConfigError {
        let message = secrets::scrub(&message.into(), &secrets::secrets_in(&self.root));
        ConfigError::new(path, self.location(path), message)
    }

    /// The merged config with every secret replaced by `[REDACTED]`, for printing.
    pub fn redacted(&self) -> Value {
        secrets::redact(&self.root)
    }

    /// Decodes the value at `path` into `T`. A null value (a key with nothing after it) decodes
    /// as an empty mapping, so `batch:` means "batch with defaults".
    pub fn decode<T: DeserializeOwned>(&self, path: &str, value: &Value) -> Result<T, ConfigError> {
        let value = if value.is_null() { Value::Object(Map::new()) } else { value.clone() };
        serde_path_to_error::deserialize(value).map_err(|err| {
            let inner = err.path().to_string();
            let full = match (path.is_empty(), inner.as_str()) {
                (_, ".") => path.to_owned(),
                (true, _) => inner,
                (false, _) if inner.starts_with('[') => format!("{path}{inner}"),
                (false, _) => format!("{path}.{inner}"),
            };
            self.error(&full, err.into_inner().to_string())
        })
    }
}

fn parse_yaml(file: &Arc<str>, text: &str) -> Result<MarkedYamlOwned, ConfigError> {
    let mut documents = MarkedYamlOwned::load_from_str(text).map_err(|err| {
        let marker = err.marker();
        let location = Location { file: file.clone(), line: marker.line(), column: marker.col() + 1 };
        ConfigError::new("", Some(location), format!("invalid YAML: {}", err.info()))
    })?;
    match documents.len() {
        0 => Ok(MarkedYamlOwned::value_from_str("~")),
        1 => Ok(documents.remove(0)),
        _ => Err(ConfigError::new("", None, format!("{file}: holds more than one YAML document"))),
    }
}

/// Converts a YAML node, expanding references in its strings when `providers` is given (a
/// file's content that a `${file:}` read is taken as it is, as in the collector).
fn to_json(
    node: &MarkedYamlOwned,
    path: &str,
    file: &Arc<str>,
    providers: Option<&dyn Providers>,
    locations: &mut HashMap<String, Location>,
) -> Result<Value, ConfigError> {
    let location = Location { file: file.clone(), line: node.span.start.line(), column: node.span.start.col() + 1 };
    if !path.is_empty() {
        // A mapping entry was already placed at its key, which is where readers look.
        locations.entry(path.to_owned()).or_insert_with(|| location.clone());
    }
    let fail = |message: String| ConfigError::new(path, Some(location.clone()), message);
    Ok(match &node.data {
        YamlDataOwned::Value(scalar) => scalar_to_json(scalar, providers).map_err(fail)?,
        YamlDataOwned::Representation(text, _, _) => string_to_json(text, providers).map_err(fail)?,
        YamlDataOwned::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                out.push(to_json(item, &format!("{path}[{index}]"), file, providers, locations)?);
            }
            Value::Array(out)
        }
        YamlDataOwned::Mapping(entries) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let key_node = key;
                let key = match &key_node.data {
                    YamlDataOwned::Value(ScalarOwned::String(key)) => key.clone(),
                    YamlDataOwned::Value(ScalarOwned::Integer(key)) => key.to_string(),
                    YamlDataOwned::Value(ScalarOwned::Boolean(key)) => key.to_string(),
                    _ => return Err(fail("mapping keys must be strings".to_owned())),
                };
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let key_location = Location {
                    file: file.clone(),
                    line: key_node.span.start.line(),
                    column: key_node.span.start.col() + 1,
                };
                locations.insert(child.clone(), key_location);
                if out.contains_key(&key) {
                    return Err(fail(format!("duplicate key {key:?}")));
                }
                let value = to_json(value, &child, file, providers, locations)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
        YamlDataOwned::Tagged(_, inner) => to_json(inner, path, file, providers, locations)?,
        YamlDataOwned::Alias(_) => return Err(fail("YAML aliases are not supported".to_owned())),
        YamlDataOwned::BadValue => return Err(fail("invalid YAML value".to_owned())),
    })
}

fn scalar_to_json(scalar: &ScalarOwned, providers: Option<&dyn Providers>) -> Result<Value, String> {
    Ok(match scalar {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(value) => Value::Bool(*value),
        ScalarOwned::Integer(value) => Value::from(*value),
        ScalarOwned::FloatingPoint(value) => {
            serde_json::Number::from_f64(value.into_inner()).map_or(Value::Null, Value::Number)
        }
        ScalarOwned::String(text) => string_to_json(text, providers)?,
    })
}

fn string_to_json(text: &str, providers: Option<&dyn Providers>) -> Result<Value, String> {
    let Some(providers) = providers else { return Ok(Value::String(text.to_owned())) };
    Ok(match expand(text, providers)? {
        Expanded::Unchanged => Value::String(text.to_owned()),
        Expanded::Text(text) => Value::String(text),
        Expanded::WholeValue(text, Provider::Env) => env_value(text)?,
        Expanded::WholeValue(text, Provider::File { path }) => file_value(text, &path),
    })
}

/// A whole-value `${env:}` is re-read as a YAML scalar, so `port: ${env:PORT}` is an integer.
/// Re-read values are not expanded again, as in the collector.
fn env_value(text: String) -> Result<Value, String> {
    Ok(match ScalarOwned::parse_from_cow(text.as_str().into()) {
        ScalarOwned::String(_) => Value::String(text),
        scalar => scalar_to_json(&scalar, None)?,
    })
}

/// A whole-value `${file:}` is read as the collector's file provider reads it: content that is
/// a YAML mapping, sequence, number, boolean or null takes that type, and anything else (a
/// string, or text that is not YAML spoor reads, such as a mapping with a duplicate key) is the
/// content verbatim, not trimmed or unquoted.
fn file_value(text: String, path: &str) -> Value {
    let node = match MarkedYamlOwned::load_from_str(&text) {
        Ok(documents) => documents.into_iter().next(),
        Err(_) => return Value::String(text),
    };
    let Some(node) = node else { return Value::Null };
    let file: Arc<str> = Arc::from(path);
    match to_json(&node, "", &file, None, &mut HashMap::new()) {
        Ok(Value::String(_)) | Err(_) => Value::String(text),
        Ok(value) => value,
    }
}

/// Mappings merge key by key; anything else in `overlay` replaces what `base` had, as the
/// collector merges several `--config` files.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(sources: &[(&str, &str)], env: &HashMap<&str, &str>) -> Result<Document, ConfigError> {
        let sources: Vec<_> = sources.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        Document::parse_and_merge(&sources, env)
    }

    #[test]
    fn records_line_of_every_path() {
        let doc = parse(&[("a.yaml", "processors:\n  batch:\n    timeout: 1s\n")], &HashMap::new()).unwrap();
        assert_eq!(doc.location("processors.batch.timeout").unwrap().line, 3);
        assert_eq!(doc.location("processors.batch.nope").unwrap().line, 2);
    }

    #[test]
    fn whole_value_references_keep_yaml_types() {
        let env = HashMap::from([("SIZE", "100"), ("ON", "true")]);
        let doc = parse(&[("a.yaml", "a: ${env:SIZE}\nb: ${ON}\nc: x${SIZE}\n")], &env).unwrap();
        assert_eq!(doc.root()["a"], Value::from(100));
        assert_eq!(doc.root()["b"], Value::Bool(true));
        assert_eq!(doc.root()["c"], Value::from("x100"));
    }

    #[test]
    fn whole_value_files_are_read_as_yaml_and_strings_verbatim() {
        let files = HashMap::from([
            ("/s/token", "s3cr3t\n"),
            ("/s/quoted", "\"s3cr3t\""),
            ("/s/port", "4317\n"),
            ("/s/headers", "Authorization: Bearer x\nX-Tenant: 7\n"),
            ("/s/not-yaml", "a: b: c"),
            ("/s/empty", ""),
        ]);
        let text = "a: ${file:/s/token}\nb: ${file:/s/quoted}\nc: ${file:/s/port}\nd: ${file:/s/headers}\n\
                    e: ${file:/s/not-yaml}\nf: ${file:/s/empty}\ng: Bearer ${file:/s/token}\nh: $${file:/s/token}\n";
        let doc = parse(&[("a.yaml", text)], &files).unwrap();
        let root = doc.root();
        assert_eq!(root["a"], Value::from("s3cr3t\n"));
        assert_eq!(root["b"], Value::from("\"s3cr3t\""));
        assert_eq!(root["c"], Value::from(4317));
        assert_eq!(root["d"], serde_json::json!({"Authorization": "Bearer x", "X-Tenant": 7}));
        assert_eq!(root["e"], Value::from("a: b: c"));
        assert_eq!(root["f"], Value::Null);
        assert_eq!(root["g"], Value::from("Bearer s3cr3t\n"));
        assert_eq!(root["h"], Value::from("${file:/s/token}"));
    }

    #[test]
    fn file_content_is_not_expanded_again() {
        let files = HashMap::from([("/s/a", "x: ${env:HOME} $$"), ("HOME", "/root")]);
        let doc = parse(&[("a.yaml", "a: ${file:/s/a}\n")], &files).unwrap();
        assert_eq!(doc.root()["a"], serde_json::json!({"x": "${env:HOME} $$"}));
    }

    #[test]
    fn a_missing_file_names_the_yaml_path_line_and_file() {
        let text = "exporters:\n  otlp:\n    headers:\n      Authorization: ${file:/nope/token}\n";
        let err = parse(&[("a.yaml", text)], &HashMap::new()).unwrap_err();
        assert_eq!(err.path, "exporters.otlp.headers.Authorization");
        assert_eq!(err.location.as_ref().unwrap().line, 4);
        assert!(err.message.contains("${file:/nope/token}"), "{err}");
    }

    #[test]
    fn file_content_that_is_not_plain_yaml_is_a_string() {
        let files = HashMap::from([("/s/dup", "a: 1\na: 2\n"), ("/s/alias", "a: &x s\nb: *x\n")]);
        let doc = parse(&[("a.yaml", "a: ${file:/s/dup}\nb: ${file:/s/alias}\n")], &files).unwrap();
        assert_eq!(doc.root()["a"], Value::from("a: 1\na: 2\n"));
        assert_eq!(doc.root()["b"], serde_json::json!({"a": "s", "b": "s"}));
    }

    #[test]
    fn errors_never_show_a_secret() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Auth {
            password: u64,
        }
        let env = HashMap::from([("PASS", "s3cr3t \"quoted\"")]);
        let doc = parse(&[("a.yaml", "x:\n  password: ${env:PASS}\n")], &env).unwrap();
        let err = doc.decode::<Auth>("x", &doc.root()["x"]).unwrap_err();
        assert_eq!(err.path, "x.password");
        assert!(err.message.starts_with("invalid type: string \"[REDACTED]\""), "{err}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let err = doc.error("x", "a check that quotes s3cr3t \"quoted\"");
        assert_eq!(err.message, "a check that quotes [REDACTED]");
    }

    #[test]
    fn redacted_hides_expanded_secrets() {
        let env = HashMap::from([("TOKEN", "t0k"), ("/s/key", "-----BEGIN KEY-----\n")]);
        let text = "e:\n  token: ${env:TOKEN}\n  tls:\n    key_pem: ${file:/s/key}\n    key_file: /k.pem\n";
        let doc = parse(&[("a.yaml", text)], &env).unwrap();
        assert_eq!(
            doc.redacted(),
            serde_json::json!({"e": {"token": "[REDACTED]", "tls": {"key_pem": "[REDACTED]", "key_file": "/k.pem"}}})
        );
        assert_eq!(doc.root()["e"]["token"], "t0k");
    }

    #[test]
    fn later_files_merge_over_earlier_ones() {
        let doc =
            parse(&[("a.yaml", "x:\n  a: 1\n  b: [1, 2]\n"), ("b.yaml", "x:\n  b: [3]\n  c: 2\n")], &HashMap::new())
                .unwrap();
        assert_eq!(doc.root()["x"], serde_json::json!({"a": 1, "b": [3], "c": 2}));
        assert_eq!(&*doc.location("x.c").unwrap().file, "b.yaml");
    }

    #[test]
    fn reports_yaml_syntax_errors_with_line() {
        let err = parse(&[("a.yaml", "a:\n  b: [1, 2\n")], &HashMap::new()).unwrap_err();
        assert!(err.location.is_some(), "{err}");
    }
}
