#!/usr/bin/env bash
# The embedded store through spoor's real APIs (issues 4 and 13): OTLP gRPC ingest of the
# generator's varied requests sustained over at least 60 s and spoor's peak RSS, bytes per span
# on disk after compaction, trace by ID (idle, and during 100k spans/s of ingest) and the four
# searches (service; + operation; + common tag; + rare tag; 1 h window, limit 20) over Jaeger's
# HTTP API, against issue 13's targets.
#
#   bench/store.sh                   10M spans; appends to bench/RESULTS.md
#   bench/store.sh --spans 2000000   fewer spans
#   bench/store.sh --quick           a smoke run (~20k spans, a few queries); writes nothing
#
# It builds the release binaries (SPOOR_BENCH_PROFILE=debug builds and runs the debug ones, for
# a smoke run) and hands over to bench/store.py, which starts spoor with an embedded store in a
# temporary directory and drives it with spoor-loadgen, both on all CPUs (--pin: spoor on
# CPU 0, the load tool on CPU 1).
set -euo pipefail
cd "$(dirname "$0")/.."

bench/build-binaries.sh

exec python3 bench/store.py "$@"
