"""The dashboard in a real browser (Playwright + Debian Chromium) against ``assay serve``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, PromptCreate, TraceCreate
from assay.scorers import exact_match
from assay.store import open_store

sync_api = pytest.importorskip("playwright.sync_api")
Browser = sync_api.Browser
Page = sync_api.Page
expect = sync_api.expect

pytestmark = pytest.mark.e2e

N_ITEMS = 30
WRONG = (3, 7, 11, 15, 19, 23)  # items "cand" gets wrong: regressions against "base"
CAND_PASS_RATE = f"{(N_ITEMS - len(WRONG)) / N_ITEMS * 100:.1f} %"  # as the pages format it
OBSERVATIONS = [
    ("root", None, "agent", "span", "00", "03"),
    ("llm-1", "root", "llm", "generation", "00", "01"),
    ("tool-1", "llm-1", "search", "tool", "01", "02"),
    ("llm-2", "root", "llm", "generation", "02", "03"),
]


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Site:
    """The running server and the ids of what was seeded before it started."""

    url: str
    base_id: str
    cand_id: str
    trace_id: str


def right(x: dict[str, str]) -> str:
    """The task of "base": every answer right."""
    return f"answer {x['q'].split()[-1]}"


def sometimes_wrong(x: dict[str, str]) -> str:
    """The task of "cand": the items in WRONG get a different answer."""
    k = int(x["q"].split()[-1])
    return f"wrong answer {k}" if k in WRONG else f"answer {k}"


def seed(home: Path) -> tuple[str, str]:
    """Datasets, two finished runs, a prompt with two versions and a nested trace."""
    store = open_store(Settings(home=home))
    try:
        store.datasets.create(DatasetCreate(name="qa", description="questions", tags=["demo"]))
        store.datasets.create(DatasetCreate(name="billing", description="invoices"))
        items = [
            ItemCreate(
                input={"q": f"question {i}"},
                expected_output=f"answer {i}",
                tags=["odd" if i % 2 else "even"],
            )
            for i in range(N_ITEMS)
        ]
        store.datasets.add_items("qa", items)
        base = assay.evaluate(
            "qa", right, [exact_match()], name="base", run_tag="main", store=store
        )
        cand = assay.evaluate("qa", sometimes_wrong, [exact_match()], name="cand", store=store)
        for template, model in (("Hello {{name}}", "m"), ("Hi there {{name}}", "m2")):
            store.prompts.create(
                PromptCreate(name="greeter", template=template, model_config={"model": model})
            )
        observations: list[dict[str, Any]] = [
            {
                "id": oid,
                "parent_id": parent,
                "name": name,
                "type": kind,
                "start_time": f"2026-11-01T00:00:{start}Z",
                "end_time": f"2026-11-01T00:00:{end}Z",
            }
            for oid, parent, name, kind, start, end in OBSERVATIONS
        ]
        store.traces.ingest(
            [
                TraceCreate(
                    id="trace-1", name="support-agent", input={"q": "hi"}, observations=observations
                )
            ]
        )
        return base.id, cand.id
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One seeded ``assay serve`` process for the whole module."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    base_id, cand_id = seed(home)
    env = {**os.environ, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"}
    for key in ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY"):
        env.pop(key, None)
    port = free_port()
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assay", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"server exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, "server did not answer /health within 30 s"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Site(url, base_id, cand_id, "trace-1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (never a downloaded browser)."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context per test, with the server as base URL."""
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(10_000)
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
    seed_columns += ["Pass rate", "Avg latency", "Avg total cost", "exact_match", "Tags"]
    assert [h for h in headers if h] == seed_columns
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(2)
    by_name = {
        r.locator("td").nth(1).inner_text(): r.locator("td").all_inner_texts() for r in rows.all()
    }
    pass_rate = headers.index("Pass rate")
    assert by_name["base"][pass_rate] == "100.0 %"
    assert by_name["cand"][pass_rate] == CAND_PASS_RATE
    assert by_name["base"][headers.index("Count run items")] == str(N_ITEMS)
    assert "main" in by_name["base"][-1]

    page.locator("nav.tabs").get_by_role("link", name="Analytics").click()
    chart = page.locator('svg.chart[aria-label="Pass rate by run"]')
    expect(chart.locator("circle.dot")).to_have_count(2)
    expect(page.locator("#always-fail")).to_have_text("0")
    expect(page.locator("#flaky")).to_have_text(str(len(WRONG)))
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


