//! The `nop` exporter: accepts every batch and drops it.

use async_trait::async_trait;
use serde::Deserialize;

use crate::batch::TraceBatch;
use crate::exporter::{ExportError, Exporter};

/// `nop` takes no settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopConfig {}

#[derive(Debug, Default)]
pub struct NopExporter;

impl NopExporter {
    pub fn new(_config: &NopConfig) -> Self {
        Self
    }
}

#[async_trait]
impl Exporter for NopExporter {
    async fn export(&self, _batch: &TraceBatch) -> Result<(), ExportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::sample_batch;

    #[test]
    fn config_accepts_nothing() {
        assert_eq!(serde_json::from_str::<NopConfig>("{}").unwrap(), NopConfig {});
        assert!(serde_json::from_str::<NopConfig>(r#"{"verbosity": "basic"}"#).is_err());
    }

    #[tokio::test]
    async fn drops_everything() {
        let exporter = NopExporter::new(&NopConfig::default());
        assert_eq!(exporter.export(&sample_batch(2, 3)).await, Ok(()));
    }
}
