//! What the HTTP receivers share: reading a bounded, possibly compressed body (in the
//! configured `compression_algorithms`) after the pipeline's admission check, decoding large bodies off the async workers, and answering
//! with the `otlp` receiver's status codes.

use std::io::Read;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use spoor_pipeline::{ConsumeError, TracesConsumer};

/// The `Retry-After` sent with a 503 when the pipeline gave no delay of its own.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Bodies above this are decompressed and decoded on the blocking pool.
const BLOCKING_DECODE_THRESHOLD: usize = 64 * 1024;

/// Why a request was not taken, before it becomes a response.
#[derive(Debug)]
pub(crate) enum Failure {
    BadRequest(String),
    UnsupportedMediaType(String),
    TooLarge(usize),
    Consume(ConsumeError),
    Internal(String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::BadRequest(message) => text(StatusCode::BAD_REQUEST, message),
            Failure::UnsupportedMediaType(message) => text(StatusCode::UNSUPPORTED_MEDIA_TYPE, message),
            Failure::TooLarge(limit) => {
                text(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large: limit is {limit} bytes"))
            }
            Failure::Internal(message) => text(StatusCode::INTERNAL_SERVER_ERROR, message),
            Failure::Consume(ConsumeError::Permanent(message)) => text(StatusCode::BAD_REQUEST, message),
            Failure::Consume(ConsumeError::Refused { reason, retry_after }) => {
                let delay = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                let mut response = text(StatusCode::SERVICE_UNAVAILABLE, reason);
                // Whole seconds, rounded up so that a sub-second delay is not read as "now".
                let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
        }
    }
}

pub(crate) fn text(status: StatusCode, message: String) -> Response {
    let mut body = message;
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The media type of `Content-Type`, lowercased, without parameters; `None` when absent.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    /// zlib-wrapped deflate, which is what HTTP's `deflate` means.
    Zlib,
    Zstd,
}

impl Encoding {
    const ALL: [Encoding; 4] = [Self::Identity, Self::Gzip, Self::Zlib, Self::Zstd];

    fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Self::Identity,
            "gzip" | "x-gzip" => Self::Gzip,
            "zlib" | "deflate" => Self::Zlib,
            "zstd" => Self::Zstd,
            _ => return None,
        })
    }
}

/// The `Content-Encoding`s a listener decodes: confighttp's `compression_algorithms`, by
/// default all of gzip, zlib, deflate and zstd. An uncompressed body is always accepted, as in
/// the `otlp` receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AcceptedEncodings(Vec<Encoding>);

impl AcceptedEncodings {
    /// Fails on a configured name this crate cannot decode (snappy, lz4, ...), so that the
    /// key is refused at validation rather than ignored.
    pub fn new(configured: Option<&[String]>) -> Result<Self, String> {
        let Some(names) = configured else { return Ok(Self(Encoding::ALL.to_vec())) };
        let mut accepted = vec![Encoding::Identity];
        for name in names {
            let encoding = Encoding::parse(name).ok_or_else(|| {
                format!(
                    "unsupported compression algorithm {name:?}: this listener decodes gzip, zlib, deflate and zstd"
                )
            })?;
            accepted.push(encoding);
        }
        Ok(Self(accepted))
    }

    fn of(&self, headers: &HeaderMap) -> Result<Encoding, Failure> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(Encoding::Identity);
        };
        let name = value.to_str().unwrap_or("?");
        Encoding::parse(name)
            .filter(|encoding| self.0.contains(encoding))
            .ok_or_else(|| Failure::BadRequest(format!("unsupported Content-Encoding: {}", name.trim())))
    }
}

/// Reads the body: refuses first when the pipeline would refuse anyway (the body is the
/// allocation to avoid under memory pressure), then enforces the size limit on the body as
/// sent. Returns the raw bytes and how to decompress them.
pub(crate) async fn read_body(
    request: Request<Body>,
    limit: usize,
    encodings: &AcceptedEncodings,
    next: &dyn TracesConsumer,
) -> Result<RawBody, Failure> {
    let encoding = encodings.of(request.headers())?;
    next.check_admission().map_err(Failure::Consume)?;
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Failure::TooLarge(limit));
    }
    let bytes = axum::body::to_bytes(request.into_body(), limit).await.map_err(|err| {
        let too_large =
            std::error::Error::source(&err).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            Failure::TooLarge(limit)
        } else {
            Failure::BadRequest(format!("failed to read request body: {err}"))
        }
    })?;
    Ok(RawBody { bytes, encoding, limit })
}

pub(crate) struct RawBody {
    bytes: Bytes,
    encoding: Encoding,
    limit: usize,
}

impl RawBody {
    fn decompress(&self) -> Result<Vec<u8>, Failure> {
        let read_limited = |reader: &mut dyn Read, name: &str| -> Result<Vec<u8>, Failure> {
            let mut out = Vec::new();
            reader
                .take(self.limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|err| Failure::BadRequest(format!("invalid {name} body: {err}")))?;
            if out.len() > self.limit {
                return Err(Failure::TooLarge(self.limit));
            }
            Ok(out)
        };
        match self.encoding {
            Encoding::Identity => Ok(self.bytes.to_vec()),
            Encoding::Gzip => read_limited(&mut flate2::read::MultiGzDecoder::new(self.bytes.as_ref()), "gzip"),
            Encoding::Zlib => read_limited(&mut flate2::read::ZlibDecoder::new(self.bytes.as_ref()), "deflate"),
            Encoding::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(self.bytes.as_ref())
                    .map_err(|err| Failure::BadRequest(format!("invalid zstd body: {err}")))?;
                read_limited(&mut decoder, "zstd")
            }
        }
    }

    /// Decompresses and decodes, on the blocking pool when the body is large.
    pub async fn decode<T, F>(self, decode: F) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: FnOnce(&[u8]) -> Result<T, String> + Send + 'static,
    {
        let run = move |body: RawBody| -> Result<T, Failure> {
            let plain = body.decompress()?;
            decode(&plain).map_err(Failure::BadRequest)
        };
        if self.bytes.len() > BLOCKING_DECODE_THRESHOLD {
            tokio::task::spawn_blocking(move || run(self))
                .await
                .map_err(|_| Failure::Internal("decoder task failed".to_owned()))?
        } else {
            run(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_has_retry_after() {
        let response = Failure::Consume(ConsumeError::Refused {
            reason: "full".to_owned(),
            retry_after: Some(Duration::from_millis(1200)),
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }
}