def test_compare_selected_runs(page: Page, site: Site) -> None:
    """Checking base then cand compares cand against base, with the planted regressions."""
    page.goto("/datasets/qa/runs")
    page.get_by_label("select base").check()
    page.get_by_label("select cand").check()
    page.get_by_role("button", name="Compare selected runs").click()
    page.wait_for_url("**/compare?**")
    query = urlsplit(page.url).query
    assert query == f"runs={site.base_id}&runs={site.cand_id}", "first checked is not the baseline"
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
    expect(page).to_have_url(f"{site.url}/traces/{site.trace_id}")
    spans = page.locator("#timeline tr.span")
    expect(spans).to_have_count(len(OBSERVATIONS))
    depths = [s.get_attribute("data-depth") for s in spans.all()]
    assert depths == ["0", "1", "2", "1"]
    expect(spans.locator("summary")).to_have_text(["agent", "llm", "search", "llm"])

    page.goto("/prompts")
    page.get_by_role("link", name="greeter").click()
    expect(page.locator("#version-2 pre").first).to_have_text("Hi there {{name}}")
    expect(page.locator("#version-1 pre").first).to_have_text("Hello {{name}}")
    expect(page.locator("section[id^=version-]")).to_have_count(2)


def test_plain_post_is_forbidden_and_unknown_dataset_is_404(page: Page, site: Site) -> None:
    """A form POST without HX-Request is refused; an unknown dataset renders the error page."""
    before = item_count(site)
    with httpx.Client(base_url=site.url, timeout=10) as http:
        refused = http.post("/datasets/qa/items", data={"input": "sneaky", "tags": "x"})
    assert refused.status_code == 403
    assert item_count(site) == before

    response = page.goto("/datasets/no-such-dataset")
    assert response is not None and response.status == 404
    assert "text/html" in response.headers["content-type"]
    expect(page.locator("section.error")).to_contain_text("no-such-dataset")


def test_no_console_errors_or_foreign_requests(page: Page, site: Site) -> None:
    """Every page and HTMX swap logs no error and loads nothing from another host."""
    errors: list[str] = []
    urls: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.on("request", lambda r: urls.append(r.url))
    page.on(
        "response", lambda r: errors.append(f"{r.status}: {r.url}") if r.status >= 400 else None
    )

    paths = ["/", "/datasets/qa", "/datasets/qa/runs", "/datasets/qa/analytics", "/runs"]
    paths += [f"/runs/{site.base_id}", f"/compare?runs={site.base_id}&runs={site.cand_id}"]
    paths += ["/traces", f"/traces/{site.trace_id}", "/prompts", "/prompts/greeter"]
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.ok, path
        expect(page.locator("header.top")).to_be_visible()
    page.goto(f"/compare?runs={site.base_id}&runs={site.cand_id}")
    page.locator("select[name=only]").select_option("changed")
    expect(page.locator("#items tr.item-row")).to_have_count(len(WRONG))
    page.goto("/runs")
    page.locator("input[name=q]").fill("cand")
    expect(page.locator("#runs tbody tr")).to_have_count(1)

    assert errors == []
    origin = urlsplit(site.url).netloc
    foreign = [u for u in urls if urlsplit(u).netloc != origin]
    assert foreign == []
    assert any(u.endswith("/static/htmx-2.0.11.min.js") for u in urls)
    assert any("only=changed" in u for u in urls), "the HTMX filter request was not seen"
