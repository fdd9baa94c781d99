//! The end-of-run summary, as text for people and as one JSON object for scripts.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::StatusKey;
use crate::runner::WorkerStats;

/// A paced run counts as having reached its target at this fraction of it.
const TARGET_REACHED_FRACTION: f64 = 0.95;

/// Settings of the run, echoed in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub protocol: &'static str,
    pub endpoint: String,
    pub concurrency: usize,
    pub connections: usize,
    pub spans_per_request: usize,
    /// Mean spans per body sent: `spans_per_request`, or fewer where datagrams split requests.
    pub spans_per_body: f64,
    pub encoded_bytes_per_span: f64,
    pub body_bytes_per_request: f64,
    pub compression: &'static str,
    pub warmup_secs: f64,
    pub target_spans_per_sec: Option<f64>,
    /// `--unique-traces`: every send carries trace IDs of its own, with times moved back by up
    /// to `spread_start_secs`.
    pub unique_traces: bool,
    pub spread_start_secs: Option<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn from_histogram(micros: &Histogram<u64>) -> Self {
        if micros.is_empty() {
            return Latency { p50: 0.0, p90: 0.0, p99: 0.0, p99_9: 0.0, max: 0.0, mean: 0.0 };
        }
        let millis = |micros: u64| micros as f64 / 1000.0;
        Latency {
            p50: millis(micros.value_at_quantile(0.50)),
            p90: millis(micros.value_at_quantile(0.90)),
            p99: millis(micros.value_at_quantile(0.99)),
            p99_9: millis(micros.value_at_quantile(0.999)),
            max: millis(micros.max()),
            mean: micros.mean() / 1000.0,
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
            self.p50, self.p90, self.p99, self.p99_9, self.max, self.mean
        )
    }
}

/// Request latencies, recorded in microseconds from 1 µs to 1 h at 3 significant digits.
#[derive(Debug, Clone)]
pub(crate) struct LatencyHistogram(Histogram<u64>);

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        // The bounds are constants, so creating it cannot fail.
        Self(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid")),
        )
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        self.0.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1));
    }

    pub(crate) fn merge(&mut self, other: &LatencyHistogram) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub(crate) fn summary(&self) -> Latency {
        Latency::from_histogram(&self.0)
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Requests counted by how they ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusCounts(HashMap<StatusKey, u64>);

impl StatusCounts {
    pub(crate) fn add(&mut self, key: StatusKey) {
        *self.0.entry(key).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: StatusCounts) {
        for (key, count) in other.0 {
            *self.0.entry(key).or_default() += count;
        }
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: StatusKey) -> u64 {
        self.0.get(&key).copied().unwrap_or(0)
    }

    /// By the names the summaries print (`200`, `UNAVAILABLE`, `timeout`, ...).
    pub(crate) fn named(self) -> BTreeMap<String, u64> {
        self.0.into_iter().map(|(key, count)| (key.to_string(), count)).collect()
    }
}

/// `200: 9  404: 1`, for the summaries' "by status" line.
pub(crate) fn status_line(by_status: &BTreeMap<String, u64>) -> String {
    let statuses: Vec<String> = by_status.iter().map(|(key, count)| format!("{key}: {count}")).collect();
    statuses.join("  ")
}

/// `--trace-ids-out`: where the acknowledged requests' first traces were listed.
#[derive(Debug, Clone, Serialize)]
pub struct TraceList {
    pub file: String,
    pub traces: u64,
}

/// What the server's metrics said it accepted during the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCount {
    pub receiver: String,
    pub transport: String,
    pub accepted_spans: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub info: RunInfo,
    /// Measured time: from the end of warmup to the last response.
    pub duration_secs: f64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    /// Requests by HTTP status, gRPC status name, `timeout`, `connect_error` or `transport_error`.
    pub by_status: BTreeMap<String, u64>,
    pub spans_sent: u64,
    pub spans_acknowledged: u64,
    pub bytes_sent: u64,
    /// Acknowledged spans per second.
    pub spans_per_sec: f64,
    pub requests_per_sec: f64,
    pub mib_per_sec: f64,
    pub latency_ms: Latency,
    /// Whether latency is measured from the scheduled send time (paced runs) or the send.
    pub latency_from: &'static str,
    /// Paced runs: sends skipped because every worker was over a second behind schedule.
    pub skipped_sends: u64,
    /// Paced runs: whether at least 95% of the target rate was acknowledged.
    pub target_reached: Option<bool>,
    /// With `--metrics`: the server's accepted-spans counter over the measured window (it
    /// includes spans in flight at the window's start), its rate, and the sent spans it does
    /// not account for (for UDP, the loss).
    pub server: Option<ServerCount>,
    pub server_accepted_spans_per_sec: Option<f64>,
    pub server_unaccounted_spans: Option<u64>,
    pub trace_list: Option<TraceList>,
}

