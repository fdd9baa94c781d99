//! Listening sockets and TLS accept loops shared by both transports.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// A client that opens a connection and never finishes the handshake is dropped after this.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Out of file descriptors and similar: wait a little instead of spinning on `accept`.
pub(crate) async fn accept_backoff(err: &io::Error) {
    tracing::warn!("otlp receiver: accept failed: {err}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Connections that completed a TLS handshake, each handshake on its own task so that a
/// slow client does not hold up the others. The accept loop ends when the stream is dropped.
pub(crate) fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = sender.closed() => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_backoff(&err).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(Ok(tls)).await;
                    }
                    Ok(Err(err)) => tracing::debug!("otlp receiver: TLS handshake failed: {err}"),
                    Err(_) => tracing::debug!("otlp receiver: TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}
