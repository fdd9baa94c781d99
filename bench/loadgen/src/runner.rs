//! The load run: workers that send pre-encoded requests, closed-loop or paced, and their stats.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{self, GrpcMethod, GrpcSender, HttpApi, HttpSender, HttpTarget, Outcome, Sender, UdpSender};
use crate::known::{self, KnownTrace};
use crate::metrics::MetricsTarget;
use crate::payload::{Format, PayloadConfig, PayloadPool};
use crate::report::{LatencyHistogram, RunInfo, ServerCount, StatusCounts, Summary, TraceList};

/// An ingest protocol: what is encoded, how it is sent, and where by default.
/// Command-line names are the variants in kebab case (`grpc`, `jaeger-udp-compact`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP protobuf.
    Http,
    /// Jaeger api_v2 gRPC `PostSpans` (collector port 14250).
    JaegerGrpc,
    /// Jaeger Thrift binary over HTTP, `POST /api/traces` (collector port 14268).
    JaegerThriftHttp,
    /// Jaeger agent `emitBatch`, compact Thrift over UDP (6831).
    JaegerUdpCompact,
    /// Jaeger agent `emitBatch`, binary Thrift over UDP (6832).
    JaegerUdpBinary,
    /// Zipkin v2 JSON, `POST /api/v2/spans` (9411).
    ZipkinJson,
    /// Zipkin v2 protobuf, `POST /api/v2/spans` (9411).
    ZipkinProto,
    /// Zipkin v1 JSON, `POST /api/v1/spans` (9411).
    ZipkinV1Json,
    /// Zipkin v1 Thrift (a binary-protocol `list<Span>`), `POST /api/v1/spans` (9411).
    ZipkinV1Thrift,
}

/// How a protocol's requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc(GrpcMethod),
    Http(HttpApi),
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 10] = [
        Protocol::Grpc,
        Protocol::Http,
        Protocol::JaegerGrpc,
        Protocol::JaegerThriftHttp,
        Protocol::JaegerUdpCompact,
        Protocol::JaegerUdpBinary,
        Protocol::ZipkinJson,
        Protocol::ZipkinProto,
        Protocol::ZipkinV1Json,
        Protocol::ZipkinV1Thrift,
    ];

    /// The name `--protocol` takes.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
            Protocol::JaegerGrpc => "jaeger-grpc",
            Protocol::JaegerThriftHttp => "jaeger-thrift-http",
            Protocol::JaegerUdpCompact => "jaeger-udp-compact",
            Protocol::JaegerUdpBinary => "jaeger-udp-binary",
            Protocol::ZipkinJson => "zipkin-json",
            Protocol::ZipkinProto => "zipkin-proto",
            Protocol::ZipkinV1Json => "zipkin-v1-json",
            Protocol::ZipkinV1Thrift => "zipkin-v1-thrift",
        }
    }

    pub fn format(self) -> Format {
        match self {
            Protocol::Grpc | Protocol::Http => Format::Otlp,
            Protocol::JaegerGrpc => Format::JaegerProto,
            Protocol::JaegerThriftHttp => Format::JaegerThriftHttp,
            Protocol::JaegerUdpCompact => Format::AgentCompact,
            Protocol::JaegerUdpBinary => Format::AgentBinary,
            Protocol::ZipkinJson => Format::ZipkinJson,
            Protocol::ZipkinProto => Format::ZipkinProto,
            Protocol::ZipkinV1Json => Format::ZipkinV1Json,
            Protocol::ZipkinV1Thrift => Format::ZipkinV1Thrift,
        }
    }

    pub fn transport(self) -> Transport {
        match self {
            Protocol::Grpc => Transport::Grpc(GrpcMethod::OtlpExport),
            Protocol::JaegerGrpc => Transport::Grpc(GrpcMethod::JaegerPostSpans),
            Protocol::Http => Transport::Http(HttpApi::Otlp),
            Protocol::JaegerThriftHttp => Transport::Http(HttpApi::JaegerThrift),
            Protocol::ZipkinJson => Transport::Http(HttpApi::ZipkinJson),
            Protocol::ZipkinProto => Transport::Http(HttpApi::ZipkinProto),
            Protocol::ZipkinV1Json => Transport::Http(HttpApi::ZipkinV1Json),
            Protocol::ZipkinV1Thrift => Transport::Http(HttpApi::ZipkinV1Thrift),
            Protocol::JaegerUdpCompact | Protocol::JaegerUdpBinary => Transport::Udp,
        }
    }

    /// The receiver's usual address on this machine.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://127.0.0.1:4317",
            Protocol::Http => "http://127.0.0.1:4318",
            Protocol::JaegerGrpc => "http://127.0.0.1:14250",
            Protocol::JaegerThriftHttp => "http://127.0.0.1:14268",
            Protocol::JaegerUdpCompact => "127.0.0.1:6831",
            Protocol::JaegerUdpBinary => "127.0.0.1:6832",
            Protocol::ZipkinJson | Protocol::ZipkinProto | Protocol::ZipkinV1Json | Protocol::ZipkinV1Thrift => {
                "http://127.0.0.1:9411"
            }
        }
    }

    /// The `receiver` and `transport` labels the collector (and spoor) count this protocol's
    /// accepted spans under, with the receiver's default name.
    pub fn metric_labels(self) -> (&'static str, &'static str) {
        match self {
            Protocol::Grpc => ("otlp", "grpc"),
            Protocol::Http => ("otlp", "http"),
            Protocol::JaegerGrpc => ("jaeger", "grpc"),
            Protocol::JaegerThriftHttp => ("jaeger", "collector_http"),
            Protocol::JaegerUdpCompact => ("jaeger", "udp_thrift_compact"),
            Protocol::JaegerUdpBinary => ("jaeger", "udp_thrift_binary"),
            Protocol::ZipkinJson => ("zipkin", "http_v2_json"),
            Protocol::ZipkinProto => ("zipkin", "http_v2_proto"),
            Protocol::ZipkinV1Json => ("zipkin", "http_v1_json"),
            Protocol::ZipkinV1Thrift => ("zipkin", "http_v1_thrift"),
        }
    }
}

