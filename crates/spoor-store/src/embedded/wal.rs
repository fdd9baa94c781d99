//! The write-ahead log: numbered segment files of framed OTLP records on local disk.
//!
//! A record is `magic u32 | len u32 | crc32c(len ‖ payload) u32 | payload`, little-endian,
//! where the payload is a protobuf `ExportTraceServiceRequest`. The magic lets replay find
//! the next record after a damaged one, so one flipped byte costs one record, not the rest of
//! the segment.
//!
//! One thread owns the active segment ([`writer`]). Writers hand it records over a channel; it
//! takes every record that is waiting, writes them with one `write` and (with `sync: always`)
//! one fsync, and then answers them all: group commit. A failed write or fsync fails the
//! segment: appends are refused with [`StoreError::Unavailable`] until a fresh segment syncs.
//! A block cut rotates to a new segment, and once the block is stored, the segments it covers
//! are deleted.

mod writer;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use self::writer::{RECOVERY_INTERVAL, SegmentWriter};
use crate::{StoreError, SyncMode};

/// `b"SOPR"` read as a little-endian u32.
const MAGIC: u32 = 0x5250_4f53;
const HEADER_LEN: usize = 12;
/// Larger records are taken for damage: the HTTP body limit is 20 MiB before decompression.
const MAX_RECORD_LEN: usize = 256 << 20;
const SEGMENT_SUFFIX: &str = ".wal";

#[cfg(test)]
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    frame_with(payload.len(), |out| out.extend_from_slice(payload))
}

/// A record whose payload `write_payload` writes in place, after the header: the payload is
/// not built apart and then copied. `len_hint` sizes the buffer.
pub(crate) fn frame_with(len_hint: usize, write_payload: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + len_hint);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[0; HEADER_LEN - 4]);
    write_payload(&mut out);
    // A payload over u32::MAX gets a length replay refuses (MAX_RECORD_LEN), never a wrong one.
    let len = u32::try_from(out.len() - HEADER_LEN).unwrap_or(u32::MAX).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), &out[HEADER_LEN..]);
    out[4..8].copy_from_slice(&len);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The record starting at `pos`, and where the next one starts.
fn record_at(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(pos..pos + HEADER_LEN)?;
    let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if word(0) != MAGIC {
        return None;
    }
    let len = word(4) as usize;
    if len > MAX_RECORD_LEN {
        return None;
    }
    let start = pos + HEADER_LEN;
    let payload = bytes.get(start..start + len)?;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[4..8]), payload);
    (crc == word(8)).then_some((payload, start + len))
}

/// What replay found in one segment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    pub records: usize,
    pub skipped_bytes: usize,
    /// Where a torn tail starts, if the segment ends in one.
    pub torn_at: Option<usize>,
}

/// Calls `on_record` for every intact record in `bytes`, skipping damage.
pub(crate) fn scan_records(bytes: &[u8], mut on_record: impl FnMut(&[u8]) -> bool) -> SegmentScan {
    let mut scan = SegmentScan::default();
    let mut pos = 0;
    while pos < bytes.len() {
        if let Some((payload, next)) = record_at(bytes, pos)
            && on_record(payload)
        {
            scan.records += 1;
            pos = next;
            continue;
        }
        match next_record(bytes, pos + 1) {
            Some(next) => {
                scan.skipped_bytes += next - pos;
                pos = next;
            }
            None => {
                scan.torn_at = Some(pos);
                break;
            }
        }
    }
    scan
}

fn next_record(bytes: &[u8], from: usize) -> Option<usize> {
    let magic = MAGIC.to_le_bytes();
    (from..bytes.len().saturating_sub(HEADER_LEN - 1))
        .filter(|&pos| bytes[pos..pos + 4] == magic)
        .find(|&pos| record_at(bytes, pos).is_some())
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}{SEGMENT_SUFFIX}"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(number) =
            name.to_str().and_then(|n| n.strip_suffix(SEGMENT_SUFFIX)).and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        numbers.push(number);
    }
    numbers.sort_unstable();
    Ok(numbers)
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Command {
    Append(Vec<u8>, Reply<()>),
    /// Closes the active segment and opens the next; answers the closed segment's number.
    Rotate(Reply<u64>),
    Sync(Reply<()>),
}

pub(crate) struct Wal {
    dir: PathBuf,
    sender: Mutex<Option<Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Wal {
    /// Deletes the segments up to `covered_through` (their spans are in blocks), replays the
    /// rest through `on_record`, and starts a fresh segment.
    pub fn open(
        dir: &Path,
        sync: SyncMode,
        sync_interval: Duration,
        covered_through: u64,
        mut on_record: impl FnMut(&[u8]) -> bool,
    ) -> Result<Self, StoreError> {
        fs::create_dir_all(dir)?;
        let mut last = covered_through;
        for number in list_segments(dir)? {
            let path = segment_path(dir, number);
            last = last.max(number);
            if number <= covered_through {
                fs::remove_file(&path)?;
                continue;
            }
            replay_segment(&path, &mut on_record)?;
        }
        let active = last + 1;
        let file = create_segment(dir, active)?;
        let (sender, receiver) = mpsc::channel();
        let writer = SegmentWriter::new(dir.to_owned(), file, active, sync, sync_interval);
        let thread = std::thread::Builder::new().name("spoor-wal".to_owned()).spawn(move || writer.run(receiver))?;
        Ok(Self { dir: dir.to_owned(), sender: Mutex::new(Some(sender)), thread: Mutex::new(Some(thread)) })
    }

    fn send(&self, command: Command) -> Result<(), StoreError> {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        match sender.as_ref() {
            Some(sender) => sender.send(command).map_err(|_| closed()),
            None => Err(closed()),
        }
    }

    /// Returns once `record` (a framed payload) is written, and fsynced with `sync: always`.
    /// A WAL that cannot write (full disk, unwritable directory, failed fsync) answers
    /// [`StoreError::Unavailable`] at once, until a fresh segment syncs.
    pub async fn append(&self, record: Vec<u8>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Append(record, done))?;
        answer(wait.await, |message| StoreError::Unavailable { message, retry_after: Some(RECOVERY_INTERVAL) })
    }

