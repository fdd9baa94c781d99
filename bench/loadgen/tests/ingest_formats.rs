//! The Jaeger and Zipkin encodings of the generated requests: they decode with spoor's own
//! decoders into the same spans (IDs, parents, names, counts), agent datagrams fit in UDP, and
//! the generator drives spoor's real Jaeger and Zipkin receivers over loopback with every span
//! accounted for, by the receivers' pipeline and by their accepted-spans metrics.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use spoor_jaeger::proto::api_v2;
use spoor_jaeger::receiver::{
    HttpServerConfig, JaegerProtocols, JaegerReceiver, JaegerReceiverConfig, ThriftBinaryConfig, ThriftCompactConfig,
    ZipkinReceiver, ZipkinReceiverConfig,
};
use spoor_jaeger::thrift::{
    AgentMessage, Protocol as ThriftProtocol, decode_agent_datagram, decode_batch, decode_zipkin_spans,
};
use spoor_jaeger::translate;
use spoor_loadgen::formats::{Format, MAX_DATAGRAM_BYTES, encode_request};
use spoor_loadgen::payload::{PayloadConfig, PayloadPool, generate_request};
use spoor_net::{GrpcServerSettings, HttpServerSettings};
use spoor_pipeline::component::Validated;
use spoor_pipeline::{ConsumeError, Receiver, Telemetry, TraceBatch, TracesConsumer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

const LOADGEN: &str = env!("CARGO_BIN_EXE_spoor-loadgen");
const NOW: u64 = 1_764_000_000_000_000_000;

const FORMATS: [Format; 9] = [
    Format::Otlp,
    Format::JaegerProto,
    Format::JaegerThriftHttp,
    Format::AgentCompact,
    Format::AgentBinary,
    Format::ZipkinJson,
    Format::ZipkinProto,
    Format::ZipkinV1Json,
    Format::ZipkinV1Thrift,
];

fn requests(count: usize, spans: usize) -> Vec<ExportTraceServiceRequest> {
    let mut rng = StdRng::seed_from_u64(3);
    (0..count).map(|index| generate_request(&mut rng, index, spans, NOW)).collect()
}

/// Decodes one body with spoor's decoder for its format and translates it to OTLP.
fn decode(format: Format, body: &[u8]) -> Vec<ResourceSpans> {
    match format {
        Format::Otlp => ExportTraceServiceRequest::decode(body).unwrap().resource_spans,
        Format::JaegerProto => {
            let request = api_v2::PostSpansRequest::decode(body).unwrap();
            translate::proto_to_otlp(request.batch.unwrap()).unwrap()
        }
        Format::JaegerThriftHttp => translate::thrift_to_otlp(decode_batch(body).unwrap()),
        Format::AgentCompact | Format::AgentBinary => {
            let protocol =
                if format == Format::AgentCompact { ThriftProtocol::Compact } else { ThriftProtocol::Binary };
            match decode_agent_datagram(body, protocol).unwrap() {
                AgentMessage::Batch(batch) => translate::thrift_to_otlp(batch),
                AgentMessage::ZipkinBatch(_) => panic!("expected emitBatch"),
            }
        }
        Format::ZipkinJson => translate::v2_to_otlp(translate::decode_v2_json(body).unwrap(), false).unwrap(),
        Format::ZipkinProto => translate::v2_to_otlp(translate::decode_v2_proto(body).unwrap(), false).unwrap(),
        Format::ZipkinV1Json => translate::v1_json_to_otlp(body, false).unwrap(),
        Format::ZipkinV1Thrift => translate::v1_thrift_to_otlp(decode_zipkin_spans(body).unwrap()),
    }
}

/// `(trace id, span id, parent span id, name, event count)` of every span, with IDs padded to
/// full width as the translations return them.
type SpanKey = (Vec<u8>, Vec<u8>, Vec<u8>, String, usize);

fn span_keys(resource_spans: &[ResourceSpans]) -> Vec<SpanKey> {
    resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| (s.trace_id.clone(), s.span_id.clone(), s.parent_span_id.clone(), s.name.clone(), s.events.len()))
        .collect()
}

