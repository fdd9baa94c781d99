//! Reads, with Jaeger's query DSL (`tracestore/core/reader.go` at v2.20.0):
//! - trace IDs: a bool query (time range on `startTimeMillis`, `process.serviceName`,
//!   `operationName`, `duration` in µs, and per tag a `should` over the `tag`/`process.tag`
//!   object fields and the nested `tags`, `process.tags` and `logs.fields`, values matched as
//!   regular expressions), and a `terms` aggregation on `traceID` ordered by each trace's
//!   latest `startTime`;
//! - traces: one `_msearch` line per trace over the day indices of the range widened by
//!   `max_trace_duration`, paged with `search_after` until every span is read;
//! - services and operations: `terms` aggregations over the service indices;
//! - dependencies: the documents of `jaeger-dependencies-*` in the window.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use spoor_store::{DependencyLink, TraceId, TraceQuery};

use crate::client::{Client, EsError, check};
use crate::dbmodel::SpanDoc;
use crate::indices::Layout;

const TRACE_ID_AGGREGATION: &str = "traceIDs";

/// Jaeger's default upper duration bound when only a minimum is given: a day, in µs.
const DEFAULT_MAX_DURATION_MICROS: u64 = 86_400_000_000;

pub struct Reader<'a> {
    pub client: &'a Client,
    pub layout: &'a Layout,
    pub max_doc_count: usize,
    pub max_span_age: Duration,
    pub max_trace_duration: Duration,
}

pub fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default()
}

/// The search parameters every request carries: missing day indices are not an error.
const SEARCH_PARAMS: &str = "ignore_unavailable=true&allow_no_indices=true&rest_total_hits_as_int=true";

