//! The seed collector config's exporters decode through spoor-config, build, and fail their
//! exports as retryable while `jaeger-collector` does not resolve (it only exists inside
//! Kubernetes).

use std::time::Duration;

use spoor_config::{ComponentId, ComponentKind};
use spoor_otlp::exporter::{OtlpGrpcExporter, OtlpGrpcExporterConfig, OtlpHttpExporter, OtlpHttpExporterConfig};
use spoor_pipeline::exporters::debug::{DebugConfig, DebugExporter, Verbosity};
use spoor_pipeline::{ExportError, Exporter, TraceBatch};

const SEED: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
      http:
processors:
  batch:
    send_batch_size: 10000
    timeout: 10s
exporters:
  logging:
    verbosity: detailed
  otlp:
    endpoint: jaeger-collector:4317
    tls:
      insecure: true
  otlphttp:
    endpoint: http://jaeger-collector:4318
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [logging,otlp,otlphttp]
"#;

fn decode<T: serde::de::DeserializeOwned>(config: &spoor_config::Config, id: &str) -> T {
    let id: ComponentId = id.parse().unwrap();
    let raw = config.component(ComponentKind::Exporter, &id).unwrap();
    config.document.decode(&raw.path, &raw.value).unwrap()
}

#[tokio::test]
async fn seed_exporters_build_and_retry() {
    let config = spoor_config::load_sources(&[("seed.yaml".to_owned(), SEED.to_owned())]).unwrap();

    let logging: DebugConfig = decode(&config, "logging");
    assert_eq!(logging.verbosity(), Ok(Verbosity::Detailed));
    DebugExporter::new("logging", &logging).unwrap();

    let grpc_config: OtlpGrpcExporterConfig = decode(&config, "otlp");
    assert!(grpc_config.tls.insecure);
    assert_eq!(grpc_config.timeout(), Duration::from_secs(5));
    let grpc = OtlpGrpcExporter::new("otlp", &grpc_config).unwrap();

    let http_config: OtlpHttpExporterConfig = decode(&config, "otlphttp");
    let http = OtlpHttpExporter::new("otlphttp", &http_config).unwrap();
    assert_eq!(http.url(), "http://jaeger-collector:4318/v1/traces");

    let batch = TraceBatch::default();
    for result in [
        tokio::time::timeout(Duration::from_secs(30), grpc.export(&batch)).await,
        tokio::time::timeout(Duration::from_secs(30), http.export(&batch)).await,
    ] {
        let result = result.expect("export hung");
        assert!(matches!(result, Err(ExportError::Retryable { .. })), "{result:?}");
    }
}
