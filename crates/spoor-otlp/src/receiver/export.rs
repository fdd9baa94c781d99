//! What both transports do with a request: keep a protobuf body as received when it is valid
//! (see `spoor_pipeline::wire`), else drop spans whose IDs cannot be valid, hand the rest to
//! the pipeline, and say what was rejected.

use bytes::Bytes;
use prost::Message;
use spoor_pipeline::otlp::{ExportTracePartialSuccess, ExportTraceServiceRequest, ResourceSpans};
use spoor_pipeline::{ClientMetadata, ConsumeError, ReceiverObserver, TraceBatch, TracesConsumer};

/// A request body as the receiver takes it in.
pub(crate) enum Received {
    /// Valid, every span's IDs too: kept as received, not decoded.
    Kept(TraceBatch),
    /// Decoded, for the ID check to drop spans (or from JSON).
    Decoded(ExportTraceServiceRequest),
}

/// Takes in a protobuf `ExportTraceServiceRequest`: refuses exactly what prost refuses, with
/// prost's message, and keeps the body undecoded unless some span has invalid IDs (they are
/// rare; decoding is the simple way to drop them and say which).
pub(crate) fn receive_protobuf(body: Bytes) -> Result<Received, prost::DecodeError> {
    if let Ok((batch, scan)) = TraceBatch::from_encoded_request(&body)
        && scan.invalid_id_spans == 0
    {
        return Ok(Received::Kept(batch));
    }
    // prost has the last word, and the words for the client.
    ExportTraceServiceRequest::decode(body).map(Received::Decoded)
}

/// Delivers what [`receive_protobuf`] (or the JSON decoder) made of a request, with the
/// request's metadata (empty unless the listener includes it).
pub(crate) async fn export_received(
    observer: &ReceiverObserver,
    next: &dyn TracesConsumer,
    received: Received,
    metadata: ClientMetadata,
) -> Result<Option<ExportTracePartialSuccess>, ConsumeError> {
    match received {
        Received::Kept(batch) => {
            observer.deliver(next, batch.with_metadata(metadata)).await?;
            Ok(None)
        }
        Received::Decoded(request) => export(observer, next, request, metadata).await,
    }
}

/// Delivers the request's valid spans. `Ok(Some(..))` is a partial success: the valid spans
/// were accepted and the rest are reported back, never retried.
pub(crate) async fn export(
    observer: &ReceiverObserver,
    next: &dyn TracesConsumer,
    request: ExportTraceServiceRequest,
    metadata: ClientMetadata,
) -> Result<Option<ExportTracePartialSuccess>, ConsumeError> {
    let mut resource_spans = request.resource_spans;
    let rejected = reject_invalid_spans(&mut resource_spans);
    if let Some(partial) = &rejected {
        observer.refused(u64::try_from(partial.rejected_spans).unwrap_or(0));
    }
    observer.deliver(next, TraceBatch::new(resource_spans).with_metadata(metadata)).await?;
    Ok(rejected)
}

/// Removes spans with a trace ID that is not 16 bytes, a span ID that is not 8 bytes, or a
/// parent span ID that is neither empty nor 8 bytes: the OTLP spec calls such IDs invalid,
/// and no store can index them.
pub(crate) fn reject_invalid_spans(resource_spans: &mut [ResourceSpans]) -> Option<ExportTracePartialSuccess> {
    let mut rejected: i64 = 0;
    let mut first_problem = None;
    for scope in resource_spans.iter_mut().flat_map(|r| r.scope_spans.iter_mut()) {
        scope.spans.retain(|span| {
            let problem = if span.trace_id.len() != 16 {
                Some(("trace_id", span.trace_id.len(), 16))
            } else if span.span_id.len() != 8 {
                Some(("span_id", span.span_id.len(), 8))
            } else if !matches!(span.parent_span_id.len(), 0 | 8) {
                Some(("parent_span_id", span.parent_span_id.len(), 8))
            } else {
                None
            };
            if let Some(problem) = problem {
                rejected += 1;
                first_problem.get_or_insert(problem);
            }
            problem.is_none()
        });
    }
    let (field, got, want) = first_problem?;
    Some(ExportTracePartialSuccess {
        rejected_spans: rejected,
        error_message: format!(
            "{rejected} span(s) rejected: invalid IDs (first: {field} is {got} bytes, expected {want})"
        ),
    })
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::otlp::{ScopeSpans, Span};

    use super::*;

    fn span(trace: usize, id: usize, parent: usize) -> Span {
        Span { trace_id: vec![1; trace], span_id: vec![2; id], parent_span_id: vec![3; parent], ..Default::default() }
    }

    #[test]
    fn keeps_valid_spans_and_counts_the_rest() {
        let mut resource_spans = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(16, 8, 0), span(15, 8, 0), span(16, 0, 0), span(16, 8, 8), span(16, 8, 4)],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let partial = reject_invalid_spans(&mut resource_spans).unwrap();
        assert_eq!(partial.rejected_spans, 3);
        assert!(partial.error_message.contains("trace_id is 15 bytes"), "{}", partial.error_message);
        assert_eq!(resource_spans[0].scope_spans[0].spans.len(), 2);
    }

    #[test]
    fn valid_bodies_are_kept_and_others_decoded() {
        let request = |spans: Vec<Span>| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        };
        let valid = Bytes::from(request(vec![span(16, 8, 0), span(16, 8, 8)]).encode_to_vec());
        assert!(matches!(receive_protobuf(valid), Ok(Received::Kept(batch)) if batch.span_count() == 2));
        let invalid = Bytes::from(request(vec![span(16, 8, 0), span(16, 7, 0)]).encode_to_vec());
        assert!(matches!(receive_protobuf(invalid), Ok(Received::Decoded(_))));
        let err = receive_protobuf(Bytes::from_static(b"\x0a\x05\x12")).err().unwrap();
        assert_eq!(err, ExportTraceServiceRequest::decode(&b"\x0a\x05\x12"[..]).unwrap_err());
    }

    #[test]
    fn all_valid_is_not_partial() {
        let mut resource_spans = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span(16, 8, 0)], ..Default::default() }],
            ..Default::default()
        }];
        assert!(reject_invalid_spans(&mut resource_spans).is_none());
    }
}
