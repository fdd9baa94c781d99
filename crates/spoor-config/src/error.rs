use std::fmt;

use crate::document::Location;

/// A config problem, located at a dotted YAML path (`processors.batch.timeout`) and, when the
/// path exists in a file, its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub path: String,
    pub location: Option<Location>,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, location: Option<Location>, message: impl Into<String>) -> Self {
        Self { path: path.into(), location, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(location) = &self.location {
            write!(f, " ({}:{}:{})", location.file, location.line, location.column)?;
        }
        Ok(())
    }
}
