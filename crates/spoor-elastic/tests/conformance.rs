//! Jaeger's storage integration suite (the shared conformance suite, with `queries_es.json`)
//! against the `elasticsearch` backend on osmem-server, with Jaeger's capabilities for
//! Elasticsearch. Prints `N passed, M failed, K skipped`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spoor_elastic::{ElasticConfig, ElasticStore};
use spoor_store::conformance::{self, Capabilities};

/// A config for `url` with an index prefix of its own, so stores on one server stay apart.
pub fn config(url: &str) -> ElasticConfig {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut config = ElasticConfig { server_urls: vec![url.to_owned()], ..ElasticConfig::default() };
    config.indices.index_prefix = format!("conformance{}", NEXT.fetch_add(1, Ordering::Relaxed));
    config.bulk_processing.flush_interval = Duration::from_millis(1);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_store_passes_conformance() {
    let Some(server) = common::Osmem::start() else { return };
    let mut capabilities = Capabilities::elasticsearch();
    capabilities.skip.push((
        "dependencies".to_owned(),
        "in Elasticsearch, links come from the `spoor es-dependencies` job, not from spans as they are written \
         (tests/jobs.rs runs the job and reads its links back)"
            .to_owned(),
    ));
    let url = server.url.clone();
    let report = conformance::run_with(&conformance::default_fixtures_dir(), capabilities, || {
        let config = config(&url);
        async move { ElasticStore::open(config).await.expect("opening the store") }
    })
    .await;
    println!("elasticsearch: {}", report.summary());
    assert_eq!(report.failed(), 0, "elasticsearch: {}", report.summary());
}