impl Reader<'_> {
    /// `[start, end]` in ns: the query's bounds, or the last `max_span_age`.
    fn window(&self, start: Option<u64>, end: Option<u64>) -> (u64, u64) {
        let end = end.unwrap_or_else(now_nanos);
        let start = start.unwrap_or_else(|| end.saturating_sub(self.max_span_age.as_nanos() as u64));
        (start, end)
    }

    async fn search(&self, indices: &[String], body: &Value) -> Result<Value, EsError> {
        let path = format!("{}/_search?{SEARCH_PARAMS}", indices.join(","));
        self.client.json(Method::POST, &path, Some(body)).await
    }

    pub async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, EsError> {
        let (start, end) = self.window(query.start_time_min, query.start_time_max);
        let depth = if query.search_depth == 0 { spoor_store::DEFAULT_SEARCH_DEPTH } else { query.search_depth };
        let body = json!({
            "size": 0,
            "query": find_query(query, start, end),
            "aggs": {TRACE_ID_AGGREGATION: {
                "terms": {"field": "traceID", "size": depth, "order": [{"startTime": "desc"}]},
                "aggs": {"startTime": {"max": {"field": "startTime"}}},
            }},
        });
        let indices = self.layout.spans.read_targets(start, end);
        let answer = self.search(&indices, &body).await?;
        let Some(aggregations) = answer.get("aggregations") else { return Ok(Vec::new()) };
        let buckets = aggregations
            .pointer(&format!("/{TRACE_ID_AGGREGATION}/buckets"))
            .and_then(Value::as_array)
            .ok_or_else(|| EsError::Invalid("the search answer has no traceIDs aggregation".to_owned()))?;
        let mut ids = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let key = bucket.get("key").and_then(Value::as_str).unwrap_or_default();
            ids.push(parse_trace_id(key).map_err(EsError::Invalid)?);
        }
        Ok(ids)
    }

    /// The span documents of each trace, in `[start, end]` widened by `max_trace_duration`.
    pub async fn read_traces(&self, ids: &[TraceId], start: u64, end: u64) -> Result<Vec<Vec<SpanDoc>>, EsError> {
        let widen = self.max_trace_duration.as_nanos() as u64;
        let (start, end) = (start.saturating_sub(widen), end.saturating_add(widen));
        let indices = self.layout.spans.read_targets(start, end);
        let header = json!({"index": indices, "ignore_unavailable": true, "allow_no_indices": true}).to_string();
        let mut traces: Vec<Vec<SpanDoc>> = vec![Vec::new(); ids.len()];
        // Each trace still being read: its position and where its next page starts.
        let mut open: Vec<(usize, Option<Value>)> = (0..ids.len()).map(|i| (i, None)).collect();
        while !open.is_empty() {
            let mut body = String::new();
            for (position, after) in &open {
                let mut search = json!({
                    "size": self.max_doc_count,
                    "query": {"bool": {"must": [
                        {"terms": {"traceID": trace_id_forms(&ids[*position])}},
                        {"range": {"startTimeMillis": {"gte": start / 1_000_000, "lte": end / 1_000_000}}},
                    ]}},
                    "sort": [{"startTime": "asc"}, {"spanID": "asc"}],
                    "track_total_hits": true,
                });
                if let Some(after) = after {
                    search["search_after"] = after.clone();
                }
                body.push_str(&header);
                body.push('\n');
                body.push_str(&search.to_string());
                body.push('\n');
            }
            let path = "_msearch?rest_total_hits_as_int=true";
            let (status, answer) = self.client.send(Method::POST, path, Some(Bytes::from(body)), true).await?;
            check(Method::POST, path, status, &answer)?;
            let answer: MultiSearch = serde_json::from_slice(&answer)
                .map_err(|err| EsError::Invalid(format!("_msearch: unexpected answer: {err}")))?;
            if answer.responses.len() != open.len() {
                return Err(EsError::Invalid(format!(
                    "_msearch: {} answers for {} searches",
                    answer.responses.len(),
                    open.len()
                )));
            }
            let mut still_open = Vec::new();
            for ((position, _), response) in open.into_iter().zip(answer.responses) {
                if let Some(error) = response.error {
                    return Err(EsError::Invalid(format!(
                        "_msearch: {}",
                        crate::client::error_reason(error.to_string().as_bytes())
                    )));
                }
                let hits = response.hits.hits;
                let total = response.hits.total.count();
                let last_sort = hits.last().and_then(|hit| hit.sort.clone());
                for hit in hits {
                    let doc: SpanDoc = serde_json::from_value(hit.source).map_err(|err| {
                        EsError::Invalid(format!("a span document of trace {}: {err}", hex(&ids[position])))
                    })?;
                    traces[position].push(doc);
                }
                if (traces[position].len() as u64) < total
                    && let Some(sort) = last_sort
                {
                    still_open.push((position, Some(sort)));
                }
            }
            open = still_open;
        }
        Ok(traces)
    }

    pub async fn services(&self) -> Result<Vec<String>, EsError> {
        let (start, end) = self.window(None, None);
        let body = json!({"size": 0, "aggs": {"distinct_services": {"terms": {"field": "serviceName", "size": self.max_doc_count}}}});
        let answer = self.search(&self.layout.services.read_targets(start, end), &body).await?;
        Ok(bucket_keys(&answer, "distinct_services"))
    }

    pub async fn operations(&self, service: &str) -> Result<Vec<String>, EsError> {
        let (start, end) = self.window(None, None);
        let body = json!({
            "size": 0,
            "query": {"term": {"serviceName": service}},
            "aggs": {"distinct_operations": {"terms": {"field": "operationName", "size": self.max_doc_count}}},
        });
        let answer = self.search(&self.layout.services.read_targets(start, end), &body).await?;
        Ok(bucket_keys(&answer, "distinct_operations"))
    }

    /// The links of the dependency documents dated in `[end - lookback, end]`, summed per edge.
    pub async fn dependencies(&self, end: u64, lookback: Duration) -> Result<Vec<DependencyLink>, EsError> {
        let start = end.saturating_sub(lookback.as_nanos() as u64);
        let body = json!({
            "size": self.max_doc_count,
            "query": {"range": {"timestamp": {"gte": rfc3339(start), "lte": rfc3339(end)}}},
        });
        let answer = self.search(&self.layout.dependencies.read_targets(start, end), &body).await?;
        let mut edges: BTreeMap<(String, String), u64> = BTreeMap::new();
        let hits = answer.pointer("/hits/hits").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for hit in hits {
            let links =
                hit.pointer("/_source/dependencies").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for link in links {
                let parent = link.get("parent").and_then(Value::as_str).unwrap_or_default();
                let child = link.get("child").and_then(Value::as_str).unwrap_or_default();
                let calls = link.get("callCount").and_then(Value::as_u64).unwrap_or_default();
                *edges.entry((parent.to_owned(), child.to_owned())).or_default() += calls;
            }
        }
        Ok(edges
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink { parent, child, call_count })
            .collect())
    }
}

/// The bool query of a search, as Jaeger's `buildFindTraceIDsQuery`.
pub fn find_query(query: &TraceQuery, start: u64, end: u64) -> Value {
    let mut must = Vec::new();
    if query.duration_min.is_some() || query.duration_max.is_some() {
        let min = query.duration_min.map(|d| d.as_micros() as u64).unwrap_or(0);
        let max = query.duration_max.map(|d| d.as_micros() as u64).unwrap_or(DEFAULT_MAX_DURATION_MICROS);
        must.push(json!({"range": {"duration": {"gte": min, "lte": max}}}));
    }
    must.push(json!({"range": {"startTimeMillis": {"gte": start / 1_000_000 , "lte": end / 1_000_000}}}));
    if !query.service_name.is_empty() {
        must.push(json!({"match": {"process.serviceName": {"query": query.service_name}}}));
    }
    if let Some(operation) = query.operation_name.as_deref().filter(|name| !name.is_empty()) {
        must.push(json!({"match": {"operationName": {"query": operation}}}));
    }
    for (key, value) in &query.attributes {
        must.push(tag_query(key, value));
    }
    json!({"bool": {"must": must}})
}

