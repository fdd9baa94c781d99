//! CORS as the collector's HTTP server does it (rs/cors with credentials allowed): origins
//! with one `*` wildcard, preflight answered with 204, and the implicitly allowed headers.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderMap, HeaderValue, ORIGIN, VARY,
};
use http::{Method, StatusCode};
use serde::Deserialize;

/// `cors`, as confighttp's (rs/cors underneath). Without `allowed_origins` it does nothing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to send requests; `*` matches any, and one `*` inside an origin
    /// (`https://*.example.com`) matches any run of characters there.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides Accept, Accept-Language, Content-Type and
    /// Content-Language; with none listed, X-Requested-With is allowed too; `*` allows all.
    pub allowed_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds for preflight responses; 0 leaves it out.
    pub max_age: u64,
}

/// Headers a browser may always send, as rs/cors allows them.
const IMPLICIT_HEADERS: [&str; 5] = ["accept", "accept-language", "content-type", "content-language", "origin"];
const ALLOWED_METHODS: [Method; 3] = [Method::GET, Method::POST, Method::HEAD];

#[derive(Debug, Clone)]
enum OriginPattern {
    Any,
    Exact(String),
    Wildcard { prefix: String, suffix: String },
}

impl OriginPattern {
    fn parse(text: &str) -> Self {
        let text = text.trim().to_ascii_lowercase();
        if text == "*" {
            return Self::Any;
        }
        match text.split_once('*') {
            Some((prefix, suffix)) => Self::Wildcard { prefix: prefix.to_owned(), suffix: suffix.to_owned() },
            None => Self::Exact(text),
        }
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact == origin,
            Self::Wildcard { prefix, suffix } => {
                origin.len() >= prefix.len() + suffix.len()
                    && origin.starts_with(prefix.as_str())
                    && origin.ends_with(suffix.as_str())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<OriginPattern>,
    any_header: bool,
    headers: Vec<String>,
    max_age: u64,
}

/// What the CORS layer decided for one request.
pub enum CorsOutcome {
    /// A preflight: answer it with these headers and 204, without running the handler.
    Preflight(HeaderMap),
    /// An ordinary request: run the handler and add these headers to its response.
    Decorate(HeaderMap),
}

impl Cors {
    /// `None` when no origin is allowed: the collector then ignores the whole block.
    pub fn new(config: &CorsConfig) -> Option<Self> {
        if config.allowed_origins.is_empty() {
            if !config.allowed_headers.is_empty() {
                tracing::warn!(
                    "the CORS configuration specifies allowed headers but no allowed origins, and is therefore ignored"
                );
            }
            return None;
        }
        let mut headers: Vec<String> = IMPLICIT_HEADERS.iter().map(|h| (*h).to_owned()).collect();
        if config.allowed_headers.is_empty() {
            headers.push("x-requested-with".to_owned());
        }
        headers.extend(config.allowed_headers.iter().map(|h| h.trim().to_ascii_lowercase()));
        Some(Self {
            origins: config.allowed_origins.iter().map(|o| OriginPattern::parse(o)).collect(),
            any_header: headers.iter().any(|h| h == "*"),
            headers,
            max_age: config.max_age,
        })
    }

    pub fn check(&self, method: &Method, request: &HeaderMap) -> CorsOutcome {
        let origin = request.get(ORIGIN).and_then(|v| v.to_str().ok());
        let preflight = method == Method::OPTIONS && request.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        let mut out = HeaderMap::new();
        if preflight {
            for vary in ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"] {
                out.append(VARY, HeaderValue::from_static(vary));
            }
            if let Some(origin) = origin {
                self.allow_preflight(origin, request, &mut out);
            }
            return CorsOutcome::Preflight(out);
        }
        out.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin.filter(|o| self.origin_allowed(o)) {
            allow_origin(origin, &mut out);
        }
        CorsOutcome::Decorate(out)
    }

    fn allow_preflight(&self, origin: &str, request: &HeaderMap, out: &mut HeaderMap) {
        if !self.origin_allowed(origin) {
            return;
        }
        let Some(method) = request
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .and_then(|m| Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()).ok())
            .filter(|m| ALLOWED_METHODS.contains(m))
        else {
            return;
        };
        let requested: Vec<String> = request
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if !self.any_header && !requested.iter().all(|h| self.headers.contains(h)) {
            return;
        }
        allow_origin(origin, out);
        if let Ok(value) = HeaderValue::from_str(method.as_str()) {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        if !requested.is_empty()
            && let Ok(value) = HeaderValue::from_str(&requested.join(", "))
        {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if self.max_age > 0 {
            out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age));
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|p| p.matches(&origin))
    }
}

/// rs/cors answers preflights with 204 No Content.
pub const PREFLIGHT_STATUS: StatusCode = StatusCode::NO_CONTENT;

fn allow_origin(origin: &str, out: &mut HeaderMap) {
    // With credentials allowed, browsers need the origin echoed rather than `*`.
    if let Ok(value) = HeaderValue::from_str(origin) {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], headers: &[&str]) -> Cors {
        Cors::new(&CorsConfig {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            max_age: 7200,
        })
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn wildcard_origins() {
        let cors = cors(&["https://*.example.com", "http://exact.test"], &[]);
        assert!(cors.origin_allowed("https://app.example.com"));
        assert!(cors.origin_allowed("HTTPS://APP.EXAMPLE.COM"));
        assert!(cors.origin_allowed("http://exact.test"));
        assert!(!cors.origin_allowed("https://example.com.evil.org"));
        assert!(!cors.origin_allowed("http://app.example.com"));
        assert!(!cors.origin_allowed("http://exact.test.evil"));
    }

    #[test]
    fn preflight_for_allowed_origin() {
        let cors = cors(&["https://*.example.com"], &["X-Custom"]);
        let request = headers(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type, x-custom"),
        ]);
        let CorsOutcome::Preflight(out) = cors.check(&Method::OPTIONS, &request) else {
            panic!("expected a preflight");
        };
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(out[ACCESS_CONTROL_ALLOW_METHODS], "POST");
        assert_eq!(out[ACCESS_CONTROL_ALLOW_HEADERS], "content-type, x-custom");
        assert_eq!(out[ACCESS_CONTROL_MAX_AGE], "7200");
        assert_eq!(out[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }

    #[test]
    fn preflight_refusals_carry_no_allow_headers() {
        let cors = cors(&["https://ok.test"], &[]);
        for request in [
            headers(&[("origin", "https://evil.test"), ("access-control-request-method", "POST")]),
            headers(&[("origin", "https://ok.test"), ("access-control-request-method", "DELETE")]),
            headers(&[
                ("origin", "https://ok.test"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-secret"),
            ]),
        ] {
            let CorsOutcome::Preflight(out) = cors.check(&Method::OPTIONS, &request) else {
                panic!("expected a preflight");
            };
            assert!(!out.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        }
    }

    #[test]
    fn simple_request_is_decorated_only_when_allowed() {
        let cors = cors(&["*"], &[]);
        let CorsOutcome::Decorate(out) = cors.check(&Method::POST, &headers(&[("origin", "http://any.test")])) else {
            panic!("expected decoration");
        };
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "http://any.test");
        let CorsOutcome::Decorate(out) = cors.check(&Method::POST, &HeaderMap::new()) else {
            panic!("expected decoration");
        };
        assert!(!out.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[test]
    fn no_origins_means_no_cors() {
        assert!(Cors::new(&CorsConfig::default()).is_none());
    }
}
