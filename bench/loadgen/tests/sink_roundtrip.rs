//! Runs the generator binary against the sink over both protocols and checks that the sink
//! counted exactly the spans the generator saw acknowledged.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use spoor_loadgen::sink::{Sink, SinkConfig, SinkCount};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const LOADGEN: &str = env!("CARGO_BIN_EXE_spoor-loadgen");

async fn loadgen(args: &[&str]) -> (i32, Value) {
    let output = tokio::time::timeout(Duration::from_secs(60), Command::new(LOADGEN).args(args).arg("--json").output())
        .await
        .expect("loadgen finished in time")
        .expect("loadgen ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("summary is JSON ({e}): stdout {stdout:?} stderr {stderr:?}");
    });
    (output.status.code().unwrap_or(-1), summary)
}

async fn sink_count(http: SocketAddr, path: &str) -> SinkCount {
    let client = reqwest::Client::new();
    let url = format!("http://{http}{path}");
    let request = if path == "/reset" { client.post(url) } else { client.get(url) };
    let body = request.send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn spans_acknowledged(summary: &Value) -> u64 {
    summary["spans_acknowledged"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_counts_exactly_what_was_acknowledged_over_grpc_and_http() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sink =
        Sink::start(SinkConfig { grpc: Some(loopback), http: Some(loopback), full_decode: false }).await.unwrap();
    let grpc = format!("http://{}", sink.grpc_addr.unwrap());
    let http_addr = sink.http_addr.unwrap();
    let http = format!("http://{http_addr}");

    let runs: [(&str, &str, &str); 3] =
        [("grpc", grpc.as_str(), "none"), ("http", http.as_str(), "none"), ("http", http.as_str(), "gzip")];
    for (protocol, endpoint, compression) in runs {
        #[rustfmt::skip]
        let (code, summary) = loadgen(&[
            "--protocol", protocol, "--endpoint", endpoint, "--compression", compression,
            "--duration", "1s", "--warmup", "0s", "--concurrency", "4",
            "--spans-per-request", "50", "--pool-size", "8",
        ])
        .await;
        assert_eq!(code, 0, "{protocol}: {summary}");
        assert_eq!(summary["requests_failed"], 0, "{protocol}: {summary}");
        let acknowledged = spans_acknowledged(&summary);
        assert!(acknowledged > 0, "{protocol}: {summary}");
        assert_eq!(summary["spans_sent"].as_u64().unwrap(), acknowledged);
        let count = sink_count(http_addr, "/reset").await;
        assert_eq!(count.spans, acknowledged, "{protocol} {compression}: {summary}");
        assert_eq!(count.requests, summary["requests_ok"].as_u64().unwrap());
    }
    assert_eq!(sink_count(http_addr, "/count").await, SinkCount::default());
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_command_counts_a_fixed_number_of_requests() {
    #[rustfmt::skip]
    let mut sink = Command::new(LOADGEN)
        .args(["sink", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--full-decode", "--json", "--exit-after", "60s"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sink.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let addrs: Value = serde_json::from_str(&first).unwrap();
    let grpc = format!("http://{}", addrs["grpc"].as_str().unwrap());
    let http_addr: SocketAddr = addrs["http"].as_str().unwrap().parse().unwrap();

    #[rustfmt::skip]
    let (code, summary) = loadgen(&[
        "--protocol", "grpc", "--endpoint", &grpc, "--compression", "gzip",
        "--requests", "37", "--warmup", "0s", "--concurrency", "3", "--connections", "2",
        "--spans-per-request", "20",
    ])
    .await;
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["requests_ok"], 37);
    assert_eq!(spans_acknowledged(&summary), 37 * 20);
    assert_eq!(sink_count(http_addr, "/count").await, SinkCount { spans: 37 * 20, requests: 37 });

    let pid = sink.id().unwrap().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let last = lines.next_line().await.unwrap().unwrap();
    let count: SinkCount = serde_json::from_str(&last).unwrap();
    assert_eq!(count.spans, 37 * 20);
    assert!(sink.wait().await.unwrap().success());
}

#[tokio::test]
async fn unreachable_endpoint_fails_fast() {
    // Bind and drop to get a port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for protocol in ["grpc", "http"] {
        let output = Command::new(LOADGEN)
            .args(["--protocol", protocol, "--endpoint"])
            .arg(format!("http://127.0.0.1:{port}"))
            .args(["--duration", "1s"])
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{protocol}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot connect"), "{protocol}: {stderr}");
    }
}
