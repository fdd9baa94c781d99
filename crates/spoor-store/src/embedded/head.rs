//! The head: the spans not yet cut into a block, in memory, indexed by trace ID, service,
//! operation and time.
//!
//! It holds the `ResourceSpans` messages as they were received (`Bytes` shared with the batch
//! and the WAL record, not decoded) and one compact entry per span, read from those bytes in
//! one pass by [`spoor_pipeline::wire::extract_spans`]: IDs, times, service and name
//! (interned), kind, status code, and where the span and its scope lie. A read decodes only
//! what it returns or must check: `trace` the trace's spans, `find` a span only when the query
//! has attribute conditions (and each resource and scope once per call). The cut builds block
//! rows from the bytes (see `rows`).

mod rows;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use prost::Message;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans, Span};
use spoor_pipeline::wire::{self, SpanFields};

use super::dependencies::{EdgeCounts, ParentRef, count_calls};
use super::placement::Placement;
use crate::model::{ResourcePart, ScopePart, SpanRecord, trace_id_of};
use crate::query::{SpanFilter, kind_name};
use crate::{Operation, TraceId};

/// Per-span bytes of the indexes besides the entry: the entry's index in the trace, service
/// and operation lists.
const INDEX_BYTES_PER_SPAN: usize = 3 * std::mem::size_of::<u32>();
/// Per-trace bytes of the trace index: the hash map slot and the list's own header.
const INDEX_BYTES_PER_TRACE: usize = 64;

#[derive(Default)]
pub(crate) struct Head {
    /// The received `ResourceSpans` messages the spans lie in.
    chunks: Vec<Bytes>,
    chunk_bytes: usize,
    spans: Vec<SpanEntry>,
    services: Names,
    names: Names,
    by_trace: HashMap<TraceId, Vec<u32>>,
    by_service: HashMap<u32, ServiceIndex>,
    /// Placed start times (see `placement`), so a span dated far off does not widen them.
    min_time: u64,
    max_time: u64,
    /// Spans whose start lay outside the placement window, placed by their arrival instead.
    moved: u64,
    /// When the first span arrived; the head is cut `block_duration` later.
    opened: Option<Instant>,
}

/// A byte range of a chunk.
#[derive(Debug, Clone, Copy, Default)]
struct Span32 {
    start: u32,
    len: u32,
}

