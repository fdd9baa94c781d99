//! The exporters' client auth end to end: an `otlp` or `otlphttp` exporter with a
//! `bearertokenauth` client authenticator sends over TLS to the OTLP receiver with a
//! `bearertokenauth` server authenticator, both built from config as the service builds them.

mod exporter_common;
mod receiver_common;

use std::time::Duration;

use exporter_common::sample_batch;
use receiver_common::*;
use serde_json::{Value, json};
use spoor_net::auth::Authenticators;
use spoor_net::testing::Pki;
use spoor_otlp::exporter::{
    ExporterBuildError, OtlpGrpcExporter, OtlpGrpcExporterConfig, OtlpHttpExporter, OtlpHttpExporterConfig,
};
use spoor_pipeline::{ExportError, Exporter};

const TOKEN: &str = "s3cret";
const TRANSPORTS: [Transport; 2] = [Transport::Grpc, Transport::Http];

#[derive(Debug, Clone, Copy)]
enum Transport {
    Grpc,
    Http,
}

/// The receiver's `bearertokenauth/in` accepting [`TOKEN`], and the exporter's
/// `bearertokenauth/out` from `client` (the extension's config).
fn authenticators(client: Value) -> Authenticators {
    let mut authenticators = Authenticators::new();
    assert!(authenticators.add("bearertokenauth/in", &json!({"token": TOKEN})).unwrap());
    assert!(authenticators.add("bearertokenauth/out", &client).unwrap());
    authenticators
}

async fn start_receiver(pki: &Pki, authenticators: Authenticators) -> Harness {
    let auth = json!({"authenticator": "bearertokenauth/in"});
    start_with(
        json!({"protocols": {
            "grpc": {"endpoint": "127.0.0.1:0", "tls": pki.server_tls(false), "auth": auth.clone()},
            "http": {"endpoint": "127.0.0.1:0", "tls": pki.server_tls(false), "auth": auth}
        }}),
        authenticators,
    )
    .await
}

