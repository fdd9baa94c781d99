//! tonic codecs that move pre-encoded bytes instead of prost messages.
//!
//! The generator sends bodies it encoded once at start (OTLP or Jaeger api_v2), so its encoder
//! copies bytes into the frame. The sink only counts spans, so its decoder walks the frame in place.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::wire;

/// gRPC path of the OTLP trace export method.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// gRPC frame header: compression flag and 4-byte length.
const HEADER_SIZE: usize = 5;
/// tonic's defaults, which `BufferSettings` does not expose.
const DEFAULT_BUFFER_SIZE: usize = 8 * 1024;
const YIELD_THRESHOLD: usize = 32 * 1024;

/// gRPC path of Jaeger's api_v2 `CollectorService/PostSpans`.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// Client side: sends already-encoded request bytes (an OTLP `ExportTraceServiceRequest` or a
/// Jaeger `PostSpansRequest`) and decodes the response `R`.
#[derive(Debug)]
pub struct RawRequestCodec<R = ExportTraceServiceResponse> {
    /// Size of the largest body, so the frame buffer is allocated once at the right size.
    pub max_body_len: usize,
    response: PhantomData<fn() -> R>,
}

impl<R> RawRequestCodec<R> {
    pub fn new(max_body_len: usize) -> Self {
        Self { max_body_len, response: PhantomData }
    }
}

impl<R> Clone for RawRequestCodec<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for RawRequestCodec<R> {}

impl<R: Message + Default + Send + 'static> Codec for RawRequestCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = BytesEncoder;
    type Decoder = ProstDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder { buffer_size: self.max_body_len + HEADER_SIZE }
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

#[derive(Debug)]
pub struct BytesEncoder {
    buffer_size: usize,
}

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(self.buffer_size.max(DEFAULT_BUFFER_SIZE), YIELD_THRESHOLD)
    }
}

#[derive(Debug)]
pub struct ProstDecoder<M>(PhantomData<M>);

impl<M: Message + Default> Decoder for ProstDecoder<M> {
    type Item = M;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<M>, Status> {
        M::decode(src).map(Some).map_err(|e| Status::internal(format!("cannot decode response: {e}")))
    }
}

/// Number of spans in one received request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanCount(pub u64);

/// Server side: counts the spans of each request and answers with an empty response.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanCountingCodec {
    /// Decode every span with prost instead of only walking the framing.
    pub full_decode: bool,
}

impl Codec for SpanCountingCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = SpanCount;
    type Encoder = ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = SpanCountDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        SpanCountDecoder { full_decode: self.full_decode }
    }
}

#[derive(Debug)]
pub struct ProstEncoder<M>(PhantomData<M>);

impl<M: Message> Encoder for ProstEncoder<M> {
    type Item = M;
    type Error = Status;

    fn encode(&mut self, item: M, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst).map_err(|e| Status::internal(format!("cannot encode response: {e}")))
    }
}

#[derive(Debug)]
pub struct SpanCountDecoder {
    full_decode: bool,
}

impl Decoder for SpanCountDecoder {
    type Item = SpanCount;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<SpanCount>, Status> {
        let len = src.remaining();
        // The frame is one contiguous buffer in tonic; copy only if that ever changes.
        let count = if src.chunk().len() == len {
            let count = count_spans(src.chunk(), self.full_decode);
            src.advance(len);
            count
        } else {
            count_spans(&src.copy_to_bytes(len), self.full_decode)
        };
        count.map(|n| Some(SpanCount(n))).map_err(Status::invalid_argument)
    }
}

/// Counts the spans of an encoded request, either by walking the framing or by decoding it.
pub fn count_spans(body: &[u8], full_decode: bool) -> Result<u64, String> {
    if full_decode {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        let request = ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())?;
        Ok(request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len() as u64).sum())
    } else {
        wire::count_spans(body).map_err(|e| e.to_string())
    }
}
