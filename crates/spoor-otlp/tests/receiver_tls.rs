//! TLS and mutual TLS on both transports, with certificates made at test time.

mod receiver_common;

use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use receiver_common::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client_pem: String,
    client_key_pem: String,
}

impl Pki {
    /// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all
    /// written as PEM files into a fresh directory.
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "spoor-otlp-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "spoor test ca");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, common_name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, common_name);
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) = leaf(vec!["localhost".into(), "127.0.0.1".into()], "localhost");
        let (client_pem, client_key_pem) = leaf(vec!["client".into()], "client");
        let ca_pem = ca_cert.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        std::fs::write(dir.join("server.pem"), &server_pem).unwrap();
        std::fs::write(dir.join("server.key"), &server_key_pem).unwrap();
        Self { dir, ca_pem, client_pem, client_key_pem }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn server_tls(&self, mutual: bool) -> serde_json::Value {
        let mut tls = serde_json::json!({
            "cert_file": self.path("server.pem"),
            "key_file": self.path("server.key"),
        });
        if mutual {
            tls["client_ca_file"] = self.path("ca.pem").into();
        }
        tls
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

    let response = https_client(&pki, &harness, false)
        .post(https_url(&harness))
        .header("content-type", "application/x-protobuf")
        .body(request(2).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);

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
