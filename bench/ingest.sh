#!/usr/bin/env bash
# Ingest throughput of spoor per protocol: OTLP, Jaeger and Zipkin, into batch -> nop (issue 5).
#
#   bench/ingest.sh           the full benchmark (about 2 minutes); appends to bench/RESULTS.md
#   bench/ingest.sh --quick   a smoke run (2 s per protocol); writes nothing
#
# It builds the release binaries (SPOOR_BENCH_PROFILE=debug builds and runs the debug ones, for
# a smoke run) and hands over to bench/ingest.py, which starts a fresh spoor with every receiver
# on 127.0.0.1 for each protocol, pinned to CPU 0, and drives it with spoor-loadgen pinned to
# CPU 1 at a fixed concurrency. Accepted spans come from spoor's own metrics, so the UDP agent
# protocols, which have no acknowledgement, are measured the same way as the others.
set -euo pipefail
cd "$(dirname "$0")/.."

bench/build-binaries.sh

exec python3 bench/ingest.py "$@"
