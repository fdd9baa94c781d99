//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` on tonic.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use spoor_pipeline::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_pipeline::{ConsumeError, ReceiverObserver, TracesConsumer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::config::GrpcServerConfig;
use super::export::export;
use super::listen::tls_incoming;

const GRPC_STATUS: &str = "grpc-status";
const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";

struct GrpcTraceService {
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
}

#[tonic::async_trait]
impl TraceService for GrpcTraceService {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let partial_success =
            export(&self.observer, self.next.as_ref(), request.into_inner()).await.map_err(status_of)?;
        Ok(Response::new(ExportTraceServiceResponse { partial_success }))
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
struct AdmissionLayer {
    next: Arc<dyn TracesConsumer>,
}

impl<S> tower::Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission { inner, next: self.next.clone() }
    }
}

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

/// Serves until `shutdown` flips, then stops accepting and lets in-flight calls finish.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    config: &GrpcServerConfig,
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let max_message = config.max_recv_msg_size();
    let service = TraceServiceServer::new(GrpcTraceService { next: next.clone(), observer })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max_message);

    let mut server = Server::builder().tcp_nodelay(true);
    if config.max_concurrent_streams > 0 {
        server = server.max_concurrent_streams(config.max_concurrent_streams);
    }
    if let Some(params) = config.keepalive.as_ref().and_then(|k| k.server_parameters.as_ref()) {
        server = server.http2_keepalive_interval(params.time).http2_keepalive_timeout(params.timeout);
        if let Some(age) = params.max_connection_age {
            server = server.max_connection_age(age);
        }
        if let Some(grace) = params.max_connection_age_grace {
            server = server.max_connection_age_grace(grace);
        }
    }
    let router = server.layer(AdmissionLayer { next }).add_service(service);
    let signal = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    match tls {
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            router.serve_with_incoming_shutdown(incoming, signal).await
        }
        Some(acceptor) => {
            let incoming = tls_incoming(listener, acceptor);
            router.serve_with_incoming_shutdown(incoming, signal).await
        }
    }
}
