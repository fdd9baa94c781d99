//! The bodies the kit puts around a handler's: a request body that gives up at the read
//! deadline, and a response body that tells the connection when the response is done.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::connection::InFlight;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a request as its handler reads it: `Incoming`, cut off with an error once
/// `read_timeout` has passed since the request arrived.
pub struct RequestBody {
    inner: Incoming,
    deadline: Option<Pin<Box<Sleep>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("request body not received within the read timeout")]
pub struct ReadTimeout;

impl RequestBody {
    pub(crate) fn new(inner: Incoming, read_timeout: Option<Duration>) -> Self {
        let deadline = read_timeout.map(|timeout| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        Self { inner, deadline }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let expired = self.deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
        if expired { Poll::Ready(Some(Err(ReadTimeout.into()))) } else { Poll::Pending }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A handler's response body, or one the kit answered itself (refusals, CORS preflights).
/// It holds the request's [`InFlight`] mark until the last byte is sent.
pub struct ResponseBody<B> {
    kind: Kind<B>,
    _in_flight: Option<InFlight>,
}

enum Kind<B> {
    Handler(B),
    Kit(Full<Bytes>),
}

impl<B> ResponseBody<B> {
    pub(crate) fn handler(body: B, in_flight: InFlight) -> Self {
        Self { kind: Kind::Handler(body), _in_flight: Some(in_flight) }
    }

    pub(crate) fn kit(bytes: Bytes) -> Self {
        Self { kind: Kind::Kit(Full::new(bytes)), _in_flight: None }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Handler(body) => Pin::new(body).poll_frame(cx).map(|frame| frame.map(|r| r.map_err(Into::into))),
            Kind::Kit(body) => {
                Pin::new(body).poll_frame(cx).map(|frame| frame.map(|r| r.map_err(|never| match never {})))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Handler(body) => body.is_end_stream(),
            Kind::Kit(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Handler(body) => body.size_hint(),
            Kind::Kit(body) => body.size_hint(),
        }
    }
}
