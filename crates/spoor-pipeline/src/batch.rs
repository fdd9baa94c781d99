//! [`TraceBatch`]: the unit that flows between stages.

use crate::otlp::{ExportTraceServiceRequest, ResourceSpans};

/// Spans grouped by resource and scope, as OTLP sends them, with the span count cached
/// because every stage needs it for metrics and limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceBatch {
    resource_spans: Vec<ResourceSpans>,
    span_count: usize,
}

impl TraceBatch {
    pub fn new(resource_spans: Vec<ResourceSpans>) -> Self {
        let span_count = count_spans(&resource_spans);
        Self { resource_spans, span_count }
    }

    pub fn span_count(&self) -> usize {
        self.span_count
    }

    pub fn is_empty(&self) -> bool {
        self.span_count == 0
    }

    pub fn resource_spans(&self) -> &[ResourceSpans] {
        &self.resource_spans
    }

    pub fn into_resource_spans(self) -> Vec<ResourceSpans> {
        self.resource_spans
    }

    pub fn to_request(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest { resource_spans: self.resource_spans.clone() }
    }

    /// The batch as an encoded `ExportTraceServiceRequest`, written straight from the batch:
    /// building the request first would deep-copy every span only to drop the copy.
    pub fn encode_request(&self) -> Vec<u8> {
        // Field 1 of ExportTraceServiceRequest: repeated ResourceSpans.
        const RESOURCE_SPANS: u32 = 1;
        let len = self.resource_spans.iter().map(|r| prost::encoding::message::encoded_len(RESOURCE_SPANS, r)).sum();
        let mut out = Vec::with_capacity(len);
        for resource in &self.resource_spans {
            prost::encoding::message::encode(RESOURCE_SPANS, resource, &mut out);
        }
        out
    }

    /// Appends `other`, keeping its resource groups as they are.
    pub fn append(&mut self, other: TraceBatch) {
        self.span_count += other.span_count;
        self.resource_spans.extend(other.resource_spans);
    }

    /// Splits off the first `max_spans` spans into a batch of their own, cutting inside a
    /// resource or scope group when needed; `self` keeps the rest.
    pub fn split_front(&mut self, max_spans: usize) -> TraceBatch {
        if max_spans >= self.span_count {
            return std::mem::take(self);
        }
        let mut front = Vec::new();
        let mut taken = 0;
        while taken < max_spans {
            let Some(resource) = self.resource_spans.first_mut() else {
                break;
            };
            let resource_count: usize = resource.scope_spans.iter().map(|s| s.spans.len()).sum();
            if taken + resource_count <= max_spans {
                taken += resource_count;
                front.push(self.resource_spans.remove(0));
                continue;
            }
            let mut part = ResourceSpans {
                resource: resource.resource.clone(),
                scope_spans: Vec::new(),
                schema_url: resource.schema_url.clone(),
            };
            while taken < max_spans {
                let Some(scope) = resource.scope_spans.first_mut() else {
                    break;
                };
                let room = max_spans - taken;
                if scope.spans.len() <= room {
                    taken += scope.spans.len();
                    part.scope_spans.push(resource.scope_spans.remove(0));
                } else {
                    let mut scope_part = scope.clone();
                    scope_part.spans = scope.spans.drain(..room).collect();
                    taken += room;
                    part.scope_spans.push(scope_part);
                }
            }
            front.push(part);
        }
        self.span_count -= taken;
        TraceBatch { resource_spans: front, span_count: taken }
    }
}

impl From<ExportTraceServiceRequest> for TraceBatch {
    fn from(request: ExportTraceServiceRequest) -> Self {
        Self::new(request.resource_spans)
    }
}

fn count_spans(resource_spans: &[ResourceSpans]) -> usize {
    resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::otlp::{ScopeSpans, Span};

    /// A batch of `resources` resources with `spans_each` spans named `s<resource>-<i>`.
    pub fn sample_batch(resources: usize, spans_each: usize) -> TraceBatch {
        let resource_spans = (0..resources)
            .map(|r| ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (0..spans_each).map(|i| Span { name: format!("s{r}-{i}"), ..Default::default() }).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        TraceBatch::new(resource_spans)
    }

    fn names(batch: &TraceBatch) -> Vec<String> {
        batch
            .resource_spans()
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }

    #[test]
    fn split_front_cuts_inside_groups_and_keeps_order() {
        let mut batch = sample_batch(3, 4);
        let all = names(&batch);
        let front = batch.split_front(5);
        assert_eq!(front.span_count(), 5);
        assert_eq!(batch.span_count(), 7);
        let mut rejoined = names(&front);
        rejoined.extend(names(&batch));
        assert_eq!(rejoined, all);
    }

    #[test]
    fn encode_request_matches_the_request_encoding() {
        use prost::Message;
        let batch = sample_batch(3, 4);
        assert_eq!(batch.encode_request(), batch.to_request().encode_to_vec());
        assert!(TraceBatch::default().encode_request().is_empty());
    }

    #[test]
    fn split_front_takes_everything_when_small() {
        let mut batch = sample_batch(1, 3);
        let front = batch.split_front(10);
        assert_eq!(front.span_count(), 3);
        assert!(batch.is_empty());
    }
}
