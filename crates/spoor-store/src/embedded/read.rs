//! The read paths. Each read captures one consistent moment of the store: the live head's
//! matching records and the `View` (frozen heads and blocks) taken under the head's lock, so
//! that a cut or a compaction running meanwhile can neither hide a span nor pull a file from
//! under the read (a view's blocks keep their files, see `view`). Scans of the live head run
//! on a blocking thread, never on the async runtime's workers.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::dependencies::{EdgeCounts, PendingCalls};
use super::head::Head;
use super::view::View;
use super::{Inner, block, lock_read};
use crate::model::{assemble_trace, dedupe_spans};
use crate::query::{SpanFilter, dependency_links};
use crate::{DEFAULT_SEARCH_DEPTH, DependencyLink, Operation, StoreError, Trace, TraceId, TraceQuery};

/// Whether `err` says a block file was not there: the read is retried once on a fresh view.
fn is_not_found(err: &StoreError) -> bool {
    fn object_store_not_found(err: &(dyn std::error::Error + 'static)) -> bool {
        match err.downcast_ref::<object_store::Error>() {
            Some(object_store::Error::NotFound { .. }) => true,
            _ => err.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound),
        }
    }
    match err {
        StoreError::ObjectStore(object_store::Error::NotFound { .. }) => true,
        StoreError::Io(e) => e.kind() == std::io::ErrorKind::NotFound,
        StoreError::Parquet(parquet::errors::ParquetError::External(e)) => object_store_not_found(e.as_ref()),
        _ => false,
    }
}

/// Runs `read`, and once more (on a fresh view) if it met a missing block file. Not expected
/// (a view keeps its files), but a file removed by hand or by another tool is no reason to
/// fail when a fresh view may not need it.
async fn retry_not_found<T, F, Fut>(read: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    match read().await {
        Err(err) if is_not_found(&err) => {
            tracing::debug!(error = %err, "block file missing during a read; retrying on a fresh view");
            read().await
        }
        result => result,
    }
}

impl Inner {
    /// The view and `scan(live head)`, at one moment: the head's lock is held while the view
    /// is taken, and every move of spans between the live head and the view happens under
    /// both locks. For cheap lookups only; scans go through `capture_blocking`.
    pub(super) fn capture<T>(&self, scan: impl FnOnce(&Head) -> T) -> (Arc<View>, T) {
        let head = lock_read(&self.head);
        let view = lock_read(&self.view).clone();
        let out = scan(&head);
        (view, out)
    }

