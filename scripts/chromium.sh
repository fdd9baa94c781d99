#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests use when they are missing: chromium for the
# browser tests (tests/e2e/test_ui.py; Playwright's own browser download does not work here, so
# the tests drive the system browser), and openssl, which makes the certificates and signs the
# tokens of the security tests (tests/e2e/test_security.py, bench/secure.sh).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v chromium
command -v openssl
