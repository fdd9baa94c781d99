//! Shared helpers for the receiver tests: a recording consumer, a receiver on loopback port 0
//! and sample requests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use spoor_otlp::receiver::{LocalAddrs, OtlpReceiver, OtlpReceiverConfig};
use spoor_pipeline::component::Validated;
use spoor_pipeline::{ConsumeError, Receiver, Telemetry, TraceBatch, TracesConsumer};

pub const ACCEPT: u8 = 0;
/// `consume` refuses with a retry delay.
pub const REFUSE: u8 = 1;
/// `check_admission` refuses, so the body is never read.
pub const REFUSE_ADMISSION: u8 = 2;
/// `consume` rejects the data as permanently bad.
pub const PERMANENT: u8 = 3;

#[derive(Default)]
pub struct TestConsumer {
    pub batches: Mutex<Vec<TraceBatch>>,
    pub mode: AtomicU8,
    pub delay: Mutex<Option<Duration>>,
}

impl TestConsumer {
    pub fn spans(&self) -> usize {
        self.batches.lock().unwrap().iter().map(TraceBatch::span_count).sum()
    }

    pub fn all_spans(&self) -> Vec<Span> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.resource_spans().to_vec())
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    pub fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

#[async_trait]
impl TracesConsumer for TestConsumer {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        let delay = *self.delay.lock().unwrap();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match self.mode.load(Ordering::SeqCst) {
            REFUSE => Err(ConsumeError::Refused {
                reason: "pipeline is full".to_owned(),
                retry_after: Some(Duration::from_secs(3)),
            }),
            PERMANENT => Err(ConsumeError::Permanent("bad data".to_owned())),
            _ => {
                self.batches.lock().unwrap().push(batch);
                Ok(())
            }
        }
    }

    fn check_admission(&self) -> Result<(), ConsumeError> {
        if self.mode.load(Ordering::SeqCst) == REFUSE_ADMISSION {
            return Err(ConsumeError::refused("memory limit reached"));
        }
        Ok(())
    }
}

pub struct Harness {
    pub receiver: OtlpReceiver,
    pub consumer: Arc<TestConsumer>,
    pub addrs: LocalAddrs,
    pub telemetry: Telemetry,
}

impl Harness {
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.addrs.grpc.unwrap())
    }

    pub fn http_url(&self) -> String {
        format!("http://{}/v1/traces", self.addrs.http.unwrap())
    }
}

/// Starts a receiver from `config` (a JSON value of the YAML shape).
pub async fn start(config: serde_json::Value) -> Harness {
    start_with(config, spoor_net::auth::Authenticators::default()).await
}

/// Starts a receiver whose `auth.authenticator` keys may name `authenticators`.
pub async fn start_with(config: serde_json::Value, authenticators: spoor_net::auth::Authenticators) -> Harness {
    let config: OtlpReceiverConfig = serde_json::from_value(config).unwrap();
    let telemetry = Telemetry::new();
    let mut receiver = OtlpReceiver::new("otlp", Validated::new(config).unwrap(), telemetry.clone())
        .with_authenticators(authenticators);
    let consumer = Arc::new(TestConsumer::default());
    receiver.start(consumer.clone()).await.unwrap();
    let addrs = receiver.local_addrs();
    Harness { receiver, consumer, addrs, telemetry }
}

/// Both protocols on loopback with free ports.
pub async fn start_default() -> Harness {
    start(serde_json::json!({"protocols": {
        "grpc": {"endpoint": "127.0.0.1:0"},
        "http": {"endpoint": "127.0.0.1:0"}
    }}))
    .await
}

pub fn span(trace_id: Vec<u8>, span_id: Vec<u8>, name: &str) -> Span {
    Span {
        trace_id,
        span_id,
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        ..Default::default()
    }
}

/// `count` valid spans in one resource and scope.
pub fn request(count: usize) -> ExportTraceServiceRequest {
    request_of((0..count).map(|i| span(vec![0xab; 16], vec![i as u8 + 1; 8], &format!("span-{i}"))).collect())
}

pub fn request_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// `google.rpc.Status`, to read error bodies.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// POSTs `spans` spans as OTLP protobuf and expects 200.
pub async fn post_protobuf(client: &reqwest::Client, url: &str, spans: usize) {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&request(spans)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

/// Polls `check` every 10 ms for at most `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

pub async fn stop(mut harness: Harness) {
    harness.receiver.shutdown().await;
}

pub fn receiver_trait_object(receiver: OtlpReceiver) -> Box<dyn Receiver> {
    Box::new(receiver)
}
