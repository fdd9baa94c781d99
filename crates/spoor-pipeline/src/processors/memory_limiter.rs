//! The `memory_limiter` processor: refuses new data while the process uses more memory than
//! the soft limit (limit minus spike). Usage is jemalloc's exact count of allocated bytes, and
//! of resident pages, since freed pages it still holds are RSS too: above the soft limit (and so
//! above the hard limit) they are handed back to the kernel before usage is judged, as the Go
//! collector forces a GC. It is read at most every few milliseconds on the request path and
//! every `check_interval` in the background; the log says when usage crosses either limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::batch::TraceBatch;
use crate::consumer::{ConsumeError, TracesConsumer};
use crate::processors::memory;
use crate::telemetry::ProcessorMetrics;

/// How stale a reading may be on the request path. A flood of large requests must see the
/// limit well within one `check_interval`, or memory overshoots before the ticker notices.
const REQUEST_PATH_REFRESH: Duration = Duration::from_millis(5);

/// What the sender is told to wait before retrying.
const RETRY_AFTER: Duration = Duration::from_secs(1);

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    #[serde(default, with = "spoor_config::duration")]
    pub check_interval: Duration,
    #[serde(default)]
    pub limit_mib: u64,
    #[serde(default)]
    pub spike_limit_mib: u64,
    #[serde(default)]
    pub limit_percentage: u64,
    #[serde(default)]
    pub spike_limit_percentage: u64,
}

/// Limits in bytes, checked against the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub soft: u64,
    pub hard: u64,
}

impl MemoryLimiterConfig {
    /// Resolves the limits as the collector does; the error names the offending key.
    pub fn limits(&self, total_memory: Option<u64>) -> Result<MemoryLimits, (&'static str, String)> {
        if self.check_interval.is_zero() {
            return Err(("check_interval", "must be greater than zero".to_owned()));
        }
        let (hard, spike) = if self.limit_mib > 0 {
            let spike = if self.spike_limit_mib > 0 { self.spike_limit_mib } else { self.limit_mib / 5 };
            (self.limit_mib * MIB, spike * MIB)
        } else if self.limit_percentage > 0 {
            if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
                return Err(("limit_percentage", "percentages must be between 1 and 100".to_owned()));
            }
            let total = total_memory.ok_or(("limit_percentage", "cannot read the memory available".to_owned()))?;
            (total / 100 * self.limit_percentage, total / 100 * self.spike_limit_percentage)
        } else {
            return Err(("limit_mib", "either limit_mib or limit_percentage must be greater than zero".to_owned()));
        };
        if spike >= hard {
            return Err(("spike_limit_mib", "the spike limit must be lower than the limit".to_owned()));
        }
        Ok(MemoryLimits { soft: hard - spike, hard })
    }
}

/// Shared between the request path and the background ticker.
struct Gauge {
    limits: MemoryLimits,
    /// The [`Pressure`] of the last check.
    pressure: AtomicU8,
    last_check_micros: AtomicU64,
    epoch: Instant,
}

/// Where usage stands against the limits, after free memory has been handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Pressure {
    Normal = 0,
    /// Above the soft limit: new data is refused.
    Soft = 1,
    /// Above the hard limit, even with free memory handed back: refused, and said louder.
    Hard = 2,
}

impl Pressure {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Normal,
            1 => Self::Soft,
            _ => Self::Hard,
        }
    }
}

impl MemoryLimits {
    fn pressure(&self, usage: u64) -> Pressure {
        if usage > self.hard {
            Pressure::Hard
        } else if usage > self.soft {
            Pressure::Soft
        } else {
            Pressure::Normal
        }
    }
}

