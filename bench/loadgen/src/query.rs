//! The query mode: Jaeger HTTP API requests against the traces a load run stored, timed.
//!
//! `by-id` looks up `GET /api/traces/{id}` for traces the load run listed (`known`), and for a
//! share of random IDs that no run sent, which must get 404. `search` asks
//! `GET /api/traces?service=S&tags={..}&start=..&end=..&limit=N` for a random service of the
//! generator's and a random window inside the time range the listed traces cover (or the last
//! `lookback`). Workers each keep one HTTP/1.1 connection and one request in flight, and every
//! answer is checked: a listed trace must come back with its spans, an unknown one as 404, a
//! search as 200 with a `data` array.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::HOST;
use http::{Request, StatusCode, Uri};
use http_body_util::Full;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{HttpBase, HttpConnection, StatusKey};
use crate::known::{self, KnownTrace};
use crate::report::{Latency, LatencyHistogram, StatusCounts, status_line};
use crate::runner::{Bounds, CONNECTION_FAILURE_PAUSE};

/// Which API call the workers make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryMode {
    /// `GET /api/traces/{id}`.
    ById,
    /// `GET /api/traces?service=..&tags=..&start=..&end=..&limit=..`.
    Search,
}

impl QueryMode {
    fn name(self) -> &'static str {
        match self {
            QueryMode::ById => "by-id",
            QueryMode::Search => "search",
        }
    }
}

/// A validated query run; see the CLI for what each field means.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    pub url: String,
    pub mode: QueryMode,
    pub concurrency: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub timeout: Duration,
    /// The traces a load run listed (`--trace-ids-out`); by-id needs it.
    pub ids_file: Option<PathBuf>,
    /// By-id: the share of lookups for IDs no run sent.
    pub unknown_share: f64,
    pub services: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Search: the `operation` parameter, if any.
    pub operation: Option<String>,
    pub window: Duration,
    /// Search without `ids_file`: windows are picked inside the last `lookback`.
    pub lookback: Duration,
    pub limit: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuerySummary {
    pub mode: &'static str,
    pub url: String,
    pub concurrency: usize,
    pub warmup_secs: f64,
    /// Measured time: from the end of warmup to the last answer.
    pub duration_secs: f64,
    pub requests: u64,
    pub requests_per_sec: f64,
    /// Answers that were not what the request expects (see the module doc).
    pub errors: u64,
    /// Requests by HTTP status, `timeout`, `connect_error` or `transport_error`.
    pub by_status: BTreeMap<String, u64>,
    pub latency_ms: Latency,
    /// By-id: lookups of listed traces and of unknown IDs.
    pub known_lookups: u64,
    pub unknown_lookups: u64,
    /// Search: the query, and what came back.
    pub services: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub operation: Option<String>,
    pub window_secs: f64,
    pub limit: u32,
    /// The span start times windows were picked in, µs since the epoch.
    pub time_range_us: (u64, u64),
    pub traces_returned: u64,
    pub searches_without_results: u64,
}

impl QuerySummary {
    /// True when no request got the answer it expects.
    pub fn nothing_answered(&self) -> bool {
        self.requests == self.errors
    }
}

/// Runs the workers for the configured time or count and summarises what they measured.
pub async fn run(config: QueryConfig) -> anyhow::Result<QuerySummary> {
    let traces = match &config.ids_file {
        Some(path) => known::read_file(path)?,
        None => Vec::new(),
    };
    if config.mode == QueryMode::ById && traces.is_empty() {
        bail!("by-id needs --ids with at least one trace (a load run's --trace-ids-out)");
    }
    if config.mode == QueryMode::Search && config.services.is_empty() {
        bail!("search needs at least one service");
    }
    let base = HttpBase::parse(&config.url)?;
    let plan = Arc::new(QueryPlan::new(&config, &base, traces));
    let measure_start = Instant::now() + config.warmup;
    let bounds = Arc::new(Bounds::new(measure_start, config.duration, config.requests));
    let mut workers = JoinSet::new();
    for index in 0..config.concurrency {
        let connection = HttpConnection::open(&base.connect_to, config.timeout).await?;
        let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(index as u64));
        let (plan, bounds) = (Arc::clone(&plan), Arc::clone(&bounds));
        workers.spawn(async move { run_worker(connection, &plan, &bounds, &mut rng).await });
    }
    let mut total = QueryStats::default();
    while let Some(stats) = workers.join_next().await {
        total.merge(stats.context("worker panicked")?);
    }
    let elapsed = total.last_end.map_or(Duration::ZERO, |end| end.saturating_duration_since(measure_start));
    Ok(total.summarise(&config, &plan, elapsed))
}

