//! The factories by type name, and the decoding of a whole config with them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use spoor_config::{ComponentId, ComponentKind, Config, ConfigError, RawComponent};

use super::{
    Alias, ExporterFactory, ExtensionFactory, Factory, ProcessorFactory, RawConfig, ReceiverFactory, StoreUse,
    ValidatedExporter, ValidatedExtension, ValidatedProcessor, ValidatedReceiver,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{kind} type {name:?} is registered twice")]
    DuplicateType { kind: &'static str, name: &'static str },
}

/// The factories of one kind, by type name and alias.
pub struct Factories<F: ?Sized> {
    kind: &'static str,
    by_name: BTreeMap<&'static str, (Arc<F>, Option<Alias>)>,
}

impl<F: ?Sized + Factory> Factories<F> {
    /// `kind` names the factories in errors: `exporter`, `storage backend`.
    pub fn new(kind: &'static str) -> Self {
        Self { kind, by_name: BTreeMap::new() }
    }

    /// Adds `factory` under its type name and every alias; a name taken already is an error.
    pub fn register(&mut self, factory: Arc<F>) -> Result<(), RegistryError> {
        let names = std::iter::once((factory.type_name(), None))
            .chain(factory.aliases().iter().map(|alias| (alias.name, Some(*alias))));
        let names: Vec<_> = names.collect();
        if let Some((name, _)) = names.iter().find(|(name, _)| self.by_name.contains_key(name)) {
            return Err(RegistryError::DuplicateType { kind: self.kind, name });
        }
        for (name, alias) in names {
            self.by_name.insert(name, (factory.clone(), alias));
        }
        Ok(())
    }

    /// The factory for `type_name`, and the alias it was found by.
    pub fn get(&self, type_name: &str) -> Option<(&F, Option<Alias>)> {
        self.by_name.get(type_name).map(|(factory, alias)| (factory.as_ref(), *alias))
    }

    /// Like [`Self::get`]; an unknown type is an error at `raw` listing the valid ones.
    pub fn find(&self, raw: &RawConfig<'_>, type_name: &str) -> Result<(&F, Option<Alias>), ConfigError> {
        self.get(type_name).ok_or_else(|| {
            raw.error("", format!("unknown type {type_name:?} (valid types: {})", self.names().join(", ")))
        })
    }

    /// Every name, aliases included, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.by_name.keys().copied().collect()
    }

    /// Each factory once, by type name, with its aliases.
    pub fn types(&self) -> impl Iterator<Item = (&'static str, &'static [Alias])> {
        self.by_name
            .iter()
            .filter(|(_, (_, alias))| alias.is_none())
            .map(|(name, (factory, _))| (*name, factory.aliases()))
    }
}

/// Every component factory the binary knows, one list per kind.
pub struct Registry {
    pub receivers: Factories<dyn ReceiverFactory>,
    pub processors: Factories<dyn ProcessorFactory>,
    pub exporters: Factories<dyn ExporterFactory>,
    pub extensions: Factories<dyn ExtensionFactory>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            receivers: Factories::new("receiver"),
            processors: Factories::new("processor"),
            exporters: Factories::new("exporter"),
            extensions: Factories::new("extension"),
        }
    }
}

impl Registry {
    pub fn receiver(&mut self, factory: impl ReceiverFactory) -> Result<&mut Self, RegistryError> {
        self.receivers.register(Arc::new(factory))?;
        Ok(self)
    }

    pub fn processor(&mut self, factory: impl ProcessorFactory) -> Result<&mut Self, RegistryError> {
        self.processors.register(Arc::new(factory))?;
        Ok(self)
    }

    pub fn exporter(&mut self, factory: impl ExporterFactory) -> Result<&mut Self, RegistryError> {
        self.exporters.register(Arc::new(factory))?;
        Ok(self)
    }

    pub fn extension(&mut self, factory: impl ExtensionFactory) -> Result<&mut Self, RegistryError> {
        self.extensions.register(Arc::new(factory))?;
        Ok(self)
    }

