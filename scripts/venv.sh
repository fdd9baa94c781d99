#!/usr/bin/env bash
# Creates the venvs the end-to-end tests use: .venv with the real clients of
# tests/requirements.txt, and .venv-zipkin-proto for the one client that needs protobuf 3.x
# (tests/requirements-zipkin-proto.txt). Each is reinstalled only when its requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

make_venv() {
  local dir=$1 requirements=$2
  local stamp=$dir/.requirements.sha256 want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
}

make_venv .venv tests/requirements.txt
make_venv .venv-zipkin-proto tests/requirements-zipkin-proto.txt
