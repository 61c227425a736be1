"""Trace, session and *Add to dataset* pages in a real browser (Playwright + Debian Chromium)
against ``assay serve``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.store import open_store
from tests.e2e.test_serve import start
from tests.integration.trace_support import seed_traces

pytestmark = pytest.mark.e2e

UNSET = ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``assay serve`` over the recorded traces, a dataset ``golden`` with one item and an
    empty dataset ``spans``."""
    home = tmp_path_factory.mktemp("traces") / "home"
    store = open_store(Settings(home=home))
    try:
        seed_traces(store)
        store.datasets.create(DatasetCreate(name="golden"))
        store.datasets.add_items("golden", [ItemCreate(input={"q": "seed"})])
        store.datasets.create(DatasetCreate(name="spans"))
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    """A fresh context per test; any console error fails the test."""
    context = browser.new_context(base_url=site)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []

    def on_console(m: ConsoleMessage) -> None:
        if m.type == "error" and "422" not in m.text:  # inline form errors answer 422
            errors.append(m.text)

    tab.on("console", on_console)
    yield tab
    context.close()
    assert errors == []


def rows(page: Page) -> list[str]:
    return [r.get_attribute("data-id") or "" for r in page.locator("#traces tr.trace").all()]


def test_filter_the_list(page: Page, site: str) -> None:
    page.goto("/traces")
    expect(page.locator("#traces tr.trace")).to_have_count(5)
    page.get_by_label("Model").fill("gpt-4o-mini")
    expect(page.locator("#traces tr.trace")).to_have_count(1)
    expect(page.locator("#traces tr.trace")).to_have_attribute("data-id", "t2")
    expect(page).to_have_url(re.compile(r"/traces\?.*model=gpt-4o-mini"))
    page.get_by_label("Model").fill("")
    page.get_by_label("Errors only").check()
    expect(page.locator("#traces tr.trace")).to_have_count(2)
    assert rows(page) == ["t3", "t2"]
    page.get_by_label("Errors only").uncheck()
    page.get_by_label("Score").fill("helpfulness")
    page.get_by_label("min").fill("0.5")
    expect(page.locator("#traces tr.trace")).to_have_count(1)
    expect(page.locator("#traces tr.trace")).to_have_attribute("data-id", "t1")
    # the URL is the filter: opening it again shows the same table
    page.goto(page.url)
    expect(page.locator("#traces tr.trace")).to_have_count(1)
    expect(page.get_by_label("Score")).to_have_value("helpfulness")


def test_trace_waterfall_and_generation(page: Page, site: str) -> None:
    page.goto("/traces?session=s1")
    page.get_by_role("link", name="chat").last.click()
    expect(page).to_have_url(f"{site}/traces/t1")
    expect(page.locator("#trace-totals")).to_contain_text("$0.0125")
    expect(page.locator("#trace-totals")).to_contain_text("10 / 5")
    expect(page.locator("#trace-scores")).to_contain_text("helpfulness")
    spans = page.locator("#timeline .span")
    expect(spans).to_have_count(2)
    # select the generation: its details show beside the waterfall
    page.locator("#timeline .span-name", has_text="answer").click()
    expect(page).to_have_url(f"{site}/traces/t1?observation=t1-gen")
    detail = page.locator("#detail")
    expect(detail.locator(".obs-model")).to_have_text("gpt-4o")
    expect(detail.locator(".obs-tokens")).to_have_text("10 / 5")
    expect(detail.locator(".obs-cost")).to_have_text("$0.0125")
    expect(detail.locator(".obs-input .bubble .role")).to_have_text(["system", "user"])
    expect(detail.locator(".obs-output .bubble")).to_contain_text("Tokyo")
    expand = detail.get_by_text("Show all")
    expand.click()
    expect(detail.locator("details.expand[open]")).to_have_count(1)
    # collapse the agent: its child hides
    child = page.locator('#timeline [data-id="t1-gen"]')
    expect(child).to_be_visible()
    toggle = page.locator('#timeline [data-id="t1-root"] button.wf-toggle')
    toggle.click()
    expect(child).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(child).to_be_visible()
    # to the session, a conversation of its traces in order
    page.locator(".crumbs").get_by_role("link", name="session s1").click()
    expect(page).to_have_url(f"{site}/sessions/s1")
    turns = page.locator("#conversation .turn")
    expect(turns).to_have_count(2)
    expect(turns.first).to_contain_text("Capital of Japan?")
    expect(turns.nth(1)).to_contain_text("And of France?")
    turns.nth(1).get_by_role("link", name="chat").click()
    expect(page).to_have_url(f"{site}/traces/t2")


def test_sessions_list(page: Page, site: str) -> None:
    page.goto("/traces")
    page.locator(".tabs").get_by_role("link", name="Sessions").click()
    expect(page.locator("#sessions tr.session")).to_have_count(2)
    page.get_by_label("User").fill("u2")
    expect(page.locator("#sessions tr.session")).to_have_count(1)
    page.get_by_role("link", name="s1").click()
    expect(page.locator("#conversation .turn")).to_have_count(2)


def test_add_selected_traces_to_a_dataset(page: Page, site: str) -> None:
    page.goto("/traces")
    page.locator(".add-panel > summary").click()
    page.locator("#add-to-dataset select[name=dataset]").select_option("golden")
    page.get_by_role("button", name="Add selected").click()
    expect(page.locator("#add-result .error-box")).to_contain_text("select at least one trace")
    page.get_by_label("select search").check()  # t3
    page.locator('tr[data-id="t1"] input[type=checkbox]').check()
    page.get_by_role("button", name="Add selected").click()
    outcome = page.locator("#add-outcome")
    expect(outcome).to_contain_text("2 added")
    expect(outcome).to_contain_text("golden version 2")
    outcome.get_by_role("link", name="golden version 2").click()
    expect(page).to_have_url(f"{site}/datasets/golden/versions?diff=2")
    response = httpx.get(f"{site}/api/v1/datasets/golden", timeout=10, follow_redirects=True)
    assert response.json()["version"] == 2
    assert response.json()["item_count"] == 3


def test_add_a_span_from_the_trace_page(page: Page, site: str) -> None:
    page.goto("/traces/t4")
    page.locator("#add-panel > summary").click()
    page.locator("#add-to-dataset select[name=dataset]").select_option("spans")
    page.get_by_label("input span").fill("nope")
    page.get_by_role("button", name="Add to dataset").click()
    expect(page.locator("#add-result .error-box")).to_contain_text(
        "the trace has no observation named 'nope'"
    )
    page.get_by_label("input span").fill("retrieve")
    page.get_by_label("expected span").fill("retrieve")
    page.get_by_role("button", name="Add to dataset").click()
    expect(page.locator("#add-outcome")).to_contain_text("1 added")
    expect(page.locator("#add-outcome")).to_contain_text("spans version 1")


def test_failure_paths_render(page: Page, site: str) -> None:
    page.goto("/traces/t2")
    expect(page.locator("h1 .badge-failed")).to_have_text("ERROR")
    page.locator("#timeline .span-name", has_text="answer").click()
    expect(page.locator("#detail .obs-error")).to_have_text("RateLimitError: slow down")
    page.goto("/traces/t3")
    expect(page.locator("#timeline")).to_have_text("This trace has no observations.")
    page.goto("/traces/t4")
    expect(page.locator('#timeline [data-id="t4-lost"]')).to_contain_text("no parent")
    page.locator("#timeline .span-name", has_text="retrieve").click()
    expect(page.locator("#detail .obs-output")).to_contain_text("doc")
