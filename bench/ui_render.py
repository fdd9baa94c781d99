"""Time to first render of a big trace in the web UI, in headless Debian chromium.

Starts spoor (release build unless SPOOR_BIN says otherwise) with an embedded store, seeds it
with tests/e2e/ui_seed.py's traces including one of --spans spans, then opens /trace/{id}
--runs times in fresh browser contexts. For each run it reads `performance.now()` (ms since
navigation start) once the first span row is in the DOM and the header names the span count:
that covers fetching the trace JSON, building the model and the first paint of the rows.
It then scrolls the timeline to the bottom in 40 steps and reports frame times.

    .venv/bin/python bench/ui_render.py --spans 10000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import requests  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import ui_seed  # noqa: E402
from browser import CHROMIUM_ARGS, chromium_path  # noqa: E402
from spoor import Ports, Spoor, backend_config, wait_until  # noqa: E402

SCROLL_STEPS = 40

# Scrolls the virtualised timeline's scroll container down in steps, one per animation frame,
# and returns the frame intervals in ms.
SCROLL_SCRIPT = """async (steps) => {
  const row = document.querySelector('[data-testid="span-row"]');
  let box = row;
  while (box && !(box.scrollHeight > box.clientHeight + 10 && getComputedStyle(box).overflowY !== 'visible')) {
    box = box.parentElement;
  }
  if (!box) return [];
  const frames = [];
  let last = performance.now();
  for (let i = 1; i <= steps; i++) {
    box.scrollTop = (box.scrollHeight * i) / steps;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  return frames;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("SPOOR_BIN", str(ROOT / "target" / "release" / "spoor"))

    ports = Ports()
    data = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    spoor = Spoor([backend_config(ports, "embedded", data / "data")], name="ui-bench")
    spoor.start([ports.otlp_http, ports.query])
    try:
        url = f"http://127.0.0.1:{ports.query}"
        bodies, ids = ui_seed.seed_traces(big=args.spans)
        for body in bodies:
            ui_seed.post(f"http://127.0.0.1:{ports.otlp_http}", body)
        big = ids["big"]
        wait_until(lambda: requests.get(f"{url}/api/traces/{big}", timeout=30).status_code == 200, 30, message="big trace")
        started = time.perf_counter()
        payload = requests.get(f"{url}/api/traces/{big}", timeout=30).content
        api_ms = (time.perf_counter() - started) * 1000

        first_render, frames = [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for _ in range(args.runs):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(f"{url}/trace/{big}", wait_until="commit")
                page.wait_for_selector('[data-testid="span-row"]', timeout=60_000)
                first_render.append(page.evaluate("performance.now()"))
                frames += page.evaluate(SCROLL_SCRIPT, SCROLL_STEPS)
                context.close()
            browser.close()
    finally:
        spoor.terminate()

    frames.sort()
    p95 = frames[int(len(frames) * 0.95) - 1] if frames else float("nan")
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}")
    print(f"trace: {args.spans} spans, /api/traces/{{id}} {len(payload) / 1e6:.1f} MB in {api_ms:.0f} ms")
    print(f"first render (ms since navigation start), {args.runs} runs: {', '.join(f'{t:.0f}' for t in first_render)}")
    print(f"median first render: {statistics.median(first_render):.0f} ms")
    print(f"scrolling to the bottom in {SCROLL_STEPS} steps: median frame {statistics.median(frames):.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
