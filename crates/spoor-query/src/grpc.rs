//! `jaeger.api_v2.QueryService` and `jaeger.api_v3.QueryService` over tonic, as Jaeger v2.20.0's
//! gRPC handlers answer them.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use prost_types::Timestamp;
use spoor_jaeger::model::{ids, to_proto};
use spoor_jaeger::proto::{api_v2, api_v3};
use spoor_store::{StoreError, TraceQuery};
use tonic::{Request, Response, Status};

use crate::service::ServedTrace;
use crate::tenant::Tenants;

/// Jaeger streams api_v2 spans in chunks of this many.
const SPANS_PER_CHUNK: usize = 10;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn internal(e: StoreError) -> Status {
    tracing::error!(error = %e, "grpc handler, internal error");
    Status::internal(e.to_string())
}

fn timestamp_nanos(ts: Option<&Timestamp>) -> Option<u64> {
    let ts = ts?;
    let nanos = ts.seconds as i128 * 1_000_000_000 + ts.nanos as i128;
    // gogo's non-nullable zero time (0001-01-01) and the Unix epoch both mean "not set".
    (nanos > 0).then_some(nanos as u64)
}

fn duration_of(d: Option<&prost_types::Duration>) -> Option<Duration> {
    let d = d?;
    let nanos = d.seconds as i128 * 1_000_000_000 + d.nanos as i128;
    (nanos > 0).then(|| Duration::from_nanos(nanos.min(u64::MAX as i128) as u64))
}

fn range_of(start: Option<&Timestamp>, end: Option<&Timestamp>) -> Option<(u64, u64)> {
    match (timestamp_nanos(start), timestamp_nanos(end)) {
        (None, None) => None,
        (s, e) => Some((s.unwrap_or(0), e.unwrap_or(u64::MAX))),
    }
}

