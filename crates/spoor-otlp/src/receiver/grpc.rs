//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on tonic.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use prost::Message;
use spoor_pipeline::otlp::ExportTraceServiceResponse;
use spoor_pipeline::{ClientMetadata, ConsumeError, ReceiverObserver, TracesConsumer};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::server::{NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use spoor_net::{GrpcServerSettings, RequestBody, RequestMetadata};

use super::export::{export_received, receive_protobuf};

const GRPC_STATUS: &str = "grpc-status";
const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";
const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct GrpcTraceService {
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
}

impl GrpcTraceService {
    /// One `Export` call, given the request message's bytes (decompressed, size-checked).
    async fn export(
        &self,
        body: Bytes,
        metadata: ClientMetadata,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        // Undecodable is bad data the sender must not retry: `InvalidArgument`, as the OTLP
        // spec asks of bad data (tonic's prost codec and gRPC-Go would say `Internal`).
        let received = receive_protobuf(body).map_err(|err| Status::invalid_argument(err.to_string()))?;
        let partial_success =
            export_received(&self.observer, self.next.as_ref(), received, metadata).await.map_err(status_of)?;
        Ok(Response::new(ExportTraceServiceResponse { partial_success }))
    }
}

/// The `TraceService` server, as tonic would generate it, except that the request message
/// reaches the service as bytes (see [`RawRequestCodec`]), so that it can be kept undecoded.
#[derive(Clone)]
struct TraceServiceServer {
    service: Arc<GrpcTraceService>,
    max_decoding_message_size: usize,
}

impl NamedService for TraceServiceServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower::Service<http::Request<B>> for TraceServiceServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let method = ExportMethod(self.service.clone());
        let max_decoding_message_size = self.max_decoding_message_size;
        Box::pin(async move {
            let mut encodings = EnabledCompressionEncodings::default();
            encodings.enable(CompressionEncoding::Gzip);
            encodings.enable(CompressionEncoding::Zstd);
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec)
                .apply_compression_config(encodings, encodings)
                .apply_max_message_size_config(Some(max_decoding_message_size), None);
            Ok(grpc.unary(method, request).await)
        })
    }
}

struct ExportMethod(Arc<GrpcTraceService>);

impl UnaryService<Bytes> for ExportMethod {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<'static, Result<Response<ExportTraceServiceResponse>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let service = self.0.clone();
        // The kit puts the headers there only when the listener has `include_metadata`.
        let metadata =
            request.extensions().get::<RequestMetadata>().map(ClientMetadata::from_request).unwrap_or_default();
        Box::pin(async move { service.export(request.into_inner(), metadata).await })
    }
}

/// Hands the service the request message as bytes, sliced out of tonic's buffer without a
/// copy, and encodes the response with prost.
#[derive(Debug, Clone, Copy, Default)]
struct RawRequestCodec;

impl Codec for RawRequestCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Decoder for RawRequestCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

impl Encoder for RawRequestCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: ExportTraceServiceResponse, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf).map_err(|err| Status::internal(err.to_string()))
    }
}

/// Retryable refusals are `Unavailable` (with `RetryInfo` when the pipeline named a delay),
/// bad data is `InvalidArgument`, as the collector maps them.
pub(crate) fn status_of(err: ConsumeError) -> Status {
    match err {
        ConsumeError::Refused { reason, retry_after: Some(delay) } => {
            Status::with_error_details(Code::Unavailable, reason, ErrorDetails::with_retry_info(Some(delay)))
        }
        ConsumeError::Refused { reason, .. } => Status::unavailable(reason),
        ConsumeError::Permanent(message) => Status::invalid_argument(message),
    }
}

/// Refuses calls before their message is read and decoded when the pipeline would refuse
/// them anyway, so a memory-limited pipeline does not pay for decoding; and reports
/// too-large messages as `ResourceExhausted`, as gRPC-Go (and so the collector) does, where
/// tonic says `OutOfRange`, which OTLP clients would retry.
#[derive(Clone)]
struct Admission<S> {
    inner: S,
    next: Arc<dyn TracesConsumer>,
}

impl<S, ReqBody> tower::Service<http::Request<ReqBody>> for Admission<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if let Err(err) = self.next.check_admission() {
            let response = status_of(err).into_http();
            return Box::pin(async move { Ok(response) });
        }
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            let headers = response.headers_mut();
            // This service never fails with OutOfRange itself; only tonic's size check does.
            if headers.get(GRPC_STATUS).is_some_and(|code| code == OUT_OF_RANGE) {
                headers.insert(GRPC_STATUS, http::HeaderValue::from_static(RESOURCE_EXHAUSTED));
            }
            Ok(response)
        })
    }
}

/// The `TraceService` with admission control, for the server kit to serve.
pub(crate) fn service(
    settings: &GrpcServerSettings,
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
) -> impl tower::Service<
    http::Request<RequestBody>,
    Response = http::Response<tonic::body::Body>,
    Error = Infallible,
    Future = BoxFuture<'static, Result<http::Response<tonic::body::Body>, Infallible>>,
> + Clone
+ Send
+ Sync
+ 'static {
    let service = TraceServiceServer {
        service: Arc::new(GrpcTraceService { next: next.clone(), observer }),
        max_decoding_message_size: settings.max_recv_msg_size(),
    };
    Admission { inner: service, next }
}
