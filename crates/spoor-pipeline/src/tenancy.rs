//! Jaeger's multi-tenancy (`internal/tenancy` in jaegertracing/jaeger): the `multi_tenancy`
//! block that `jaeger_query` and `jaeger_storage_exporter` take, and the one check of a
//! request's tenant header, with Jaeger's words for each refusal.

use std::collections::BTreeSet;

use serde::Deserialize;

/// Jaeger's default tenant header.
pub const DEFAULT_TENANT_HEADER: &str = "x-tenant";

/// `multi_tenancy: {enabled, header, tenants}`, Jaeger's `tenancy.Options`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    pub enabled: bool,
    /// The header that names the tenant; `x-tenant` when empty or absent.
    pub header: Option<String>,
    /// The allowed tenants; empty allows any tenant, as in Jaeger.
    pub tenants: Vec<String>,
}

/// Why a request's tenant was refused. The texts are Jaeger's
/// (`internal/tenancy/http.go` and `grpc.go`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// HTTP 401; gRPC `Unauthenticated`.
    #[error("missing tenant header")]
    Missing,
    /// gRPC `PermissionDenied` (HTTP takes the first value).
    #[error("extra tenant header")]
    Extra,
    /// HTTP 401; gRPC `PermissionDenied`.
    #[error("unknown tenant")]
    Unknown,
}

/// A validated `multi_tenancy` block, Jaeger's `tenancy.Manager`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tenancy {
    /// `None` when multi-tenancy is off.
    header: Option<String>,
    allowed: BTreeSet<String>,
}

impl TenancyConfig {
    /// The checks of the block; the error is `(key, message)` within `multi_tenancy`.
    pub fn build(&self) -> Result<Tenancy, (&'static str, String)> {
        if !self.enabled {
            return Ok(Tenancy::default());
        }
        let header = match self.header.as_deref() {
            None | Some("") => DEFAULT_TENANT_HEADER.to_owned(),
            Some(header) => header.to_ascii_lowercase(),
        };
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(("header", format!("{header:?} is not a valid header name")));
        }
        if let Some(empty) = self.tenants.iter().position(String::is_empty) {
            return Err(("tenants", format!("entry {empty} is empty")));
        }
        Ok(Tenancy { header: Some(header), allowed: self.tenants.iter().cloned().collect() })
    }
}

impl Tenancy {
    pub fn enabled(&self) -> bool {
        self.header.is_some()
    }

    /// The tenant header (lowercase), when multi-tenancy is on.
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// Whether `tenant` may be used: any tenant when no list was given.
    pub fn allows(&self, tenant: &str) -> bool {
        self.allowed.is_empty() || self.allowed.contains(tenant)
    }

    /// The tenant that the header's `values` name, checked as Jaeger's gRPC check does: exactly
    /// one value, and an allowed one. `Ok(None)` when multi-tenancy is off.
    pub fn tenant_of<'a>(&self, values: &[&'a str]) -> Result<Option<&'a str>, TenantError> {
        if !self.enabled() {
            return Ok(None);
        }
        match values {
            [] => Err(TenantError::Missing),
            [tenant] if self.allows(tenant) => Ok(Some(tenant)),
            [_] => Err(TenantError::Unknown),
            _ => Err(TenantError::Extra),
        }
    }

    /// The tenant of an HTTP request, as Jaeger's HTTP check: the first value, where an empty
    /// one counts as missing.
    pub fn tenant_of_http<'a>(&self, first_value: Option<&'a str>) -> Result<Option<&'a str>, TenantError> {
        if !self.enabled() {
            return Ok(None);
        }
        match first_value {
            None | Some("") => Err(TenantError::Missing),
            Some(tenant) if self.allows(tenant) => Ok(Some(tenant)),
            Some(_) => Err(TenantError::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenancy(json: serde_json::Value) -> Tenancy {
        serde_json::from_value::<TenancyConfig>(json).unwrap().build().unwrap()
    }

    #[test]
    fn off_by_default_and_then_every_request_passes() {
        let off = tenancy(serde_json::json!({"tenants": ["acme"]}));
        assert!(!off.enabled());
        assert_eq!(off.tenant_of(&[]), Ok(None));
        assert_eq!(off.tenant_of_http(None), Ok(None));
    }

    #[test]
    fn jaegers_checks_and_words() {
        let on = tenancy(serde_json::json!({"enabled": true, "tenants": ["acme", "globex"]}));
        assert_eq!(on.header(), Some(DEFAULT_TENANT_HEADER));
        assert_eq!(on.tenant_of(&["acme"]), Ok(Some("acme")));
        assert_eq!(on.tenant_of(&[]), Err(TenantError::Missing));
        assert_eq!(on.tenant_of(&["initech"]), Err(TenantError::Unknown));
        assert_eq!(on.tenant_of(&["acme", "globex"]), Err(TenantError::Extra));
        assert_eq!(on.tenant_of_http(Some("")), Err(TenantError::Missing));
        assert_eq!(on.tenant_of_http(Some("globex")), Ok(Some("globex")));
        assert_eq!(on.tenant_of_http(Some("initech")), Err(TenantError::Unknown));
        assert_eq!(TenantError::Missing.to_string(), "missing tenant header");
        assert_eq!(TenantError::Extra.to_string(), "extra tenant header");
        assert_eq!(TenantError::Unknown.to_string(), "unknown tenant");
    }

    #[test]
    fn no_list_allows_any_tenant_and_the_header_is_configurable() {
        let any = tenancy(serde_json::json!({"enabled": true, "header": "X-Scope-OrgID"}));
        assert_eq!(any.header(), Some("x-scope-orgid"));
        assert_eq!(any.tenant_of(&["whoever"]), Ok(Some("whoever")));
        let default_header = tenancy(serde_json::json!({"enabled": true, "header": ""}));
        assert_eq!(default_header.header(), Some(DEFAULT_TENANT_HEADER));
    }

    #[test]
    fn bad_blocks_are_refused_with_their_key() {
        let build = |json| serde_json::from_value::<TenancyConfig>(json).unwrap().build().unwrap_err().0;
        assert_eq!(build(serde_json::json!({"enabled": true, "header": "bad header"})), "header");
        assert_eq!(build(serde_json::json!({"enabled": true, "tenants": ["acme", ""]})), "tenants");
        assert!(serde_json::from_value::<TenancyConfig>(serde_json::json!({"tenant": []})).is_err());
    }
}
