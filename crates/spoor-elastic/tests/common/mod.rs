//! The test server: osmem-server (PyPI `osmem-server`, an in-memory OpenSearch-API server),
//! which `scripts/test.sh` installs into the venv and names in `OSMEM_SERVER`. Each test starts
//! its own on a port the server picks, and it stops when the test drops it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Osmem {
    child: Child,
    pub url: String,
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server binary: `OSMEM_SERVER`, else the one in the repository's `.venv`. `None` when
/// neither exists and this is not CI; under `CI=true` a missing server is a failure.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OSMEM_SERVER") {
        return Some(PathBuf::from(path));
    }
    let venv_lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
    let found = std::fs::read_dir(&venv_lib).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|entry| entry.path().join("site-packages/osmem_server/bin/osmem-server"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "osmem-server not found: scripts/venv.sh installs it into .venv, or set OSMEM_SERVER"
        );
        eprintln!("skipped: osmem-server not found (run scripts/venv.sh, or set OSMEM_SERVER)");
    }
    found
}

impl Osmem {
    /// Starts a server, or `None` when there is none to start (see [`binary`]).
    pub fn start() -> Option<Self> {
        let binary = binary()?;
        let mut child = Command::new(&binary)
            .args(["--addr", "127.0.0.1:0", "--no-stdin-watch", "--no-ja"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("osmem-server's first line");
        let info: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|err| panic!("osmem-server printed {line:?}: {err}"));
        let url = info["url"].as_str().expect("the url osmem-server listens on").to_owned();
        Some(Self { child, url })
    }
}
