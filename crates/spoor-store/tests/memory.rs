//! Behaviour of the memory store that the shared suite does not cover: `max_traces`.

use std::time::{SystemTime, UNIX_EPOCH};

use spoor_store::synth::{self, Rng, TRACES_PER_BATCH};
use spoor_store::{MemoryConfig, MemoryStore, TraceQuery, TraceStore};

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[tokio::test]
async fn max_traces_evicts_the_oldest_traces_first() {
    let max_traces = TRACES_PER_BATCH as usize + TRACES_PER_BATCH as usize / 2;
    let store = MemoryStore::new(MemoryConfig { max_traces }).unwrap();
    let mut rng = Rng::new(7);
    let start = now_nanos();
    let (first, first_ids) = synth::batch(&mut rng, start);
    let (second, second_ids) = synth::batch(&mut rng, start + 1_000_000_000);
    store.write(&first).await.unwrap();
    store.write(&second).await.unwrap();

    // Half of the first batch made room for the second, oldest first.
    let (evicted, kept) = first_ids.split_at(TRACES_PER_BATCH as usize / 2);
    for id in evicted {
        assert!(store.get_trace(*id, None).await.unwrap().is_none(), "an old trace was kept");
    }
    for id in kept.iter().chain(&second_ids) {
        assert!(store.get_trace(*id, None).await.unwrap().is_some(), "a recent trace was evicted");
    }
    let query = TraceQuery { service_name: "frontend".into(), search_depth: 10 * max_traces, ..Default::default() };
    assert_eq!(store.find_trace_ids(&query).await.unwrap().len(), max_traces);

    // More spans of a stored trace join it and evict nothing.
    store.write(&second).await.unwrap();
    assert!(store.get_trace(kept[0], None).await.unwrap().is_some());
}
