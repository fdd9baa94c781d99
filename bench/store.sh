#!/usr/bin/env bash
# The embedded store through spoor's real APIs (issue 4): ingest over OTLP gRPC, bytes per span
# on disk after compaction, and trace-by-ID and search latency over Jaeger's HTTP API.
#
#   bench/store.sh                   10M spans (about 15 minutes at ~54k spans/s); appends to
#                                    bench/RESULTS.md
#   bench/store.sh --spans 2000000   fewer spans
#   bench/store.sh --quick           a smoke run (~20k spans, a few queries); writes nothing
#
# It builds the release binaries (SPOOR_BENCH_PROFILE=debug builds and runs the debug ones, for
# a smoke run) and hands over to bench/store.py, which starts spoor with an embedded store in a
# temporary directory, pinned to CPU 0, and drives it with spoor-loadgen pinned to CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."

bench/build-binaries.sh

exec python3 bench/store.py "$@"
