//! The Elasticsearch jobs against osmem-server (which has no `_rollover`, so `rollover` takes
//! the `_aliases` path): rollover mode end to end with a store that writes and reads through
//! the aliases, the index cleaner, and the dependencies job feeding `/api/dependencies`.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use spoor_elastic::jobs::{self, Connection, cleaner, dependencies, rollover};
use spoor_elastic::{ElasticConfig, ElasticStore};
use spoor_pipeline::TraceBatch;
use spoor_pipeline::otlp::{AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, any_value};
use spoor_store::TraceStore;

#[derive(Parser)]
struct Rollover {
    #[command(subcommand)]
    command: rollover::RolloverCommand,
}

#[derive(Parser)]
struct ConnectionArgs {
    #[command(flatten)]
    connection: Connection,
}

#[derive(Parser)]
struct Cleaner {
    #[command(flatten)]
    args: cleaner::CleanerArgs,
}

#[derive(Parser)]
struct Dependencies {
    #[command(flatten)]
    args: dependencies::DependenciesArgs,
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn spans(service: &str, trace: u8, ids_and_parents: &[(u8, u8)]) -> ResourceSpans {
    let start = now_nanos() - 60_000_000_000;
    let spans = ids_and_parents
        .iter()
        .map(|&(id, parent)| Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 { Vec::new() } else { vec![parent; 8] },
            name: format!("op-{id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1000,
            ..Span::default()
        })
        .collect();
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue(service.into())) }),
                ..KeyValue::default()
            }],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
        ..ResourceSpans::default()
    }
}

fn store_config(url: &str, prefix: &str, use_aliases: bool) -> ElasticConfig {
    let mut config = ElasticConfig { server_urls: vec![url.into()], use_aliases, ..ElasticConfig::default() };
    config.indices.index_prefix = prefix.into();
    config.bulk_processing.flush_interval = Duration::from_millis(1);
    config
}

