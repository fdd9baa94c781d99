//! The `http` and `grpc` keys of `jaeger_query` end to end: each confighttp and configgrpc key
//! the query serves has a test that shows it working on 16686 or 16685 (spoor-net's kit does
//! the work; these tests pin that the query hands every key to it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use spoor_jaeger::proto::{api_v2, api_v3};
use spoor_net::auth::{Authenticator, Authenticators};
use spoor_net::testing::{FixedToken, Pki};
use spoor_query::{JaegerQueryConfig, QueryServer};
use spoor_store::{MemoryConfig, MemoryStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A query server on loopback ports, with `http` and `grpc` keys added to the defaults.
async fn start(http: Value, grpc: Value) -> QueryServer {
    start_with(http, grpc, Authenticators::default()).await
}

async fn start_with(http: Value, grpc: Value, authenticators: Authenticators) -> QueryServer {
    serve(json!({"http": http, "grpc": grpc}), authenticators).await
}

/// A query server with `config`'s keys, its listeners moved to loopback ports.
async fn serve(mut config: Value, authenticators: Authenticators) -> QueryServer {
    config["storage"] = json!({"traces": "m"});
    for listener in ["http", "grpc"] {
        config[listener]["endpoint"] = "127.0.0.1:0".into();
    }
    let config: JaegerQueryConfig = serde_json::from_value(config).unwrap();
    config.validate().unwrap();
    let store = Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap());
    let mut server = QueryServer::new(config, store).with_authenticators(authenticators);
    server.start().await.unwrap();
    server
}

fn url(server: &QueryServer, path: &str) -> String {
    format!("http://{}{path}", server.http_addr().unwrap())
}

fn grpc_url(server: &QueryServer) -> String {
    format!("http://{}", server.grpc_addr().unwrap())
}

