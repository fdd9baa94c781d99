//! The `memory` backend: Jaeger v2's memory store. Whole traces sit in a ring of
//! `max_traces`; a new trace evicts the oldest, and search walks from the newest.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans};

use crate::model::trace_id_of;
use crate::query::{SpanFilter, dependency_links, operation_of, service_name};
use crate::{
    DEFAULT_SEARCH_DEPTH, DependencyLink, MemoryConfig, Operation, StoreError, Trace, TraceId, TraceQuery, TraceStore,
};

pub struct MemoryStore {
    max_traces: usize,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    ids: HashMap<TraceId, usize>,
    ring: Vec<Option<StoredTrace>>,
    /// Position in `ring` of the most recently added trace.
    most_recent: Option<usize>,
    services: BTreeSet<String>,
    operations: HashMap<String, BTreeSet<Operation>>,
}

struct StoredTrace {
    id: TraceId,
    resource_spans: Vec<ResourceSpans>,
    start: u64,
    end: u64,
}

impl MemoryStore {
    pub fn new(config: MemoryConfig) -> Result<Self, StoreError> {
        config.validate()?;
        Ok(Self { max_traces: config.max_traces, state: RwLock::new(State::default()) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn matching(&self, query: &TraceQuery) -> Vec<TraceId> {
        let depth = match query.search_depth {
            0 => DEFAULT_SEARCH_DEPTH,
            depth => depth,
        }
        .min(self.max_traces);
        let filter = SpanFilter::new(query);
        let state = self.read();
        let Some(most_recent) = state.most_recent else {
            return Vec::new();
        };
        let n = state.ring.len();
        let mut found = Vec::new();
        for i in 0..n {
            if found.len() == depth {
                break;
            }
            let Some(trace) = &state.ring[(most_recent + n - i) % n] else {
                break;
            };
            if trace_matches(&trace.resource_spans, &filter) {
                found.push(trace.id);
            }
        }
        found
    }
}

fn trace_matches(resource_spans: &[ResourceSpans], filter: &SpanFilter) -> bool {
    resource_spans.iter().any(|rs| {
        filter.matches_service(service_name(rs.resource.as_ref()))
            && rs.scope_spans.iter().any(|ss| {
                ss.spans.iter().any(|span| filter.matches_span(rs.resource.as_ref(), ss.scope.as_ref(), span))
            })
    })
}

/// Splits a batch by trace ID, keeping each span's resource and scope, in order of first
/// appearance.
fn split_by_trace(batch: &TraceBatch) -> Vec<(TraceId, Vec<ResourceSpans>)> {
    let mut order: Vec<(TraceId, Vec<ResourceSpans>)> = Vec::new();
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    for rs in batch.resource_spans() {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let id = trace_id_of(&span.trace_id);
                let slot = *index.entry(id).or_insert_with(|| {
                    order.push((id, Vec::new()));
                    order.len() - 1
                });
                let groups = &mut order[slot].1;
                // Spans of one resource and scope stay together: reuse the group this
                // resource/scope pair opened for this trace.
                let reuse = groups.last_mut().filter(|g| {
                    g.resource == rs.resource
                        && g.schema_url == rs.schema_url
                        && g.scope_spans.last().is_some_and(|s| s.scope == ss.scope && s.schema_url == ss.schema_url)
                });
                match reuse {
                    Some(group) => {
                        if let Some(scope) = group.scope_spans.last_mut() {
                            scope.spans.push(span.clone());
                        }
                    }
                    None => groups.push(ResourceSpans {
                        resource: rs.resource.clone(),
                        schema_url: rs.schema_url.clone(),
                        scope_spans: vec![ScopeSpans {
                            scope: ss.scope.clone(),
                            schema_url: ss.schema_url.clone(),
                            spans: vec![span.clone()],
                        }],
                    }),
                }
            }
        }
    }
    order
}

fn time_range(resource_spans: &[ResourceSpans]) -> (u64, u64) {
    let spans = resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans);
    spans.fold((u64::MAX, 0), |(start, end), span| {
        (start.min(span.start_time_unix_nano), end.max(span.end_time_unix_nano))
    })
}