async fn aliases_of(url: &str, prefix: &str) -> Vec<(String, BTreeSet<String>)> {
    let connection = ConnectionArgs::try_parse_from(["x", url, "--index-prefix", prefix]).unwrap().connection;
    let (client, _) = connection.client().unwrap();
    let indices = jobs::jaeger_indices(&client, prefix).await.unwrap();
    indices.into_iter().map(|i| (i.name, i.aliases)).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_mode_with_the_aliases_path() {
    let Some(server) = common::Osmem::start() else { return };
    let url = server.url.as_str();
    let run = |args: &[&str]| {
        let mut argv = vec!["es-rollover"];
        argv.extend_from_slice(args);
        rollover::run(Rollover::try_parse_from(argv).unwrap().command)
    };
    run(&["init", url, "--index-prefix", "ro", "--shards", "1", "--replicas", "0"]).await.unwrap();
    // Twice: init changes nothing that exists.
    run(&["init", url, "--index-prefix", "ro"]).await.unwrap();
    let indices = aliases_of(url, "ro").await;
    assert_eq!(
        indices,
        [
            (
                "ro-jaeger-dependencies-000001".into(),
                set(&["ro-jaeger-dependencies-read", "ro-jaeger-dependencies-write"])
            ),
            ("ro-jaeger-service-000001".into(), set(&["ro-jaeger-service-read", "ro-jaeger-service-write"])),
            ("ro-jaeger-span-000001".into(), set(&["ro-jaeger-span-read", "ro-jaeger-span-write"])),
        ]
    );

    // A store in rollover mode writes through the write alias and reads through the read one.
    let store = ElasticStore::open(store_config(url, "ro", true)).await.unwrap();
    store.write(&TraceBatch::new(vec![spans("svc", 1, &[(1, 0), (2, 1)])])).await.unwrap();

    // Conditions that do not hold leave everything; max_docs 1 rolls spans and services over.
    run(&["rollover", url, "--index-prefix", "ro", "--conditions", r#"{"max_docs": 1000}"#]).await.unwrap();
    assert_eq!(aliases_of(url, "ro").await.len(), 3);
    run(&["rollover", url, "--index-prefix", "ro", "--conditions", r#"{"max_docs": 1}"#, "--skip-dependencies"])
        .await
        .unwrap();
    let indices = aliases_of(url, "ro").await;
    let span_indices: Vec<_> = indices.iter().filter(|(name, _)| name.starts_with("ro-jaeger-span-")).collect();
    assert_eq!(span_indices.len(), 2, "{indices:?}");
    assert_eq!(span_indices[0].1, set(&["ro-jaeger-span-read"]));
    assert_eq!(span_indices[1].0, "ro-jaeger-span-000002");
    assert_eq!(span_indices[1].1, set(&["ro-jaeger-span-read", "ro-jaeger-span-write"]));
    assert!(indices.iter().any(|(name, _)| name == "ro-jaeger-service-000002"));
    assert!(!indices.iter().any(|(name, _)| name == "ro-jaeger-dependencies-000002"));

    // Spans written after the rollover land in the new index; reads see both.
    store.write(&TraceBatch::new(vec![spans("svc", 2, &[(3, 0)])])).await.unwrap();
    let first = store.get_trace([1; 16], None).await.unwrap().expect("trace 1 through the read alias");
    assert_eq!(first.resource_spans.len(), 2);
    assert!(store.get_trace([2; 16], None).await.unwrap().is_some());

    // A conditions key spoor cannot check without _rollover is refused, naming it.
    let err = run(&["rollover", url, "--index-prefix", "ro", "--conditions", r#"{"max_size": "5gb"}"#]).await;
    assert!(err.unwrap_err().contains("max_size"));

    // lookback 0 seconds: every index created before this second, but the write index, leaves
    // the read alias.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    run(&["lookback", url, "--index-prefix", "ro", "--unit", "seconds", "--unit-count", "0"]).await.unwrap();
    let indices = aliases_of(url, "ro").await;
    let old = indices.iter().find(|(name, _)| name == "ro-jaeger-span-000001").unwrap();
    assert!(old.1.is_empty(), "{old:?}");
    assert!(store.get_trace([1; 16], None).await.unwrap().is_none());
    assert!(store.get_trace([2; 16], None).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleaner_deletes_old_day_indices_and_keeps_write_indices() {
    let Some(server) = common::Osmem::start() else { return };
    let url = server.url.as_str();
    let client = reqwest::Client::new();
    for index in ["cl-jaeger-span-2020-01-01", "cl-jaeger-service-2020-01-01", "cl-other-2020-01-01"] {
        assert!(
            client
                .put(format!("{url}/{index}"))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
        );
    }
    // Keeping 1 day keeps what was created today.
    let args = Cleaner::try_parse_from(["x", "1", url, "--index-prefix", "cl"]).unwrap().args;
    cleaner::run(&args).await.unwrap();
    assert_eq!(aliases_of(url, "cl").await.len(), 2);
    // Keeping 0 days deletes them, and only the backend's.
    let args = Cleaner::try_parse_from(["x", "--days", "0", url, "--index-prefix", "cl"]).unwrap().args;
    cleaner::run(&args).await.unwrap();
    assert!(aliases_of(url, "cl").await.is_empty());
    assert!(client.head(format!("{url}/cl-other-2020-01-01")).send().await.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dependencies_job_feeds_the_dependencies_api() {
    let Some(server) = common::Osmem::start() else { return };
    let url = server.url.as_str();
    let store = ElasticStore::open(store_config(url, "dep", false)).await.unwrap();
    // hello 1 → world 2 → world 3 → hello 4, and world 5 → hello 6, 7 (same trace shapes as
    // the conformance suite's: hello→world once, world→hello three times).
    store.write(&TraceBatch::new(vec![spans("hello", 1, &[(1, 0), (4, 3)])])).await.unwrap();
    store.write(&TraceBatch::new(vec![spans("world", 1, &[(2, 1), (3, 2)])])).await.unwrap();
    store
        .write(&TraceBatch::new(vec![spans("world", 2, &[(5, 0)]), spans("hello", 2, &[(6, 5), (7, 5)])]))
        .await
        .unwrap();
    let args = Dependencies::try_parse_from(["x", url, "--index-prefix", "dep"]).unwrap().args;
    dependencies::run(&args).await.unwrap();
    // Twice: the day's document is replaced, not added.
    dependencies::run(&args).await.unwrap();
    let links = store.dependencies(now_nanos(), Duration::from_secs(2 * 86_400)).await.unwrap();
    let got: Vec<_> = links.into_iter().map(|l| (l.parent, l.child, l.call_count)).collect();
    assert_eq!(got, [("hello".into(), "world".into(), 1), ("world".into(), "hello".into(), 3)]);
}