impl Gauge {
    fn check(&self) -> bool {
        let usage = self.usage();
        let pressure = self.limits.pressure(usage);
        let was = Pressure::from_u8(self.pressure.swap(pressure as u8, Ordering::Relaxed));
        if pressure != was {
            let usage_mib = usage / MIB;
            match pressure {
                Pressure::Hard => tracing::warn!(
                    usage_mib,
                    hard_limit_mib = self.limits.hard / MIB,
                    "memory usage is above the hard limit even after releasing free memory, refusing data"
                ),
                Pressure::Soft if was == Pressure::Normal => tracing::warn!(
                    usage_mib,
                    soft_limit_mib = self.limits.soft / MIB,
                    "memory usage is above the soft limit, refusing data"
                ),
                Pressure::Soft => {}
                Pressure::Normal => {
                    tracing::info!(usage_mib, "memory usage is back below the soft limit, accepting data");
                }
            }
        }
        self.last_check_micros.store(self.epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
        pressure != Pressure::Normal
    }

    /// Live allocations, exact; and the freed pages the allocator still holds, which count
    /// against the limit as RSS does, unless handing them back brings usage under the limit.
    fn usage(&self) -> u64 {
        let Some((allocated, resident)) = memory::allocator_bytes() else {
            return memory::rss_bytes().unwrap_or(0);
        };
        if resident <= self.limits.soft {
            return allocated.max(resident);
        }
        memory::release_free_memory();
        let resident = memory::allocator_bytes().map_or(resident, |(_, resident)| resident);
        allocated.max(resident)
    }

    fn refusing_now(&self) -> bool {
        let now = self.epoch.elapsed().as_micros() as u64;
        if now.saturating_sub(self.last_check_micros.load(Ordering::Relaxed)) >= REQUEST_PATH_REFRESH.as_micros() as u64
        {
            return self.check();
        }
        Pressure::from_u8(self.pressure.load(Ordering::Relaxed)) != Pressure::Normal
    }
}

pub struct MemoryLimiter {
    gauge: Arc<Gauge>,
    next: Arc<dyn TracesConsumer>,
    metrics: ProcessorMetrics,
    ticker: JoinHandle<()>,
}

impl MemoryLimiter {
    pub fn new(
        limits: MemoryLimits,
        check_interval: Duration,
        next: Arc<dyn TracesConsumer>,
        metrics: ProcessorMetrics,
    ) -> Self {
        let gauge = Arc::new(Gauge {
            limits,
            pressure: AtomicU8::new(Pressure::Normal as u8),
            last_check_micros: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        gauge.check();
        let ticker_gauge = gauge.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(check_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticker_gauge.check();
            }
        });
        Self { gauge, next, metrics, ticker }
    }

    fn refusal() -> ConsumeError {
        ConsumeError::Refused {
            reason: "data refused due to high memory usage".to_owned(),
            retry_after: Some(RETRY_AFTER),
        }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

#[async_trait]
impl TracesConsumer for MemoryLimiter {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        let spans = batch.span_count() as u64;
        self.metrics.incoming.inc_by(spans);
        if self.gauge.refusing_now() {
            return Err(Self::refusal());
        }
        self.next.consume(batch).await?;
        self.metrics.outgoing.inc_by(spans);
        Ok(())
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        if self.gauge.refusing_now() {
            return Err(Self::refusal());
        }
        self.next.check_admission()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(limit_mib: u64, spike_limit_mib: u64) -> MemoryLimiterConfig {
        MemoryLimiterConfig { check_interval: Duration::from_secs(1), limit_mib, spike_limit_mib, ..Default::default() }
    }

    #[test]
    fn soft_limit_is_limit_minus_spike() {
        let limits = config(100, 30).limits(None).unwrap();
        assert_eq!(limits, MemoryLimits { soft: 70 * MIB, hard: 100 * MIB });
        let default_spike = config(100, 0).limits(None).unwrap();
        assert_eq!(default_spike.soft, 80 * MIB);
    }

    #[test]
    fn percentages_apply_to_total_memory() {
        let cfg = MemoryLimiterConfig {
            check_interval: Duration::from_secs(1),
            limit_percentage: 75,
            spike_limit_percentage: 15,
            ..Default::default()
        };
        let limits = cfg.limits(Some(1000 * MIB)).unwrap();
        assert_eq!(limits.hard, 750 * MIB);
        assert_eq!(limits.soft, 600 * MIB);
    }

    #[test]
    fn pressure_is_soft_above_limit_minus_spike_and_hard_above_limit() {
        let limits = config(100, 30).limits(None).unwrap();
        assert_eq!(limits.pressure(70 * MIB), Pressure::Normal);
        assert_eq!(limits.pressure(70 * MIB + 1), Pressure::Soft);
        assert_eq!(limits.pressure(100 * MIB), Pressure::Soft);
        assert_eq!(limits.pressure(100 * MIB + 1), Pressure::Hard);
    }

    #[test]
    fn rejects_bad_settings() {
        assert_eq!(config(100, 100).limits(None).unwrap_err().0, "spike_limit_mib");
        assert_eq!(config(0, 0).limits(None).unwrap_err().0, "limit_mib");
        let no_interval = MemoryLimiterConfig { limit_mib: 10, ..Default::default() };
        assert_eq!(no_interval.limits(None).unwrap_err().0, "check_interval");
    }
}
