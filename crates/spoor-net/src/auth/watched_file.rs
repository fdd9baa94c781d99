//! A file whose parsed content is reloaded when the file changes, without a restart: a token
//! file, a JWKS, a password file.
//!
//! Each read checks the file's modification time, length and inode at most once per interval,
//! so a rewrite in place, a rename over it and a Kubernetes ConfigMap's symlink swap are all
//! seen. Polling needs no watcher thread and no shutdown: the check is a `stat` a second.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often a watched file is checked by default.
pub(crate) const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Turns the file's text into the value; the message must not quote the text, which may be a
/// secret.
pub(crate) type Parse<T> = fn(&str) -> Result<T, String>;

pub(crate) struct WatchedFile<T> {
    path: PathBuf,
    parse: Parse<T>,
    check_every: Duration,
    current: RwLock<Arc<T>>,
    state: Mutex<WatchState>,
}

struct WatchState {
    stamp: Option<Stamp>,
    checked_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl<T> WatchedFile<T> {
    /// Reads and parses the file once; a file that cannot be read or parsed now is a config
    /// error. Later failures keep the last good value and are logged.
    pub(crate) fn open(path: impl Into<PathBuf>, parse: Parse<T>, check_every: Duration) -> Result<Self, String> {
        let path = path.into();
        let stamp = stamp(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let value = load(&path, parse)?;
        Ok(Self {
            path,
            parse,
            check_every,
            current: RwLock::new(Arc::new(value)),
            state: Mutex::new(WatchState { stamp: Some(stamp), checked_at: Instant::now() }),
        })
    }

    /// The latest good value, reloading first if the check is due and the file changed.
    pub(crate) fn current(&self) -> Arc<T> {
        self.reload_if_changed();
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn reload_if_changed(&self) {
        // Another caller is checking right now: the value it may load is at most as new.
        let Ok(mut state) = self.state.try_lock() else { return };
        if state.checked_at.elapsed() < self.check_every {
            return;
        }
        state.checked_at = Instant::now();
        let stamp = match stamp(&self.path) {
            Ok(stamp) => stamp,
            Err(err) => {
                if state.stamp.take().is_some() {
                    tracing::warn!(path = %self.path.display(), error = %err, "cannot read the file; keeping its last content");
                }
                return;
            }
        };
        if state.stamp == Some(stamp) {
            return;
        }
        // Remember the stamp even on failure, so a broken file is reported once per change.
        state.stamp = Some(stamp);
        match load(&self.path, self.parse) {
            Ok(value) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
                tracing::info!(path = %self.path.display(), "reloaded the file");
            }
            Err(message) => {
                tracing::warn!(path = %self.path.display(), %message, "keeping the file's last good content")
            }
        }
    }
}

impl<T> fmt::Debug for WatchedFile<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedFile").field("path", &self.path).field("check_every", &self.check_every).finish()
    }
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let metadata = std::fs::metadata(path)?;
    Ok(Stamp { modified: metadata.modified().ok(), len: metadata.len(), inode: metadata.ino() })
}

fn load<T>(path: &Path, parse: Parse<T>) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    parse(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn line_count(text: &str) -> Result<usize, String> {
        if text.contains("bad") { Err("a bad line".to_owned()) } else { Ok(text.lines().count()) }
    }

    /// Rewrites the file and moves its modification time forward, so the change is seen even on
    /// file systems with coarse timestamps.
    pub(crate) fn rewrite(path: &Path, text: &str) {
        let before = std::fs::metadata(path).and_then(|m| m.modified()).unwrap();
        std::fs::write(path, text).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(before + Duration::from_secs(2)).unwrap();
    }

    #[test]
    fn reloads_after_a_change_and_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        std::fs::write(&path, "a\n").unwrap();
        let watched = WatchedFile::open(&path, line_count, Duration::ZERO).unwrap();
        assert_eq!(*watched.current(), 1);
        rewrite(&path, "a\nb\n");
        assert_eq!(*watched.current(), 2);
        rewrite(&path, "bad\n");
        assert_eq!(*watched.current(), 2);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*watched.current(), 2);
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(*watched.current(), 3);
    }

    #[test]
    fn a_missing_or_bad_file_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        assert!(WatchedFile::open(&path, line_count, Duration::ZERO).unwrap_err().starts_with("cannot read"));
        std::fs::write(&path, "bad").unwrap();
        assert_eq!(WatchedFile::open(&path, line_count, Duration::ZERO).unwrap_err(), "a bad line");
    }
}
