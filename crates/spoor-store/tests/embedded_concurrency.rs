//! The embedded store under concurrency: reads of acknowledged traces never miss or fail
//! while cuts, compaction and retention move and delete blocks; one data directory, one store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spoor_store::synth::{self, Rng};
use spoor_store::{EmbeddedConfig, EmbeddedStore, SyncMode, Trace, TraceId, TraceQuery, TraceStore};

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Lookups to make, and the most time they may take (debug build, two shared cores).
const LOOKUPS: u64 = 100_000;
const TIME_LIMIT: Duration = Duration::from_secs(400);
const READERS: u64 = 4;
/// Blocks expire this long after their spans start; lookups ask only for traces acknowledged
/// less than `RECENT` ago, whose blocks cannot have expired.
const TTL: Duration = Duration::from_secs(3);
const RECENT: Duration = Duration::from_millis(1500);

#[derive(Default)]
struct Tally {
    lookups: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    searches: AtomicU64,
    first_problem: Mutex<Option<String>>,
}

impl Tally {
    fn problem(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.first_problem.lock().unwrap().get_or_insert(what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_of_acknowledged_traces_never_miss_during_cuts_compaction_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        sync: SyncMode::Interval,
        ttl: TTL,
        // Every batch (1,000 spans) is cut into its own block at once.
        max_block_spans: 500,
        compaction_max_spans: 5_000,
        maintenance_interval: Duration::from_millis(100),
        ..EmbeddedConfig::with_path(dir.path())
    };
    let store = Arc::new(EmbeddedStore::open(config).await.unwrap());
    // Acknowledged traces with the time they were acknowledged, newest last.
    let acked: Arc<Mutex<Vec<(TraceId, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let merged = Arc::new(AtomicU64::new(0));
    let expired = Arc::new(AtomicU64::new(0));

    let writer = {
        let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(7);
            while !stop.load(Ordering::Relaxed) {
                let (batch, ids) = synth::batch(&mut rng, now_nanos());
                store.write(&batch).await.unwrap();
                let at = Instant::now();
                acked.lock().unwrap().extend(ids.into_iter().map(|id| (id, at)));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Compaction and retention also run from here, besides the background task's turns.
    let maintenance = {
        let (store, stop, merged, expired) = (store.clone(), stop.clone(), merged.clone(), expired.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                merged.fetch_add(store.compact().await.unwrap() as u64, Ordering::Relaxed);
                expired.fetch_add(store.enforce_retention().await.unwrap() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    while acked.lock().unwrap().len() < 1_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    // Searches run meanwhile: they must not fail, and find complete recent traces.
    let searcher = {
        let (store, tally) = (store.clone(), tally.clone());
        tokio::spawn(async move {
            while tally.lookups.load(Ordering::Relaxed) < LOOKUPS && started.elapsed() < TIME_LIMIT {
                let query = TraceQuery {
                    service_name: synth::SERVICES[0].to_owned(),
                    start_time_min: Some(now_nanos() - RECENT.as_nanos() as u64),
                    search_depth: 20,
                    ..TraceQuery::default()
                };
                tally.searches.fetch_add(1, Ordering::Relaxed);
                match store.find_traces(&query).await {
                    Ok(traces) if traces.is_empty() => tally.problem(&tally.misses, "a search found nothing".into()),
                    Ok(traces) => {
                        for trace in traces.iter().filter(|t| span_count(t) != synth::SPANS_PER_TRACE) {
                            tally.problem(&tally.misses, format!("a search returned {} spans", span_count(trace)));
                        }
                    }
                    Err(err) => tally.problem(&tally.errors, format!("search: {err}")),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (store, acked, tally) = (store.clone(), acked.clone(), tally.clone());
            tokio::spawn(async move {
                let mut rng = Rng::new(100 + r);
                while tally.lookups.load(Ordering::Relaxed) < LOOKUPS && started.elapsed() < TIME_LIMIT {
                    let id = {
                        let acked = acked.lock().unwrap();
                        let recent = acked.partition_point(|(_, at)| at.elapsed() > RECENT);
                        let (id, _) = acked[recent + rng.below((acked.len() - recent) as u64) as usize];
                        id
                    };
                    tally.lookups.fetch_add(1, Ordering::Relaxed);
                    match store.get_trace(id, None).await {
                        Ok(Some(trace)) => {
                            let spans = span_count(&trace);
                            if spans != synth::SPANS_PER_TRACE {
                                tally.problem(&tally.misses, format!("{} has {spans} spans", hex(&id)));
                            }
                        }
                        Ok(None) => tally.problem(&tally.misses, format!("{} not found", hex(&id))),
                        Err(err) => tally.problem(&tally.errors, format!("{}: {err}", hex(&id))),
                    }
                }
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap();
    }
    searcher.await.unwrap();
    let runtime = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    maintenance.await.unwrap();

    let lookups = tally.lookups.load(Ordering::Relaxed);
    let misses = tally.misses.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let stats = store.stats();
    eprintln!(
        "lookups {lookups}, searches {}, misses {misses}, errors {errors}, runtime {runtime:?}, traces written {}, \
         blocks merged {}, blocks expired {}, blocks now {}",
        tally.searches.load(Ordering::Relaxed),
        acked.lock().unwrap().len(),
        merged.load(Ordering::Relaxed),
        expired.load(Ordering::Relaxed),
        stats.blocks,
    );
    let first = tally.first_problem.lock().unwrap().clone();
    assert_eq!((misses, errors), (0, 0), "first problem: {first:?}");
    assert!(lookups >= LOOKUPS, "only {lookups} lookups in {runtime:?}");
    assert!(merged.load(Ordering::Relaxed) > 0, "compaction never merged");
    // Retention runs in the background too (every `maintenance_interval`), so the calls above
    // may find nothing left to delete: that the oldest trace is gone shows it ran.
    let oldest = acked.lock().unwrap()[0].0;
    assert!(store.get_trace(oldest, None).await.unwrap().is_none(), "retention never deleted the oldest trace");
    store.close().await.unwrap();
}

fn span_count(trace: &Trace) -> u64 {
    trace.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum()
}

fn hex(id: &TraceId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_second_store_on_the_same_directory_fails_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig::with_path(dir.path());
    let first = EmbeddedStore::open(config.clone()).await.unwrap();
    let err = match EmbeddedStore::open(config.clone()).await {
        Ok(_) => panic!("a second store opened the same directory"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    first.close().await.unwrap();
    drop(first);
    // Closed: the directory is free again.
    let again = EmbeddedStore::open(config).await.unwrap();
    again.close().await.unwrap();
}

/// A cut that cannot write its block (here `blocks/` is a file, as good as an unwritable
/// directory even for root) keeps the spans readable in memory, says so in the stats, and
/// succeeds by itself once the directory is usable again.
#[tokio::test]
async fn a_failing_cut_keeps_the_spans_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig { max_block_spans: 10, ..EmbeddedConfig::with_path(dir.path()) };
    let store = EmbeddedStore::open(config).await.unwrap();
    let blocks = dir.path().join("blocks");
    std::fs::remove_dir(&blocks).unwrap();
    std::fs::write(&blocks, b"not a directory").unwrap();

    let mut rng = Rng::new(3);
    let (batch, ids) = synth::batch(&mut rng, now_nanos());
    store.write(&batch).await.unwrap();
    assert!(store.cut_block().await.is_err(), "a cut into a file cannot succeed");
    let stats = store.stats();
    assert!(stats.cut_failing, "{stats:?}");
    assert_eq!((stats.blocks, stats.head_spans), (0, synth::SPANS_PER_BATCH as usize));
    assert!(store.get_trace(ids[0], None).await.unwrap().is_some());

    std::fs::remove_file(&blocks).unwrap();
    std::fs::create_dir(&blocks).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (store.stats().blocks == 0 || store.stats().cut_failing) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = store.stats();
    assert!(!stats.cut_failing && stats.blocks == 1 && stats.head_spans == 0, "{stats:?}");
    for id in &ids {
        assert!(store.get_trace(*id, None).await.unwrap().is_some());
    }
    store.close().await.unwrap();
}
