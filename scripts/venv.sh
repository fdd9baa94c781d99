#!/usr/bin/env bash
# Creates .venv with the real clients the end-to-end tests use (tests/requirements.txt).
# Reinstalls only when the requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
"$python" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
echo "$want" > "$stamp"
