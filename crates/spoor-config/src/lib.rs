//! spoor-config owns the collector's YAML: loading and merging files, `${env:VAR}` and
//! `${file:PATH}` expansion, the service/pipeline model, decoding component configs into typed
//! structs with errors that name the YAML path and line, and the one list of secret keys that
//! printed configs and error messages redact ([`secrets`]).
//!
//! It knows no component: components declare their own config structs
//! (`#[serde(deny_unknown_fields)]`) and the binary's factories decode them with
//! [`Document::decode`]. Nothing here touches the network or the pipeline.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod document;
pub mod duration;
mod error;
mod expand;
mod model;
mod print;
pub mod secrets;
pub mod serde_ext;

pub use document::{Document, Location};
pub use error::ConfigError;
pub use model::{
    ComponentId, ComponentKind, Config, LogsConfig, MetricsConfig, PipelineConfig, PipelineId, RawComponent,
    ServiceConfig, TelemetryConfig,
};

/// Loads, expands and merges the given YAML files (later files win) and validates the service
/// section against the defined components.
pub fn load_files(paths: &[std::path::PathBuf]) -> Result<Config, ConfigError> {
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError::new("", None, format!("cannot read {}: {err}", path.display())))?;
        sources.push((path.display().to_string(), text));
    }
    load_sources(&sources)
}

/// Like [`load_files`], for configs already in memory as `(name, text)` pairs.
pub fn load_sources(sources: &[(String, String)]) -> Result<Config, ConfigError> {
    let document = Document::parse_and_merge(sources, &expand::Host)?;
    Config::from_document(document)
}