impl State {
    fn record_metadata(&mut self, resource_spans: &[ResourceSpans]) {
        for rs in resource_spans {
            let service = service_name(rs.resource.as_ref());
            if service.is_empty() {
                continue;
            }
            if !self.services.contains(service) {
                self.services.insert(service.to_owned());
            }
            let operations = self.operations.entry(service.to_owned()).or_default();
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                operations.insert(operation_of(span));
            }
        }
    }

    fn store(&mut self, max_traces: usize, id: TraceId, mut resource_spans: Vec<ResourceSpans>) {
        self.record_metadata(&resource_spans);
        let (start, end) = time_range(&resource_spans);
        if let Some(trace) = self.ids.get(&id).and_then(|&i| self.ring[i].as_mut()) {
            trace.resource_spans.append(&mut resource_spans);
            trace.start = trace.start.min(start);
            trace.end = trace.end.max(end);
            return;
        }
        if self.ring.len() < max_traces {
            self.ring.resize_with(max_traces, || None);
        }
        let slot = self.most_recent.map_or(0, |i| (i + 1) % max_traces);
        if let Some(evicted) = self.ring[slot].take() {
            self.ids.remove(&evicted.id);
        }
        self.ids.insert(id, slot);
        self.ring[slot] = Some(StoredTrace { id, resource_spans, start, end });
        self.most_recent = Some(slot);
    }
}

#[async_trait]
impl TraceStore for MemoryStore {
    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        let traces = split_by_trace(batch);
        let mut state = self.write_state();
        for (id, resource_spans) in traces {
            state.store(self.max_traces, id, resource_spans);
        }
        Ok(())
    }

    async fn get_trace(&self, trace_id: TraceId, _range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError> {
        let state = self.read();
        let trace = state.ids.get(&trace_id).and_then(|&i| state.ring[i].as_ref());
        Ok(trace.map(|t| Trace { trace_id, resource_spans: t.resource_spans.clone() }))
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StoreError> {
        let ids = self.matching(query);
        let mut traces = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(trace) = self.get_trace(id, None).await? {
                traces.push(trace);
            }
        }
        Ok(traces)
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        Ok(self.matching(query))
    }

    async fn services(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.read().services.iter().cloned().collect())
    }

    async fn operations(&self, service: &str, span_kind: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        let state = self.read();
        let Some(operations) = state.operations.get(service) else {
            return Ok(Vec::new());
        };
        Ok(operations
            .iter()
            .filter(|op| span_kind.is_none_or(|kind| kind.is_empty() || op.span_kind == kind))
            .cloned()
            .collect())
    }

    /// As Jaeger's memory store: traces lying wholly inside the window, and a call for every
    /// span whose parent is in the same trace and of another service.
    async fn dependencies(&self, end: u64, lookback: Duration) -> Result<Vec<DependencyLink>, StoreError> {
        let start = end.saturating_sub(u64::try_from(lookback.as_nanos()).unwrap_or(u64::MAX));
        let state = self.read();
        let mut counts: HashMap<(String, String), u64> = HashMap::new();
        for trace in state.ring.iter().flatten() {
            if trace.start < start || trace.end > end {
                continue;
            }
            let mut service_of_span: HashMap<&[u8], &str> = HashMap::new();
            for rs in &trace.resource_spans {
                let service = service_name(rs.resource.as_ref());
                for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    service_of_span.entry(&span.span_id).or_insert(service);
                }
            }
            for rs in &trace.resource_spans {
                let child = service_name(rs.resource.as_ref());
                for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    if span.parent_span_id.is_empty() {
                        continue;
                    }
                    if let Some(parent) = service_of_span.get(span.parent_span_id.as_slice())
                        && *parent != child
                    {
                        *counts.entry(((*parent).to_owned(), child.to_owned())).or_default() += 1;
                    }
                }
            }
        }
        Ok(dependency_links(counts))
    }
}
