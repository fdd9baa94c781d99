//! The `spoor-loadgen` command: parses and validates the CLI, then runs the generator or sink.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use spoor_loadgen::metrics::MetricsTarget;
use spoor_loadgen::payload::{Format, SERVICES};
use spoor_loadgen::query::{self, QueryConfig, QueryMode};
use spoor_loadgen::runner::{self, Protocol, RunConfig, Transport};
use spoor_loadgen::sink::{Sink, SinkConfig, SinkCount};

const AFTER_HELP: &str = "\
Requests are generated and encoded once at start (a pool of --pool-size distinct requests from
--seed) and their bytes are reused as they are: trace and span IDs and timestamps (set near the
start time) repeat every --pool-size requests. With --compression gzip, HTTP bodies are gzipped
once at start, while gRPC messages are compressed by tonic on every send.

Protocols (default endpoint): grpc and http are OTLP (127.0.0.1:4317, :4318); jaeger-grpc is
api_v2 PostSpans (:14250); jaeger-thrift-http posts a binary Thrift Batch to /api/traces
(:14268); jaeger-udp-compact and jaeger-udp-binary send agent emitBatch datagrams (:6831,
:6832) of as many spans as fit in 65,000 bytes (requests of 1000 spans by default, split);
zipkin-json and zipkin-proto post to /api/v2/spans, zipkin-v1-json and zipkin-v1-thrift to
/api/v1/spans (:9411). The same generated spans are converted to each encoding.

