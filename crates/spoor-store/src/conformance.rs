//! The shared storage conformance suite: Jaeger v2.20.0's storage integration fixtures
//! (`shared/fixtures/jaeger/storage-integration`), run through the [`TraceStore`] trait.
//! Every backend runs it; see `QUERY-EVALUATION-NOTES.md` next to the fixtures for what the
//! Go harness does, which this follows:
//!
//! - every fixture trace is loaded (OTLP/JSON), its dates shifted to yesterday and the day
//!   before, and written before any query runs;
//! - each is read back by ID and compared after normalization (one span per resource/scope,
//!   sorted attributes, events and links, duplicate span IDs dropped keeping the first);
//!   fixtures that share a trace ID are expected merged, since all are in the store;
//! - every query in `queries.json` must return exactly the expected traces, whole;
//! - `example_trace` alone gives the services and operations checks, an unknown ID gives
//!   `None`, a 10,008-span trace and a trace with duplicate span IDs come back whole, and
//!   dependencies count `hello`→`world` and `world`→`hello`; ours adds calls within one
//!   service, which Jaeger's memory store does not count, and writes the two services' spans
//!   in separate batches.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{
    ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status,
    any_value, names, value,
};

use crate::model::trace_id_of;
use crate::{Operation, Trace, TraceId, TraceQuery, TraceStore};
use spoor_pipeline::civil::civil_from_days;

const NANOS_PER_DAY: u64 = 86_400_000_000_000;

/// The fixtures folder in `testdata/`, found from this crate's manifest directory.
pub fn default_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures/jaeger/storage-integration")
}

/// What a backend cannot do, declared as Jaeger's integration harness declares it per backend
/// (`internal/storage/integration/capabilities` at v2.20.0). The default is "everything".
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// Checks not run, by the name the report gives them, each with the reason.
    pub skip: Vec<(String, String)>,
    /// Operations come back with an empty span kind, and cannot be filtered by kind (Jaeger's
    /// `getOperationsMissingSpanKind`, as its Elasticsearch and OpenSearch stores).
    pub operations_missing_span_kind: bool,
    /// Tag values in queries are regular expressions: also run `queries_es.json`.
    pub regex_tag_values: bool,
}

impl Capabilities {
    /// Jaeger's capabilities for Elasticsearch and OpenSearch: its documents keep neither scope
    /// attributes nor link attributes (so neither query runs, nor a by-ID compare of the
    /// fixtures made of them), and its service documents keep no span kind.
    pub fn elasticsearch() -> Self {
        let reason = |what: &str| format!("Jaeger's Elasticsearch documents keep no {what} (Jaeger skips it too)");
        Self {
            skip: vec![
                ("find_traces \"Scope Attributes\"".to_owned(), reason("scope attributes")),
                ("get_trace scope_attributes_trace".to_owned(), reason("scope attributes")),
                ("find_traces \"Link Attributes\"".to_owned(), reason("link attributes")),
                ("get_trace link_attributes_trace".to_owned(), reason("link attributes")),
                ("operations by kind".to_owned(), reason("span kind in service documents")),
            ],
            operations_missing_span_kind: true,
            regex_tag_values: true,
        }
    }

    fn skipped(&self, name: &str) -> Option<&str> {
        self.skip.iter().find(|(skipped, _)| skipped == name).map(|(_, reason)| reason.as_str())
    }
}

/// What a suite run found.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failures: Vec<String>,
    /// Checks the backend's capabilities exclude, with the reason.
    pub skipped: Vec<String>,
    capabilities: Capabilities,
}

impl Report {
    fn check(&mut self, name: &str, outcome: Result<(), String>) {
        if let Some(reason) = self.capabilities.skipped(name) {
            self.skipped.push(format!("{name}: {reason}"));
            return;
        }
        match outcome {
            Ok(()) => self.passed += 1,
            Err(reason) => self.failures.push(format!("{name}: {reason}")),
        }
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// `N passed, M failed` (and `, K skipped` when the backend skips some), then one line per
    /// failure and per skipped check.
    pub fn summary(&self) -> String {
        let mut text = format!("{} passed, {} failed", self.passed, self.failed());
        if !self.skipped.is_empty() {
            text.push_str(&format!(", {} skipped", self.skipped.len()));
        }
        for failure in &self.failures {
            text.push_str("\n  FAILED ");
            text.push_str(failure);
        }
        for skipped in &self.skipped {
            text.push_str("\n  skipped ");
            text.push_str(skipped);
        }
        text
    }
}

/// A fixture trace, dates shifted.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub trace_id: TraceId,
    pub resource_spans: Vec<ResourceSpans>,
}

