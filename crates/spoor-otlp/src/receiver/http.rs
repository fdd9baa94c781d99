//! OTLP/HTTP: `POST` of a protobuf or JSON `ExportTraceServiceRequest`, answered as the OTLP
//! spec and the collector answer (`google.rpc.Status` bodies in the request's encoding).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use prost::Message;
use spoor_net::{BoxError, ReadTimeout, RequestBody, RequestMetadata};
use spoor_pipeline::otlp::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use spoor_pipeline::{ClientMetadata, ConsumeError, ReceiverObserver, TracesConsumer};
use tonic::Code;

use super::body::{self, BodyError, Encoding};
use super::config::OtlpHttpConfig;
use super::export::{Received, export_received, receive_protobuf};
use super::json;
use super::status::{ErrorBody, RpcStatus};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// The `Retry-After` sent with a 503 when the pipeline gave no delay of its own.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Bodies above this are decompressed and decoded off the async workers.
const BLOCKING_DECODE_THRESHOLD: usize = 64 * 1024;

type HttpResponse = Response<Full<Bytes>>;

/// Everything one HTTP listener needs to answer requests.
pub(crate) struct HttpHandler {
    pub next: Arc<dyn TracesConsumer>,
    pub observer: ReceiverObserver,
    pub traces_path: String,
    pub body_limit: usize,
    pub encodings: Vec<Encoding>,
}

impl HttpHandler {
    pub fn new(config: &OtlpHttpConfig, next: Arc<dyn TracesConsumer>, observer: ReceiverObserver) -> Self {
        let names: Vec<&str> = match &config.server.compression_algorithms {
            Some(names) => names.iter().map(String::as_str).collect(),
            None => Encoding::DEFAULT_NAMES.to_vec(),
        };
        let mut encodings: Vec<Encoding> = names.into_iter().filter_map(Encoding::parse).collect();
        // An uncompressed body is always readable, whatever the list says.
        encodings.push(Encoding::Identity);
        Self {
            next,
            observer,
            traces_path: config.traces_url_path.clone(),
            body_limit: config.server.body_limit(),
            encodings,
        }
    }

    /// Answers one request; the server kit has already done CORS, auth and the response
    /// headers.
    pub async fn handle<B>(&self, request: Request<B>) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        self.route(request).await
    }

    async fn route<B>(&self, request: Request<B>) -> HttpResponse
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        if request.uri().path() != self.traces_path {
            return text(StatusCode::NOT_FOUND, "404 page not found\n".to_owned());
        }
        if request.method() != Method::POST {
            let mut response =
                text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed, supported: [POST]".to_owned());
            response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let Some(format) = Format::of(request.headers()) else {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("415 unsupported media type, supported: [{JSON}, {PROTOBUF}]"),
            );
        };
        match self.receive(format, request).await {
            Ok(partial) => format.success(partial.as_ref()),
            Err(failure) => format.failure(failure),
        }
    }

    async fn receive<B>(
        &self,
        format: Format,
        request: Request<B>,
    ) -> Result<Option<ExportTracePartialSuccess>, Failure>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let encoding = self.encoding(request.headers())?;
        // Refuse before reading: under memory pressure the body is the allocation to avoid.
        self.next.check_admission().map_err(Failure::Consume)?;
        let declared =
            request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            return Err(self.too_large());
        }
        // The kit puts the headers there only when the listener has `include_metadata`.
        let metadata =
            request.extensions().get::<RequestMetadata>().map(ClientMetadata::from_request).unwrap_or_default();
        let raw = self.read_body(request.into_body()).await?;
        let decoded = if raw.len() > BLOCKING_DECODE_THRESHOLD {
            let limit = self.body_limit;
            tokio::task::spawn_blocking(move || decode(format, encoding, raw, limit))
                .await
                .map_err(|_| Failure::Internal("decoder task failed".to_owned()))?
        } else {
            decode(format, encoding, raw, self.body_limit)
        };
        let request = decoded.map_err(|err| match err {
            DecodeError::Body(BodyError::TooLarge { .. }) => self.too_large(),
            DecodeError::Body(err) => Failure::BadRequest(err.to_string()),
            DecodeError::Message(message) => Failure::BadRequest(message),
        })?;
        export_received(&self.observer, self.next.as_ref(), request, metadata).await.map_err(Failure::Consume)
    }

    fn encoding(&self, headers: &HeaderMap) -> Result<Encoding, Failure> {
        let name = match headers.get(CONTENT_ENCODING) {
            None => "",
            Some(value) => value.to_str().unwrap_or("\u{fffd}"),
        };
        Encoding::parse(name)
            .filter(|e| self.encodings.contains(e))
            .ok_or_else(|| Failure::BadRequest(format!("unsupported Content-Encoding: {name}")))
    }

    async fn read_body<B>(&self, body: B) -> Result<Bytes, Failure>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        match Limited::new(body, self.body_limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(err) if err.is::<LengthLimitError>() => Err(self.too_large()),
            Err(err) if err.is::<ReadTimeout>() => Err(Failure::Timeout),
            Err(err) => Err(Failure::BadRequest(format!("failed to read request body: {err}"))),
        }
    }

    fn too_large(&self) -> Failure {
        Failure::TooLarge(format!("request body too large: limit is {} bytes", self.body_limit))
    }
}