/// Sends `request` as is and reads one response: its head, and a body of `Content-Length`.
async fn send(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            if body.len() >= length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed mid-response: {text}");
        response.extend_from_slice(&buf[..n]);
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// Whether the server closes `stream` within `within` (a 408 before closing counts).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

// --- http ---

#[tokio::test]
async fn loopback_http_answers_only_loopback_hosts() {
    let mut server = start(json!({}), json!({})).await;
    let addr = server.http_addr().unwrap();
    for (host, status) in
        [("evil.example", 403), ("evil.example:16686", 403), ("localhost:16686", 200), ("127.0.0.1:16686", 200)]
    {
        let request = format!("GET /api/services HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let response = send(&mut connect(addr).await, &request).await;
        assert_eq!(status_of(&response), status, "Host: {host}: {response}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn allowed_hosts_adds_names() {
    let mut server = start(json!({"allowed_hosts": ["jaeger.internal"]}), json!({})).await;
    let request = "GET /api/services HTTP/1.1\r\nHost: jaeger.internal:16686\r\nConnection: close\r\n\r\n";
    let response = send(&mut connect(server.http_addr().unwrap()).await, request).await;
    assert_eq!(status_of(&response), 200, "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn read_header_timeout_cuts_a_slow_client() {
    let mut server = start(json!({"read_header_timeout": "200ms"}), json!({})).await;
    let mut stream = connect(server.http_addr().unwrap()).await;
    stream.write_all(b"GET /api/services HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
    server.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_closes_an_idle_connection() {
    let mut server = start(json!({"idle_timeout": "300ms"}), json!({})).await;
    let mut stream = connect(server.http_addr().unwrap()).await;
    let response = send(&mut stream, "GET /api/services HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    server.shutdown().await;
}

#[tokio::test]
async fn connections_stay_open_by_default_and_close_with_keep_alives_disabled() {
    let request = "GET /api/services HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut kept = start(json!({}), json!({})).await;
    let mut stream = connect(kept.http_addr().unwrap()).await;
    send(&mut stream, request).await;
    assert!(!closed_within(&mut stream, Duration::from_millis(500)).await);
    kept.shutdown().await;

    let mut server = start(json!({"keep_alives_enabled": false}), json!({})).await;
    let mut stream = connect(server.http_addr().unwrap()).await;
    let response = send(&mut stream, request).await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
    server.shutdown().await;
}

#[tokio::test]
async fn read_timeout_gives_up_on_a_slow_body() {
    let mut server = start(json!({"read_timeout": "200ms"}), json!({})).await;
    let mut stream = connect(server.http_addr().unwrap()).await;
    let head = "POST /api/transform HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    let response = tokio::time::timeout(Duration::from_secs(3), send(&mut stream, head)).await.unwrap();
    assert!(status_of(&response) >= 400, "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn max_connections_closes_connections_over_the_cap() {
    let mut server = start(json!({"max_connections": 1}), json!({})).await;
    let addr = server.http_addr().unwrap();
    let mut first = connect(addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = connect(addr).await;
    assert!(closed_within(&mut second, Duration::from_secs(2)).await);
    let response = send(&mut first, "GET /api/services HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status_of(&response), 200, "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn cors_answers_a_preflight_and_decorates_responses() {
    let mut server =
        start(json!({"cors": {"allowed_origins": ["https://grafana.example"], "max_age": 600}}), json!({})).await;
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, url(&server, "/api/traces"))
        .header("Origin", "https://grafana.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://grafana.example");
    assert_eq!(preflight.headers()["access-control-max-age"], "600");
    let response =
        client.get(url(&server, "/api/services")).header("Origin", "https://grafana.example").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "https://grafana.example");
    let other =
        client.get(url(&server, "/api/services")).header("Origin", "https://evil.example").send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn response_headers_appear_on_api_and_ui_responses() {
    let mut server = start(json!({"response_headers": {"X-Frame-Options": "DENY"}}), json!({})).await;
    for path in ["/api/services", "/api/v3/services", "/search", "/api/nothing"] {
        let response = reqwest::get(url(&server, path)).await.unwrap();
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn max_request_body_size_refuses_a_larger_body_with_413() {
    let mut server = start(json!({"max_request_body_size": 1000}), json!({})).await;
    let client = reqwest::Client::new();
    let post = |size: usize| client.post(url(&server, "/api/transform")).body(vec![b' '; size]).send();
    assert_eq!(post(2000).await.unwrap().status(), 413);
    assert_ne!(post(500).await.unwrap().status(), 413);
    server.shutdown().await;
}

// --- tls ---

#[tokio::test]
async fn tls_serves_https_and_grpc_over_tls() {
    let pki = Pki::new("query");
    let mut server = start(json!({"tls": pki.server_tls(false)}), json!({"tls": pki.server_tls(false)})).await;
    let ca = pki.ca_pem.as_bytes();
    let client =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap()).build().unwrap();
    let https = format!("https://localhost:{}/api/services", server.http_addr().unwrap().port());
    assert_eq!(client.get(&https).send().await.unwrap().status(), 200);
    assert!(reqwest::get(url(&server, "/api/services")).await.is_err(), "plain HTTP answered on a TLS port");

    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    let channel =
        tonic::transport::Channel::from_shared(format!("https://localhost:{}", server.grpc_addr().unwrap().port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut v2 = api_v2::query_service_client::QueryServiceClient::new(channel);
    assert!(v2.get_services(api_v2::GetServicesRequest {}).await.is_ok());
    server.shutdown().await;
}

// --- auth ---

async fn start_authenticated() -> QueryServer {
    let mut authenticators = Authenticators::default();
    let fixed = Authenticator { server: Some(Arc::new(FixedToken("right".to_owned()))), client: None };
    authenticators.insert("bearertokenauth/in", fixed);
    let auth = json!({"auth": {"authenticator": "bearertokenauth/in"}});
    start_with(auth.clone(), auth, authenticators).await
}

#[tokio::test]
async fn http_auth_lets_in_only_the_right_credentials() {
    let mut server = start_authenticated().await;
    let client = reqwest::Client::new();
    let get = |token: Option<&'static str>| {
        let request = client.get(url(&server, "/api/services"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(get(Some("right")).await.unwrap().status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn grpc_auth_lets_in_only_the_right_credentials() {
    let mut server = start_authenticated().await;
    let channel = tonic::transport::Channel::from_shared(grpc_url(&server)).unwrap().connect().await.unwrap();
    let call = |token: Option<&'static str>| {
        let mut client = api_v3::query_service_client::QueryServiceClient::new(channel.clone());
        let mut request = tonic::Request::new(api_v3::GetServicesRequest {});
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        async move { client.get_services(request).await }
    };
    assert_eq!(call(None).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(call(Some("wrong")).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert!(call(Some("right")).await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_authenticator_fails_the_start() {
    let config: JaegerQueryConfig = serde_json::from_value(json!({
        "storage": {"traces": "m"},
        "http": {"endpoint": "127.0.0.1:0", "auth": {"authenticator": "oidc/missing"}},
        "grpc": {"endpoint": "127.0.0.1:0"},
    }))
    .unwrap();
    let store = Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap());
    let err = QueryServer::new(config, store).start().await.unwrap_err();
    assert!(err.to_string().contains("oidc/missing"), "{err}");
}

// --- bearer_token_propagation ---

#[tokio::test]
async fn bearer_token_propagation_is_accepted_and_changes_no_answer() {
    let mut server = start(json!({}), json!({})).await;
    let mut propagating = serve(json!({"bearer_token_propagation": true}), Authenticators::default()).await;
    let client = reqwest::Client::new();
    for header in [None, Some("Bearer abc"), Some("not a bearer token")] {
        let get = |server: &QueryServer| {
            let request = client.get(url(server, "/api/services"));
            match header {
                Some(value) => request.header("Authorization", value),
                None => request,
            }
            .send()
        };
        let (plain, propagated) = (get(&server).await.unwrap(), get(&propagating).await.unwrap());
        assert_eq!(propagated.status(), plain.status(), "{header:?}");
        assert_eq!(propagated.text().await.unwrap(), plain.text().await.unwrap(), "{header:?}");
    }
    propagating.shutdown().await;
    server.shutdown().await;
}

// --- grpc ---

/// A FindTraces request of about `size` bytes.
fn find_traces_of(size: usize) -> api_v3::FindTracesRequest {
    api_v3::FindTracesRequest {
        query: Some(api_v3::TraceQueryParameters { service_name: "x".repeat(size), ..Default::default() }),
    }
}

#[tokio::test]
async fn max_recv_msg_size_mib_refuses_larger_messages() {
    const MIB: usize = 1024 * 1024;
    let mut small = start(json!({}), json!({"max_recv_msg_size_mib": 1})).await;
    let mut default = start(json!({}), json!({})).await;
    let refusal = |server: &QueryServer| {
        let url = grpc_url(server);
        async move {
            let mut client = api_v3::query_service_client::QueryServiceClient::connect(url).await.unwrap();
            client.find_traces(find_traces_of(2 * MIB)).await.err().map(|status| status.code())
        }
    };
    assert_eq!(refusal(&small).await, Some(tonic::Code::OutOfRange));
    // Under the 4 MiB default the message is read (and the query then judged on its merits).
    assert_ne!(refusal(&default).await, Some(tonic::Code::OutOfRange));
    small.shutdown().await;
    default.shutdown().await;
}

#[tokio::test]
async fn grpc_max_connections_closes_connections_over_the_cap() {
    let mut server = start(json!({}), json!({"max_connections": 1})).await;
    let addr = server.grpc_addr().unwrap();
    let first = connect(addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(closed_within(&mut connect(addr).await, Duration::from_secs(2)).await);
    drop(first);
    server.shutdown().await;
}

/// Whether an HTTP/2 GOAWAY frame arrives on `stream` within `within`.
async fn goaway_within(stream: &mut TcpStream, within: Duration) -> bool {
    const GOAWAY: u8 = 7;
    let mut head = [0u8; 9];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read_exact(&mut head)).await {
            Ok(Ok(_)) => {}
            _ => return false,
        }
        if head[3] == GOAWAY {
            return true;
        }
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; length];
        if tokio::time::timeout_at(deadline, stream.read_exact(&mut payload)).await.is_err() {
            return false;
        }
    }
}

#[tokio::test]
async fn grpc_max_connection_idle_sends_an_idle_connection_away() {
    let keepalive = json!({"keepalive": {"server_parameters": {"max_connection_idle": "300ms"}}});
    let mut server = start(json!({}), keepalive).await;
    let mut stream = connect(server.grpc_addr().unwrap()).await;
    // The HTTP/2 preface and an empty SETTINGS frame.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    assert!(goaway_within(&mut stream, Duration::from_secs(5)).await);
    drop(stream);
    server.shutdown().await;
}
