"""Debian's chromium for the browser tests and the UI benchmark (Playwright's own browser
download does not work here; scripts/chromium.sh installs the package)."""

from __future__ import annotations

import os
import shutil

# As the machine's own check starts chromium: no sandbox as root, and no background traffic,
# which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("SPOOR_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError("chromium is not installed: run scripts/chromium.sh (Debian's chromium package)")
    return path