UDP has no answer: a datagram counts as acknowledged once the kernel takes it. Give --metrics
(the server's Prometheus endpoint) to read what the server accepted over the measured window
from otelcol_receiver_accepted_spans_total; the summary then also gives the sent spans it does
not account for (the loss).

Without --rate, each worker sends its next request as soon as the previous one is answered
(closed loop) and latency is measured from the send. With --rate, sends follow a fixed schedule
shared by all workers (open loop) and latency is measured from the scheduled time, so waiting for
a free worker counts; sends more than 1 s behind schedule are skipped and reported, and the
summary says whether the target rate was reached.

With --unique-traces (OTLP, no gzip), each send patches the pooled bytes so that its trace IDs
are its own (derived from the send's number), and --spread-start moves its times back by an
amount spread evenly over that window; --trace-ids-out lists the first trace of every
acknowledged request, for `spoor-loadgen query`. --acknowledged-spans stops once that many spans
are acknowledged, and --refused-backoff makes workers wait after a refusal (UNAVAILABLE,
RESOURCE_EXHAUSTED, 429, 503) as an SDK's exporter would.

Only plain http:// endpoints are supported. Exits 1 when no request succeeded, 2 on errors.

Examples:
  spoor-loadgen --protocol grpc --endpoint http://127.0.0.1:4317 --concurrency 8 --duration 10s
  spoor-loadgen --protocol http --endpoint http://127.0.0.1:4318 --rate 50000 --json
  spoor-loadgen --protocol jaeger-udp-compact --endpoint 127.0.0.1:6831 --metrics 127.0.0.1:8888
  spoor-loadgen --protocol zipkin-proto --endpoint http://127.0.0.1:9411 --duration 10s
  spoor-loadgen sink --grpc 127.0.0.1:4317 --http 127.0.0.1:4318
  spoor-loadgen --unique-traces --spread-start 4h --trace-ids-out ids.txt --acknowledged-spans 1000000
  spoor-loadgen query --mode by-id --ids ids.txt --requests 1000
  spoor-loadgen query --mode search --ids ids.txt --tag http.status_code=500 --duration 30s";

/// Trace load generator (OTLP, Jaeger, Zipkin) and counting OTLP sink for spoor.
#[derive(Parser, Debug)]
#[command(
    name = "spoor-loadgen",
    version,
    after_long_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a minimal OTLP trace server that counts the spans it receives.
    ///
    /// GET /count on the HTTP port returns {"spans":N,"requests":M}; POST /reset returns the
    /// count and zeroes it. Runs until Ctrl-C, SIGTERM or --exit-after.
    Sink(SinkArgs),
    /// Time Jaeger HTTP API queries: traces by ID, or searches by service and tags.
    ///
    /// by-id looks up GET /api/traces/{id} for the traces a load run listed with
    /// --trace-ids-out, and for a share of random IDs that must get 404. search asks
    /// GET /api/traces?service=S&tags={..}&start=..&end=..&limit=N with a random service of the
    /// generator's and a random window inside the time range the listed traces cover. Every
    /// answer is checked; the summary gives latency, the count by status and the errors
    /// (answers that were not the expected one). Exits 1 when no answer was the expected one.
    Query(QueryArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Ingest protocol to send with.
    #[arg(long, value_enum, default_value = "grpc")]
    protocol: Protocol,
    /// Base URL of the receiver, or host:port for UDP [default: the protocol's usual port on
    /// 127.0.0.1; HTTP paths (/v1/traces, /api/traces, /api/v2/spans) are appended].
    #[arg(long)]
    endpoint: Option<String>,
    /// Concurrent workers, each with one request in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// gRPC: HTTP/2 connections shared by the workers. HTTP and UDP use one per worker.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Target spans per second (open loop); as fast as possible when absent.
    #[arg(long, value_name = "SPANS_PER_SEC", value_parser = parse_rate)]
    rate: Option<f64>,
    /// How long to measure, after warmup, e.g. 10s or 1m [default: 10s unless --requests].
    #[arg(long, value_parser = parse_positive_duration)]
    duration: Option<Duration>,
    /// Number of measured requests to send (stops at whichever of this and --duration is first).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Time to send before measuring; what is sent then is not counted.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_positive_duration)]
    timeout: Duration,
    /// Request body compression.
    #[arg(long, value_enum, default_value = "none")]
    compression: CompressionArg,
    /// Spans in each generated request [default: 100; for UDP 1000, split into datagrams of
    /// as many spans as fit in 65,000 bytes].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    spans_per_request: Option<u32>,
    /// Distinct pre-encoded requests to cycle through.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pool_size: u32,
    /// Seed for the generated requests (same seed, same IDs and attributes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The server's Prometheus metrics URL (e.g. 127.0.0.1:8888): report the spans it accepted
    /// over the measured window, from otelcol_receiver_accepted_spans_total.
    #[arg(long, value_name = "URL")]
    metrics: Option<String>,
    /// The `receiver` label to read with --metrics [default: otlp, jaeger or zipkin, by protocol].
    #[arg(long, value_name = "ID", requires = "metrics")]
    metrics_receiver: Option<String>,
    /// Give every send trace IDs of its own, derived from its number, instead of repeating the
    /// pool's every --pool-size requests (OTLP only, without gzip).
    #[arg(long)]
    unique_traces: bool,
    /// With --unique-traces: move each send's times back by up to this, spread evenly over the
    /// window and the same for the same send, e.g. 4h.
    #[arg(long, value_name = "D", requires = "unique_traces", value_parser = humantime::parse_duration)]
    spread_start: Option<Duration>,
    /// With --unique-traces: write the first trace (ID and start) of every acknowledged request
    /// to this file, for `spoor-loadgen query --ids`.
    #[arg(long, value_name = "FILE", requires = "unique_traces")]
    trace_ids_out: Option<PathBuf>,
    /// Stop once this many measured spans are acknowledged (the last requests in flight may add
    /// up to one request per worker).
    #[arg(long, value_name = "SPANS", value_parser = clap::value_parser!(u64).range(1..))]
    acknowledged_spans: Option<u64>,
    /// Wait this long after a request the server refused for lack of room before sending again.
    #[arg(long, value_name = "D", default_value = "0s", value_parser = humantime::parse_duration)]
    refused_backoff: Duration,
    /// gRPC: connect with TLS, trusting the CAs in this PEM file (the endpoint's host is the
    /// name checked against the server's certificate).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// An `Authorization` header value sent with every request, e.g. "Bearer TOKEN".
    #[arg(long, value_name = "VALUE")]
    authorization: Option<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// Base URL of the Jaeger query service (with its base path, if any).
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    url: String,
    /// by-id: GET /api/traces/{id}; search: GET /api/traces?service=..&tags=..
    #[arg(long, value_enum)]
    mode: QueryMode,
    /// The trace list a load run wrote with --trace-ids-out (by-id needs it; search picks its
    /// windows in the time range it covers).
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// by-id: the share of lookups for random IDs that no run sent, which must get 404.
    #[arg(long, default_value_t = 0.1, value_parser = parse_share)]
    unknown: f64,
    /// search: a service to search (repeat for several, picked at random) [default: the
    /// generator's services].
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
    /// search: a tag the spans must have, as key=value (repeat: all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// search: the `operation` parameter (a span name the service uses, e.g. "GET /api/cart").
    #[arg(long, value_name = "NAME")]
    operation: Option<String>,
    /// search: the length of each search's time window.
    #[arg(long, default_value = "1h", value_parser = parse_positive_duration)]
    window: Duration,
    /// search without --ids: pick windows inside the last this long.
    #[arg(long, default_value = "4h", value_parser = parse_positive_duration)]
    lookback: Duration,
    /// search: the `limit` parameter, in traces.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Concurrent workers, each with one HTTP/1.1 connection and one request in flight.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// How long to measure, after warmup [default: 10s unless --requests].
    #[arg(long, value_parser = parse_positive_duration)]
    duration: Option<Duration>,
    /// Number of measured requests (stops at whichever of this and --duration is first).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Time to query before measuring.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_positive_duration)]
    timeout: Duration,
    /// Seed for the IDs, services and windows picked.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SinkArgs {
    /// Address for OTLP/gRPC, e.g. 127.0.0.1:4317 (port 0 picks a free port).
    #[arg(long)]
    grpc: Option<SocketAddr>,
    /// Address for OTLP/HTTP and GET /count, e.g. 127.0.0.1:4318.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Decode every request fully with prost instead of only walking its framing.
    #[arg(long)]
    full_decode: bool,
    /// Print the count at this interval when it changed; 0 turns it off.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    print_interval: Duration,
    /// Stop after this long.
    #[arg(long, value_parser = parse_positive_duration)]
    exit_after: Option<Duration>,
    /// Print the addresses and the final count as JSON lines.
    #[arg(long)]
    json: bool,
}

fn parse_rate(value: &str) -> Result<f64, String> {
    let rate: f64 = value.parse().map_err(|_| format!("'{value}' is not a number"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err("rate must be a positive number of spans per second".into())
    }
}

fn parse_share(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("'{value}' is not a number from 0 to 1")),
    }
}

fn parse_tag(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, tag_value)) if !key.is_empty() => Ok((key.to_owned(), tag_value.to_owned())),
        _ => Err(format!("'{value}' is not key=value")),
    }
}

