"""The dashboard's sortable tables and charts in Chromium against ``assay serve``: a header
click sorts, a search filters a run, a result opens on its own page, the comparison draws its
points, and at 1024 px no page is wider than the window, even with long outputs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from assay.config import Settings
from assay.store import open_store
from tests.e2e.test_dashboard_browser import UNSET
from tests.e2e.test_serve import start
from tests.integration.table_support import Row, dataset, recorded_run

pytestmark = pytest.mark.e2e

N = 12
LONG = "a-very-long-unbroken-output-" * 60


@dataclass(frozen=True)
class Site:
    url: str
    a: str
    b: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("tables") / "home"
    store = open_store(Settings(home=home))
    try:
        dataset(store, "wide", [{"q": f"question {i}", "context": LONG} for i in range(N)])
        rows = [
            Row(output=f"answer {i} " + LONG, latency=float((i * 7) % N), scores={"acc": i / N})
            for i in range(N)
        ]
        a = recorded_run(store, "wide", "alpha", rows)
        b = recorded_run(
            store,
            "wide",
            "beta",
            [Row(output=LONG, latency=5.0, scores={"acc": 1 - i / N}) for i in range(N)],
        )
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
    yield Site(url, a, b)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1024, "height": 800})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def _latencies(page: Page) -> list[str]:
    return page.locator("#results tr.result td.num:nth-last-child(3)").all_inner_texts()


def test_sort_by_clicking_a_header(page: Page, site: Site) -> None:
    page.goto(f"/runs/{site.a}")
    page.locator("#results thead").get_by_role("link", name="Latency").click()
    expect(page.locator('#results th[aria-sort="ascending"]')).to_contain_text("Latency")
    expect(page).to_have_url(re.compile(r"sort=latency"))
    shown = [float(t.split()[0]) for t in _latencies(page)]
    assert shown == sorted(shown)
    assert len(shown) == N
    page.locator("#results thead").get_by_role("link", name="Latency").click()
    expect(page.locator('#results th[aria-sort="descending"]')).to_contain_text("Latency")
    shown = [float(t.split()[0]) for t in _latencies(page)]
    assert shown == sorted(shown, reverse=True)


def test_search_in_a_run_and_open_a_result(page: Page, site: Site) -> None:
    page.goto(f"/runs/{site.a}")
    expect(page.locator("#results tr.result")).to_have_count(N)
    page.locator("#results-search input[name=q]").fill("question 7")
    expect(page.locator("#results tr.result")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=question(%20|\+)7"))
    page.locator("#results a.open-result").first.click()
    expect(page).to_have_url(re.compile(rf"/runs/{site.a}/results/"))
    expect(page.locator("#result-input")).to_contain_text("question 7")
    expect(page.locator("#result-scores tr[data-score=acc]")).to_contain_text("because")


def test_compare_charts_render_points(page: Page, site: Site) -> None:
    page.goto(f"/compare?runs={site.a}&runs={site.b}")
    expect(page.locator("#forest svg circle")).to_have_count(2)  # pass rate and acc
    expect(page.locator("#scatters svg circle.point")).to_have_count(N)
    expect(page.locator("#spreads svg rect.bar").first).to_be_visible()


@pytest.mark.parametrize(
    "path", ["/runs", "/runs/{a}", "/compare?runs={a}&runs={b}", "/runs/{a}?sort=-score:acc"]
)
def test_nothing_wider_than_the_window_at_1024px(page: Page, site: Site, path: str) -> None:
    page.goto(path.format(a=site.a, b=site.b))
    expect(page.locator("main")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{path}: the page is {width} px wide in a {inner} px window"
