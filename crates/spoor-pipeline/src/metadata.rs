//! [`ClientMetadata`]: the collector's `client.Info.Metadata`, the request headers a receiver
//! with `include_metadata: true` carries with its batch, so that a later stage can act on them
//! (the batch processor's `metadata_keys`, the storage exporter's tenant).

use std::collections::BTreeMap;
use std::sync::Arc;

use spoor_net::RequestMetadata;

/// Header values by lowercase header name, in the order the request sent them. Empty unless
/// the receiver includes metadata. Cheap to clone: batches of one request share it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientMetadata(Option<Arc<BTreeMap<String, Vec<String>>>>);

impl ClientMetadata {
    /// From `(name, value)` pairs; names are compared without case, as HTTP and gRPC do.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in pairs {
            entries.entry(name.to_ascii_lowercase()).or_default().push(value.to_owned());
        }
        Self::from_entries(entries)
    }

    /// The request's headers (values that are not text are left out, as gRPC-Go's metadata
    /// would not hold them either).
    pub fn from_request(metadata: &RequestMetadata) -> Self {
        Self::from_pairs(
            metadata.0.iter().filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value))),
        )
    }

    fn from_entries(entries: BTreeMap<String, Vec<String>>) -> Self {
        if entries.is_empty() { Self(None) } else { Self(Some(Arc::new(entries))) }
    }

    /// The values of `name` (any case); empty when the request did not send it.
    pub fn get(&self, name: &str) -> &[String] {
        let Some(entries) = &self.0 else { return &[] };
        match entries.get(name) {
            Some(values) => values,
            None => entries.get(&name.to_ascii_lowercase()).map_or(&[], Vec::as_slice),
        }
    }

    /// Only the `keys` (lowercase), with the values this metadata has for them: what a batch
    /// partitioned by those keys carries on.
    pub fn restricted_to(&self, keys: &[String]) -> Self {
        let entries =
            keys.iter().filter_map(|key| Some((key.clone(), self.get(key).to_vec())).filter(|(_, v)| !v.is_empty()));
        Self::from_entries(entries.collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_values_keep_their_order() {
        let metadata = ClientMetadata::from_pairs([("X-Tenant", "acme"), ("x-tenant", "globex"), ("other", "1")]);
        assert_eq!(metadata.get("x-tenant"), ["acme", "globex"]);
        assert_eq!(metadata.get("X-TENANT"), ["acme", "globex"]);
        assert!(metadata.get("missing").is_empty());
    }

    #[test]
    fn restriction_keeps_only_the_keys_sent() {
        let metadata = ClientMetadata::from_pairs([("x-tenant", "acme"), ("authorization", "secret")]);
        let keys = vec!["x-tenant".to_owned(), "x-region".to_owned()];
        let restricted = metadata.restricted_to(&keys);
        assert_eq!(restricted, ClientMetadata::from_pairs([("x-tenant", "acme")]));
        assert!(restricted.get("authorization").is_empty());
        assert!(ClientMetadata::default().restricted_to(&keys).is_empty());
    }

    #[test]
    fn from_request_headers() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-tenant", http::HeaderValue::from_static("acme"));
        assert_eq!(ClientMetadata::from_request(&RequestMetadata(headers)).get("x-tenant"), ["acme"]);
    }
}
