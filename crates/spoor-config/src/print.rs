//! The effective config as YAML, for `spoor config`: merged, expanded, and with secrets
//! redacted.

use std::borrow::Cow;

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::Value;

use crate::model::Config;

impl Config {
    /// The merged and expanded config as YAML, every secret shown as `[REDACTED]`.
    pub fn to_redacted_yaml(&self) -> Result<String, saphyr::EmitError> {
        let mut out = String::new();
        let mut emitter = YamlEmitter::new(&mut out);
        // Multi-line values (a PEM, a file's content) as block scalars, as people write them.
        emitter.multiline(true);
        emitter.dump(&to_yaml(&self.document.redacted()))?;
        out.push('\n');
        Ok(out)
    }
}

fn to_yaml(value: &Value) -> Yaml<'_> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(flag) => Yaml::Value(Scalar::Boolean(*flag)),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(integer), _) => Yaml::Value(Scalar::Integer(integer)),
            (None, Some(float)) if number.is_f64() => Yaml::Value(Scalar::FloatingPoint(float.into())),
            // A u64 beyond i64: printed as it was written, unquoted.
            _ => Yaml::Representation(Cow::Owned(number.to_string()), saphyr::ScalarStyle::Plain, None),
        },
        Value::String(text) => Yaml::Value(Scalar::String(Cow::Borrowed(text))),
        Value::Array(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Value::Object(entries) => {
            let mut mapping = Mapping::new();
            for (key, child) in entries {
                mapping.insert(Yaml::Value(Scalar::String(Cow::Borrowed(key))), to_yaml(child));
            }
            Yaml::Mapping(mapping)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::load_sources;

    #[test]
    fn prints_the_effective_config_with_secrets_redacted() {
        let text = "exporters:\n  otlphttp:\n    endpoint: http://x:4318\n    headers:\n      Authorization: Bearer s3cr3t\n    timeout: 5s\n    sending_queue:\n      queue_size: 10\n      ratio: 0.5\nreceivers:\n  nop:\nservice:\n  pipelines:\n    traces:\n      receivers: [nop]\n      exporters: [otlphttp]\n";
        let config = load_sources(&[("c.yaml".to_owned(), text.to_owned())]).unwrap();
        let printed = config.to_redacted_yaml().unwrap();
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("Authorization: \"[REDACTED]\""), "{printed}");
        let reread = load_sources(&[("printed.yaml".to_owned(), printed.clone())]).unwrap();
        assert_eq!(reread.document.root(), &config.document.redacted(), "{printed}");
    }
}
