//! spoor-elastic: the `elasticsearch` storage backend (alias `opensearch`), in Jaeger's index
//! layout, so that Jaeger's own tools, Kibana and index lifecycle policies keep working on what
//! spoor writes, and spoor reads what Jaeger wrote.
//!
//! - [`config`]: Jaeger v2's `elasticsearch` backend keys and defaults;
//! - [`dbmodel`]: Jaeger's span and service documents, and their conversion from and to OTLP
//!   (Jaeger v2.20.0's `to_dbmodel.go`/`from_dbmodel.go`);
//! - [`client`]: HTTP to the cluster (TLS, basic auth, several URLs, bounded answers), and
//!   [`version`]: Elasticsearch 7-9 or OpenSearch 1-3, from `GET /`;
//! - [`indices`]: index names, read ranges and the index templates;
//! - [`writer`]: `_bulk` requests with per-item retries and backpressure;
//! - [`jaeger_options`]: the Jaeger operator's `storage.options` (`es.server-urls`, ...) as
//!   this backend's config, written once for the operator and the chart;
//! - [`reader`]: Jaeger's query DSL; [`store`]: the `TraceStore` over both; [`factory`]: the
//!   storage engine `elasticsearch` (alias `opensearch`);
//! - [`jobs`]: Jaeger's `es-rollover`, `es-index-cleaner` and spark-dependencies jobs.

// Input from the network or a file must never panic the process; tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod config;
pub mod dbmodel;
pub mod factory;
pub mod indices;
pub mod jaeger_options;
pub mod jobs;
pub mod reader;
pub mod store;
pub mod version;
pub mod writer;

pub use config::ElasticConfig;
pub use factory::ElasticFactory;
pub use store::ElasticStore;
