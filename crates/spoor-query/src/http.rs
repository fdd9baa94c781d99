//! Jaeger's HTTP API v1 (`/api/*`, the UI's JSON), as Jaeger v2.20.0's `http_handler.go`
//! serves it: the `{data,total,limit,offset,errors}` envelope, its error bodies and messages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use spoor_jaeger::model::{self, gojson, ids, ui};
use spoor_store::{TraceId, TraceQuery};

use crate::params::{self, QueryParams, param_error, parse_go_bool, parse_go_duration, parse_go_int, to_std_duration};
use crate::service::{QueryService, ServedTrace, split_by_trace};

const DEFAULT_LIMIT: i64 = 100;
/// Jaeger's default search window when `start` is absent.
const DEFAULT_SEARCH_LOOKBACK: Duration = Duration::from_secs(2 * 24 * 3600);
const DEFAULT_DEPENDENCY_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// Below this a `start`/`end` of `/api/traces/{id}` is taken as milliseconds: Grafana 12.1+
/// sends ms there while Jaeger expects µs; 1e14 µs is 1973 and 1e14 ms is year 5138.
const MILLIS_THRESHOLD: i64 = 100_000_000_000_000;

pub(crate) type AppState = Arc<QueryService>;

pub(crate) fn routes() -> Router {
    Router::new()
        .route("/api/services", get(services))
        .route("/api/services/{service}/operations", get(operations_legacy))
        .route("/api/operations", get(operations))
        .route("/api/traces", get(search))
        .route("/api/traces/{trace_id}", get(trace_by_id))
        .route("/api/dependencies", get(dependencies))
        .route("/api/transform", post(transform))
}

/// Jaeger's `structuredResponse`.
#[derive(Serialize)]
struct Envelope<T: Serialize> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<StructuredError>>,
}

#[derive(Serialize)]
struct StructuredError {
    #[serde(skip_serializing_if = "is_zero")]
    code: u16,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "String::is_empty")]
    trace_id: String,
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

fn envelope<T: Serialize>(data: T, total: usize) -> Envelope<T> {
    Envelope { data, total, limit: 0, offset: 0, errors: None }
}

/// A JSON response; `prettyPrint` indents it as Jaeger does.
fn json_response<T: Serialize>(query: &QueryParams, body: &T) -> Response {
    let pretty = query.get("prettyPrint");
    let indent = (!pretty.is_empty() && pretty != "false").then_some("    ");
    match gojson::to_vec(body, indent) {
        Ok(bytes) => response(StatusCode::OK, "application/json", bytes),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &format!("failed writing HTTP response: {e}")),
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Jaeger's `handleError`: the envelope with one error, sent as Go's `http.Error` sends it.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = message, "http handler, internal server error");
    }
    let body: Envelope<Option<()>> = Envelope {
        data: None,
        total: 0,
        limit: 0,
        offset: 0,
        errors: Some(vec![StructuredError { code: status.as_u16(), msg: message.into(), trace_id: String::new() }]),
    };
    let mut bytes = gojson::to_vec(&body, None).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = response(status, "text/plain; charset=utf-8", bytes);
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, message)
}

fn internal(err: impl std::fmt::Display) -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string())
}

fn now_nanos() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

fn clamp_u64(nanos: i128) -> u64 {
    nanos.clamp(0, u64::MAX as i128) as u64
}

async fn services(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let query = QueryParams::parse(raw.as_deref());
    match svc.services().await {
        Ok(services) => {
            let total = services.len();
            json_response(&query, &envelope(services, total))
        }
        Err(e) => internal(e),
    }
}

async fn operations_legacy(
    Extension(svc): Extension<AppState>,
    Path(service): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = QueryParams::parse(raw.as_deref());
    match svc.operations(&service, None).await {
        Ok(operations) => {
            let mut names: Vec<String> = operations.into_iter().map(|o| o.name).collect();
            names.sort();
            names.dedup();
            let total = names.len();
            json_response(&query, &envelope(names, total))
        }
        Err(e) => internal(e),
    }
}

async fn operations(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let query = QueryParams::parse(raw.as_deref());
    let service = query.get("service");
    if service.is_empty() {
        return bad_request("parameter 'service' is required");
    }
    let span_kind = Some(query.get("spanKind")).filter(|k| !k.is_empty());
    match svc.operations(service, span_kind).await {
        Ok(operations) => {
            let data: Vec<ui::Operation> =
                operations.into_iter().map(|o| ui::Operation { name: o.name, span_kind: o.span_kind }).collect();
            let total = data.len();
            json_response(&query, &envelope(data, total))
        }
        Err(e) => internal(e),
    }
}

/// The parsed `/api/traces` search, as Jaeger's `traceQueryParameters`.
#[derive(Debug)]
pub(crate) struct SearchRequest {
    pub query: TraceQuery,
    pub trace_ids: Vec<TraceId>,
    pub raw: bool,
}

