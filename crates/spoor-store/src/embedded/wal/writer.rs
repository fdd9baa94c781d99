//! The thread that owns the active WAL segment: group commit, periodic fsync in
//! `sync: interval` mode, rotation, and the failed state.
//!
//! A failed `write` or `fsync` fails the segment. After a failed fsync the kernel may have
//! dropped the dirty pages and cleared the error, so a second fsync of the same file proves
//! nothing (PostgreSQL's "fsyncgate"): the segment is closed for good and kept for replay,
//! which cuts its torn tail. Until a fresh segment has taken a write and synced, every append
//! is answered with a retryable refusal. A fresh segment is tried at most every
//! [`RECOVERY_INTERVAL`], and one that fails too is removed (nothing in it was
//! acknowledged), so a full disk does not fill the directory with empty segments.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Command, Reply, create_segment, segment_path};
use crate::SyncMode;

/// At most this many records share one write and fsync.
const MAX_GROUP: usize = 4096;

/// How long a failed WAL waits before it tries a fresh segment again; also the delay it
/// tells refused writers to wait.
pub(super) const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

type PendingAppend = (Vec<u8>, Reply<()>);

/// Why the active segment failed, and when a fresh one may be tried.
struct Failure {
    message: String,
    next_attempt: Instant,
}

pub(super) struct SegmentWriter {
    dir: PathBuf,
    file: File,
    number: u64,
    sync: SyncMode,
    sync_interval: Duration,
    /// Written since the last fsync.
    dirty: bool,
    last_sync: Instant,
    /// Set while the WAL refuses appends: the active segment failed and no fresh one has
    /// synced since.
    failed: Option<Failure>,
}

impl SegmentWriter {
    pub(super) fn new(dir: PathBuf, file: File, number: u64, sync: SyncMode, sync_interval: Duration) -> Self {
        Self { dir, file, number, sync, sync_interval, dirty: false, last_sync: Instant::now(), failed: None }
    }

