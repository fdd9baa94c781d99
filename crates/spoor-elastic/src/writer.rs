//! The bulk writer: documents of concurrent writes are gathered into `_bulk` requests, sent when
//! one holds `max_actions` documents or `max_bytes`, or `flush_interval` after its first
//! document, with at most `workers` requests in flight. A write returns when every one of its
//! documents is indexed, so the pipeline acknowledges only what the cluster holds.
//!
//! Failures, whole or per item: a 429, a 5xx or an unreachable cluster is retried with backoff
//! (only the items that failed); any other error fails the item's write at once, with the
//! index and the server's reason in the log. A write that is not done within
//! [`WRITE_DEADLINE`] is answered `Unavailable`, so the client retries it; its documents are
//! dropped from the retry queue. Span documents carry content-derived IDs, so a retried write
//! overwrites what an earlier attempt indexed instead of adding it twice.
//!
//! Backpressure: [`BulkWriter::has_room`] is false while more than [`MAX_QUEUED_BYTES`] wait or
//! just after the cluster could not be reached, so receivers refuse with retryable errors
//! instead of buffering without bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};

use crate::client::{Client, EsError, error_reason};
use crate::config::BulkProcessing;

/// How long a write waits for its documents before it is answered `Unavailable`: under the
/// 10 s an OTLP client waits by default, so the client sees the refusal, not its own timeout.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(8);

/// The bytes of documents that may wait (gathered, in flight or to be retried) before
/// [`BulkWriter::has_room`] turns false.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// After the cluster could not be reached, writes are refused for this long.
const DOWN_BACKOFF: Duration = Duration::from_millis(500);

const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// One document to index: its action line (`{"index":{...}}`) and its source.
pub struct Doc {
    pub index: String,
    pub id: Option<String>,
    pub source: Bytes,
}

/// Why a write failed.
#[derive(Debug, Clone)]
pub enum WriteFailure {
    /// The cluster refused a document for good (a mapping error, a bad request).
    Rejected(String),
    /// Not done by the deadline: the cluster is slow or down.
    Unavailable(String),
}

/// What one write waits on.
struct Ticket {
    state: Mutex<TicketState>,
    done: Notify,
    deadline: Instant,
}

struct TicketState {
    remaining: usize,
    failure: Option<WriteFailure>,
    /// The last retryable reason, for the `Unavailable` answer.
    last_error: Option<String>,
}

impl Ticket {
    fn finish_one(&self, failure: Option<WriteFailure>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.remaining = state.remaining.saturating_sub(1);
        if state.failure.is_none() {
            state.failure = failure;
        }
        if state.remaining == 0 || state.failure.is_some() {
            self.done.notify_one();
        }
    }

    fn note_retry(&self, reason: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last_error = Some(reason.to_owned());
    }

