//! The agent's UDP servers: one reader per socket puts datagrams on a bounded queue, and a
//! fixed set of workers decodes and delivers them, as Jaeger's `TBufferedServer` and
//! `ThriftProcessor`. A full queue, an oversized datagram or one that does not decode is
//! dropped and counted as a refused span.

use std::net::SocketAddr;
use std::sync::Arc;

use spoor_pipeline::{ReceiverObserver, TraceBatch, TracesConsumer};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

use super::config::UdpServerSettings;
use crate::thrift::{AgentMessage, Protocol, decode_agent_datagram};
use crate::translate;

/// Binds a UDP socket on a collector-style `host:port` (`:6831` means all interfaces).
pub(crate) async fn bind(settings: &UdpServerSettings) -> std::io::Result<UdpSocket> {
    let endpoint = settings.endpoint.trim();
    let target = match endpoint.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => endpoint.to_owned(),
    };
    let mut last_error = None;
    for address in tokio::net::lookup_host(&target).await? {
        match bind_address(address, settings.socket_buffer_size) {
            Ok(socket) => return Ok(socket),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, format!("{endpoint} resolves to no address"))
    }))
}

fn bind_address(address: SocketAddr, buffer_size: usize) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if buffer_size > 0 {
        socket.set_recv_buffer_size(buffer_size)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

/// Starts the reader and the workers; they stop when `shutdown` flips, after the queued
/// datagrams are processed.
pub(crate) fn serve(
    socket: UdpSocket,
    settings: &UdpServerSettings,
    protocol: Protocol,
    next: Arc<dyn TracesConsumer>,
    observer: ReceiverObserver,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let (queue, receiver) = mpsc::channel::<Vec<u8>>(settings.queue_size);
    let receiver = Arc::new(Mutex::new(receiver));
    let mut tasks = Vec::with_capacity(settings.workers + 1);
    tasks.push(tokio::spawn(read_datagrams(socket, settings.max_packet_size, queue, observer.clone(), shutdown)));
    for _ in 0..settings.workers {
        let (receiver, next, observer) = (receiver.clone(), next.clone(), observer.clone());
        tasks.push(tokio::spawn(async move {
            // Ends when the reader has stopped and the queue is drained.
            loop {
                let datagram = receiver.lock().await.recv().await;
                let Some(datagram) = datagram else { break };
                process(&datagram, protocol, next.as_ref(), &observer).await;
            }
        }));
    }
    tasks
}

async fn read_datagrams(
    socket: UdpSocket,
    max_packet_size: usize,
    queue: mpsc::Sender<Vec<u8>>,
    observer: ReceiverObserver,
    mut shutdown: watch::Receiver<bool>,
) {
    // One byte more than allowed, to tell a datagram of exactly the limit from a larger one.
    let mut buffer = vec![0u8; max_packet_size + 1];
    loop {
        let received = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let length = match received {
            Ok((length, _)) => length,
            Err(err) => {
                // ICMP errors and the like; the socket stays usable.
                tracing::debug!("jaeger receiver: udp receive failed: {err}");
                continue;
            }
        };
        if length > max_packet_size {
            tracing::debug!(length, max_packet_size, "jaeger receiver: dropped oversized datagram");
            observer.refused(1);
            continue;
        }
        if queue.try_send(buffer[..length].to_vec()).is_err() {
            tracing::debug!("jaeger receiver: udp queue full, dropped datagram");
            observer.refused(1);
        }
    }
}

async fn process(datagram: &[u8], protocol: Protocol, next: &dyn TracesConsumer, observer: &ReceiverObserver) {
    let resource_spans = match decode_agent_datagram(datagram, protocol) {
        Ok(AgentMessage::Batch(batch)) => translate::thrift_to_otlp(batch),
        Ok(AgentMessage::ZipkinBatch(spans)) => translate::v1_thrift_to_otlp(spans),
        Err(err) => {
            tracing::debug!("jaeger receiver: dropped undecodable datagram: {err}");
            observer.refused(1);
            return;
        }
    };
    if let Err(err) = observer.deliver(next, TraceBatch::new(resource_spans)).await {
        tracing::debug!("jaeger receiver: udp batch refused: {err}");
    }
}
