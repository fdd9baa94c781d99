//! OTLP/HTTP receiver tests with a real HTTP client on loopback.

mod receiver_common;

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use receiver_common::*;
use reqwest::StatusCode;
use spoor_pipeline::Receiver;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn post(url: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut builder = client().post(url).header("content-type", content_type);
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    builder.body(body).send().await.unwrap()
}

/// Sends one valid protobuf request and checks it is accepted and recorded.
async fn assert_valid_request_succeeds(harness: &Harness) {
    let before = harness.consumer.spans();
    let response = post(&harness.http_url(), PROTOBUF, None, request(2).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(harness.consumer.spans(), before + 2);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn protobuf_request_is_accepted() {
    let harness = start_default().await;
    let response = post(&harness.http_url(), PROTOBUF, None, request(3).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let body = response.bytes().await.unwrap();
    let decoded = ExportTraceServiceResponse::decode(body).unwrap();
    assert_eq!(decoded.partial_success, None);
    assert_eq!(harness.consumer.spans(), 3);
    assert!(
        harness
            .telemetry
            .encode()
            .contains("otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"http\"} 3")
    );
    // Kept as received, and the same spans once decoded.
    assert!(harness.consumer.batches.lock().unwrap()[0].is_encoded());
    assert_eq!(harness.consumer.all_spans(), request(3).resource_spans[0].scope_spans[0].spans);
    stop(harness).await;
}

#[tokio::test]
async fn json_request_with_hex_ids_is_accepted() {
    let harness = start_default().await;
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
        "scopeSpans":[{"scope":{"name":"lib"},"spans":[{
            "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
            "name":"GET /","kind":"SPAN_KIND_SERVER",
            "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
            "attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],
            "status":{"code":2}}]}]}]}"#;
    let response = post(&harness.http_url(), "application/json; charset=utf-8", None, body.into()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], JSON);
    assert_eq!(response.text().await.unwrap(), "{}");
    let spans = harness.consumer.all_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].trace_id,
        vec![0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c]
    );
    assert_eq!(spans[0].span_id, vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]);
    assert_eq!(spans[0].kind, 2);
    assert_eq!(spans[0].start_time_unix_nano, 1_544_712_660_000_000_000);
    stop(harness).await;
}

#[tokio::test]
async fn compressed_bodies_are_accepted() {
    let harness = start_default().await;
    let plain = request(1).encode_to_vec();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&plain).unwrap();
    let mut framed = snap::write::FrameEncoder::new(Vec::new());
    framed.write_all(&plain).unwrap();
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz4.write_all(&plain).unwrap();
    let cases = [
        ("gzip", gzip(&plain)),
        ("zstd", zstd::encode_all(plain.as_slice(), 3).unwrap()),
        ("deflate", zlib.finish().unwrap()),
        ("snappy", snap::raw::Encoder::new().compress_vec(&plain).unwrap()),
        ("snappy", framed.into_inner().unwrap()),
        ("lz4", lz4.finish().unwrap()),
        ("identity", plain.clone()),
    ];
    let total = cases.len();
    for (encoding, body) in cases {
        let response = post(&harness.http_url(), PROTOBUF, Some(encoding), body).await;
        assert_eq!(response.status(), StatusCode::OK, "{encoding}");
    }
    // JSON can be compressed too.
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]}"#;
    let response = post(&harness.http_url(), JSON, Some("gzip"), gzip(json)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(harness.consumer.spans(), total + 1);
    stop(harness).await;
}

