//! Backend configs, in Jaeger v2's `jaeger_storage.backends.<name>` shape:
//! `memory: {max_traces}` and `embedded: {path, ttl, block_duration, sync, ...}`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// `memory: {max_traces}`: the newest `max_traces` traces, the oldest evicted first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Default 100000, as Jaeger's all-in-one config.
    pub max_traces: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self { max_traces: 100_000 }
    }
}

impl MemoryConfig {
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.max_traces == 0 {
            return Err(StoreError::InvalidConfig("max_traces must be greater than zero".to_owned()));
        }
        Ok(())
    }
}

/// When the WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Every write is fsynced before it is acknowledged (shared by concurrent writers through
    /// group commit).
    #[default]
    Always,
    /// Writes are acknowledged once in the OS page cache and fsynced every `sync_interval`:
    /// a machine crash loses at most that much, a process crash nothing.
    Interval,
}

/// `embedded: {...}`: the default persistent backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// Data directory: `wal/` (always local) and `blocks/`. Default `./spoor-data`.
    pub path: PathBuf,
    /// Blocks whose newest span started more than `ttl` ago are deleted. Default `72h`, as
    /// Jaeger's Badger; `0` keeps everything.
    #[serde(with = "spoor_config::duration")]
    pub ttl: Duration,
    /// The head is cut into a block at least this often. Default `10m`: short enough that the
    /// head (memory) and WAL replay stay small at low rates, long enough that blocks are not
    /// tiny; compaction merges the blocks of one `compaction_window` afterwards.
    #[serde(with = "spoor_config::duration")]
    pub block_duration: Duration,
    /// `always` (default) or `interval`.
    pub sync: SyncMode,
    /// With `sync: interval`, how often the WAL is fsynced. Default `1s`.
    #[serde(with = "spoor_config::duration")]
    pub sync_interval: Duration,
    /// The head is cut early when it holds this many spans. Default 250000: about 0.6 GiB of
    /// head memory at the ~2.5 KiB a decoded span takes there. Writes are refused while two
    /// blocks' worth wait in memory (cutting cannot keep up), so this also bounds the store's
    /// memory.
    pub max_block_spans: usize,
    /// Compaction merges small blocks whose spans start in the same window. Default `1h`.
    #[serde(with = "spoor_config::duration")]
    pub compaction_window: Duration,
    /// Compaction does not grow a block past this many spans. Default 2000000. A merge's memory
    /// grows with it (the output block's search index is built in memory: about 120 B per
    /// span), so this bounds compaction's share of the process's peak.
    pub compaction_max_spans: usize,
    /// How often retention and compaction run in the background. Default `1m`.
    #[serde(with = "spoor_config::duration")]
    pub maintenance_interval: Duration,
    /// The head is cut early when the received bytes it holds reach this size. Default 48 MiB.
    /// Writes are refused (retryable) while two heads' worth wait in memory, so this bounds
    /// the store's memory (at full speed the process peaks at several times it: two heads, and
    /// a cut building blocks on every core; bench/RESULTS.md has figures); `max_block_spans`
    /// still cuts by span count.
    pub max_head_bytes: u64,
    /// A span that starts more than this far in the future (or before `now − ttl`) is placed
    /// by its ingestion time for block time ranges, retention and compaction, as Tempo does;
    /// the span itself is stored unchanged. Default `10m`.
    #[serde(with = "spoor_config::duration")]
    pub max_future: Duration,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./spoor-data"),
            ttl: Duration::from_secs(72 * 3600),
            block_duration: Duration::from_secs(600),
            sync: SyncMode::Always,
            sync_interval: Duration::from_secs(1),
            max_block_spans: 250_000,
            compaction_window: Duration::from_secs(3600),
            compaction_max_spans: 2_000_000,
            maintenance_interval: Duration::from_secs(60),
            max_head_bytes: 48 << 20,
            max_future: Duration::from_secs(600),
        }
    }
}

impl EmbeddedConfig {
    /// A config for `path` with every other setting at its default.
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), ..Self::default() }
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |message: &str| Err(StoreError::InvalidConfig(message.to_owned()));
        if self.path.as_os_str().is_empty() {
            return invalid("path must not be empty");
        }
        if self.block_duration.is_zero() {
            return invalid("block_duration must be greater than zero");
        }
        if self.max_block_spans == 0 {
            return invalid("max_block_spans must be greater than zero");
        }
        if self.sync == SyncMode::Interval && self.sync_interval.is_zero() {
            return invalid("sync_interval must be greater than zero");
        }
        if self.compaction_window.is_zero() {
            return invalid("compaction_window must be greater than zero");
        }
        if self.maintenance_interval.is_zero() {
            return invalid("maintenance_interval must be greater than zero");
        }
        if self.max_head_bytes < 1 << 20 {
            return invalid("max_head_bytes must be at least 1 MiB");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_reads_jaeger_shape_with_go_durations() {
        let config: EmbeddedConfig = serde_json::from_str(
            r#"{"path":"/var/lib/spoor","ttl":"24h","block_duration":"5m","sync":"interval","sync_interval":"200ms"}"#,
        )
        .unwrap();
        assert_eq!(config.path, PathBuf::from("/var/lib/spoor"));
        assert_eq!(config.ttl, Duration::from_secs(86400));
        assert_eq!(config.block_duration, Duration::from_secs(300));
        assert_eq!(config.sync, SyncMode::Interval);
        assert_eq!(config.sync_interval, Duration::from_millis(200));
        assert_eq!(config.max_block_spans, 250_000);
        config.validate().unwrap();
    }

    #[test]
    fn configs_reject_unknown_keys() {
        assert!(serde_json::from_str::<EmbeddedConfig>(r#"{"pth":"x"}"#).is_err());
        assert!(serde_json::from_str::<MemoryConfig>(r#"{"max_trace":1}"#).is_err());
        assert!(serde_json::from_str::<EmbeddedConfig>(r#"{"sync":"sometimes"}"#).is_err());
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = EmbeddedConfig::default();
        assert_eq!(config.path, PathBuf::from("./spoor-data"));
        assert_eq!(config.ttl, Duration::from_secs(72 * 3600));
        assert_eq!(MemoryConfig::default().max_traces, 100_000);
        assert!(MemoryConfig { max_traces: 0 }.validate().is_err());
    }
}
