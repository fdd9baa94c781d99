"""Issue 6: the web UI in a real browser (Debian's chromium, driven by Playwright) against a spoor
seeded by ui_seed.py: search, a trace with its span detail, deep links, compare, dependencies,
file upload, base_path, and the README screenshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

import ui_seed
from browser import CHROMIUM_ARGS, chromium_path
from spoor import ROOT, Ports, Spoor, backend_config, wait_until

SCREENSHOTS = ROOT / "docs" / "screenshots"
BIG_TRACE_SPANS = 10_000


OK_TRACE_SPANS = 9  # ui_seed.checkout without the fraud check


class SeededSpoor:
    def __init__(self, tmp: Path, base_path: str = "", big: int = BIG_TRACE_SPANS):
        self.ports = Ports()
        self.spoor = Spoor(
            [backend_config(self.ports, "embedded", tmp / "data", base_path=base_path)], name="ui"
        )
        self.spoor.start([self.ports.otlp_http, self.ports.query])
        self.url = f"http://127.0.0.1:{self.ports.query}{base_path}"
        bodies, self.ids = ui_seed.seed_traces(big=big)
        for body in bodies:
            ui_seed.post(f"http://127.0.0.1:{self.ports.otlp_http}", body)
        wait_until(
            lambda: all(
                requests.get(f"{self.url}/api/traces/{trace_id}", timeout=10).status_code == 200
                for trace_id in self.ids.values()
            ),
            timeout=30,
            message="seeded traces queryable",
        )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    backend = SeededSpoor(tmp_path_factory.mktemp("ui"))
    yield backend
    backend.spoor.terminate()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def span_row(page: Page, operation: str):
    return page.get_by_test_id("span-row").filter(has_text=operation).first


def test_search_by_service_and_tag_then_read_a_span(seeded, page):
    page.goto(f"{seeded.url}/search")
    expect(page.get_by_test_id("search-service").locator("option", has_text="frontend")).to_be_attached()
    page.get_by_test_id("search-service").select_option("frontend")
    page.get_by_test_id("search-submit").click()
    results = page.get_by_test_id("search-result")
    expect(results).to_have_count(9)  # every checkout trace in the seed has a frontend root
    expect(page.get_by_test_id("search-scatter")).to_be_visible()
    screenshot(page, "search")

    page.get_by_test_id("search-tags").fill("error=true http.response.status_code=500")
    page.get_by_test_id("search-submit").click()
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-trace-id", seeded.ids["error"])
    assert "tags=" in page.url and "error" in page.url, "the search is in the URL, as Jaeger UI keeps it"

    results.first.get_by_role("link").first.click()
    expect(page).to_have_url(f"{seeded.url}/trace/{seeded.ids['error']}")
    row = span_row(page, "POST /charge")
    row.click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_be_visible()
    tags = detail.get_by_test_id("tag-row")
    expect(tags.filter(has_text="http.response.status_code")).to_contain_text("502")
    expect(tags.filter(has_text="payment.amount")).to_contain_text("42.5")
    logs = detail.get_by_test_id("log-entry")
    expect(logs.filter(has_text="card.validated")).to_have_count(1)
    expect(logs.filter(has_text="TimeoutError")).to_have_count(1)


def test_trace_deep_link_shows_the_timeline(seeded, page):
    page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}")
    expect(page.get_by_text("frontend: POST /checkout").first).to_be_visible()
    expect(page.get_by_test_id("span-row")).to_have_count(OK_TRACE_SPANS)
    span_row(page, "PlaceOrder").click()
    expect(page.get_by_test_id("span-detail").get_by_test_id("log-entry").filter(has_text="order.received")).to_have_count(1)
    screenshot(page, "trace")

    # Jaeger UI's ?uiFind= and the alternative views are links too.
    for view, testid in [("graph", "trace-graph"), ("flamegraph", "flamegraph"), ("table", "spans-table"),
                         ("stats", "trace-stats"), ("logs", "trace-logs")]:
        page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}?view={view}")
        expect(page.get_by_test_id(testid)).to_be_visible()


def test_keyboard_navigation_opens_spans(seeded, page):
    page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}")
    expect(page.get_by_test_id("span-row")).to_have_count(OK_TRACE_SPANS)
    page.get_by_test_id("timeline").focus()
    for key in ["j", "j", "j", "Enter"]:  # the first j focuses the root row
        page.keyboard.press(key)
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_have_count(1)
    expect(detail).to_contain_text("inventory.GetStock")
    page.keyboard.press("/")
    expect(page.get_by_test_id("trace-search")).to_be_focused()


def test_unknown_trace_says_so(seeded, page):
    page.goto(f"{seeded.url}/trace/{'0' * 31}1")
    expect(page.get_by_test_id("trace-error")).to_be_visible()


def test_big_trace_is_virtualised_and_scrolls(seeded, page):
    page.goto(f"{seeded.url}/trace/{seeded.ids['big']}")
    rows = page.get_by_test_id("span-row")
    expect(rows.first).to_be_visible(timeout=30_000)
    rendered = rows.count()
    assert 0 < rendered < 300, f"{rendered} rows in the DOM for {BIG_TRACE_SPANS} spans: not virtualised"
    page.get_by_test_id("trace-search").fill("handle item 9996")
    expect(page.get_by_test_id("match-count")).to_contain_text("1")
    page.get_by_test_id("trace-search").press("Enter")
    expect(page.get_by_test_id("match-count")).to_have_text("1 of 1")
    expect(span_row(page, "handle item 9996")).to_be_visible()


def test_compare_two_traces(seeded, page):
    page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}...{seeded.ids['ok_fraud']}")
    view = page.get_by_test_id("compare-view")
    expect(view).to_be_visible()
    # The second trace has a fraud check the first lacks, and a slower payment.
    expect(view.locator('[data-testid="diff-node"][data-diff="added"]').filter(has_text="fraud")).to_have_count(1)
    expect(view.locator('[data-testid="diff-node"][data-diff="removed"]')).to_have_count(0)
    screenshot(page, "compare")


def test_compare_from_search_results(seeded, page):
    page.goto(f"{seeded.url}/search?service=frontend&limit=20")
    results = page.get_by_test_id("search-result")
    expect(results).to_have_count(9)
    for trace_id in (seeded.ids["ok"], seeded.ids["error"]):
        page.locator(f'[data-testid="search-result"][data-trace-id="{trace_id}"]').get_by_test_id(
            "compare-checkbox"
        ).check()
    page.get_by_test_id("compare-button").click()
    expect(page.get_by_test_id("compare-view")).to_be_visible()
    assert "..." in page.url


def test_dependency_graph(seeded, page):
    page.goto(f"{seeded.url}/dependencies")
    graph = page.get_by_test_id("dependency-graph")
    expect(graph).to_be_visible()
    for service in ["frontend", "checkout", "inventory", "payments", "fraud", "gateway"]:
        expect(graph.locator(f'[data-testid="dep-node"][data-service="{service}"]')).to_have_count(1)
    assert graph.get_by_test_id("dep-edge").count() >= 4
    screenshot(page, "dependencies")


def test_upload_jaeger_and_otlp_json(seeded, page, tmp_path):
    # A trace the server does not have: the stored one under a new ID, as Jaeger JSON...
    trace = requests.get(f"{seeded.url}/api/traces/{seeded.ids['ok']}", timeout=10).json()["data"][0]
    offline_id = "00000000000000000000000000abcdef"
    text = json.dumps({"data": [trace]}).replace(seeded.ids["ok"], offline_id)
    jaeger_file = tmp_path / "offline.json"
    jaeger_file.write_text(text)
    page.goto(f"{seeded.url}/search")
    page.get_by_test_id("upload-input").set_input_files(str(jaeger_file))
    result = page.locator(f'[data-testid="search-result"][data-trace-id="{offline_id}"]')
    expect(result).to_have_count(1)
    result.get_by_role("link").first.click()
    expect(span_row(page, "PlaceOrder")).to_be_visible()

    # ...and the seed's error trace as OTLP JSON, converted by /api/transform.
    bodies, _ = ui_seed.seed_traces()
    otlp_file = tmp_path / "otlp.json"
    otlp_file.write_text(json.dumps({"resourceSpans": bodies[2]}))
    page.goto(f"{seeded.url}/search")
    page.get_by_test_id("upload-input").set_input_files(str(otlp_file))
    expect(page.locator(f'[data-testid="search-result"][data-trace-id="{seeded.ids["error"]}"]')).to_have_count(1)

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    page.get_by_test_id("upload-input").set_input_files(str(bad))
    expect(page.get_by_test_id("upload-error")).to_be_visible()


def test_download_json(seeded, page):
    page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}")
    with page.expect_download() as download:
        page.get_by_test_id("download-json").click()
    body = json.loads(Path(download.value.path()).read_text())
    assert body["data"][0]["traceID"] == seeded.ids["ok"]
    assert len(body["data"][0]["spans"]) == OK_TRACE_SPANS


def test_dark_mode_and_time_zone_persist(seeded, page):
    page.goto(f"{seeded.url}/search")
    before = page.evaluate("document.documentElement.dataset.theme")
    page.get_by_test_id("theme-toggle").click()
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    page.get_by_test_id("timezone-select").select_option("utc")
    page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}")
    expect(page.get_by_test_id("trace-start")).to_contain_text("UTC")
    assert page.evaluate("document.documentElement.dataset.theme") == after


def test_served_under_base_path(tmp_path, browser):
    backend = SeededSpoor(tmp_path, base_path="/jaeger", big=0)
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{backend.url}/trace/{backend.ids['ok']}")
        expect(page.get_by_test_id("span-row")).to_have_count(OK_TRACE_SPANS)
        page.get_by_test_id("trace-id-input").fill(backend.ids["error"])
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{backend.url}/trace/{backend.ids['error']}")
        expect(span_row(page, "POST /charge")).to_be_visible()
        context.close()
    finally:
        backend.spoor.terminate()
