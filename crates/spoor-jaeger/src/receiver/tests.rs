//! The receivers over real sockets on 127.0.0.1, into a recording pipeline.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use spoor_pipeline::component::Validated;
use spoor_pipeline::{ConsumeError, Receiver, Telemetry, TraceBatch, TracesConsumer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::proto::api_v2;
use crate::sampling::{Strategies, StrategyProvider};
use crate::thrift::generated::jaeger as jthrift;
use crate::thrift::{Protocol, encode};

mod listeners;

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<TraceBatch>>,
    refuse: bool,
}

#[async_trait]
impl TracesConsumer for Recorder {
    async fn consume(&self, batch: TraceBatch) -> Result<(), ConsumeError> {
        if self.refuse {
            return Err(ConsumeError::Refused {
                reason: "memory limit".to_owned(),
                retry_after: Some(Duration::from_secs(3)),
            });
        }
        self.batches.lock().unwrap().push(batch);
        Ok(())
    }
}

impl Recorder {
    fn span_names(&self) -> Vec<String> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.resource_spans().to_vec())
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .map(|s| s.name)
            .collect()
    }

    async fn wait_for(&self, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let names = self.span_names();
            if names.len() >= count {
                return names;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.span_names()
    }
}

fn metric(telemetry: &Telemetry, name: &str, transport: &str) -> u64 {
    let text = telemetry.encode();
    text.lines()
        .find(|line| line.starts_with(name) && line.contains(&format!("transport=\"{transport}\"")))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// A minimal HTTP/1.1 client: `(status, body)`.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn batch(names: &[&str]) -> jthrift::Batch {
    let tag = |key: &str, value: &str| jthrift::Tag {
        key: key.to_owned(),
        v_type: jthrift::TagType::STRING,
        v_str: Some(value.to_owned()),
        v_double: None,
        v_bool: None,
        v_long: None,
        v_binary: None,
    };
    jthrift::Batch {
        process: jthrift::Process { service_name: "tekton".to_owned(), tags: Some(vec![tag("hostname", "node-1")]) },
        spans: names
            .iter()
            .enumerate()
            .map(|(i, name)| jthrift::Span {
                trace_id_low: 42,
                trace_id_high: 7,
                span_id: i as i64 + 1,
                parent_span_id: 0,
                operation_name: (*name).to_owned(),
                references: None,
                flags: 1,
                start_time: 1_700_000_000_000_000,
                duration: 1000,
                tags: Some(vec![tag("span.kind", "server")]),
                logs: None,
            })
            .collect(),
        seq_no: None,
        stats: None,
    }
}

fn all_protocols() -> JaegerReceiverConfig {
    serde_json::from_value(serde_json::json!({"protocols": {
        "grpc": {"endpoint": "127.0.0.1:0"},
        "thrift_http": {"endpoint": "127.0.0.1:0"},
        "thrift_compact": {"endpoint": "127.0.0.1:0", "workers": 2, "max_packet_size": 2000},
        "thrift_binary": {"endpoint": "127.0.0.1:0", "workers": 2},
    }}))
    .unwrap()
}

