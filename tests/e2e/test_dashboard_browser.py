"""The dashboard in a real browser (Playwright + Debian Chromium) against ``assay serve``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    expect,
)

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, ObservationCreate, PromptCreate, TraceCreate
from assay.scorers import exact_match
from assay.store import open_store
from tests.e2e.test_serve import start

pytestmark = pytest.mark.e2e

N_ITEMS = 30
WRONG = (3, 7, 11, 15, 19, 23, 27)  # items "cand" gets wrong: regressions against "base"
TAGS = ("even", "odd")
CAND_PASS_RATE = f"{(N_ITEMS - len(WRONG)) / N_ITEMS * 100:.1f} %"  # as the pages format it
UNSET = ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY")
TRACE_ID = "trace-1"
T = "2026-11-01T00:00:0{}Z"
OBSERVATIONS = [  # id, parent, name, type, start, end: a tree three levels deep
    ("root", None, "agent", "span", T.format(0), T.format(3)),
    ("llm-1", "root", "llm", "generation", T.format(0), T.format(1)),
    ("tool-1", "llm-1", "search", "tool", T.format(1), T.format(2)),
    ("llm-2", "root", "llm", "generation", T.format(2), T.format(3)),
]


@dataclass(frozen=True)
class Site:
    """The running server and the ids of what was seeded before it started."""

    url: str
    base_id: str
    cand_id: str


def task(wrong: tuple[int, ...]) -> Callable[[dict[str, str]], str]:
    """A task answering "answer k" to question k, or "wrong answer k" for k in ``wrong``."""

    def answer(x: dict[str, str]) -> str:
        k = int(x["q"].split()[-1])
        return f"wrong answer {k}" if k in wrong else f"answer {k}"

    # Each variant its own system (config hash), as two real bots would be.
    answer.__qualname__ = f"answer_wrong_on_{'_'.join(map(str, wrong)) or 'none'}"
    return answer


def item(i: int) -> ItemCreate:
    """Question i, expecting "answer i", tagged even or odd."""
    return ItemCreate(
        input={"q": f"question {i}"}, expected_output=f"answer {i}", tags=[TAGS[i % 2]]
    )


def seed(home: Path) -> tuple[str, str]:
    """Datasets, two finished runs, a prompt with two versions and a nested trace."""
    store = open_store(Settings(home=home))
    try:
        store.datasets.create(DatasetCreate(name="qa", description="questions", tags=["demo"]))
        store.datasets.create(DatasetCreate(name="billing", description="invoices"))
        store.datasets.add_items("qa", [item(i) for i in range(N_ITEMS)])
        scorers = [exact_match()]
        base = assay.evaluate("qa", task(()), scorers, name="base", run_tag="main", store=store)
        cand = assay.evaluate("qa", task(WRONG), scorers, name="cand", store=store)
        for template in ("Hello {{name}}", "Hi there {{name}}"):
            store.prompts.create(PromptCreate(name="greeter", template=template))
        keys = ("id", "parent_id", "name", "type", "start_time", "end_time")
        spans = [
            ObservationCreate.model_validate(dict(zip(keys, o, strict=True))) for o in OBSERVATIONS
        ]
        trace = TraceCreate(id=TRACE_ID, name="support-agent", input="hi", observations=spans)
        store.traces.ingest([trace])
        return base.id, cand.id
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One seeded ``assay serve`` process for the whole module (started as test_serve does)."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    base_id, cand_id = seed(home)
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
    yield Site(url, base_id, cand_id)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context per test, with the server as base URL."""
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(30_000)  # generous: a loaded machine is only slower
    yield context.new_page()
    context.close()


def item_count(site: Site) -> int:
    """The dataset's item count from the REST API."""
    response = httpx.get(f"{site.url}/api/v1/datasets/qa", timeout=10, follow_redirects=True)
    assert response.status_code == 200
    return int(response.json()["item_count"])


