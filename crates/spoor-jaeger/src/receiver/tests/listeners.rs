//! The Jaeger gRPC, Thrift HTTP and Zipkin listeners through the server kit: TLS with a CA
//! file, mutual TLS, an authenticator, and `compression_algorithms`. Certificates are made at
//! test time.

use spoor_net::auth::{Authenticator, Authenticators};
use spoor_net::testing::{FixedToken, Pki};
use spoor_pipeline::component::Validated;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::*;
use crate::proto::api_v2::collector_service_client::CollectorServiceClient;

/// A certificate and its key, as PEM.
struct Pem {
    cert: String,
    key: String,
}

impl Pem {
    fn client_of(pki: &Pki) -> Self {
        Self { cert: pki.client_pem.clone(), key: pki.client_key_pem.clone() }
    }
}

/// The three TCP listeners, each with `settings` added to its block and `http_settings` to the
/// HTTP ones'.
struct Listeners {
    jaeger: JaegerReceiver,
    zipkin: ZipkinReceiver,
    recorder: Arc<Recorder>,
}

impl Listeners {
    async fn start(settings: serde_json::Value) -> Self {
        Self::start_with(settings, serde_json::json!({})).await
    }

    async fn start_with(settings: serde_json::Value, http_settings: serde_json::Value) -> Self {
        let with = |blocks: &[&serde_json::Value]| {
            let mut block = serde_json::json!({"endpoint": "127.0.0.1:0"});
            for (key, value) in blocks.iter().flat_map(|b| b.as_object().unwrap()) {
                block[key] = value.clone();
            }
            block
        };
        let (grpc, http) = (with(&[&settings]), with(&[&settings, &http_settings]));
        let jaeger_config: JaegerReceiverConfig =
            serde_json::from_value(serde_json::json!({"protocols": {"grpc": grpc, "thrift_http": http.clone()}}))
                .unwrap();
        let zipkin_config: ZipkinReceiverConfig = serde_json::from_value(http).unwrap();
        let mut authenticators = Authenticators::default();
        let fixed = Authenticator { server: Some(Arc::new(FixedToken("let-me-in".to_owned()))), client: None };
        authenticators.insert("bearertokenauth/test", fixed);
        let recorder = Arc::new(Recorder::default());
        let mut jaeger = JaegerReceiver::new("jaeger", Validated::new(jaeger_config).unwrap(), Telemetry::new())
            .with_authenticators(authenticators.clone());
        jaeger.start(recorder.clone()).await.unwrap();
        let mut zipkin = ZipkinReceiver::new("zipkin", Validated::new(zipkin_config).unwrap(), Telemetry::new())
            .with_authenticators(authenticators);
        zipkin.start(recorder.clone()).await.unwrap();
        Self { jaeger, zipkin, recorder }
    }

    fn thrift_http(&self) -> std::net::SocketAddr {
        self.jaeger.local_addrs().thrift_http.unwrap()
    }

    fn grpc(&self) -> std::net::SocketAddr {
        self.jaeger.local_addrs().grpc.unwrap()
    }

    fn zipkin(&self) -> std::net::SocketAddr {
        self.zipkin.local_addr().unwrap()
    }

    async fn stop(mut self) {
        self.jaeger.shutdown().await;
        self.zipkin.shutdown().await;
    }
}

fn zipkin_json(name: &str) -> String {
    format!(
        r#"[{{"traceId":"0000000000000001","id":"0000000000000002","name":"{name}","localEndpoint":{{"serviceName":"s"}}}}]"#
    )
}

fn post_spans_request(name: &str) -> api_v2::PostSpansRequest {
    let span = api_v2::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        operation_name: name.to_owned(),
        ..Default::default()
    };
    api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            spans: vec![span],
            process: Some(api_v2::Process { service_name: "svc".to_owned(), tags: Vec::new() }),
        }),
    }
}