/// What the workers ask, and how an answer is judged.
struct QueryPlan {
    mode: QueryMode,
    /// `http://host:port/base-path`, without a trailing slash.
    prefix: String,
    host: String,
    traces: Vec<KnownTrace>,
    unknown_share: f64,
    services: Vec<String>,
    /// The `tags` parameter, percent-encoded JSON; empty for none.
    tags: String,
    /// The `operation` parameter, percent-encoded; empty for none.
    operation: String,
    window_nanos: u64,
    /// Span start times, Unix ns, that windows are picked in.
    range: (u64, u64),
    limit: u32,
}

/// What a request expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 200 with one trace.
    Trace,
    /// 404.
    NotFound,
    /// 200 with a `data` array, possibly empty.
    Traces,
}

impl QueryPlan {
    fn new(config: &QueryConfig, base: &HttpBase, traces: Vec<KnownTrace>) -> Self {
        let range =
            match (traces.iter().map(|t| t.start_unix_nanos).min(), traces.iter().map(|t| t.start_unix_nanos).max()) {
                (Some(first), Some(last)) => (first, last),
                _ => {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                    (now.saturating_sub(config.lookback.as_nanos() as u64), now)
                }
            };
        let tags = if config.tags.is_empty() {
            String::new()
        } else {
            percent_encode(&serde_json::to_string(&config.tags).unwrap_or_default())
        };
        Self {
            mode: config.mode,
            prefix: format!("http://{}{}", base.host, base.uri.path().trim_end_matches('/')),
            host: base.host.clone(),
            traces,
            unknown_share: config.unknown_share,
            services: config.services.clone(),
            tags,
            operation: config.operation.as_deref().map(percent_encode).unwrap_or_default(),
            window_nanos: config.window.as_nanos() as u64,
            range,
            limit: config.limit,
        }
    }

    /// The next request's URL and what it expects.
    fn next(&self, rng: &mut StdRng) -> (String, Expect) {
        match self.mode {
            QueryMode::ById if self.traces.is_empty() || rng.random_bool(self.unknown_share) => {
                let unknown: [u8; 16] = rng.random();
                (format!("{}/api/traces/{}", self.prefix, known::hex(&unknown)), Expect::NotFound)
            }
            QueryMode::ById => {
                let trace = &self.traces[rng.random_range(0..self.traces.len())];
                (format!("{}/api/traces/{}", self.prefix, known::hex(&trace.trace_id)), Expect::Trace)
            }
            QueryMode::Search => {
                let service = &self.services[rng.random_range(0..self.services.len())];
                let (first, last) = self.range;
                let latest_start = last.saturating_sub(self.window_nanos).max(first);
                let start = rng.random_range(first..=latest_start);
                let end = start.saturating_add(self.window_nanos);
                let mut url = format!("{}/api/traces?service={}", self.prefix, percent_encode(service));
                if !self.operation.is_empty() {
                    url.push_str(&format!("&operation={}", self.operation));
                }
                if !self.tags.is_empty() {
                    url.push_str(&format!("&tags={}", self.tags));
                }
                url.push_str(&format!("&start={}&end={}&limit={}", start / 1000, end / 1000, self.limit));
                (url, Expect::Traces)
            }
        }
    }
}

async fn run_worker(mut connection: HttpConnection, plan: &QueryPlan, bounds: &Bounds, rng: &mut StdRng) -> QueryStats {
    let mut stats = QueryStats::default();
    loop {
        let start = Instant::now();
        let Some(measured) = bounds.admit(start) else {
            break;
        };
        let (url, expect) = plan.next(rng);
        let result = match get(&url, &plan.host) {
            Ok(request) => connection.exchange(request).await,
            Err(_) => Err(StatusKey::TransportError),
        };
        let end = Instant::now();
        let connection_failed = matches!(result, Err(StatusKey::ConnectError | StatusKey::TransportError));
        if measured {
            stats.record(expect, result, end - start, end);
        }
        if connection_failed {
            tokio::time::sleep(CONNECTION_FAILURE_PAUSE).await;
        }
    }
    stats
}

fn get(url: &str, host: &str) -> anyhow::Result<Request<Full<Bytes>>> {
    let uri: Uri = url.parse().with_context(|| format!("invalid URL {url}"))?;
    Ok(Request::get(uri).header(HOST, host).body(Full::default())?)
}

/// The part of Jaeger's envelope the checks read.
#[derive(Deserialize)]
struct Envelope {
    data: Option<Vec<IgnoredAny>>,
}

fn traces_in(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Envelope>(body).ok()?.data.map(|data| data.len() as u64)
}

