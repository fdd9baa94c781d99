//! The config keys of collector-contrib's `extension/oidcauthextension/config.go`: the
//! single-provider keys at the top level (deprecated there, still what most files have) and the
//! `providers` list.

use http::HeaderName;
use serde::Deserialize;

use crate::ConfigProblem;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcAuthConfig {
    /// The header that carries `Bearer <token>`. Default `authorization`.
    #[serde(default = "default_attribute")]
    pub attribute: String,
    #[serde(default)]
    pub issuer_url: String,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub ignore_audience: bool,
    #[serde(default)]
    pub issuer_ca_path: Option<String>,
    #[serde(default)]
    pub username_claim: Option<String>,
    #[serde(default)]
    pub groups_claim: Option<String>,
    #[serde(default)]
    pub providers: Vec<OidcProviderConfig>,
}

/// One issuer. The top-level keys are one of these, put before the `providers` list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer, exactly as the tokens' `iss` claim has it; the keys are discovered at
    /// `{issuer_url}/.well-known/openid-configuration` unless `public_keys_file` is set.
    #[serde(default)]
    pub issuer_url: String,
    /// Required unless `ignore_audience`; the token's `aud` must contain it.
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub ignore_audience: bool,
    /// A PEM file of CA certificates trusted for the issuer's HTTPS, besides the usual roots.
    #[serde(default)]
    pub issuer_ca_path: Option<String>,
    /// The claim that names the user; default `sub`.
    #[serde(default)]
    pub username_claim: Option<String>,
    /// A claim holding a group name or a list of them.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// A local JWKS file; when set, its keys are the only ones used and nothing is fetched. The
    /// file is reloaded when it changes.
    #[serde(default)]
    pub public_keys_file: Option<String>,
}

fn default_attribute() -> String {
    "authorization".to_owned()
}

impl Default for OidcAuthConfig {
    fn default() -> Self {
        Self {
            attribute: default_attribute(),
            issuer_url: String::new(),
            audience: String::new(),
            ignore_audience: false,
            issuer_ca_path: None,
            username_claim: None,
            groups_claim: None,
            providers: Vec::new(),
        }
    }
}

impl OidcAuthConfig {
    /// Every provider with the key path of its settings: the top-level one (path `""`) first,
    /// then `providers[i]`, in the collector's order.
    pub fn provider_configs(&self) -> Vec<(String, OidcProviderConfig)> {
        let legacy_set = !self.issuer_url.is_empty()
            || !self.audience.is_empty()
            || self.ignore_audience
            || self.issuer_ca_path.is_some()
            || self.username_claim.is_some()
            || self.groups_claim.is_some();
        let legacy = legacy_set.then(|| {
            let provider = OidcProviderConfig {
                issuer_url: self.issuer_url.clone(),
                audience: self.audience.clone(),
                ignore_audience: self.ignore_audience,
                issuer_ca_path: self.issuer_ca_path.clone(),
                username_claim: self.username_claim.clone(),
                groups_claim: self.groups_claim.clone(),
                public_keys_file: None,
            };
            (String::new(), provider)
        });
        let listed = self.providers.iter().enumerate().map(|(i, p)| (format!("providers[{i}]"), p.clone()));
        legacy.into_iter().chain(listed).collect()
    }

    /// Checks everything that can be checked without reading files or the network.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        HeaderName::try_from(self.attribute.as_str())
            .map_err(|_| ConfigProblem::new("attribute", format!("{:?} is not a valid header name", self.attribute)))?;
        let providers = self.provider_configs();
        if providers.is_empty() {
            return Err(ConfigProblem::new("", "no provider configured: set issuer_url and audience, or providers"));
        }
        let mut seen = std::collections::HashSet::new();
        for (path, provider) in &providers {
            provider.validate().map_err(|p| p.within(path))?;
            if !seen.insert(provider.issuer_url.as_str()) {
                let message = format!("duplicate issuer URL found: {}", provider.issuer_url);
                return Err(ConfigProblem::new("issuer_url", message).within(path));
            }
        }
        Ok(())
    }
}

impl OidcProviderConfig {
    fn validate(&self) -> Result<(), ConfigProblem> {
        if self.audience.is_empty() && !self.ignore_audience {
            return Err(ConfigProblem::new("audience", "no audience provided (or set ignore_audience)"));
        }
        if self.issuer_url.is_empty() {
            return Err(ConfigProblem::new("issuer_url", "no issuer URL provided"));
        }
        let url = reqwest::Url::parse(&self.issuer_url)
            .map_err(|err| ConfigProblem::new("issuer_url", format!("invalid URL {:?}: {err}", self.issuer_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigProblem::new("issuer_url", "must be an http or https URL"));
        }
        Ok(())
    }
}
