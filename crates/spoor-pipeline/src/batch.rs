//! [`TraceBatch`]: the unit that flows between stages.
//!
//! A batch is held in one of two forms. Receivers of other formats build it from decoded
//! `ResourceSpans`. The OTLP receiver keeps what it received instead: each `ResourceSpans`
//! field of the request as a slice of the request body, checked by [`crate::wire`] the way
//! prost would decode it, so a pass-through pipeline (receiver, batch, OTLP exporter) never
//! decodes a span nor frees one. The decoded structs are made on the first call to
//! [`TraceBatch::resource_spans`] and kept; [`TraceBatch::encode_request`] of an encoded batch
//! only copies bytes. Unknown fields of a kept `ResourceSpans` are forwarded as received, as
//! the collector's Go protobuf runtime forwards them.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::metadata::ClientMetadata;
use crate::otlp::{ExportTraceServiceRequest, ResourceSpans, ScopeSpans};
use crate::wire::{self, Scan, WireError};

/// Field 1 of ExportTraceServiceRequest: repeated ResourceSpans.
const RESOURCE_SPANS: u32 = 1;

/// Spans grouped by resource and scope, as OTLP sends them, with the span count cached
/// because every stage needs it for metrics and limits.
#[derive(Debug, Clone, Default)]
pub struct TraceBatch {
    form: Form,
    span_count: usize,
    /// The request's metadata, when the receiver includes it; see [`ClientMetadata`].
    metadata: ClientMetadata,
}

#[derive(Debug, Clone)]
enum Form {
    Decoded(Vec<ResourceSpans>),
    Encoded {
        parts: Vec<EncodedResource>,
        /// The decoded parts, made when someone looks inside.
        decoded: OnceLock<Vec<ResourceSpans>>,
    },
}

impl Default for Form {
    fn default() -> Self {
        Self::Decoded(Vec::new())
    }
}

/// One encoded `ResourceSpans` message (without its field key and length) and its span count.
#[derive(Debug, Clone)]
struct EncodedResource {
    bytes: Bytes,
    spans: usize,
}

impl EncodedResource {
    fn encode(resource: &ResourceSpans) -> Self {
        Self { bytes: Bytes::from(resource.encode_to_vec()), spans: spans_of(resource) }
    }

    fn decode(&self) -> Result<ResourceSpans, prost::DecodeError> {
        ResourceSpans::decode(&self.bytes[..])
    }

    fn field_len(&self) -> usize {
        key_len(RESOURCE_SPANS) + encoded_len_varint(self.bytes.len() as u64) + self.bytes.len()
    }
}

impl TraceBatch {
    pub fn new(resource_spans: Vec<ResourceSpans>) -> Self {
        let span_count = resource_spans.iter().map(spans_of).sum();
        Self { form: Form::Decoded(resource_spans), span_count, metadata: ClientMetadata::default() }
    }

    /// Checks an encoded `ExportTraceServiceRequest` exactly as prost would decode it, and
    /// keeps its `ResourceSpans` as slices of `body`, without decoding them. The scan also
    /// counts the spans whose IDs are invalid; the batch holds them too, so a receiver that
    /// rejects such spans must decode them away (they are rare).
    pub fn from_encoded_request(body: &Bytes) -> Result<(Self, Scan), WireError> {
        let mut parts = Vec::new();
        let scan = wire::scan_request(body, |range: Range<usize>, spans| {
            parts.push(EncodedResource { bytes: body.slice(range), spans });
        })?;
        let batch = Self {
            form: Form::Encoded { parts, decoded: OnceLock::new() },
            span_count: scan.spans,
            metadata: ClientMetadata::default(),
        };
        Ok((batch, scan))
    }

