//! A full disk under the embedded store, on a real small file system: an 8 MiB tmpfs mounted
//! for the test (it skips, saying so, where mounting is not permitted). Writes are refused at
//! once with a retryable error, nothing acknowledged is lost, and writes succeed again by
//! themselves once space is freed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use spoor_store::synth::one_span;
use spoor_store::{EmbeddedConfig, EmbeddedStore, StoreError, SyncMode, TraceId, TraceStore};

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|out| out.status.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn trace_id(n: u32) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = 0xd1;
    id[12..].copy_from_slice(&n.to_be_bytes());
    id
}

fn config(path: PathBuf) -> EmbeddedConfig {
    EmbeddedConfig {
        path,
        sync: SyncMode::Always,
        ttl: Duration::ZERO,
        block_duration: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// Writes trace `n`; fails the test if the store takes 2 s or more to answer.
async fn write(store: &EmbeddedStore, n: u32) -> Result<(), StoreError> {
    let started = Instant::now();
    let result = store.write(&one_span(trace_id(n), "disk", &format!("op-{n}"))).await;
    assert!(started.elapsed() < Duration::from_secs(2), "write {n} answered after {:?}", started.elapsed());
    result
}

async fn assert_all_found(store: &EmbeddedStore, acknowledged: &[u32]) {
    for &n in acknowledged {
        let trace = store.get_trace(trace_id(n), None).await.unwrap();
        assert!(trace.is_some(), "acknowledged trace {n} is missing");
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_at_once_and_recovers_when_space_returns() {
    let Some(fs) = Tmpfs::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let data = fs.path().join("data");
    let store = EmbeddedStore::open(config(data.clone())).await.unwrap();
    // Most of the space goes to a file that is removed later; the WAL fills the rest.
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 7 << 20]).unwrap();

    let mut acknowledged = Vec::new();
    let mut n = 0;
    let refusal = loop {
        n += 1;
        assert!(n < 1_000_000, "the disk never filled");
        match write(&store, n).await {
            Ok(()) => acknowledged.push(n),
            Err(err) => break err,
        }
    };
    let StoreError::Unavailable { retry_after: Some(_), message } = &refusal else {
        panic!(
            "a full disk answered {refusal:?} at write {n} ({} acknowledged), not a retryable refusal",
            acknowledged.len()
        );
    };
    assert!(message.contains("No space left"), "{message}");
    assert!(acknowledged.len() > 100, "only {} writes before the disk was full", acknowledged.len());
    // Still full: every write is refused, at once.
    for _ in 0..20 {
        n += 1;
        assert!(matches!(write(&store, n).await, Err(StoreError::Unavailable { .. })));
    }
    assert_all_found(&store, &acknowledged).await;

    // Space returns: writes succeed again by themselves (after the WAL's retry interval).
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    loop {
        n += 1;
        match write(&store, n).await {
            Ok(()) => {
                acknowledged.push(n);
                break;
            }
            Err(StoreError::Unavailable { .. }) if freed.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("still refused {:?} after space returned: {err}", freed.elapsed()),
        }
    }
    for _ in 0..50 {
        n += 1;
        write(&store, n).await.unwrap();
        acknowledged.push(n);
    }
    assert_all_found(&store, &acknowledged).await;

    // The failed segment, torn tail and all, replays: nothing acknowledged is lost.
    store.close().await.unwrap();
    drop(store);
    let reopened = EmbeddedStore::open(config(data)).await.unwrap();
    assert_all_found(&reopened, &acknowledged).await;
    reopened.close().await.unwrap();
}
