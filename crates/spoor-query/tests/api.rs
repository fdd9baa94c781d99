//! The query API end to end over HTTP and gRPC, against the memory store: Jaeger's fixtures,
//! Grafana's calls (reference doc section 1), and bad parameters.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;
use spoor_pipeline::TraceBatch;
use spoor_query::{JaegerQueryConfig, QueryServer};
use spoor_store::{MemoryConfig, MemoryStore, TraceStore};

fn memory_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap())
}

// --- test data ---

const T0: u64 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: u8,
    id: u8,
    parent: u8,
    name: &str,
    kind: i32,
    start_ms: u64,
    duration_ms: u64,
    attrs: Vec<KeyValue>,
) -> Span {
    let mut trace_id = vec![0u8; 16];
    trace_id[0] = 0xab;
    trace_id[15] = trace;
    Span {
        trace_id,
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: if parent == 0 { Vec::new() } else { vec![0, 0, 0, 0, 0, 0, 0, parent] },
        name: name.into(),
        kind,
        start_time_unix_nano: T0 + start_ms * 1_000_000,
        end_time_unix_nano: T0 + (start_ms + duration_ms) * 1_000_000,
        attributes: attrs,
        status: Some(Status::default()),
        ..Default::default()
    }
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: vec![string_kv("service.name", service)], ..Default::default() }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope { name: "test".into(), ..Default::default() }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

const TRACE_HEX: &str = "ab000000000000000000000000000001";

async fn frontend_store() -> Arc<MemoryStore> {
    let store = memory_store();
    let mut dispatch = span(
        1,
        1,
        0,
        "HTTP GET /dispatch",
        2,
        0,
        1500,
        vec![string_kv("http.status_code", "200"), string_kv("error", "true")],
    );
    // Jaeger's search matches the `error` tag against the span status, not the attribute.
    dispatch.status = Some(Status { code: 2, ..Default::default() });
    let batch = TraceBatch::new(vec![
        resource_spans("frontend", vec![dispatch]),
        resource_spans("driver", vec![span(1, 2, 1, "FindNearest", 2, 10, 200, vec![])]),
    ]);
    store.write(&batch).await.unwrap();
    store
}

async fn serve(store: Arc<dyn TraceStore>, base_path: &str) -> QueryServer {
    let config: JaegerQueryConfig = serde_json::from_value(serde_json::json!({
        "storage": {"traces": "test"},
        "base_path": base_path,
        "http": {"endpoint": "127.0.0.1:0"},
        "grpc": {"endpoint": "127.0.0.1:0"},
    }))
    .unwrap();
    config.validate().unwrap();
    let mut server = QueryServer::new(config, store);
    server.start().await.unwrap();
    server
}

fn url(server: &QueryServer, path: &str) -> String {
    format!("http://{}{path}", server.http_addr().unwrap())
}

async fn get(server: &QueryServer, path: &str) -> (u16, String) {
    let response = reqwest::get(url(server, path)).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn fixture(path: &str) -> String {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    std::fs::read_to_string(base.join("fixtures/jaeger/api").join(path)).unwrap()
}

// --- Grafana's calls ---

#[tokio::test]
async fn grafana_health_check_and_dropdowns() {
    let mut server = serve(frontend_store().await, "").await;
    let (status, body) = get(&server, "/api/services").await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"data":["driver","frontend"],"total":2,"limit":0,"offset":0,"errors":null}"#);

    let (status, body) = get(&server, "/api/services/frontend/operations").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["data"], serde_json::json!(["HTTP GET /dispatch"]));

    let (_, body) = get(&server, "/api/operations?service=driver&spanKind=server").await;
    assert_eq!(json(&body)["data"], serde_json::json!([{"name": "FindNearest", "spanKind": "server"}]));
    server.shutdown().await;
}

