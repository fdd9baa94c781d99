//! Jaeger's `DeduplicateClientServerSpanIDs`: Zipkin-style clients give the client and the server
//! side of an RPC one span ID (a "shared" span), and Jaeger's UI needs every ID to be unique.
//!
//! A SERVER span whose ID is also a CLIENT span's gets the next unused ID counting up from 1
//! (`0000000000000001` first), its old ID becomes its parent (so it shows as CHILD_OF the client
//! span), and the spans whose parent was the old ID move under the new one.

use std::collections::HashMap;

use spoor_pipeline::otlp::{ResourceSpans, Span, span::SpanKind};

use super::{add_warning, spans_mut};

/// A span ID as pdata holds it: an absent or malformed ID is the empty (all-zero) one.
type SpanId = [u8; 8];

const EMPTY: SpanId = [0; 8];
const TOO_MANY_SPANS: &str = "cannot assign unique span ID, too many spans in the trace";

/// Gives server spans that share their ID with a client span a new ID, parented on the shared one.
pub fn deduplicate_client_server_span_ids(resource_spans: &mut [ResourceSpans]) {
    deduplicate_counting_from(resource_spans, EMPTY);
}

/// The adjuster, handing out IDs above `last_assigned`.
fn deduplicate_counting_from(resource_spans: &mut [ResourceSpans], last_assigned: SpanId) {
    let mut ids = UsedIds::of(resource_spans, last_assigned);
    let mut renamed: HashMap<SpanId, SpanId> = HashMap::new();
    for span in spans_mut(resource_spans) {
        let id = span_id(&span.span_id);
        if span.kind != SpanKind::Server as i32 || !ids.has_client_span(&id) {
            continue;
        }
        let Some(new_id) = ids.next_unused() else {
            add_warning(span, TOO_MANY_SPANS.into());
            continue;
        };
        renamed.insert(id, new_id);
        span.parent_span_id = id_bytes(id);
        span.span_id = id_bytes(new_id);
    }
    reparent_children(resource_spans, &renamed);
}

/// Moves the children of the renamed server spans under their new IDs.
fn reparent_children(resource_spans: &mut [ResourceSpans], renamed: &HashMap<SpanId, SpanId>) {
    if renamed.is_empty() {
        return;
    }
    for span in spans_mut(resource_spans) {
        if let Some(new_parent) = renamed.get(&span_id(&span.parent_span_id))
            && span_id(&span.span_id) != *new_parent
        {
            span.parent_span_id = id_bytes(*new_parent);
        }
    }
}

fn span_id(bytes: &[u8]) -> SpanId {
    SpanId::try_from(bytes).unwrap_or(EMPTY)
}

/// The ID as OTLP carries it; the empty ID is no bytes, as pdata writes it.
fn id_bytes(id: SpanId) -> Vec<u8> {
    if id == EMPTY { Vec::new() } else { id.to_vec() }
}

/// Every span ID of the trace, whether a client span has it, and the last ID handed out.
struct UsedIds {
    has_client_span: HashMap<SpanId, bool>,
    last_assigned: SpanId,
}

impl UsedIds {
    fn of(resource_spans: &mut [ResourceSpans], last_assigned: SpanId) -> Self {
        let mut has_client_span: HashMap<SpanId, bool> = HashMap::new();
        for span in spans_mut(resource_spans) {
            let is_client = is_client(span);
            *has_client_span.entry(span_id(&span.span_id)).or_default() |= is_client;
        }
        Self { has_client_span, last_assigned }
    }

    fn has_client_span(&self, id: &SpanId) -> bool {
        self.has_client_span.get(id).copied().unwrap_or(false)
    }

    /// The next ID above the last one assigned that no span uses; `None` once the IDs wrap.
    fn next_unused(&mut self) -> Option<SpanId> {
        let mut id = increment(self.last_assigned);
        while id != EMPTY {
            if !self.has_client_span.contains_key(&id) {
                self.last_assigned = id;
                return Some(id);
            }
            id = increment(id);
        }
        None
    }
}

