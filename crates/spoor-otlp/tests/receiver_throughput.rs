//! A rough loopback throughput figure for both transports. Ignored by default; run with
//! `cargo test -p spoor-otlp --release --test receiver_throughput -- --ignored --nocapture`.

mod receiver_common;

use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use receiver_common::*;

const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 250;
const SPANS_PER_REQUEST: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn loopback_throughput() {
    let harness = start_default().await;
    let total = (CLIENTS * REQUESTS_PER_CLIENT * SPANS_PER_REQUEST) as f64;
    let body = request(SPANS_PER_REQUEST).encode_to_vec();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (url, body) = (harness.http_url(), body.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..REQUESTS_PER_CLIENT {
                let response = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let http = total / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let url = harness.grpc_url();
        tasks.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(url).await.unwrap();
            for _ in 0..REQUESTS_PER_CLIENT {
                client.export(request(SPANS_PER_REQUEST)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let grpc = total / started.elapsed().as_secs_f64();
    println!(
        "otlp receiver loopback, {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests x {SPANS_PER_REQUEST} spans: http {http:.0} spans/s, grpc {grpc:.0} spans/s"
    );
    assert_eq!(harness.consumer.spans() as f64, 2.0 * total);
    stop(harness).await;
}
