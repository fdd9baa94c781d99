"""Issue 6: the web UI in a real browser (Debian's chromium, driven by Playwright) against a spoor
seeded by ui_seed.py: search, a trace with its span detail, deep links, compare, dependencies,
file upload, base_path, and the README screenshots."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import datetime, timedelta
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


@contextmanager
def open_page(browser, **context_options):
    """A page in a fresh context; uncaught errors in the page fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True, **context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(browser):
    with open_page(browser) as page:
        yield page


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def span_row(page: Page, operation: str):
    return page.get_by_test_id("span-row").filter(has_text=operation).first


def key_values(table) -> dict[str, str]:
    """A key/value table's rows (tags, process, log fields) as {key: value text}."""
    rows = table.get_by_test_id("tag-row").evaluate_all(
        "rows => rows.map(r => [r.querySelector('th').textContent, r.querySelector('td').textContent])"
    )
    return dict(rows)


def attribute_values(locator, name: str) -> list[str]:
    return locator.evaluate_all(f"elements => elements.map(e => e.getAttribute({json.dumps(name)}))")


def test_search_by_service_and_tag_then_read_a_span(seeded, page):
    page.goto(f"{seeded.url}/search")
    expect(page.get_by_test_id("search-service").locator("option", has_text="frontend")).to_be_attached()
    page.get_by_test_id("search-service").select_option("frontend")
    page.get_by_test_id("search-submit").click()
    results = page.get_by_test_id("search-result")
    expect(results).to_have_count(9)  # every checkout trace in the seed has a frontend root
    # The scatter plot has one dot per result, for the same traces; only the failed one is red.
    dots = page.get_by_test_id("search-scatter").get_by_test_id("scatter-dot")
    expect(dots).to_have_count(9)
    assert sorted(attribute_values(dots, "data-trace-id")) == sorted(attribute_values(results, "data-trace-id"))
    expect(dots.and_(page.locator(".error"))).to_have_count(1)
    expect(page.locator(f'[data-testid="scatter-dot"][data-trace-id="{seeded.ids["error"]}"]')).to_have_class(re.compile(r"\berror\b"))
    screenshot(page, "search")

    page.get_by_test_id("search-tags").fill("error=true http.response.status_code=500")
    page.get_by_test_id("search-submit").click()
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-trace-id", seeded.ids["error"])
    expect(dots).to_have_count(1)
    expect(dots.first).to_have_attribute("data-trace-id", seeded.ids["error"])
    assert "tags=" in page.url and "error" in page.url, "the search is in the URL, as Jaeger UI keeps it"

    results.first.get_by_role("link").first.click()
    expect(page).to_have_url(f"{seeded.url}/trace/{seeded.ids['error']}")
    row = span_row(page, "POST /charge")
    row.click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_role("heading")).to_contain_text("payments POST /charge")
    tags = key_values(detail.get_by_test_id("span-tags"))
    assert {k: tags.get(k) for k in ["http.request.method", "http.response.status_code", "payment.amount", "error"]} == {
        "http.request.method": "POST",
        "http.response.status_code": "502",
        "payment.amount": "42.5",
        "error": "true",
    }, tags
    process = key_values(detail.get_by_test_id("span-process"))
    assert process.get("host.name") == "payments-7d9f8" and process.get("k8s.namespace.name") == "shop", process
    logs = detail.get_by_test_id("log-entry")
    expect(logs).to_have_count(2)
    validated = key_values(logs.filter(has_text="card.validated"))
    assert validated == {"event": "card.validated", "card.brand": "visa"}, validated
    exception = key_values(logs.filter(has_text="TimeoutError"))
    assert {k: exception.get(k) for k in ["event", "exception.type", "exception.message"]} == {
        "event": "exception",
        "exception.type": "TimeoutError",
        "exception.message": "bank gateway timed out",
    }, exception


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


def rendered_rows(page: Page) -> list[int]:
    """The timeline rows in the DOM, by their index in the tree, after asserting they are few."""
    indices = sorted(int(i) for i in attribute_values(page.locator(".timeline-item"), "data-index"))
    assert 0 < len(indices) < 300, f"{len(indices)} rows in the DOM for {BIG_TRACE_SPANS} spans: not virtualised"
    return indices


