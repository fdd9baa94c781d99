//! `multi_tenancy` on the query's APIs, as Jaeger's `internal/tenancy`: every API request must
//! name an allowed tenant in the tenant header, and is served from that tenant's store.
//! HTTP refuses with 401 and Jaeger's plain-text words (`missing tenant header`, `unknown
//! tenant`); gRPC with `Unauthenticated` for a missing header and `PermissionDenied` for an
//! unknown tenant or several values. The UI's static assets need no tenant: they hold no data.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use spoor_pipeline::tenancy::{Tenancy, TenantError};
use spoor_store::TenantStores;
use tonic::Status;

use crate::QueryService;

/// The stores and the tenancy check every API request goes through.
pub(crate) struct Tenants {
    pub stores: TenantStores,
    pub tenancy: Tenancy,
}

impl Tenants {
    /// The query service over `tenant`'s store.
    async fn service(&self, tenant: Option<&str>) -> Result<Arc<QueryService>, spoor_store::StoreError> {
        Ok(Arc::new(QueryService::new(self.stores.store(tenant).await?)))
    }

    /// The service for a gRPC call, or Jaeger's refusal.
    pub async fn for_grpc(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Arc<QueryService>, Status> {
        let values: Vec<&str> = match self.tenancy.header() {
            Some(header) => metadata.get_all(header).iter().map(|v| v.to_str().unwrap_or_default()).collect(),
            None => Vec::new(),
        };
        let tenant = self.tenancy.tenant_of(&values).map_err(|err| match err {
            TenantError::Missing => Status::unauthenticated(err.to_string()),
            TenantError::Extra | TenantError::Unknown => Status::permission_denied(err.to_string()),
        })?;
        self.service(tenant).await.map_err(|err| Status::internal(err.to_string()))
    }
}

/// Resolves the request's tenant and hands the handler its service as an extension.
pub(crate) async fn resolve(State(tenants): State<Arc<Tenants>>, mut request: Request, next: Next) -> Response {
    let first = tenants
        .tenancy
        .header()
        .and_then(|header| request.headers().get(header))
        .map(|value| value.to_str().unwrap_or_default());
    let tenant = match tenants.tenancy.tenant_of_http(first) {
        Ok(tenant) => tenant.map(str::to_owned),
        Err(err) => return (StatusCode::UNAUTHORIZED, err.to_string()).into_response(),
    };
    match tenants.service(tenant.as_deref()).await {
        Ok(service) => {
            request.extensions_mut().insert(service);
            next.run(request).await
        }
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
