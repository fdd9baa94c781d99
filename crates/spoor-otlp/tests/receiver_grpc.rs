//! OTLP/gRPC receiver tests with a real tonic client on loopback.

mod receiver_common;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use receiver_common::*;
use spoor_pipeline::Receiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

async fn client(harness: &Harness) -> TraceServiceClient<Channel> {
    TraceServiceClient::connect(harness.grpc_url()).await.unwrap()
}

#[tokio::test]
async fn export_plain_gzip_and_zstd() {
    let harness = start_default().await;
    let mut plain = client(&harness).await;
    let response = plain.export(request(3)).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);

    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut compressed = client(&harness).await.send_compressed(encoding).accept_compressed(encoding);
        compressed.export(request(2)).await.unwrap();
    }
    assert_eq!(harness.consumer.spans(), 7);
    assert!(
        harness
            .telemetry
            .encode()
            .contains("otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"} 7")
    );
    stop(harness).await;
}

/// Sends any bytes as the `Export` request message.
async fn export_raw(harness: &Harness, message: Vec<u8>) -> Result<(), tonic::Status> {
    use bytes::BufMut;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct Raw;
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = Raw;
        type Decoder = Raw;
        fn encoder(&mut self) -> Raw {
            Raw
        }
        fn decoder(&mut self) -> Raw {
            Raw
        }
    }
    impl Encoder for Raw {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            buf.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for Raw {
        type Item = ();
        type Error = tonic::Status;
        fn decode(&mut self, _buf: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
            Ok(Some(()))
        }
    }
    let channel = Channel::from_shared(harness.grpc_url()).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    grpc.unary(tonic::Request::new(message), path, Raw).await.map(|_| ())
}

#[tokio::test]
async fn valid_messages_are_kept_undecoded_and_bad_ones_are_internal() {
    let harness = start_default().await;
    client(&harness).await.export(request(3)).await.unwrap();
    assert!(harness.consumer.batches.lock().unwrap()[0].is_encoded());
    assert_eq!(harness.consumer.all_spans(), request(3).resource_spans[0].scope_spans[0].spans);

    // Undecodable is InvalidArgument, with prost's message.
    let mut bad_utf8 = request(1);
    bad_utf8.resource_spans[0].scope_spans[0].spans[0].name = "name~".to_owned();
    let mut bytes = bad_utf8.encode_to_vec();
    let at = bytes.windows(5).position(|w| w == b"name~").unwrap() + 4;
    bytes[at] = 0xff;
    for message in [bytes, b"\x0a\x05\x12".to_vec()] {
        let status = export_raw(&harness, message).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("failed to decode Protobuf message"), "{status:?}");
    }
    assert_eq!(harness.consumer.spans(), 3);
    export_raw(&harness, request(2).encode_to_vec()).await.unwrap();
    assert_eq!(harness.consumer.spans(), 5);
    stop(harness).await;
}

#[tokio::test]
async fn invalid_ids_are_a_partial_success() {
    let harness = start_default().await;
    let mut spans = request(1).resource_spans[0].scope_spans[0].spans.clone();
    spans.push(span(vec![7; 16], vec![7; 9], "long span id"));
    let response = client(&harness).await.export(request_of(spans)).await.unwrap().into_inner();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("span_id"), "{}", partial.error_message);
    assert_eq!(harness.consumer.spans(), 1);
    stop(harness).await;
}

#[tokio::test]
async fn refusal_is_unavailable_and_bad_data_invalid_argument() {
    let harness = start_default().await;
    let mut client = client(&harness).await;

    harness.consumer.set_mode(REFUSE);
    let status = client.export(request(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(!status.details().is_empty(), "RetryInfo is attached");

    harness.consumer.set_mode(REFUSE_ADMISSION);
    let status = client.export(request(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    harness.consumer.set_mode(PERMANENT);
    let status = client.export(request(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    harness.consumer.set_mode(ACCEPT);
    client.export(request(1)).await.unwrap();
    assert_eq!(harness.consumer.spans(), 1);
    stop(harness).await;
}

#[tokio::test]
async fn too_large_message_is_resource_exhausted() {
    let harness = start(serde_json::json!({"protocols": {
        "grpc": {"endpoint": "127.0.0.1:0", "max_recv_msg_size_mib": 1}
    }}))
    .await;
    let mut big = request(1);
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(2 * 1024 * 1024);
    let mut client = client(&harness).await.max_encoding_message_size(64 * 1024 * 1024);
    let status = client.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    // Compressed small on the wire but large once decompressed: still refused.
    let mut gzip =
        TraceServiceClient::connect(harness.grpc_url()).await.unwrap().send_compressed(CompressionEncoding::Gzip);
    let status = gzip.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    client.export(request(1)).await.unwrap();
    stop(harness).await;
}

#[tokio::test]
async fn garbage_bytes_do_not_break_the_server() {
    let harness = start_default().await;
    let addr = harness.addrs.grpc.unwrap();
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x00\x01\x02\x03\x04\x05\x06\x07garbage",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut sink = vec![0u8; 4096];
        // The server answers or closes; either way it must not take long.
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut sink)).await;
    }
    let mut client = client(&harness).await;
    client.export(request(2)).await.unwrap();
    assert_eq!(harness.consumer.spans(), 2);
    stop(harness).await;
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_calls() {
    let mut harness = start_default().await;
    *harness.consumer.delay.lock().unwrap() = Some(Duration::from_millis(300));
    let mut client = client(&harness).await;
    let in_flight = tokio::spawn(async move { client.export(request(1)).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    harness.receiver.shutdown().await;
    in_flight.await.unwrap().unwrap();
    assert_eq!(harness.consumer.spans(), 1);
    assert!(TraceServiceClient::connect(harness.grpc_url()).await.is_err());
}

#[tokio::test]
async fn port_in_use_fails_start() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = taken.local_addr().unwrap().to_string();
    let config = serde_json::from_value(serde_json::json!({"protocols": {"grpc": {"endpoint": endpoint}}})).unwrap();
    let config = spoor_pipeline::component::Validated::new(config).unwrap();
    let mut receiver = spoor_otlp::receiver::OtlpReceiver::new("otlp", config, spoor_pipeline::Telemetry::new());
    let consumer = std::sync::Arc::new(TestConsumer::default());
    let err = spoor_pipeline::Receiver::start(&mut receiver, consumer).await.unwrap_err();
    assert!(err.to_string().contains("cannot listen"), "{err}");
}

/// With `include_metadata` the batch carries the call's metadata; without it, nothing.
#[tokio::test]
async fn include_metadata_carries_the_call_metadata_with_the_batch() {
    for (include, expected) in [(true, vec!["globex".to_owned()]), (false, vec![])] {
        let harness = start(serde_json::json!({"protocols": {
            "grpc": {"endpoint": "127.0.0.1:0", "include_metadata": include}
        }}))
        .await;
        let mut call = tonic::Request::new(request(2));
        call.metadata_mut().insert("x-tenant", "globex".parse().unwrap());
        client(&harness).await.export(call).await.unwrap();
        let batches = harness.consumer.batches.lock().unwrap().clone();
        assert_eq!(batches[0].metadata().get("x-tenant"), expected, "include_metadata: {include}");
        stop(harness).await;
    }
}