impl Summary {
    /// True when the run sent nothing or every request failed.
    pub fn all_failed(&self) -> bool {
        self.requests_ok == 0
    }
}

impl WorkerStats {
    pub(crate) fn summarise(
        self,
        info: RunInfo,
        elapsed: Duration,
        skipped: u64,
        server: Option<ServerCount>,
        trace_list: Option<TraceList>,
    ) -> Summary {
        let secs = elapsed.as_secs_f64();
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let spans_per_sec = per_sec(self.spans_acknowledged as f64);
        let latency = self.latency.summary();
        let target_reached =
            info.target_spans_per_sec.map(|target| skipped == 0 && spans_per_sec >= target * TARGET_REACHED_FRACTION);
        Summary {
            latency_from: if info.target_spans_per_sec.is_some() { "schedule" } else { "send" },
            info,
            duration_secs: secs,
            requests_ok: self.ok,
            requests_failed: self.failed,
            by_status: self.by_status.named(),
            spans_sent: self.spans_sent,
            spans_acknowledged: self.spans_acknowledged,
            bytes_sent: self.bytes_sent,
            spans_per_sec,
            requests_per_sec: per_sec((self.ok + self.failed) as f64),
            mib_per_sec: per_sec(self.bytes_sent as f64) / (1024.0 * 1024.0),
            latency_ms: latency,
            skipped_sends: skipped,
            target_reached,
            server_accepted_spans_per_sec: server.as_ref().map(|s| per_sec(s.accepted_spans as f64)),
            server_unaccounted_spans: server.as_ref().map(|s| self.spans_sent.saturating_sub(s.accepted_spans)),
            server,
            trace_list,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.info;
        writeln!(
            f,
            "{} {}: {} workers on {} connections, {:.1} spans/body ({:.0} B/span encoded, {:.0} B/body, compression {})",
            info.protocol,
            info.endpoint,
            info.concurrency,
            info.connections,
            info.spans_per_body,
            info.encoded_bytes_per_span,
            info.body_bytes_per_request,
            info.compression,
        )?;
        writeln!(f, "duration    {:.2} s measured after {:.2} s warmup", self.duration_secs, info.warmup_secs)?;
        writeln!(
            f,
            "requests    ok {}  failed {}  ({:.1}/s)",
            self.requests_ok, self.requests_failed, self.requests_per_sec
        )?;
        writeln!(f, "by status   {}", status_line(&self.by_status))?;
        writeln!(
            f,
            "spans       sent {}  acknowledged {}  ({:.0} spans/s)",
            self.spans_sent, self.spans_acknowledged, self.spans_per_sec
        )?;
        writeln!(
            f,
            "bytes       sent {:.1} MiB  ({:.1} MiB/s)",
            self.bytes_sent as f64 / (1024.0 * 1024.0),
            self.mib_per_sec
        )?;
        if let (Some(server), Some(rate), Some(unaccounted)) =
            (&self.server, self.server_accepted_spans_per_sec, self.server_unaccounted_spans)
        {
            let share = if self.spans_sent > 0 { unaccounted as f64 / self.spans_sent as f64 * 100.0 } else { 0.0 };
            writeln!(
                f,
                "server      accepted {} ({rate:.0} spans/s) on {}/{}; sent but not accepted {unaccounted} ({share:.1} %)",
                server.accepted_spans, server.receiver, server.transport
            )?;
        }
        writeln!(f, "latency ms  {}  (from {})", self.latency_ms, self.latency_from)?;
        match info.spread_start_secs {
            Some(spread) if spread > 0.0 => {
                writeln!(f, "traces      unique per send, starts spread over the last {spread:.0} s")?
            }
            Some(_) => writeln!(f, "traces      unique per send")?,
            None => {}
        }
        if let Some(list) = &self.trace_list {
            writeln!(f, "trace list  {} traces in {}", list.traces, list.file)?;
        }
        if let (Some(target), Some(reached)) = (info.target_spans_per_sec, self.target_reached) {
            let verdict = if reached { "reached" } else { "NOT REACHED" };
            writeln!(
                f,
                "rate        target {target:.0} spans/s, acknowledged {:.0} spans/s, {} sends skipped: {verdict}",
                self.spans_per_sec, self.skipped_sends
            )?;
        }
        Ok(())
    }
}
