//! `multi_tenancy` on the query's HTTP and gRPC APIs: each tenant reads its own store, and a
//! missing or unknown tenant is refused with Jaeger's codes and words.

use serde_json::json;
use spoor_jaeger::proto::api_v2;
use spoor_pipeline::TraceBatch;
use spoor_query::{JaegerQueryConfig, QueryServer};
use spoor_store::{MemoryConfig, TenantStores};

fn batch(service: &str) -> TraceBatch {
    spoor_store::synth::one_span([7; 16], service, &format!("{service}-op"))
}

async fn serve() -> QueryServer {
    let config: JaegerQueryConfig = serde_json::from_value(json!({
        "storage": {"traces": "m"},
        "multi_tenancy": {"enabled": true, "tenants": ["acme", "globex"]},
        "http": {"endpoint": "127.0.0.1:0"},
        "grpc": {"endpoint": "127.0.0.1:0"},
    }))
    .unwrap();
    config.validate().unwrap();
    let stores = TenantStores::memory(MemoryConfig::default()).unwrap();
    for tenant in ["acme", "globex"] {
        stores.store(Some(tenant)).await.unwrap().write(&batch(&format!("{tenant}-svc"))).await.unwrap();
    }
    let mut server = QueryServer::new(config, stores);
    server.start().await.unwrap();
    server
}

async fn get(server: &QueryServer, path: &str, tenant: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", server.http_addr().unwrap()));
    if let Some(tenant) = tenant {
        request = request.header("x-tenant", tenant);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn http_serves_each_tenant_its_store_and_refuses_with_401() {
    let mut server = serve().await;
    let trace = "07070707070707070707070707070707";
    for tenant in ["acme", "globex"] {
        let (status, body) = get(&server, "/api/services", Some(tenant)).await;
        assert_eq!((status, body.contains(&format!("\"{tenant}-svc\""))), (200, true), "{body}");
        let (status, body) = get(&server, &format!("/api/traces/{trace}"), Some(tenant)).await;
        assert_eq!(status, 200);
        assert!(
            body.contains(&format!("{tenant}-svc-op"))
                && !body.contains(if tenant == "acme" { "globex" } else { "acme" })
        );
        let (status, _) = get(&server, &format!("/api/v3/traces/{trace}"), Some(tenant)).await;
        assert_eq!(status, 200);
    }
    for path in ["/api/services", "/api/v3/services", &format!("/api/traces/{trace}")] {
        assert_eq!(get(&server, path, None).await, (401, "missing tenant header".to_owned()), "{path}");
        assert_eq!(get(&server, path, Some("")).await, (401, "missing tenant header".to_owned()), "{path}");
        assert_eq!(get(&server, path, Some("initech")).await, (401, "unknown tenant".to_owned()), "{path}");
    }
    // The UI holds no data and needs no tenant.
    assert_eq!(get(&server, "/", None).await.0, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn grpc_serves_each_tenant_its_store_and_refuses_as_jaeger() {
    let mut server = serve().await;
    let url = format!("http://{}", server.grpc_addr().unwrap());
    let mut client = api_v2::query_service_client::QueryServiceClient::connect(url).await.unwrap();
    let services = |tenant: Option<&'static str>| {
        let mut request = tonic::Request::new(api_v2::GetServicesRequest {});
        if let Some(tenant) = tenant {
            request.metadata_mut().insert("x-tenant", tenant.parse().unwrap());
        }
        request
    };
    for tenant in ["acme", "globex"] {
        let answer = client.get_services(services(Some(tenant))).await.unwrap().into_inner();
        assert_eq!(answer.services, [format!("{tenant}-svc")]);
    }
    let missing = client.get_services(services(None)).await.unwrap_err();
    assert_eq!((missing.code(), missing.message()), (tonic::Code::Unauthenticated, "missing tenant header"));
    let unknown = client.get_services(services(Some("initech"))).await.unwrap_err();
    assert_eq!((unknown.code(), unknown.message()), (tonic::Code::PermissionDenied, "unknown tenant"));
    let mut extra = services(Some("acme"));
    extra.metadata_mut().append("x-tenant", "globex".parse().unwrap());
    let extra = client.get_services(extra).await.unwrap_err();
    assert_eq!((extra.code(), extra.message()), (tonic::Code::PermissionDenied, "extra tenant header"));
    server.shutdown().await;
}