/// A validated run; see the CLI for what each field means.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub protocol: Protocol,
    pub endpoint: String,
    pub concurrency: usize,
    /// gRPC channels (HTTP/2 connections) shared by the workers; HTTP/1 uses one per worker.
    pub connections: usize,
    pub rate_spans_per_sec: Option<f64>,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub timeout: Duration,
    pub gzip: bool,
    pub spans_per_request: usize,
    pub pool_size: usize,
    pub seed: u64,
    /// Read the server's accepted-spans counter before and after the measured window.
    pub metrics: Option<MetricsTarget>,
    /// Trace IDs of its own for every send, and times moved back by up to `spread_start`
    /// (`stamp`); OTLP without gzip only.
    pub unique_traces: bool,
    pub spread_start: Duration,
    /// Write the first trace of every acknowledged request here (`known`).
    pub trace_ids_out: Option<PathBuf>,
    /// Stop once this many measured spans are acknowledged.
    pub acknowledged_spans: Option<u64>,
    /// How long a worker waits after the server refused a request for lack of room.
    pub refused_backoff: Duration,
    /// gRPC over TLS with these CAs.
    pub ca_file: Option<PathBuf>,
    /// Sent as `Authorization` with every request.
    pub authorization: Option<String>,
}

/// How long to wait, after the last send, for the server's count to stop moving.
const METRICS_SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// How far a paced run may fall behind before it gives up on the sends it missed.
const MAX_LAG: Duration = Duration::from_secs(1);
/// Pause after a connection failure so that a dead endpoint does not make workers spin.
pub(crate) const CONNECTION_FAILURE_PAUSE: Duration = Duration::from_millis(10);