impl Span32 {
    fn range(self) -> Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// What the head keeps of one span besides its bytes.
#[derive(Debug, Clone)]
struct SpanEntry {
    trace_id: TraceId,
    start: u64,
    end: u64,
    chunk: u32,
    /// The span's `ScopeSpans` and the span, in the chunk.
    scope: Span32,
    span: Span32,
    span_id: Span32,
    parent_span_id: Span32,
    service: u32,
    name: u32,
    kind: i32,
    status_code: i32,
}

/// Interned strings.
#[derive(Default)]
struct Names {
    list: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
    bytes: usize,
}

/// Per-name bytes besides the text: the list and map slots and the `Arc` header.
const NAME_OVERHEAD_BYTES: usize = 64;

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = Arc::from(name);
        self.bytes += name.len() + NAME_OVERHEAD_BYTES;
        self.list.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn get(&self, id: u32) -> &str {
        self.list.get(id as usize).map_or("", |name| name)
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Spans read from encoded `ResourceSpans` messages, not yet in a head.
pub(crate) struct Extracted {
    resources: Vec<ExtractedResource>,
}

struct ExtractedResource {
    bytes: Bytes,
    /// `service.name`, in `bytes`.
    service: Span32,
    /// Each span's entry (without chunk, service and name) and its name, in `bytes`.
    spans: Vec<(SpanEntry, Span32)>,
}

impl Extracted {
    /// Reads the spans of each resource in one pass over its bytes. A resource that does not
    /// parse (its bytes were checked when received or encoded here, so this is a bug) is left
    /// out and logged.
    pub fn new(resources: &[Bytes]) -> Self {
        let resources = resources
            .iter()
            .filter_map(|bytes| {
                if u32::try_from(bytes.len()).is_err() {
                    tracing::error!(bytes = bytes.len(), "a resource too large for the head; spans dropped");
                    return None;
                }
                let mut spans = Vec::new();
                let extracted = wire::extract_spans(bytes, |fields: SpanFields<'_>| {
                    let entry = SpanEntry {
                        trace_id: trace_id_of(fields.trace_id),
                        start: fields.start_time_unix_nano,
                        end: fields.end_time_unix_nano,
                        chunk: 0,
                        scope: range32(&fields.scope),
                        span: range32(&fields.span),
                        span_id: span32(bytes, fields.span_id),
                        parent_span_id: span32(bytes, fields.parent_span_id),
                        service: 0,
                        name: 0,
                        kind: fields.kind,
                        status_code: fields.status_code,
                    };
                    spans.push((entry, span32(bytes, fields.name.as_bytes())));
                });
                match extracted {
                    Ok(service) if !spans.is_empty() => Some(ExtractedResource {
                        // A copy of its own: the received bytes share the buffer a request was
                        // read into, which can be larger than they are and would stay alive,
                        // uncounted by `max_head_bytes`, as long as the head (peak RSS under
                        // full ingest fell about 40 MB of 800 with the copy).
                        bytes: Bytes::copy_from_slice(bytes),
                        service: span32(bytes, service.as_bytes()),
                        spans,
                    }),
                    Ok(_) => None,
                    Err(err) => {
                        tracing::error!(error = %err, "a checked ResourceSpans did not parse; its spans are not in the head");
                        None
                    }
                }
            })
            .collect();
        Self { resources }
    }
}

#[derive(Default)]
struct ServiceIndex {
    spans: Vec<u32>,
    by_operation: HashMap<u32, Vec<u32>>,
    /// (name, kind) of the service's spans.
    operations: HashSet<(u32, i32)>,
}

/// The offset of `part` inside `whole` as a chunk range; empty if it is not inside.
fn span32(whole: &[u8], part: &[u8]) -> Span32 {
    let offset = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match (u32::try_from(offset), u32::try_from(part.len())) {
        (Ok(start), Ok(len)) if !part.is_empty() && offset + part.len() <= whole.len() => Span32 { start, len },
        _ => Span32::default(),
    }
}

fn range32(range: &Range<usize>) -> Span32 {
    match (u32::try_from(range.start), u32::try_from(range.len())) {
        (Ok(start), Ok(len)) => Span32 { start, len },
        _ => Span32::default(),
    }
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

    /// Spans placed by their arrival because their start lay outside the placement window.
    #[allow(dead_code)] // for the store's metrics (issue 13 item 6)
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// About how much memory the head holds: the received bytes, the entries and indexes.
    pub fn bytes(&self) -> usize {
        self.chunk_bytes
            + self.spans.capacity() * std::mem::size_of::<SpanEntry>()
            + self.spans.len() * INDEX_BYTES_PER_SPAN
            + self.by_trace.len() * INDEX_BYTES_PER_TRACE
            + self.services.bytes()
            + self.names.bytes()
    }

    /// Adds the spans of encoded `ResourceSpans` messages (each without field key and length,
    /// as [`spoor_pipeline::EncodedRequest::Resources`] holds them), keeping the bytes.
    pub fn insert(&mut self, resources: &[Bytes], placement: &Placement) {
        self.insert_extracted(Extracted::new(resources), placement);
    }

    /// Adds spans read by [`Extracted::new`], which a writer runs before taking the head's lock.
    pub fn insert_extracted(&mut self, extracted: Extracted, placement: &Placement) {
        for resource in extracted.resources {
            let Ok(chunk) = u32::try_from(self.chunks.len()) else {
                tracing::error!("the head holds too many resources; spans dropped");
                return;
            };
            if self.spans.is_empty() {
                self.opened = Some(Instant::now());
                self.min_time = u64::MAX;
                self.max_time = 0;
            }
            let text = |range: Span32| resource.bytes.get(range.range()).and_then(|b| std::str::from_utf8(b).ok());
            let service = self.services.intern(text(resource.service).unwrap_or_default());
            let service_is_named = resource.service.len > 0;
            let index = self.by_service.entry(service).or_default();
            for (mut entry, name) in resource.spans {
                let i = self.spans.len() as u32;
                entry.chunk = chunk;
                entry.service = service;
                entry.name = self.names.intern(text(name).unwrap_or_default());
                let (placed, moved) = placement.place(entry.start);
                self.moved += u64::from(moved);
                self.min_time = self.min_time.min(placed);
                self.max_time = self.max_time.max(placed);
                self.by_trace.entry(entry.trace_id).or_default().push(i);
                index.spans.push(i);
                index.by_operation.entry(entry.name).or_default().push(i);
                if service_is_named {
                    index.operations.insert((entry.name, entry.kind));
                }
                self.spans.push(entry);
            }
            self.chunk_bytes += resource.bytes.len();
            self.chunks.push(resource.bytes);
        }
    }

    fn chunk(&self, entry: &SpanEntry) -> &[u8] {
        self.chunks.get(entry.chunk as usize).map_or(&[], |chunk| chunk)
    }

    fn bytes_of(&self, entry: &SpanEntry, range: Span32) -> &[u8] {
        self.chunk(entry).get(range.range()).unwrap_or_default()
    }

    fn decode_span(&self, entry: &SpanEntry) -> Option<Span> {
        Span::decode(self.bytes_of(entry, entry.span))
            .inspect_err(|err| tracing::error!(error = %err, "a span in the head did not decode"))
            .ok()
    }

    pub fn trace(&self, trace_id: &TraceId) -> Vec<SpanRecord> {
        let Some(indexes) = self.by_trace.get(trace_id) else {
            return Vec::new();
        };
        let mut parts = Parts::default();
        indexes
            .iter()
            .filter_map(|&i| {
                let entry = self.spans.get(i as usize)?;
                let span = self.decode_span(entry)?;
                let (resource, scope) = parts.of(self, entry)?;
                Some(SpanRecord { resource, scope, span })
            })
            .collect()
    }

    /// Adds to `hits` each trace with a matching span, with its newest matching start time.
    pub fn find(&self, filter: &SpanFilter, hits: &mut HashMap<TraceId, u64>) {
        if self.spans.is_empty()
            || filter.start_min.is_some_and(|min| self.max_time < min)
            || filter.start_max.is_some_and(|max| self.min_time > max)
        {
            return;
        }
        let candidates: Box<dyn Iterator<Item = u32> + '_> = if filter.service.is_empty() {
            Box::new(0..self.spans.len() as u32)
        } else {
            let Some(service) = self.services.id(&filter.service).and_then(|id| self.by_service.get(&id)) else {
                return;
            };
            match &filter.operation {
                Some(operation) => match self.names.id(operation).and_then(|id| service.by_operation.get(&id)) {
                    Some(indexes) => Box::new(indexes.iter().copied()),
                    None => return,
                },
                None => Box::new(service.spans.iter().copied()),
            }
        };
        let attributes = filter.needs_attributes();
        let mut parts = Parts::default();
        for index in candidates {
            let Some(entry) = self.spans.get(index as usize) else {
                continue;
            };
            if !filter.matches_service(self.services.get(entry.service))
                || !filter.matches_fields(
                    self.names.get(entry.name),
                    entry.kind,
                    entry.status_code,
                    entry.start,
                    entry.end,
                )
            {
                continue;
            }
            if attributes {
                let Some((span, (resource, scope))) = self.decode_span(entry).zip(parts.of(self, entry)) else {
                    continue;
                };
                if !filter.matches_attributes(resource.proto.resource.as_ref(), scope.proto.scope.as_ref(), &span) {
                    continue;
                }
            }
            let newest = hits.entry(entry.trace_id).or_insert(entry.start);
            *newest = (*newest).max(entry.start);
        }
    }

