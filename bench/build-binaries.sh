#!/usr/bin/env bash
# Builds the binaries the benchmarks run, spoor and spoor-loadgen: release builds, or debug ones
# with SPOOR_BENCH_PROFILE=debug (for a smoke run, not a measurement).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SPOOR_BENCH_PROFILE:-release}" = debug ]; then
  # --workspace --tests resolves features as `cargo test --workspace` does, so a debug build after
  # the tests reuses the dependencies they built; `cargo build -p spoor` would build about 40 of
  # them again with other features (time, and GiBs of disk).
  echo "==> cargo build --workspace --bins --tests (debug binaries: a smoke run, not a measurement)"
  cargo build --locked --workspace --bins --tests
else
  echo "==> cargo build --release -p spoor -p spoor-loadgen"
  cargo build --release --locked -p spoor -p spoor-loadgen
fi
