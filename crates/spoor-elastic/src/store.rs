//! [`ElasticStore`]: the [`TraceStore`] over a cluster. It writes span documents to the span
//! index of each span's day, and a service document per new (service, operation) pair, and
//! reads them back as [`reader`](crate::reader) describes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use spoor_pipeline::TraceBatch;
use spoor_store::{DependencyLink, Operation, StoreError, Trace, TraceId, TraceQuery, TraceStore};

use crate::client::{Client, EsError};
use crate::config::ElasticConfig;
use crate::dbmodel::{self, ServiceDoc, SpanDoc};
use crate::indices::{self, Layout};
use crate::reader::{Reader, now_nanos};
use crate::version::Flavor;
use crate::writer::{BulkWriter, Doc, WriteFailure};

/// The most (service, operation) pairs remembered as written, as Jaeger's LRU of 100000.
const MAX_CACHED_SERVICES: usize = 100_000;

pub struct ElasticStore {
    client: Arc<Client>,
    config: ElasticConfig,
    layout: Layout,
    flavor: Flavor,
    writer: BulkWriter,
    /// Service document ID → when it was written.
    services_written: Mutex<HashMap<String, Instant>>,
}

impl ElasticStore {
    /// Connects, detects the server's version (unless `version` is set), and creates the index
    /// templates (unless `create_mappings: false`).
    pub async fn open(config: ElasticConfig) -> Result<Self, StoreError> {
        config.validate().map_err(StoreError::InvalidConfig)?;
        let client = Arc::new(Client::new(&config).map_err(StoreError::InvalidConfig)?);
        let flavor = match Flavor::from_number(config.version) {
            Some(flavor) => flavor,
            None => client.detect().await.map_err(|err| unavailable(&err))?,
        };
        if config.create_mappings {
            indices::create_templates(&client, &config, flavor).await.map_err(|err| unavailable(&err))?;
        }
        let layout = Layout::new(&config).map_err(StoreError::InvalidConfig)?;
        let writer = BulkWriter::start(client.clone(), config.bulk_processing.clone());
        tracing::info!(%flavor, urls = ?config.server_urls, prefix = %config.indices.index_prefix, "elasticsearch trace storage");
        Ok(Self { client, config, layout, flavor, writer, services_written: Mutex::default() })
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            client: &self.client,
            layout: &self.layout,
            max_doc_count: self.config.max_doc_count,
            max_span_age: self.config.max_span_age,
            max_trace_duration: self.config.max_trace_duration,
        }
    }

    /// The service documents of pairs not written within `service_cache_ttl`, marked written.
    fn new_services(&self, docs: &[SpanDoc]) -> Vec<(String, ServiceDoc, u64)> {
        let mut written = self.services_written.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.config.service_cache_ttl;
        let mut fresh = Vec::new();
        for doc in docs {
            let service = ServiceDoc {
                service_name: doc.process.service_name.clone(),
                operation_name: doc.operation_name.clone(),
            };
            let id = service.id();
            if written.get(&id).is_some_and(|at| at.elapsed() < ttl) {
                continue;
            }
            if written.len() >= MAX_CACHED_SERVICES {
                written.clear();
            }
            written.insert(id.clone(), Instant::now());
            fresh.push((id, service, doc.start_time.saturating_mul(1000)));
        }
        fresh
    }

    fn forget_services(&self, ids: &[String]) {
        let mut written = self.services_written.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            written.remove(id);
        }
    }
}

/// A span document's ID: its trace and span IDs and a hash of its content, so that writing the
/// same span again replaces it, while two different spans that share a span ID both stay.
fn span_doc_id(doc: &SpanDoc, source: &[u8]) -> String {
    format!("{}-{}-{:016x}", doc.trace_id, doc.span_id, dbmodel::fnv1a64(dbmodel::FNV_OFFSET, source))
}

fn unavailable(err: &EsError) -> StoreError {
    if err.retryable() {
        StoreError::Unavailable { message: format!("elasticsearch: {err}"), retry_after: Some(Duration::from_secs(1)) }
    } else {
        StoreError::Other(format!("elasticsearch: {err}"))
    }
}

