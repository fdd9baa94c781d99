//! Which server spoor talks to, from `GET /` as Jaeger detects it (`backend_version.go`): an
//! OpenSearch tagline means OpenSearch 1, 2 or 3+; otherwise Elasticsearch 7, 9 or 8 (any other
//! major). Elasticsearch 8 and 9 take composable templates (`_index_template`); Elasticsearch 7
//! and OpenSearch take legacy ones (`_template`). None of them accepts `_type` in bulk lines.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Elasticsearch(u32),
    OpenSearch(u32),
}

impl Flavor {
    /// Jaeger's `version` numbers: 7, 8, 9, and 101, 102, 103 for OpenSearch.
    pub fn from_number(number: u32) -> Option<Self> {
        match number {
            7..=9 => Some(Self::Elasticsearch(number)),
            101..=103 => Some(Self::OpenSearch(number - 100)),
            _ => None,
        }
    }

    /// From `GET /`'s `tagline` and `version.number` (`"3.8.0"`).
    pub fn detect(tagline: &str, version_number: &str) -> Result<Self, String> {
        let major = version_number
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .ok_or_else(|| format!("invalid version number {version_number:?}"))?;
        Ok(if tagline.contains("OpenSearch") {
            Self::OpenSearch(major.clamp(1, 3))
        } else {
            match major {
                7 => Self::Elasticsearch(7),
                9 => Self::Elasticsearch(9),
                _ => Self::Elasticsearch(8),
            }
        })
    }

    pub fn is_opensearch(self) -> bool {
        matches!(self, Self::OpenSearch(_))
    }

    /// Composable index templates (`_index_template`) instead of legacy ones.
    pub fn uses_v8_api(self) -> bool {
        matches!(self, Self::Elasticsearch(8 | 9))
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elasticsearch(major) => write!(f, "Elasticsearch {major}.x"),
            Self::OpenSearch(major) => write!(f, "OpenSearch {major}.x"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_jaeger() {
        let os = "The OpenSearch Project: https://opensearch.org/";
        assert_eq!(Flavor::detect(os, "3.8.0").unwrap(), Flavor::OpenSearch(3));
        assert_eq!(Flavor::detect(os, "1.3.2").unwrap(), Flavor::OpenSearch(1));
        assert_eq!(Flavor::detect("You Know, for Search", "7.17.1").unwrap(), Flavor::Elasticsearch(7));
        assert_eq!(Flavor::detect("You Know, for Search", "9.0.0").unwrap(), Flavor::Elasticsearch(9));
        assert_eq!(Flavor::detect("You Know, for Search", "8.15.0").unwrap(), Flavor::Elasticsearch(8));
        assert!(Flavor::detect("", "x").is_err());
        assert!(Flavor::Elasticsearch(8).uses_v8_api());
        assert!(!Flavor::Elasticsearch(7).uses_v8_api());
        assert!(!Flavor::OpenSearch(2).uses_v8_api());
        assert_eq!(Flavor::from_number(102), Some(Flavor::OpenSearch(2)));
        assert_eq!(Flavor::from_number(6), None);
    }
}