#[derive(Default)]
struct QueryStats {
    requests: u64,
    errors: u64,
    by_status: StatusCounts,
    latency: LatencyHistogram,
    known_lookups: u64,
    unknown_lookups: u64,
    traces_returned: u64,
    searches_without_results: u64,
    last_end: Option<Instant>,
}

impl QueryStats {
    fn record(
        &mut self,
        expect: Expect,
        result: Result<(StatusCode, Bytes), StatusKey>,
        latency: Duration,
        end: Instant,
    ) {
        self.requests += 1;
        self.latency.record(latency);
        self.last_end = Some(end);
        match expect {
            Expect::Trace => self.known_lookups += 1,
            Expect::NotFound => self.unknown_lookups += 1,
            Expect::Traces => {}
        }
        let (status, body) = match result {
            Ok(answer) => answer,
            Err(key) => {
                self.by_status.add(key);
                self.errors += 1;
                return;
            }
        };
        self.by_status.add(StatusKey::Http(status.as_u16()));
        let as_expected = match (expect, status, traces_in(&body)) {
            (Expect::Trace, StatusCode::OK, Some(traces)) => traces == 1,
            (Expect::NotFound, StatusCode::NOT_FOUND, _) => true,
            (Expect::Traces, StatusCode::OK, Some(traces)) => {
                self.traces_returned += traces;
                self.searches_without_results += u64::from(traces == 0);
                true
            }
            _ => false,
        };
        self.errors += u64::from(!as_expected);
    }

    fn merge(&mut self, other: QueryStats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.by_status.merge(other.by_status);
        self.latency.merge(&other.latency);
        self.known_lookups += other.known_lookups;
        self.unknown_lookups += other.unknown_lookups;
        self.traces_returned += other.traces_returned;
        self.searches_without_results += other.searches_without_results;
        self.last_end = self.last_end.max(other.last_end);
    }

    fn summarise(self, config: &QueryConfig, plan: &QueryPlan, elapsed: Duration) -> QuerySummary {
        let secs = elapsed.as_secs_f64();
        QuerySummary {
            mode: config.mode.name(),
            url: config.url.clone(),
            concurrency: config.concurrency,
            warmup_secs: config.warmup.as_secs_f64(),
            duration_secs: secs,
            requests: self.requests,
            requests_per_sec: if secs > 0.0 { self.requests as f64 / secs } else { 0.0 },
            errors: self.errors,
            by_status: self.by_status.named(),
            latency_ms: self.latency.summary(),
            known_lookups: self.known_lookups,
            unknown_lookups: self.unknown_lookups,
            services: config.services.clone(),
            tags: config.tags.clone(),
            operation: config.operation.clone(),
            window_secs: config.window.as_secs_f64(),
            limit: config.limit,
            time_range_us: (plan.range.0 / 1000, plan.range.1 / 1000),
            traces_returned: self.traces_returned,
            searches_without_results: self.searches_without_results,
        }
    }
}