fn parse_positive_duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err("must be more than zero".into()),
        Err(error) => Err(error.to_string()),
    }
}

impl RunArgs {
    fn into_config(self) -> anyhow::Result<RunConfig> {
        let protocol = self.protocol;
        let endpoint = self.endpoint.unwrap_or_else(|| protocol.default_endpoint().to_owned());
        // Agent clients fill each datagram; a long request split into full datagrams does that.
        let default_spans = if protocol.transport() == Transport::Udp { 1000 } else { 100 };
        let duration = match (self.duration, self.requests, self.acknowledged_spans) {
            (None, None, None) => Some(Duration::from_secs(10)),
            (duration, _, _) => duration,
        };
        if self.unique_traces && (protocol.format() != Format::Otlp || self.compression != CompressionArg::None) {
            bail!("--unique-traces patches OTLP bodies: use --protocol grpc or http, without --compression");
        }
        let metrics = match &self.metrics {
            Some(url) => {
                let (receiver, transport) = protocol.metric_labels();
                let receiver = self.metrics_receiver.as_deref().unwrap_or(receiver);
                Some(MetricsTarget::parse(url, receiver, transport)?)
            }
            None => None,
        };
        Ok(RunConfig {
            protocol,
            endpoint,
            concurrency: self.concurrency as usize,
            connections: self.connections.min(self.concurrency) as usize,
            rate_spans_per_sec: self.rate,
            duration,
            requests: self.requests,
            warmup: self.warmup,
            timeout: self.timeout,
            gzip: self.compression == CompressionArg::Gzip,
            spans_per_request: self.spans_per_request.map_or(default_spans, |n| n as usize),
            pool_size: self.pool_size as usize,
            seed: self.seed,
            metrics,
            unique_traces: self.unique_traces,
            spread_start: self.spread_start.unwrap_or_default(),
            trace_ids_out: self.trace_ids_out,
            acknowledged_spans: self.acknowledged_spans,
            refused_backoff: self.refused_backoff,
            ca_file: self.ca_file,
            authorization: self.authorization,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Sink(args)) => run_sink(args).await,
        Some(Command::Query(args)) => run_query(args).await,
        None => run_load(cli.run).await,
    };
    result.unwrap_or_else(|error| {
        eprintln!("spoor-loadgen: {error:#}");
        ExitCode::from(2)
    })
}

async fn run_load(args: RunArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let summary = runner::run(args.into_config()?).await?;
    finish(&summary, json, summary.all_failed().then_some("no request succeeded"))
}

/// Prints a summary as text or as one JSON object; exits 1 with `failure` when there is one.
fn finish<S: serde::Serialize + std::fmt::Display>(
    summary: &S,
    json: bool,
    failure: Option<&str>,
) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        print!("{summary}");
    }
    match failure {
        Some(failure) => {
            eprintln!("spoor-loadgen: {failure}");
            Ok(ExitCode::from(1))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

impl QueryArgs {
    fn into_config(self) -> QueryConfig {
        let services =
            if self.services.is_empty() { SERVICES.iter().map(|s| s.to_string()).collect() } else { self.services };
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(Duration::from_secs(10)),
            (duration, _) => duration,
        };
        QueryConfig {
            url: self.url,
            mode: self.mode,
            concurrency: self.concurrency as usize,
            duration,
            requests: self.requests,
            warmup: self.warmup,
            timeout: self.timeout,
            ids_file: self.ids,
            unknown_share: self.unknown,
            services,
            tags: self.tags.into_iter().collect::<BTreeMap<_, _>>(),
            operation: self.operation,
            window: self.window,
            lookback: self.lookback,
            limit: self.limit,
            seed: self.seed,
        }
    }
}

async fn run_query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let summary = query::run(args.into_config()).await?;
    finish(&summary, json, summary.nothing_answered().then_some("no query got the expected answer"))
}