    fn abandoned(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

struct Item {
    action: Bytes,
    source: Bytes,
    index: String,
    ticket: Arc<Ticket>,
    attempts: u32,
}

impl Item {
    fn len(&self) -> usize {
        self.action.len() + self.source.len() + 2
    }
}

struct Shared {
    client: Arc<Client>,
    settings: BulkProcessing,
    pending: Mutex<Pending>,
    wake: Arc<Notify>,
    workers: Arc<Semaphore>,
    queued_bytes: AtomicUsize,
    /// Unix ms until which writes are refused after the cluster could not be reached.
    down_until_ms: AtomicU64,
    started: Instant,
}

#[derive(Default)]
struct Pending {
    items: VecDeque<Item>,
    bytes: usize,
    first_at: Option<Instant>,
}

/// Gathers documents into `_bulk` requests; cheap to clone.
#[derive(Clone)]
pub struct BulkWriter {
    shared: Arc<Shared>,
}

impl BulkWriter {
    /// Starts the flusher on the current runtime.
    pub fn start(client: Arc<Client>, settings: BulkProcessing) -> Self {
        let workers = Arc::new(Semaphore::new(settings.workers));
        let shared = Arc::new(Shared {
            client,
            settings,
            pending: Mutex::default(),
            wake: Arc::new(Notify::new()),
            workers,
            queued_bytes: AtomicUsize::new(0),
            down_until_ms: AtomicU64::new(0),
            started: Instant::now(),
        });
        tokio::spawn(flusher(Arc::downgrade(&shared)));
        Self { shared }
    }

    /// Whether a write now would be taken without queueing past the bound.
    pub fn has_room(&self) -> bool {
        let shared = &self.shared;
        shared.queued_bytes.load(Ordering::Relaxed) < MAX_QUEUED_BYTES
            && shared.down_until_ms.load(Ordering::Relaxed) <= shared.now_ms()
    }

    /// Indexes `docs` and returns when all are indexed, one was rejected, or the deadline passed.
    pub async fn write(&self, docs: Vec<Doc>) -> Result<(), WriteFailure> {
        if docs.is_empty() {
            return Ok(());
        }
        let ticket = Arc::new(Ticket {
            state: Mutex::new(TicketState { remaining: docs.len(), failure: None, last_error: None }),
            done: Notify::new(),
            deadline: Instant::now() + WRITE_DEADLINE,
        });
        let items = docs.into_iter().map(|doc| Item {
            action: action_line(&doc.index, doc.id.as_deref()),
            source: doc.source,
            index: doc.index,
            ticket: ticket.clone(),
            attempts: 0,
        });
        self.shared.push(items);
        let waited = tokio::time::timeout_at(ticket.deadline.into(), ticket.done.notified()).await;
        let state = ticket.state.lock().unwrap_or_else(|e| e.into_inner());
        match (&state.failure, waited) {
            (Some(failure), _) => Err(failure.clone()),
            (None, Ok(())) if state.remaining == 0 => Ok(()),
            _ => Err(WriteFailure::Unavailable(format!(
                "elasticsearch did not index the batch within {WRITE_DEADLINE:?}: {}",
                state.last_error.as_deref().unwrap_or("still queued")
            ))),
        }
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn push(&self, items: impl IntoIterator<Item = Item>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for item in items {
            let len = item.len();
            pending.bytes += len;
            self.queued_bytes.fetch_add(len, Ordering::Relaxed);
            pending.items.push_back(item);
        }
        pending.first_at.get_or_insert_with(Instant::now);
        drop(pending);
        self.wake.notify_one();
    }

    /// Takes the next request's items when one is due: full, or older than `flush_interval`.
    /// Otherwise, how long until the oldest is due.
    fn take_due(&self) -> Result<Vec<Item>, Option<Duration>> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(first_at) = pending.first_at else { return Err(None) };
        let full = pending.items.len() >= self.settings.max_actions || pending.bytes >= self.settings.max_bytes;
        let age = first_at.elapsed();
        if !full && age < self.settings.flush_interval {
            return Err(Some(self.settings.flush_interval - age));
        }
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(item) = pending.items.front() {
            let len = item.len();
            if !taken.is_empty() && (taken.len() >= self.settings.max_actions || bytes + len > self.settings.max_bytes)
            {
                break;
            }
            bytes += len;
            if let Some(item) = pending.items.pop_front() {
                taken.push(item);
            }
        }
        pending.bytes -= bytes;
        pending.first_at = if pending.items.is_empty() { None } else { Some(Instant::now()) };
        Ok(taken)
    }

    fn release(&self, item: &Item) {
        self.queued_bytes.fetch_sub(item.len(), Ordering::Relaxed);
    }

    /// Puts items that failed for a retryable reason back, after their backoff; drops those
    /// whose write has given up.
    fn retry(self: &Arc<Self>, items: Vec<Item>, reason: &str) {
        let mut kept = Vec::new();
        for mut item in items {
            item.ticket.note_retry(reason);
            if item.ticket.abandoned() {
                self.release(&item);
                continue;
            }
            item.attempts += 1;
            kept.push(item);
        }
        let Some(attempts) = kept.iter().map(|item| item.attempts).min() else { return };
        let delay = RETRY_INITIAL.saturating_mul(1 << attempts.min(8)).min(RETRY_MAX);
        let shared = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            for item in kept.into_iter().rev() {
                pending.bytes += item.len();
                pending.items.push_front(item);
            }
            pending.first_at.get_or_insert_with(Instant::now);
            drop(pending);
            shared.wake.notify_one();
        });
    }

