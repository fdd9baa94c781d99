//! The embedded store at scale (issue 4): loads N spans (default 10,000,000) of synthetic
//! HTTP-like traces spread over a few hours through `TraceStore::write` with concurrent
//! writers, cuts and compacts, then measures trace-by-ID and search latency (a service alone,
//! with an operation, or with a rare, a 20 % or a common tag; one-hour window, limit 20) and
//! prints bytes per span on disk (and of the search index) and the write rate.
//!
//! ```sh
//! cargo run --release -p spoor-store --features testing --example store_scale -- --spans 10000000
//! # keep the data and query it again without loading:
//! cargo run --release -p spoor-store --features testing --example store_scale -- --path /tmp/spoor-scale
//! cargo run --release -p spoor-store --features testing --example store_scale -- --path /tmp/spoor-scale --skip-load
//! ```
//!
//! Flags: `--spans N`, `--path DIR` (default: a temporary directory, removed at the end),
//! `--skip-load` (query what `--path` holds), `--writers N` (8), `--hours H` (4, the span
//! of start times), `--max-block-spans N` (500000), `--sync always|interval` (always),
//! `--lookups N` (1000), `--searches N` (200), `--phase-seconds S` (600, a bound on each
//! query phase), `--seed N`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spoor_store::synth::{self, ROUTES, Rng, SERVICES, SPANS_PER_BATCH, TRACE_SPACING_NANOS, TRACES_PER_BATCH};
use spoor_store::{EmbeddedConfig, EmbeddedStore, SyncMode, TraceId, TraceQuery, TraceStore};

const HOUR_NANOS: u64 = 3_600_000_000_000;
const IDS_FILE: &str = "store_scale.ids";
const RANGE_FILE: &str = "store_scale.range";
/// The searches measured, each a service and a one-hour window.
const SEARCH_KINDS: [&str; 5] = [
    "service alone",
    "+ operation (20 % of spans)",
    "+ status_code=500 (2 %)",
    "+ http.route (20 %)",
    "+ http.request.method=GET (100 %)",
];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    spans: u64,
    path: Option<PathBuf>,
    skip_load: bool,
    writers: usize,
    hours: u64,
    max_block_spans: usize,
    sync: SyncMode,
    lookups: usize,
    searches: usize,
    phase_seconds: u64,
    seed: u64,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        spans: 10_000_000,
        path: None,
        skip_load: false,
        writers: 8,
        hours: 4,
        max_block_spans: 500_000,
        sync: SyncMode::Always,
        lookups: 1000,
        searches: 200,
        phase_seconds: 600,
        seed: 0x05ee_d0f5_c41e,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--skip-load" {
            args.skip_load = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--spans" => args.spans = value.parse()?,
            "--path" => args.path = Some(PathBuf::from(value)),
            "--writers" => args.writers = value.parse()?,
            "--hours" => args.hours = value.parse()?,
            "--max-block-spans" => args.max_block_spans = value.parse()?,
            "--sync" => {
                args.sync = match value.as_str() {
                    "always" => SyncMode::Always,
                    "interval" => SyncMode::Interval,
                    other => return Err(format!("--sync {other}: always or interval").into()),
                }
            }
            "--lookups" => args.lookups = value.parse()?,
            "--searches" => args.searches = value.parse()?,
            "--phase-seconds" => args.phase_seconds = value.parse()?,
            "--seed" => args.seed = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if args.writers == 0 || args.hours == 0 || args.spans < SPANS_PER_BATCH {
        return Err("--writers and --hours must be > 0, --spans at least one batch (1000)".into());
    }
    if args.skip_load && args.path.is_none() {
        return Err("--skip-load needs --path".into());
    }
    Ok(args)
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The peak resident set size of this process (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Bytes of the files in `dir` whose names end with `suffix`.
fn dir_bytes(dir: &Path, suffix: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// p50, p99 and max of `samples`, ms.
fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
        samples.get(rank - 1).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.50), at(0.99), at(1.0))
}

struct Loaded {
    ids: Vec<TraceId>,
    start: u64,
    end: u64,
}

