//! Jaeger's api_v3 over HTTP (`/api/v3/*`, grpc-gateway style), as Jaeger v2.20.0's
//! `apiv3/http_gateway.go` serves it: OTLP/JSON wrapped in `{"result": ...}`, trace summaries as
//! `{"summaries": [...]}`, errors as `{"error":{"httpCode":...,"message":...}}`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use spoor_jaeger::model::{ids, otlp_json, time};
use spoor_store::TraceQuery;

use crate::http::AppState;
use crate::params::{QueryParams, parse_go_bool, parse_go_duration, parse_go_int, to_std_duration};
use crate::service::ServedTrace;
use crate::summary;

pub(crate) fn routes() -> Router {
    Router::new()
        .route("/api/v3/traces/{trace_id}", get(get_trace))
        .route("/api/v3/traces", get(find_traces))
        .route("/api/v3/trace-summaries", get(find_trace_summaries))
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
}

fn json(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = message, "http handler, internal server error");
    }
    let body = json!({"error": {"httpCode": status.as_u16(), "message": message}});
    let mut response = json(status, "text/plain; charset=utf-8", format!("{body}\n"));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A request parameter that cannot be used: 400 with the message.
struct BadParameter(String);

impl BadParameter {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, &self.0)
    }
}

fn param_error(name: &str, err: &str) -> BadParameter {
    BadParameter(format!("malformed parameter {name}: {err}"))
}

fn traces_response(traces: &[ServedTrace]) -> Response {
    if traces.is_empty() {
        return error(StatusCode::NOT_FOUND, "No traces found");
    }
    let combined: Vec<_> = traces.iter().flat_map(|t| t.resource_spans.iter().cloned()).collect();
    json(StatusCode::OK, "application/json", format!("{{\"result\":{}}}", otlp_json::traces_data_json(&combined)))
}

fn parse_time(q: &QueryParams, name: &str) -> Result<Option<i128>, BadParameter> {
    match q.get(name) {
        "" => Ok(None),
        text => time::parse_rfc3339_nanos(text).map(Some).map_err(|e| param_error(name, &e)),
    }
}

fn parse_bool(q: &QueryParams, names: &[&str]) -> Result<bool, BadParameter> {
    match q.get_any(names) {
        (_, "") => Ok(false),
        (name, text) => parse_go_bool(text).map_err(|e| param_error(name, &e)),
    }
}

async fn get_trace(Extension(svc): Extension<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let id = match ids::parse_trace_id(&id) {
        Ok(id) => id,
        Err(e) => return param_error("trace_id", &e).into_response(),
    };
    let parsed = (|| -> Result<_, BadParameter> {
        Ok((parse_time(&q, "start_time")?, parse_time(&q, "end_time")?, parse_bool(&q, &["raw_traces"])?))
    })();
    let (start, end, raw) = match parsed {
        Ok(p) => p,
        Err(bad) => return bad.into_response(),
    };
    match svc.get_trace(id, crate::http::lookup_range(start, end), raw).await {
        Ok(trace) => traces_response(&trace.into_iter().collect::<Vec<_>>()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The `query.*` parameters; the lowerCamelCase spellings grpc-gateway also accepts work too.
fn parse_find_query(q: &QueryParams) -> Result<(TraceQuery, bool), BadParameter> {
    let (_, min) = q.get_any(&["query.start_time_min", "query.startTimeMin"]);
    let (_, max) = q.get_any(&["query.start_time_max", "query.startTimeMax"]);
    if min.is_empty() || max.is_empty() {
        return Err(BadParameter("query.start_time_min and query.start_time_max are required".to_owned()));
    }
    let min = time::parse_rfc3339_nanos(min).map_err(|e| param_error("query.start_time_min", &e))?;
    let max = time::parse_rfc3339_nanos(max).map_err(|e| param_error("query.start_time_max", &e))?;
    let mut query = TraceQuery {
        service_name: q.get_any(&["query.service_name", "query.serviceName"]).1.to_string(),
        operation_name: Some(q.get_any(&["query.operation_name", "query.operationName"]).1.to_string())
            .filter(|o| !o.is_empty()),
        start_time_min: Some(min.max(0) as u64),
        start_time_max: Some(max.max(0) as u64),
        ..Default::default()
    };
    match q.get_any(&["query.search_depth", "query.searchDepth", "query.num_traces", "query.numTraces"]) {
        (_, "") => {}
        (name, text) => query.search_depth = parse_go_int(text, 64).map_err(|e| param_error(name, &e))?.max(0) as usize,
    }
    for (names, slot) in [
        (["query.duration_min", "query.durationMin"], &mut query.duration_min),
        (["query.duration_max", "query.durationMax"], &mut query.duration_max),
    ] {
        let (name, text) = q.get_any(&names);
        if !text.is_empty() {
            *slot = Some(to_std_duration(parse_go_duration(text).map_err(|e| param_error(name, &e))?));
        }
    }
    let attributes = q.get("query.attributes");
    if !attributes.is_empty() {
        query.attributes =
            serde_json::from_str(attributes).map_err(|e| param_error("query.attributes", &e.to_string()))?;
    }
    let raw = parse_bool(q, &["query.raw_traces", "query.rawTraces"])?;
    Ok((query, raw))
}

async fn find_traces(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let (query, raw) = match parse_find_query(&q) {
        Ok(p) => p,
        Err(bad) => return bad.into_response(),
    };
    match svc.find_traces(&query, raw).await {
        Ok(traces) => traces_response(&traces),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `/api/v3/trace-summaries`: the same `query.*` parameters as `/api/v3/traces`. No match is
/// an empty response (`{}`), not a 404: a summary list, like the service list, may be empty.
async fn find_trace_summaries(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let (query, raw) = match parse_find_query(&q) {
        Ok(p) => p,
        Err(bad) => return bad.into_response(),
    };
    match svc.find_trace_summaries(&query, raw).await {
        Ok(summaries) => json(StatusCode::OK, "application/json", summary::summaries_json(&summaries).to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn services(Extension(svc): Extension<AppState>) -> Response {
    match svc.services().await {
        // jsonpb leaves out empty repeated fields.
        Ok(services) if services.is_empty() => json(StatusCode::OK, "application/json", "{}".into()),
        Ok(services) => json(StatusCode::OK, "application/json", json!({"services": services}).to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn operations(Extension(svc): Extension<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = QueryParams::parse(raw.as_deref());
    let service = q.get("service");
    let span_kind = Some(q.get_any(&["span_kind", "spanKind"]).1).filter(|k| !k.is_empty());
    match svc.operations(service, span_kind).await {
        Ok(operations) if operations.is_empty() => json(StatusCode::OK, "application/json", "{}".into()),
        Ok(operations) => {
            let list: Vec<serde_json::Value> = operations
                .into_iter()
                .map(|o| {
                    if o.span_kind.is_empty() {
                        json!({"name": o.name})
                    } else {
                        json!({"name": o.name, "spanKind": o.span_kind})
                    }
                })
                .collect();
            json(StatusCode::OK, "application/json", json!({"operations": list}).to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
