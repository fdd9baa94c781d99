//! The merged YAML tree as JSON values, with the source location of every path.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::expand::{Env, Expanded, expand};

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
    pub(crate) fn parse_and_merge(sources: &[(String, String)], env: &dyn Env) -> Result<Self, ConfigError> {
        let mut merged = Document { root: Value::Object(Map::new()), locations: HashMap::new() };
        for (name, text) in sources {
            let file: Arc<str> = Arc::from(name.as_str());
            let node = parse_yaml(&file, text)?;
            let mut locations = HashMap::new();
            let value = to_json(&node, "", &file, env, &mut locations)?;
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

    pub fn error(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(path, self.location(path), message)
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

fn to_json(
    node: &MarkedYamlOwned,
    path: &str,
    file: &Arc<str>,
    env: &dyn Env,
    locations: &mut HashMap<String, Location>,
) -> Result<Value, ConfigError> {
    let location = Location { file: file.clone(), line: node.span.start.line(), column: node.span.start.col() + 1 };
    if !path.is_empty() {
        // A mapping entry was already placed at its key, which is where readers look.
        locations.entry(path.to_owned()).or_insert_with(|| location.clone());
    }
    let fail = |message: String| ConfigError::new(path, Some(location.clone()), message);
    Ok(match &node.data {
        YamlDataOwned::Value(scalar) => scalar_to_json(scalar, env).map_err(fail)?,
        YamlDataOwned::Representation(text, _, _) => expand_string(text, env).map_err(fail)?,
        YamlDataOwned::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                out.push(to_json(item, &format!("{path}[{index}]"), file, env, locations)?);
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
                let value = to_json(value, &child, file, env, locations)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
        YamlDataOwned::Tagged(_, inner) => to_json(inner, path, file, env, locations)?,
        YamlDataOwned::Alias(_) => return Err(fail("YAML aliases are not supported".to_owned())),
        YamlDataOwned::BadValue => return Err(fail("invalid YAML value".to_owned())),
    })
}

fn scalar_to_json(scalar: &ScalarOwned, env: &dyn Env) -> Result<Value, String> {
    Ok(match scalar {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(value) => Value::Bool(*value),
        ScalarOwned::Integer(value) => Value::from(*value),
        ScalarOwned::FloatingPoint(value) => {
            serde_json::Number::from_f64(value.into_inner()).map_or(Value::Null, Value::Number)
        }
        ScalarOwned::String(text) => expand_string(text, env)?,
    })
}

fn expand_string(text: &str, env: &dyn Env) -> Result<Value, String> {
    Ok(match expand(text, env)? {
        Expanded::Unchanged => Value::String(text.to_owned()),
        Expanded::Text(text) => Value::String(text),
        Expanded::WholeValue(text) => match ScalarOwned::parse_from_cow(text.as_str().into()) {
            ScalarOwned::String(_) => Value::String(text),
            scalar => scalar_to_json(&scalar, &NoEnv)?,
        },
    })
}

/// Re-read expanded values are not expanded again, as in the collector.
struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
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