fn trace_id_from_bytes(bytes: &[u8]) -> Result<[u8; 16], Status> {
    if bytes.len() != 16 || bytes.iter().all(|b| *b == 0) {
        return Err(Status::invalid_argument("uninitialized TraceID"));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(bytes);
    Ok(id)
}

fn chunks(traces: Vec<ServedTrace>) -> BoxStream<api_v2::SpansResponseChunk> {
    let chunks: Vec<Result<api_v2::SpansResponseChunk, Status>> = traces
        .iter()
        .flat_map(|t| {
            let spans = to_proto::spans_from_otlp(&t.resource_spans);
            spans
                .chunks(SPANS_PER_CHUNK)
                .map(|c| Ok(api_v2::SpansResponseChunk { spans: c.to_vec() }))
                .collect::<Vec<_>>()
        })
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

/// `jaeger.api_v2.QueryService`.
pub struct QueryServiceV2 {
    pub(crate) tenants: Arc<Tenants>,
}

#[tonic::async_trait]
impl api_v2::query_service_server::QueryService for QueryServiceV2 {
    type GetTraceStream = BoxStream<api_v2::SpansResponseChunk>;
    type FindTracesStream = BoxStream<api_v2::SpansResponseChunk>;

    async fn get_trace(
        &self,
        request: Request<api_v2::GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let r = request.into_inner();
        let id = trace_id_from_bytes(&r.trace_id)?;
        let range = range_of(r.start_time.as_ref(), r.end_time.as_ref());
        match svc.get_trace(id, range, r.raw_traces).await.map_err(internal)? {
            Some(trace) => Ok(Response::new(chunks(vec![trace]))),
            None => Err(Status::not_found("trace not found")),
        }
    }

    async fn archive_trace(
        &self,
        request: Request<api_v2::ArchiveTraceRequest>,
    ) -> Result<Response<api_v2::ArchiveTraceResponse>, Status> {
        // Refused as Jaeger's interceptor refuses it, before the method answers.
        self.tenants.for_grpc(request.metadata()).await?;
        Err(Status::unimplemented("archive storage not configured"))
    }

    async fn find_traces(
        &self,
        request: Request<api_v2::FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let q = request.into_inner().query.ok_or_else(|| Status::invalid_argument("missing query"))?;
        let query = TraceQuery {
            service_name: q.service_name,
            operation_name: Some(q.operation_name).filter(|o| !o.is_empty()),
            attributes: q.tags.into_iter().collect(),
            start_time_min: timestamp_nanos(q.start_time_min.as_ref()),
            start_time_max: timestamp_nanos(q.start_time_max.as_ref()),
            duration_min: duration_of(q.duration_min.as_ref()),
            duration_max: duration_of(q.duration_max.as_ref()),
            search_depth: q.search_depth.max(0) as usize,
        };
        let traces = svc.find_traces(&query, q.raw_traces).await.map_err(internal)?;
        Ok(Response::new(chunks(traces)))
    }

    async fn get_services(
        &self,
        request: Request<api_v2::GetServicesRequest>,
    ) -> Result<Response<api_v2::GetServicesResponse>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let services = svc.services().await.map_err(internal)?;
        Ok(Response::new(api_v2::GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<api_v2::GetOperationsRequest>,
    ) -> Result<Response<api_v2::GetOperationsResponse>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let r = request.into_inner();
        let kind = Some(r.span_kind.as_str()).filter(|k| !k.is_empty());
        let operations = svc.operations(&r.service, kind).await.map_err(internal)?;
        let mut names: Vec<String> = operations.iter().map(|o| o.name.clone()).collect();
        names.dedup();
        Ok(Response::new(api_v2::GetOperationsResponse {
            operation_names: names,
            operations: operations
                .into_iter()
                .map(|o| api_v2::Operation { name: o.name, span_kind: o.span_kind })
                .collect(),
        }))
    }

    async fn get_dependencies(
        &self,
        request: Request<api_v2::GetDependenciesRequest>,
    ) -> Result<Response<api_v2::GetDependenciesResponse>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let r = request.into_inner();
        let end =
            timestamp_nanos(r.end_time.as_ref()).ok_or_else(|| Status::invalid_argument("end time is required"))?;
        let start = timestamp_nanos(r.start_time.as_ref()).unwrap_or(0);
        let lookback = Duration::from_nanos(end.saturating_sub(start));
        let links = svc.dependencies(end, lookback).await.map_err(internal)?;
        Ok(Response::new(api_v2::GetDependenciesResponse {
            dependencies: links
                .into_iter()
                .map(|l| api_v2::DependencyLink {
                    parent: l.parent,
                    child: l.child,
                    call_count: l.call_count,
                    source: String::new(),
                })
                .collect(),
        }))
    }
}

/// `jaeger.api_v3.QueryService`.
pub struct QueryServiceV3 {
    pub(crate) tenants: Arc<Tenants>,
}

fn traces_data(traces: Vec<ServedTrace>) -> BoxStream<opentelemetry_proto::tonic::trace::v1::TracesData> {
    let items: Vec<_> = traces
        .into_iter()
        .map(|t| Ok(opentelemetry_proto::tonic::trace::v1::TracesData { resource_spans: t.resource_spans }))
        .collect();
    Box::pin(futures::stream::iter(items))
}

/// api_v3's `TraceQueryParameters` as a store query, and whether raw traces were asked for.
fn v3_query(q: Option<api_v3::TraceQueryParameters>) -> Result<(TraceQuery, bool), Status> {
    let q = q.ok_or_else(|| Status::invalid_argument("missing query"))?;
    let (Some(min), Some(max)) =
        (timestamp_nanos(q.start_time_min.as_ref()), timestamp_nanos(q.start_time_max.as_ref()))
    else {
        return Err(Status::invalid_argument("start time min and max are required parameters"));
    };
    let query = TraceQuery {
        service_name: q.service_name,
        operation_name: Some(q.operation_name).filter(|o| !o.is_empty()),
        attributes: q.attributes.into_iter().collect(),
        start_time_min: Some(min),
        start_time_max: Some(max),
        duration_min: duration_of(q.duration_min.as_ref()),
        duration_max: duration_of(q.duration_max.as_ref()),
        search_depth: q.search_depth.max(0) as usize,
    };
    Ok((query, q.raw_traces))
}

#[tonic::async_trait]
impl api_v3::query_service_server::QueryService for QueryServiceV3 {
    type GetTraceStream = BoxStream<opentelemetry_proto::tonic::trace::v1::TracesData>;
    type FindTracesStream = BoxStream<opentelemetry_proto::tonic::trace::v1::TracesData>;
    type FindTraceSummariesStream = BoxStream<api_v3::FindTraceSummariesResponse>;

    async fn get_trace(
        &self,
        request: Request<api_v3::GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let r = request.into_inner();
        let id =
            ids::parse_trace_id(&r.trace_id).map_err(|e| Status::invalid_argument(format!("malform trace ID: {e}")))?;
        let range = range_of(r.start_time.as_ref(), r.end_time.as_ref());
        match svc.get_trace(id, range, r.raw_traces).await.map_err(internal)? {
            Some(trace) => Ok(Response::new(traces_data(vec![trace]))),
            None => Err(Status::not_found("trace not found")),
        }
    }

    async fn find_traces(
        &self,
        request: Request<api_v3::FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let (query, raw) = v3_query(request.into_inner().query)?;
        let traces = svc.find_traces(&query, raw).await.map_err(internal)?;
        Ok(Response::new(traces_data(traces)))
    }

    async fn get_services(
        &self,
        request: Request<api_v3::GetServicesRequest>,
    ) -> Result<Response<api_v3::GetServicesResponse>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let services = svc.services().await.map_err(internal)?;
        Ok(Response::new(api_v3::GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<api_v3::GetOperationsRequest>,
    ) -> Result<Response<api_v3::GetOperationsResponse>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let r = request.into_inner();
        let kind = Some(r.span_kind.as_str()).filter(|k| !k.is_empty());
        let operations = svc.operations(&r.service, kind).await.map_err(internal)?;
        Ok(Response::new(api_v3::GetOperationsResponse {
            operations: operations
                .into_iter()
                .map(|o| api_v3::Operation { name: o.name, span_kind: o.span_kind })
                .collect(),
        }))
    }

    async fn get_dependencies(
        &self,
        request: Request<api_v3::GetDependenciesRequest>,
    ) -> Result<Response<api_v3::DependenciesResponse>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let r = request.into_inner();
        let end =
            timestamp_nanos(r.end_time.as_ref()).ok_or_else(|| Status::invalid_argument("end time is required"))?;
        let start = timestamp_nanos(r.start_time.as_ref()).unwrap_or(0);
        let links = svc.dependencies(end, Duration::from_nanos(end.saturating_sub(start))).await.map_err(internal)?;
        Ok(Response::new(api_v3::DependenciesResponse {
            dependencies: links
                .into_iter()
                .map(|l| api_v3::Dependency { parent: l.parent, child: l.child, call_count: l.call_count })
                .collect(),
        }))
    }

    /// All summaries in one chunk, as Jaeger's handler sends them; none is an empty stream.
    async fn find_trace_summaries(
        &self,
        request: Request<api_v3::FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let svc = self.tenants.for_grpc(request.metadata()).await?;
        let (query, raw) = v3_query(request.into_inner().query)?;
        let summaries = svc.find_trace_summaries(&query, raw).await.map_err(internal)?;
        let chunks = (!summaries.is_empty()).then_some(Ok(api_v3::FindTraceSummariesResponse { summaries }));
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }
}