/// What an HTTPS client gets for posting a span of each HTTP listener: the statuses, or `None`
/// where the connection was refused.
async fn post_over_https(listeners: &Listeners, client: &reqwest::Client, name: &str) -> [Option<u16>; 2] {
    let thrift = encode::batch(&batch(&[name])).unwrap();
    let thrift = client
        .post(format!("https://localhost:{}/api/traces", listeners.thrift_http().port()))
        .header("content-type", "application/x-thrift")
        .body(thrift)
        .send()
        .await;
    let zipkin = client
        .post(format!("https://localhost:{}/api/v2/spans", listeners.zipkin().port()))
        .header("content-type", "application/json")
        .body(zipkin_json(name))
        .send()
        .await;
    [thrift.ok().map(|r| r.status().as_u16()), zipkin.ok().map(|r| r.status().as_u16())]
}

fn https_client(pki: &Pki, listeners: &Listeners, identity: Option<&Pem>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .resolve("localhost", listeners.thrift_http())
        .resolve("localhost", listeners.zipkin());
    if let Some(pem) = identity {
        let both = format!("{}{}", pem.cert, pem.key);
        builder = builder.identity(reqwest::Identity::from_pem(both.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// Whether a `PostSpans` over TLS with `identity` gets through.
async fn post_over_grpcs(pki: &Pki, listeners: &Listeners, identity: Option<&Pem>, name: &str) -> bool {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca_pem)).domain_name("localhost");
    if let Some(pem) = identity {
        tls = tls.identity(Identity::from_pem(&pem.cert, &pem.key));
    }
    let endpoint = Channel::from_shared(format!("https://{}", listeners.grpc())).unwrap().tls_config(tls).unwrap();
    let Ok(channel) = endpoint.connect().await else { return false };
    CollectorServiceClient::new(channel).post_spans(post_spans_request(name)).await.is_ok()
}

#[tokio::test]
async fn tls_with_a_ca_file_and_no_plaintext() {
    let pki = Pki::new("tls");
    let listeners = Listeners::start(serde_json::json!({"tls": pki.server_tls(false)})).await;

    let client = https_client(&pki, &listeners, None);
    assert_eq!(post_over_https(&listeners, &client, "https").await, [Some(202), Some(202)]);
    assert!(post_over_grpcs(&pki, &listeners, None, "grpcs").await);

    // Plaintext to the TLS ports gets nothing through.
    let (status, _) = http_or_zero(listeners.thrift_http(), "/api/traces", "application/x-thrift").await;
    assert_ne!(status, 202);
    let (status, _) = http_or_zero(listeners.zipkin(), "/api/v2/spans", "application/json").await;
    assert_ne!(status, 202);
    let plain = match CollectorServiceClient::connect(format!("http://{}", listeners.grpc())).await {
        Ok(mut client) => client.post_spans(post_spans_request("plain")).await.is_ok(),
        Err(_) => false,
    };
    assert!(!plain, "a plaintext gRPC call is refused");

    let mut names = listeners.recorder.wait_for(3).await;
    names.sort();
    assert_eq!(names, ["grpcs", "https", "https"]);
    listeners.stop().await;
}

/// A plaintext HTTP/1.1 POST that tolerates a peer that answers with no HTTP at all.
async fn http_or_zero(addr: std::net::SocketAddr, path: &str, content_type: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = zipkin_json("plain");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response)
}

#[tokio::test]
async fn mutual_tls_takes_only_clients_of_the_client_ca() {
    let pki = Pki::new("mtls");
    let listeners = Listeners::start(serde_json::json!({"tls": pki.server_tls(true)})).await;

    let anonymous = https_client(&pki, &listeners, None);
    assert_eq!(post_over_https(&listeners, &anonymous, "anonymous").await, [None, None]);
    // A client certificate from a CA the servers do not trust.
    let stranger = Pem::client_of(&Pki::new("stranger"));
    let stranger = https_client(&pki, &listeners, Some(&stranger));
    assert_eq!(post_over_https(&listeners, &stranger, "stranger").await, [None, None]);
    assert!(!post_over_grpcs(&pki, &listeners, None, "anonymous").await);
    assert!(!post_over_grpcs(&pki, &listeners, Some(&Pem::client_of(&Pki::new("stranger"))), "stranger").await);

    let client = Pem::client_of(&pki);
    let client = https_client(&pki, &listeners, Some(&client));
    assert_eq!(post_over_https(&listeners, &client, "client").await, [Some(202), Some(202)]);
    assert!(post_over_grpcs(&pki, &listeners, Some(&Pem::client_of(&pki)), "client").await);
    assert_eq!(listeners.recorder.wait_for(3).await, ["client"; 3]);
    listeners.stop().await;
}

#[tokio::test]
async fn an_authenticator_refuses_missing_and_wrong_credentials() {
    let listeners = Listeners::start(serde_json::json!({"auth": {"authenticator": "bearertokenauth/test"}})).await;
    let thrift = encode::batch(&batch(&["authenticated"])).unwrap();
    let zipkin = zipkin_json("authenticated");
    for (token, expected) in [(None, 401), (Some("Bearer guess"), 401), (Some("Bearer let-me-in"), 202)] {
        let mut headers = vec![("content-type", "application/x-thrift")];
        headers.extend(token.map(|token| ("authorization", token)));
        let (status, _) = http(listeners.thrift_http(), "POST", "/api/traces", &headers, &thrift).await;
        assert_eq!(status, expected, "thrift_http with {token:?}");
        headers[0].1 = "application/json";
        let (status, _) = http(listeners.zipkin(), "POST", "/api/v2/spans", &headers, zipkin.as_bytes()).await;
        assert_eq!(status, expected, "zipkin with {token:?}");
    }

    let mut client = CollectorServiceClient::connect(format!("http://{}", listeners.grpc())).await.unwrap();
    for token in [None, Some("Bearer guess")] {
        let mut request = tonic::Request::new(post_spans_request("refused"));
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", token.parse().unwrap());
        }
        let status = client.post_spans(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{token:?}: {status}");
    }
    let mut request = tonic::Request::new(post_spans_request("authenticated"));
    request.metadata_mut().insert("authorization", "Bearer let-me-in".parse().unwrap());
    client.post_spans(request).await.unwrap();

    assert_eq!(listeners.recorder.wait_for(3).await, ["authenticated"; 3]);
    listeners.stop().await;
}

#[tokio::test]
async fn only_the_configured_compression_algorithms_are_read() {
    let listeners =
        Listeners::start_with(serde_json::json!({}), serde_json::json!({"compression_algorithms": ["zstd"]})).await;
    let thrift = encode::batch(&batch(&["zstd"])).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&thrift).unwrap();
    let gzipped = gz.finish().unwrap();
    let content = |encoding| [("content-type", "application/x-thrift"), ("content-encoding", encoding)];
    let addr = listeners.thrift_http();
    assert_eq!(http(addr, "POST", "/api/traces", &content("gzip"), &gzipped).await.0, 400);
    let zstd = zstd::encode_all(thrift.as_slice(), 0).unwrap();
    assert_eq!(http(addr, "POST", "/api/traces", &content("zstd"), &zstd).await.0, 202);
    assert_eq!(http(addr, "POST", "/api/traces", &[("content-type", "application/x-thrift")], &thrift).await.0, 202);
    assert_eq!(listeners.recorder.wait_for(2).await, ["zstd"; 2]);
    listeners.stop().await;
}