    /// Decodes and validates every configured component, and checks what they refer to
    /// across components. `spoor validate` stops here.
    pub fn decode(&self, config: &Config) -> Result<Components, ConfigError> {
        let mut components = Components::default();
        for raw in of_kind(config, ComponentKind::Receiver) {
            let (factory, raw_config) = found(config, raw, &self.receivers)?;
            components.receivers.insert(raw.id.clone(), factory.decode(&raw_config)?);
        }
        for raw in of_kind(config, ComponentKind::Processor) {
            let (factory, raw_config) = found(config, raw, &self.processors)?;
            components.processors.insert(raw.id.clone(), factory.decode(&raw_config)?);
        }
        for raw in of_kind(config, ComponentKind::Exporter) {
            let (factory, raw_config) = found(config, raw, &self.exporters)?;
            components.exporters.insert(raw.id.clone(), factory.decode(&raw_config)?);
        }
        for raw in of_kind(config, ComponentKind::Extension) {
            let (factory, raw_config) = found(config, raw, &self.extensions)?;
            components.extensions.insert(raw.id.clone(), factory.decode(&raw_config)?);
        }
        if let Some(raw) = of_kind(config, ComponentKind::Connector).next() {
            return Err(config.document.error(&raw.path, "connectors are not supported yet"));
        }
        for (id, _) in config.service.pipelines.iter().filter(|(id, _)| !id.starts_with("traces")) {
            tracing::warn!(pipeline = %id, "only traces pipelines are supported; this pipeline will not run");
        }
        components.check_store_uses(config)?;
        Ok(components)
    }
}

fn of_kind(config: &Config, kind: ComponentKind) -> impl Iterator<Item = &RawComponent> {
    config.components.get(&kind).into_iter().flat_map(|by_id| by_id.values())
}

/// The factory of `raw`'s type, having logged the deprecation of the alias it was named by.
fn found<'a, F: ?Sized + Factory>(
    config: &'a Config,
    raw: &'a RawComponent,
    factories: &'a Factories<F>,
) -> Result<(&'a F, RawConfig<'a>), ConfigError> {
    let raw_config = RawConfig::new(&config.document, raw.path.clone(), &raw.value);
    let (factory, alias) = factories.find(&raw_config, raw.id.type_name())?;
    if let Some(warning) = alias.and_then(|alias| alias.deprecation) {
        warn_deprecated(factories.kind, &raw.id, warning);
    }
    Ok((factory, raw_config))
}

fn warn_deprecated(kind: &str, id: &ComponentId, warning: &str) {
    match kind {
        "receiver" => tracing::warn!(receiver = %id, "{warning}"),
        "processor" => tracing::warn!(processor = %id, "{warning}"),
        "exporter" => tracing::warn!(exporter = %id, "{warning}"),
        _ => tracing::warn!(extension = %id, "{warning}"),
    }
}

/// Every configured component, decoded and validated, by id.
#[derive(Default)]
pub struct Components {
    pub receivers: BTreeMap<ComponentId, Box<dyn ValidatedReceiver>>,
    pub processors: BTreeMap<ComponentId, Box<dyn ValidatedProcessor>>,
    pub exporters: BTreeMap<ComponentId, Box<dyn ValidatedExporter>>,
    pub extensions: BTreeMap<ComponentId, Box<dyn ValidatedExtension>>,
}

impl Components {
    /// The storage backends some extension opens.
    pub fn stores_provided(&self) -> BTreeSet<String> {
        self.extensions.values().flat_map(|extension| extension.stores_provided()).collect()
    }