async fn load(store: Arc<EmbeddedStore>, args: &Args, path: &Path) -> Result<Loaded, BoxError> {
    let batches = args.spans / SPANS_PER_BATCH;
    let end = now_nanos();
    let start = end - args.hours * HOUR_NANOS;
    // Batches are spread evenly over [start, end], each covering 100 ms of trace starts.
    let step = (args.hours * HOUR_NANOS - TRACES_PER_BATCH * TRACE_SPACING_NANOS) / batches;

    // What generating costs alone, to tell it apart from the store's work.
    let mut rng = Rng::new(args.seed);
    let t = Instant::now();
    for i in 0..50 {
        std::hint::black_box(synth::batch(&mut rng, start + i * step));
    }
    let generate_ns_per_span = t.elapsed().as_nanos() as f64 / (50 * SPANS_PER_BATCH) as f64;

    let next = Arc::new(AtomicU64::new(0));
    let throttled_ms = Arc::new(AtomicU64::new(0));
    let peak_head = Arc::new(AtomicU64::new(0));
    let head_limit = (args.max_block_spans * 3) as u64;
    let began = Instant::now();
    let mut writers = Vec::new();
    for w in 0..args.writers {
        let (store, next, throttled_ms, peak_head) =
            (store.clone(), next.clone(), throttled_ms.clone(), peak_head.clone());
        let seed = args.seed.wrapping_add(w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        writers.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let mut ids = Vec::new();
            let mut write_time = Duration::ZERO;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batches {
                    break;
                }
                // The store has no back-pressure of its own yet: keep the head and the heads
                // being cut within three blocks, so that a slow cut cannot fill the memory.
                let head = store.stats().head_spans as u64;
                peak_head.fetch_max(head, Ordering::Relaxed);
                let mut waited = 0;
                while store.stats().head_spans as u64 > head_limit && waited < 6000 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    waited += 1;
                }
                throttled_ms.fetch_add(waited * 50, Ordering::Relaxed);
                let (batch, batch_ids) = synth::batch(&mut rng, start + i * step);
                let t = Instant::now();
                store.write(&batch).await?;
                write_time += t.elapsed();
                ids.extend(batch_ids);
            }
            Ok::<_, spoor_store::StoreError>((ids, write_time))
        }));
    }
    let mut ids = Vec::new();
    let mut write_time = Duration::ZERO;
    for writer in writers {
        let (writer_ids, time) = writer.await??;
        ids.extend(writer_ids);
        write_time += time;
    }
    let load_secs = began.elapsed().as_secs_f64();
    let spans = batches * SPANS_PER_BATCH;
    println!(
        "load: {spans} spans in {load_secs:.1} s = {:.0} spans/s with {} writers (generating alone: {generate_ns_per_span:.0} ns/span, \
         mean write() call {:.1} ms, throttled {:.1} s in total, peak head+frozen {} spans, peak RSS {:.0} MiB)",
        spans as f64 / load_secs,
        args.writers,
        write_time.as_secs_f64() * 1000.0 / batches as f64,
        throttled_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        peak_head.load(Ordering::Relaxed),
        peak_rss_mib(),
    );

    let t = Instant::now();
    store.cut_block().await?;
    let mut merged = 0;
    for _ in 0..20 {
        let n = store.compact().await?;
        merged += n;
        if n == 0 {
            break;
        }
    }
    let stats = store.stats();
    println!(
        "cut + compact after load: {:.1} s ({merged} blocks merged); load incl. cut + compact: {:.0} spans/s",
        t.elapsed().as_secs_f64(),
        spans as f64 / (load_secs + t.elapsed().as_secs_f64())
    );
    println!("blocks: {} holding {} spans, {} bytes", stats.blocks, stats.block_spans, stats.block_bytes);

    let mut raw = Vec::with_capacity(ids.len() * 16);
    for id in &ids {
        raw.extend_from_slice(id);
    }
    std::fs::write(path.join(IDS_FILE), raw)?;
    std::fs::write(path.join(RANGE_FILE), format!("{start} {end}"))?;
    Ok(Loaded { ids, start, end })
}

fn reload(path: &Path) -> Result<Loaded, BoxError> {
    let raw = std::fs::read(path.join(IDS_FILE))?;
    let ids = raw.chunks_exact(16).map(|c| c.try_into().unwrap_or([0; 16])).collect();
    let range = std::fs::read_to_string(path.join(RANGE_FILE))?;
    let (start, end) = range.trim().split_once(' ').ok_or("bad range file")?;
    Ok(Loaded { ids, start: start.parse()?, end: end.parse()? })
}