    pub async fn rotate(&self) -> Result<u64, StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Rotate(done))?;
        answer(wait.await, io_error)
    }

    pub async fn sync(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Sync(done))?;
        answer(wait.await, io_error)
    }

    /// Deletes the closed segments up to and including `through`.
    pub fn delete_through(&self, through: u64) -> Result<(), StoreError> {
        for number in list_segments(&self.dir)? {
            if number <= through {
                fs::remove_file(segment_path(&self.dir, number))?;
            }
        }
        Ok(())
    }

    /// Stops the writer thread after it has written and synced what it was given.
    pub fn close(&self) {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("wal writer thread panicked");
        }
    }
}

fn closed() -> StoreError {
    StoreError::Other("the wal is closed".to_owned())
}

fn io_error(message: String) -> StoreError {
    StoreError::Io(io::Error::other(message))
}

fn answer<T>(
    reply: Result<Result<T, String>, oneshot::error::RecvError>,
    error: impl FnOnce(String) -> StoreError,
) -> Result<T, StoreError> {
    match reply {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(message)) => Err(error(message)),
        Err(_) => Err(closed()),
    }
}

fn create_segment(dir: &Path, number: u64) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, number))?;
    // The new name must survive a crash too.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

fn replay_segment(path: &Path, on_record: &mut impl FnMut(&[u8]) -> bool) -> Result<(), StoreError> {
    let bytes = fs::read(path)?;
    let scan = scan_records(&bytes, |payload| on_record(payload));
    if scan.skipped_bytes > 0 {
        tracing::warn!(
            segment = %path.display(),
            skipped_bytes = scan.skipped_bytes,
            "skipped damaged wal records; kept every intact record"
        );
    }
    if let Some(torn_at) = scan.torn_at {
        tracing::warn!(
            segment = %path.display(),
            offset = torn_at,
            dropped_bytes = bytes.len() - torn_at,
            "cut torn or corrupt wal tail at the last good record"
        );
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(torn_at as u64)?;
        file.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost::Message;
    use spoor_pipeline::TraceBatch;
    use spoor_pipeline::otlp::ExportTraceServiceRequest;

    use super::*;
    use crate::embedded::encode_batch;
    use crate::synth::one_span;

    fn payload_of(record: &[u8]) -> Vec<u8> {
        let mut payloads = Vec::new();
        let scan = scan_records(record, |payload| {
            payloads.push(payload.to_vec());
            true
        });
        assert_eq!((scan.records, scan.skipped_bytes, scan.torn_at), (1, 0, None));
        payloads.remove(0)
    }

    #[test]
    fn an_encoded_batch_is_logged_as_the_bytes_it_arrived_in() {
        let mut received = one_span([7; 16], "svc", "op").encode_request();
        // An unknown field inside the ResourceSpans: a decode and re-encode would drop it.
        let resource_len = received[1] as usize;
        received.splice(2 + resource_len..2 + resource_len, [0xb8, 0x3e, 0x05]); // field 999, varint 5
        received[1] += 3;
        let (batch, _) = TraceBatch::from_encoded_request(&Bytes::from(received.clone())).unwrap();
        assert_eq!(payload_of(&encode_batch(&batch)), received);

        // A decoded batch is encoded, and replays as the same request.
        let decoded = one_span([8; 16], "svc", "op");
        let replayed = ExportTraceServiceRequest::decode(payload_of(&encode_batch(&decoded)).as_slice()).unwrap();
        assert_eq!(replayed, decoded.to_request());
    }

    #[test]
    fn scan_skips_flipped_bytes_and_cuts_torn_tail() {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for i in 0..5u8 {
            starts.push(bytes.len());
            bytes.extend(frame(&[i; 40]));
        }
        bytes[starts[2] + HEADER_LEN + 3] ^= 0xff;
        let torn = frame(&[9; 40]);
        bytes.extend_from_slice(&torn[..30]);
        let mut seen = Vec::new();
        let scan = scan_records(&bytes, |payload| {
            seen.push(payload[0]);
            true
        });
        assert_eq!(seen, vec![0, 1, 3, 4]);
        assert_eq!(scan.records, 4);
        assert_eq!(scan.torn_at, Some(bytes.len() - 30));
        assert!(scan.skipped_bytes >= 52);
    }
}
