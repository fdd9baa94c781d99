//! What the server kit does before the handler on both OTLP transports: authentication, the
//! DNS-rebinding Host check, and the limits that hold off slow and idle clients.

mod receiver_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use receiver_common::*;
use spoor_net::auth::{Authenticator, Authenticators};
use spoor_net::testing::FixedToken;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn authenticators() -> Authenticators {
    let mut authenticators = Authenticators::default();
    let fixed = Authenticator { server: Some(Arc::new(FixedToken("s3cret".to_owned()))), client: None };
    authenticators.insert("bearertokenauth/in", fixed);
    authenticators
}

async fn start_authenticated() -> Harness {
    let auth = serde_json::json!({"authenticator": "bearertokenauth/in"});
    start_with(
        serde_json::json!({"protocols": {
            "grpc": {"endpoint": "127.0.0.1:0", "auth": auth.clone()},
            "http": {"endpoint": "127.0.0.1:0", "auth": auth}
        }}),
        authenticators(),
    )
    .await
}

#[tokio::test]
async fn http_asks_for_credentials() {
    let harness = start_authenticated().await;
    let client = reqwest::Client::new();
    let post = |token: Option<&str>| {
        let mut request = client
            .post(harness.http_url())
            .header("content-type", "application/x-protobuf")
            .body(request(1).encode_to_vec());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let missing = post(None).await.unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(missing.headers().contains_key("www-authenticate"));
    let wrong = post(Some("guess")).await.unwrap();
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(!wrong.text().await.unwrap().contains("s3cret"));
    assert_eq!(harness.consumer.spans(), 0);
    assert_eq!(post(Some("s3cret")).await.unwrap().status(), reqwest::StatusCode::OK);
    assert_eq!(harness.consumer.spans(), 1);
    stop(harness).await;
}

#[tokio::test]
async fn grpc_asks_for_credentials() {
    let harness = start_authenticated().await;
    let mut client = TraceServiceClient::connect(harness.grpc_url()).await.unwrap();
    let err = client.export(request(1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut wrong = tonic::Request::new(request(1));
    wrong.metadata_mut().insert("authorization", "Bearer guess".parse().unwrap());
    assert_eq!(client.export(wrong).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let mut right = tonic::Request::new(request(2));
    right.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
    client.export(right).await.unwrap();
    assert_eq!(harness.consumer.spans(), 2);
    stop(harness).await;
}

#[tokio::test]
async fn an_unknown_authenticator_fails_start() {
    let config: spoor_otlp::receiver::OtlpReceiverConfig =
        serde_json::from_value(serde_json::json!({"protocols": {"http": {
            "endpoint": "127.0.0.1:0", "auth": {"authenticator": "basicauth/missing"}
        }}}))
        .unwrap();
    let config = spoor_pipeline::component::Validated::new(config).unwrap();
    let mut receiver = spoor_otlp::receiver::OtlpReceiver::new("otlp", config, spoor_pipeline::Telemetry::new());
    let err = spoor_pipeline::Receiver::start(&mut receiver, Arc::new(TestConsumer::default())).await.unwrap_err();
    assert!(err.to_string().contains("basicauth/missing"), "{err}");
}

/// Sends raw bytes and reads until the server closes the connection or `limit` passes.
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], limit: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await.is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_a_loopback_listener() {
    let harness = start_default().await;
    let addr = harness.addrs.http.unwrap();
    let body = request(1).encode_to_vec();
    let post = |host: &str| {
        let mut bytes = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    };
    let (answer, _) = raw_exchange(addr, &post("evil.example:4318"), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(harness.consumer.spans(), 0);
    let (answer, _) = raw_exchange(addr, &post(&format!("localhost:{}", addr.port())), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (answer, _) = raw_exchange(addr, &post(&addr.to_string()), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop(harness).await;
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_at_the_header_timeout() {
    let harness = start(serde_json::json!({"protocols": {
        "http": {"endpoint": "127.0.0.1:0", "read_header_timeout": "1s"}
    }}))
    .await;
    let mut stream = TcpStream::connect(harness.addrs.http.unwrap()).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    // One header line every 300 ms never completes the head; the server must hang up.
    let mut closed_after = None;
    for i in 0..40 {
        if stream.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            let _ = n;
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the server never closed the slow connection");
    assert!(closed_after < Duration::from_secs(3), "closed after {closed_after:?}");
    stop(harness).await;
}

#[tokio::test]
async fn idle_connections_on_one_port_do_not_stop_the_other() {
    let harness = start(serde_json::json!({"protocols": {
        "grpc": {"endpoint": "127.0.0.1:0"},
        "http": {"endpoint": "127.0.0.1:0", "max_connections": 100, "idle_timeout": "1s"}
    }}))
    .await;
    let http = harness.addrs.http.unwrap();
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(stream) = TcpStream::connect(http).await {
            idle.push(stream);
        }
    }
    let mut client = TraceServiceClient::connect(harness.grpc_url()).await.unwrap();
    client.export(request(1)).await.unwrap();
    // The idle ones are closed after idle_timeout, and HTTP serves again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    post_protobuf(&reqwest::Client::new(), &harness.http_url(), 1).await;
    let mut closed = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, idle.len(), "every idle connection was closed");
    assert_eq!(harness.consumer.spans(), 2);
    stop(harness).await;
}
