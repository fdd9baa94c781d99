//! The head: the spans not yet cut into a block, in memory, indexed by trace ID, service,
//! operation and time.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use spoor_pipeline::otlp::ResourceSpans;

use super::dependencies::{EdgeCounts, ParentRef, count_calls};
use crate::model::{Interner, SpanRecord};
use crate::query::{SpanFilter, operation_of};
use crate::{Operation, TraceId};

#[derive(Default)]
pub(crate) struct Head {
    interner: Interner,
    spans: Vec<SpanRecord>,
    by_trace: HashMap<TraceId, Vec<usize>>,
    by_service: HashMap<String, ServiceIndex>,
    min_time: u64,
    max_time: u64,
    /// When the first span arrived; the head is cut `block_duration` later.
    opened: Option<Instant>,
}

#[derive(Default)]
struct ServiceIndex {
    spans: Vec<usize>,
    by_operation: HashMap<String, Vec<usize>>,
    operations: BTreeSet<Operation>,
}

impl Head {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn opened(&self) -> Option<Instant> {
        self.opened
    }

    pub fn records(&self) -> &[SpanRecord] {
        &self.spans
    }

    pub fn insert(&mut self, resource_spans: &[ResourceSpans]) {
        let records = self.interner.records(resource_spans);
        if records.is_empty() {
            return;
        }
        if self.spans.is_empty() {
            self.opened = Some(Instant::now());
            self.min_time = u64::MAX;
        }
        for record in records {
            let index = self.spans.len();
            let start = record.span.start_time_unix_nano;
            self.min_time = self.min_time.min(start);
            self.max_time = self.max_time.max(start);
            self.by_trace.entry(record.trace_id).or_default().push(index);
            let service = self.by_service.entry(record.resource.service.clone()).or_default();
            service.spans.push(index);
            service.by_operation.entry(record.span.name.clone()).or_default().push(index);
            if !record.resource.service.is_empty() {
                service.operations.insert(operation_of(&record.span));
            }
            self.spans.push(record);
        }
    }

    pub fn trace(&self, trace_id: &TraceId) -> Vec<SpanRecord> {
        self.by_trace
            .get(trace_id)
            .map(|indexes| indexes.iter().map(|&i| self.spans[i].clone()).collect())
            .unwrap_or_default()
    }

    /// Adds to `hits` each trace with a matching span, with its newest matching start time.
    pub fn find(&self, filter: &SpanFilter, hits: &mut HashMap<TraceId, u64>) {
        if self.spans.is_empty()
            || filter.start_min.is_some_and(|min| self.max_time < min)
            || filter.start_max.is_some_and(|max| self.min_time > max)
        {
            return;
        }
        let candidates: Box<dyn Iterator<Item = usize> + '_> = if filter.service.is_empty() {
            Box::new(0..self.spans.len())
        } else {
            let Some(service) = self.by_service.get(&filter.service) else {
                return;
            };
            match &filter.operation {
                Some(operation) => match service.by_operation.get(operation) {
                    Some(indexes) => Box::new(indexes.iter().copied()),
                    None => return,
                },
                None => Box::new(service.spans.iter().copied()),
            }
        };
        for index in candidates {
            let record = &self.spans[index];
            let resource = record.resource.proto.resource.as_ref();
            let scope = record.scope.proto.scope.as_ref();
            if filter.matches_service(&record.resource.service) && filter.matches_span(resource, scope, &record.span) {
                let start = record.span.start_time_unix_nano;
                let newest = hits.entry(record.trace_id).or_insert(start);
                *newest = (*newest).max(start);
            }
        }
    }

    pub fn services(&self, out: &mut BTreeSet<String>) {
        out.extend(self.by_service.keys().filter(|s| !s.is_empty()).cloned());
    }

    pub fn operations(&self, service: &str, out: &mut BTreeSet<Operation>) {
        if let Some(index) = self.by_service.get(service) {
            out.extend(index.operations.iter().cloned());
        }
    }

    /// Counts the calls between services of child spans that started in `[start, end]` whose
    /// parent span is in the head too, and lists in `elsewhere` those whose parent is not.
    pub fn dependencies(&self, start: u64, end: u64, counts: &mut EdgeCounts, elsewhere: &mut Vec<ParentRef>) {
        if self.spans.is_empty() || self.max_time < start || self.min_time > end {
            return;
        }
        let mut missing: HashMap<(TraceId, &[u8], &str), u64> = HashMap::new();
        for record in &self.spans {
            let span = &record.span;
            if span.parent_span_id.is_empty() || span.start_time_unix_nano < start || span.start_time_unix_nano > end {
                continue;
            }
            let child = record.resource.service.as_str();
            match self.span_service(&record.trace_id, &span.parent_span_id) {
                Some(parent) => count_calls(counts, parent, child, 1),
                None => *missing.entry((record.trace_id, &span.parent_span_id, child)).or_default() += 1,
            }
        }
        elsewhere.extend(missing.into_iter().map(|((trace_id, parent_span_id, child), call_count)| ParentRef {
            trace_id,
            parent_span_id: parent_span_id.to_vec(),
            child: child.to_owned(),
            call_count,
        }));
    }

    /// The service of span `span_id` of trace `trace_id`, if the head holds it.
    pub fn span_service(&self, trace_id: &TraceId, span_id: &[u8]) -> Option<&str> {
        let indexes = self.by_trace.get(trace_id)?;
        indexes.iter().map(|&i| &self.spans[i]).find(|r| r.span.span_id == span_id).map(|r| r.resource.service.as_str())
    }
}