    pub(super) fn run(mut self, receiver: Receiver<Command>) {
        while let Some(first) = self.next_command(&receiver) {
            let mut appends = Vec::new();
            let mut control = None;
            match first {
                Command::Append(record, done) => appends.push((record, done)),
                other => control = Some(other),
            }
            while control.is_none() && appends.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(Command::Append(record, done)) => appends.push((record, done)),
                    Ok(other) => control = Some(other),
                    Err(_) => break,
                }
            }
            if !appends.is_empty() {
                self.write_group(appends);
            }
            match control {
                Some(Command::Rotate(done)) => {
                    let _ = done.send(self.rotate().map_err(|e| e.to_string()));
                }
                Some(Command::Sync(done)) => {
                    let _ = done.send(self.sync_command());
                }
                Some(Command::Append(..)) | None => {}
            }
        }
        if self.failed.is_none()
            && let Err(err) = self.sync_now()
        {
            tracing::error!(segment = self.number, error = %err, "wal sync on close failed");
        }
    }

    /// The next command; with `sync: interval`, syncs on time while waiting.
    fn next_command(&mut self, receiver: &Receiver<Command>) -> Option<Command> {
        loop {
            if self.sync == SyncMode::Always || !self.dirty {
                return receiver.recv().ok();
            }
            let wait = self.sync_interval.saturating_sub(self.last_sync.elapsed());
            match receiver.recv_timeout(wait) {
                Ok(command) => return Some(command),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(err) = self.sync_now() {
                        self.fail(&err);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn write_group(&mut self, appends: Vec<PendingAppend>) {
        let total = appends.iter().map(|(record, _)| record.len()).sum();
        let mut buffer = Vec::with_capacity(total);
        for (record, _) in &appends {
            buffer.extend_from_slice(record);
        }
        let result = match &self.failed {
            Some(_) => self.recover(&buffer),
            None => self.write_active(&buffer),
        };
        for (_, done) in appends {
            let _ = done.send(result.clone());
        }
    }

    /// Writes to the healthy active segment, and fsyncs when the mode says so. An error
    /// fails the segment: nothing of this group is acknowledged.
    fn write_active(&mut self, buffer: &[u8]) -> Result<(), String> {
        let mut result = self.file.write_all(buffer);
        if result.is_ok() {
            self.dirty = true;
            if self.sync == SyncMode::Always || self.last_sync.elapsed() >= self.sync_interval {
                result = self.sync_now();
            }
        }
        result.map_err(|err| self.fail(&err))
    }

    /// With the WAL failed: refuses while the last attempt is recent, else moves to a fresh
    /// segment holding `buffer`, written and synced, and leaves the failed state.
    fn recover(&mut self, buffer: &[u8]) -> Result<(), String> {
        let Some(failure) = &mut self.failed else { return Ok(()) };
        if Instant::now() < failure.next_attempt {
            return Err(failure.message.clone());
        }
        match self.open_fresh(buffer) {
            Ok(()) => Ok(()),
            Err(err) => {
                tracing::debug!(error = %err, "wal still failing");
                let message = format!("the wal cannot write: {err}");
                self.failed =
                    Some(Failure { message: message.clone(), next_attempt: Instant::now() + RECOVERY_INTERVAL });
                Err(message)
            }
        }
    }

    /// Opens segment `number + 1`, writes `buffer` and fsyncs it; on success it becomes the
    /// active segment and the WAL is healthy again. On failure the new file is removed.
    fn open_fresh(&mut self, buffer: &[u8]) -> io::Result<()> {
        let number = self.number + 1;
        let mut file = create_segment(&self.dir, number)?;
        if let Err(err) = file.write_all(buffer).and_then(|()| file.sync_data()) {
            drop(file);
            // Nothing in it was acknowledged; a stray partial record would only be cut by replay.
            let _ = fs::remove_file(segment_path(&self.dir, number));
            return Err(err);
        }
        let failed_segment = self.number;
        self.file = file;
        self.number = number;
        self.dirty = false;
        self.last_sync = Instant::now();
        if self.failed.take().is_some() {
            tracing::info!(failed_segment, segment = number, "wal writes again: a fresh segment synced");
        }
        Ok(())
    }

    /// Enters the failed state (logged once, when entering it) and returns the refusal.
    fn fail(&mut self, err: &io::Error) -> String {
        let message = format!("the wal cannot write: {err}");
        if self.failed.is_none() {
            let unsynced = self.sync == SyncMode::Interval && self.dirty;
            tracing::error!(
                segment = self.number,
                error = %err,
                unsynced_acknowledged_records = unsynced,
                "wal segment failed; writes are refused until a fresh segment syncs (records acknowledged \
                 since the last good fsync are durable only once the head is cut into a block)"
            );
        }
        // The failed file is never fsynced again: its state after a failed fsync is unknown.
        self.dirty = false;
        self.failed = Some(Failure { message: message.clone(), next_attempt: Instant::now() + RECOVERY_INTERVAL });
        message
    }

    fn sync_now(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn sync_command(&mut self) -> Result<(), String> {
        if let Some(failure) = &self.failed {
            return Err(failure.message.clone());
        }
        self.sync_now().map_err(|err| self.fail(&err))
    }

    /// Closes the active segment and opens the next; returns the closed segment's number. A
    /// failed WAL recovers here if the fresh segment syncs.
    fn rotate(&mut self) -> io::Result<u64> {
        let closed = self.number;
        if self.failed.is_some() {
            self.open_fresh(&[])?;
            return Ok(closed);
        }
        if let Err(err) = self.sync_now() {
            self.fail(&err);
            return Err(err);
        }
        self.file = create_segment(&self.dir, closed + 1)?;
        self.number = closed + 1;
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::sync::mpsc;

    use tokio::sync::oneshot;

    use super::*;
    use crate::embedded::wal::{frame, scan_records};

    /// A writer whose active segment is `device`: `/dev/null` takes writes and fails fsync
    /// (EINVAL), `/dev/full` fails writes (ENOSPC).
    fn writer_on(device: &str, sync: SyncMode, sync_interval: Duration) -> (SegmentWriter, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = OpenOptions::new().write(true).open(device).unwrap();
        (SegmentWriter::new(dir.path().to_owned(), file, 1, sync, sync_interval), dir)
    }

    fn append(writer: &mut SegmentWriter, payloads: &[&[u8]]) -> Vec<Result<(), String>> {
        let mut answers = Vec::new();
        let mut group = Vec::new();
        for payload in payloads {
            let (done, answer) = oneshot::channel();
            group.push((frame(payload), done));
            answers.push(answer);
        }
        writer.write_group(group);
        answers.into_iter().map(|mut answer| answer.try_recv().unwrap()).collect()
    }

    fn records_in(dir: &std::path::Path, number: u64) -> Vec<Vec<u8>> {
        let bytes = fs::read(segment_path(dir, number)).unwrap();
        let mut records = Vec::new();
        scan_records(&bytes, |payload| {
            records.push(payload.to_vec());
            true
        });
        records
    }

    #[test]
    fn a_failed_fsync_refuses_every_append_until_a_fresh_segment_syncs() {
        let (mut writer, dir) = writer_on("/dev/null", SyncMode::Always, Duration::from_secs(1));
        let answers = append(&mut writer, &[b"a", b"b"]);
        assert!(answers.iter().all(|answer| answer.as_ref().is_err_and(|e| e.contains("Invalid argument"))));
        // Within the recovery interval: refused without touching the disk.
        assert!(append(&mut writer, &[b"c"])[0].is_err());
        assert!(!segment_path(dir.path(), 2).exists(), "a fresh segment was tried at once");

        if let Some(failure) = &mut writer.failed {
            failure.next_attempt = Instant::now();
        }
        assert_eq!(append(&mut writer, &[b"d"]), vec![Ok(())]);
        assert!(writer.failed.is_none());
        assert_eq!(writer.number, 2);
        assert_eq!(records_in(dir.path(), 2), vec![b"d".to_vec()], "the fresh segment holds only what it acknowledged");
        assert_eq!(append(&mut writer, &[b"e"]), vec![Ok(())]);
        assert_eq!(records_in(dir.path(), 2).len(), 2);
    }

    #[test]
    fn a_failed_write_acknowledges_nothing() {
        let (mut writer, _dir) = writer_on("/dev/full", SyncMode::Interval, Duration::from_secs(3600));
        let answers = append(&mut writer, &[b"a", b"b", b"c"]);
        assert!(answers.iter().all(|answer| answer.as_ref().is_err_and(|e| e.contains("No space left"))));
        assert!(writer.failed.is_some());
        assert!(!writer.dirty, "a failed segment is never fsynced again");
    }

    #[test]
    fn in_interval_mode_a_failed_periodic_fsync_refuses_appends_until_a_rotate_syncs() {
        let (writer, dir) = writer_on("/dev/null", SyncMode::Interval, Duration::from_millis(10));
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::spawn(move || writer.run(receiver));
        let call = |command: fn(Reply<()>) -> Command| {
            let (done, answer) = oneshot::channel();
            sender.send(command(done)).unwrap();
            answer.blocking_recv().unwrap()
        };
        let append = |payload: &'static [u8]| {
            let (done, answer) = oneshot::channel();
            sender.send(Command::Append(frame(payload), done)).unwrap();
            answer.blocking_recv().unwrap()
        };
        assert_eq!(append(b"a"), Ok(()), "interval mode acknowledges the write before its fsync");
        // The periodic fsync fails meanwhile.
        std::thread::sleep(Duration::from_millis(100));
        assert!(append(b"b").is_err(), "an append after a failed periodic fsync was acknowledged");
        assert!(call(Command::Sync).is_err());

        let (done, rotated) = oneshot::channel();
        sender.send(Command::Rotate(done)).unwrap();
        assert_eq!(rotated.blocking_recv().unwrap(), Ok(1), "the failed segment is the one closed");
        assert_eq!(append(b"c"), Ok(()));
        assert_eq!(call(Command::Sync), Ok(()));
        drop(sender);
        thread.join().unwrap();
        assert_eq!(records_in(dir.path(), 2), vec![b"c".to_vec()]);
    }
}