    /// The batch with the request's metadata.
    pub fn with_metadata(mut self, metadata: ClientMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The metadata of the request(s) the spans came in; empty unless the receiver includes
    /// it. [`TraceBatch::append`] keeps the first batch's: only batches with the same metadata
    /// should be merged, which the batch processor ensures with `metadata_keys`.
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    pub fn set_metadata(&mut self, metadata: ClientMetadata) {
        self.metadata = metadata;
    }

    pub fn span_count(&self) -> usize {
        self.span_count
    }

    pub fn is_empty(&self) -> bool {
        self.span_count == 0
    }

    /// Whether the batch holds received bytes rather than decoded structs.
    pub fn is_encoded(&self) -> bool {
        matches!(self.form, Form::Encoded { .. })
    }

    /// The spans, decoded on the first call for an encoded batch.
    pub fn resource_spans(&self) -> &[ResourceSpans] {
        match &self.form {
            Form::Decoded(resource_spans) => resource_spans,
            Form::Encoded { parts, decoded } => decoded.get_or_init(|| decode_parts(parts)),
        }
    }

    pub fn into_resource_spans(self) -> Vec<ResourceSpans> {
        match self.form {
            Form::Decoded(resource_spans) => resource_spans,
            Form::Encoded { parts, decoded } => decoded.into_inner().unwrap_or_else(|| decode_parts(&parts)),
        }
    }

    pub fn to_request(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest { resource_spans: self.resource_spans().to_vec() }
    }

    /// The batch as an encoded `ExportTraceServiceRequest`, written straight from the batch:
    /// building the request first would deep-copy every span only to drop the copy. An
    /// encoded batch is only copied.
    pub fn encode_request(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_request_len());
        self.encode_request_to(&mut out);
        out
    }

    /// The length of [`Self::encode_request`]'s result.
    pub fn encoded_request_len(&self) -> usize {
        match &self.form {
            Form::Decoded(resources) => {
                resources.iter().map(|r| prost::encoding::message::encoded_len(RESOURCE_SPANS, r)).sum()
            }
            Form::Encoded { parts, .. } => parts.iter().map(EncodedResource::field_len).sum(),
        }
    }

    /// Writes [`Self::encode_request`]'s bytes into `out`.
    pub fn encode_request_to(&self, out: &mut impl bytes::BufMut) {
        match &self.form {
            Form::Decoded(resources) => {
                for resource in resources {
                    prost::encoding::message::encode(RESOURCE_SPANS, resource, out);
                }
            }
            Form::Encoded { parts, .. } => {
                for part in parts {
                    encode_key(RESOURCE_SPANS, WireType::LengthDelimited, out);
                    encode_varint(part.bytes.len() as u64, out);
                    out.put_slice(&part.bytes);
                }
            }
        }
    }

    /// The batch as an encoded request that shares the batch's bytes: cheap to make from an
    /// encoded batch (no copy, whatever has been decoded), and owned, for a transport that
    /// needs `'static` data. A decoded batch is encoded here.
    pub fn encoded_request(&self) -> EncodedRequest {
        match &self.form {
            Form::Decoded(_) => EncodedRequest::Whole(Bytes::from(self.encode_request())),
            Form::Encoded { parts, .. } => {
                EncodedRequest::Resources(parts.iter().map(|part| part.bytes.clone()).collect())
            }
        }
    }

    fn has_resources(&self) -> bool {
        match &self.form {
            Form::Decoded(resources) => !resources.is_empty(),
            Form::Encoded { parts, .. } => !parts.is_empty(),
        }
    }

    /// Appends `other`, keeping its resource groups as they are. The batch keeps its form (an
    /// empty one takes `other`'s): a decoded `other` is encoded into an encoded batch, an
    /// encoded one decoded into a decoded batch.
    pub fn append(&mut self, other: TraceBatch) {
        if !self.has_resources() {
            *self = other;
            return;
        }
        if !other.has_resources() {
            return;
        }
        self.span_count += other.span_count;
        match (&mut self.form, other.form) {
            (Form::Decoded(mine), form) => {
                mine.extend(
                    TraceBatch { form, span_count: other.span_count, metadata: other.metadata }.into_resource_spans(),
                );
            }
            (Form::Encoded { parts, decoded }, Form::Encoded { parts: theirs, decoded: their_decoded }) => {
                parts.extend(theirs);
                // Keep what was decoded only when both sides were.
                match (decoded.get_mut(), their_decoded.into_inner()) {
                    (Some(mine), Some(theirs)) => mine.extend(theirs),
                    _ => *decoded = OnceLock::new(),
                }
            }
            (Form::Encoded { parts, decoded }, Form::Decoded(theirs)) => {
                parts.extend(theirs.iter().map(EncodedResource::encode));
                if let Some(mine) = decoded.get_mut() {
                    mine.extend(theirs);
                }
            }
        }
    }