def test_big_trace_is_virtualised_and_scrolls(seeded, page):
    # ui_seed.big_tree lays the spans out so that "handle item N" is row N of the expanded tree.
    page.goto(f"{seeded.url}/trace/{seeded.ids['big']}")
    rows = page.get_by_test_id("span-row")
    expect(rows.first).to_be_visible(timeout=30_000)
    scroller = page.get_by_role("treegrid")
    expect(scroller).to_have_attribute("aria-rowcount", str(BIG_TRACE_SPANS))
    top = rendered_rows(page)
    assert top[0] == 0 and top[-1] < 100, top
    expect(span_row(page, "GET /batch")).to_be_visible()

    # The wheel to the middle: other rows replace the first ones, and still only a few.
    scroller.hover()
    height = scroller.evaluate("el => el.scrollHeight")
    page.mouse.wheel(0, height / 2)
    expect(span_row(page, "GET /batch")).to_have_count(0)
    middle_row = page.locator('.timeline-item[data-index="5001"]')
    expect(middle_row).to_contain_text("handle item 5001")
    middle = rendered_rows(page)
    assert 4000 < middle[0] < 5001 < middle[-1] < 6000, middle

    # End scrolls to the last span, the third query of the last handler.
    scroller.focus()
    page.keyboard.press("End")
    last = page.locator(f'.timeline-item[data-index="{BIG_TRACE_SPANS - 1}"]')
    expect(last).to_be_in_viewport()
    expect(last).to_contain_text("db query 2")
    expect(span_row(page, "handle item 9996")).to_be_in_viewport()
    end = rendered_rows(page)
    assert end[0] > 9700 and end[-1] == BIG_TRACE_SPANS - 1, end
    expect(middle_row).to_have_count(0)

    # Find in the trace jumps back up to a span far from the view.
    page.get_by_test_id("trace-search").fill("handle item 2021")
    expect(page.get_by_test_id("match-count")).to_contain_text("1")
    page.get_by_test_id("trace-search").press("Enter")
    expect(page.get_by_test_id("match-count")).to_have_text("1 of 1")
    expect(span_row(page, "handle item 2021")).to_be_in_viewport()
    assert rendered_rows(page)[-1] < 3000


def test_compare_two_traces(seeded, page):
    page.goto(f"{seeded.url}/trace/{seeded.ids['ok']}...{seeded.ids['ok_fraud']}")
    view = page.get_by_test_id("compare-view")
    expect(view).to_be_visible()
    # The second trace has a fraud check the first lacks, and a slower payment (60ms → 180ms,
    # see ui_seed.checkout) that slows every span above it by the same 120ms.
    expect(view.locator('[data-testid="diff-node"][data-diff="added"]').filter(has_text="fraud")).to_have_count(1)
    expect(view.locator('[data-testid="diff-node"][data-diff="removed"]')).to_have_count(0)
    expect(page.get_by_test_id("compare-header-b").locator(".cmp-delta")).to_have_text("+120ms vs A")
    expect(page.get_by_test_id("compare-header-b").locator(".cmp-delta")).to_have_class(re.compile(r"\bslower\b"))
    expect(page.get_by_test_id("compare-summary")).to_contain_text("5 slower")
    expect(page.get_by_test_id("compare-summary")).to_contain_text("0 faster")

    def latency(path: str):
        return view.locator(f'[data-testid="diff-node"][title="{path}"] [data-latency]')

    expect(latency("payments: POST /charge")).to_have_attribute("data-latency", "slower")
    expect(latency("payments: POST /charge")).to_have_text("+120ms (×3.0)")
    expect(view.locator('[data-testid="diff-node"][title="payments: POST /charge"]')).to_contain_text("A 1× 60msB 1× 180ms")
    expect(latency("payments: bank.authorize")).to_have_text("+120ms (×3.4)")
    expect(latency("inventory: SELECT stock")).to_have_attribute("data-latency", "similar")
    expect(latency("inventory: SELECT stock")).to_have_text("no change")
    screenshot(page, "compare")

    # Only differences drops the unchanged inventory branch but keeps the slower path.
    page.get_by_test_id("compare-only-diff").check()
    expect(latency("inventory: SELECT stock")).to_have_count(0)
    expect(latency("payments: POST /charge")).to_have_text("+120ms (×3.0)")

    # The table shows the same per path: both averages and the delta.
    page.get_by_test_id("compare-table-toggle").click()
    charge = page.get_by_test_id("compare-table").get_by_test_id("diff-node").filter(has_text="POST /charge")
    expect(charge.locator("td")).to_have_text(["payments POST /charge", "1", "1", "60ms", "180ms", "+120ms (×3.0)"])
    expect(charge.locator("[data-latency]")).to_have_attribute("data-latency", "slower")


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