    /// `capture` on a blocking thread, with `scan` also given the view (to scan its frozen
    /// heads there too, after the live head's lock is released).
    async fn capture_blocking<T, F>(self: &Arc<Self>, scan: F) -> Result<(Arc<View>, T), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Head, &View) -> T + Send + 'static,
    {
        let inner = self.clone();
        tokio::task::spawn_blocking(move || {
            let head = lock_read(&inner.head);
            let view = lock_read(&inner.view).clone();
            let out = scan(&head, &view);
            (view, out)
        })
        .await
        .map_err(|e| StoreError::Other(format!("head scan task failed: {e}")))
    }

    pub(super) async fn get_trace(
        &self,
        trace_id: TraceId,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Trace>, StoreError> {
        retry_not_found(|| self.read_trace(trace_id, range)).await
    }

    async fn read_trace(&self, trace_id: TraceId, range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError> {
        let (view, mut records) = self.capture(|head| head.trace(&trace_id));
        for head in view.heads() {
            records.extend(head.trace(&trace_id));
        }
        for block in &view.blocks {
            if range.is_some_and(|(start, end)| !block.overlaps(start, end)) || !block.may_contain(&trace_id) {
                continue;
            }
            match block.trace(&self.objects, &trace_id).await {
                Ok(found) => records.extend(found),
                Err(err) => self.skip_if_damaged(block, err).await?,
            }
        }
        if records.is_empty() {
            return Ok(None);
        }
        dedupe_spans(&mut records);
        Ok(Some(assemble_trace(trace_id, records)))
    }

    /// Calls between services of child spans that started in `[start, end]`, each counted once
    /// wherever its parent and child spans are stored.
    pub(super) async fn dependencies(
        self: &Arc<Self>,
        start: u64,
        end: u64,
    ) -> Result<Vec<DependencyLink>, StoreError> {
        retry_not_found(|| self.count_dependencies(start, end)).await
    }

    async fn count_dependencies(self: &Arc<Self>, start: u64, end: u64) -> Result<Vec<DependencyLink>, StoreError> {
        let (view, (mut counts, pending)) = self
            .capture_blocking(move |live, view| {
                let mut counts = EdgeCounts::new();
                let mut pending = PendingCalls::default();
                let heads: Vec<&Head> = std::iter::once(live).chain(view.heads()).collect();
                let mut elsewhere = Vec::new();
                for head in &heads {
                    head.dependencies(start, end, &mut counts, &mut elsewhere);
                }
                for parent_ref in elsewhere.drain(..) {
                    pending.add(parent_ref, None);
                }
                for (index, block) in view.blocks.iter().enumerate() {
                    block.dependencies(start, end, &mut counts, &mut elsewhere);
                    for parent_ref in elsewhere.drain(..) {
                        pending.add(parent_ref, Some(index));
                    }
                }
                pending.resolve_in_heads(&heads, &mut counts);
                (counts, pending)
            })
            .await?;
        pending.resolve_in_blocks(&view.blocks, &self.objects, &mut counts).await?;
        Ok(dependency_links(counts))
    }

    pub(super) async fn find_trace_ids(self: &Arc<Self>, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        retry_not_found(|| self.search(query)).await
    }

    async fn search(self: &Arc<Self>, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        let filter = Arc::new(SpanFilter::new(query));
        let scan_filter = filter.clone();
        let (view, mut hits) = self
            .capture_blocking(move |live, view| {
                let mut hits = HashMap::new();
                live.find(&scan_filter, &mut hits);
                for head in view.heads() {
                    head.find(&scan_filter, &mut hits);
                }
                hits
            })
            .await?;
        let depth = match query.search_depth {
            0 => DEFAULT_SEARCH_DEPTH,
            depth => depth,
        };
        // Newest blocks first: once `depth` traces are found, a block whose spans all started
        // before the `depth`-th newest of them cannot change the answer.
        let mut blocks: Vec<_> = view.blocks.iter().filter(|b| b.may_match(&filter)).collect();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.meta.max_time));
        for block in blocks {
            if block::kth_newest(&hits, depth).is_some_and(|kth| block.meta.max_time < kth) {
                continue;
            }
            if let Err(err) = block.find(&self.objects, &filter, depth, &mut hits).await {
                self.skip_if_damaged(block, err).await?;
            }
        }
        let mut hits: Vec<(TraceId, u64)> = hits.into_iter().collect();
        hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(hits.into_iter().take(depth).map(|(id, _)| id).collect())
    }

    pub(super) async fn services(self: &Arc<Self>) -> Result<Vec<String>, StoreError> {
        let (view, mut services) = self
            .capture_blocking(|live, view| {
                let mut services = BTreeSet::new();
                live.services(&mut services);
                for head in view.heads() {
                    head.services(&mut services);
                }
                services
            })
            .await?;
        for block in &view.blocks {
            services.extend(block.meta.services.keys().cloned());
        }
        Ok(services.into_iter().collect())
    }

    pub(super) async fn operations(
        self: &Arc<Self>,
        service: &str,
        span_kind: Option<&str>,
    ) -> Result<Vec<Operation>, StoreError> {
        let wanted = service.to_owned();
        let (view, mut operations) = self
            .capture_blocking(move |live, view| {
                let mut operations = BTreeSet::new();
                live.operations(&wanted, &mut operations);
                for head in view.heads() {
                    head.operations(&wanted, &mut operations);
                }
                operations
            })
            .await?;
        for block in &view.blocks {
            block.operations(service, &mut operations);
        }
        Ok(operations
            .into_iter()
            .filter(|op| span_kind.is_none_or(|kind| kind.is_empty() || op.span_kind == kind))
            .collect())
    }
}
