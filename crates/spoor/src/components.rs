//! Every component type spoor knows: one line per factory. Adding a component is its module
//! (with its factory) in its crate, and one line here.

use std::sync::Arc;

use spoor_pipeline::component::{Alias, Factories, Registry, RegistryError};
use spoor_store::factories::StorageFactory;

use crate::storage::{JaegerStorageFactory, StorageExporterFactory};

/// The component factories, by kind.
pub fn factories() -> Result<Registry, RegistryError> {
    let mut registry = Registry::default();
    registry
        .receiver(spoor_otlp::factories::OtlpReceiverFactory)?
        .receiver(spoor_jaeger::factories::JaegerReceiverFactory)?
        .receiver(spoor_jaeger::factories::ZipkinReceiverFactory)?
        .receiver(spoor_pipeline::factories::NopReceiverFactory)?
        .processor(spoor_pipeline::factories::BatchFactory)?
        .processor(spoor_pipeline::factories::MemoryLimiterFactory)?
        .exporter(spoor_pipeline::factories::DebugFactory)?
        .exporter(spoor_pipeline::factories::NopExporterFactory)?
        .exporter(spoor_otlp::factories::OtlpGrpcExporterFactory)?
        .exporter(spoor_otlp::factories::OtlpHttpExporterFactory)?
        .exporter(StorageExporterFactory)?
        .extension(spoor_pipeline::factories::AuthenticatorFactory("basicauth"))?
        .extension(spoor_pipeline::factories::AuthenticatorFactory("bearertokenauth"))?
        .extension(spoor_pipeline::factories::AuthenticatorFactory("oidc"))?
        .extension(spoor_pipeline::factories::HealthCheckFactory)?
        .extension(spoor_jaeger::factories::RemoteSamplingFactory)?
        .extension(spoor_query::factory::JaegerQueryFactory)?
        .extension(JaegerStorageFactory::new(storage_engines()?))?;
    Ok(registry)
}

/// The storage engines a `jaeger_storage` backend may use.
pub fn storage_engines() -> Result<Factories<dyn StorageFactory>, RegistryError> {
    let mut engines: Factories<dyn StorageFactory> = Factories::new("storage engine");
    engines.register(Arc::new(spoor_store::factories::MemoryFactory))?;
    engines.register(Arc::new(spoor_store::factories::EmbeddedFactory))?;
    engines.register(Arc::new(spoor_elastic::ElasticFactory))?;
    Ok(engines)
}

/// The registry as `spoor components` prints it: each kind, each type with its aliases.
pub fn describe(registry: &Registry) -> String {
    let mut out = String::new();
    section(&mut out, "receivers", registry.receivers.types());
    section(&mut out, "processors", registry.processors.types());
    section(&mut out, "exporters", registry.exporters.types());
    section(&mut out, "extensions", registry.extensions.types());
    if let Ok(engines) = storage_engines() {
        section(&mut out, "storage engines (jaeger_storage.backends.<name>)", engines.types());
    }
    out
}

fn section<'a>(out: &mut String, title: &str, types: impl Iterator<Item = (&'a str, &'static [Alias])>) {
    out.push_str(title);
    out.push_str(":\n");
    for (name, aliases) in types {
        out.push_str("  ");
        out.push_str(name);
        for alias in aliases {
            let deprecated = if alias.deprecation.is_some() { ", deprecated" } else { "" };
            out.push_str(&format!(" (alias {}{deprecated})", alias.name));
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_and_alias_is_registered_once() {
        let registry = factories().unwrap();
        assert_eq!(registry.receivers.names(), ["jaeger", "nop", "otlp", "zipkin"]);
        assert_eq!(registry.processors.names(), ["batch", "memory_limiter"]);
        assert_eq!(
            registry.exporters.names(),
            ["debug", "jaeger_storage_exporter", "logging", "nop", "otlp", "otlp_grpc", "otlp_http", "otlphttp"]
        );
        assert_eq!(
            registry.extensions.names(),
            [
                "basicauth",
                "bearertokenauth",
                "health_check",
                "jaeger_query",
                "jaeger_storage",
                "oidc",
                "remote_sampling"
            ]
        );
        assert_eq!(storage_engines().unwrap().names(), ["elasticsearch", "embedded", "memory", "opensearch"]);
    }

    #[test]
    fn the_default_config_decodes() {
        let source = ("default".to_owned(), crate::DEFAULT_CONFIG.to_owned());
        let config = spoor_config::load_sources(&[source]).unwrap();
        let components = factories().unwrap().decode(&config).unwrap();
        assert!(!components.stores_provided().is_empty(), "the all-in-one opens a store");
    }
}