fn service_names(resource_spans: &[ResourceSpans]) -> BTreeSet<String> {
    resource_spans
        .iter()
        .filter_map(|rs| rs.resource.as_ref())
        .flat_map(|r| &r.attributes)
        .filter(|kv| kv.key == "service.name")
        .map(|kv| format!("{:?}", kv.value))
        .collect()
}

#[test]
fn every_format_decodes_with_spoor_into_the_same_spans() {
    for request in requests(6, 100) {
        let mut want = span_keys(&request.resource_spans);
        want.sort();
        let services = service_names(&request.resource_spans);
        for format in FORMATS {
            let bodies = encode_request(&request, format).unwrap();
            assert!(!bodies.is_empty(), "{format:?}");
            let mut got = Vec::new();
            for encoded in &bodies {
                let decoded = decode(format, &encoded.body);
                let keys = span_keys(&decoded);
                assert_eq!(keys.len() as u64, encoded.spans, "{format:?}: span count of one body");
                assert_eq!(service_names(&decoded), services, "{format:?}: service");
                got.extend(keys);
            }
            got.sort();
            assert_eq!(got, want, "{format:?}: IDs, parents, names and events survive the round trip");
        }
    }
}

#[test]
fn one_request_is_one_body_except_agent_datagrams_which_fit_in_udp() {
    for request in requests(8, 100) {
        for format in FORMATS {
            let bodies = encode_request(&request, format).unwrap();
            let spans: u64 = bodies.iter().map(|b| b.spans).sum();
            assert_eq!(spans, 100, "{format:?}");
            match format {
                Format::AgentCompact | Format::AgentBinary => {
                    for body in &bodies {
                        assert!(body.body.len() <= MAX_DATAGRAM_BYTES, "{format:?}: {} bytes", body.body.len());
                    }
                }
                _ => assert_eq!(bodies.len(), 1, "{format:?}"),
            }
        }
    }
    // A large request is split into several datagrams, each as full as a span allows.
    let request = &requests(1, 1000)[0];
    for format in [Format::AgentCompact, Format::AgentBinary] {
        let bodies = encode_request(request, format).unwrap();
        assert!(bodies.len() >= 5, "{format:?}: {} datagrams", bodies.len());
        for body in &bodies[..bodies.len() - 1] {
            assert!(body.body.len() > MAX_DATAGRAM_BYTES - 3_000, "{format:?}: {} bytes", body.body.len());
        }
    }
}

#[test]
fn encoded_span_sizes_are_realistic_in_every_format() {
    for format in FORMATS {
        let pool =
            PayloadPool::build(&PayloadConfig { spans_per_request: 100, pool_size: 8, seed: 1, gzip: false, format })
                .unwrap();
        let per_span = pool.mean_encoded_span_bytes();
        // OTLP ~570 B; Thrift and api_v2 a little less; Zipkin repeats the resource on every span,
        // and v1 JSON also the endpoint on every annotation and tag, as v1 clients write it.
        let most = if matches!(format, Format::ZipkinV1Json | Format::ZipkinV1Thrift) { 3000.0 } else { 1500.0 };
        assert!((300.0..=most).contains(&per_span), "{format:?}: {per_span} bytes per span");
        eprintln!("{format:?}: {per_span:.0} B/span, {:.1} spans/body", pool.mean_spans_per_payload());
        assert!(pool.mean_spans_per_payload() >= 40.0, "{format:?}");
    }
}