/// Builds the payloads, connects, runs the workers and summarises what they measured.
pub async fn run(config: RunConfig) -> anyhow::Result<Summary> {
    let pool = PayloadPool::build(&PayloadConfig {
        spans_per_request: config.spans_per_request,
        pool_size: config.pool_size,
        seed: config.seed,
        // gRPC bodies stay raw: tonic compresses each message itself.
        gzip: config.gzip && matches!(config.protocol.transport(), Transport::Http(_)),
        format: config.protocol.format(),
    })
    .context("cannot build the request pool")?;
    let pool = if config.unique_traces { pool.with_unique_traces(config.spread_start)? } else { pool };
    let info = RunInfo {
        protocol: config.protocol.name(),
        endpoint: config.endpoint.clone(),
        concurrency: config.concurrency,
        connections: match config.protocol.transport() {
            Transport::Grpc(_) => config.connections,
            Transport::Http(_) | Transport::Udp => config.concurrency,
        },
        spans_per_request: config.spans_per_request,
        spans_per_body: pool.mean_spans_per_payload(),
        encoded_bytes_per_span: pool.mean_encoded_span_bytes(),
        body_bytes_per_request: pool.mean_body_bytes(),
        compression: if config.gzip && config.protocol.transport() != Transport::Udp { "gzip" } else { "none" },
        warmup_secs: config.warmup.as_secs_f64(),
        target_spans_per_sec: config.rate_spans_per_sec,
        unique_traces: config.unique_traces,
        spread_start_secs: config.unique_traces.then_some(config.spread_start.as_secs_f64()),
    };
    let senders = connect(&config, pool.max_body_len()).await?;
    // Read once before anything is sent, so that an unreachable metrics endpoint fails at start.
    let first_count = match &config.metrics {
        Some(metrics) => Some(metrics.accepted_spans().await.context("cannot read the server's metrics")?),
        None => None,
    };
    let spans_per_body = pool.mean_spans_per_payload().max(1.0);

    let start = Instant::now();
    let measure_start = start + config.warmup;
    let plan = Arc::new(Plan {
        pool,
        bounds: Bounds::new(measure_start, config.duration, config.requests),
        pacer: config.rate_spans_per_sec.map(|rate| Pacer::new(start, rate / spans_per_body, measure_start)),
        acknowledged_target: config.acknowledged_spans,
        acknowledged: AtomicU64::new(0),
        list_traces: config.trace_ids_out.is_some(),
        refused_backoff: config.refused_backoff,
    });
    // The count at the start of the measured window (right away without warmup).
    let window_start = config.metrics.clone().map(|metrics| {
        tokio::spawn(async move {
            if measure_start > Instant::now() {
                tokio::time::sleep_until(measure_start).await;
                metrics.accepted_spans().await.ok()
            } else {
                first_count
            }
        })
    });

    let mut workers = JoinSet::new();
    for (index, sender) in senders.into_iter().enumerate() {
        let plan = Arc::clone(&plan);
        workers.spawn(run_worker(index as u64, config.concurrency as u64, sender, plan));
    }
    let mut total = WorkerStats::new();
    while let Some(result) = workers.join_next().await {
        total.merge(result.context("worker panicked")?);
    }
    let skipped = plan.pacer.as_ref().map_or(0, |p| p.skipped.load(Ordering::Relaxed));
    let traces = match &config.trace_ids_out {
        Some(path) => {
            known::write_file(path, &total.traces)?;
            Some(TraceList { file: path.display().to_string(), traces: total.traces.len() as u64 })
        }
        None => None,
    };
    let elapsed = total.last_end.map_or(Duration::ZERO, |end| end.saturating_duration_since(measure_start));
    let server = match (&config.metrics, window_start) {
        (Some(metrics), Some(window_start)) => {
            let before = window_start.await.ok().flatten();
            let after = metrics.settled_accepted_spans(METRICS_SETTLE_LIMIT).await;
            match (before, after) {
                (Some(before), Ok(after)) => Some(ServerCount {
                    receiver: metrics.receiver.clone(),
                    transport: metrics.transport.clone(),
                    accepted_spans: after.saturating_sub(before),
                }),
                (_, Err(error)) => {
                    eprintln!("spoor-loadgen: cannot read the server's metrics at the end: {error:#}");
                    None
                }
                (None, _) => {
                    eprintln!("spoor-loadgen: cannot read the server's metrics when the measured window started");
                    None
                }
            }
        }
        _ => None,
    };
    Ok(total.summarise(info, elapsed, skipped, server, traces))
}

async fn connect(config: &RunConfig, max_body_len: usize) -> anyhow::Result<Vec<Sender>> {
    match config.protocol.transport() {
        Transport::Grpc(method) => {
            let channels =
                client::connect_grpc_channels(&config.endpoint, config.connections, config.ca_file.as_deref()).await?;
            let authorization = config.authorization.as_deref().map(str::parse).transpose()?;
            Ok((0..config.concurrency)
                .map(|i| {
                    let channel = channels[i % channels.len()].clone();
                    let sender = GrpcSender::new(channel, method, config.gzip, config.timeout, max_body_len);
                    Sender::Grpc(sender.with_authorization(authorization.clone()))
                })
                .collect())
        }
        Transport::Http(api) => {
            anyhow::ensure!(
                config.ca_file.is_none() && config.authorization.is_none(),
                "--ca-file and --authorization are for the gRPC protocols"
            );
            let target = HttpTarget::parse(&config.endpoint, api, config.gzip)?;
            let mut senders = Vec::with_capacity(config.concurrency);
            for _ in 0..config.concurrency {
                let sender = HttpSender::connect(target.clone(), config.timeout).await?;
                senders.push(Sender::Http(sender));
            }
            Ok(senders)
        }
        Transport::Udp => {
            let target = client::resolve_udp(&config.endpoint).await?;
            let mut senders = Vec::with_capacity(config.concurrency);
            for _ in 0..config.concurrency {
                senders.push(Sender::Udp(UdpSender::connect(target, config.timeout).await?));
            }
            Ok(senders)
        }
    }
}