/// Days since 1970-01-01 of a date, with the month and day as the fixtures write them.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    spoor_pipeline::civil::days_from_civil(year, i64::from(month), i64::from(day))
}

fn today_days() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (now.as_secs() / 86_400) as i64
}

fn date_text(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Parses RFC 3339 UTC (`2017-01-26T15:46:31.639875Z`) to Unix ns.
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let bad = || format!("bad timestamp {text:?}");
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let time = time.strip_suffix('Z').ok_or_else(bad)?;
    let mut date_parts = date.split('-').map(|p| p.parse::<i64>().map_err(|_| bad()));
    let (year, month, day) =
        (date_parts.next().ok_or_else(bad)??, date_parts.next().ok_or_else(bad)??, date_parts.next().ok_or_else(bad)??);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock_parts = clock.split(':').map(|p| p.parse::<u64>().map_err(|_| bad()));
    let (hour, minute, second) = (
        clock_parts.next().ok_or_else(bad)??,
        clock_parts.next().ok_or_else(bad)??,
        clock_parts.next().ok_or_else(bad)??,
    );
    let mut nanos = 0u64;
    for (i, digit) in fraction.chars().chain(std::iter::repeat('0')).take(9).enumerate() {
        let digit = digit.to_digit(10).ok_or_else(bad)?;
        nanos += u64::from(digit) * 10u64.pow(8 - i as u32);
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = u64::try_from(days).map_err(|_| bad())? * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(seconds * 1_000_000_000 + nanos)
}

/// Moves a fixture timestamp to a recent date as the Go loader does: 2017-01-25 (UTC) to two
/// days ago, any other date to yesterday, keeping the time of day.
fn shift_timestamp(ns: u64, today: i64) -> u64 {
    if ns == 0 {
        return 0;
    }
    let day = (ns / NANOS_PER_DAY) as i64;
    let target = if day == days_from_civil(2017, 1, 25) { today - 2 } else { today - 1 };
    target as u64 * NANOS_PER_DAY + ns % NANOS_PER_DAY
}

fn shift_dates(resource_spans: &mut [ResourceSpans], today: i64) {
    for span in resource_spans.iter_mut().flat_map(|rs| &mut rs.scope_spans).flat_map(|ss| &mut ss.spans) {
        span.start_time_unix_nano = shift_timestamp(span.start_time_unix_nano, today);
        span.end_time_unix_nano = shift_timestamp(span.end_time_unix_nano, today);
        for event in &mut span.events {
            event.time_unix_nano = shift_timestamp(event.time_unix_nano, today);
        }
    }
}

/// Loads every `traces/*.json` fixture, dates shifted.
pub fn load_fixtures(dir: &Path) -> Result<BTreeMap<String, Fixture>, String> {
    let today = today_days();
    let mut fixtures = BTreeMap::new();
    let entries = std::fs::read_dir(dir.join("traces")).map_err(|e| format!("reading fixtures: {e}"))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
        let request: ExportTraceServiceRequest =
            serde_json::from_str(&text).map_err(|e| format!("{name}: bad OTLP/JSON: {e}"))?;
        let mut resource_spans = request.resource_spans;
        shift_dates(&mut resource_spans, today);
        let first = resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).next();
        let trace_id = first.map(|s| trace_id_of(&s.trace_id)).ok_or_else(|| format!("{name}: no spans"))?;
        fixtures.insert(name.clone(), Fixture { name, trace_id, resource_spans });
    }
    Ok(fixtures)
}

/// One case of `queries.json`.
#[derive(Debug, Clone)]
pub struct QueryCase {
    pub caption: String,
    pub query: TraceQuery,
    pub expected: Vec<String>,
}

fn tag_value(value: &serde_json::Value) -> Result<String, String> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(i.to_string()),
            (None, Some(f)) => Ok(value::double_as_string(f)),
            _ => Err(format!("unsupported tag value {n}")),
        },
        other => Err(format!("unsupported tag value {other}")),
    }
}