    async fn send(self: Arc<Self>, items: Vec<Item>) {
        let mut body = Vec::with_capacity(items.iter().map(Item::len).sum());
        for item in &items {
            body.extend_from_slice(&item.action);
            body.push(b'\n');
            body.extend_from_slice(&item.source);
            body.push(b'\n');
        }
        let answer = self.client.send(Method::POST, "_bulk", Some(Bytes::from(body)), true).await;
        let (status, answer) = match answer {
            Ok(answer) => answer,
            Err(err) => return self.whole_request_failed(items, &err),
        };
        if !status.is_success() {
            let err =
                EsError::Status { method: Method::POST, path: "_bulk".into(), status, reason: error_reason(&answer) };
            return self.whole_request_failed(items, &err);
        }
        let parsed: Value = match serde_json::from_slice(&answer) {
            Ok(value) => value,
            Err(err) => {
                let err = EsError::Invalid(format!("_bulk: the answer is not JSON: {err}"));
                return self.whole_request_failed(items, &err);
            }
        };
        let results = parsed.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if results.len() != items.len() {
            let err = EsError::Invalid(format!("_bulk: {} results for {} documents", results.len(), items.len()));
            return self.whole_request_failed(items, &err);
        }
        let mut again = Vec::new();
        let mut retry_reason = String::new();
        for (item, result) in items.into_iter().zip(results) {
            let outcome = result.as_object().and_then(|o| o.values().next());
            let status = outcome.and_then(|o| o.get("status")).and_then(Value::as_u64).unwrap_or(0);
            if (200..300).contains(&status) {
                self.release(&item);
                item.ticket.finish_one(None);
                continue;
            }
            let reason = outcome
                .and_then(|o| o.get("error"))
                .map(|e| error_reason(e.to_string().as_bytes()))
                .unwrap_or_else(|| format!("status {status}"));
            if status == 429 || status >= 500 {
                retry_reason = format!("index {}: {reason}", item.index);
                again.push(item);
            } else {
                tracing::warn!(index = %item.index, status, %reason, "elasticsearch rejected a document");
                self.release(&item);
                item.ticket.finish_one(Some(WriteFailure::Rejected(format!("index {}: {reason}", item.index))));
            }
        }
        if !again.is_empty() {
            tracing::warn!(documents = again.len(), reason = %retry_reason, "elasticsearch bulk: retrying documents");
            self.retry(again, &retry_reason);
        }
    }

    fn whole_request_failed(self: &Arc<Self>, items: Vec<Item>, err: &EsError) {
        let reason = err.to_string();
        if err.retryable() {
            if matches!(err, EsError::Unreachable(_)) {
                let until = self.now_ms() + DOWN_BACKOFF.as_millis() as u64;
                self.down_until_ms.fetch_max(until, Ordering::Relaxed);
            }
            tracing::warn!(documents = items.len(), %reason, "elasticsearch bulk failed; retrying");
            self.retry(items, &reason);
            return;
        }
        tracing::error!(documents = items.len(), %reason, "elasticsearch bulk rejected");
        for item in items {
            self.release(&item);
            item.ticket.finish_one(Some(WriteFailure::Rejected(reason.clone())));
        }
    }
}

/// Sends due requests until the writer is dropped.
async fn flusher(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(strong) = shared.upgrade() else { return };
        match strong.take_due() {
            Ok(items) if items.is_empty() => {}
            Ok(items) => {
                let Ok(permit) = strong.workers.clone().acquire_owned().await else { return };
                let sender = strong.clone();
                tokio::spawn(async move {
                    sender.send(items).await;
                    drop(permit);
                });
            }
            Err(wait) => {
                let wake = strong.wake.clone();
                let wait = wait.unwrap_or(Duration::from_secs(1));
                drop(strong);
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
        }
    }
}

/// `{"index":{"_index":..,"_id":..}}`: no `_type`, which Elasticsearch 7+ and OpenSearch refuse.
fn action_line(index: &str, id: Option<&str>) -> Bytes {
    let mut meta = serde_json::Map::new();
    meta.insert("_index".into(), Value::from(index));
    if let Some(id) = id {
        meta.insert("_id".into(), Value::from(id));
    }
    Bytes::from(serde_json::json!({ "index": meta }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_lines_have_no_type() {
        assert_eq!(
            &action_line("jaeger-span-2026-12-03", None)[..],
            br#"{"index":{"_index":"jaeger-span-2026-12-03"}}"#
        );
        assert_eq!(&action_line("i", Some("x"))[..], br#"{"index":{"_id":"x","_index":"i"}}"#);
    }
}