/// When a run's workers measure and when they stop, shared by all of them.
pub(crate) struct Bounds {
    /// Requests sent (or scheduled) before this are warmup and not measured.
    measure_start: Instant,
    deadline: Option<Instant>,
    /// Measured requests left to send, for `--requests`.
    budget: Option<AtomicU64>,
}

impl Bounds {
    pub(crate) fn new(measure_start: Instant, duration: Option<Duration>, requests: Option<u64>) -> Self {
        Self { measure_start, deadline: duration.map(|d| measure_start + d), budget: requests.map(AtomicU64::new) }
    }

    fn past_deadline(&self, at: Instant) -> bool {
        self.deadline.is_some_and(|deadline| at >= deadline)
    }

    /// Takes one request from the budget; false when the budget is spent.
    fn take_from_budget(&self) -> bool {
        self.budget.as_ref().is_none_or(|budget| {
            budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok()
        })
    }

    /// Whether a request sent at `at` is measured, or `None` when the run is over: past the
    /// deadline, or out of measured requests.
    pub(crate) fn admit(&self, at: Instant) -> Option<bool> {
        if self.past_deadline(at) {
            return None;
        }
        let measured = at >= self.measure_start;
        if measured && !self.take_from_budget() {
            return None;
        }
        Some(measured)
    }
}

/// What every worker reads: the payloads and the bounds of the run.
struct Plan {
    pool: PayloadPool,
    bounds: Bounds,
    pacer: Option<Pacer>,
    /// `--acknowledged-spans`: stop once `acknowledged` (measured spans) reaches it.
    acknowledged_target: Option<u64>,
    acknowledged: AtomicU64,
    /// Keep the first trace of every acknowledged request, for `--trace-ids-out`.
    list_traces: bool,
    refused_backoff: Duration,
}

impl Plan {
    fn enough_acknowledged(&self) -> bool {
        self.acknowledged_target.is_some_and(|target| self.acknowledged.load(Ordering::Relaxed) >= target)
    }
}

/// Open-loop schedule: request `n` is due at `start + n / rate`, whoever sends it.
struct Pacer {
    start: Instant,
    interval_secs: f64,
    next_slot: AtomicU64,
    /// Measured slots given up because every worker was busy for longer than `MAX_LAG`.
    skipped: AtomicU64,
    measure_start: Instant,
}

impl Pacer {
    fn new(start: Instant, requests_per_sec: f64, measure_start: Instant) -> Self {
        Self {
            start,
            interval_secs: 1.0 / requests_per_sec,
            next_slot: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            measure_start,
        }
    }

    fn due(&self, slot: u64) -> Instant {
        self.start + Duration::from_secs_f64(self.interval_secs * slot as f64)
    }

    /// Claims the next send time; `None` once it would be past the deadline.
    fn claim(&self, plan_deadline: Option<Instant>) -> Option<Instant> {
        loop {
            let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
            let due = self.due(slot);
            if plan_deadline.is_some_and(|deadline| due >= deadline) {
                return None;
            }
            let now = Instant::now();
            if now.saturating_duration_since(due) <= MAX_LAG {
                return Some(due);
            }
            // Too far behind: skip every slot up to now instead of bursting to catch up.
            let now_slot = ((now - self.start).as_secs_f64() / self.interval_secs) as u64;
            let previous = self.next_slot.fetch_max(now_slot, Ordering::Relaxed);
            if now >= self.measure_start {
                let missed = 1 + now_slot.saturating_sub(previous);
                self.skipped.fetch_add(missed, Ordering::Relaxed);
            }
        }
    }
}

