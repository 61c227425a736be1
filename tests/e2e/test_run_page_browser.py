"""The run page in a real browser (Playwright + Debian Chromium) against ``assay serve``: a run
started from the dashboard is watched live to the end, an error is followed to its trace, and
the run's details and notes are read and edited in place.

The live run calls a local OpenAI-compatible server whose replies wait at a gate the test
opens one step at a time, so each state of the page is reached whatever the machine's speed.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, EvaluatorCreate, ItemCreate, PromptCreate
from assay.scorers import exact_match
from assay.store import open_store
from tests.e2e.test_serve import start
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e

N_ITEMS = 4
UNSET = ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY")


@dataclass(frozen=True)
class Site:
    url: str
    errored_id: str
    noted_id: str
    fake: FakeProvider
    gate: threading.Semaphore


def broken(x: dict[str, str]) -> str:
    raise RuntimeError(f"upstream refused {x['q']}")


def answer(x: dict[str, str]) -> str:
    return f"echo: {x['q']}"


def seed(home: Path) -> tuple[str, str]:
    """A dataset with an evaluator and a prompt to run over it, a run where every item errored
    and one that passed."""
    store = open_store(Settings(home=home))
    try:
        store.datasets.create(DatasetCreate(name="live"))
        items = [ItemCreate(input={"q": f"q{i}"}, expected_output=f"echo: q{i}") for i in range(4)]
        store.datasets.add_items("live", items)
        store.prompts.create(PromptCreate(name="echo", template="{{ input.q }}"))
        says_echo = EvaluatorCreate(name="says-echo", kind="contains", params={"value": "echo"})
        store.evaluators.attach("live", store.evaluators.create(says_echo).id)  # offered checked
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            errored = assay.evaluate(
                "live", broken, [exact_match()], name="all errors", store=store
            )
        noted = assay.evaluate(
            "live",
            answer,
            [exact_match()],
            name="noted",
            store=store,
            metadata={"model": "gpt-4o-mini", "commit": "4be1f0c"},
        )
        return errored.id, noted.id
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gate = threading.Semaphore(0)

    def gated(text: str) -> str:
        gate.acquire(timeout=90)  # the test lets replies through one by one
        return f"echo: {text}"

    home = tmp_path_factory.mktemp("runpage") / "home"
    errored_id, noted_id = seed(home)
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    with FakeProvider(reply=gated) as fake:
        proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
        try:
            yield Site(url, errored_id, noted_id, fake, gate)
        finally:
            gate.release(100)
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def test_watch_a_run_started_from_the_dashboard_progress_to_the_end(page: Page, site: Site) -> None:
    page.goto("/datasets/live/runs")
    page.get_by_text("Create dataset run").click()
    form = page.locator("#run-form")
    form.get_by_label("Run name").fill("watched run")
    form.locator("select[name=prompt_name]").select_option("echo")
    form.get_by_label("Model (default: the prompt's)").fill("gpt-4o")
    form.get_by_label("Base URL").fill(site.fake.openai_url)
    form.locator("input[name=concurrency]").fill("1")
    form.get_by_role("button", name="Execute dataset run").click()
    page.wait_for_url("**/runs/*")
    run_path = page.url.removeprefix(site.url)

    # From here on the page is never reloaded: a marker set now must survive to the end.
    page.evaluate("window.__sameDocument = true")
    progress = page.locator("#progress-text")
    expect(progress).to_have_text(f"0 of {N_ITEMS} done")
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    rows = page.locator("tr.result")
    expect(rows).to_have_count(N_ITEMS)
    expect(page.locator("tr.result[data-status=completed]")).to_have_count(0)

    runs = page.context.new_page()  # the runs list follows the run in its status cell
    runs.goto("/runs")
    status = runs.locator(f"td#status-{run_path.removeprefix('/runs/')}")
    expect(status).to_contain_text("RUNNING")
    expect(status).to_contain_text(f"0/{N_ITEMS}")

    site.gate.release(1)
    expect(progress).to_have_text(f"1 of {N_ITEMS} done")
    expect(page.locator("tr.result[data-status=completed]")).to_have_count(1)
    expect(page.locator("#progress-speed")).to_contain_text("items/s")
    expect(page.locator("#progress-speed")).to_contain_text("ETA")
    expect(status).to_contain_text(f"1/{N_ITEMS}")

    polls: list[str] = []

    def on_request(request: Request) -> None:
        if "/progress" in request.url:
            polls.append(request.url)

    site.gate.release(N_ITEMS - 1)
    expect(progress).to_have_text(f"{N_ITEMS} of {N_ITEMS} done")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete run")).to_be_visible()
    expect(page.locator("#run-progress .badge")).to_have_text("COMPLETED")
    expect(page.locator("tr.result[data-status=completed]")).to_have_count(N_ITEMS)
    expect(page.locator("tr.result[data-status=pending]")).to_have_count(0)
    expect(page.locator("#pass-rate-basis")).to_have_text(
        f"{N_ITEMS} of {N_ITEMS} scored results passed"
    )
    expect(page.locator("#run-summary")).to_contain_text("Distributions")
    expect(status).to_contain_text("COMPLETED")
    expect(status).not_to_contain_text("/")
    assert page.evaluate("window.__sameDocument") is True

    # Every live part has stopped polling: nothing asks for progress any more.
    page.on("request", on_request)
    page.wait_for_timeout(2500)
    assert polls == []
    assert page.locator("[hx-trigger^=every]").count() == 0
    assert runs.locator("[hx-trigger^=every]").count() == 0


def test_follow_an_error_to_its_trace(page: Page, site: Site) -> None:
    page.goto(f"/runs/{site.errored_id}")
    expect(page.locator("#pass-rate")).to_have_text("—")
    expect(page.locator("#pass-rate-basis")).to_have_text(
        f"no scored results; {N_ITEMS} errored, not scored"
    )
    page.locator("#outcome-tabs").get_by_role("link", name="errors").click()
    expect(page).to_have_url(f"{site.url}/runs/{site.errored_id}?outcome=errors")
    rows = page.locator("tr.result")
    expect(rows).to_have_count(N_ITEMS)
    first = rows.first
    expect(first.locator(".result-error")).to_have_text("RuntimeError: upstream refused q0")
    expect(first).to_contain_text("ERROR")
    first.get_by_role("link", name="View trace").click()
    page.wait_for_url("**/traces/*")
    expect(page.locator("main")).to_contain_text("upstream refused q0")


def test_details_and_notes_edited_in_place(page: Page, site: Site) -> None:
    page.goto(f"/runs/{site.noted_id}")
    details = page.locator("#run-details")
    details.get_by_text("Show details").click()
    expect(details).to_contain_text("Target kind")
    expect(details.locator("dl.details").first).to_contain_text("function")
    expect(details).to_contain_text("4be1f0c")
    expect(details).to_contain_text("gpt-4o-mini")
    expect(details.get_by_role("link", name="live · version")).to_have_attribute(
        "href", "/datasets/live/runs"
    )
    expect(page.locator("#notes-text")).to_have_text("No notes yet.")

    page.evaluate("window.__sameDocument = true")
    details.get_by_role("button", name="Edit notes").click()
    box = details.get_by_label("Run notes")
    box.fill("Baseline before the prompt change.")
    details.get_by_role("button", name="Save notes").click()
    expect(page.locator("#notes-text")).to_have_text("Baseline before the prompt change.")
    assert page.evaluate("window.__sameDocument") is True

    details.get_by_role("button", name="Edit notes").click()
    details.get_by_label("Run notes").fill("a draft to throw away")
    details.get_by_role("button", name="Discard changes").click()
    expect(page.locator("#notes-text")).to_have_text("Baseline before the prompt change.")

    page.reload()
    page.locator("#run-details").get_by_text("Show details").click()
    expect(page.locator("#notes-text")).to_have_text("Baseline before the prompt change.")