enum DecodeError {
    Body(BodyError),
    Message(String),
}

fn decode(format: Format, encoding: Encoding, raw: Bytes, limit: usize) -> Result<Received, DecodeError> {
    // An uncompressed body is used where it lies: a protobuf one is kept as received, and
    // the batch holds slices of it. Over the limit, `decompress` still gives the usual error.
    let plain = match encoding {
        Encoding::Identity if raw.len() <= limit => raw,
        _ => Bytes::from(body::decompress(encoding, &raw, limit).map_err(DecodeError::Body)?),
    };
    match format {
        Format::Protobuf => receive_protobuf(plain).map_err(|err| DecodeError::Message(format!("proto: {err}"))),
        Format::Json => json::decode_request(&plain).map(Received::Decoded).map_err(DecodeError::Message),
    }
}

/// Why a request was not (fully) taken, before it is put into the request's encoding.
enum Failure {
    BadRequest(String),
    TooLarge(String),
    Timeout,
    Internal(String),
    Consume(ConsumeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
        let media_type = value.split(';').next()?.trim();
        if media_type.eq_ignore_ascii_case(PROTOBUF) {
            Some(Self::Protobuf)
        } else if media_type.eq_ignore_ascii_case(JSON) {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }

    fn success(self, partial: Option<&ExportTracePartialSuccess>) -> HttpResponse {
        let body = match self {
            Self::Protobuf => ExportTraceServiceResponse { partial_success: partial.cloned() }.encode_to_vec(),
            Self::Json => json::encode_response(partial),
        };
        self.respond(StatusCode::OK, body)
    }

    fn failure(self, failure: Failure) -> HttpResponse {
        let (status, rpc, retry_after) = match failure {
            Failure::BadRequest(message) => {
                (StatusCode::BAD_REQUEST, RpcStatus::new(Code::InvalidArgument, message), None)
            }
            Failure::TooLarge(message) => {
                (StatusCode::PAYLOAD_TOO_LARGE, RpcStatus::new(Code::ResourceExhausted, message), None)
            }
            Failure::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                RpcStatus::new(Code::Unavailable, "timed out reading the request body"),
                None,
            ),
            Failure::Internal(message) => {
                (StatusCode::INTERNAL_SERVER_ERROR, RpcStatus::new(Code::Internal, message), None)
            }
            Failure::Consume(ConsumeError::Permanent(message)) => {
                (StatusCode::BAD_REQUEST, RpcStatus::new(Code::InvalidArgument, message), None)
            }
            Failure::Consume(ConsumeError::Refused { reason, retry_after }) => {
                let delay = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    RpcStatus::new(Code::Unavailable, reason).with_retry_delay(delay),
                    Some(delay),
                )
            }
        };
        let body = match self {
            Self::Protobuf => rpc.encode_to_vec(),
            Self::Json => rpc.to_json(),
        };
        let mut response = self.respond(status, body);
        if let Some(delay) = retry_after {
            // Whole seconds, rounded up so that a sub-second delay is not read as "now".
            let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    fn respond(self, status: StatusCode, body: Vec<u8>) -> HttpResponse {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type()));
        response
    }
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The handler as a tower service, for the server kit to serve.
pub(crate) fn service(
    handler: Arc<HttpHandler>,
) -> impl tower::Service<
    Request<RequestBody>,
    Response = HttpResponse,
    Error = Infallible,
    Future = impl Future<Output = Result<HttpResponse, Infallible>> + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |request: Request<RequestBody>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(request).await) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let mut headers = HeaderMap::new();
        assert_eq!(Format::of(&headers), None);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert_eq!(Format::of(&headers), Some(Format::Json));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("Application/X-Protobuf"));
        assert_eq!(Format::of(&headers), Some(Format::Protobuf));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(Format::of(&headers), None);
    }

    #[test]
    fn random_bodies_never_panic() {
        // A fixed linear congruential generator: deterministic, and no extra dependency.
        let mut state: u64 = 0x5eed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u8
        };
        let encodings = Encoding::DEFAULT_NAMES.map(|n| Encoding::parse(n).unwrap());
        for round in 0..2000 {
            let len = usize::from(next()) * (round % 7 + 1);
            let mut body: Vec<u8> = (0..len).map(|_| next()).collect();
            if round % 3 == 0 {
                // Start like a real protobuf request so the decoder goes deeper.
                body.splice(0..0, [0x0a, next(), 0x12, next()]);
            }
            for format in [Format::Protobuf, Format::Json] {
                for encoding in encodings {
                    let _ = decode(format, encoding, Bytes::from(body.clone()), 64 * 1024);
                }
            }
        }
    }

    #[test]
    fn refusal_rounds_retry_after_up() {
        let response = Format::Json.failure(Failure::Consume(ConsumeError::Refused {
            reason: "full".to_owned(),
            retry_after: Some(Duration::from_millis(1200)),
        }));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }
}