async fn run_worker(index: u64, workers: u64, mut sender: Sender, plan: Arc<Plan>) -> WorkerStats {
    let mut stats = WorkerStats::new();
    // Workers start at different pool entries so concurrent bodies differ.
    let mut sequence = index;
    while !plan.enough_acknowledged() {
        let scheduled = match &plan.pacer {
            Some(pacer) => {
                let Some(due) = pacer.claim(plan.bounds.deadline) else {
                    break;
                };
                tokio::time::sleep_until(due).await;
                due
            }
            None => Instant::now(),
        };
        let Some(measured) = plan.bounds.admit(scheduled) else {
            break;
        };
        let payload = plan.pool.get(sequence);
        let (body, first_trace) = plan.pool.body(sequence);
        sequence += workers;
        let outcome = sender.send(body).await;
        let end = Instant::now();
        if measured {
            // Paced runs measure from the scheduled time, so a late send counts as latency.
            stats.record(&outcome, payload.spans, payload.body.len(), end - scheduled, end);
            if outcome.ok {
                plan.acknowledged.fetch_add(payload.spans.saturating_sub(outcome.rejected_spans), Ordering::Relaxed);
            }
        }
        if let (true, true, Some(trace)) = (plan.list_traces, outcome.ok, first_trace) {
            stats.traces.push(trace);
        }
        if outcome.is_connection_failure() {
            tokio::time::sleep(CONNECTION_FAILURE_PAUSE).await;
        } else if outcome.is_refusal() && !plan.refused_backoff.is_zero() {
            tokio::time::sleep(plan.refused_backoff).await;
        }
    }
    stats
}

/// What one worker measured; merged into the run's summary at the end.
pub(crate) struct WorkerStats {
    pub ok: u64,
    pub failed: u64,
    pub by_status: StatusCounts,
    pub spans_sent: u64,
    pub spans_acknowledged: u64,
    pub bytes_sent: u64,
    pub latency: LatencyHistogram,
    pub last_end: Option<Instant>,
    /// The first trace of each acknowledged request, warmup included, with `--trace-ids-out`.
    pub traces: Vec<KnownTrace>,
}

impl WorkerStats {
    fn new() -> Self {
        Self {
            ok: 0,
            failed: 0,
            by_status: StatusCounts::default(),
            spans_sent: 0,
            spans_acknowledged: 0,
            bytes_sent: 0,
            latency: LatencyHistogram::new(),
            last_end: None,
            traces: Vec::new(),
        }
    }

    fn record(&mut self, outcome: &Outcome, spans: u64, bytes: usize, latency: Duration, end: Instant) {
        self.by_status.add(outcome.key);
        self.spans_sent += spans;
        self.bytes_sent += bytes as u64;
        if outcome.ok {
            self.ok += 1;
            self.spans_acknowledged += spans.saturating_sub(outcome.rejected_spans);
        } else {
            self.failed += 1;
        }
        self.latency.record(latency);
        self.last_end = Some(end);
    }

    fn merge(&mut self, other: WorkerStats) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.by_status.merge(other.by_status);
        self.spans_sent += other.spans_sent;
        self.spans_acknowledged += other.spans_acknowledged;
        self.bytes_sent += other.bytes_sent;
        self.latency.merge(&other.latency);
        self.last_end = self.last_end.max(other.last_end);
        self.traces.extend(other.traces);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::StatusKey;

    #[test]
    fn pacer_spaces_slots_evenly() {
        let start = Instant::now();
        let pacer = Pacer::new(start, 100.0, start);
        let first = pacer.claim(None).unwrap();
        let second = pacer.claim(None).unwrap();
        assert_eq!(first, start);
        assert_eq!(second - first, Duration::from_millis(10));
    }

    #[test]
    fn pacer_stops_at_the_deadline() {
        let start = Instant::now();
        let pacer = Pacer::new(start, 10.0, start);
        let deadline = start + Duration::from_millis(250);
        let slots = std::iter::from_fn(|| pacer.claim(Some(deadline))).count();
        assert_eq!(slots, 3);
    }

    #[test]
    fn pacer_skips_slots_it_is_far_behind_on() {
        let start = Instant::now() - Duration::from_secs(3);
        let pacer = Pacer::new(start, 100.0, start);
        let due = pacer.claim(None).unwrap();
        assert!(Instant::now() - due <= MAX_LAG);
        let skipped = pacer.skipped.load(Ordering::Relaxed);
        assert!((299..=302).contains(&skipped), "{skipped}");
    }

    #[test]
    fn stats_count_acknowledged_spans_minus_rejected() {
        let mut stats = WorkerStats::new();
        let now = Instant::now();
        let ok = Outcome { key: StatusKey::Http(200), ok: true, rejected_spans: 3 };
        let failed = Outcome { key: StatusKey::Http(503), ok: false, rejected_spans: 0 };
        stats.record(&ok, 100, 1000, Duration::from_millis(2), now);
        stats.record(&failed, 100, 1000, Duration::from_millis(1), now);
        assert_eq!((stats.ok, stats.failed), (1, 1));
        assert_eq!(stats.spans_sent, 200);
        assert_eq!(stats.spans_acknowledged, 97);
        assert_eq!(stats.by_status.get(StatusKey::Http(503)), 1);
    }
}