/// An exporter to `harness` that trusts `pki`'s CA and authenticates with
/// `bearertokenauth/out`; `extra` adds or overrides config keys.
fn exporter(
    transport: Transport,
    harness: &Harness,
    pki: &Pki,
    extra: Value,
    authenticators: Authenticators,
) -> Result<Box<dyn Exporter>, ExporterBuildError> {
    let endpoint = match transport {
        Transport::Grpc => format!("localhost:{}", harness.addrs.grpc.unwrap().port()),
        Transport::Http => format!("https://localhost:{}", harness.addrs.http.unwrap().port()),
    };
    let mut config = json!({
        "endpoint": endpoint,
        "tls": {"ca_file": pki.path("ca.pem")},
        "auth": {"authenticator": "bearertokenauth/out"},
        "timeout": "10s",
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    Ok(match transport {
        Transport::Grpc => {
            let config: OtlpGrpcExporterConfig = serde_json::from_value(config).unwrap();
            Box::new(OtlpGrpcExporter::new("otlp/out", &config)?.with_authenticators(authenticators)?)
        }
        Transport::Http => {
            let config: OtlpHttpExporterConfig = serde_json::from_value(config).unwrap();
            Box::new(OtlpHttpExporter::new("otlphttp/out", &config)?.with_authenticators(authenticators)?)
        }
    })
}

#[tokio::test]
async fn bearer_token_auth_delivers_every_span_over_tls() {
    let pki = Pki::new("exporter-auth");
    let harness = start_receiver(&pki, authenticators(json!({"token": TOKEN}))).await;
    let per_batch = sample_batch().span_count();
    let mut expected = 0;
    for transport in TRANSPORTS {
        let exporter = exporter(transport, &harness, &pki, json!({}), authenticators(json!({"token": TOKEN}))).unwrap();
        for _ in 0..5 {
            exporter.export(&sample_batch()).await.unwrap_or_else(|err| panic!("{transport:?}: {err}"));
            expected += per_batch;
        }
        assert_eq!(harness.consumer.spans(), expected, "{transport:?}");
    }
    assert_eq!(expected, 20);
    stop(harness).await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_not_retried() {
    let pki = Pki::new("exporter-auth-wrong");
    let harness = start_receiver(&pki, authenticators(json!({"token": TOKEN}))).await;
    for (transport, needle) in [(Transport::Grpc, "Unauthenticated"), (Transport::Http, "401")] {
        let exporter =
            exporter(transport, &harness, &pki, json!({}), authenticators(json!({"token": "guess"}))).unwrap();
        // The collector retries neither gRPC Unauthenticated nor HTTP 401.
        match exporter.export(&sample_batch()).await {
            Err(ExportError::Permanent(message)) => {
                assert!(message.contains(needle), "{transport:?}: {message}");
                assert!(!message.contains(TOKEN) && !message.contains("guess"), "{transport:?}: {message}");
            }
            other => panic!("{transport:?}: {other:?}"),
        }
    }
    assert_eq!(harness.consumer.spans(), 0);
    stop(harness).await;
}

#[tokio::test]
async fn the_authenticators_header_wins_over_a_configured_one() {
    let pki = Pki::new("exporter-auth-headers");
    let harness = start_receiver(&pki, authenticators(json!({"token": TOKEN}))).await;
    for transport in TRANSPORTS {
        let extra = json!({"headers": {"Authorization": "Bearer guess", "x-tenant": "a"}});
        let exporter = exporter(transport, &harness, &pki, extra, authenticators(json!({"token": TOKEN}))).unwrap();
        exporter.export(&sample_batch()).await.unwrap_or_else(|err| panic!("{transport:?}: {err}"));
    }
    assert_eq!(harness.consumer.spans(), 2 * sample_batch().span_count());
    stop(harness).await;
}

#[tokio::test]
async fn a_rewritten_token_file_is_sent_without_rebuilding_the_exporter() {
    let pki = Pki::new("exporter-auth-file");
    let token_file = pki.dir.join("token");
    std::fs::write(&token_file, "old\n").unwrap();
    let client = json!({"filename": token_file.display().to_string()});
    let harness = start_receiver(&pki, authenticators(client.clone())).await;
    let exporters: Vec<_> = TRANSPORTS
        .into_iter()
        .map(|transport| exporter(transport, &harness, &pki, json!({}), authenticators(client.clone())).unwrap())
        .collect();
    for exporter in &exporters {
        assert!(matches!(exporter.export(&sample_batch()).await, Err(ExportError::Permanent(_))));
    }
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    // The file is checked about once a second.
    for exporter in &exporters {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while exporter.export(&sample_batch()).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the new token was never sent");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(harness.consumer.spans(), 2 * sample_batch().span_count());
    stop(harness).await;
}

#[tokio::test]
async fn an_unknown_or_server_only_authenticator_fails_the_build_naming_the_key() {
    let pki = Pki::new("exporter-auth-unknown");
    let harness = start_receiver(&pki, authenticators(json!({"token": TOKEN}))).await;
    let mut server_only = Authenticators::new();
    server_only.add("bearertokenauth/in", &json!({"token": TOKEN})).unwrap();
    server_only.add("basicauth/out", &json!({"htpasswd": {"inline": "user:password"}})).unwrap();
    for transport in TRANSPORTS {
        let cases = [
            ("bearertokenauth/typo", "not found"),
            // Present, but with no client side.
            ("basicauth/out", "not a client authenticator"),
        ];
        for (id, needle) in cases {
            let extra = json!({"auth": {"authenticator": id}});
            let err = exporter(transport, &harness, &pki, extra, server_only.clone()).err().unwrap();
            assert_eq!(err.key(), "auth.authenticator", "{transport:?}: {err}");
            assert!(err.message().contains(id) && err.message().contains(needle), "{transport:?}: {err}");
        }
    }
    stop(harness).await;
}