async fn run_sink(args: SinkArgs) -> anyhow::Result<ExitCode> {
    if args.grpc.is_none() && args.http.is_none() {
        bail!("sink: give --grpc, --http or both");
    }
    let sink = Sink::start(SinkConfig { grpc: args.grpc, http: args.http, full_decode: args.full_decode }).await?;
    let show = |addr: Option<SocketAddr>| addr.map_or("off".to_owned(), |a| a.to_string());
    if args.json {
        let addrs = serde_json::json!({ "grpc": sink.grpc_addr, "http": sink.http_addr });
        println!("{addrs}");
    } else {
        println!("sink listening: grpc {}, http {}", show(sink.grpc_addr), show(sink.http_addr));
    }
    std::io::stdout().flush()?;

    wait_and_print(&sink, &args).await?;
    let count = sink.stop().await;
    if args.json {
        println!("{}", serde_json::to_string(&count)?);
    } else {
        println!("sink: {} spans in {} requests", count.spans, count.requests);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs until a signal or `--exit-after`, printing the count when it changes.
async fn wait_and_print(sink: &Sink, args: &SinkArgs) -> anyhow::Result<()> {
    let stop = stop_signal(args.exit_after);
    tokio::pin!(stop);
    let period = if args.print_interval.is_zero() {
        // Effectively never; the loop still ends on `stop`.
        Duration::from_secs(86_400 * 365)
    } else {
        args.print_interval
    };
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    let mut last = SinkCount::default();
    loop {
        tokio::select! {
            result = &mut stop => return result,
            _ = ticker.tick() => {
                let count = sink.count();
                if count != last && !args.json {
                    let rate = (count.spans.saturating_sub(last.spans)) as f64 / period.as_secs_f64();
                    println!("sink: {} spans in {} requests ({rate:.0} spans/s)", count.spans, count.requests);
                }
                last = count;
            }
        }
    }
}

async fn stop_signal(exit_after: Option<Duration>) -> anyhow::Result<()> {
    let timer = async {
        match exit_after {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = terminate.recv() => {}
            _ = timer => {}
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = timer => {}
    }
    Ok(())
}