    /// Splits off the first `max_spans` spans into a batch of their own, cutting inside a
    /// resource or scope group when needed; `self` keeps the rest. An encoded batch is cut
    /// between its `ResourceSpans` while it can; only a group that must be cut is decoded
    /// (and its two halves encoded again).
    pub fn split_front(&mut self, max_spans: usize) -> TraceBatch {
        if max_spans >= self.span_count {
            return std::mem::take(self);
        }
        let (form, taken) = match &mut self.form {
            Form::Decoded(resources) => {
                let (front, taken) = split_decoded(resources, max_spans);
                (Form::Decoded(front), taken)
            }
            Form::Encoded { parts, decoded } => {
                *decoded = OnceLock::new();
                let (front, taken) = split_encoded(parts, max_spans);
                (Form::Encoded { parts: front, decoded: OnceLock::new() }, taken)
            }
        };
        self.span_count -= taken;
        TraceBatch { form, span_count: taken, metadata: self.metadata.clone() }
    }
}

/// An encoded `ExportTraceServiceRequest`, from [`TraceBatch::encoded_request`].
#[derive(Debug, Clone)]
pub enum EncodedRequest {
    /// The whole request.
    Whole(Bytes),
    /// Its `ResourceSpans` messages, each without field key and length.
    Resources(Vec<Bytes>),
}

