//! The `otlphttp` exporter against a small axum server on loopback that records requests.

mod exporter_common;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use exporter_common::sample_batch;
use prost::Message;
use spoor_otlp::exporter::{OtlpHttpExporter, OtlpHttpExporterConfig};
use spoor_pipeline::otlp::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_pipeline::{ExportError, Exporter};
use tokio::net::TcpListener;

const TEST_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn decompressed(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.header("content-encoding") {
            Some("gzip") => {
                flate2::read::GzDecoder::new(self.body.as_slice()).read_to_end(&mut out).unwrap();
            }
            Some("zstd") => out = zstd::decode_all(self.body.as_slice()).unwrap(),
            Some("snappy") => out = snap::raw::Decoder::new().decompress_vec(&self.body).unwrap(),
            None => out = self.body.clone(),
            Some(other) => panic!("unexpected encoding {other}"),
        }
        out
    }

    fn request(&self) -> ExportTraceServiceRequest {
        let body = self.decompressed();
        match self.header("content-type") {
            Some("application/x-protobuf") => ExportTraceServiceRequest::decode(body.as_slice()).unwrap(),
            Some("application/json") => serde_json::from_slice(&body).unwrap(),
            other => panic!("unexpected content type {other:?}"),
        }
    }
}

/// The reply the server gives: status, extra headers, body.
type Reply = (StatusCode, Vec<(&'static str, String)>, Vec<u8>);

#[derive(Clone)]
struct Recorder {
    requests: Arc<Mutex<Vec<Recorded>>>,
    reply: Arc<Mutex<Reply>>,
    delay: Arc<Mutex<Duration>>,
}

impl Recorder {
    fn new() -> Self {
        Self {
            requests: Arc::default(),
            reply: Arc::new(Mutex::new((StatusCode::OK, vec![], vec![]))),
            delay: Arc::default(),
        }
    }

    fn reply_with(&self, status: u16, headers: Vec<(&'static str, String)>, body: Vec<u8>) {
        *self.reply.lock().unwrap() = (StatusCode::from_u16(status).unwrap(), headers, body);
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn record(
    State(recorder): State<Recorder>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    recorder.requests.lock().unwrap().push(Recorded { path: uri.path().to_owned(), headers, body: body.to_vec() });
    let delay = *recorder.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (status, extra, body) = recorder.reply.lock().unwrap().clone();
    let mut response_headers = HeaderMap::new();
    for (name, value) in extra {
        response_headers.insert(name, value.parse().unwrap());
    }
    (status, response_headers, body)
}

async fn start_server(recorder: Recorder) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/v1/traces", post(record)).route("/custom/path", post(record)).with_state(recorder);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn exporter(config: serde_json::Value) -> OtlpHttpExporter {
    let config: OtlpHttpExporterConfig = serde_json::from_value(config).unwrap();
    OtlpHttpExporter::new("otlphttp/test", &config).unwrap()
}

async fn export(exporter: &OtlpHttpExporter) -> Result<(), ExportError> {
    tokio::time::timeout(TEST_DEADLINE, exporter.export(&sample_batch())).await.expect("export hung")
}

#[tokio::test]
async fn posts_gzipped_protobuf_with_headers() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone()).await;
    let exporter = exporter(serde_json::json!({
        "endpoint": format!("http://{addr}/"),
        "headers": {"X-Scope-OrgID": "tenant-1", "x-number": 5},
    }));
    assert_eq!(exporter.url(), format!("http://{addr}/v1/traces"));
    export(&exporter).await.unwrap();

    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("x-scope-orgid"), Some("tenant-1"));
    assert_eq!(request.header("x-number"), Some("5"));
    assert!(request.header("user-agent").unwrap_or_default().starts_with("spoor/"));
    assert_eq!(request.request(), sample_batch().to_request());
}

#[tokio::test]
async fn json_zstd_snappy_and_uncompressed_bodies_arrive_intact() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone()).await;
    let cases = [
        ("json", "zstd", Some("zstd")),
        ("proto", "zstd", Some("zstd")),
        ("proto", "snappy", Some("snappy")),
        ("json", "none", None),
    ];
    for (encoding, compression, expected) in cases {
        let exporter = exporter(serde_json::json!({
            "endpoint": format!("http://{addr}"),
            "encoding": encoding,
            "compression": compression,
        }));
        export(&exporter).await.unwrap();
        let last = recorder.requests().pop().unwrap();
        assert_eq!(last.header("content-encoding"), expected, "{encoding}/{compression}");
        assert_eq!(last.request(), sample_batch().to_request(), "{encoding}/{compression}");
    }
}

#[tokio::test]
async fn traces_endpoint_is_used_as_is() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone()).await;
    let exporter = exporter(serde_json::json!({
        "endpoint": "http://ignored.invalid:4318",
        "traces_endpoint": format!("http://{addr}/custom/path"),
    }));
    export(&exporter).await.unwrap();
    assert_eq!(recorder.requests()[0].path, "/custom/path");
}

