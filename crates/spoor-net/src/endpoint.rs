//! The collector's `host:port` endpoints: parsing, resolving, and binding a listener.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues before `accept`, as Go's listen backlog.
const LISTEN_BACKLOG: u32 = 1024;

/// Where an endpoint asks to listen, before name resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenHost {
    Ip(IpAddr),
    Name(String),
}

/// Splits `host:port`, `[v6]:port` or `:port` (all interfaces, as in Go). `localhost` is the
/// IPv4 loopback, never all interfaces.
pub fn parse_endpoint(endpoint: &str) -> Result<(ListenHost, u16), String> {
    let endpoint = endpoint.trim();
    let invalid = || format!("invalid endpoint {endpoint:?}: expected host:port");
    let (host, port) = if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
        let port = after.strip_prefix(':').ok_or_else(invalid)?;
        (host, port)
    } else {
        let (host, port) = endpoint.rsplit_once(':').ok_or_else(invalid)?;
        if host.contains(':') {
            return Err(format!("invalid endpoint {endpoint:?}: IPv6 addresses need brackets, as [::1]:4317"));
        }
        (host, port)
    };
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?} in endpoint {endpoint:?}"))?;
    let host = if host.is_empty() {
        ListenHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else if host.eq_ignore_ascii_case("localhost") {
        ListenHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        ListenHost::Ip(ip)
    } else {
        ListenHost::Name(host.to_owned())
    };
    Ok((host, port))
}

/// Resolves an endpoint to the one address to bind, preferring IPv4 as Go does.
pub async fn resolve_endpoint(endpoint: &str) -> Result<SocketAddr, String> {
    let (host, port) = parse_endpoint(endpoint)?;
    match host {
        ListenHost::Ip(ip) => Ok(SocketAddr::new(ip, port)),
        ListenHost::Name(name) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|err| format!("cannot resolve {name:?}: {err}"))?
                .collect();
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| addrs.first())
                .copied()
                .ok_or_else(|| format!("{name:?} resolves to no address"))
        }
    }
}

/// Binds a TCP listener on `endpoint`, with `SO_REUSEADDR` as Go sets it, so a restarted
/// process can listen again while old connections sit in TIME_WAIT.
pub async fn bind(endpoint: &str) -> io::Result<TcpListener> {
    let addr =
        resolve_endpoint(endpoint).await.map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    bind_addr(addr)
}

pub fn bind_addr(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(parse_endpoint("localhost:4317").unwrap(), (ListenHost::Ip(lo), 4317));
        assert_eq!(parse_endpoint(":4318").unwrap(), (ListenHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), 4318));
        assert_eq!(parse_endpoint("[::1]:4317").unwrap().0, ListenHost::Ip("::1".parse().unwrap()));
        assert_eq!(parse_endpoint("collector:1").unwrap().0, ListenHost::Name("collector".into()));
        for bad in ["4317", "localhost", "::1:4317", "host:99999", "[::1]4317", "host:"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn localhost_binds_ipv4_loopback() {
        let listener = bind("localhost:0").await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        assert_eq!(resolve_endpoint("localhost:0").await.unwrap(), "127.0.0.1:0".parse().unwrap());
    }
}
