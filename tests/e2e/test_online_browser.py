"""The online evaluation page in a real browser (Playwright + Debian Chromium)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from assay.config import Settings
from assay.domain import EvaluatorCreate
from assay.store import open_store
from tests.e2e.test_dashboard_browser import UNSET
from tests.e2e.test_serve import start

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("online") / "home"
    store = open_store(Settings(home=home))
    store.evaluators.create(
        EvaluatorCreate(name="says-paris", kind="contains", params={"value": "Paris"})
    )
    store.close()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    settle = {"ASSAY_ONLINE_SETTLE_S": "0.5", "ASSAY_WORKER_POLL_INTERVAL": "0.2"}
    proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none", **settle})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    context = browser.new_context(base_url=site)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def _scored(site: str, n: int) -> bool:
    response = httpx.get(f"{site}/api/v1/scores/", params={"source": "online"}, timeout=10)
    return len(response.json()["items"]) >= n


def test_rules_and_charts(page: Page, site: str, tmp_path: Path) -> None:
    page.goto("/")
    page.get_by_role("link", name="Online").click()
    expect(page).to_have_url(f"{site}/online")
    expect(page.locator("#rules")).to_contain_text("No online rules yet.")

    page.locator("#new-rule-box summary").click()
    form = page.locator("#rule-form")
    form.locator("input[name=name]").fill("capitals")
    form.locator("select[name=evaluators]").select_option(["says-paris"])
    form.locator("input[name=trace_name]").fill("geo-*")
    form.locator("input[name=sample_rate]").fill("1.5")
    form.get_by_role("button", name="Save rule").click()
    expect(page.locator("#rule-form .error-box")).to_contain_text("between 0 and 1")
    expect(page.locator("#rules")).to_contain_text("No online rules yet.")
    expect(form.locator("input[name=trace_name]")).to_have_value("geo-*")  # kept

    page.locator("#rule-form input[name=sample_rate]").fill("1")
    page.locator("#rule-form input[name=map_output]").fill("outputs.x")  # no such root
    page.locator("#rule-form").get_by_role("button", name="Save rule").click()
    problem = page.locator("#rule-form #map-output-error")
    expect(problem).to_contain_text("must start with one of")
    expect(page.locator("#rule-form input[name=map_output]")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator("#rules")).to_contain_text("No online rules yet.")
    page.locator("#rule-form input[name=map_output]").fill("output")
    page.locator("#rule-form").get_by_role("button", name="Save rule").click()
    row = page.locator("tr.online-rule[data-rule=capitals]")
    expect(row.locator("td.state")).to_have_text("on")
    expect(row).to_contain_text("geo-*")
    saved = httpx.get(f"{site}/api/v1/online-rules/capitals/", timeout=10).json()
    assert saved["evaluators"][0]["mapping"] == {"output": "output"}

    traces = [
        {"id": f"geo-{i}", "name": "geo-answer", "output": "Paris" if i < 3 else "Rome"}
        for i in range(4)
    ]
    sent = httpx.post(f"{site}/api/v1/traces/", json={"traces": traces}, timeout=10)
    assert sent.status_code in (200, 201), sent.text
    deadline = time.monotonic() + 60
    while not _scored(site, 4):
        assert time.monotonic() < deadline, "the traces were not scored"
        time.sleep(0.2)

    page.reload()
    mean = page.locator('svg.chart[aria-label="says-paris: mean"]')
    expect(mean.locator("circle.dot")).to_have_count(1)
    expect(mean.locator("circle.dot title")).to_contain_text("0.75")
    rate = page.locator('svg.chart[aria-label="says-paris: pass rate"] circle.dot title')
    expect(rate).to_contain_text("75%")
    expect(page.locator("#judge-cost")).to_be_visible()

    row.get_by_role("button", name="Disable").click()
    expect(page.locator("tr.online-rule[data-rule=capitals] td.state")).to_have_text("off")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("tr.online-rule[data-rule=capitals]").get_by_role("button", name="Delete").click()
    expect(page.locator("#rules")).to_contain_text("No online rules yet.")
    # The scores stay, so the chart does too.
    expect(page.locator('svg.chart[aria-label="says-paris: mean"]')).to_have_count(1)
