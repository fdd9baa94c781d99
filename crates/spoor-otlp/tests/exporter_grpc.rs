//! The `otlp` exporter against a real tonic `TraceService` on loopback.

mod exporter_common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exporter_common::sample_batch;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use prost::Message;
use spoor_otlp::exporter::{OtlpGrpcExporter, OtlpGrpcExporterConfig};
use spoor_pipeline::otlp::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_pipeline::{ExportError, Exporter, TraceBatch};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// Every test finishes well within this; it only stops a hang from hanging CI.
const TEST_DEADLINE: Duration = Duration::from_secs(30);

/// What the server saw of one call.
#[derive(Debug, Clone)]
struct Received {
    metadata: tonic::metadata::MetadataMap,
    request: ExportTraceServiceRequest,
}

#[derive(Clone)]
struct Recorder {
    received: Arc<Mutex<Vec<Received>>>,
    reply: Arc<Mutex<Result<ExportTraceServiceResponse, Status>>>,
}

impl Recorder {
    fn new() -> Self {
        Self { received: Arc::default(), reply: Arc::new(Mutex::new(Ok(ExportTraceServiceResponse::default()))) }
    }

    fn reply_with(&self, reply: Result<ExportTraceServiceResponse, Status>) {
        *self.reply.lock().unwrap() = reply;
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.received.lock().unwrap().push(Received { metadata, request });
        self.reply.lock().unwrap().clone().map(Response::new)
    }
}

async fn start_server(recorder: Recorder, tls: Option<ServerTlsConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(recorder)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).unwrap();
    }
    tokio::spawn(builder.add_service(service).serve_with_incoming(TcpListenerStream::new(listener)));
    addr
}

fn exporter(config: serde_json::Value) -> OtlpGrpcExporter {
    let config: OtlpGrpcExporterConfig = serde_json::from_value(config).unwrap();
    OtlpGrpcExporter::new("otlp/test", &config).unwrap()
}

async fn export(exporter: &OtlpGrpcExporter, batch: &TraceBatch) -> Result<(), ExportError> {
    tokio::time::timeout(TEST_DEADLINE, exporter.export(batch)).await.expect("export hung")
}

fn header<'a>(received: &'a Received, name: &str) -> Option<&'a str> {
    received.metadata.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn delivers_spans_intact_with_gzip_and_headers() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone(), None).await;
    let exporter = exporter(serde_json::json!({
        "endpoint": addr.to_string(),
        "tls": {"insecure": true},
        "headers": {"X-Tenant": "acme", "x-number": 42},
    }));
    let batch = sample_batch();
    export(&exporter, &batch).await.unwrap();

    let received = recorder.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].request, batch.to_request());
    assert_eq!(header(&received[0], "grpc-encoding"), Some("gzip"));
    assert_eq!(header(&received[0], "x-tenant"), Some("acme"));
    assert_eq!(header(&received[0], "x-number"), Some("42"));
    let agent = header(&received[0], "user-agent").unwrap_or_default();
    assert!(agent.starts_with("spoor/"), "{agent}");
}

#[tokio::test]
async fn zstd_and_no_compression() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone(), None).await;
    for (compression, expected) in [("zstd", Some("zstd")), ("none", None)] {
        let exporter = exporter(serde_json::json!({
            "endpoint": format!("http://{addr}"),
            "compression": compression,
        }));
        export(&exporter, &sample_batch()).await.unwrap();
        let last = recorder.received().pop().unwrap();
        assert_eq!(header(&last, "grpc-encoding"), expected, "{compression}");
        assert_eq!(last.request, sample_batch().to_request());
    }
}

#[tokio::test]
async fn a_batch_kept_as_received_is_sent_as_received() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone(), None).await;
    let exporter = exporter(serde_json::json!({"endpoint": format!("http://{addr}"), "compression": "none"}));
    let body = bytes::Bytes::from(sample_batch().encode_request());
    let (kept, _) = TraceBatch::from_encoded_request(&body).unwrap();
    let mut twice = kept.clone();
    twice.append(kept);
    export(&exporter, &twice).await.unwrap();
    let mut expected = sample_batch().to_request();
    expected.resource_spans.extend(sample_batch().to_request().resource_spans);
    assert_eq!(recorder.received().pop().unwrap().request, expected);
    assert!(twice.is_encoded());
}

#[tokio::test]
async fn partial_success_is_not_an_error() {
    let recorder = Recorder::new();
    recorder.reply_with(Ok(ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "one span too old".to_owned(),
        }),
    }));
    let addr = start_server(recorder.clone(), None).await;
    let exporter = exporter(serde_json::json!({"endpoint": format!("http://{addr}")}));
    assert_eq!(export(&exporter, &sample_batch()).await, Ok(()));
    assert_eq!(recorder.received().len(), 1);
}

