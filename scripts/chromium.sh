#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/e2e/test_ui.py) when it is missing:
# Playwright's own browser download does not work here, so the tests drive the system browser.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
command -v chromium