fn read_error(err: EsError) -> StoreError {
    StoreError::Other(format!("elasticsearch: {err}"))
}

fn traces_from_docs(ids: &[TraceId], docs: Vec<Vec<SpanDoc>>) -> Result<Vec<Trace>, StoreError> {
    let mut traces = Vec::with_capacity(ids.len());
    for (id, spans) in ids.iter().zip(docs) {
        if spans.is_empty() {
            continue;
        }
        let resource_spans = dbmodel::otlp_from_docs(spans).map_err(|err| StoreError::Other(err.to_string()))?;
        traces.push(Trace { trace_id: *id, resource_spans });
    }
    Ok(traces)
}

#[async_trait]
impl TraceStore for ElasticStore {
    async fn write(&self, batch: &TraceBatch) -> Result<(), StoreError> {
        let spans = dbmodel::docs_from_otlp(batch.resource_spans());
        let services = self.new_services(&spans);
        let service_ids: Vec<String> = services.iter().map(|(id, _, _)| id.clone()).collect();
        let mut docs = Vec::with_capacity(spans.len() + services.len());
        for span in &spans {
            let source = serde_json::to_vec(span).map_err(|err| StoreError::Other(err.to_string()))?;
            docs.push(Doc {
                index: self.layout.spans.write_target(span.start_time.saturating_mul(1000)),
                id: Some(span_doc_id(span, &source)),
                source: Bytes::from(source),
            });
        }
        for (id, service, start) in services {
            let source = serde_json::to_vec(&service).map_err(|err| StoreError::Other(err.to_string()))?;
            docs.push(Doc {
                index: self.layout.services.write_target(start),
                id: Some(id),
                source: Bytes::from(source),
            });
        }
        match self.writer.write(docs).await {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.forget_services(&service_ids);
                Err(match failure {
                    WriteFailure::Rejected(message) => StoreError::InvalidQuery(format!("elasticsearch: {message}")),
                    WriteFailure::Unavailable(message) => {
                        StoreError::Unavailable { message, retry_after: Some(Duration::from_secs(1)) }
                    }
                })
            }
        }
    }

    async fn get_trace(&self, trace_id: TraceId, range: Option<(u64, u64)>) -> Result<Option<Trace>, StoreError> {
        let (start, end) = range.unwrap_or_else(|| {
            let now = now_nanos();
            (now.saturating_sub(self.config.max_span_age.as_nanos() as u64), now)
        });
        let docs = self.reader().read_traces(&[trace_id], start, end).await.map_err(read_error)?;
        Ok(traces_from_docs(&[trace_id], docs)?.into_iter().next())
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StoreError> {
        let ids = self.find_trace_ids(query).await?;
        let end = query.start_time_max.unwrap_or_else(now_nanos);
        let start =
            query.start_time_min.unwrap_or_else(|| end.saturating_sub(self.config.max_span_age.as_nanos() as u64));
        let docs = self.reader().read_traces(&ids, start, end).await.map_err(read_error)?;
        traces_from_docs(&ids, docs)
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StoreError> {
        if query.service_name.is_empty() && !query.attributes.is_empty() {
            return Err(StoreError::InvalidQuery("service name must be set".to_owned()));
        }
        self.reader().find_trace_ids(query).await.map_err(read_error)
    }

    async fn services(&self) -> Result<Vec<String>, StoreError> {
        self.reader().services().await.map_err(read_error)
    }

    /// Service documents carry no span kind (Jaeger's Elasticsearch reader neither), so every
    /// operation has an empty kind and `span_kind` does not filter.
    async fn operations(&self, service: &str, _span_kind: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        let names = self.reader().operations(service).await.map_err(read_error)?;
        Ok(names.into_iter().map(|name| Operation { name, span_kind: String::new() }).collect())
    }

    async fn dependencies(&self, end: u64, lookback: Duration) -> Result<Vec<DependencyLink>, StoreError> {
        self.reader().dependencies(end, lookback).await.map_err(read_error)
    }

    fn has_room(&self) -> bool {
        self.writer.has_room()
    }
}