#[test]
fn zipkin_json_is_an_array_of_v2_spans() {
    let request = &requests(1, 10)[0];
    let body = &encode_request(request, Format::ZipkinJson).unwrap()[0].body;
    let spans: Vec<Value> = serde_json::from_slice(body).unwrap();
    assert_eq!(spans.len(), 10);
    for span in &spans {
        assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(span["id"].as_str().unwrap().len(), 16);
        assert!(span["localEndpoint"]["serviceName"].is_string());
        assert!(span["tags"]["host.name"].is_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Against spoor's receivers

#[derive(Default)]
struct Counter(AtomicU64);

#[async_trait]
impl TracesConsumer for Counter {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        self.0.fetch_add(batch.span_count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl Counter {
    fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }

    /// The count once it has not moved for 200 ms (bounded), for the UDP queue to drain.
    async fn settled(&self) -> u64 {
        let mut last = self.0.load(Ordering::Relaxed);
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.0.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
        }
        self.take()
    }
}

/// Serves `GET /metrics` with the telemetry's Prometheus text on a free loopback port.
async fn serve_metrics(telemetry: Telemetry) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let telemetry = telemetry.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = telemetry.encode();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

async fn loadgen(args: &[&str]) -> Value {
    let output = tokio::time::timeout(Duration::from_secs(60), Command::new(LOADGEN).args(args).arg("--json").output())
        .await
        .expect("loadgen finished in time")
        .expect("loadgen ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "stdout {stdout:?} stderr {:?}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generator_drives_spoors_jaeger_and_zipkin_receivers() {
    let telemetry = Telemetry::new();
    let counter = Arc::new(Counter::default());
    let any = "127.0.0.1:0".to_owned();
    let jaeger_config = JaegerReceiverConfig {
        protocols: JaegerProtocols {
            grpc: Some(GrpcServerSettings::at(&any)),
            thrift_http: Some(HttpServerConfig::at(&any)),
            thrift_compact: Some(ThriftCompactConfig { endpoint: any.clone(), ..Default::default() }),
            thrift_binary: Some(ThriftBinaryConfig { endpoint: any.clone(), ..Default::default() }),
        },
    };
    let mut jaeger = JaegerReceiver::new("jaeger", Validated::new(jaeger_config).unwrap(), telemetry.clone());
    jaeger.start(counter.clone()).await.unwrap();
    let zipkin_config =
        Validated::new(ZipkinReceiverConfig { server: HttpServerSettings::at(&any), ..Default::default() }).unwrap();
    let mut zipkin = ZipkinReceiver::new("zipkin", zipkin_config, telemetry.clone());
    zipkin.start(counter.clone()).await.unwrap();
    let metrics = serve_metrics(telemetry).await.to_string();

    let addrs = jaeger.local_addrs();
    let http = |addr: Option<SocketAddr>| format!("http://{}", addr.unwrap());
    let runs: HashMap<&str, String> = HashMap::from([
        ("jaeger-grpc", http(addrs.grpc)),
        ("jaeger-thrift-http", http(addrs.thrift_http)),
        ("jaeger-udp-compact", addrs.thrift_compact.unwrap().to_string()),
        ("jaeger-udp-binary", format!("udp://{}", addrs.thrift_binary.unwrap())),
        ("zipkin-json", http(zipkin.local_addr())),
        ("zipkin-proto", http(zipkin.local_addr())),
        ("zipkin-v1-json", http(zipkin.local_addr())),
        ("zipkin-v1-thrift", http(zipkin.local_addr())),
    ]);
    let mut protocols: Vec<&&str> = runs.keys().collect();
    protocols.sort();
    for protocol in protocols {
        let endpoint = &runs[*protocol];
        let udp = protocol.contains("udp");
        // UDP is paced gently so that nothing is dropped: the test checks accounting, not speed.
        #[rustfmt::skip]
        let mut args = vec![
            "--protocol", protocol, "--endpoint", endpoint, "--metrics", &metrics,
            "--warmup", "0s", "--concurrency", "2", "--spans-per-request", "50", "--pool-size", "4",
        ];
        if udp {
            args.extend(["--requests", "40", "--rate", "2000"]);
        } else {
            args.extend(["--duration", "1s"]);
        }
        let summary = loadgen(&args).await;
        let received = counter.settled().await;
        assert_eq!(summary["requests_failed"], 0, "{protocol}: {summary}");
        let sent = summary["spans_sent"].as_u64().unwrap();
        let acknowledged = summary["spans_acknowledged"].as_u64().unwrap();
        let accepted = summary["server"]["accepted_spans"].as_u64().unwrap();
        assert!(sent > 0, "{protocol}: {summary}");
        assert_eq!(acknowledged, sent, "{protocol}: {summary}");
        assert_eq!(received, sent, "{protocol}: the receiver got every span: {summary}");
        assert_eq!(accepted, received, "{protocol}: the metrics count what the pipeline got: {summary}");
        assert_eq!(summary["server_unaccounted_spans"], 0, "{protocol}: {summary}");
        if udp {
            assert_eq!(sent, 40 * 50, "{protocol}: {summary}");
        }
    }
    jaeger.shutdown().await;
    zipkin.shutdown().await;
}
