//! What every listener does to a request before its handler sees it, in this order: the Host
//! check (DNS rebinding), CORS preflights, authentication, and the request metadata; and to the
//! response: CORS and the configured response headers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tower::ServiceExt;

use crate::auth::{AuthError, SharedServerAuthenticator};
use crate::body::{RequestBody, ResponseBody};
use crate::connection::ConnectionClock;
use crate::cors::{Cors, CorsOutcome, PREFLIGHT_STATUS};
use crate::host::HostAllowList;

/// Which protocol a listener speaks, for the shape of the refusals it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Grpc,
}

/// The request headers of a listener with `include_metadata: true`, put in the request's
/// extensions for the handler to carry with the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMetadata(pub HeaderMap);

pub struct RequestGuard {
    pub(crate) protocol: Protocol,
    pub(crate) hosts: Option<HostAllowList>,
    pub(crate) cors: Option<Cors>,
    pub(crate) auth: Option<SharedServerAuthenticator>,
    /// Paths served without credentials (the web UI's files; never data).
    pub(crate) public: Option<PublicPaths>,
    pub(crate) include_metadata: bool,
    pub(crate) response_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) read_timeout: Option<Duration>,
}

/// Tells the paths a listener serves to anyone, even with `auth` set.
pub type PublicPaths = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The service hyper runs for one connection: the guard around the listener's handler.
pub(crate) struct Guarded<S> {
    pub inner: S,
    pub guard: Arc<RequestGuard>,
    pub clock: Arc<ConnectionClock>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Guarded<S>
where
    S: tower::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.clock.begin();
        let guard = self.guard.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let mut request = request.map(|body| RequestBody::new(body, guard.read_timeout));
            if let Some(hosts) = &guard.hosts
                && !hosts.allows_request(&request)
            {
                return Ok(guard.refuse(
                    StatusCode::FORBIDDEN,
                    "host not allowed: use localhost, or list the host in allowed_hosts",
                ));
            }
            let cors = guard.cors.as_ref().map(|cors| cors.check(request.method(), request.headers()));
            let cors_headers = match cors {
                Some(CorsOutcome::Preflight(headers)) => {
                    let mut response = Response::new(ResponseBody::kit(Bytes::new()));
                    *response.status_mut() = PREFLIGHT_STATUS;
                    response.headers_mut().extend(headers);
                    return Ok(guard.decorate(response));
                }
                Some(CorsOutcome::Decorate(headers)) => Some(headers),
                None => None,
            };
            let public = guard.public.as_ref().is_some_and(|public| public(request.uri().path()));
            if let Some(auth) = guard.auth.as_ref().filter(|_| !public) {
                match auth.authenticate(request.headers()).await {
                    Ok(principal) => {
                        request.extensions_mut().insert(principal);
                    }
                    Err(err) => return Ok(guard.unauthenticated(&err, auth.challenge(), cors_headers)),
                }
            }
            if guard.include_metadata {
                let metadata = RequestMetadata(request.headers().clone());
                request.extensions_mut().insert(metadata);
            }
            let Ok(response) = inner.oneshot(request).await;
            let mut response = response.map(|body| ResponseBody::handler(body, in_flight));
            if let Some(headers) = cors_headers {
                response.headers_mut().extend(headers);
            }
            Ok(guard.decorate(response))
        })
    }
}

impl RequestGuard {
    fn decorate<B>(&self, mut response: Response<B>) -> Response<B> {
        for (name, value) in &self.response_headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    /// A refusal in the listener's protocol: an HTTP status with a text body, or a gRPC
    /// trailers-only response with the matching code.
    fn refuse<B>(&self, status: StatusCode, message: &str) -> Response<ResponseBody<B>> {
        let response = match self.protocol {
            Protocol::Http => {
                let mut response = Response::new(ResponseBody::kit(Bytes::from(format!("{message}\n"))));
                *response.status_mut() = status;
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                response
            }
            Protocol::Grpc => grpc_status(grpc_code(status), message),
        };
        self.decorate(response)
    }

    fn unauthenticated<B>(
        &self,
        err: &AuthError,
        challenge: &'static str,
        cors: Option<HeaderMap>,
    ) -> Response<ResponseBody<B>> {
        let mut response = self.refuse(StatusCode::UNAUTHORIZED, &err.to_string());
        if self.protocol == Protocol::Http {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response.headers_mut().extend(cors.unwrap_or_default());
        response
    }
}

/// gRPC's codes for the HTTP statuses the guard answers with (gRPC's HTTP mapping).
fn grpc_code(status: StatusCode) -> u8 {
    match status {
        StatusCode::UNAUTHORIZED => 16,
        StatusCode::FORBIDDEN => 7,
        _ => 2,
    }
}

fn grpc_status<B>(code: u8, message: &str) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::kit(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(u16::from(code)));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(message)) {
        headers.insert("grpc-message", message);
    }
    response
}

/// gRPC's percent-encoding of `grpc-message`: printable ASCII except `%` stays as is.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(super::percent_encode("bad token: 100%\n"), "bad token: 100%25%0A");
    }
}