#[tokio::test]
async fn jaeger_receiver_takes_every_protocol_and_survives_bad_input() {
    let telemetry = Telemetry::new();
    let recorder = Arc::new(Recorder::default());
    let strategies =
        Strategies::parse(br#"{"default_strategy": {"type": "probabilistic", "param": 0.3}}"#, 0.001).unwrap();
    let mut receiver = JaegerReceiver::new("jaeger", Validated::new(all_protocols()).unwrap(), telemetry.clone())
        .with_sampling(StrategyProvider::new(strategies));
    receiver.start(recorder.clone()).await.unwrap();
    let addrs = receiver.local_addrs();

    // Thrift over HTTP: Tekton's case.
    let http_addr = addrs.thrift_http.unwrap();
    let body = encode::batch(&batch(&["http-span"])).unwrap();
    for content_type in ["application/x-thrift", "application/vnd.apache.thrift.binary"] {
        let (status, _) = http(http_addr, "POST", "/api/traces", &[("content-type", content_type)], &body).await;
        assert_eq!(status, 202);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gzipped = gz.finish().unwrap();
    let (status, _) = http(
        http_addr,
        "POST",
        "/api/traces",
        &[("content-type", "application/x-thrift"), ("content-encoding", "gzip")],
        &gzipped,
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = http(http_addr, "POST", "/api/traces", &[("content-type", "application/json")], &body).await;
    assert_eq!(status, 415);
    let (status, text) =
        http(http_addr, "POST", "/api/traces", &[("content-type", "application/x-thrift")], b"garbage garbage").await;
    assert_eq!(status, 400, "{text}");
    let (status, _) =
        http(http_addr, "POST", "/api/traces", &[("content-type", "application/x-thrift")], &body[..body.len() / 2])
            .await;
    assert_eq!(status, 400);
    let (status, text) = http(http_addr, "GET", "/api/sampling?service=x", &[], b"").await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.3}}"#)
    );
    assert_eq!(metric(&telemetry, "otelcol_receiver_accepted_spans_total", "collector_http"), 3);

    // The agent's UDP ports.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let compact = addrs.thrift_compact.unwrap();
    let binary = addrs.thrift_binary.unwrap();
    socket.send_to(&encode::emit_batch(&batch(&["compact-span"]), Protocol::Compact).unwrap(), compact).await.unwrap();
    socket.send_to(&encode::emit_batch(&batch(&["binary-span"]), Protocol::Binary).unwrap(), binary).await.unwrap();
    let datagram = encode::emit_batch(&batch(&["x"]), Protocol::Compact).unwrap();
    socket.send_to(b"\x82\x21garbage", compact).await.unwrap();
    socket.send_to(&datagram[..datagram.len() - 3], compact).await.unwrap();
    socket.send_to(&vec![0x82; 3000], compact).await.unwrap(); // over max_packet_size 2000
    socket.send_to(b"not thrift at all", binary).await.unwrap();
    let names = recorder.wait_for(5).await;
    assert!(names.contains(&"compact-span".to_owned()) && names.contains(&"binary-span".to_owned()), "{names:?}");
    for _ in 0..100 {
        if metric(&telemetry, "otelcol_receiver_refused_spans_total", "udp_thrift_compact") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metric(&telemetry, "otelcol_receiver_refused_spans_total", "udp_thrift_compact"), 3);
    assert_eq!(metric(&telemetry, "otelcol_receiver_refused_spans_total", "udp_thrift_binary"), 1);
    assert_eq!(metric(&telemetry, "otelcol_receiver_accepted_spans_total", "udp_thrift_compact"), 1);

    // gRPC PostSpans; then the UDP port still serves after the garbage.
    let mut client =
        api_v2::collector_service_client::CollectorServiceClient::connect(format!("http://{}", addrs.grpc.unwrap()))
            .await
            .unwrap();
    let span = api_v2::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        operation_name: "grpc-span".to_owned(),
        ..Default::default()
    };
    let request = api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            spans: vec![span],
            process: Some(api_v2::Process { service_name: "svc".to_owned(), tags: Vec::new() }),
        }),
    };
    client.post_spans(request).await.unwrap();
    let bad = api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            spans: vec![api_v2::Span { trace_id: vec![1; 3], ..Default::default() }],
            process: None,
        }),
    };
    assert_eq!(client.post_spans(bad).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    socket.send_to(&encode::emit_batch(&batch(&["after-garbage"]), Protocol::Compact).unwrap(), compact).await.unwrap();
    let names = recorder.wait_for(7).await;
    assert!(names.contains(&"grpc-span".to_owned()) && names.contains(&"after-garbage".to_owned()), "{names:?}");
    receiver.shutdown().await;
}

#[tokio::test]
async fn jaeger_receiver_refuses_with_503_and_unavailable() {
    let recorder = Arc::new(Recorder { refuse: true, ..Default::default() });
    let mut receiver = JaegerReceiver::new("jaeger", Validated::new(all_protocols()).unwrap(), Telemetry::new());
    receiver.start(recorder).await.unwrap();
    let addrs = receiver.local_addrs();
    let body = encode::batch(&batch(&["s"])).unwrap();
    let mut stream = tokio::net::TcpStream::connect(addrs.thrift_http.unwrap()).await.unwrap();
    let head = format!(
        "POST /api/traces HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/x-thrift\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.to_ascii_lowercase().contains("retry-after: 3"), "{response}");
    let mut client =
        api_v2::collector_service_client::CollectorServiceClient::connect(format!("http://{}", addrs.grpc.unwrap()))
            .await
            .unwrap();
    let request = api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            spans: vec![api_v2::Span { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }],
            process: None,
        }),
    };
    assert_eq!(client.post_spans(request).await.unwrap_err().code(), tonic::Code::Unavailable);
    receiver.shutdown().await;
}

