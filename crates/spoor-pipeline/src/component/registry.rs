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