/// Loads `queries.json`, with its dates replaced as the Go harness replaces them.
pub fn load_queries(dir: &Path) -> Result<Vec<QueryCase>, String> {
    load_query_file(dir, "queries.json")
}

/// Loads one query file of the fixtures folder (`queries.json`, `queries_es.json`).
pub fn load_query_file(dir: &Path, file: &str) -> Result<Vec<QueryCase>, String> {
    let today = today_days();
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("reading {file}: {e}"))?;
    let text = text.replace("2017-01-26", &date_text(today - 1)).replace("2017-01-25", &date_text(today - 2));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| format!("bad queries.json: {e}"))?;
    cases.iter().map(parse_case).collect()
}

fn parse_case(case: &serde_json::Value) -> Result<QueryCase, String> {
    let caption = case["Caption"].as_str().unwrap_or_default().to_owned();
    let q = &case["Query"];
    let text = |key: &str| q[key].as_str().unwrap_or_default().to_owned();
    let nanos = |key: &str| q[key].as_u64().filter(|&n| n > 0).map(Duration::from_nanos);
    let time = |key: &str| match q[key].as_str() {
        Some(t) => parse_rfc3339(t).map(Some),
        None => Ok(None),
    };
    let mut attributes = BTreeMap::new();
    if let Some(tags) = q["Tags"].as_object() {
        for (key, value) in tags {
            attributes.insert(key.clone(), tag_value(value)?);
        }
    }
    let operation = text("OperationName");
    Ok(QueryCase {
        query: TraceQuery {
            service_name: text("ServiceName"),
            operation_name: (!operation.is_empty()).then_some(operation),
            attributes,
            start_time_min: time("StartTimeMin")?,
            start_time_max: time("StartTimeMax")?,
            duration_min: nanos("DurationMin"),
            duration_max: nanos("DurationMax"),
            search_depth: q["NumTraces"].as_u64().unwrap_or(0) as usize,
        },
        expected: case["ExpectedFixtures"]
            .as_array()
            .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        caption,
    })
}

fn sorted_attributes(attributes: &mut [KeyValue]) {
    attributes.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.encode_to_vec().cmp(&b.encode_to_vec())));
}

/// Trace ID, span ID, start, encoding: the sort key of one normalized span.
type SingleSpan = (Vec<u8>, Vec<u8>, u64, Vec<u8>, ResourceSpans);

/// The harness's normalization: one span per resource and scope, everything sorted, and
/// repeated span IDs dropped keeping the first. Missing resource, scope and status become
/// empty ones, as pdata has no "missing".
pub fn normalize(resource_spans: &[ResourceSpans]) -> Vec<ResourceSpans> {
    let mut singles: Vec<SingleSpan> = Vec::new();
    for rs in resource_spans {
        let mut resource = rs.resource.clone().unwrap_or_else(Resource::default);
        sorted_attributes(&mut resource.attributes);
        for ss in &rs.scope_spans {
            let mut scope = ss.scope.clone().unwrap_or_else(InstrumentationScope::default);
            sorted_attributes(&mut scope.attributes);
            for span in &ss.spans {
                let span = normalize_span(span);
                let single = ResourceSpans {
                    resource: Some(resource.clone()),
                    schema_url: rs.schema_url.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope.clone()),
                        schema_url: ss.schema_url.clone(),
                        spans: vec![span.clone()],
                    }],
                };
                singles.push((
                    span.trace_id.clone(),
                    span.span_id.clone(),
                    span.start_time_unix_nano,
                    single.encode_to_vec(),
                    single,
                ));
            }
        }
    }
    singles.sort_by(|a, b| (&a.0, &a.1, a.2, &a.3).cmp(&(&b.0, &b.1, b.2, &b.3)));
    singles.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
    singles.into_iter().map(|s| s.4).collect()
}

