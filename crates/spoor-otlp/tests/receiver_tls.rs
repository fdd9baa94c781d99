//! TLS, mutual TLS and certificate reload on both transports, with certificates made at test
//! time.

mod receiver_common;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use receiver_common::*;
use spoor_net::testing::Pki;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

async fn start_tls(pki: &Pki, mutual: bool) -> Harness {
    start(serde_json::json!({"protocols": {
        "grpc": {"endpoint": "127.0.0.1:0", "tls": pki.server_tls(mutual)},
        "http": {"endpoint": "127.0.0.1:0", "tls": pki.server_tls(mutual)}
    }}))
    .await
}

fn https_client(pki: &Pki, harness: &Harness, identity: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .resolve("localhost", harness.addrs.http.unwrap());
    if identity {
        let pem = format!("{}{}", pki.client_pem, pki.client_key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn https_url(harness: &Harness) -> String {
    format!("https://localhost:{}/v1/traces", harness.addrs.http.unwrap().port())
}

async fn grpc_client(
    pki: &Pki,
    harness: &Harness,
    identity: bool,
) -> Result<TraceServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca_pem)).domain_name("localhost");
    if identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(&pki.client_pem, &pki.client_key_pem));
    }
    let channel = Channel::from_shared(format!("https://{}", harness.addrs.grpc.unwrap()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(TraceServiceClient::new(channel))
}

#[tokio::test]
async fn serves_https_and_grpcs() {
    let pki = Pki::new("tls");
    let harness = start_tls(&pki, false).await;

    post_protobuf(&https_client(&pki, &harness, false), &https_url(&harness), 2).await;

    // Plaintext to a TLS port does not get through.
    let plain = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", harness.addrs.http.unwrap()))
        .header("content-type", "application/x-protobuf")
        .body(request(1).encode_to_vec())
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    grpc_client(&pki, &harness, false).await.unwrap().export(request(3)).await.unwrap();
    assert_eq!(harness.consumer.spans(), 5);
    stop(harness).await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    let pki = Pki::new("mtls");
    let harness = start_tls(&pki, true).await;

    let anonymous = https_client(&pki, &harness, false)
        .post(https_url(&harness))
        .header("content-type", "application/x-protobuf")
        .body(request(1).encode_to_vec())
        .send()
        .await;
    assert!(anonymous.is_err(), "a client without a certificate is refused");

    let response = https_client(&pki, &harness, true)
        .post(https_url(&harness))
        .header("content-type", "application/x-protobuf")
        .body(request(1).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    let anonymous = match grpc_client(&pki, &harness, false).await {
        Ok(mut client) => client.export(request(1)).await.is_err(),
        Err(_) => true,
    };
    assert!(anonymous, "a gRPC client without a certificate is refused");
    grpc_client(&pki, &harness, true).await.unwrap().export(request(1)).await.unwrap();
    assert_eq!(harness.consumer.spans(), 2);
    stop(harness).await;
}

#[tokio::test]
async fn bad_certificate_paths_fail_start() {
    let config = serde_json::from_value(serde_json::json!({"protocols": {"http": {
        "endpoint": "127.0.0.1:0",
        "tls": {"cert_file": "/nonexistent/server.pem", "key_file": "/nonexistent/server.key"}
    }}}))
    .unwrap();
    let config = spoor_pipeline::component::Validated::new(config).unwrap();
    let mut receiver = spoor_otlp::receiver::OtlpReceiver::new("otlp", config, spoor_pipeline::Telemetry::new());
    let consumer = std::sync::Arc::new(TestConsumer::default());
    let err = spoor_pipeline::Receiver::start(&mut receiver, consumer).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/server.pem"), "{err}");
}

#[tokio::test]
async fn a_renewed_certificate_is_served_after_reload_interval() {
    let old = Pki::new("reload-old");
    let renewed = Pki::new("reload-new");
    let mut tls = old.server_tls(false);
    tls["reload_interval"] = "100ms".into();
    let harness = start(serde_json::json!({"protocols": {
        "grpc": {"endpoint": "127.0.0.1:0", "tls": tls.clone()},
        "http": {"endpoint": "127.0.0.1:0", "tls": tls}
    }}))
    .await;
    let send = |pki: &Pki| {
        https_client(pki, &harness, false)
            .post(https_url(&harness))
            .header("content-type", "application/x-protobuf")
            .body(request(1).encode_to_vec())
            .send()
    };
    assert!(send(&old).await.unwrap().status().is_success());
    assert!(send(&renewed).await.is_err(), "the renewed CA does not know the old certificate");

    old.install_server_certificate_of(&renewed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(send(&renewed).await.unwrap().status().is_success(), "the renewed certificate is served");
    assert!(send(&old).await.is_err(), "the old certificate is no longer served");
    grpc_client(&renewed, &harness, false).await.unwrap().export(request(1)).await.unwrap();
    assert_eq!(harness.consumer.spans(), 3);
    stop(harness).await;
}
