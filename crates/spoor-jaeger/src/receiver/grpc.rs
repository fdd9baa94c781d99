//! `jaeger.api_v2.CollectorService/PostSpans` on tonic.

use std::sync::Arc;

use spoor_pipeline::{ConsumeError, ReceiverObserver, TraceBatch, TracesConsumer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::config::GrpcServerConfig;
use crate::proto::api_v2::collector_service_server::{CollectorService, CollectorServiceServer};
use crate::proto::api_v2::{PostSpansRequest, PostSpansResponse};
use crate::translate;

const MIB: usize = 1024 * 1024;

struct PostSpans {
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
}

/// Retryable refusals are `Unavailable`, bad data is `InvalidArgument`, as the otlp receiver.
pub(crate) fn status_of(err: ConsumeError) -> Status {
    match err {
        ConsumeError::Refused { reason, .. } => Status::unavailable(reason),
        ConsumeError::Permanent(message) => Status::invalid_argument(message),
    }
}

#[tonic::async_trait]
impl CollectorService for PostSpans {
    async fn post_spans(&self, request: Request<PostSpansRequest>) -> Result<Response<PostSpansResponse>, Status> {
        let Some(batch) = request.into_inner().batch else {
            return Ok(Response::new(PostSpansResponse {}));
        };
        let resource_spans =
            translate::proto_to_otlp(batch).map_err(|err| Status::invalid_argument(err.to_string()))?;
        self.observer.deliver(self.next.as_ref(), TraceBatch::new(resource_spans)).await.map_err(status_of)?;
        Ok(Response::new(PostSpansResponse {}))
    }
}

/// Serves until `shutdown` flips, then lets in-flight calls finish.
pub(crate) async fn serve(
    listener: TcpListener,
    config: &GrpcServerConfig,
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let max_message = usize::try_from(config.max_recv_msg_size_mib).unwrap_or(usize::MAX / MIB).saturating_mul(MIB);
    let admission = next.clone();
    let inner = CollectorServiceServer::new(PostSpans { next, observer })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max_message);
    let service = tonic::service::interceptor::InterceptedService::new(inner, move |request: Request<()>| {
        // Refuse before the message is decoded when the pipeline would refuse it anyway.
        admission.check_admission().map_err(status_of)?;
        Ok(request)
    });
    let mut server = Server::builder().tcp_nodelay(true);
    if config.max_concurrent_streams > 0 {
        server = server.max_concurrent_streams(config.max_concurrent_streams);
    }
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    server
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
