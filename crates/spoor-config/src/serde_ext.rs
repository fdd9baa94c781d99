//! serde helpers for the collector's YAML conventions.

use serde::{Deserialize, Deserializer};

/// For sections whose presence enables them: `grpc:` with no value (YAML null) means
/// "enabled, with defaults", and an absent key stays `None` (via `#[serde(default)]`).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(deserializer)?.unwrap_or_default()))
}
