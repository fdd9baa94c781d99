//! A server's TLS config that follows its files: `reload_interval` re-reads the certificate,
//! key and client CA when any of them changed, and `client_ca_file_reload` checks every second.
//! A reload that fails keeps serving the last good config and logs why.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::tls::{TlsError, TlsSettings};

/// How often `client_ca_file_reload` looks at the CA file.
const CLIENT_CA_CHECK: Duration = Duration::from_secs(1);

pub struct ServerTls {
    settings: TlsSettings,
    alpn: Vec<Vec<u8>>,
    check_every: Option<Duration>,
    state: Mutex<State>,
}

struct State {
    acceptor: TlsAcceptor,
    stamps: Vec<Option<(SystemTime, u64)>>,
    checked: Instant,
}

impl ServerTls {
    /// Reads the files once; an error here is a start-up error.
    pub fn new(settings: &TlsSettings, alpn: &[&[u8]]) -> Result<Self, TlsError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let config = build(settings, &alpn)?;
        let check_every = match (settings.reload_interval.filter(|d| !d.is_zero()), settings.client_ca_file_reload) {
            (Some(interval), true) => Some(interval.min(CLIENT_CA_CHECK)),
            (Some(interval), false) => Some(interval),
            (None, true) => Some(CLIENT_CA_CHECK),
            (None, false) => None,
        };
        let state = State { acceptor: TlsAcceptor::from(config), stamps: stamps(settings), checked: Instant::now() };
        Ok(Self { settings: settings.clone(), alpn, check_every, state: Mutex::new(state) })
    }

    /// The acceptor for the next handshake, after reading the files again when a check is due
    /// and they changed.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(every) = self.check_every
            && state.checked.elapsed() >= every
        {
            state.checked = Instant::now();
            let current = stamps(&self.settings);
            if current != state.stamps {
                match build(&self.settings, &self.alpn) {
                    Ok(config) => {
                        tracing::info!("tls: certificate files changed; serving the new ones");
                        state.acceptor = TlsAcceptor::from(config);
                        state.stamps = current;
                    }
                    Err(err) => tracing::warn!("tls: reload failed, keeping the previous certificate: {err}"),
                }
            }
        }
        state.acceptor.clone()
    }
}

fn build(settings: &TlsSettings, alpn: &[Vec<u8>]) -> Result<Arc<ServerConfig>, TlsError> {
    let alpn: Vec<&[u8]> = alpn.iter().map(Vec::as_slice).collect();
    settings.server_config(&alpn).map(Arc::new)
}

/// Modification time and length of each file the config reads; a rewrite in place within the
/// same second usually changes the length, and a renamed-in file changes the time.
fn stamps(settings: &TlsSettings) -> Vec<Option<(SystemTime, u64)>> {
    [&settings.cert_file, &settings.key_file, &settings.client_ca_file]
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(path.as_deref()?).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}