async fn run(args: Args) -> Result<(), BoxError> {
    let temp = match &args.path {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("spoor-scale-").tempdir()?),
    };
    let path = match (&args.path, &temp) {
        (Some(path), _) => path.clone(),
        (None, Some(temp)) => temp.path().to_path_buf(),
        (None, None) => return Err("no path".into()),
    };
    std::fs::create_dir_all(&path)?;
    let config =
        EmbeddedConfig { max_block_spans: args.max_block_spans, sync: args.sync, ..EmbeddedConfig::with_path(&path) };
    let t = Instant::now();
    let store = Arc::new(EmbeddedStore::open(config).await?);
    println!("open: {:.2} s, data in {}", t.elapsed().as_secs_f64(), path.display());
    let loaded = if args.skip_load { reload(&path)? } else { load(store.clone(), &args, &path).await? };
    let stats = store.stats();
    let parquet = dir_bytes(&path.join("blocks"), "");
    let search_index = dir_bytes(&path.join("blocks"), ".search");
    println!(
        "on disk: {} spans in {} blocks, {} bytes of blocks ({:.1} B/span; {:.1} B/span counting the meta and search index files; the search index alone {:.1} B/span), head {} spans",
        stats.block_spans,
        stats.blocks,
        stats.block_bytes,
        stats.block_bytes as f64 / stats.block_spans.max(1) as f64,
        parquet as f64 / stats.block_spans.max(1) as f64,
        search_index as f64 / stats.block_spans.max(1) as f64,
        stats.head_spans,
    );

    let mut rng = Rng::new(args.seed ^ 0xa5a5_a5a5);
    let phase_limit = Duration::from_secs(args.phase_seconds);

    // Trace by ID: nine in ten stored, one in ten unknown; no time range, as the UI asks.
    let mut samples = Vec::new();
    let (mut found, mut missing_asked, mut lost) = (0usize, 0usize, 0usize);
    let phase = Instant::now();
    for _ in 0..args.lookups {
        if phase.elapsed() > phase_limit {
            break;
        }
        let known = rng.below(10) != 0;
        let (id, known) = if known && !loaded.ids.is_empty() {
            (loaded.ids[rng.below(loaded.ids.len() as u64) as usize], true)
        } else {
            (rng.trace_id(), false)
        };
        let t = Instant::now();
        let trace = store.get_trace(id, None).await?;
        samples.push(t.elapsed());
        match (known, trace) {
            (true, Some(_)) => found += 1,
            (true, None) => lost += 1,
            (false, _) => missing_asked += 1,
        }
    }
    let (p50, p99, max) = summary(&mut samples);
    println!(
        "by ID: {} lookups ({found} found, {lost} stored but not found, {missing_asked} unknown IDs): p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
        samples.len()
    );

    // Search: a service alone, with an operation or with one tag, a one-hour window inside the
    // loaded range, limit 20.
    let mut samples = Vec::new();
    let mut returned = 0usize;
    let mut by_kind: [Vec<Duration>; SEARCH_KINDS.len()] = Default::default();
    // The same searches, finding the trace IDs only (`find_trace_ids`), without reading traces.
    let mut ids_only = Vec::new();
    let phase = Instant::now();
    let latest_window_start = loaded.end.saturating_sub(HOUR_NANOS).max(loaded.start);
    for _ in 0..args.searches {
        if phase.elapsed() > phase_limit {
            break;
        }
        let service = SERVICES[rng.below(SERVICES.len() as u64) as usize];
        let kind = rng.below(SEARCH_KINDS.len() as u64) as usize;
        let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
        let (tag, operation) = match kind {
            0 => (None, None),
            1 => (None, Some(format!("GET {route}"))),
            2 => (Some(("http.response.status_code".to_owned(), "500".to_owned())), None),
            3 => (Some(("http.route".to_owned(), route.to_owned())), None),
            _ => (Some(("http.request.method".to_owned(), "GET".to_owned())), None),
        };
        let window_start = loaded.start + rng.below(latest_window_start - loaded.start + 1);
        let query = TraceQuery {
            service_name: service.to_owned(),
            operation_name: operation,
            attributes: tag.into_iter().collect(),
            start_time_min: Some(window_start),
            start_time_max: Some(window_start + HOUR_NANOS),
            search_depth: 20,
            ..Default::default()
        };
        let t = Instant::now();
        store.find_trace_ids(&query).await?;
        ids_only.push(t.elapsed());
        let t = Instant::now();
        let traces = store.find_traces(&query).await?;
        samples.push(t.elapsed());
        by_kind[kind].push(t.elapsed());
        returned += traces.len();
    }
    let n = samples.len();
    let (p50, p99, max) = summary(&mut samples);
    println!(
        "search: {n} searches (service alone, + operation or + tag, 1 h window, limit 20; {:.1} traces returned on average): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
        returned as f64 / n.max(1) as f64
    );
    let (ids_p50, ids_p99, ids_max) = summary(&mut ids_only);
    println!("  finding the trace IDs alone: p50 {ids_p50:.1} ms, p99 {ids_p99:.1} ms, max {ids_max:.1} ms");
    for (kind, samples) in SEARCH_KINDS.iter().zip(&mut by_kind) {
        let (p50, p99, max) = summary(samples);
        println!("  search {kind}: {} searches, p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms", samples.len());
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    store.close().await?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}