    /// Each component that reads or writes a storage backend must name one that is defined.
    fn check_store_uses(&self, config: &Config) -> Result<(), ConfigError> {
        let provided = self.stores_provided();
        let exporters =
            self.exporters.iter().map(|(id, exporter)| (ComponentKind::Exporter, id, exporter.stores_used()));
        let extensions =
            self.extensions.iter().map(|(id, extension)| (ComponentKind::Extension, id, extension.stores_used()));
        for (kind, id, uses) in exporters.chain(extensions) {
            let Some(StoreUse { key, backend }) = uses.into_iter().find(|used| !provided.contains(&used.backend))
            else {
                continue;
            };
            let path =
                config.component(kind, id).map_or_else(|| format!("{}.{id}", kind.section()), |raw| raw.path.clone());
            return Err(config.document.error(
                &format!("{path}.{key}"),
                format!("storage backend {backend:?} is not defined in jaeger_storage.backends"),
            ));
        }
        Ok(())
    }

    /// Each local data directory the configured components write, by name, for `--data-dir`.
    pub fn data_paths(&mut self) -> Vec<(String, &mut std::path::PathBuf)> {
        self.extensions.values_mut().flat_map(|extension| extension.data_paths()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde::Deserialize;

    use super::*;
    use crate::component::{
        BuildContext, BuildError, ConfigProblem, Delivery, Named, Validate, Validated, ValidatedExporter,
        ValidatedReceiver,
    };
    use crate::extensions::health_check::Readiness;
    use crate::{Exporter, Receiver, StartError, Telemetry, TracesConsumer};

    /// A receiver whose `port` must not be 0.
    struct TestFactory;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TestConfig {
        port: u16,
    }

    impl Validate for TestConfig {
        fn check(&self) -> Result<(), ConfigProblem> {
            if self.port == 0 { Err(ConfigProblem::new("port", "must not be 0")) } else { Ok(()) }
        }
    }

    impl Factory for TestFactory {
        fn type_name(&self) -> &'static str {
            "test"
        }

        fn aliases(&self) -> &'static [Alias] {
            const ALIASES: &[Alias] = &[Alias::deprecated("old_test", "old_test is deprecated")];
            ALIASES
        }
    }

    impl ReceiverFactory for TestFactory {
        fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError> {
            Ok(Box::new(config.decode_validated::<TestConfig>()?))
        }
    }

    impl ValidatedReceiver for Validated<TestConfig> {
        fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Receiver>, BuildError> {
            Ok(Box::new(TestReceiver { name: format!("{}:{}", cx.id, self.port) }))
        }
    }

    struct TestReceiver {
        name: String,
    }

    #[async_trait]
    impl Receiver for TestReceiver {
        async fn start(&mut self, _next: Arc<dyn TracesConsumer>) -> Result<(), StartError> {
            Err(StartError(self.name.clone()))
        }

        async fn shutdown(&mut self) {}
    }

    /// An exporter that writes to the backend its config names.
    struct StoreWriterFactory;

