//! The web UI: the files of `ui/dist`, embedded in the binary at build time and served under
//! `base_path`. A path that names no file gets `index.html`, since the app routes on the
//! client (`/search`, `/trace/{id}`, `/dependencies`), with its `<base href>` set to the base
//! path so that assets and API calls resolve under it wherever the page is.
//!
//! `ui/dist` is committed, so building spoor never needs node; `ui/dist/source.sha256` records
//! the sources it was built from, and a test here fails when they have changed since.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::params::hex;

#[derive(RustEmbed)]
#[folder = "../../ui/dist"]
#[exclude = "source.sha256"]
struct Assets;

const INDEX: &str = "index.html";
/// The tag `ui/index.html` carries for spoor to rewrite.
const BASE_TAG: &str = r#"<base href="/" />"#;
/// Scripts and styles from the UI's own origin only; inline styles for computed positions.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'";

#[derive(Clone)]
struct Ui {
    /// `base_path` without its trailing slash; empty for the root.
    base: Arc<str>,
    index: Option<Bytes>,
}

/// A router whose fallback serves the UI under `base` (as from `normalized_base_path`).
pub(crate) fn router(base: &str) -> Router {
    let ui = Ui { base: base.into(), index: index_html(base).map(Bytes::from) };
    Router::new().fallback(move |request: Request| {
        let ui = ui.clone();
        async move { ui.serve(request.method(), request.uri().path(), request.headers()) }
    })
}

/// `index.html` with `<base href>` pointing at `base`.
fn index_html(base: &str) -> Option<Vec<u8>> {
    let file = Assets::get(INDEX)?;
    let text = String::from_utf8_lossy(&file.data);
    let href = html_escape(&format!("{base}/"));
    Some(text.replacen(BASE_TAG, &format!(r#"<base href="{href}" />"#), 1).into_bytes())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Ui {
    fn serve(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        if path == "/" && !self.base.is_empty() {
            return redirect(&format!("{}/", self.base));
        }
        let Some(rest) = path.strip_prefix(&*self.base).filter(|rest| rest.is_empty() || rest.starts_with('/')) else {
            return not_found();
        };
        if method != Method::GET && method != Method::HEAD {
            let mut response = (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n").into_response();
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let file = rest.trim_start_matches('/');
        // API paths the routes do not know, and missing assets, are 404s, not the app.
        if file.starts_with("api/") || file == "api" {
            return not_found();
        }
        if !file.is_empty() && file != INDEX {
            if let Some(asset) = Assets::get(file) {
                return asset_response(file, asset, headers);
            }
            if file.starts_with("assets/") || names_static_file(file) {
                return not_found();
            }
        }
        match &self.index {
            Some(index) => page_response(index),
            None => {
                (StatusCode::NOT_FOUND, "this spoor was built without the web UI (ui/dist is empty)\n").into_response()
            }
        }
    }
}

/// A path whose last segment names a static file (`x.js`, `favicon.ico`) rather than a client
/// route such as `/trace/{a}...{b}`.
fn names_static_file(path: &str) -> bool {
    const EXTENSIONS: [&str; 12] =
        ["js", "mjs", "css", "map", "html", "ico", "png", "svg", "json", "txt", "woff", "woff2"];
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(_, extension)| EXTENSIONS.contains(&extension))
}

fn asset_response(path: &str, asset: rust_embed::EmbeddedFile, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex(&asset.metadata.sha256_hash()[..16]));
    // Vite names everything under assets/ by content hash, so those never change.
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    let matches = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // Borrowed from the binary in release builds: no copy per request.
        let mut response = Response::new(Body::from(asset.data));
        if let Ok(mime) = HeaderValue::from_str(asset.metadata.mimetype()) {
            response.headers_mut().insert(header::CONTENT_TYPE, mime);
        }
        response
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn page_response(index: &Bytes) -> Response {
    let mut response = Response::new(Body::from(index.clone()));
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use sha2::{Digest, Sha256};

    use super::*;

    /// The inputs `ui/scripts/source-hash.mjs` hashes, in the same way.
    const INPUTS: [&str; 6] =
        ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src"];

    fn ui_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui")
    }

    fn files(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                files(&entry.unwrap().path(), out);
            }
        } else {
            out.push(path.to_path_buf());
        }
    }

    fn source_hash() -> String {
        let root = ui_dir();
        let mut paths = Vec::new();
        for input in INPUTS {
            files(&root.join(input), &mut paths);
        }
        let mut relative: Vec<(String, PathBuf)> = paths
            .into_iter()
            .map(|p| (p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"), p))
            .collect();
        relative.sort();
        let mut hash = Sha256::new();
        for (name, path) in relative {
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(std::fs::read(path).unwrap());
            hash.update([0]);
        }
        hex(&hash.finalize())
    }

    #[test]
    fn committed_ui_dist_is_built_from_the_current_sources() {
        let recorded = std::fs::read_to_string(ui_dir().join("dist/source.sha256")).unwrap();
        assert_eq!(
            recorded.trim(),
            source_hash(),
            "ui/dist is stale: run `npm ci && npm run build` in ui/ and commit ui/dist"
        );
    }

    fn get(ui: &Ui, path: &str) -> Response {
        ui.serve(&Method::GET, path, &HeaderMap::new())
    }

    fn ui(base: &str) -> Ui {
        Ui { base: base.into(), index: index_html(base).map(Bytes::from) }
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn client_routes_get_the_page_with_base_href() {
        let root = ui("");
        for path in ["/", "/search", "/trace/abc", "/trace/a...b", "/dependencies"] {
            let response = get(&root, path);
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(body(response).await.contains(r#"<base href="/" />"#), "{path}");
        }
        let prefixed = ui("/jaeger");
        let response = get(&prefixed, "/jaeger/trace/abc");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(body(response).await.contains(r#"<base href="/jaeger/" />"#));
        assert_eq!(get(&prefixed, "/").headers()[header::LOCATION], "/jaeger/");
        assert_eq!(get(&prefixed, "/jaegerx/search").status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&prefixed, "/search").status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn assets_are_served_with_type_and_long_caching() {
        let asset = Assets::iter().find(|name| name.ends_with(".js")).expect("ui/dist has a script");
        let response = get(&ui(""), &format!("/{asset}"));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/javascript");
        assert!(response.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"));
        let etag = response.headers()[header::ETAG].clone();
        let mut conditional = HeaderMap::new();
        conditional.insert(header::IF_NONE_MATCH, etag);
        let again = ui("").serve(&Method::GET, &format!("/{asset}"), &conditional);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn missing_assets_and_api_paths_are_not_the_page() {
        let root = ui("");
        for path in ["/assets/gone.js", "/favicon.ico", "/api/nope", "/api"] {
            assert_eq!(get(&root, path).status(), StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(root.serve(&Method::POST, "/search", &HeaderMap::new()).status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