def test_navigation_through_a_dataset(page: Page, site: Site) -> None:
    """Home → datasets → qa items → runs tab → analytics."""
    page.goto("/")
    expect(page).to_have_url(f"{site.url}/datasets")
    page.get_by_role("link", name="qa", exact=True).click()
    expect(page).to_have_url(f"{site.url}/datasets/qa")
    count = int(page.locator("#item-count").inner_text())
    assert count >= N_ITEMS
    expect(page.locator("#items tbody tr")).to_have_count(count)
    expect(page.locator("#items")).to_contain_text('"q": "question 17"')
    expect(page.locator("#items")).to_contain_text("answer 17")

    page.locator("nav.tabs").get_by_role("link", name="Runs").click()
    expect(page).to_have_url(f"{site.url}/datasets/qa/runs")
    headers = page.locator("#runs thead th").all_inner_texts()
    seed_columns = ["Run name", "Version", "Status", "Error", "Created at", "Count run items"]
    seed_columns += ["Avg latency", "Avg total cost", "Scores", "Tags", "Linked experiments"]
    assert [h for h in headers if h] == [*seed_columns, "Actions"]
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(2)
    by_name = {cells[1]: cells for cells in (r.locator("td").all_inner_texts() for r in rows.all())}
    scores = headers.index("Scores")
    assert "pass rate 100.0 %" in by_name["base"][scores]
    assert f"pass rate {CAND_PASS_RATE}" in by_name["cand"][scores]
    assert "exact_match: 1.000" in by_name["base"][scores]
    assert by_name["base"][headers.index("Count run items")] == str(N_ITEMS)
    assert "main" in by_name["base"][headers.index("Tags")]

    page.locator("nav.tabs").get_by_role("link", name="Analytics").click()
    chart = page.locator('svg.chart[aria-label="Pass rate by run"]')
    expect(chart.locator("circle.dot")).to_have_count(2)
    expect(page.locator("#always-fail")).to_have_text("0")
    expect(page.locator("#flaky")).to_have_text("0")  # two systems disagreeing is not flaky
    expect(page.locator("#always-pass")).to_have_text(str(N_ITEMS - len(WRONG)))