#[tokio::test]
async fn zipkin_receiver_takes_v1_and_v2() {
    let telemetry = Telemetry::new();
    let recorder = Arc::new(Recorder::default());
    let config: ZipkinReceiverConfig =
        serde_json::from_value(serde_json::json!({"endpoint": "127.0.0.1:0", "parse_string_tags": true})).unwrap();
    let mut receiver = ZipkinReceiver::new("zipkin", Validated::new(config).unwrap(), telemetry.clone());
    receiver.start(recorder.clone()).await.unwrap();
    let addr = receiver.local_addr().unwrap();
    let json = |name: &str| {
        format!(
            r#"[{{"traceId":"0000000000000001","id":"0000000000000002","name":"{name}","timestamp":1,"duration":2,"localEndpoint":{{"serviceName":"svc"}}}}]"#
        )
    };

    let (status, _) =
        http(addr, "POST", "/api/v2/spans", &[("content-type", "application/json")], json("v2-json").as_bytes()).await;
    assert_eq!(status, 202);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json("v2-gzip").as_bytes()).unwrap();
    let (status, _) = http(
        addr,
        "POST",
        "/api/v2/spans",
        &[("content-type", "application/json"), ("content-encoding", "gzip")],
        &gz.finish().unwrap(),
    )
    .await;
    assert_eq!(status, 202);
    let proto = {
        use prost::Message;
        crate::translate::zipkin::proto::ListOfSpans {
            spans: vec![crate::translate::zipkin::proto::Span {
                trace_id: vec![1; 16],
                id: vec![2; 8],
                name: "v2-proto".to_owned(),
                ..Default::default()
            }],
        }
        .encode_to_vec()
    };
    let (status, _) = http(addr, "POST", "/api/v2/spans", &[("content-type", "application/x-protobuf")], &proto).await;
    assert_eq!(status, 202);
    let v1 = r#"[{"traceId":"0000000000000001","id":"0000000000000003","name":"v1-json","annotations":[{"timestamp":1,"value":"sr","endpoint":{"serviceName":"svc"}}]}]"#;
    let (status, _) = http(addr, "POST", "/api/v1/spans", &[("content-type", "application/json")], v1.as_bytes()).await;
    assert_eq!(status, 202);
    let thrift_span = crate::thrift::generated::zipkincore::Span {
        trace_id: Some(1),
        name: Some("v1-thrift".to_owned()),
        id: Some(4),
        parent_id: None,
        annotations: Some(Vec::new()),
        binary_annotations: Some(Vec::new()),
        debug: None,
        timestamp: Some(1),
        duration: Some(1),
        trace_id_high: None,
    };
    let (status, _) = http(
        addr,
        "POST",
        "/api/v1/spans",
        &[("content-type", "application/x-thrift")],
        &encode::zipkin_spans(&[thrift_span]).unwrap(),
    )
    .await;
    assert_eq!(status, 202);

    assert_eq!(http(addr, "POST", "/api/v2/spans", &[("content-type", "application/json")], b"{not json").await.0, 400);
    assert_eq!(
        http(addr, "POST", "/api/v2/spans", &[("content-type", "application/x-protobuf")], b"\x0a\xff\xff").await.0,
        400
    );
    // A body must say it is Zipkin's: a page's no-cors POST (no type, text/plain, a form) gets
    // 415 on both versions, and nothing reaches the pipeline.
    for path in ["/api/v1/spans", "/api/v2/spans"] {
        assert_eq!(http(addr, "POST", path, &[], json("no-type").as_bytes()).await.0, 415, "{path}");
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let headers = [("content-type", content_type)];
            assert_eq!(http(addr, "POST", path, &headers, json("x").as_bytes()).await.0, 415, "{path} {content_type}");
        }
    }
    assert_eq!(http(addr, "POST", "/api/v1/spans", &[("content-type", "application/x-protobuf")], &proto).await.0, 415);
    assert_eq!(
        http(addr, "POST", "/api/v1/spans", &[("content-type", "application/x-thrift")], b"\x0c\x7f\xff\xff\xff")
            .await
            .0,
        400
    );
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/v2/spans",
            &[("content-type", "application/json"), ("content-encoding", "gzip")],
            b"not gzip"
        )
        .await
        .0,
        400
    );

    let mut names = recorder.span_names();
    names.sort();
    assert_eq!(names, ["v1-json", "v1-thrift", "v2-gzip", "v2-json", "v2-proto"]);
    assert_eq!(metric(&telemetry, "otelcol_receiver_accepted_spans_total", "http_v2_json"), 2);
    assert_eq!(metric(&telemetry, "otelcol_receiver_accepted_spans_total", "http_v2_proto"), 1);
    assert_eq!(metric(&telemetry, "otelcol_receiver_accepted_spans_total", "http_v1_thrift"), 1);
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_fails_start() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config: ZipkinReceiverConfig =
        serde_json::from_value(serde_json::json!({"endpoint": taken.local_addr().unwrap().to_string()})).unwrap();
    let mut receiver = ZipkinReceiver::new("zipkin", Validated::new(config).unwrap(), Telemetry::new());
    let err = receiver.start(Arc::new(Recorder::default())).await.unwrap_err();
    assert!(err.0.contains("cannot listen"), "{err}");
}