impl fmt::Display for QuerySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query {} {}: {} workers", self.mode, self.url, self.concurrency)?;
        if self.mode == QueryMode::Search.name() {
            let tags = serde_json::to_string(&self.tags).unwrap_or_default();
            writeln!(
                f,
                ", {} services, operation {}, tags {tags}, {:.0} s windows, limit {}",
                self.services.len(),
                self.operation.as_deref().unwrap_or("any"),
                self.window_secs,
                self.limit
            )?;
        } else {
            writeln!(f, ", {} listed traces and {} unknown IDs looked up", self.known_lookups, self.unknown_lookups)?;
        }
        writeln!(f, "duration    {:.2} s measured after {:.2} s warmup", self.duration_secs, self.warmup_secs)?;
        writeln!(f, "requests    {}  errors {}  ({:.1}/s)", self.requests, self.errors, self.requests_per_sec)?;
        writeln!(f, "by status   {}", status_line(&self.by_status))?;
        writeln!(f, "latency ms  {}", self.latency_ms)?;
        if self.mode == QueryMode::Search.name() {
            let searches = self.requests.saturating_sub(self.errors).max(1);
            writeln!(
                f,
                "results     {:.1} traces per search, {} searches without any",
                self.traces_returned as f64 / searches as f64,
                self.searches_without_results
            )?;
        }
        Ok(())
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a query parameter.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: QueryMode) -> QueryConfig {
        QueryConfig {
            url: "http://127.0.0.1:16686/jaeger/".into(),
            mode,
            concurrency: 1,
            duration: None,
            requests: Some(1),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            ids_file: None,
            unknown_share: 0.1,
            services: vec!["cart".into(), "shipping".into()],
            tags: BTreeMap::from([("http.status_code".to_owned(), "500".to_owned())]),
            operation: Some("GET /api/cart".to_owned()),
            window: Duration::from_secs(3600),
            lookback: Duration::from_secs(4 * 3600),
            limit: 20,
            seed: 1,
        }
    }

    fn plan(mode: QueryMode, traces: Vec<KnownTrace>) -> QueryPlan {
        let config = config(mode);
        QueryPlan::new(&config, &HttpBase::parse(&config.url).unwrap(), traces)
    }

    const HOUR: u64 = 3_600_000_000_000;

    #[test]
    fn by_id_asks_for_listed_traces_and_a_share_of_unknown_ones() {
        let traces: Vec<KnownTrace> =
            (0..50u8).map(|i| KnownTrace { trace_id: [i + 1; 16], start_unix_nanos: u64::from(i) * HOUR }).collect();
        let plan = plan(QueryMode::ById, traces.clone());
        let listed: Vec<String> = traces.iter().map(|t| known::hex(&t.trace_id)).collect();
        let mut rng = StdRng::seed_from_u64(9);
        let mut unknown = 0;
        for _ in 0..2000 {
            let (url, expect) = plan.next(&mut rng);
            let id = url.strip_prefix("http://127.0.0.1:16686/jaeger/api/traces/").unwrap();
            assert_eq!(listed.iter().any(|l| l == id), expect == Expect::Trace, "{url}");
            unknown += u32::from(expect == Expect::NotFound);
        }
        assert!((150..=250).contains(&unknown), "{unknown} unknown of 2000");
    }

    #[test]
    fn search_windows_lie_in_the_listed_range() {
        let traces = vec![
            KnownTrace { trace_id: [1; 16], start_unix_nanos: 10 * HOUR },
            KnownTrace { trace_id: [2; 16], start_unix_nanos: 14 * HOUR },
        ];
        let plan = plan(QueryMode::Search, traces);
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let (url, expect) = plan.next(&mut rng);
            assert_eq!(expect, Expect::Traces);
            let query = url.split_once('?').unwrap().1;
            let params: BTreeMap<&str, &str> = query.split('&').map(|p| p.split_once('=').unwrap()).collect();
            assert!(["cart", "shipping"].contains(&params["service"]));
            assert_eq!(params["tags"], "%7B%22http.status_code%22%3A%22500%22%7D");
            assert_eq!(params["operation"], "GET%20%2Fapi%2Fcart");
            assert_eq!(params["limit"], "20");
            let (start, end): (u64, u64) = (params["start"].parse().unwrap(), params["end"].parse().unwrap());
            assert_eq!(end - start, HOUR / 1000);
            assert!(start >= 10 * HOUR / 1000 && end <= 14 * HOUR / 1000, "{start}..{end}");
        }
    }

    #[test]
    fn answers_are_judged_by_what_was_asked() {
        let mut stats = QueryStats::default();
        let now = Instant::now();
        let ms = Duration::from_millis(1);
        let body = |json: &str| Bytes::from(json.to_owned());
        stats.record(Expect::Trace, Ok((StatusCode::OK, body(r#"{"data":[{}]}"#))), ms, now);
        stats.record(Expect::Trace, Ok((StatusCode::OK, body(r#"{"data":[]}"#))), ms, now);
        stats.record(Expect::Trace, Ok((StatusCode::NOT_FOUND, body("{}"))), ms, now);
        stats.record(Expect::NotFound, Ok((StatusCode::NOT_FOUND, body(r#"{"data":null}"#))), ms, now);
        stats.record(Expect::Traces, Ok((StatusCode::OK, body(r#"{"data":[{},{}]}"#))), ms, now);
        stats.record(Expect::Traces, Ok((StatusCode::OK, body(r#"{"data":[]}"#))), ms, now);
        stats.record(Expect::Traces, Err(StatusKey::Timeout), ms, now);
        assert_eq!((stats.requests, stats.errors), (7, 3));
        assert_eq!((stats.known_lookups, stats.unknown_lookups), (3, 1));
        assert_eq!((stats.traces_returned, stats.searches_without_results), (2, 1));
        assert_eq!(stats.by_status.get(StatusKey::Http(404)), 2);
        assert_eq!(stats.by_status.get(StatusKey::Timeout), 1);
    }

    #[test]
    fn percent_encoding_keeps_unreserved_characters() {
        assert_eq!(percent_encode("a b/c-d_e.f~{\"k\":1}"), "a%20b%2Fc-d_e.f~%7B%22k%22%3A1%7D");
    }
}