    pub fn services(&self, out: &mut BTreeSet<String>) {
        out.extend(
            self.by_service.keys().map(|&id| self.services.get(id)).filter(|s| !s.is_empty()).map(str::to_owned),
        );
    }

    pub fn operations(&self, service: &str, out: &mut BTreeSet<Operation>) {
        if let Some(index) = self.services.id(service).and_then(|id| self.by_service.get(&id)) {
            out.extend(index.operations.iter().map(|&(name, kind)| Operation {
                name: self.names.get(name).to_owned(),
                span_kind: kind_name(kind).to_owned(),
            }));
        }
    }

    /// Counts the calls between services of child spans that started in `[start, end]` whose
    /// parent span is in the head too, and lists in `elsewhere` those whose parent is not.
    pub fn dependencies(&self, start: u64, end: u64, counts: &mut EdgeCounts, elsewhere: &mut Vec<ParentRef>) {
        if self.spans.is_empty() || self.max_time < start || self.min_time > end {
            return;
        }
        let mut missing: HashMap<(TraceId, &[u8], &str), u64> = HashMap::new();
        for entry in &self.spans {
            let parent_span_id = self.bytes_of(entry, entry.parent_span_id);
            if parent_span_id.is_empty() || entry.start < start || entry.start > end {
                continue;
            }
            let child = self.services.get(entry.service);
            match self.span_service(&entry.trace_id, parent_span_id) {
                Some(parent) => count_calls(counts, parent, child, 1),
                None => *missing.entry((entry.trace_id, parent_span_id, child)).or_default() += 1,
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
        indexes
            .iter()
            .filter_map(|&i| self.spans.get(i as usize))
            .find(|entry| self.bytes_of(entry, entry.span_id) == span_id)
            .map(|entry| self.services.get(entry.service))
    }
}

/// Decoded resources and scopes of one read, each decoded once.
#[derive(Default)]
struct Parts {
    resources: HashMap<u32, Arc<ResourcePart>>,
    scopes: HashMap<(u32, u32), Arc<ScopePart>>,
}

impl Parts {
    fn of(&mut self, head: &Head, entry: &SpanEntry) -> Option<(Arc<ResourcePart>, Arc<ScopePart>)> {
        let resource = match self.resources.get(&entry.chunk) {
            Some(resource) => resource.clone(),
            None => {
                let bytes = rows::without_field(head.chunk(entry), rows::SCOPE_SPANS_FIELD).ok()?;
                let proto = ResourceSpans::decode(&bytes[..])
                    .inspect_err(|err| tracing::error!(error = %err, "a resource in the head did not decode"))
                    .ok()?;
                let resource = Arc::new(ResourcePart::from_proto(proto));
                self.resources.insert(entry.chunk, resource.clone());
                resource
            }
        };
        let key = (entry.chunk, entry.scope.start);
        let scope = match self.scopes.get(&key) {
            Some(scope) => scope.clone(),
            None => {
                let bytes = rows::without_field(head.bytes_of(entry, entry.scope), rows::SPANS_FIELD).ok()?;
                let proto = ScopeSpans::decode(&bytes[..])
                    .inspect_err(|err| tracing::error!(error = %err, "a scope in the head did not decode"))
                    .ok()?;
                let scope = Arc::new(ScopePart::from_proto(proto));
                self.scopes.insert(key, scope.clone());
                scope
            }
        };
        Some((resource, scope))
    }
}

#[cfg(test)]
mod tests;
