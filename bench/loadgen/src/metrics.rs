//! The server's own count of accepted spans, from its Prometheus metrics endpoint.
//!
//! UDP has no answer, so what the agent protocols delivered is only known from the server:
//! `otelcol_receiver_accepted_spans_total{receiver=R,transport=T}` read at the start of the
//! measured window and again once the count has settled after the last send.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::HOST;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

const ACCEPTED_SPANS: &str = "otelcol_receiver_accepted_spans";
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest metrics page read.
const MAX_PAGE_BYTES: usize = 16 << 20;

/// Which counter to read, and where.
#[derive(Debug, Clone)]
pub struct MetricsTarget {
    pub url: Uri,
    /// The `receiver` label: the receiver's component ID, e.g. `jaeger` or `otlp/in`.
    pub receiver: String,
    /// The `transport` label, e.g. `grpc`, `udp_thrift_compact`, `http_v2_json`.
    pub transport: String,
}

impl MetricsTarget {
    /// `url` may omit the scheme and the path (`127.0.0.1:8888` means
    /// `http://127.0.0.1:8888/metrics`).
    pub fn parse(url: &str, receiver: &str, transport: &str) -> anyhow::Result<Self> {
        let with_scheme = if url.contains("://") { url.to_owned() } else { format!("http://{url}") };
        let mut uri: Uri = with_scheme.parse().with_context(|| format!("invalid metrics URL '{url}'"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            bail!("metrics URL '{url}': only plain http://host:port is supported");
        }
        if uri.path() == "/" || uri.path().is_empty() {
            let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
            uri = format!("http://{authority}/metrics").parse().context("cannot build the metrics URL")?;
        }
        Ok(Self { url: uri, receiver: receiver.to_owned(), transport: transport.to_owned() })
    }

    /// The counter's current value; 0 when the server has not counted anything on it yet.
    pub async fn accepted_spans(&self) -> anyhow::Result<u64> {
        let page = tokio::time::timeout(SCRAPE_TIMEOUT, fetch(&self.url))
            .await
            .with_context(|| format!("{} did not answer within {SCRAPE_TIMEOUT:?}", self.url))??;
        Ok(accepted_spans(&page, &self.receiver, &self.transport))
    }

    /// The counter once it has stopped moving (read every 200 ms, for at most `limit`), so that
    /// datagrams still queued in the server when the last one was sent are counted.
    pub async fn settled_accepted_spans(&self, limit: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + limit;
        let mut last = self.accepted_spans().await?;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.accepted_spans().await?;
            if now == last {
                break;
            }
            last = now;
        }
        Ok(last)
    }
}

async fn fetch(url: &Uri) -> anyhow::Result<String> {
    let authority = url.authority().context("metrics URL has no host")?;
    let address = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
    let stream = TcpStream::connect(&address).await.with_context(|| format!("cannot connect to {address}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(url.clone()).header(HOST, authority.as_str()).body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let body = http_body_util::Limited::new(response.into_body(), MAX_PAGE_BYTES)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {url}: {e}"))?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Sums the accepted-spans samples with the given labels in a Prometheus text page.
pub fn accepted_spans(page: &str, receiver: &str, transport: &str) -> u64 {
    let receiver = format!("receiver=\"{receiver}\"");
    let transport = format!("transport=\"{transport}\"");
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(ACCEPTED_SPANS)?;
            let rest = rest.strip_prefix("_total").unwrap_or(rest);
            let (labels, value) = rest.strip_prefix('{')?.split_once('}')?;
            let labels: Vec<&str> = labels.split(',').map(str::trim).collect();
            if !labels.contains(&receiver.as_str()) || !labels.contains(&transport.as_str()) {
                return None;
            }
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            (value.is_finite() && value >= 0.0).then_some(value as u64)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "\
# HELP otelcol_receiver_accepted_spans Spans accepted.
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans_total{receiver=\"jaeger\",transport=\"udp_thrift_compact\"} 1200
otelcol_receiver_accepted_spans_total{receiver=\"jaeger\",transport=\"grpc\"} 7
otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"} 5e3
otelcol_receiver_refused_spans_total{receiver=\"jaeger\",transport=\"udp_thrift_compact\"} 3
";

    #[test]
    fn reads_the_counter_with_both_labels() {
        assert_eq!(accepted_spans(PAGE, "jaeger", "udp_thrift_compact"), 1200);
        assert_eq!(accepted_spans(PAGE, "jaeger", "grpc"), 7);
        assert_eq!(accepted_spans(PAGE, "otlp", "grpc"), 5000);
        assert_eq!(accepted_spans(PAGE, "zipkin", "http_v2_json"), 0);
        assert_eq!(accepted_spans("garbage{ 1\n{}\n", "jaeger", "grpc"), 0);
    }

    #[test]
    fn metrics_urls_default_to_the_metrics_path() {
        let target = MetricsTarget::parse("127.0.0.1:8888", "jaeger", "grpc").unwrap();
        assert_eq!(target.url.to_string(), "http://127.0.0.1:8888/metrics");
        let target = MetricsTarget::parse("http://127.0.0.1:8888/x", "jaeger", "grpc").unwrap();
        assert_eq!(target.url.to_string(), "http://127.0.0.1:8888/x");
        assert!(MetricsTarget::parse("https://127.0.0.1:8888", "jaeger", "grpc").is_err());
    }
}
