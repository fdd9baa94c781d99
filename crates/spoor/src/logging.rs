//! The process log, configured by `service.telemetry.logs`, written to stderr so that the
//! debug exporter's stdout stays data only.

use spoor_config::LogsConfig;
use tracing_subscriber::EnvFilter;

pub fn init(config: &LogsConfig) -> Result<(), String> {
    let level = match config.level.to_ascii_lowercase().as_str() {
        "debug" => "debug",
        "info" => "info",
        "warn" => "warn",
        "error" | "dpanic" | "panic" | "fatal" => "error",
        other => return Err(format!("service.telemetry.logs.level: unknown level {other:?}")),
    };
    // SPOOR_LOG (EnvFilter syntax) overrides, for debugging one module.
    let filter = EnvFilter::try_from_env("SPOOR_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.encoding.as_str() {
        "json" => builder.json().init(),
        "console" => builder.init(),
        other => return Err(format!("service.telemetry.logs.encoding: unknown encoding {other:?}")),
    }
    Ok(())
}