    impl Factory for StoreWriterFactory {
        fn type_name(&self) -> &'static str {
            "store_writer"
        }
    }

    #[derive(Deserialize)]
    struct StoreWriter {
        backend: String,
    }

    impl ExporterFactory for StoreWriterFactory {
        fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError> {
            Ok(Box::new(config.decode::<StoreWriter>()?))
        }
    }

    impl ValidatedExporter for StoreWriter {
        fn delivery(&self) -> Delivery {
            Delivery::inline()
        }

        fn stores_used(&self) -> Vec<StoreUse> {
            vec![StoreUse { key: "backend", backend: self.backend.clone() }]
        }

        fn build(self: Box<Self>, _cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError> {
            Err(BuildError::new("not built in tests"))
        }
    }

    fn registry() -> Registry {
        let mut registry = Registry::default();
        registry.receiver(TestFactory).unwrap().exporter(StoreWriterFactory).unwrap();
        registry.exporter(crate::factories::NopExporterFactory).unwrap();
        registry
    }

    fn config(receivers: &str, exporters: &str) -> Config {
        let yaml = format!(
            "receivers:\n{receivers}\nexporters:\n{exporters}\n\
             service:\n  pipelines:\n    traces: {{receivers: [test], exporters: [nop]}}\n"
        );
        spoor_config::load_sources(&[("test.yaml".to_owned(), yaml)]).unwrap()
    }

    #[test]
    fn a_type_name_is_registered_once() {
        let mut registry = registry();
        let err = registry.receiver(TestFactory).err().unwrap();
        assert_eq!(err, RegistryError::DuplicateType { kind: "receiver", name: "test" });
        assert_eq!(err.to_string(), "receiver type \"test\" is registered twice");
    }

    #[test]
    fn an_alias_cannot_take_a_registered_name() {
        struct Squatter;
        impl Factory for Squatter {
            fn type_name(&self) -> &'static str {
                "new"
            }
            fn aliases(&self) -> &'static [Alias] {
                const ALIASES: &[Alias] = &[Alias::new("test")];
                ALIASES
            }
        }
        impl ReceiverFactory for Squatter {
            fn decode(&self, _: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError> {
                unreachable!()
            }
        }
        let mut registry = registry();
        assert!(registry.receiver(Squatter).is_err());
        assert!(registry.receivers.get("new").is_none(), "a refused factory leaves no name behind");
    }

    #[test]
    fn an_unknown_type_lists_the_valid_ones() {
        let config = config("  test: {port: 1}", "  nop:\n  kafka:");
        let err = registry().decode(&config).err().unwrap();
        assert_eq!(err.path, "exporters.kafka");
        assert_eq!(err.message, "unknown type \"kafka\" (valid types: nop, store_writer)");
        assert_eq!(err.location.unwrap().line, 5);
    }

    #[test]
    fn aliases_are_valid_types_too() {
        let unknown = config("  test: {port: 1}\n  otlp:", "  nop:");
        let err = registry().decode(&unknown).err().unwrap();
        assert_eq!(err.message, "unknown type \"otlp\" (valid types: old_test, test)");
        assert!(registry().decode(&config_with_alias()).unwrap().receivers.contains_key(&"old_test".parse().unwrap()));
    }

    fn config_with_alias() -> Config {
        let yaml = "receivers: {old_test: {port: 2}}\nexporters: {nop: }\n\
                    service: {pipelines: {traces: {receivers: [old_test], exporters: [nop]}}}\n";
        spoor_config::load_sources(&[("test.yaml".to_owned(), yaml.to_owned())]).unwrap()
    }

    #[test]
    fn the_factory_validates_with_the_key_path() {
        let zero = config("  test: {port: 0}", "  nop:");
        let err = registry().decode(&zero).err().unwrap();
        assert_eq!(err.path, "receivers.test.port");
        assert_eq!(err.message, "must not be 0");
        let unknown_key = config("  test: {port: 1, host: x}", "  nop:");
        assert_eq!(registry().decode(&unknown_key).err().unwrap().path, "receivers.test.host");
    }

    #[tokio::test]
    async fn a_registered_factory_builds_its_component() {
        let config = config("  test: {port: 1}\n  test/a: {port: 7}", "  nop:");
        let mut components = registry().decode(&config).unwrap();
        let id: ComponentId = "test/a".parse().unwrap();
        let validated = components.receivers.remove(&id).unwrap();
        let (telemetry, readiness, named) = (Telemetry::new(), Readiness::default(), Named::default());
        let authenticators = spoor_net::auth::Authenticators::default();
        let cx = BuildContext {
            id: &id,
            telemetry: &telemetry,
            readiness: &readiness,
            stores: &named,
            extensions: &named,
            authenticators: &authenticators,
        };
        let mut receiver = validated.build(&cx).unwrap();
        let next: Arc<dyn TracesConsumer> = Arc::new(crate::fanout::ExporterFanOut::new(Vec::new()));
        assert_eq!(receiver.start(next).await.unwrap_err().0, "test/a:7");
    }

    #[test]
    fn a_store_nobody_provides_is_an_error_at_its_key() {
        let config = config("  test: {port: 1}", "  nop:\n  store_writer: {backend: main}");
        let err = registry().decode(&config).err().unwrap();
        assert_eq!(err.path, "exporters.store_writer.backend");
        assert_eq!(err.message, "storage backend \"main\" is not defined in jaeger_storage.backends");
    }
}
