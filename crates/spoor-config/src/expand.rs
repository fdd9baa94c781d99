//! `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` expansion in string values, with `$$` as an
//! escaped `$`, as the collector's env provider does it.

/// Where variable values come from; tests pass a map instead of the process environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

#[cfg(test)]
impl Env for std::collections::HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|value| (*value).to_owned())
    }
}

/// The result of expanding one string.
#[derive(Debug, PartialEq, Eq)]
pub enum Expanded {
    /// No reference was present; the value keeps its YAML type.
    Unchanged,
    /// The whole value was one reference: the result is re-read as a YAML scalar, so
    /// `port: ${env:PORT}` is an integer.
    WholeValue(String),
    /// References were embedded in other text; the result is a string.
    Text(String),
}

pub fn expand(input: &str, env: &dyn Env) -> Result<Expanded, String> {
    if !input.contains('$') {
        return Ok(Expanded::Unchanged);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut references = 0;
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
            let end = body.find('}').ok_or_else(|| format!("unterminated reference in {input:?}"))?;
            out.push_str(&resolve(&body[..end], env)?);
            references += 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            literal_text = true;
            rest = after;
        }
    }
    literal_text |= !rest.is_empty();
    out.push_str(rest);
    Ok(match (references, literal_text) {
        (0, _) => Expanded::Text(out),
        (1, false) => Expanded::WholeValue(out),
        _ => Expanded::Text(out),
    })
}

fn resolve(reference: &str, env: &dyn Env) -> Result<String, String> {
    let reference = match reference.split_once(':') {
        Some(("env", rest)) => rest,
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
    match (env.var(name), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Ok(String::new()),
    }
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
        assert_eq!(expand("${env:PORT}", &env).unwrap(), Expanded::WholeValue("4317".into()));
        assert_eq!(expand("${HOST}:${PORT}", &env).unwrap(), Expanded::Text("collector:4317".into()));
        assert_eq!(expand("${env:MISSING:-localhost}:1", &env).unwrap(), Expanded::Text("localhost:1".into()));
        assert_eq!(expand("a$$b", &env).unwrap(), Expanded::Text("a$b".into()));
        assert_eq!(expand("plain", &env).unwrap(), Expanded::Unchanged);
        assert_eq!(expand("${env:MISSING}", &env).unwrap(), Expanded::WholeValue(String::new()));
    }

    #[test]
    fn rejects_malformed_references() {
        let env = HashMap::new();
        assert!(expand("${env:OPEN", &env).is_err());
        assert!(expand("${file:/etc/passwd}", &env).is_err());
        assert!(expand("${bad name}", &env).is_err());
    }
}
