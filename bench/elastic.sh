#!/usr/bin/env bash
# The elasticsearch backend (issue 14): bulk ingest spans/s and search latency through spoor
# against osmem-server (an in-memory OpenSearch-API engine, not Lucene: see bench/elastic.py).
#
#   bench/elastic.sh                 30 s of ingest, then by-ID and search timings; appends to
#                                    bench/RESULTS.md
#   bench/elastic.sh --seconds 60    longer
#   bench/elastic.sh --quick         a smoke run; writes nothing
#
# It builds the release binaries (SPOOR_BENCH_PROFILE=debug: the debug ones) and installs the
# test venv (osmem-server comes from it) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bench/build-binaries.sh
[ -x .venv/bin/python ] || scripts/venv.sh

exec python3 bench/elastic.py "$@"