#[tokio::test]
async fn include_metadata_carries_the_request_headers_with_the_batch() {
    let listeners = Listeners::start(serde_json::json!({"include_metadata": true})).await;
    let thrift = encode::batch(&batch(&["thrift"])).unwrap();
    let headers = [("content-type", "application/x-thrift"), ("x-tenant", "acme")];
    assert_eq!(http(listeners.thrift_http(), "POST", "/api/traces", &headers, &thrift).await.0, 202);
    let headers = [("content-type", "application/json"), ("x-tenant", "acme")];
    let zipkin = zipkin_json("zipkin");
    assert_eq!(http(listeners.zipkin(), "POST", "/api/v2/spans", &headers, zipkin.as_bytes()).await.0, 202);
    let mut client = CollectorServiceClient::connect(format!("http://{}", listeners.grpc())).await.unwrap();
    let mut request = tonic::Request::new(post_spans_request("grpc"));
    request.metadata_mut().insert("x-tenant", "acme".parse().unwrap());
    client.post_spans(request).await.unwrap();

    assert_eq!(listeners.recorder.wait_for(3).await.len(), 3);
    for batch in listeners.recorder.batches.lock().unwrap().iter() {
        assert_eq!(batch.metadata().get("x-tenant"), ["acme"]);
    }
    listeners.stop().await;
}