fn normalize_span(span: &Span) -> Span {
    let mut span = span.clone();
    sorted_attributes(&mut span.attributes);
    if span.status.is_none() {
        span.status = Some(Status::default());
    }
    for event in &mut span.events {
        sorted_attributes(&mut event.attributes);
    }
    span.events.sort_by(|a, b| {
        (&a.name, a.time_unix_nano, a.encode_to_vec()).cmp(&(&b.name, b.time_unix_nano, b.encode_to_vec()))
    });
    for link in &mut span.links {
        sorted_attributes(&mut link.attributes);
    }
    span.links.sort_by(|a, b| {
        (&a.trace_id, &a.span_id, a.encode_to_vec(), a.flags, &a.trace_state).cmp(&(
            &b.trace_id,
            &b.span_id,
            b.encode_to_vec(),
            b.flags,
            &b.trace_state,
        ))
    });
    span
}

fn span_count(resource_spans: &[ResourceSpans]) -> usize {
    resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
}

fn compare(expected: &[ResourceSpans], actual: &[ResourceSpans]) -> Result<(), String> {
    let (expected, actual) = (normalize(expected), normalize(actual));
    if expected == actual {
        return Ok(());
    }
    if expected.len() != actual.len() {
        return Err(format!("expected {} spans, got {}", expected.len(), actual.len()));
    }
    let index = expected.iter().zip(&actual).position(|(e, a)| e != a).unwrap_or(0);
    Err(format!("span {index} differs:\n    expected {:?}\n    actual   {:?}", expected[index], actual[index]))
}

/// Expected content by trace ID: fixtures sharing an ID are merged, as they are in a store
/// that holds every fixture.
fn expected_by_id(fixtures: &BTreeMap<String, Fixture>) -> BTreeMap<TraceId, Vec<ResourceSpans>> {
    let mut merged: BTreeMap<TraceId, Vec<ResourceSpans>> = BTreeMap::new();
    for fixture in fixtures.values() {
        merged.entry(fixture.trace_id).or_default().extend(fixture.resource_spans.iter().cloned());
    }
    merged
}

fn hex(id: &TraceId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the whole suite. `make_store` gives a fresh, empty store for each part.
pub async fn run<S, F, Fut>(dir: &Path, make_store: F) -> Report
where
    S: TraceStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_with(dir, Capabilities::default(), make_store).await
}

/// Runs the suite for a backend with `capabilities`.
pub async fn run_with<S, F, Fut>(dir: &Path, capabilities: Capabilities, mut make_store: F) -> Report
where
    S: TraceStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let mut report = Report { capabilities, ..Report::default() };
    let mut queries = load_queries(dir);
    if report.capabilities.regex_tag_values
        && let Ok(cases) = &mut queries
    {
        match load_query_file(dir, "queries_es.json") {
            Ok(more) => cases.extend(more),
            Err(e) => queries = Err(e),
        }
    }
    let (fixtures, queries) = match (load_fixtures(dir), queries) {
        (Ok(fixtures), Ok(queries)) => (fixtures, queries),
        (Err(e), _) | (_, Err(e)) => {
            report.check("load fixtures", Err(e));
            return report;
        }
    };
    let store = make_store().await;
    run_fixture_checks(&store, &fixtures, &queries, &mut report).await;
    close(&store, &mut report).await;

    let store = make_store().await;
    let missing_kind = report.capabilities.operations_missing_span_kind;
    run_example_checks(&store, &fixtures, missing_kind, &mut report).await;
    close(&store, &mut report).await;

    let store = make_store().await;
    run_large_trace_checks(&store, &fixtures, &mut report).await;
    close(&store, &mut report).await;

    let store = make_store().await;
    report.check("dependencies", check_dependencies(&store).await);
    close(&store, &mut report).await;
    report
}

async fn close<S: TraceStore>(store: &S, report: &mut Report) {
    if let Err(e) = store.close().await {
        report.check("close", Err(e.to_string()));
    }
}