#[tokio::test]
async fn partial_success_is_accepted() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone()).await;
    let exporter = exporter(serde_json::json!({"endpoint": format!("http://{addr}")}));
    let response = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess { rejected_spans: 2, error_message: "too old".to_owned() }),
    };
    recorder.reply_with(200, vec![("content-type", "application/x-protobuf".to_owned())], response.encode_to_vec());
    assert_eq!(export(&exporter).await, Ok(()));
    recorder.reply_with(
        200,
        vec![("content-type", "application/json".to_owned())],
        br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#.to_vec(),
    );
    assert_eq!(export(&exporter).await, Ok(()));
    recorder.reply_with(200, vec![("content-type", "application/x-protobuf".to_owned())], b"\xff\xff garbage".to_vec());
    assert_eq!(export(&exporter).await, Ok(()));
}

#[tokio::test]
async fn statuses_and_retry_after_are_classified() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone()).await;
    let exporter = exporter(serde_json::json!({"endpoint": format!("http://{addr}")}));

    recorder.reply_with(429, vec![("retry-after", "7".to_owned())], vec![]);
    assert!(matches!(
        export(&exporter).await,
        Err(ExportError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(7)
    ));

    let in_a_minute = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
    recorder.reply_with(503, vec![("retry-after", in_a_minute)], vec![]);
    match export(&exporter).await {
        Err(ExportError::Retryable { retry_after: Some(delay), .. }) => {
            assert!(delay > Duration::from_secs(50) && delay <= Duration::from_secs(60), "{delay:?}");
        }
        other => panic!("{other:?}"),
    }

    for status in [502, 503, 504] {
        recorder.reply_with(status, vec![], vec![]);
        assert!(matches!(export(&exporter).await, Err(ExportError::Retryable { retry_after: None, .. })), "{status}");
    }

    // A `google.rpc.Status` body lends its message to the error.
    #[derive(Clone, PartialEq, Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    let body = RpcStatus { code: 3, message: "span name is empty".to_owned() }.encode_to_vec();
    recorder.reply_with(400, vec![("content-type", "application/x-protobuf".to_owned())], body);
    match export(&exporter).await {
        Err(ExportError::Permanent(message)) => {
            assert!(message.contains("HTTP Status Code 400"), "{message}");
            assert!(message.contains("span name is empty"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    for status in [401, 403, 404, 413, 500] {
        recorder.reply_with(status, vec![], vec![]);
        assert!(matches!(export(&exporter).await, Err(ExportError::Permanent(_))), "{status}");
    }
}

#[tokio::test]
async fn unresolvable_and_refused_endpoints_are_retryable() {
    let unresolvable = exporter(serde_json::json!({
        "endpoint": "http://nonexistent.invalid:4318",
        "timeout": "3s",
    }));
    match export(&unresolvable).await {
        Err(ExportError::Retryable { message, .. }) => {
            assert!(message.contains("nonexistent.invalid"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let refused = exporter(serde_json::json!({"endpoint": format!("http://{addr}")}));
    assert!(matches!(export(&refused).await, Err(ExportError::Retryable { .. })));
}

#[tokio::test]
async fn slow_server_hits_the_timeout_as_retryable() {
    let recorder = Recorder::new();
    *recorder.delay.lock().unwrap() = Duration::from_secs(5);
    let addr = start_server(recorder.clone()).await;
    let exporter = exporter(serde_json::json!({
        "endpoint": format!("http://{addr}"),
        "timeout": "200ms",
    }));
    let started = std::time::Instant::now();
    assert!(matches!(export(&exporter).await, Err(ExportError::Retryable { .. })));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// An HTTPS server: rustls over the same recording router.
async fn start_tls_server(recorder: Recorder, cert_pem: &str, key_pem: &str) -> SocketAddr {
    let settings = spoor_net::tls::TlsSettings {
        cert_pem: Some(cert_pem.to_owned()),
        key_pem: Some(key_pem.to_owned()),
        ..Default::default()
    };
    let config = settings.server_config(&[b"http/1.1"]).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/v1/traces", post(record)).with_state(recorder);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_with_custom_ca() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.signing_key.serialize_pem();
    let recorder = Recorder::new();
    let addr = start_tls_server(recorder.clone(), &cert_pem, &key_pem).await;

    let trusted = exporter(serde_json::json!({
        "endpoint": format!("https://localhost:{}", addr.port()),
        "tls": {"ca_pem": cert_pem},
    }));
    export(&trusted).await.unwrap();
    assert_eq!(recorder.requests()[0].request(), sample_batch().to_request());

    let untrusted = exporter(serde_json::json!({
        "endpoint": format!("https://localhost:{}", addr.port()),
        "timeout": "3s",
    }));
    assert!(matches!(export(&untrusted).await, Err(ExportError::Retryable { .. })));
    assert_eq!(recorder.requests().len(), 1);
}