def test_search_filters_datasets_in_place(page: Page, site: Site) -> None:
    """Typing swaps #datasets through HTMX and pushes the query into the URL."""
    page.goto("/datasets")
    expect(page.locator("#datasets tbody tr")).to_have_count(2)
    page.evaluate("window.__sameDocument = true")
    page.locator("input[name=q]").fill("invoice")
    expect(page).to_have_url(f"{site.url}/datasets?q=invoice")
    expect(page.locator("#datasets tbody tr")).to_have_count(1)
    expect(page.locator("#datasets tbody")).to_contain_text("billing")
    page.locator("input[name=q]").fill("zzz-nothing")
    expect(page.locator("#datasets")).to_contain_text("No dataset matches “zzz-nothing”.")
    expect(page.locator("#datasets table")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True, "the search reloaded the page"


def test_add_item_form(page: Page, site: Site) -> None:
    """Bad metadata is refused with the field named; a good item is added and listed."""
    before = item_count(site)
    page.goto("/datasets/qa")
    page.locator("#add-item-box summary").click()
    form = page.locator("#add-item")
    form.locator("textarea[name=input]").fill('{"q": "added from the browser"}')
    form.locator("textarea[name=expected_output]").fill("browser answer")
    form.locator("textarea[name=metadata]").fill("{not json")
    form.locator("input[name=tags]").fill("ui, e2e")
    form.get_by_role("button", name="Add item").click()
    expect(page.locator("#add-item .error-box")).to_contain_text("metadata: not valid JSON")
    assert item_count(site) == before
    # The form comes back with what was typed, so only the bad field needs fixing.
    expect(form.locator("textarea[name=input]")).to_have_value('{"q": "added from the browser"}')

    form.locator("textarea[name=metadata]").fill('{"origin": "browser"}')
    form.get_by_role("button", name="Add item").click()
    expect(page.locator("#add-item .ok-box")).to_contain_text("Added item")
    assert item_count(site) == before + 1

    page.reload()
    expect(page.locator("#item-count")).to_have_text(str(before + 1))
    row = page.locator("#items tbody tr", has_text="added from the browser")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("browser answer")
    expect(row).to_contain_text('"origin": "browser"')
    expect(row.locator(".tag")).to_have_text(["ui", "e2e"])


def compare_from_runs_table(page: Page, *names: str) -> list[str]:
    """Tick runs of qa's runs table in this order, submit; the run ids /compare received."""
    page.goto("/datasets/qa/runs")
    for name in names:
        page.get_by_label(f"select {name}").check()
    page.get_by_role("button", name="Compare selected runs").click()
    page.wait_for_url("**/compare?**")
    return parse_qs(urlsplit(page.url).query)["runs"]


def test_oldest_selected_run_is_the_baseline(page: Page, site: Site) -> None:
    """Whatever order the runs are ticked in, the older one is the baseline."""
    assert compare_from_runs_table(page, "cand", "base") == [site.base_id, site.cand_id]


def test_compare_selected_runs(page: Page, site: Site) -> None:
    """The ticked runs reach /compare; cand against base shows the planted regressions."""
    compared = compare_from_runs_table(page, "base", "cand")
    assert compared == [site.base_id, site.cand_id]
    assert {"base", "cand"} <= set(page.locator("#statistics thead th").all_inner_texts())
    query = f"runs={site.base_id}&runs={site.cand_id}"
    expect(page.locator("main > p.muted").first).to_contain_text("Baseline base against cand")
    expect(page.locator('#statistics tr[data-metric="passed"] td').last).to_have_text("worse")
    expect(page.locator('#statistics tr[data-metric="exact_match"] td').last).to_have_text("worse")
    gate = page.locator(f"#gate-{site.cand_id}")
    expect(gate.locator(".fail")).to_have_text("FAILED")
    expect(gate).to_contain_text(f"{len(WRONG)} regressions")
    expect(page.locator("#usage tbody tr")).not_to_have_count(0)

    page.locator("select[name=only]").select_option("regressions")
    expect(page).to_have_url(f"{site.url}/compare?{query}&only=regressions&tag=")
    rows = page.locator("#items tr.item-row")
    expect(rows).to_have_count(len(WRONG))
    for row in rows.all():
        assert "regression" in (row.get_attribute("data-changes") or "").split()
    inserted = rows.first.locator("pre.diff ins")
    expect(inserted).to_be_visible()
    expect(inserted).to_contain_text("wrong")


def test_run_detail_failed_tab(page: Page, site: Site) -> None:
    """The summary pass rate matches the data; the failed tab lists only failures."""
    page.goto(f"/runs/{site.cand_id}")
    expect(page.locator("#pass-rate")).to_have_text(CAND_PASS_RATE)
    expect(page.locator("#scorer-stats tbody tr")).to_contain_text(["exact_match"])
    expect(page.locator("#results tr.result")).to_have_count(N_ITEMS)
    page.locator("nav#outcome-tabs").get_by_role("link", name="failed", exact=True).click()
    expect(page).to_have_url(f"{site.url}/runs/{site.cand_id}?outcome=failed")
    rows = page.locator("#results tr.result")
    expect(rows).to_have_count(len(WRONG))
    expect(rows.locator("td:nth-child(4)")).to_have_text(["FAIL"] * len(WRONG))
    outputs = sorted(rows.locator("td:nth-child(3)").all_inner_texts())
    assert outputs == sorted(f"wrong answer {k}" for k in WRONG)
    expect(page.locator("#run-summary")).to_have_count(1)  # the swap kept the summary


def test_trace_and_prompt_pages(page: Page, site: Site) -> None:
    """The seeded trace's timeline has one row per observation; both prompt versions show."""
    page.goto("/traces")
    page.get_by_role("link", name="support-agent").click()
    expect(page).to_have_url(f"{site.url}/traces/{TRACE_ID}")
    spans = page.locator("#timeline .span")
    expect(spans).to_have_count(len(OBSERVATIONS))
    assert [s.get_attribute("data-depth") for s in spans.all()] == ["0", "1", "2", "1"]
    expect(spans.locator(".span-name")).to_have_text(["agent", "llm", "search", "llm"])

    page.goto("/prompts")
    page.get_by_role("link", name="greeter").click()
    expect(page.locator("#version-2 pre").first).to_have_text("Hi there {{name}}")
    expect(page.locator("#version-1 pre").first).to_have_text("Hello {{name}}")
    expect(page.locator("section[id^=version-]")).to_have_count(2)


def test_plain_post_is_forbidden_and_unknown_dataset_is_404(page: Page, site: Site) -> None:
    """A form POST without HX-Request is refused; an unknown dataset renders the error page."""
    before = item_count(site)
    refused = httpx.post(f"{site.url}/datasets/qa/items", data={"input": "sneaky"}, timeout=10)
    assert refused.status_code == 403
    assert item_count(site) == before

    response = page.goto("/datasets/no-such-dataset")
    assert response is not None
    assert response.status == 404
    assert "text/html" in response.headers["content-type"]
    expect(page.locator("section.error")).to_contain_text("no-such-dataset")


def test_no_console_errors_or_foreign_requests(page: Page, site: Site) -> None:
    """Every page and HTMX swap logs no error and loads nothing from another host."""
    errors: list[str] = []
    urls: list[str] = []

    def on_console(m: ConsoleMessage) -> None:
        if m.type == "error":
            errors.append(f"{m.text} at {m.location['url']}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def on_failed(r: Request) -> None:
        # Leaving a page cancels what it still loads (often its icon): not an error.
        if r.failure != "net::ERR_ABORTED":
            errors.append(f"failed: {r.url} ({r.failure})")

    page.on("requestfailed", on_failed)
    page.on("request", lambda r: urls.append(r.url))
    page.on(
        "response", lambda r: errors.append(f"{r.status}: {r.url}") if r.status >= 400 else None
    )

    paths = ["/", "/datasets/qa", "/datasets/qa/runs", "/datasets/qa/analytics", "/runs"]
    paths += [f"/runs/{site.base_id}", "/traces", f"/traces/{TRACE_ID}", "/prompts"]
    paths += ["/prompts/greeter", f"/compare?runs={site.base_id}&runs={site.cand_id}"]
    for path in paths:
        response = page.goto(path)
        assert response is not None, path
        assert response.ok, path
        expect(page.locator("header.top")).to_be_visible()
    page.locator("select[name=only]").select_option("changed")
    expect(page.locator("#items tr.item-row")).to_have_count(len(WRONG))
    page.goto(f"/runs/{site.cand_id}")
    page.locator("nav#outcome-tabs").get_by_role("link", name="passed", exact=True).click()
    expect(page.locator("#results tr.result")).to_have_count(N_ITEMS - len(WRONG))
    page.goto("/datasets")
    page.locator("input[name=q]").fill("qa")
    expect(page).to_have_url(f"{site.url}/datasets?q=qa")

    assert errors == []
    origin = urlsplit(site.url).netloc
    foreign = [u for u in urls if urlsplit(u).netloc != origin]
    assert foreign == []
    assert any(u.endswith("/static/htmx-2.0.11.min.js") for u in urls)
    assert any("only=changed" in u for u in urls), "the HTMX filter request was not seen"


def test_runs_search_filters_in_place(page: Page, site: Site) -> None:
    """Typing a run name on /runs narrows the table to that run."""
    page.goto("/runs")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    page.locator("input[name=q]").fill("cand")
    expect(page).to_have_url(re.compile(r"/runs\?q=cand"))
    expect(page.locator("#runs tbody tr")).to_have_text([re.compile("cand")])


def _order(page: Page, *names: str) -> list[str]:
    """The given run names in the order the runs table lists them."""
    texts = page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()
    return [t.strip() for t in texts if t.strip() in names]


def test_runs_sort_by_column_header(page: Page, site: Site) -> None:
    """A header sorts the runs by its column, a second click reverses, a search keeps it."""
    page.goto("/runs?q=a")
    page.get_by_role("link", name="Pass rate", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs\?q=a&sort=pass_rate$"))
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Pass rate")
    assert _order(page, "base", "cand") == ["cand", "base"]  # 76.7 % before 100 %
    page.get_by_role("link", name="Pass rate ▲").click()
    expect(page).to_have_url(re.compile(r"sort=-pass_rate$"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Pass rate")
    assert _order(page, "base", "cand") == ["base", "cand"]
    page.locator("input[name=q]").fill("cand")
    expect(page).to_have_url(re.compile(r"q=cand.*sort=-pass_rate"))
    expect(page.locator("#runs tbody tr")).to_have_text([re.compile("cand")])


def test_favicon_is_declared_and_served(page: Page, site: Site) -> None:
    """The page names its icon, so the browser never asks for a missing /favicon.ico."""
    page.goto("/datasets")
    href = page.locator("link[rel~=icon]").get_attribute("href")
    assert href is not None
    icon = httpx.get(f"{site.url}{href}", timeout=10)
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


def test_compare_filter_back_to_all_items(page: Page, site: Site) -> None:
    """Filtering to regressions and back to all items shows every item again."""
    page.goto(f"/compare?runs={site.base_id}&runs={site.cand_id}")
    rows = page.locator("#items tr.item-row")
    page.locator("select[name=only]").select_option("regressions")
    expect(rows).to_have_count(len(WRONG))
    page.locator("select[name=only]").select_option("")
    expect(rows).to_have_count(N_ITEMS)


def test_api_docs_render_offline(browser: Browser, site: Site) -> None:
    """/docs lists the API's operations with every other host unreachable (no CDN)."""
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(30_000)
    origin = urlsplit(site.url).netloc
    foreign: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", offline)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "response", lambda r: errors.append(f"{r.status}: {r.url}") if r.status >= 400 else None
    )
    try:
        response = page.goto("/docs")
        assert response is not None
        assert response.ok
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Assay")
        operations = page.locator(".opblock-summary-path")
        expect(operations.first).to_be_visible()
        expect(
            page.locator('.opblock-summary-path[data-path="/api/v1/datasets/"]').first
        ).to_be_visible()
        assert operations.count() > 20
        assert foreign == []
        assert errors == []
    finally:
        context.close()