def expect_dep_nodes(page: Page, services: list[str]) -> None:
    """The graph shows exactly these services."""
    nodes = page.get_by_test_id("dependency-graph").get_by_test_id("dep-node")
    expect(nodes).to_have_count(len(services))
    for service in services:
        expect(nodes.and_(page.locator(f'[data-service="{service}"]'))).to_have_count(1)


def test_dependency_filter_and_focus(seeded, page):
    # The shop's calls: frontend → checkout → inventory, checkout → payments → fraud; the big
    # trace adds gateway and its svc-NN services.
    page.goto(f"{seeded.url}/dependencies")
    graph = page.get_by_test_id("dependency-graph")
    node = lambda service: graph.locator(f'[data-testid="dep-node"][data-service="{service}"]')  # noqa: E731
    expect(node("gateway")).to_have_count(1)
    everything = graph.get_by_test_id("dep-node").count()

    # Typing marks the matches and dims the rest; "only matches" drops all but their neighbours.
    page.get_by_test_id("dep-filter").fill("PAY")
    expect(page.get_by_text("1 matching")).to_be_visible()
    expect(node("payments")).to_have_class(re.compile(r"\bmatch\b"))
    expect(node("frontend")).to_have_class(re.compile(r"\bdim\b"))
    page.get_by_label("Only matches and their neighbours").check()
    expect_dep_nodes(page, ["checkout", "fraud", "payments"])
    expect(graph.get_by_test_id("dep-edge")).to_have_count(2)
    page.get_by_label("Only matches and their neighbours").uncheck()
    expect(graph.get_by_test_id("dep-node")).to_have_count(everything)

    # Enter on a single match focuses it: two hops up and down by default, never sideways
    # (inventory is only payments' caller's other callee).
    page.get_by_test_id("dep-filter").press("Enter")
    expect(page.get_by_test_id("dep-focus")).to_contain_text("Focused on payments")
    expect_dep_nodes(page, ["checkout", "fraud", "frontend", "payments"])
    page.get_by_test_id("dep-hops").select_option("1")
    expect_dep_nodes(page, ["checkout", "fraud", "payments"])
    assert "focus=payments" in page.url and "hops=1" in page.url, "the focus is in the URL, to share"

    # Clicking another service moves the focus; more hops widen its neighbourhood.
    page.get_by_test_id("dep-filter").fill("")
    node("checkout").click()
    expect(page.get_by_test_id("dep-focus")).to_contain_text("Focused on checkout")
    expect_dep_nodes(page, ["checkout", "frontend", "inventory", "payments"])
    page.get_by_test_id("dep-hops").select_option("all")
    expect_dep_nodes(page, ["checkout", "fraud", "frontend", "inventory", "payments"])
    page.get_by_test_id("dep-focus").get_by_role("button", name="Show all").click()
    expect(graph.get_by_test_id("dep-node")).to_have_count(everything)


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


def shown_time(locator) -> datetime:
    text = locator.inner_text()
    found = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", text)
    assert found, f"no timestamp in {text!r}"
    return datetime.strptime(found.group(), "%Y-%m-%d %H:%M:%S.%f")


def test_search_times_follow_the_time_zone_choice(seeded, browser):
    # A browser in India (UTC+5:30), so that local time and UTC differ, by a half hour too.
    with open_page(browser, timezone_id="Asia/Kolkata") as page:
        page.goto(f"{seeded.url}/search?service=frontend")
        result = page.locator(f'[data-testid="search-result"][data-trace-id="{seeded.ids["ok"]}"] .search-result-time')
        expect(result).to_be_visible()
        expect(result).not_to_contain_text("UTC")
        local = shown_time(result)
        axis = page.get_by_test_id("search-scatter").locator(".search-scatter-axis")
        local_axis = axis.all_text_contents()
        assert len(local_axis) == 5, local_axis

        page.get_by_test_id("timezone-select").select_option("utc")
        expect(result).to_contain_text("UTC")
        utc = shown_time(result)
        assert (local - utc).total_seconds() == 5.5 * 3600, (local, utc)
        # The scatter plot's time axis follows.
        first_tick = datetime.strptime(local_axis[0][:8], "%H:%M:%S") - timedelta(hours=5, minutes=30)
        expect(axis.first).to_have_text(re.compile("^" + first_tick.strftime("%H:%M:%S")))
        page.get_by_test_id("scatter-dot").and_(page.locator(f'[data-trace-id="{seeded.ids["ok"]}"]')).hover()
        expect(page.get_by_test_id("scatter-tooltip")).to_contain_text(utc.strftime("%H:%M:%S"))
        expect(page.get_by_test_id("scatter-tooltip")).to_contain_text("UTC")


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