fn is_client(span: &Span) -> bool {
    span.kind == SpanKind::Client as i32
}

fn increment(id: SpanId) -> SpanId {
    u64::from_be_bytes(id).wrapping_add(1).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::otlp::ScopeSpans;

    use super::*;

    fn span(id: u64, parent: u64, kind: SpanKind) -> Span {
        Span {
            span_id: id.to_be_bytes().to_vec(),
            parent_span_id: if parent == 0 { Vec::new() } else { parent.to_be_bytes().to_vec() },
            kind: kind as i32,
            ..Default::default()
        }
    }

    fn trace(resources: Vec<Vec<Span>>) -> Vec<ResourceSpans> {
        resources
            .into_iter()
            .map(|spans| ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            })
            .collect()
    }

    /// `(id, parent, warnings)` of every span, in order.
    fn ids(resource_spans: &mut [ResourceSpans]) -> Vec<(u64, u64, usize)> {
        spans_mut(resource_spans)
            .map(|s| {
                (
                    u64::from_be_bytes(span_id(&s.span_id)),
                    u64::from_be_bytes(span_id(&s.parent_span_id)),
                    s.attributes.len(),
                )
            })
            .collect()
    }

    #[test]
    fn a_shared_server_span_gets_a_new_id_under_its_client_span() {
        // Jaeger's own case: client 0x2 (under 0x1), server 0x2 across resources, and a child of 0x2.
        let mut trace = trace(vec![
            vec![span(1, 0, SpanKind::Server), span(2, 1, SpanKind::Client)],
            vec![span(2, 1, SpanKind::Server), span(4, 2, SpanKind::Internal)],
        ]);
        deduplicate_client_server_span_ids(&mut trace);
        // 1 and 2 are taken, so the new ID is 3; the child of the shared ID follows the server.
        assert_eq!(ids(&mut trace), vec![(1, 0, 0), (2, 1, 0), (3, 2, 0), (4, 3, 0)]);
    }

    #[test]
    fn the_new_id_counts_up_from_one_past_used_ids() {
        let mut trace = trace(vec![vec![
            span(0xabc, 0, SpanKind::Client),
            span(0xabc, 0, SpanKind::Server),
            span(0xdef, 0, SpanKind::Client),
            span(0xdef, 0, SpanKind::Server),
            span(1, 0, SpanKind::Internal),
        ]]);
        deduplicate_client_server_span_ids(&mut trace);
        assert_eq!(ids(&mut trace), vec![(0xabc, 0, 0), (2, 0xabc, 0), (0xdef, 0, 0), (3, 0xdef, 0), (1, 0, 0)]);
    }

    #[test]
    fn spans_without_a_client_twin_keep_their_ids() {
        let original = vec![vec![
            span(5, 0, SpanKind::Server),
            span(5, 0, SpanKind::Server),
            span(6, 5, SpanKind::Producer),
            span(6, 5, SpanKind::Consumer),
        ]];
        let mut trace = trace(original.clone());
        deduplicate_client_server_span_ids(&mut trace);
        assert_eq!(trace, self::trace(original));
    }

    #[test]
    fn without_a_free_id_the_server_span_keeps_its_id_and_gets_a_warning() {
        let mut trace = trace(vec![vec![span(7, 0, SpanKind::Client), span(7, 0, SpanKind::Server)]]);
        deduplicate_counting_from(&mut trace, [0xff; 8]);
        assert_eq!(ids(&mut trace), vec![(7, 0, 0), (7, 0, 1)]);
        let server = &trace[0].scope_spans[0].spans[1];
        assert_eq!(super::super::tests::warnings(server), vec![TOO_MANY_SPANS]);
    }

    #[test]
    fn increment_carries_and_wraps() {
        assert_eq!(increment([0, 0, 0, 0, 0, 0, 0, 0xff]), [0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(increment([0xff; 8]), EMPTY);
    }
}