async fn run_fixture_checks<S: TraceStore>(
    store: &S,
    fixtures: &BTreeMap<String, Fixture>,
    queries: &[QueryCase],
    report: &mut Report,
) {
    for fixture in fixtures.values() {
        let written = store.write(&TraceBatch::new(fixture.resource_spans.clone())).await;
        report.check(&format!("write {}", fixture.name), written.map_err(|e| e.to_string()));
    }
    let expected = expected_by_id(fixtures);
    for fixture in fixtures.values() {
        let outcome = match store.get_trace(fixture.trace_id, None).await {
            Ok(Some(trace)) => compare(&expected[&fixture.trace_id], &trace.resource_spans),
            Ok(None) => Err("not found".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        report.check(&format!("get_trace {}", fixture.name), outcome);
    }
    for case in queries {
        let outcome = check_query(store, fixtures, &expected, case).await;
        report.check(&format!("find_traces {:?}", case.caption), outcome);
    }
}

async fn check_query<S: TraceStore>(
    store: &S,
    fixtures: &BTreeMap<String, Fixture>,
    expected: &BTreeMap<TraceId, Vec<ResourceSpans>>,
    case: &QueryCase,
) -> Result<(), String> {
    let mut wanted = BTreeSet::new();
    for name in &case.expected {
        let fixture = fixtures.get(name).ok_or_else(|| format!("unknown fixture {name}"))?;
        wanted.insert(fixture.trace_id);
    }
    let traces: Vec<Trace> = store.find_traces(&case.query).await.map_err(|e| e.to_string())?;
    let got: BTreeSet<TraceId> = traces.iter().map(|t| t.trace_id).collect();
    if got != wanted || got.len() != traces.len() {
        let names = |ids: &BTreeSet<TraceId>| ids.iter().map(hex).collect::<Vec<_>>().join(",");
        return Err(format!("expected traces [{}], got [{}] ({} results)", names(&wanted), names(&got), traces.len()));
    }
    for trace in &traces {
        compare(&expected[&trace.trace_id], &trace.resource_spans)
            .map_err(|e| format!("trace {}: {e}", hex(&trace.trace_id)))?;
    }
    let ids = store.find_trace_ids(&case.query).await.map_err(|e| e.to_string())?;
    let ids: Vec<TraceId> = ids.into_iter().collect();
    if ids != traces.iter().map(|t| t.trace_id).collect::<Vec<_>>() {
        return Err("find_trace_ids disagrees with find_traces".to_owned());
    }
    Ok(())
}

async fn run_example_checks<S: TraceStore>(
    store: &S,
    fixtures: &BTreeMap<String, Fixture>,
    missing_kind: bool,
    report: &mut Report,
) {
    let Some(example) = fixtures.get("example_trace") else {
        report.check("example_trace", Err("missing fixture".to_owned()));
        return;
    };
    let written = store.write(&TraceBatch::new(example.resource_spans.clone())).await;
    report.check("write example_trace", written.map_err(|e| e.to_string()));
    let services = store.services().await.map_err(|e| e.to_string());
    report.check(
        "services",
        services.and_then(|s| {
            let want = ["example-service-1", "example-service-2", "example-service-3"];
            (s == want).then_some(()).ok_or(format!("got {s:?}"))
        }),
    );
    let operations = store.operations("example-service-1", None).await.map_err(|e| e.to_string());
    report.check(
        "operations",
        operations.and_then(|ops| {
            let want =
                [("example-operation-1", ""), ("example-operation-3", "server"), ("example-operation-4", "client")]
                    .map(|(name, kind)| Operation {
                        name: name.to_owned(),
                        span_kind: if missing_kind { String::new() } else { kind.to_owned() },
                    });
            (ops == want).then_some(()).ok_or(format!("got {ops:?}"))
        }),
    );
    let servers = store.operations("example-service-1", Some("server")).await.map_err(|e| e.to_string());
    report.check(
        "operations by kind",
        servers.and_then(|ops| {
            (ops.len() == 1 && ops[0].name == "example-operation-3").then_some(()).ok_or(format!("got {ops:?}"))
        }),
    );
    let trace = store.get_trace(example.trace_id, None).await.map_err(|e| e.to_string());
    report.check(
        "get_trace example_trace",
        trace.and_then(|t| compare(&example.resource_spans, &t.ok_or("not found")?.resource_spans)),
    );
    let mut unknown = [0u8; 16];
    unknown[15] = 0xee;
    unknown[0] = 0xfe;
    let missing = store.get_trace(unknown, None).await.map_err(|e| e.to_string());
    report.check(
        "get_trace unknown id",
        missing.and_then(|t| t.is_none().then_some(()).ok_or("expected None".to_owned())),
    );
}

/// A copy of example_trace's first span repeated `total` times, shifted by i+1 seconds, with
/// span IDs i+1 (or the original ID every `duplicate_every` spans), as the Go harness builds.
fn repeated_trace(example: &Fixture, total: usize, duplicate_every: usize) -> Vec<ResourceSpans> {
    let mut resource_spans = vec![example.resource_spans[0].clone()];
    let scope = &mut resource_spans[0].scope_spans[0];
    let template = scope.spans[0].clone();
    scope.spans = (0..total)
        .map(|i| {
            let mut span = template.clone();
            if !(duplicate_every > 0 && i > 0 && i % duplicate_every == 0) {
                span.span_id = (i as u64 + 1).to_be_bytes().to_vec();
            }
            let shift = (i as u64 + 1) * 1_000_000_000;
            span.start_time_unix_nano += shift;
            span.end_time_unix_nano += shift;
            span
        })
        .collect();
    resource_spans
}

async fn run_large_trace_checks<S: TraceStore>(store: &S, fixtures: &BTreeMap<String, Fixture>, report: &mut Report) {
    let Some(example) = fixtures.get("example_trace") else {
        return;
    };
    for (name, total, every) in [("large trace", 10_008, 0), ("trace with duplicate span ids", 200, 20)] {
        let mut trace = repeated_trace(example, total, every);
        // A trace ID of its own, so both cases can share the store.
        let id = trace_id_of(&[0x10, total as u8, every as u8]);
        for span in trace.iter_mut().flat_map(|rs| &mut rs.scope_spans).flat_map(|ss| &mut ss.spans) {
            span.trace_id = id.to_vec();
        }
        let outcome = async {
            store.write(&TraceBatch::new(trace.clone())).await.map_err(|e| e.to_string())?;
            let got = store.get_trace(id, None).await.map_err(|e| e.to_string())?.ok_or("not found")?;
            if span_count(&got.resource_spans) < span_count(&normalize(&trace)) {
                return Err(format!("got {} spans", span_count(&got.resource_spans)));
            }
            compare(&trace, &got.resource_spans)
        }
        .await;
        report.check(name, outcome);
    }
}

fn span(trace: u8, id: u8, parent: u8, start: u64) -> Span {
    Span {
        trace_id: trace_id_of(&[0xde, trace]).to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, trace, id],
        parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, trace, parent] },
        name: format!("op-{id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000,
        ..Default::default()
    }
}

