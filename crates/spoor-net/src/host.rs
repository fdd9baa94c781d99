//! The defence against DNS rebinding: a web page on `evil.example` whose name is made to
//! resolve to 127.0.0.1 can send requests to a localhost listener, but they carry
//! `Host: evil.example`. A listener bound to loopback therefore answers only requests whose
//! Host is a loopback name or address, or one the config lists in `allowed_hosts`.

use std::net::IpAddr;

use http::Request;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAllowList {
    /// `*` in the config: every Host is answered.
    any: bool,
    /// Lowercase names without a port; `.example.com` stands for `*.example.com`.
    names: Vec<String>,
}

impl HostAllowList {
    pub fn parse(allowed: &[String]) -> Result<Self, String> {
        let mut list = Self { any: false, names: Vec::new() };
        for entry in allowed {
            let entry = entry.trim().to_ascii_lowercase();
            if entry == "*" {
                list.any = true;
            } else if let Some(suffix) = entry.strip_prefix("*.") {
                list.names.push(format!(".{suffix}"));
            } else if entry.is_empty() || entry.contains(['/', ' ', '*']) {
                return Err(format!("invalid host {entry:?}: expected a name, an address, or *.domain"));
            } else {
                list.names.push(entry);
            }
        }
        Ok(list)
    }

    /// Whether the check applies to a listener on `bound`: always on loopback, and anywhere
    /// the config lists hosts.
    pub fn applies_to(&self, bound: IpAddr) -> bool {
        !self.any && (bound.is_loopback() || !self.names.is_empty())
    }

    /// Whether `host` (a Host header or `:authority`, maybe with a port) may be answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = strip_port(host.trim()).to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.names.iter().any(|allowed| match allowed.strip_prefix('.') {
            Some(suffix) => name.ends_with(allowed.as_str()) || name == suffix,
            None => *allowed == name,
        })
    }

    /// A request without a Host at all (HTTP/1.0) did not come from a browser.
    pub fn allows_request<B>(&self, request: &Request<B>) -> bool {
        let host = request.headers().get(http::header::HOST).and_then(|value| value.to_str().ok());
        match host.or_else(|| request.uri().authority().map(|a| a.as_str())) {
            Some(host) => self.allows(host),
            None => true,
        }
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(ip, _)| ip);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> HostAllowList {
        HostAllowList::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn loopback_names_and_addresses_pass() {
        let hosts = list(&[]);
        for host in [
            "localhost",
            "localhost:16686",
            "LOCALHOST",
            "app.localhost:1",
            "127.0.0.1:16686",
            "127.1.2.3",
            "[::1]:16686",
            "[::1]",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in ["evil.example", "evil.example:16686", "10.0.0.1:16686", "localhost.evil.example", "[::2]:1"] {
            assert!(!hosts.allows(host), "{host}");
        }
    }

    #[test]
    fn listed_hosts_and_wildcards() {
        let hosts = list(&["jaeger.internal", "*.example.com"]);
        assert!(hosts.allows("jaeger.internal:16686"));
        assert!(hosts.allows("a.example.com"));
        assert!(hosts.allows("example.com"));
        assert!(!hosts.allows("badexample.com"));
        assert!(!hosts.applies_to("127.0.0.1".parse().unwrap()) || !hosts.allows("other"));
        assert!(hosts.applies_to("0.0.0.0".parse().unwrap()));
        assert!(!list(&[]).applies_to("0.0.0.0".parse().unwrap()));
        assert!(!list(&["*"]).applies_to("127.0.0.1".parse().unwrap()));
        assert!(HostAllowList::parse(&["a/b".to_owned()]).is_err());
    }
}
