//! Spans as the backends hold them: each span with the resource and scope it arrived with,
//! shared between spans so that a resource is kept (and encoded) once.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use spoor_pipeline::otlp::{ResourceSpans, ScopeSpans, Span};

use crate::{Trace, TraceId};

/// An OTLP ID as a [`TraceId`]: 16 bytes as they are, shorter ones left-padded with zeros
/// (as Jaeger's 64-bit IDs widen), longer ones keep their low 16 bytes.
pub(crate) fn trace_id_of(bytes: &[u8]) -> TraceId {
    let mut id = [0u8; 16];
    let take = bytes.len().min(16);
    id[16 - take..].copy_from_slice(&bytes[bytes.len() - take..]);
    id
}

/// A resource with its schema URL: a `ResourceSpans` without scopes.
#[derive(Debug)]
pub(crate) struct ResourcePart {
    pub proto: ResourceSpans,
    pub encoded: Vec<u8>,
}

impl ResourcePart {
    #[cfg(test)]
    pub fn from_resource_spans(resource_spans: &ResourceSpans) -> Self {
        let proto = ResourceSpans {
            resource: resource_spans.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: resource_spans.schema_url.clone(),
        };
        Self::from_proto(proto)
    }

    pub fn from_proto(proto: ResourceSpans) -> Self {
        let encoded = proto.encode_to_vec();
        Self { proto, encoded }
    }
}

/// A scope with its schema URL: a `ScopeSpans` without spans.
#[derive(Debug)]
pub(crate) struct ScopePart {
    pub proto: ScopeSpans,
    pub encoded: Vec<u8>,
}

impl ScopePart {
    #[cfg(test)]
    pub fn from_scope_spans(scope_spans: &ScopeSpans) -> Self {
        let proto = ScopeSpans {
            scope: scope_spans.scope.clone(),
            spans: Vec::new(),
            schema_url: scope_spans.schema_url.clone(),
        };
        Self::from_proto(proto)
    }

    pub fn from_proto(proto: ScopeSpans) -> Self {
        let encoded = proto.encode_to_vec();
        Self { proto, encoded }
    }
}

/// One span with its resource and scope.
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    pub resource: Arc<ResourcePart>,
    pub scope: Arc<ScopePart>,
    pub span: Span,
}

/// Shares equal resources and scopes (by their encoding) between spans.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    resources: HashMap<Vec<u8>, Arc<ResourcePart>>,
    scopes: HashMap<Vec<u8>, Arc<ScopePart>>,
}

impl Interner {
    pub fn resource(&mut self, part: ResourcePart) -> Arc<ResourcePart> {
        self.resources.entry(part.encoded.clone()).or_insert_with(|| Arc::new(part)).clone()
    }

    pub fn scope(&mut self, part: ScopePart) -> Arc<ScopePart> {
        self.scopes.entry(part.encoded.clone()).or_insert_with(|| Arc::new(part)).clone()
    }

    /// Flattens OTLP resource spans into records: what the head held before it kept bytes,
    /// and what tests compare the head with.
    #[cfg(test)]
    pub fn records(&mut self, resource_spans: &[ResourceSpans]) -> Vec<SpanRecord> {
        let mut records = Vec::new();
        for rs in resource_spans {
            let resource = self.resource(ResourcePart::from_resource_spans(rs));
            for ss in &rs.scope_spans {
                let scope = self.scope(ScopePart::from_scope_spans(ss));
                records.extend(ss.spans.iter().map(|span| SpanRecord {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    span: span.clone(),
                }));
            }
        }
        records
    }
}

/// Drops exact copies of a span (the same span read from the head and a block, or written
/// twice), then orders spans by start time. Different spans that share a span ID stay.
pub(crate) fn dedupe_spans(records: &mut Vec<SpanRecord>) {
    records.sort_by(|a, b| {
        (&a.span.span_id, a.span.start_time_unix_nano).cmp(&(&b.span.span_id, b.span.start_time_unix_nano))
    });
    let mut kept: Vec<SpanRecord> = Vec::with_capacity(records.len());
    let mut group_start = 0;
    for record in records.drain(..) {
        if kept.get(group_start).is_none_or(|first| first.span.span_id != record.span.span_id) {
            group_start = kept.len();
        }
        let duplicate = kept[group_start..].iter().any(|k| {
            k.span == record.span
                && k.resource.encoded == record.resource.encoded
                && k.scope.encoded == record.scope.encoded
        });
        if !duplicate {
            kept.push(record);
        }
    }
    kept.sort_by_key(|r| r.span.start_time_unix_nano);
    *records = kept;
}

type ScopeGroup = (Arc<ScopePart>, Vec<Span>);

/// Groups records back into OTLP resource and scope groups, in order of first appearance.
pub(crate) fn assemble_trace(trace_id: TraceId, records: Vec<SpanRecord>) -> Trace {
    let mut groups: Vec<(Arc<ResourcePart>, Vec<ScopeGroup>)> = Vec::new();
    for record in records {
        let group = match groups.iter().position(|(r, _)| same_resource(r, &record.resource)) {
            Some(i) => &mut groups[i].1,
            None => {
                groups.push((record.resource.clone(), Vec::new()));
                let last = groups.len() - 1;
                &mut groups[last].1
            }
        };
        match group.iter_mut().find(|(s, _)| same_scope(s, &record.scope)) {
            Some((_, spans)) => spans.push(record.span),
            None => group.push((record.scope.clone(), vec![record.span])),
        }
    }
    let resource_spans = groups
        .into_iter()
        .map(|(resource, scopes)| ResourceSpans {
            resource: resource.proto.resource.clone(),
            schema_url: resource.proto.schema_url.clone(),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope: scope.proto.scope.clone(),
                    schema_url: scope.proto.schema_url.clone(),
                    spans,
                })
                .collect(),
        })
        .collect();
    Trace { trace_id, resource_spans }
}

fn same_resource(a: &Arc<ResourcePart>, b: &Arc<ResourcePart>) -> bool {
    Arc::ptr_eq(a, b) || a.encoded == b.encoded
}

fn same_scope(a: &Arc<ScopePart>, b: &Arc<ScopePart>) -> bool {
    Arc::ptr_eq(a, b) || a.encoded == b.encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_left_padded() {
        let id = trace_id_of(&[1, 2]);
        assert_eq!(id[14..], [1, 2]);
        assert_eq!(id[..14], [0; 14]);
        let long: Vec<u8> = (0..20).collect();
        assert_eq!(trace_id_of(&long)[0], 4);
    }
}
