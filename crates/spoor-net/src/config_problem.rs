//! The one config error type of the kit: what is wrong, and the key it is about.

/// What is wrong with a component's config, with the key it is about. The path is relative to
/// the component (`htpasswd.inline`, `providers[1].audience`); the service prefixes the
/// component's own path and adds the YAML line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// The same problem, one level deeper: `under("providers[0]")` turns `audience` into
    /// `providers[0].audience`.
    pub fn under(mut self, parent: &str) -> Self {
        self.path = match (parent.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => parent.to_owned(),
            (false, false) => format!("{parent}.{}", self.path),
        };
        self
    }
}
