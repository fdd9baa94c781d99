//! The background tasks. One cuts the head into blocks; the other applies retention and
//! compacts. They are separate tasks with separate locks, so a cut never waits behind a
//! compaction. The CPU work of both (building a block) runs on a thread of its own at a lower
//! priority ([`build_off_runtime`]), never on the async runtime's workers.
//!
//! A failing cut (full disk, unwritable directory) is retried with exponential backoff
//! (`CUT_RETRY_FIRST` doubling up to `CUT_RETRY_MAX`) instead of every tick, and `CutHealth`
//! logs one line when cuts start failing and one when they recover; meanwhile
//! `Inner::writable` says the store cannot persist.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Inner;
use crate::StoreError;

/// How often the cut task checks whether the head is due to be cut.
const CUT_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// The first wait after a failed cut; it doubles with each failure in a row.
const CUT_RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts of a failing cut.
const CUT_RETRY_MAX: Duration = Duration::from_secs(30);

/// How much nicer than the rest of the process the threads that build blocks run (cuts and
/// compaction): when the CPU is short, receiving spans and answering queries go first, and a
/// cut that falls behind shows as a full head (retryable refusals), not as slow queries.
/// RocksDB lowers its compaction threads' priority for the same reason.
const BUILD_NICENESS: i32 = 5;

/// Runs `work` on a thread of its own at [`BUILD_NICENESS`], and returns its result. The
/// threads `work` starts inherit the priority. (A pooled blocking thread cannot be used: an
/// unprivileged process cannot raise a thread's priority back.)
pub(super) async fn build_off_runtime<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("spoor-{what}"))
        .spawn(move || {
            lower_priority();
            let _ = done.send(work());
        })
        .map_err(|e| StoreError::Other(format!("starting the {what} thread failed: {e}")))?;
    result.await.map_err(|_| StoreError::Other(format!("the {what} thread panicked")))?
}

fn lower_priority() {
    // SAFETY: `gettid`, `getpriority` and `setpriority` take plain integers and touch no
    // memory of ours; on Linux, PRIO_PROCESS with a thread ID means that thread's nice value.
    #[cfg(target_os = "linux")]
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        // Relative to the thread's own nice value (-1 can be a nice value or an error; either
        // way the result is a valid one).
        let nice = (libc::getpriority(libc::PRIO_PROCESS, tid) + BUILD_NICENESS).min(19);
        if libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower a block builder's priority");
        }
    }
}

/// Starts the cut task and the maintenance task.
pub(super) fn spawn(inner: &Arc<Inner>, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(cut_loop(Arc::downgrade(inner), inner.cut_wanted.clone(), shutdown.clone())),
        tokio::spawn(maintenance_loop(Arc::downgrade(inner), inner.config.maintenance_interval, shutdown.clone())),
    ]
}

async fn cut_loop(inner: Weak<Inner>, cut_wanted: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(CUT_CHECK_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = cut_wanted.notified() => {}
            _ = shutdown.changed() => return,
        }
        if !backoff.due() {
            continue;
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        // Heads left frozen by a failed cut are written first, on their own: freezing the
        // live head too would pile up more heads behind a failing one.
        let cut = if inner.has_frozen_heads() {
            inner.write_frozen_heads().await
        } else if inner.head_due() {
            inner.cut_block().await
        } else {
            continue;
        };
        match cut {
            Ok(()) => backoff.reset(),
            Err(_) => backoff.failed(),
        }
    }
}

async fn maintenance_loop(inner: Weak<Inner>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(err) = inner.enforce_retention().await {
            tracing::error!(error = %err, "retention failed");
        }
        if let Err(err) = inner.compact().await {
            tracing::error!(error = %err, "compaction failed");
        }
    }
}

/// When the cut task may try again.
#[derive(Default)]
struct Backoff {
    /// The current wait and when it ends, while cuts fail.
    waiting: Option<(Duration, Instant)>,
}

impl Backoff {
    fn due(&self) -> bool {
        self.waiting.is_none_or(|(_, until)| Instant::now() >= until)
    }

    fn failed(&mut self) {
        let delay = self.waiting.map_or(CUT_RETRY_FIRST, |(delay, _)| (delay * 2).min(CUT_RETRY_MAX));
        self.waiting = Some((delay, Instant::now() + delay));
    }

    fn reset(&mut self) {
        self.waiting = None;
    }
}

/// Whether cuts succeed, for the write path and the logs.
#[derive(Default)]
pub(super) struct CutHealth {
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl CutHealth {
    /// Records a cut's outcome; logs when cuts start failing and when they recover.
    pub fn record(&self, result: &Result<(), StoreError>) {
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("cutting the head into blocks works again");
                }
            }
            Err(err) => {
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.to_string());
                if !self.failing.swap(true, Ordering::AcqRel) {
                    tracing::error!(error = %err, "cutting the head into a block fails; retrying with backoff");
                } else {
                    tracing::debug!(error = %err, "cutting the head into a block still fails");
                }
            }
        }
    }

    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// `Unavailable` while cuts fail: the head cannot be persisted, so memory and the WAL
    /// only grow.
    pub fn writable(&self) -> Result<(), StoreError> {
        if !self.failing() {
            return Ok(());
        }
        let cause = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        Err(StoreError::Unavailable {
            message: format!("the store cannot write blocks: {cause}"),
            retry_after: Some(CUT_RETRY_FIRST),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        assert!(backoff.due());
        let mut delays = Vec::new();
        for _ in 0..7 {
            backoff.failed();
            delays.push(backoff.waiting.map(|(d, _)| d.as_secs()).unwrap_or_default());
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        assert!(!backoff.due());
        backoff.reset();
        assert!(backoff.due());
    }

    #[test]
    fn health_refuses_writes_while_failing() {
        let health = CutHealth::default();
        assert!(health.writable().is_ok());
        health.record(&Err(StoreError::Other("no space left on device".to_owned())));
        let err = health.writable().unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("no space left"), "{err}");
        health.record(&Ok(()));
        assert!(health.writable().is_ok());
    }
}
