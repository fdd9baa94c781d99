//! The query service between the APIs and the store: it runs Jaeger's adjusters and never
//! hands out a trace without spans.

use std::sync::Arc;
use std::time::Duration;

use spoor_jaeger::model::adjust;
use spoor_jaeger::proto::api_v3::TraceSummary;
use spoor_pipeline::otlp::ResourceSpans;
use spoor_store::{DependencyLink, Operation, StoreError, TraceId, TraceQuery, TraceStore};

use crate::summary;

/// One trace ready to serve: its ID and OTLP spans, adjusted unless raw traces were asked for.
#[derive(Debug, Clone)]
pub struct ServedTrace {
    pub trace_id: TraceId,
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone)]
pub struct QueryService {
    store: Arc<dyn TraceStore>,
}

impl QueryService {
    pub fn new(store: Arc<dyn TraceStore>) -> Self {
        QueryService { store }
    }

    pub async fn get_trace(
        &self,
        id: TraceId,
        range: Option<(u64, u64)>,
        raw: bool,
    ) -> Result<Option<ServedTrace>, StoreError> {
        let trace = self.store.get_trace(id, range).await?;
        Ok(trace.and_then(|t| prepare(t.trace_id, t.resource_spans, raw)))
    }

    pub async fn find_traces(&self, query: &TraceQuery, raw: bool) -> Result<Vec<ServedTrace>, StoreError> {
        let traces = self.store.find_traces(query).await?;
        Ok(traces.into_iter().filter_map(|t| prepare(t.trace_id, t.resource_spans, raw)).collect())
    }

    /// Problems the store reports beside search results (damaged blocks it skips).
    pub fn warnings(&self) -> Vec<String> {
        self.store.warnings()
    }

    /// The summaries of the traces [`QueryService::find_traces`] finds, in the same order.
    pub async fn find_trace_summaries(&self, query: &TraceQuery, raw: bool) -> Result<Vec<TraceSummary>, StoreError> {
        Ok(self.find_traces(query, raw).await?.iter().map(summary::summarize).collect())
    }

    pub async fn services(&self) -> Result<Vec<String>, StoreError> {
        let mut services = self.store.services().await?;
        services.sort();
        services.dedup();
        Ok(services)
    }

    pub async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        let mut operations = self.store.operations(service, span_kind).await?;
        operations.sort();
        operations.dedup();
        Ok(operations)
    }

    pub async fn dependencies(
        &self,
        end_unix_nanos: u64,
        lookback: Duration,
    ) -> Result<Vec<DependencyLink>, StoreError> {
        self.store.dependencies(end_unix_nanos, lookback).await
    }
}

fn prepare(trace_id: TraceId, mut resource_spans: Vec<ResourceSpans>, raw: bool) -> Option<ServedTrace> {
    if !raw {
        adjust::standard(&mut resource_spans);
    }
    let has_spans = resource_spans.iter().any(|rs| rs.scope_spans.iter().any(|ss| !ss.spans.is_empty()));
    has_spans.then_some(ServedTrace { trace_id, resource_spans })
}

/// Splits OTLP spans into traces by trace ID, in order of first appearance (`/api/transform`).
pub fn split_by_trace(resource_spans: Vec<ResourceSpans>) -> Vec<Vec<ResourceSpans>> {
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut traces: Vec<Vec<ResourceSpans>> = Vec::new();
    for rs in resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let index = match order.iter().position(|id| *id == span.trace_id) {
                    Some(i) => i,
                    None => {
                        order.push(span.trace_id.clone());
                        traces.push(Vec::new());
                        order.len() - 1
                    }
                };
                let trace = &mut traces[index];
                let needs_resource =
                    trace.last().is_none_or(|last| last.resource != rs.resource || last.schema_url != rs.schema_url);
                if needs_resource {
                    trace.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    });
                }
                let Some(out_rs) = trace.last_mut() else { continue };
                let needs_scope = out_rs
                    .scope_spans
                    .last()
                    .is_none_or(|last| last.scope != ss.scope || last.schema_url != ss.schema_url);
                if needs_scope {
                    out_rs.scope_spans.push(spoor_pipeline::otlp::ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    });
                }
                if let Some(out_ss) = out_rs.scope_spans.last_mut() {
                    out_ss.spans.push(span.clone());
                }
            }
        }
    }
    traces
}
