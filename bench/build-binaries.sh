#!/usr/bin/env bash
# Builds the binaries the benchmarks run, spoor and spoor-loadgen: release builds, or debug ones
# with SPOOR_BENCH_PROFILE=debug (for a smoke run, not a measurement).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SPOOR_BENCH_PROFILE:-release}" = debug ]; then
  echo "==> cargo build -p spoor -p spoor-loadgen (debug binaries: a smoke run, not a measurement)"
  cargo build --locked -p spoor -p spoor-loadgen
else
  echo "==> cargo build --release -p spoor -p spoor-loadgen"
  cargo build --release --locked -p spoor -p spoor-loadgen
fi
