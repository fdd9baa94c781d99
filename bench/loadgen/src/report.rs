//! The end-of-run summary, as text for people and as one JSON object for scripts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

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
    ) -> Summary {
        let secs = elapsed.as_secs_f64();
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let spans_per_sec = per_sec(self.spans_acknowledged as f64);
        let millis = |micros: u64| micros as f64 / 1000.0;
        let latency = if self.latency.is_empty() {
            Latency { p50: 0.0, p90: 0.0, p99: 0.0, p99_9: 0.0, max: 0.0, mean: 0.0 }
        } else {
            Latency {
                p50: millis(self.latency.value_at_quantile(0.50)),
                p90: millis(self.latency.value_at_quantile(0.90)),
                p99: millis(self.latency.value_at_quantile(0.99)),
                p99_9: millis(self.latency.value_at_quantile(0.999)),
                max: millis(self.latency.max()),
                mean: self.latency.mean() / 1000.0,
            }
        };
        let target_reached =
            info.target_spans_per_sec.map(|target| skipped == 0 && spans_per_sec >= target * TARGET_REACHED_FRACTION);
        Summary {
            latency_from: if info.target_spans_per_sec.is_some() { "schedule" } else { "send" },
            info,
            duration_secs: secs,
            requests_ok: self.ok,
            requests_failed: self.failed,
            by_status: self.by_status.into_iter().map(|(key, count)| (key.to_string(), count)).collect(),
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
        let statuses: Vec<String> = self.by_status.iter().map(|(key, count)| format!("{key}: {count}")).collect();
        writeln!(f, "by status   {}", statuses.join("  "))?;
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
        let l = &self.latency_ms;
        writeln!(
            f,
            "latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3}, from {})",
            l.p50, l.p90, l.p99, l.p99_9, l.max, l.mean, self.latency_from
        )?;
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
