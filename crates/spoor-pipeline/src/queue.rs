//! The collector's `sending_queue` and `retry_on_failure` around any [`Exporter`].

use std::time::Duration;

use serde::Deserialize;

/// `retry_on_failure`, with the collector's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    #[serde(with = "spoor_config::duration")]
    pub initial_interval: Duration,
    #[serde(with = "spoor_config::duration")]
    pub max_interval: Duration,
    /// Zero means retry forever.
    #[serde(with = "spoor_config::duration")]
    pub max_elapsed_time: Duration,
    pub multiplier: f64,
    pub randomization_factor: f64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}

/// `sending_queue`, with the collector's defaults. Sizes count requests (batches).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    pub enabled: bool,
    pub num_consumers: usize,
    pub queue_size: usize,
    /// Accepted for compatibility: the collector's blocking mode. spoor always applies
    /// backpressure instead of dropping.
    pub blocking: bool,
    /// The `file_storage` extension that backs a persistent queue.
    pub storage: Option<String>,
    pub sizer: Option<String>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { enabled: true, num_consumers: 10, queue_size: 1000, blocking: false, storage: None, sizer: None }
    }
}