#[tokio::test]
async fn bad_requests_get_spec_status_codes_and_the_server_keeps_serving() {
    let harness = start_default().await;
    let url = harness.http_url();

    // Garbage protobuf: 400 with a google.rpc.Status in protobuf.
    let response = post(&url, PROTOBUF, None, b"\xff\xff\xff\xff garbage".to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, 3);
    assert!(!status.message.is_empty());
    assert_valid_request_succeeds(&harness).await;

    // Invalid JSON: 400 with a google.rpc.Status in JSON.
    let response = post(&url, JSON, None, b"{\"resourceSpans\": [".to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], JSON);
    let status: serde_json::Value = response.json_value().await;
    assert_eq!(status["code"], 3);
    assert_valid_request_succeeds(&harness).await;

    // Wrong content type: 415.
    let response = post(&url, "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_valid_request_succeeds(&harness).await;

    // Other methods: 405 with Allow.
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let response = client().put(&url).body("x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_valid_request_succeeds(&harness).await;

    // Unknown path: 404.
    let other = url.replace("/v1/traces", "/v1/metrics");
    let response = post(&other, PROTOBUF, None, request(1).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Unsupported or corrupt encodings: 400.
    let response = post(&url, PROTOBUF, Some("br"), request(1).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = post(&url, PROTOBUF, Some("gzip"), b"not gzip at all".to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_valid_request_succeeds(&harness).await;
    stop(harness).await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let harness = start_default().await;
    let url = harness.http_url();

    // 30 MiB as sent, over the 20 MiB default.
    let response = post(&url, PROTOBUF, None, vec![0u8; 30 * 1024 * 1024]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_valid_request_succeeds(&harness).await;

    // A gzip bomb: 100 MiB of zeros in about 100 KiB.
    let bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..100 {
            encoder.write_all(&chunk).unwrap();
        }
        encoder.finish().unwrap()
    };
    assert!(bomb.len() < 1024 * 1024);
    let response = post(&url, PROTOBUF, Some("gzip"), bomb).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    assert_valid_request_succeeds(&harness).await;

    // A snappy block that declares a huge length is refused before allocating.
    let zeros = vec![0u8; 25 * 1024 * 1024];
    let snappy = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
    let response = post(&url, PROTOBUF, Some("snappy"), snappy).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_valid_request_succeeds(&harness).await;
    stop(harness).await;
}

#[tokio::test]
async fn configured_body_limit_applies_to_chunked_bodies() {
    let harness = start(serde_json::json!({"protocols": {
        "http": {"endpoint": "127.0.0.1:0", "max_request_body_size": 1000}
    }}))
    .await;
    // A streamed body has no Content-Length, so the limit must hold while reading.
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(vec![0u8; 500]))));
    let body = reqwest::Body::wrap(http_body_util::StreamBody::new(futures::stream::iter(chunks)));
    let response = client().post(harness.http_url()).header("content-type", PROTOBUF).body(body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_valid_request_succeeds(&harness).await;
    stop(harness).await;
}

#[tokio::test]
async fn refusal_is_503_with_retry_after() {
    let harness = start_default().await;
    let url = harness.http_url();

    harness.consumer.set_mode(REFUSE);
    let response = post(&url, PROTOBUF, None, request(2).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "3");
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, 14);
    assert!(
        harness
            .telemetry
            .encode()
            .contains("otelcol_receiver_refused_spans_total{receiver=\"otlp\",transport=\"http\"} 2")
    );

    // Refused at admission, before the body is read: the default delay.
    harness.consumer.set_mode(REFUSE_ADMISSION);
    let response = post(&url, JSON, None, b"{}".to_vec()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let status: serde_json::Value = response.json_value().await;
    assert_eq!(status["code"], 14);
    assert_eq!(status["details"][0]["@type"], "type.googleapis.com/google.rpc.RetryInfo");

    // Permanent errors are 400.
    harness.consumer.set_mode(PERMANENT);
    let response = post(&url, PROTOBUF, None, request(1).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    harness.consumer.set_mode(ACCEPT);
    assert_valid_request_succeeds(&harness).await;
    stop(harness).await;
}

#[tokio::test]
async fn invalid_ids_are_a_partial_success() {
    let harness = start_default().await;
    let mut spans = request(2).resource_spans[0].scope_spans[0].spans.clone();
    spans.push(span(vec![1; 15], vec![1; 8], "short trace id"));
    spans.push(span(vec![1; 16], vec![], "no span id"));
    let body = request_of(spans).encode_to_vec();
    let response = post(&harness.http_url(), PROTOBUF, None, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let decoded = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = decoded.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(!partial.error_message.is_empty());
    assert_eq!(harness.consumer.spans(), 2);

    // The same in JSON, with the count as an int64 string.
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"},
        {"traceId":"01020304","spanId":"0102030405060708"}]}]}]}"#;
    let response = post(&harness.http_url(), JSON, None, json.to_vec()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let value: serde_json::Value = response.json_value().await;
    assert_eq!(value["partialSuccess"]["rejectedSpans"], "1");
    assert_eq!(harness.consumer.spans(), 3);
    stop(harness).await;
}

#[tokio::test]
async fn cors_preflight_and_simple_requests() {
    let harness = start(serde_json::json!({"protocols": {"http": {
        "endpoint": "127.0.0.1:0",
        "cors": {"allowed_origins": ["https://*.example.com"], "max_age": 600}
    }}}))
    .await;
    let url = harness.http_url();
    let response = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(response.headers()["access-control-allow-methods"], "POST");
    assert_eq!(response.headers()["access-control-max-age"], "600");

    let response = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://evil.org")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));

    let response = client()
        .post(&url)
        .header("origin", "https://app.example.com")
        .header("content-type", PROTOBUF)
        .body(request(1).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
    stop(harness).await;
}

#[tokio::test]
async fn custom_path_and_response_headers() {
    let harness = start(serde_json::json!({"protocols": {"http": {
        "endpoint": "127.0.0.1:0",
        "traces_url_path": "custom/traces",
        "response_headers": {"x-served-by": "spoor"}
    }}}))
    .await;
    let base = format!("http://{}", harness.addrs.http.unwrap());
    let response = post(&format!("{base}/custom/traces"), PROTOBUF, None, request(1).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-served-by"], "spoor");
    let response = post(&format!("{base}/v1/traces"), PROTOBUF, None, request(1).encode_to_vec()).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    stop(harness).await;
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests() {
    let mut harness = start_default().await;
    *harness.consumer.delay.lock().unwrap() = Some(Duration::from_millis(300));
    let url = harness.http_url();
    let in_flight = tokio::spawn(async move { post(&url, PROTOBUF, None, request(1).encode_to_vec()).await.status() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    harness.receiver.shutdown().await;
    assert_eq!(in_flight.await.unwrap(), StatusCode::OK);
    assert_eq!(harness.consumer.spans(), 1);
    // Nothing listens any more.
    let result = client()
        .post(harness.http_url())
        .header("content-type", PROTOBUF)
        .body(request(1).encode_to_vec())
        .send()
        .await;
    assert!(result.is_err());
}

trait JsonValue {
    async fn json_value(self) -> serde_json::Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

/// With `include_metadata` the batch carries the request's headers; without it, nothing.
#[tokio::test]
async fn include_metadata_carries_the_headers_with_the_batch() {
    for (include, expected) in [(true, vec!["acme".to_owned()]), (false, vec![])] {
        let harness = start(serde_json::json!({"protocols": {
            "http": {"endpoint": "127.0.0.1:0", "include_metadata": include}
        }}))
        .await;
        let response = client()
            .post(harness.http_url())
            .header("content-type", PROTOBUF)
            .header("X-Tenant", "acme")
            .body(request(2).encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let batches = harness.consumer.batches.lock().unwrap().clone();
        assert_eq!(batches[0].metadata().get("x-tenant"), expected, "include_metadata: {include}");
        stop(harness).await;
    }
}
