#!/usr/bin/env bash
# spoor against rotel on the pass-through path, one at a time on this machine (issue 7).
#
#   bench/compare.sh           the full benchmark (about 8 minutes); appends to bench/RESULTS.md
#   bench/compare.sh --quick   a smoke run of a few seconds: no thresholds, writes nothing
#
# It builds the release binaries, installs rotel from PyPI into bench/.venv, and hands over to
# bench/compare.py, which starts each server pinned to CPU 0 and the load tool (and the sink)
# pinned to CPU 1. When rotel cannot be installed, --quick still runs spoor alone and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

ROTEL_VERSION=0.0.1a15   # the PyPI package; it ships rotel-agent 0.0.1-alpha10
venv=bench/.venv

bench/build-binaries.sh

python=python3
rotel=""
if [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; then
  python="$venv/bin/python"
  if ! "$python" -c 'import rotel' 2>/dev/null; then
    echo "==> pip install rotel==$ROTEL_VERSION into $venv"
    timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check "rotel==$ROTEL_VERSION" || true
  fi
  rotel=$("$python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))' \
    2>/dev/null || true)
  if [ -n "$rotel" ] && ! "$rotel" --version >/dev/null 2>&1; then
    rotel=""
  fi
fi
if [ -z "$rotel" ]; then
  echo "warning: rotel could not be installed from PyPI; rotel is skipped" >&2
fi

exec "$python" bench/compare.py --rotel "$rotel" "$@"
