//! `spoor es-dependencies [--date YYYY-MM-DD] URL`: Jaeger's spark-dependencies job. It reads
//! one day's span documents, trace by trace (sorted by trace ID, so only one trace is held at
//! a time), counts a call for every span whose parent is in the same trace and of another
//! service, and writes the day's links as one document to `{prefix-}jaeger-dependencies-DATE`
//! (or the `-write` alias with `--use-aliases`), which `/api/dependencies` reads. Running it
//! again for the same day replaces that document.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use http::Method;
use serde_json::{Value, json};

use super::Connection;
use crate::client::Client;
use crate::config::ElasticConfig;
use crate::dbmodel::{CHILD_OF, FOLLOWS_FROM, SpanDoc};
use crate::indices::{self, Layout};
use crate::reader::rfc3339;
use spoor_pipeline::civil::days_from_civil;

const DAY_NANOS: u64 = 86_400_000_000_000;
const PAGE: usize = 5_000;

#[derive(Debug, clap::Args)]
pub struct DependenciesArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The UTC day to compute, `YYYY-MM-DD`; default today.
    #[arg(long)]
    pub date: Option<String>,
    /// The backend uses read/write aliases (`use_aliases: true`).
    #[arg(long = "use-aliases")]
    pub use_aliases: bool,
}

/// The start of a `YYYY-MM-DD` day, Unix ns.
pub fn parse_day(text: &str) -> Result<u64, String> {
    let bad = || format!("--date: {text:?} is not YYYY-MM-DD");
    let mut parts = text.split('-').map(|part| part.parse::<i64>().map_err(|_| bad()));
    let (year, month, day) =
        (parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??);
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    u64::try_from(days_from_civil(year, month, day)).map(|days| days * DAY_NANOS).map_err(|_| bad())
}

/// Calls between services in one trace's spans: (parent service, child service) → count.
pub fn count_trace(spans: &[SpanDoc], counts: &mut BTreeMap<(String, String), u64>) {
    let service_of: HashMap<&str, &str> =
        spans.iter().rev().map(|span| (span.span_id.as_str(), span.process.service_name.as_str())).collect();
    for span in spans {
        let Some(parent) = parent_of(span) else { continue };
        if let Some(parent_service) = service_of.get(parent)
            && *parent_service != span.process.service_name
        {
            *counts.entry(((*parent_service).to_owned(), span.process.service_name.clone())).or_default() += 1;
        }
    }
}

/// `parentSpanID`, else the first same-trace `CHILD_OF`, else `FOLLOWS_FROM`, reference.
fn parent_of(span: &SpanDoc) -> Option<&str> {
    if !span.parent_span_id.is_empty() {
        return Some(&span.parent_span_id);
    }
    let same_trace = || span.references.iter().filter(|r| r.trace_id == span.trace_id);
    same_trace()
        .find(|r| r.ref_type == CHILD_OF)
        .or_else(|| same_trace().find(|r| r.ref_type == FOLLOWS_FROM))
        .map(|r| r.span_id.as_str())
}

pub async fn run(args: &DependenciesArgs) -> Result<(), String> {
    let (client, mut config) = args.connection.client()?;
    config.use_aliases = args.use_aliases;
    let day_start = match &args.date {
        Some(date) => parse_day(date)?,
        None => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default();
            now / DAY_NANOS * DAY_NANOS
        }
    };
    let links = compute(&client, &config, day_start).await?;
    let calls: u64 = links.values().sum();
    write(&client, &config, day_start, &links).await?;
    tracing::info!(day = %rfc3339(day_start), links = links.len(), calls, "dependencies written");
    Ok(())
}

/// The day's links, read trace by trace.
pub async fn compute(
    client: &Client,
    config: &ElasticConfig,
    day_start: u64,
) -> Result<BTreeMap<(String, String), u64>, String> {
    let layout = Layout::new(config)?;
    let day_end = day_start + DAY_NANOS - 1;
    let targets = layout.spans.read_targets(day_start, day_end);
    let path = format!("{}/_search?ignore_unavailable=true&allow_no_indices=true", targets.join(","));
    let mut counts = BTreeMap::new();
    let mut trace: Vec<SpanDoc> = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body = json!({
            "size": PAGE,
            "query": {"range": {"startTimeMillis": {"gte": day_start / 1_000_000, "lte": day_end / 1_000_000}}},
            "sort": [{"traceID": "asc"}, {"spanID": "asc"}, {"startTime": "asc"}],
            "_source": ["traceID", "spanID", "parentSpanID", "references", "process.serviceName"],
        });
        if let Some(after) = &after {
            body["search_after"] = after.clone();
        }
        let answer = client.json(Method::POST, &path, Some(&body)).await.map_err(|e| e.to_string())?;
        let hits = answer.pointer("/hits/hits").and_then(Value::as_array).cloned().unwrap_or_default();
        for hit in &hits {
            let doc: SpanDoc = serde_json::from_value(hit.get("_source").cloned().unwrap_or_default())
                .map_err(|e| format!("a span document: {e}"))?;
            if trace.first().is_some_and(|first| first.trace_id != doc.trace_id) {
                count_trace(&trace, &mut counts);
                trace.clear();
            }
            trace.push(doc);
        }
        after = hits.last().and_then(|hit| hit.get("sort").cloned());
        if hits.len() < PAGE || after.is_none() {
            break;
        }
    }
    count_trace(&trace, &mut counts);
    Ok(counts)
}

/// The day's document, replacing an earlier run's.
pub async fn write(
    client: &Client,
    config: &ElasticConfig,
    day_start: u64,
    links: &BTreeMap<(String, String), u64>,
) -> Result<(), String> {
    let flavor = client.detect().await.map_err(|e| e.to_string())?;
    let (template_path, template) = indices::template(config, flavor, indices::DEPENDENCIES);
    client.json(Method::PUT, &template_path, Some(&template)).await.map_err(|e| e.to_string())?;
    let layout = Layout::new(config)?;
    let index = layout.dependencies.write_target(day_start);
    let dependencies: Vec<Value> = links
        .iter()
        .map(|((parent, child), calls)| json!({"parent": parent, "child": child, "callCount": calls}))
        .collect();
    let doc = json!({"timestamp": rfc3339(day_start), "dependencies": dependencies});
    let id = rfc3339(day_start);
    let path = format!("{index}/_doc/{}?refresh=true", id.replace(':', "%3A"));
    client.json(Method::PUT, &path, Some(&doc)).await.map_err(|e| format!("{index}: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbmodel::{Process, Reference};

    fn span(id: &str, parent: &str, service: &str) -> SpanDoc {
        SpanDoc {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            process: Process { service_name: service.into(), ..Process::default() },
            ..SpanDoc::default()
        }
    }

    #[test]
    fn calls_between_services_are_counted_once_per_child() {
        let mut counts = BTreeMap::new();
        let mut by_reference = span("4", "", "db");
        by_reference.references =
            vec![Reference { ref_type: CHILD_OF.into(), trace_id: "t".into(), span_id: "2".into() }];
        let trace =
            [span("1", "", "web"), span("2", "1", "api"), span("3", "2", "api"), by_reference, span("5", "x", "db")];
        count_trace(&trace, &mut counts);
        let got: Vec<_> = counts.into_iter().collect();
        assert_eq!(got, [(("api".into(), "db".into()), 1), (("web".into(), "api".into()), 1)]);
        assert_eq!(parse_day("1970-01-02").unwrap(), DAY_NANOS);
        assert!(parse_day("2026-13-01").is_err());
    }
}
