//! The HTTP client towards the cluster: one reqwest client (TLS from the `tls` block, basic
//! auth), the server URLs tried in turn, a timeout on every request, and response bodies read
//! up to a bound. Errors say which request failed and why, and whether a retry may help.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::config::ElasticConfig;
use crate::version::Flavor;

/// The most of a response body that is read: a page of `max_doc_count` span documents is
/// well under it, and a server that sends more is an error, not a cause to grow memory.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// No server answered (connection refused, reset, timeout).
    #[error("{0}")]
    Unreachable(String),
    /// A server answered with an error status.
    #[error("{method} {path}: HTTP {status}: {reason}")]
    Status { method: Method, path: String, status: StatusCode, reason: String },
    /// A server answered with something that is not what the API returns.
    #[error("{0}")]
    Invalid(String),
}

impl EsError {
    /// Whether sending the same request again later may succeed: the server was not reached,
    /// was overloaded (429) or failed (5xx).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Status { status, .. } => *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            Self::Invalid(_) => false,
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    urls: Vec<reqwest::Url>,
    /// The server the next request goes to first.
    next: AtomicUsize,
    authorization: Option<HeaderValue>,
}

impl Client {
    pub fn new(config: &ElasticConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.query_timeout)
            .connect_timeout(config.query_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("spoor/", env!("CARGO_PKG_VERSION")));
        let tls = config.tls.client_config(&[b"http/1.1"]).map_err(|err| err.to_string())?;
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder.build().map_err(|err| format!("elasticsearch client: {err}"))?;
        let urls = config
            .server_urls
            .iter()
            .map(|url| {
                let text = if url.ends_with('/') { url.clone() } else { format!("{url}/") };
                reqwest::Url::parse(&text).map_err(|err| format!("server_urls: {url:?}: {err}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let authorization = match &config.auth.basic {
            Some(basic) => {
                let password = basic.resolved_password()?;
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", basic.username));
                let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                    .map_err(|_| "auth.basic: the username or password holds characters a header cannot".to_owned())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { http, urls, next: AtomicUsize::new(0), authorization })
    }

    /// Sends a request to the first server that answers; `body` is JSON, or NDJSON when
    /// `ndjson`. Any answer is returned with its status, even an error status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        ndjson: bool,
    ) -> Result<(StatusCode, Bytes), EsError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = String::new();
        for attempt in 0..self.urls.len() {
            let base = &self.urls[(start + attempt) % self.urls.len()];
            let url = base.join(path).map_err(|err| EsError::Invalid(format!("{path}: {err}")))?;
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(value) = &self.authorization {
                request = request.header(http::header::AUTHORIZATION, value.clone());
            }
            if let Some(body) = &body {
                let content_type = if ndjson { "application/x-ndjson" } else { "application/json" };
                request = request.header(http::header::CONTENT_TYPE, content_type).body(body.clone());
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let bytes = read_limited(response)
                        .await
                        .map_err(|err| EsError::Unreachable(format!("{method} {}: {err}", url.path())))?;
                    return Ok((status, bytes));
                }
                Err(err) => last_error = format!("{method} {url}: {}", error_chain(&err)),
            }
        }
        Err(EsError::Unreachable(last_error))
    }

    /// A request whose answer must be a 2xx JSON body.
    pub async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, EsError> {
        let bytes = body.map(|value| Bytes::from(value.to_string()));
        let (status, answer) = self.send(method.clone(), path, bytes, false).await?;
        check(method, path, status, &answer)?;
        serde_json::from_slice(&answer)
            .map_err(|err| EsError::Invalid(format!("{path}: the answer is not JSON: {err}")))
    }

    /// `GET /`: the server's flavour and version.
    pub async fn detect(&self) -> Result<Flavor, EsError> {
        let info = self.json(Method::GET, "", None).await?;
        let number = info.pointer("/version/number").and_then(Value::as_str).unwrap_or_default();
        let tagline = info.get("tagline").and_then(Value::as_str).unwrap_or_default();
        let distribution = info.pointer("/version/distribution").and_then(Value::as_str).unwrap_or_default();
        // OpenSearch says so in its tagline; its distribution field is the other sign.
        let tagline =
            if distribution == "opensearch" && !tagline.contains("OpenSearch") { "OpenSearch" } else { tagline };
        Flavor::detect(tagline, number).map_err(|err| EsError::Invalid(format!("GET /: {err}")))
    }
}

/// An error status as [`EsError::Status`], with the server's reason when its body has one.
pub fn check(method: Method, path: &str, status: StatusCode, body: &[u8]) -> Result<(), EsError> {
    if status.is_success() {
        return Ok(());
    }
    Err(EsError::Status { method, path: path.to_owned(), status, reason: error_reason(body) })
}

/// The reason in an error body (`{"error":{"type":..,"reason":..}}`), else the body's start.
pub fn error_reason(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let error = value.get("error").unwrap_or(&value);
        let kind = error.get("type").and_then(Value::as_str);
        let reason = error.get("reason").and_then(Value::as_str).or_else(|| error.as_str());
        match (kind, reason) {
            (Some(kind), Some(reason)) => return format!("{kind}: {reason}"),
            (None, Some(reason)) => return reason.to_owned(),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}

async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| error_chain(&err))? {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reasons_come_from_the_body() {
        let body = br#"{"error":{"root_cause":[],"type":"index_not_found_exception","reason":"no such index [x]"},"status":404}"#;
        assert_eq!(error_reason(body), "index_not_found_exception: no such index [x]");
        assert_eq!(error_reason(b"upstream timeout"), "upstream timeout");
        let err = EsError::Status {
            method: Method::POST,
            path: "_bulk".into(),
            status: StatusCode::TOO_MANY_REQUESTS,
            reason: String::new(),
        };
        assert!(err.retryable());
        let err = EsError::Status {
            method: Method::POST,
            path: "_bulk".into(),
            status: StatusCode::BAD_REQUEST,
            reason: String::new(),
        };
        assert!(!err.retryable());
    }
}