/// `google.rpc.Status` with a `RetryInfo`, as `grpc-status-details-bin` carries it.
fn status_with_retry_delay(code: tonic::Code, seconds: i64) -> Status {
    #[derive(Clone, PartialEq, Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<ProtoAny>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct ProtoAny {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<ProtoDuration>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct ProtoDuration {
        #[prost(int64, tag = "1")]
        seconds: i64,
        #[prost(int32, tag = "2")]
        nanos: i32,
    }
    let details = RpcStatus {
        code: code as i32,
        message: "slow down".to_owned(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
            value: RetryInfo { retry_delay: Some(ProtoDuration { seconds, nanos: 0 }) }.encode_to_vec(),
        }],
    };
    Status::with_details(code, "slow down", details.encode_to_vec().into())
}

#[tokio::test]
async fn server_statuses_are_classified_over_the_wire() {
    let recorder = Recorder::new();
    let addr = start_server(recorder.clone(), None).await;
    let exporter = exporter(serde_json::json!({"endpoint": format!("http://{addr}")}));

    recorder.reply_with(Err(Status::unavailable("overloaded")));
    assert!(matches!(export(&exporter, &sample_batch()).await, Err(ExportError::Retryable { retry_after: None, .. })));

    recorder.reply_with(Err(Status::invalid_argument("bad span")));
    match export(&exporter, &sample_batch()).await {
        Err(ExportError::Permanent(message)) => assert!(message.contains("bad span"), "{message}"),
        other => panic!("{other:?}"),
    }

    recorder.reply_with(Err(Status::resource_exhausted("full")));
    assert!(matches!(export(&exporter, &sample_batch()).await, Err(ExportError::Permanent(_))));

    recorder.reply_with(Err(status_with_retry_delay(tonic::Code::ResourceExhausted, 3)));
    assert!(matches!(
        export(&exporter, &sample_batch()).await,
        Err(ExportError::Retryable { retry_after: Some(delay), .. }) if delay == Duration::from_secs(3)
    ));
}

#[tokio::test]
async fn unresolvable_host_is_retryable_and_construction_succeeds() {
    // The seed config's endpoint only resolves inside Kubernetes; both the TLS default and
    // plaintext must build and then fail each export with a retryable error.
    for tls in [serde_json::json!({}), serde_json::json!({"insecure": true})] {
        let exporter = exporter(serde_json::json!({
            "endpoint": "nonexistent.invalid:4317",
            "tls": tls,
            "timeout": "3s",
        }));
        match export(&exporter, &sample_batch()).await {
            Err(ExportError::Retryable { message, .. }) => {
                assert!(message.contains("nonexistent.invalid"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn refused_connection_is_retryable_and_recovers_when_the_server_appears() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let exporter = exporter(serde_json::json!({
        "endpoint": format!("http://{addr}"),
        "timeout": "2s",
    }));
    assert!(matches!(export(&exporter, &sample_batch()).await, Err(ExportError::Retryable { .. })));

    // The lazy channel reconnects: once a server listens there, exports go through.
    let recorder = Recorder::new();
    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(recorder.clone()).accept_compressed(CompressionEncoding::Gzip))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let mut last = None;
    for _ in 0..50 {
        let result = export(&exporter, &sample_batch()).await;
        if result.is_ok() {
            last = None;
            break;
        }
        last = Some(result);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, None);
    assert!(!recorder.received().is_empty());
}

#[tokio::test]
async fn slow_server_hits_the_timeout_as_retryable() {
    #[derive(Clone)]
    struct Slow;
    #[tonic::async_trait]
    impl TraceService for Slow {
        async fn export(
            &self,
            _request: Request<ExportTraceServiceRequest>,
        ) -> Result<Response<ExportTraceServiceResponse>, Status> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(Response::new(ExportTraceServiceResponse::default()))
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(Slow).accept_compressed(CompressionEncoding::Gzip))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let exporter = exporter(serde_json::json!({
        "endpoint": format!("http://{addr}"),
        "timeout": "200ms",
    }));
    let started = std::time::Instant::now();
    let result = export(&exporter, &sample_batch()).await;
    assert!(matches!(result, Err(ExportError::Retryable { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn tls_with_ca_and_server_name_override() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.signing_key.serialize_pem();
    let recorder = Recorder::new();
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(&cert_pem, &key_pem));
    let addr = start_server(recorder.clone(), Some(tls)).await;

    // Dial the IP, verify the certificate's name.
    let verified = exporter(serde_json::json!({
        "endpoint": addr.to_string(),
        "tls": {"ca_pem": cert_pem, "server_name_override": "localhost"},
    }));
    export(&verified, &sample_batch()).await.unwrap();

    let skipping = exporter(serde_json::json!({
        "endpoint": format!("https://{addr}"),
        "tls": {"insecure_skip_verify": true},
    }));
    export(&skipping, &sample_batch()).await.unwrap();
    assert_eq!(recorder.received().len(), 2);

    // The web PKI roots do not trust a self-signed certificate.
    let untrusted = exporter(serde_json::json!({
        "endpoint": addr.to_string(),
        "tls": {"server_name_override": "localhost"},
        "timeout": "3s",
    }));
    assert!(matches!(export(&untrusted, &sample_batch()).await, Err(ExportError::Retryable { .. })));
    assert_eq!(recorder.received().len(), 2);
}
