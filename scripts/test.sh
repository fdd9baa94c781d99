#!/usr/bin/env bash
# Runs every check spoor has: formatting, clippy, the Rust tests, and the end-to-end tests
# with real clients and the browser tests of the web UI. It creates the Python venv, installs the
# UI's npm packages, and installs Debian's chromium when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# CI builds a clean clone once: incremental compilation would only add its caches to the disk
# (several GiB), and CI machines have run out of disk space in the build.
if [[ "${CI:-}" == true ]]; then
  export CARGO_INCREMENTAL=0
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "python venv (real clients, and osmem-server for the Elasticsearch backend's tests)"
./scripts/venv.sh
OSMEM_SERVER=$(.venv/bin/python -c 'import os, osmem_server; print(os.path.join(os.path.dirname(osmem_server.__file__), "bin", "osmem-server"))')
export OSMEM_SERVER

step "cargo test"
cargo test --workspace --locked

step "storage conformance suite: N passed, M failed per backend (already built)"
cargo test --workspace --locked --test conformance -- --nocapture

step "web UI: npm ci, typecheck and vitest (ui/dist's freshness is a cargo test)"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent typecheck && npm test --silent)

step "Debian's chromium and openssl for the end-to-end, browser and security tests"
./scripts/chromium.sh

step "cargo build (the binaries the end-to-end tests and the benchmark smoke run)"
SPOOR_BENCH_PROFILE=debug bench/build-binaries.sh

step "end-to-end tests"
.venv/bin/python -m pytest -q tests/e2e "$@"

step "benchmark smoke: bench/compare.sh --quick (spoor vs rotel, debug binaries, no thresholds)"
SPOOR_BENCH_PROFILE=debug ./bench/compare.sh --quick

step "benchmark smoke: bench/ingest.sh --quick (every ingest protocol, debug binaries, no thresholds)"
SPOOR_BENCH_PROFILE=debug ./bench/ingest.sh --quick

step "benchmark smoke: bench/secure.sh --quick (the pass-through with TLS and bearer auth, debug binaries, no thresholds)"
SPOOR_BENCH_PROFILE=debug ./bench/secure.sh --quick

step "benchmark smoke: bench/store.sh --quick (the embedded store through OTLP and the Jaeger API, debug binaries, no thresholds)"
SPOOR_BENCH_PROFILE=debug ./bench/store.sh --quick

step "benchmark smoke: bench/elastic.sh --quick (the elasticsearch backend against osmem-server, debug binaries, no thresholds)"
SPOOR_BENCH_PROFILE=debug ./bench/elastic.sh --quick
