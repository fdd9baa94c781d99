//! What a component may use when it is built.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use spoor_config::ComponentId;

use crate::Telemetry;
use crate::extensions::health_check::Readiness;

/// Everything a validated config may need to become a component. New needs get a field here.
pub struct BuildContext<'a> {
    /// `otlp/2`: labels the component's self-metrics and logs.
    pub id: &'a ComponentId,
    pub telemetry: &'a Telemetry,
    /// Whether the service is ready, for the health check.
    pub readiness: &'a Readiness,
    /// The trace storage backends the running extensions opened, by backend name
    /// (`Arc<dyn spoor_store::TraceStore>`; `spoor_store::factory::trace_store` reads them).
    pub stores: &'a Named,
    /// What the running extensions offer other components, by extension id (the
    /// `remote_sampling` strategies, say).
    pub extensions: &'a Named,
    /// The authenticator extensions, for `auth.authenticator` on listeners and exporters.
    pub authenticators: &'a spoor_net::auth::Authenticators,
}

/// Why a valid config could not become a component (a certificate file that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

impl BuildError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

/// Shared values by name, of types the crate that reads them knows: a trace store is a
/// spoor-store type, which this crate cannot name.
#[derive(Default, Clone)]
pub struct Named {
    by_name: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
}

impl Named {
    pub fn insert<T: Any + Send + Sync>(&mut self, name: impl Into<String>, value: T) {
        self.by_name.insert(name.into(), Arc::new(value));
    }

    /// The value called `name`, if it is a `T`.
    pub fn get<T: Any + Clone>(&self, name: &str) -> Option<T> {
        self.by_name.get(name).and_then(|value| value.downcast_ref::<T>()).cloned()
    }

    /// Every `T`, in name order.
    pub fn all<T: Any + Clone>(&self) -> impl Iterator<Item = (&str, T)> {
        self.by_name.iter().filter_map(|(name, value)| Some((name.as_str(), value.downcast_ref::<T>()?.clone())))
    }
}

/// What running extensions provide, gathered by the service as they start.
#[derive(Default, Clone)]
pub struct Provided {
    pub stores: Named,
    pub extensions: Named,
}