#[tokio::test]
async fn grafana_search_with_json_tags_go_durations_and_micros() {
    let mut server = serve(frontend_store().await, "").await;
    let start_us = T0 / 1000 - 1_000_000;
    let end_us = T0 / 1000 + 60_000_000;
    let tags = "%7B%22error%22%3A%22true%22%2C%22http.status_code%22%3A%22200%22%7D";
    let path = format!(
        "/api/traces?service=frontend&operation=HTTP%20GET%20%2Fdispatch&tags={tags}&minDuration=1.2s&maxDuration=2s&limit=20&start={start_us}&end={end_us}"
    );
    let (status, body) = get(&server, &path).await;
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], TRACE_HEX);
    assert_eq!(trace["spans"].as_array().unwrap().len(), 2);
    assert_eq!(trace["processes"]["p1"]["serviceName"], "frontend");
    assert_eq!(trace["processes"]["p2"]["serviceName"], "driver");
    assert_eq!(trace["spans"][1]["references"][0]["refType"], "CHILD_OF");
    assert_eq!(trace["spans"][0]["duration"], 1_500_000);

    // A duration bound that excludes the span finds nothing, and never an empty trace.
    let (_, body) =
        get(&server, &format!("/api/traces?service=frontend&minDuration=2s&start={start_us}&end={end_us}")).await;
    assert_eq!(json(&body)["data"], serde_json::json!([]));
    // The repeated tag=k:v form.
    let (_, body) =
        get(&server, &format!("/api/traces?service=frontend&tag=error:true&start={start_us}&end={end_us}")).await;
    assert_eq!(json(&body)["data"].as_array().unwrap().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn grafana_trace_by_id_with_millisecond_range() {
    let mut server = serve(frontend_store().await, "").await;
    let (start_ms, end_ms) = (T0 / 1_000_000 - 60_000, T0 / 1_000_000 + 60_000);
    let (status, body) = get(&server, &format!("/api/traces/{TRACE_HEX}?start={start_ms}&end={end_ms}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["data"][0]["spans"].as_array().unwrap().len(), 2);

    let (start_us, end_us) = (start_ms * 1000, end_ms * 1000);
    let (status, _) = get(&server, &format!("/api/traces/{TRACE_HEX}?start={start_us}&end={end_us}")).await;
    assert_eq!(status, 200);
    let (status, _) = get(&server, &format!("/api/traces/{TRACE_HEX}")).await;
    assert_eq!(status, 200);

    let (status, body) = get(&server, "/api/traces/00000000000000000000000000000999").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":404,\"msg\":\"trace not found\"}]}\n"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn grafana_dependencies_in_milliseconds() {
    let mut server = serve(frontend_store().await, "").await;
    let end_ms = T0 / 1_000_000 + 3_600_000;
    let (status, body) = get(&server, &format!("/api/dependencies?endTs={end_ms}&lookback=7200000")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"data":[{"parent":"frontend","child":"driver","callCount":1}],"total":0,"limit":0,"offset":0,"errors":null}"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn only_gzip_deflate_or_identity_encodings() {
    let mut server = serve(frontend_store().await, "").await;
    let client = reqwest::Client::new();
    let send =
        |encoding: &'static str| client.get(url(&server, "/api/services")).header("accept-encoding", encoding).send();
    let response = send("zstd, br, gzip").await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let bytes = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
    assert!(text.starts_with(r#"{"data":["driver","frontend"]"#));
    let response = send("deflate").await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "deflate");
    for encoding in ["br", "zstd"] {
        let response = send(encoding).await.unwrap();
        assert!(response.headers().get("content-encoding").is_none(), "{encoding}");
    }
    server.shutdown().await;
}

// --- bad parameters ---

#[tokio::test]
async fn bad_parameters_get_400_with_jaegers_message() {
    let mut server = serve(frontend_store().await, "").await;
    let cases = [
        ("/api/traces/not-hex", "strconv.ParseUint: parsing \"not-hex\": invalid syntax"),
        (
            "/api/traces?service=frontend&minDuration=10x",
            "unable to parse param 'minDuration': time: unknown unit \"x\" in duration \"10x\"",
        ),
        ("/api/traces?service=frontend&start=2000&end=1000", "invalid parameter: start time must be before end time"),
        ("/api/traces?service=frontend&limit=-5", "invalid parameter: limit must be greater than 0"),
        ("/api/traces?service=frontend&tags=notjson", "malformed 'tags' parameter, cannot unmarshal JSON"),
        ("/api/traces?operation=x", "parameter 'service' is required"),
        ("/api/operations", "parameter 'service' is required"),
        (
            "/api/dependencies?endTs=abc",
            "unable to parse param 'endTs': strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
    ];
    for (path, message) in cases {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let body = json(&body);
        assert_eq!(body["errors"][0]["code"], 400);
        assert!(body["errors"][0]["msg"].as_str().unwrap().starts_with(message), "{path}: {body}");
        assert_eq!(body["data"], Value::Null);
    }
    // Still serving.
    assert_eq!(get(&server, "/api/services").await.0, 200);
    server.shutdown().await;
}

// --- Jaeger's fixtures ---

#[tokio::test]
async fn transform_matches_jaegers_fixture() {
    let mut server = serve(memory_store(), "").await;
    let response = reqwest::Client::new()
        .post(url(&server, "/api/transform"))
        .body(fixture("jaegerquery-fixture/otlp2jaeger-in.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response.text().await.unwrap()), json(&fixture("jaegerquery-fixture/otlp2jaeger-out.json")));
    server.shutdown().await;
}

/// The trace of the apiv3 snapshots: trace 1, span 2 `foobar`, server kind, status error.
async fn snapshot_store(service: &str) -> Arc<MemoryStore> {
    let store = memory_store();
    let mut trace_id = vec![0u8; 16];
    trace_id[15] = 1;
    let span = Span {
        trace_id,
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        name: "foobar".into(),
        kind: 2,
        status: Some(Status { code: 2, ..Default::default() }),
        ..Default::default()
    };
    let resource = if service.is_empty() {
        Resource::default()
    } else {
        Resource { attributes: vec![string_kv("service.name", service)], ..Default::default() }
    };
    let rs = ResourceSpans {
        resource: Some(resource),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope::default()),
            spans: vec![span],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    store.write(&TraceBatch::new(vec![rs])).await.unwrap();
    store
}

#[tokio::test]
async fn api_v3_trace_matches_snapshot() {
    let mut server = serve(snapshot_store("").await, "").await;
    let (status, body) = get(&server, "/api/v3/traces/1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), json(&fixture("apiv3-snapshots/GetTrace.json")));

    let query = "query.service_name=&query.start_time_min=1970-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00.5Z&query.duration_max=2s&query.search_depth=10";
    let (status, body) = get(&server, &format!("/api/v3/traces?{query}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), json(&fixture("apiv3-snapshots/FindTraces.json")));

    let (status, body) = get(&server, "/api/v3/traces/5").await;
    assert_eq!(status, 404);
    assert_eq!(json(&body), serde_json::json!({"error": {"httpCode": 404, "message": "No traces found"}}));
    let (status, body) = get(&server, "/api/v3/traces?query.service_name=foo").await;
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"]["httpCode"], 400);
    server.shutdown().await;
}

/// The trace of the FindTraceSummaries snapshot: trace 1, two `frontend` spans from 1000 s to
/// 1001 s, the root `HTTP GET /`, and one span in error.
async fn summary_store() -> Arc<MemoryStore> {
    let store = memory_store();
    let second = 1_000_000_000;
    let mut root = span(1, 1, 0, "HTTP GET /", 2, 0, 0, vec![]);
    let mut child = span(1, 2, 1, "SELECT", 3, 0, 0, vec![]);
    for (span, start, end) in
        [(&mut root, 1000 * second, 1001 * second), (&mut child, 1000 * second + 10, 1000 * second + 20)]
    {
        span.trace_id = hex_bytes("00000000000000000000000000000001");
        (span.start_time_unix_nano, span.end_time_unix_nano) = (start, end);
    }
    child.status = Some(Status { code: 2, ..Default::default() });
    store.write(&TraceBatch::new(vec![resource_spans("frontend", vec![root, child])])).await.unwrap();
    store
}

#[tokio::test]
async fn api_v3_trace_summaries_match_snapshot() {
    use spoor_jaeger::proto::api_v3;
    let mut server = serve(summary_store().await, "").await;
    let query = "query.service_name=frontend&query.start_time_min=1970-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00Z&query.search_depth=10";
    let (status, body) = get(&server, &format!("/api/v3/trace-summaries?{query}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), json(&fixture("apiv3-snapshots/FindTraceSummaries.json")));

    let (status, body) =
        get(&server, &format!("/api/v3/trace-summaries?{}", query.replace("frontend", "nobody"))).await;
    assert_eq!((status, json(&body)), (200, serde_json::json!({})));
    let (status, body) = get(&server, "/api/v3/trace-summaries?query.service_name=frontend").await;
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"]["httpCode"], 400);

    let endpoint = format!("http://{}", server.grpc_addr().unwrap());
    let mut v3 = api_v3::query_service_client::QueryServiceClient::connect(endpoint).await.unwrap();
    let timestamp = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let request = api_v3::FindTraceSummariesRequest {
        query: Some(api_v3::TraceQueryParameters {
            service_name: "frontend".into(),
            start_time_min: timestamp(1),
            start_time_max: timestamp(4_102_444_800),
            ..Default::default()
        }),
    };
    let mut stream = v3.find_trace_summaries(request).await.unwrap().into_inner();
    let chunk = stream.message().await.unwrap().unwrap();
    let summary = &chunk.summaries[..];
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].trace_id, "00000000000000000000000000000001");
    assert_eq!((summary[0].span_count, summary[0].error_span_count), (2, 1));
    assert_eq!(summary[0].root_operation_name, "HTTP GET /");
    assert!(stream.message().await.unwrap().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn api_v3_services_and_operations_match_snapshots() {
    let store = memory_store();
    let mut rs = resource_spans("foo", vec![span(1, 1, 0, "get_users", 2, 0, 1, vec![])]);
    rs.scope_spans[0].spans[0].trace_id = vec![0; 15].into_iter().chain([9]).collect();
    store.write(&TraceBatch::new(vec![rs])).await.unwrap();
    let mut server = serve(store, "").await;
    let (_, body) = get(&server, "/api/v3/services").await;
    assert_eq!(json(&body), json(&fixture("apiv3-snapshots/GetServices.json")));
    let (_, body) = get(&server, "/api/v3/operations?service=foo&span_kind=server").await;
    assert_eq!(json(&body), json(&fixture("apiv3-snapshots/GetOperations.json")));
    server.shutdown().await;
}

// --- base path, UI, gRPC ---

#[tokio::test]
async fn base_path_nests_every_route_and_the_ui() {
    let config: JaegerQueryConfig = serde_json::from_value(serde_json::json!({
        "storage": {"traces": "test"},
        "base_path": "/jaeger",
        "http": {"endpoint": "127.0.0.1:0"},
        "grpc": {"endpoint": "127.0.0.1:0"},
    }))
    .unwrap();
    let mut server = QueryServer::new(config, frontend_store().await);
    server.start().await.unwrap();
    assert_eq!(get(&server, "/jaeger/api/services").await.0, 200);
    assert_eq!(get(&server, "/jaeger/api/v3/services").await.0, 200);
    let (status, page) = get(&server, "/jaeger/search?service=frontend").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<base href="/jaeger/" />"#), "{page}");
    assert_eq!(get(&server, "/api/services").await.0, 404);
    assert_eq!(get(&server, "/jaeger/api/nothing").await.0, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn grpc_api_v2_and_v3() {
    use spoor_jaeger::proto::{api_v2, api_v3};
    let mut server = serve(frontend_store().await, "").await;
    let endpoint = format!("http://{}", server.grpc_addr().unwrap());

    let mut v2 = api_v2::query_service_client::QueryServiceClient::connect(endpoint.clone()).await.unwrap();
    let services = v2.get_services(api_v2::GetServicesRequest {}).await.unwrap().into_inner();
    assert_eq!(services.services, vec!["driver", "frontend"]);
    let trace_id = hex_bytes(TRACE_HEX);
    let mut stream = v2
        .get_trace(api_v2::GetTraceRequest { trace_id: trace_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let chunk = stream.message().await.unwrap().unwrap();
    assert_eq!(chunk.spans.len(), 2);
    assert_eq!(chunk.spans[0].process.as_ref().unwrap().service_name, "frontend");
    let missing = v2.get_trace(api_v2::GetTraceRequest { trace_id: vec![7; 16], ..Default::default() }).await;
    assert_eq!(missing.unwrap_err().code(), tonic::Code::NotFound);
    let archive = v2.archive_trace(api_v2::ArchiveTraceRequest { trace_id, ..Default::default() }).await;
    assert_eq!(archive.unwrap_err().code(), tonic::Code::Unimplemented);

    let mut v3 = api_v3::query_service_client::QueryServiceClient::connect(endpoint).await.unwrap();
    let mut stream = v3
        .get_trace(api_v3::GetTraceRequest { trace_id: TRACE_HEX.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let data = stream.message().await.unwrap().unwrap();
    assert_eq!(data.resource_spans.len(), 2);
    let ops = v3
        .get_operations(api_v3::GetOperationsRequest { service: "driver".into(), span_kind: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ops.operations[0].name, "FindNearest");
    server.shutdown().await;
}

/// Reflection on the query port lists the two query services, and knows nothing
/// of the collector, sampling and Zipkin services that share spoor-jaeger's descriptor set.
#[tokio::test]
async fn grpc_reflection_lists_only_the_query_services() {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut server = serve(memory_store(), "").await;
    let endpoint = format!("http://{}", server.grpc_addr().unwrap());
    let channel = tonic::transport::Channel::from_shared(endpoint).unwrap().connect().await.unwrap();

    let list = reflect(&channel, MessageRequest::ListServices(String::new())).await.unwrap();
    let MessageResponse::ListServicesResponse(list) = list else { panic!("not a service list: {list:?}") };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, ["jaeger.api_v2.QueryService", "jaeger.api_v3.QueryService"]);
    for symbol in ["jaeger.api_v2.QueryService", "jaeger.api_v3.QueryService"] {
        let files = reflect(&channel, MessageRequest::FileContainingSymbol(symbol.into())).await.unwrap();
        assert!(matches!(files, MessageResponse::FileDescriptorResponse(_)), "{symbol}: {files:?}");
    }
    for symbol in ["jaeger.api_v2.CollectorService", "jaeger.api_v2.SamplingManager", "zipkin.proto3.SpanService"] {
        let missing = reflect(&channel, MessageRequest::FileContainingSymbol(symbol.into())).await;
        let code = match missing {
            Err(status) => status.code() as i32,
            Ok(MessageResponse::ErrorResponse(error)) => error.error_code,
            Ok(other) => panic!("{symbol} is served by reflection: {other:?}"),
        };
        assert_eq!(code, tonic::Code::NotFound as i32, "{symbol}");
    }
    server.shutdown().await;
}

/// One gRPC reflection (v1) request and its response.
async fn reflect(
    channel: &tonic::transport::Channel,
    message: tonic_reflection::pb::v1::server_reflection_request::MessageRequest,
) -> Result<tonic_reflection::pb::v1::server_reflection_response::MessageResponse, tonic::Status> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;

    let request = ServerReflectionRequest { host: String::new(), message_request: Some(message) };
    let mut client = ServerReflectionClient::new(channel.clone());
    let mut responses = client.server_reflection_info(tokio_stream::iter([request])).await?.into_inner();
    let response = responses.message().await?.ok_or_else(|| tonic::Status::unknown("no response"))?;
    Ok(response.message_response.unwrap())
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

// --- the real memory backend ---

#[tokio::test]
async fn grafana_calls_against_the_memory_store() {
    let mut server = serve(frontend_store().await, "").await;

    let (_, body) = get(&server, "/api/services").await;
    assert_eq!(json(&body)["data"], serde_json::json!(["driver", "frontend"]));
    let (start_us, end_us) = (T0 / 1000 - 1_000_000, T0 / 1000 + 60_000_000);
    // `error` is special in Jaeger's search (it matches the status), so search on a plain tag.
    let tags = "%7B%22http.status_code%22%3A%22200%22%7D";
    let (status, body) =
        get(&server, &format!("/api/traces?service=frontend&tags={tags}&minDuration=1s&start={start_us}&end={end_us}"))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["data"][0]["traceID"], TRACE_HEX);
    let (start_ms, end_ms) = (T0 / 1_000_000 - 60_000, T0 / 1_000_000 + 60_000);
    let (status, body) = get(&server, &format!("/api/traces/{TRACE_HEX}?start={start_ms}&end={end_ms}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["data"][0]["spans"].as_array().unwrap().len(), 2);
    server.shutdown().await;
}

/// The memory store, reporting one damaged block as the embedded store does.
struct StoreWithDamage(Arc<MemoryStore>);

#[async_trait::async_trait]
impl TraceStore for StoreWithDamage {
    async fn write(&self, batch: &TraceBatch) -> Result<(), spoor_store::StoreError> {
        self.0.write(batch).await
    }
    async fn get_trace(
        &self,
        trace_id: spoor_store::TraceId,
        range: Option<(u64, u64)>,
    ) -> Result<Option<spoor_store::Trace>, spoor_store::StoreError> {
        self.0.get_trace(trace_id, range).await
    }
    async fn find_traces(
        &self,
        query: &spoor_store::TraceQuery,
    ) -> Result<Vec<spoor_store::Trace>, spoor_store::StoreError> {
        self.0.find_traces(query).await
    }
    async fn find_trace_ids(
        &self,
        query: &spoor_store::TraceQuery,
    ) -> Result<Vec<spoor_store::TraceId>, spoor_store::StoreError> {
        self.0.find_trace_ids(query).await
    }
    async fn services(&self) -> Result<Vec<String>, spoor_store::StoreError> {
        self.0.services().await
    }
    async fn operations(
        &self,
        service: &str,
        span_kind: Option<&str>,
    ) -> Result<Vec<spoor_store::Operation>, spoor_store::StoreError> {
        self.0.operations(service, span_kind).await
    }
    async fn dependencies(
        &self,
        end: u64,
        lookback: std::time::Duration,
    ) -> Result<Vec<spoor_store::DependencyLink>, spoor_store::StoreError> {
        self.0.dependencies(end, lookback).await
    }
    fn warnings(&self) -> Vec<String> {
        vec!["block b1 is damaged and was moved to quarantine/: truncated".to_owned()]
    }
}

#[tokio::test]
async fn search_reports_the_stores_warnings_in_errors() {
    let mut server = serve(Arc::new(StoreWithDamage(frontend_store().await)), "").await;
    let (start_us, end_us) = (T0 / 1000 - 1_000_000, T0 / 1000 + 60_000_000);
    let (status, body) = get(&server, &format!("/api/traces?service=frontend&start={start_us}&end={end_us}")).await;
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "the results are still served");
    let expected =
        serde_json::json!([{"code": 500, "msg": "block b1 is damaged and was moved to quarantine/: truncated"}]);
    assert_eq!(body["errors"], expected);
    server.shutdown().await;
}
