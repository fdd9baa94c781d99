//! The one accept loop and the one server lifecycle. A [`Listener`] is bound from a listener's
//! settings (so a port conflict fails start-up before anything runs) and then serves any tower
//! service, HTTP/1.1 and HTTP/2 alike, through [`crate::guard`]'s checks. [`Server::shutdown`]
//! stops accepting, lets requests in flight finish, and closes idle connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::body::{BoxError, RequestBody};
use crate::connection::{ConnectionClock, ConnectionTimeouts, Verdict};
use crate::guard::{Guarded, PublicPaths, RequestGuard};
use crate::tls_reload::ServerTls;

/// A client that opens a connection and never finishes the TLS handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection asked to close with no request in flight is cut after this. hyper's HTTP/2 close
/// waits for the client (its preface, or the ack of the GOAWAY ping); a client that never sends
/// them would otherwise hold the connection, and a stopping server, for [`Server::SHUTDOWN_TIMEOUT`].
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// The default connection cap, and the share of the open-files limit it never exceeds.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;
const OPEN_FILES_SHARE: u64 = 4;

/// How one listener treats its connections.
pub struct ConnectionPolicy {
    pub tls: Option<ServerTls>,
    pub header_read_timeout: Option<Duration>,
    pub timeouts: ConnectionTimeouts,
    pub max_connections: Option<usize>,
    /// HTTP/1.1 keep-alive; `false` closes each connection after one response.
    pub keep_alive: bool,
    /// Serve HTTP/2 only (gRPC); otherwise both, told apart by the connection preface.
    pub http2_only: bool,
    pub http2_max_concurrent_streams: Option<u32>,
    pub http2_keepalive_interval: Option<Duration>,
    pub http2_keepalive_timeout: Option<Duration>,
    pub recv_buffer_size: Option<u32>,
    pub send_buffer_size: Option<u32>,
}

impl ConnectionPolicy {
    fn connection_cap(&self) -> usize {
        let share = usize::try_from(crate::limits::open_files_limit() / OPEN_FILES_SHARE).unwrap_or(usize::MAX);
        self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS.min(share.max(64)))
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .keep_alive(self.keep_alive)
            .header_read_timeout(self.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.http2_max_concurrent_streams)
            .keep_alive_interval(self.http2_keepalive_interval);
        if let Some(timeout) = self.http2_keepalive_timeout {
            builder.http2().keep_alive_timeout(timeout);
        }
        if self.http2_only { builder.http2_only() } else { builder }
    }
}

/// A bound socket with everything needed to serve on it.
pub struct Listener {
    pub(crate) tcp: TcpListener,
    pub(crate) local_addr: SocketAddr,
    pub(crate) policy: ConnectionPolicy,
    pub(crate) guard: RequestGuard,
}

impl Listener {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves the paths `public` accepts without asking for credentials, for files that carry
    /// no data (the web UI's), so that a browser can load the page that then sends them.
    pub fn with_public_paths(mut self, public: PublicPaths) -> Self {
        self.guard.public = Some(public);
        self
    }

    /// Starts serving `service` on its own task.
    pub fn serve<S, B>(self, name: &str, service: S) -> Server
    where
        S: tower::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send,
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (stop, stopped) = watch::channel(false);
        let local_addr = self.local_addr;
        let name = name.to_owned();
        let task = tokio::spawn(accept_loop(self, name, service, stopped));
        Server { local_addr, stop, task: Some(task) }
    }
}