impl EncodedRequest {
    pub fn len(&self) -> usize {
        match self {
            Self::Whole(body) => body.len(),
            Self::Resources(resources) => {
                resources.iter().map(|r| key_len(RESOURCE_SPANS) + encoded_len_varint(r.len() as u64) + r.len()).sum()
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the request's bytes.
    pub fn write_to(&self, out: &mut impl bytes::BufMut) {
        match self {
            Self::Whole(body) => out.put_slice(body),
            Self::Resources(resources) => {
                for resource in resources {
                    encode_key(RESOURCE_SPANS, WireType::LengthDelimited, out);
                    encode_varint(resource.len() as u64, out);
                    out.put_slice(resource);
                }
            }
        }
    }
}

impl PartialEq for TraceBatch {
    /// Equal when they hold the same spans, whatever their forms.
    fn eq(&self, other: &Self) -> bool {
        self.span_count == other.span_count && self.resource_spans() == other.resource_spans()
    }
}

impl From<ExportTraceServiceRequest> for TraceBatch {
    fn from(request: ExportTraceServiceRequest) -> Self {
        Self::new(request.resource_spans)
    }
}

fn spans_of(resource: &ResourceSpans) -> usize {
    resource.scope_spans.iter().map(|s| s.spans.len()).sum()
}

/// Decodes kept parts. They were checked when received, so this does not fail; a part that
/// did would be left out (and logged) rather than take the process down.
fn decode_parts(parts: &[EncodedResource]) -> Vec<ResourceSpans> {
    parts
        .iter()
        .filter_map(|part| match part.decode() {
            Ok(resource) => Some(resource),
            Err(err) => {
                tracing::error!(error = %err, spans = part.spans, "a checked ResourceSpans did not decode");
                None
            }
        })
        .collect()
}

/// Moves whole parts to the front while they fit, then cuts the next one.
fn split_encoded(parts: &mut Vec<EncodedResource>, max_spans: usize) -> (Vec<EncodedResource>, usize) {
    let mut taken = 0;
    let whole = parts.iter().take_while(|part| {
        let fits = taken + part.spans <= max_spans;
        if fits {
            taken += part.spans;
        }
        fits
    });
    let whole = whole.count();
    let mut front: Vec<EncodedResource> = parts.drain(..whole).collect();
    if taken < max_spans
        && let Some(part) = parts.first_mut()
    {
        match part.decode() {
            Ok(resource) => {
                let mut rest = vec![resource];
                let (head, head_spans) = split_decoded(&mut rest, max_spans - taken);
                front.extend(head.iter().map(EncodedResource::encode));
                taken += head_spans;
                *part = rest
                    .first()
                    .map(EncodedResource::encode)
                    .unwrap_or(EncodedResource { bytes: Bytes::new(), spans: 0 });
            }
            Err(err) => {
                // Cannot happen for a checked part; sending it whole only makes a batch larger.
                tracing::error!(error = %err, "a checked ResourceSpans did not decode; not split");
                taken += part.spans;
                front.push(parts.remove(0));
            }
        }
    }
    (front, taken)
}

/// Splits off the first `max_spans` spans of `resources`, cutting inside a resource or scope
/// group when needed; returns them and their count.
fn split_decoded(resources: &mut Vec<ResourceSpans>, max_spans: usize) -> (Vec<ResourceSpans>, usize) {
    let mut front = Vec::new();
    let mut taken = 0;
    while taken < max_spans {
        let Some(resource) = resources.first_mut() else {
            break;
        };
        let resource_count = spans_of(resource);
        if taken + resource_count <= max_spans {
            taken += resource_count;
            front.push(resources.remove(0));
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
                let scope_part = ScopeSpans {
                    scope: scope.scope.clone(),
                    spans: scope.spans.drain(..room).collect(),
                    schema_url: scope.schema_url.clone(),
                };
                taken += room;
                part.scope_spans.push(scope_part);
            }
        }
        front.push(part);
    }
    (front, taken)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::otlp::Span;

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

    /// `sample_batch` as the OTLP receiver would hold it.
    fn encoded(batch: &TraceBatch) -> TraceBatch {
        let (encoded, scan) = TraceBatch::from_encoded_request(&Bytes::from(batch.encode_request())).unwrap();
        assert!(encoded.is_encoded());
        assert_eq!(scan.spans, batch.span_count());
        encoded
    }

    #[test]
    fn encoded_batch_decodes_on_demand_and_encodes_by_copying() {
        let batch = sample_batch(3, 4);
        let request = batch.encode_request();
        let kept = encoded(&batch);
        assert_eq!(kept.span_count(), 12);
        assert_eq!(kept.encode_request(), request);
        assert_eq!(kept.encoded_request_len(), request.len());
        for form in [&kept, &batch] {
            let shared = form.encoded_request();
            let mut written = Vec::new();
            shared.write_to(&mut written);
            assert_eq!((written.len(), shared.len()), (request.len(), request.len()));
            assert_eq!(written, request);
        }
        assert_eq!(kept, batch);
        assert_eq!(kept.clone().into_resource_spans(), batch.resource_spans());
        assert_eq!(names(&kept), names(&batch));
    }

    #[test]
    fn encoded_split_cuts_between_resources_and_inside_one() {
        let batch = sample_batch(3, 4);
        let all = names(&batch);
        for cut in 1..12 {
            let mut rest = encoded(&batch);
            let front = rest.split_front(cut);
            assert!(front.is_encoded() && rest.is_encoded());
            assert_eq!((front.span_count(), rest.span_count()), (cut, 12 - cut));
            let mut rejoined = names(&front);
            rejoined.extend(names(&rest));
            assert_eq!(rejoined, all, "cut at {cut}");
            // What is sent is what the counts say.
            let sent = ExportTraceServiceRequest::decode(&front.encode_request()[..]).unwrap();
            assert_eq!(TraceBatch::from(sent).span_count(), cut);
        }
    }

    #[test]
    fn append_keeps_the_form_of_the_batch_appended_to() {
        let (a, b) = (sample_batch(1, 2), sample_batch(2, 3));
        let mut kept = TraceBatch::default();
        kept.append(encoded(&a));
        kept.append(b.clone());
        kept.append(encoded(&b));
        assert!(kept.is_encoded());
        assert_eq!(kept.span_count(), 14);
        let mut decoded = a.clone();
        decoded.append(encoded(&b));
        decoded.append(b.clone());
        assert!(!decoded.is_encoded());
        assert_eq!(names(&kept), names(&decoded));
        let request = ExportTraceServiceRequest::decode(&kept.encode_request()[..]).unwrap();
        assert_eq!(TraceBatch::from(request), decoded);
    }

    #[test]
    fn bad_bytes_are_refused() {
        assert!(TraceBatch::from_encoded_request(&Bytes::from_static(b"\x0a\x05\x12")).is_err());
    }

    #[test]
    fn split_front_takes_everything_when_small() {
        let mut batch = sample_batch(1, 3);
        let front = batch.split_front(10);
        assert_eq!(front.span_count(), 3);
        assert!(batch.is_empty());
    }
}