fn service_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: names::SERVICE_NAME.to_owned(),
                value: Some(spoor_pipeline::otlp::AnyValue {
                    value: Some(any_value::Value::StringValue(service.to_owned())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }
}

/// hello→world once and world→hello three times, in spans of the last minute; the calls
/// hello→hello and world→world are within one service and not counted.
async fn check_dependencies<S: TraceStore>(store: &S) -> Result<(), String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let start = now - 30_000_000_000;
    let hello = vec![
        span(1, 1, 0, start),
        span(1, 3, 1, start),
        span(2, 2, 1, start),
        span(2, 3, 1, start),
        span(2, 4, 1, start),
        span(2, 5, 4, start),
    ];
    let world = vec![span(1, 2, 1, start), span(1, 4, 2, start), span(2, 1, 0, start)];
    for batch in [service_spans("hello", hello), service_spans("world", world)] {
        store.write(&TraceBatch::new(vec![batch])).await.map_err(|e| e.to_string())?;
    }
    let links = store.dependencies(now + 1_000_000_000, Duration::from_secs(3600)).await.map_err(|e| e.to_string())?;
    let got: Vec<(String, String, u64)> = links.into_iter().map(|l| (l.parent, l.child, l.call_count)).collect();
    let want = vec![("hello".to_owned(), "world".to_owned(), 1), ("world".to_owned(), "hello".to_owned(), 3)];
    (got == want).then_some(()).ok_or(format!("got {got:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2017, 1, 25)), (2017, 1, 25));
        assert_eq!(parse_rfc3339("2017-01-26T16:46:31.639875Z").unwrap(), 1_485_449_191_639_875_000);
    }

    #[test]
    fn timestamps_move_to_recent_days_keeping_time_of_day() {
        let today = days_from_civil(2024, 3, 1);
        let shifted = shift_timestamp(1_485_449_191_639_875_000, today);
        assert_eq!(shifted % NANOS_PER_DAY, 1_485_449_191_639_875_000 % NANOS_PER_DAY);
        assert_eq!((shifted / NANOS_PER_DAY) as i64, today - 1);
    }
}
