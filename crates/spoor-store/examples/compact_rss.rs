//! Memory and time of one compaction, apart from ingest: `load` writes N spans of synthetic
//! traces (one hour of start times) into blocks of B spans and never compacts; `compact`
//! reopens the store and compacts it once. Run each phase under `/usr/bin/time -v` to read
//! the compaction's peak RSS.
//!
//! ```sh
//! cargo run --release -p spoor-store --features testing --example compact_rss -- load /tmp/c 2000000 250000
//! /usr/bin/time -v target/release/examples/compact_rss compact /tmp/c
//! ```

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spoor_store::synth::{self, Rng, SPANS_PER_BATCH, TRACE_SPACING_NANOS, TRACES_PER_BATCH};
use spoor_store::{EmbeddedConfig, EmbeddedStore, SyncMode, TraceStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn config(path: &Path, compaction_max_spans: usize) -> EmbeddedConfig {
    EmbeddedConfig {
        sync: SyncMode::Interval,
        max_block_spans: usize::MAX / 4,
        block_duration: Duration::from_secs(24 * 3600),
        maintenance_interval: Duration::from_secs(24 * 3600),
        compaction_max_spans,
        ..EmbeddedConfig::with_path(path)
    }
}

async fn load(path: &Path, spans: u64, block_spans: u64) -> Result<(), BoxError> {
    let store = EmbeddedStore::open(config(path, 1)).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let mut rng = Rng::new(7);
    let (mut written, mut in_head, mut start) = (0u64, 0u64, now - 3_600_000_000_000);
    while written < spans {
        let (batch, _) = synth::batch(&mut rng, start);
        store.write(&batch).await?;
        start += TRACES_PER_BATCH * TRACE_SPACING_NANOS;
        written += SPANS_PER_BATCH;
        in_head += SPANS_PER_BATCH;
        if in_head >= block_spans {
            store.cut_block().await?;
            in_head = 0;
        }
    }
    store.cut_block().await?;
    let stats = store.stats();
    println!("loaded {} spans into {} blocks ({} bytes)", stats.block_spans, stats.blocks, stats.block_bytes);
    store.close().await?;
    Ok(())
}

async fn compact(path: &Path) -> Result<(), BoxError> {
    let store = EmbeddedStore::open(config(path, 100_000_000)).await?;
    let before = store.stats();
    let started = Instant::now();
    let merged = store.compact().await?;
    let after = store.stats();
    println!(
        "compacted {merged} of {} blocks ({} spans) into {} in {:.1} s; {} bytes on disk",
        before.blocks,
        before.block_spans,
        after.blocks,
        started.elapsed().as_secs_f64(),
        after.block_bytes
    );
    store.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["load", path, spans, block_spans] => load(Path::new(path), spans.parse()?, block_spans.parse()?).await,
        ["compact", path] => compact(Path::new(path)).await,
        _ => Err("usage: compact_rss load DIR SPANS BLOCK_SPANS | compact DIR".into()),
    }
}