/// Jaeger's `parseTraceQueryParams` and `validateQuery`, in their order.
pub(crate) fn parse_search(q: &QueryParams, now: i128) -> Result<SearchRequest, String> {
    let start = parse_time(q, "start", 1_000)?.unwrap_or(now - DEFAULT_SEARCH_LOOKBACK.as_nanos() as i128);
    let end = parse_time(q, "end", 1_000)?.unwrap_or(now);
    let attributes: BTreeMap<String, String> = params::parse_tags(&q.all("tag"), &q.all("tags"))?;
    let limit = match q.get("limit") {
        "" => DEFAULT_LIMIT,
        text => parse_go_int(text, 32)?,
    };
    let min_duration = parse_duration_param(q, "minDuration")?;
    let max_duration = parse_duration_param(q, "maxDuration")?;
    let trace_ids = q
        .all("traceID")
        .into_iter()
        .map(|id| ids::parse_trace_id(id).map_err(|e| format!("cannot parse traceID param: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let raw = parse_bool_param(q, "raw")?;
    let service = q.get("service");
    if trace_ids.is_empty() && service.is_empty() {
        return Err("parameter 'service' is required".into());
    }
    if limit <= 0 {
        return Err("invalid parameter: limit must be greater than 0".into());
    }
    if start > end {
        return Err("invalid parameter: start time must be before end time".into());
    }
    if min_duration != 0 && max_duration != 0 && max_duration < min_duration {
        return Err("'maxDuration' should be greater than 'minDuration'".into());
    }
    let operation = q.get("operation");
    Ok(SearchRequest {
        query: TraceQuery {
            service_name: service.to_string(),
            operation_name: (!operation.is_empty()).then(|| operation.to_string()),
            attributes,
            start_time_min: Some(clamp_u64(start)),
            start_time_max: Some(clamp_u64(end)),
            duration_min: (min_duration != 0).then(|| to_std_duration(min_duration)),
            duration_max: (max_duration != 0).then(|| to_std_duration(max_duration)),
            search_depth: limit as usize,
        },
        trace_ids,
        raw,
    })
}

/// An integer time parameter in `unit_nanos` units since the epoch, as Unix ns.
fn parse_time(q: &QueryParams, name: &str, unit_nanos: i128) -> Result<Option<i128>, String> {
    match q.get(name) {
        "" => Ok(None),
        text => parse_go_int(text, 64).map(|v| Some(v as i128 * unit_nanos)).map_err(|e| param_error(name, &e)),
    }
}

fn parse_duration_param(q: &QueryParams, name: &str) -> Result<i128, String> {
    match q.get(name) {
        "" => Ok(0),
        text => parse_go_duration(text).map_err(|e| param_error(name, &e)),
    }
}

fn parse_bool_param(q: &QueryParams, name: &str) -> Result<bool, String> {
    match q.get(name) {
        "" => Ok(false),
        text => parse_go_bool(text).map_err(|e| param_error(name, &e)),
    }
}

fn ui_traces(traces: &[ServedTrace]) -> Vec<ui::Trace> {
    traces.iter().map(|t| model::ui_trace_from_otlp(&t.resource_spans)).filter(|t| !t.spans.is_empty()).collect()
}

async fn search(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let request = match parse_search(&q, now_nanos()) {
        Ok(r) => r,
        Err(e) => return bad_request(&e),
    };
    let mut errors = Vec::new();
    let traces = if request.trace_ids.is_empty() {
        match svc.find_traces(&request.query, request.raw).await {
            Ok(traces) => {
                // What the store skipped (damaged blocks), so that a short answer says why.
                errors.extend(svc.warnings().into_iter().map(|msg| StructuredError {
                    code: StatusCode::INTERNAL_SERVER_ERROR.as_u16(),
                    msg,
                    trace_id: String::new(),
                }));
                traces
            }
            Err(e) => return internal(e),
        }
    } else {
        let range = request.query.start_time_min.zip(request.query.start_time_max);
        let mut found = Vec::new();
        for id in &request.trace_ids {
            match svc.get_trace(*id, range, request.raw).await {
                Ok(Some(trace)) => found.push(trace),
                Ok(None) => errors.push(StructuredError {
                    code: 0,
                    msg: "trace not found".into(),
                    trace_id: ids::trace_id_string(id),
                }),
                Err(e) => return internal(e),
            }
        }
        found
    };
    let body = Envelope {
        data: ui_traces(&traces),
        total: 0,
        limit: 0,
        offset: 0,
        errors: (!errors.is_empty()).then_some(errors),
    };
    json_response(&q, &body)
}

/// `start`/`end` of a trace lookup in µs, or in ms as Grafana 12.1+ sends them.
fn parse_lookup_time(q: &QueryParams, name: &str) -> Result<Option<i128>, String> {
    match q.get(name) {
        "" => Ok(None),
        text => {
            let value = parse_go_int(text, 64).map_err(|e| param_error(name, &e))?;
            let unit: i128 = if value.abs() < MILLIS_THRESHOLD { 1_000_000 } else { 1_000 };
            Ok(Some(value as i128 * unit))
        }
    }
}

pub(crate) fn lookup_range(start: Option<i128>, end: Option<i128>) -> Option<(u64, u64)> {
    match (start, end) {
        (None, None) => None,
        (s, e) => Some((clamp_u64(s.unwrap_or(0)), e.map(clamp_u64).unwrap_or(u64::MAX))),
    }
}

async fn trace_by_id(Extension(svc): Extension<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let parsed = (|| -> Result<_, String> {
        let id = ids::parse_trace_id(&id)?;
        let start = parse_lookup_time(&q, "start")?;
        let end = parse_lookup_time(&q, "end")?;
        let raw = parse_bool_param(&q, "raw")?;
        Ok((id, lookup_range(start, end), raw))
    })();
    let (id, range, raw) = match parsed {
        Ok(p) => p,
        Err(e) => return bad_request(&e),
    };
    match svc.get_trace(id, range, raw).await {
        Ok(Some(trace)) => {
            let data = ui_traces(std::slice::from_ref(&trace));
            if data.is_empty() {
                return error_response(StatusCode::NOT_FOUND, "trace not found");
            }
            json_response(&q, &Envelope { data, total: 0, limit: 0, offset: 0, errors: None })
        }
        Ok(None) => error_response(StatusCode::NOT_FOUND, "trace not found"),
        Err(e) => internal(e),
    }
}

async fn dependencies(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let parsed = (|| -> Result<_, String> {
        let end = parse_time(&q, "endTs", 1_000_000)?.unwrap_or_else(now_nanos);
        let lookback = match q.get("lookback") {
            "" => DEFAULT_DEPENDENCY_LOOKBACK.as_nanos() as i128,
            text => parse_go_int(text, 64).map_err(|e| param_error("lookback", &e))? as i128 * 1_000_000,
        };
        Ok((clamp_u64(end), to_std_duration(lookback)))
    })();
    let (end, lookback) = match parsed {
        Ok(p) => p,
        Err(e) => return bad_request(&e),
    };
    let links = match svc.dependencies(end, lookback).await {
        Ok(links) => links,
        Err(e) => return internal(e),
    };
    let service = q.get("service");
    let mut merged: BTreeMap<(String, String), u64> = BTreeMap::new();
    for link in links.into_iter().filter(|l| service.is_empty() || l.parent == service || l.child == service) {
        *merged.entry((link.parent, link.child)).or_default() += link.call_count;
    }
    let data: Vec<ui::DependencyLink> = merged
        .into_iter()
        .map(|((parent, child), call_count)| ui::DependencyLink { parent, child, call_count })
        .collect();
    json_response(&q, &envelope(data, 0))
}

async fn transform(RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let resource_spans = match model::otlp_json::parse_traces(&body) {
        Ok(rs) => rs,
        Err(e) => return bad_request(&e.to_string()),
    };
    let data: Vec<ui::Trace> = split_by_trace(resource_spans)
        .iter()
        .map(|rs| model::ui_trace_from_otlp(rs))
        .filter(|t| !t.spans.is_empty())
        .collect();
    json_response(&q, &Envelope { data, total: 0, limit: 0, offset: 0, errors: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<SearchRequest, String> {
        parse_search(&QueryParams::parse(Some(query)), 1_700_000_000_000_000_000)
    }

    #[test]
    fn search_parameters_as_jaeger_parses_them() {
        let r = parse("service=frontend&operation=GET&tags=%7B%22error%22%3A%22true%22%7D&minDuration=1.2s&maxDuration=2s&start=1000&end=2000&limit=5").unwrap();
        assert_eq!(r.query.service_name, "frontend");
        assert_eq!(r.query.operation_name.as_deref(), Some("GET"));
        assert_eq!(r.query.attributes["error"], "true");
        assert_eq!(r.query.duration_min, Some(Duration::from_millis(1200)));
        assert_eq!(r.query.start_time_min, Some(1_000_000));
        assert_eq!(r.query.start_time_max, Some(2_000_000));
        assert_eq!(r.query.search_depth, 5);
    }

    #[test]
    fn search_errors_carry_jaegers_messages() {
        assert_eq!(parse("").unwrap_err(), "parameter 'service' is required");
        assert_eq!(parse("service=a&limit=-1").unwrap_err(), "invalid parameter: limit must be greater than 0");
        assert_eq!(
            parse("service=a&start=2&end=1").unwrap_err(),
            "invalid parameter: start time must be before end time"
        );
        assert_eq!(
            parse("service=a&minDuration=2s&maxDuration=1s").unwrap_err(),
            "'maxDuration' should be greater than 'minDuration'"
        );
        assert_eq!(
            parse("service=a&minDuration=x").unwrap_err(),
            "unable to parse param 'minDuration': time: invalid duration \"x\""
        );
        assert_eq!(
            parse("service=a&start=x").unwrap_err(),
            "unable to parse param 'start': strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(parse("service=a&limit=x").unwrap_err(), "strconv.ParseInt: parsing \"x\": invalid syntax");
        assert!(parse("traceID=zz").unwrap_err().starts_with("cannot parse traceID param"));
    }

    #[test]
    fn lookup_times_accept_milliseconds() {
        let q = QueryParams::parse(Some("start=1700000000000&end=1700000000123000"));
        assert_eq!(parse_lookup_time(&q, "start").unwrap(), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_lookup_time(&q, "end").unwrap(), Some(1_700_000_000_123_000_000));
    }
}
