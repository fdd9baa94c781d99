//! `${env:VAR}`, `${VAR}`, `${env:VAR:-default}` and `${file:PATH}` expansion in string values,
//! with `$$` as an escaped `$`, as the collector's env and file providers do it.

use std::io;

/// Where references are resolved: the process environment and the file system, or a map in
/// tests.
pub trait Providers {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &str) -> io::Result<String>;
}

/// The process environment and the local file system.
pub struct Host;

impl Providers for Host {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn file(&self, path: &str) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// In tests a map stands in for both: variable names and file paths cannot collide, since a
/// path is never a valid variable name.
#[cfg(test)]
impl Providers for std::collections::HashMap<&str, &str> {
    fn env(&self, name: &str) -> Option<String> {
        self.get(name).map(|value| (*value).to_owned())
    }

    fn file(&self, path: &str) -> io::Result<String> {
        self.get(path).map(|value| (*value).to_owned()).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

/// Which provider resolved a whole-value reference; the caller reads their results differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Env,
    File { path: String },
}

/// The result of expanding one string.
#[derive(Debug, PartialEq, Eq)]
pub enum Expanded {
    /// No reference was present; the value keeps its YAML type.
    Unchanged,
    /// The whole value was one reference: the result is re-read as YAML, so `port: ${env:PORT}`
    /// is an integer.
    WholeValue(String, Provider),
    /// References were embedded in other text; the result is a string.
    Text(String),
}

/// Expands the references in `input`. Error messages never quote `input` or what a reference
/// resolved to, since either may be a secret; the caller adds the YAML path and line.
pub fn expand(input: &str, providers: &dyn Providers) -> Result<Expanded, String> {
    if !input.contains('$') {
        return Ok(Expanded::Unchanged);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut resolved = Vec::new();
    let mut literal_text = false;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        literal_text |= dollar > 0;
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            literal_text = true;
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or("unterminated ${ reference")?;
            let (value, provider) = resolve(&body[..end], providers)?;
            out.push_str(&value);
            resolved.push(provider);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            literal_text = true;
            rest = after;
        }
    }
    literal_text |= !rest.is_empty();
    out.push_str(rest);
    Ok(match (resolved.as_slice(), literal_text) {
        ([provider], false) => Expanded::WholeValue(out, provider.clone()),
        _ => Expanded::Text(out),
    })
}

fn resolve(reference: &str, providers: &dyn Providers) -> Result<(String, Provider), String> {
    let reference = match reference.split_once(':') {
        Some(("env", rest)) => rest,
        Some(("file", path)) => {
            return read_file(path, providers).map(|text| (text, Provider::File { path: path.to_owned() }));
        }
        Some((scheme, _)) if is_name(scheme) && !reference.contains(":-") => {
            return Err(format!("unsupported config provider {scheme:?} in ${{{reference}}}"));
        }
        _ => reference,
    };
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if !is_name(name) {
        return Err(format!("invalid environment variable name {name:?}"));
    }
    let value = match (providers.env(name), default) {
        (Some(value), _) => value,
        (None, Some(default)) => default.to_owned(),
        (None, None) => String::new(),
    };
    Ok((value, Provider::Env))
}

/// The file's whole content, as the collector's file provider reads it: nothing is trimmed,
/// not even a final newline.
fn read_file(path: &str, providers: &dyn Providers) -> Result<String, String> {
    if path.is_empty() {
        return Err("${file:} needs a path".to_owned());
    }
    providers.file(path).map_err(|err| format!("cannot read ${{file:{path}}}: {err}"))
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn expands_every_form() {
        let env = HashMap::from([("HOST", "collector"), ("PORT", "4317")]);
        assert_eq!(expand("${env:PORT}", &env).unwrap(), Expanded::WholeValue("4317".into(), Provider::Env));
        assert_eq!(expand("${HOST}:${PORT}", &env).unwrap(), Expanded::Text("collector:4317".into()));
        assert_eq!(expand("${env:MISSING:-localhost}:1", &env).unwrap(), Expanded::Text("localhost:1".into()));
        assert_eq!(expand("a$$b", &env).unwrap(), Expanded::Text("a$b".into()));
        assert_eq!(expand("plain", &env).unwrap(), Expanded::Unchanged);
        assert_eq!(expand("${env:MISSING}", &env).unwrap(), Expanded::WholeValue(String::new(), Provider::Env));
    }

    #[test]
    fn reads_files_verbatim() {
        let files = HashMap::from([("/run/secrets/token", "s3cr3t\n"), ("PORT", "1")]);
        assert_eq!(
            expand("${file:/run/secrets/token}", &files).unwrap(),
            Expanded::WholeValue("s3cr3t\n".into(), Provider::File { path: "/run/secrets/token".into() })
        );
        assert_eq!(
            expand("Bearer ${file:/run/secrets/token}", &files).unwrap(),
            Expanded::Text("Bearer s3cr3t\n".into())
        );
        assert_eq!(expand("${file:/run/secrets/token}${PORT}", &files).unwrap(), Expanded::Text("s3cr3t\n1".into()));
        assert_eq!(expand("$${file:/x}", &files).unwrap(), Expanded::Text("${file:/x}".into()));
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = expand("${file:/nope/token}", &HashMap::new()).unwrap_err();
        assert!(err.starts_with("cannot read ${file:/nope/token}: "), "{err}");
        assert!(expand("${file:}", &HashMap::new()).is_err());
    }

    #[test]
    fn rejects_malformed_references_without_quoting_the_value() {
        let env = HashMap::new();
        let err = expand("Bearer s3cr3t ${env:OPEN", &env).unwrap_err();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(expand("${http:/etc/passwd}", &env).is_err());
        assert!(expand("${bad name}", &env).is_err());
    }
}