/// A running listener.
pub struct Server {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// How long a stopping server waits for requests in flight before it cuts them.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, asks every connection to close after its requests in flight, and
    /// waits for them up to [`Self::SHUTDOWN_TIMEOUT`].
    pub async fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Self::SHUTDOWN_TIMEOUT, &mut task).await.is_err()
        {
            tracing::warn!(endpoint = %self.local_addr, "requests in flight did not finish in time");
            task.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop<S, B>(listener: Listener, name: String, service: S, mut stopped: watch::Receiver<bool>)
where
    S: tower::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let Listener { tcp, policy, guard, .. } = listener;
    let cap = policy.connection_cap();
    let shared = Arc::new(Shared { builder: policy.builder(), policy, guard: Arc::new(guard), service, name });
    let open = Arc::new(AtomicUsize::new(0));
    let tracker = TaskTracker::new();
    let mut refused_logged = Instant::now() - Duration::from_secs(60);
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = tcp.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of descriptors and the like: wait a little instead of spinning.
                tracing::warn!(listener = %shared.name, "accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= cap {
            if refused_logged.elapsed() >= Duration::from_secs(10) {
                tracing::warn!(listener = %shared.name, max_connections = cap, "too many open connections; closing new ones");
                refused_logged = Instant::now();
            }
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (shared, open, stopped) = (shared.clone(), open.clone(), stopped.clone());
        tracker.spawn(async move {
            shared.connection(stream, stopped).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(tcp);
    tracker.close();
    tracker.wait().await;
}

struct Shared<S> {
    builder: auto::Builder<TokioExecutor>,
    policy: ConnectionPolicy,
    guard: Arc<RequestGuard>,
    service: S,
    name: String,
}

impl<S, B> Shared<S>
where
    S: tower::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    async fn connection(&self, stream: TcpStream, stopped: watch::Receiver<bool>) {
        let _ = stream.set_nodelay(true);
        self.size_buffers(&stream);
        match &self.policy.tls {
            None => self.serve_io(stream, stopped).await,
            Some(tls) => {
                let acceptor = tls.acceptor();
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => self.serve_io(stream, stopped).await,
                    Ok(Err(err)) => tracing::debug!(listener = %self.name, "TLS handshake failed: {err}"),
                    Err(_) => tracing::debug!(listener = %self.name, "TLS handshake timed out"),
                }
            }
        }
    }

    fn size_buffers(&self, stream: &TcpStream) {
        let socket = socket2::SockRef::from(stream);
        if let Some(size) = self.policy.recv_buffer_size {
            let _ = socket.set_recv_buffer_size(size as usize);
        }
        if let Some(size) = self.policy.send_buffer_size {
            let _ = socket.set_send_buffer_size(size as usize);
        }
    }

    /// Serves one connection until it ends, the server stops, or the watchdog closes it.
    async fn serve_io<I>(&self, io: I, mut stopped: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let clock = ConnectionClock::new();
        let service = Guarded { inner: self.service.clone(), guard: self.guard.clone(), clock: clock.clone() };
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let timeouts = self.policy.timeouts;
        let mut watchdog = tokio::time::interval(ConnectionClock::tick(&timeouts));
        let mut closing_since: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopped.wait_for(|stop| *stop), if closing_since.is_none() => {
                    connection.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
                _ = watchdog.tick() => match clock.verdict(&timeouts, closing_since) {
                    _ if closing_since.is_some_and(|since| since.elapsed() >= Server::SHUTDOWN_TIMEOUT) => return,
                    _ if !clock.busy() && closing_since.is_some_and(|since| since.elapsed() >= IDLE_CLOSE_GRACE) => return,
                    Verdict::Keep => {}
                    Verdict::Close if closing_since.is_none() => {
                        connection.as_mut().graceful_shutdown();
                        closing_since = Some(Instant::now());
                    }
                    Verdict::Close => {}
                    Verdict::Cut => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant as StdInstant;

    use http_body_util::Full;

    use super::*;
    use crate::GrpcServerSettings;
    use crate::auth::Authenticators;

    /// A client that connects to a gRPC port and never sends the HTTP/2 preface used to hold a
    /// stopping server for the whole shutdown timeout.
    #[tokio::test]
    async fn a_silent_connection_does_not_hold_up_shutdown() {
        let settings = GrpcServerSettings::at("127.0.0.1:0");
        let listener = Listener::grpc(&settings, "127.0.0.1:0", &Authenticators::default()).await.unwrap();
        let service = tower::service_fn(|_: Request<RequestBody>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let mut server = listener.serve("test", service);
        let _silent = TcpStream::connect(server.local_addr()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = StdInstant::now();
        server.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    }
}
