//! `jaeger.api_v2.CollectorService/PostSpans` on tonic.

use std::sync::Arc;

use spoor_net::{GrpcServerSettings, RequestMetadata};
use spoor_pipeline::{ClientMetadata, ConsumeError, ReceiverObserver, TraceBatch, TracesConsumer};
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::proto::api_v2::collector_service_server::{CollectorService, CollectorServiceServer};
use crate::proto::api_v2::{PostSpansRequest, PostSpansResponse};
use crate::translate;

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
        let metadata =
            request.extensions().get::<RequestMetadata>().map(ClientMetadata::from_request).unwrap_or_default();
        let Some(batch) = request.into_inner().batch else {
            return Ok(Response::new(PostSpansResponse {}));
        };
        let resource_spans =
            translate::proto_to_otlp(batch).map_err(|err| Status::invalid_argument(err.to_string()))?;
        let batch = TraceBatch::new(resource_spans).with_metadata(metadata);
        self.observer.deliver(self.next.as_ref(), batch).await.map_err(status_of)?;
        Ok(Response::new(PostSpansResponse {}))
    }
}

/// The `PostSpans` service, for the kit's gRPC listener to serve.
pub(crate) fn service(
    settings: &GrpcServerSettings,
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
) -> Routes {
    let admission = next.clone();
    let inner = CollectorServiceServer::new(PostSpans { next, observer })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(settings.max_recv_msg_size());
    let service = tonic::service::interceptor::InterceptedService::new(inner, move |request: Request<()>| {
        // Refuse before the message is decoded when the pipeline would refuse it anyway.
        admission.check_admission().map_err(status_of)?;
        Ok(request)
    });
    Routes::new(service).prepare()
}