/// A tag in any place Jaeger keeps one: the object fields (`tag.<key>` with dots as `@`) and
/// the nested lists; the value is a regular expression.
fn tag_query(key: &str, value: &str) -> Value {
    let dotted = key.replace('.', "@");
    let mut should = Vec::new();
    for object in ["tag", "process.tag"] {
        should.push(json!({"bool": {"must": [{"regexp": {format!("{object}.{dotted}"): {"value": value}}}]}}));
    }
    for nested in ["tags", "process.tags", "logs.fields"] {
        should.push(json!({"nested": {"path": nested, "query": {"bool": {"must": [
            {"match": {format!("{nested}.key"): {"query": key}}},
            {"regexp": {format!("{nested}.value"): {"value": value}}},
        ]}}}}));
    }
    json!({"bool": {"should": should}})
}

/// The trace ID as documents hold it: 32 hex digits, and for a 64-bit ID also the 16-digit
/// form that Jaeger v1 clients' documents carry.
fn trace_id_forms(id: &TraceId) -> Vec<String> {
    let full = hex(id);
    if id[..8].iter().all(|b| *b == 0) { vec![full.clone(), full[16..].to_owned()] } else { vec![full] }
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A trace ID from a document: up to 32 hex digits, zero-padded on the left.
pub fn parse_trace_id(text: &str) -> Result<TraceId, String> {
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("invalid trace ID {text:?} in a document"));
    }
    let padded = format!("{text:0>32}");
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).map_err(|err| err.to_string())?;
    }
    Ok(id)
}

fn bucket_keys(answer: &Value, aggregation: &str) -> Vec<String> {
    let buckets = answer.pointer(&format!("/aggregations/{aggregation}/buckets")).and_then(Value::as_array);
    let mut keys: Vec<String> = buckets
        .map(|buckets| buckets.iter().filter_map(|b| b.get("key").and_then(Value::as_str)).map(str::to_owned).collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Unix ns as RFC 3339 UTC, as Go's `time.Time` marshals.
pub fn rfc3339(nanos: u64) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let (year, month, day) = spoor_pipeline::civil::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[derive(Deserialize)]
struct MultiSearch {
    responses: Vec<SearchResponse>,
}

#[derive(Deserialize)]
struct SearchResponse {
    #[serde(default)]
    hits: Hits,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Hits {
    #[serde(default)]
    total: Total,
    #[serde(default)]
    hits: Vec<Hit>,
}

/// `hits.total`: a number with `rest_total_hits_as_int`, else `{"value": n}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Count(u64),
    Object { value: u64 },
}

impl Default for Total {
    fn default() -> Self {
        Self::Count(0)
    }
}

impl Total {
    fn count(&self) -> u64 {
        match self {
            Self::Count(n) | Self::Object { value: n } => *n,
        }
    }
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "_source")]
    source: Value,
    #[serde(default)]
    sort: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_find_query_is_jaegers() {
        let mut query =
            TraceQuery { service_name: "svc".into(), operation_name: Some("op".into()), ..Default::default() };
        query.attributes.insert("http.method".into(), "GET".into());
        query.duration_min = Some(Duration::from_micros(5));
        let body = find_query(&query, 1_000_000_000, 2_000_000_000);
        let must = body["bool"]["must"].as_array().unwrap();
        assert_eq!(must[0], json!({"range": {"duration": {"gte": 5, "lte": 86_400_000_000u64}}}));
        assert_eq!(must[1], json!({"range": {"startTimeMillis": {"gte": 1000, "lte": 2000}}}));
        assert_eq!(must[2], json!({"match": {"process.serviceName": {"query": "svc"}}}));
        assert_eq!(must[3], json!({"match": {"operationName": {"query": "op"}}}));
        let should = must[4]["bool"]["should"].as_array().unwrap();
        assert_eq!(should[0]["bool"]["must"][0]["regexp"]["tag.http@method"]["value"], "GET");
        assert_eq!(should[4]["nested"]["path"], "logs.fields");
    }

    #[test]
    fn ids_and_times() {
        let id = parse_trace_id("1").unwrap();
        assert_eq!(id[15], 1);
        assert_eq!(trace_id_forms(&id), ["00000000000000000000000000000001", "0000000000000001"]);
        assert!(parse_trace_id("xyz").is_err());
        assert!(parse_trace_id(&"1".repeat(33)).is_err());
        assert_eq!(rfc3339(1_796_333_756_000_000_000), "2026-12-03T21:35:56Z");
    }
}
