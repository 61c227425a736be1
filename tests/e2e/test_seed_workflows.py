"""Each product document's workflow walked by clicking in Chromium against one ``assay serve``.

The dataset runs page (create by prompt and by API Record, upload, the row actions, delete,
compare), the test runs list (sort, filter, a failing case, its trace, an evaluator with a
mapping and a threshold that scores a run), a run started from a prompt's page and watched live
to the end with its details, notes and export, and a run in which every item errored. Data is
seeded once for the module; only the seeding goes through the store, everything after is
clicks.

The prompts answer through a local OpenAI-compatible server; the API Record endpoint is its
``/echo`` route. Two prompts hold their replies until the test says so: "pairs" lets a request
through only once a second one is in flight (so a run at concurrency 2 must overlap two calls),
"live" waits until the test has seen the run page's first progress.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, EndpointCreate, ItemCreate, PromptCreate
from assay.scorers import exact_match
from assay.store import open_store
from tests.e2e.test_dashboard_browser import UNSET
from tests.e2e.test_serve import start
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e

N = 4  # items of the dataset "qa"


def answer(x: dict[str, str]) -> str:
    return f"echo: {x['q']}"


def flaky(x: dict[str, str]) -> str:
    return "no idea" if x["q"] == "q1" else f"echo: {x['q']}"


def broken(x: dict[str, str]) -> str:
    raise RuntimeError(f"upstream refused {x['q']}")


@dataclass
class Site:
    url: str
    fake: FakeProvider
    pairs: threading.Barrier
    live: threading.Event
    ids: dict[str, str]


def _seed(home: Path, fake: FakeProvider) -> dict[str, str]:
    store = open_store(Settings(home=home))
    try:
        store.datasets.create(DatasetCreate(name="qa", description="questions"))
        items = [ItemCreate(input={"q": f"q{i}"}, expected_output=f"echo: q{i}") for i in range(N)]
        store.datasets.add_items("qa", items)
        store.datasets.create(DatasetCreate(name="billing"))
        store.datasets.add_items("billing", [ItemCreate(input={"q": "q0"}, expected_output="x")])
        for name, template in (("pairs", "pair {{ input.q }}"), ("live", "live {{ input.q }}")):
            store.prompts.create(
                PromptCreate(name=name, template=template, model_config_={"model": "gpt-4o-mini"})
            )
        store.endpoints.create(
            EndpointCreate(
                name="echo-api",
                url=f"{fake.url}/echo",
                body_template='{"q": "{{ input.q }}"}',
                output_path="answer",
            )
        )
        ids: dict[str, str] = {}
        scorers = [exact_match()]
        ids["base"] = assay.evaluate(
            "qa", answer, scorers, name="base", run_tag="main", store=store
        ).id
        ids["billing run"] = assay.evaluate(
            "billing", answer, scorers, name="billing run", store=store
        ).id
        ids["flaky"] = assay.evaluate("qa", flaky, scorers, name="flaky", store=store).id
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ids["all errors"] = assay.evaluate(
                "qa", broken, scorers, name="all errors", store=store
            ).id
        ids["doomed"] = assay.evaluate("qa", answer, scorers, name="doomed", store=store).id
        return ids
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pairs = threading.Barrier(2, timeout=60)
    live = threading.Event()
    live.set()

    def reply(text: str) -> str:
        if text.startswith("pair "):
            pairs.wait()  # a second request must be in flight at the same time
        elif text.startswith("live "):
            live.wait(60)
        return f"echo: {text.split(' ', 1)[-1]}"

    home = tmp_path_factory.mktemp("seedwalk") / "home"
    with FakeProvider(reply=reply, delay=0.05) as fake:
        ids = _seed(home, fake)
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
        try:
            yield Site(url, fake, pairs, live, ids)
        finally:
            live.set()
            pairs.abort()
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(
        base_url=site.url, accept_downloads=True, viewport={"width": 1024, "height": 768}
    )
    context.set_default_timeout(30_000)  # generous: a loaded machine is only slower
    yield context.new_page()
    context.close()


def _row(page: Page, name: str) -> Locator:
    return page.locator("#runs tr", has=page.get_by_role("link", name=name, exact=True))


def _uncovered(page: Page, item: Locator) -> None:
    """The element is what the user sees at its centre: not clipped by a scrolling box, not
    under another element (checked as it is, without scrolling anything into view)."""
    expect(item).to_be_visible()
    hit = """el => { const r = el.getBoundingClientRect();
                     const at = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                     return at !== null && (at === el || el.contains(at)); }"""
    try:
        page.wait_for_function(hit, arg=item.element_handle(), timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail(f"{item} is clipped or covered where it is drawn")


def _detail(page: Page, label: str) -> Locator:
    """The value of one line of the open *Show details* panel of a run page."""
    return page.locator(f"#run-details dt:text-is('{label}') + dd")


def _fits(page: Page) -> None:
    """Nothing makes the page wider than the window: wide tables scroll in their own box."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= page.evaluate("window.innerWidth"), f"{page.url} is {wide} px wide"


def _open_menu(page: Page, name: str) -> Locator:
    row = _row(page, name)
    row.get_by_label(f"Actions for {name}").click()
    for label in ("Export as CSV", "Export as JSON", "Score this run…", "Delete…"):
        _uncovered(page, row.get_by_role("menuitem", name=label))
    return row


def _create_run(page: Page, name: str, **choices: str) -> str:
    """Fill the open *Create dataset run* form and execute it; the run page's id."""
    page.wait_for_load_state()  # the form posts through HTMX, ready once the page has loaded
    form = page.locator("#run-form")
    form.get_by_label("Run name").fill(name)
    if "endpoint" in choices:
        form.get_by_label("Generate outputs with").select_option("endpoint")
        form.locator("select[name=endpoint_id]").select_option(label=choices["endpoint"])
    if "prompt" in choices:
        form.locator("select[name=prompt_name]").select_option(choices["prompt"])
    if "base_url" in choices:
        form.get_by_label("Base URL").fill(choices["base_url"])
    form.locator("input[name=concurrency]").fill(choices.get("concurrency", "1"))
    form.get_by_role("button", name="Execute dataset run").click()
    page.wait_for_url(re.compile(r"/runs/[^/?#]+$"))
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url.rsplit("/", 1)[-1]


def test_seed_000_dataset_runs_tab(page: Page, site: Site, tmp_path: Path) -> None:
    page.goto("/datasets/qa")
    page.locator("nav.tabs").get_by_role("link", name="Runs", exact=True).click()
    expect(page).to_have_url(re.compile(r"/datasets/qa/runs$"))
    header = page.locator("#runs thead")
    for column in ("Run name", "Version", "Status", "Error", "Created at", "Count run items"):
        expect(header).to_contain_text(column)
    for column in ("Avg latency", "Avg total cost", "Scores", "Tags", "Linked experiments"):
        expect(header).to_contain_text(column)
    _fits(page)

    # Create a run by prompt at concurrency 2: the provider sees two calls at once.
    page.get_by_text("Create dataset run").click()
    _create_run(page, "by prompt", prompt="pairs", base_url=site.fake.openai_url, concurrency="2")
    expect(page.locator("#run-progress .badge")).to_have_text("COMPLETED")
    expect(page.locator("#progress-text")).to_have_text(f"{N} of {N} done")
    assert site.fake.max_in_flight == 2
    page.locator("#run-details").get_by_text("Show details").click()
    expect(_detail(page, "Prompt")).to_have_text("pairs")
    expect(_detail(page, "Concurrency")).to_have_text("2")

    # And one by API Record: every item calls the saved endpoint.
    page.get_by_role("link", name="qa", exact=True).click()
    page.get_by_text("Create dataset run").click()
    _create_run(page, "by endpoint", endpoint=f"echo-api (POST {site.fake.url}/echo)")
    expect(page.locator("#run-progress .badge")).to_have_text("COMPLETED")
    expect(page.locator("tr.result")).to_have_count(N)
    expect(page.get_by_text("echo: q3").first).to_be_visible()
    page.get_by_role("link", name="qa", exact=True).click()
    expect(_row(page, "by endpoint")).to_contain_text("COMPLETED")
    expect(_row(page, "by prompt")).to_contain_text(str(N))

    # Upload a CSV: a preview first, nothing stored until confirmed.
    page.wait_for_load_state()
    page.get_by_text("Upload dataset run (CSV)").click()
    page.get_by_label("Run tag (type a new name").fill("hand-written")
    outputs = tmp_path / "outputs.csv"
    outputs.write_text("input,output\n" + "".join(f"q{i},echo: q{i}\n" for i in range(N)))
    page.locator("#upload-run input[type=file]").set_input_files(str(outputs))
    page.get_by_role("button", name="Preview upload").click()
    preview = page.locator("#upload-preview")
    expect(preview).to_contain_text(f"{N} rows will go into a new run tagged hand-written")
    expect(preview.locator("tr.preview-row")).to_have_count(N)
    expect(page.get_by_role("link", name="hand-written", exact=True)).to_have_count(0)
    page.get_by_role("button", name=f"Confirm upload of {N} rows").click()
    expect(page.locator("#upload-run .ok-box")).to_contain_text(f"{N} rows into run")
    page.reload()
    expect(_row(page, "hand-written")).to_have_count(1)

    # Export from the actions menu of the table's last row (where a menu may be clipped).
    last = page.locator("#runs tbody tr").last.get_by_role("link").first.inner_text()
    row = _open_menu(page, last)
    with page.expect_download() as csv_download:
        row.get_by_role("menuitem", name="Export as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    assert len(rows) == N
    assert "output" in rows[0]
    first = row
    row = _open_menu(page, "by prompt")  # one menu open at a time
    expect(first.get_by_role("menuitem", name="Export as CSV")).to_be_hidden()
    with page.expect_download() as json_download:
        row.get_by_role("menuitem", name="Export as JSON").click()
    exported = json.loads(Path(json_download.value.path()).read_text())
    assert isinstance(exported, list)
    assert sorted(r["output"] for r in exported) == [f"echo: q{i}" for i in range(N)]
    page.keyboard.press("Escape")
    expect(row.get_by_role("menuitem", name="Export as JSON")).to_be_hidden()
    row = _open_menu(page, "by prompt")
    page.get_by_role("heading", name="qa").click()  # a click elsewhere closes it
    expect(row.get_by_role("menuitem", name="Export as JSON")).to_be_hidden()

    # Delete with a confirmation step.
    row = _open_menu(page, "doomed")
    confirm = row.get_by_role("menuitem", name="Delete permanently")
    expect(confirm).to_be_hidden()
    row.get_by_role("menuitem", name="Delete…").click()
    expect(row.get_by_text("Permanently delete run doomed")).to_be_visible()
    _uncovered(page, confirm)
    confirm.click()
    expect(page).to_have_url(f"{site.url}/datasets/qa/runs")
    expect(_row(page, "doomed")).to_have_count(0)
    expect(_row(page, "base")).to_have_count(1)

    # Compare needs two runs: one ticked is refused with the reason; two are compared.
    _row(page, "base").get_by_label("select base").check()
    page.get_by_role("button", name="Compare selected runs").click()
    expect(page.locator("main")).to_contain_text("select at least two runs to compare")
    page.go_back()
    expect(_row(page, "base")).to_have_count(1)
    _row(page, "base").get_by_label("select base").check()
    _row(page, "by prompt").get_by_label("select by prompt").check()
    page.get_by_role("button", name="Compare selected runs").click()
    expect(page).to_have_url(re.compile(r"/compare\?"))
    main = page.locator("main")
    expect(main).to_contain_text("base")
    expect(main).to_contain_text("by prompt")


SEEDED = ("base", "billing run", "flaky", "all errors")  # in the order they ran


def _column(page: Page, n: int) -> list[str]:
    """The text of the runs list's n-th column (1-based), row by row."""
    return [t.strip() for t in page.locator(f"#runs tbody tr td:nth-child({n})").all_inner_texts()]


def _sort(page: Page, label: str, direction: str) -> None:
    header = page.locator("#runs thead")
    header.get_by_role("link", name=label).click()
    expect(page.locator(f'#runs th[aria-sort="{direction}"]')).to_contain_text(label)


def test_seed_001_test_runs_list_failures_and_evaluators(page: Page, site: Site) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Runs").click()
    page.wait_for_url("**/runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    for column in ("Run", "Agent / target", "Dataset", "Status", "Started at"):
        expect(page.locator("#runs thead")).to_contain_text(column)
    _fits(page)

    # Sort by date, both ways: the seeded runs keep the order they ran in.
    _sort(page, "Started at", "ascending")
    names = [n for n in _column(page, 2) if n in SEEDED]
    assert names == list(SEEDED)
    _sort(page, "Started at", "descending")
    names = [n for n in _column(page, 2) if n in SEEDED]
    assert names == list(reversed(SEEDED))
    _sort(page, "Status", "ascending")
    statuses = [s.split()[0] for s in _column(page, 5)]
    assert statuses == sorted(statuses), statuses
    assert "FAILED" in statuses
    _sort(page, "Dataset", "ascending")
    datasets = _column(page, 4)
    assert datasets == sorted(datasets), datasets
    assert datasets[0] == "billing"

    # Filter: by date range, by status, by dataset, by a search for the run's name.
    filters = page.locator("form.filters")
    today = datetime.now(UTC).date()
    filters.get_by_label("From").fill((today + timedelta(days=1)).isoformat())
    expect(page.locator("#runs")).to_contain_text("No run matches.")
    filters.get_by_label("From").fill(today.isoformat())
    filters.get_by_label("To").fill(today.isoformat())
    expect(_row(page, "flaky")).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"since={today}&until={today}"))
    filters.get_by_label("From").fill("")
    filters.get_by_label("To").fill("")
    expect(page).not_to_have_url(re.compile(r"since=\d"))
    filters.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(_row(page, "all errors")).to_have_count(1)
    expect(_row(page, "base")).to_have_count(0)
    filters.get_by_label("Status").select_option("")
    filters.get_by_label("Dataset").select_option("billing")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(_row(page, "billing run")).to_have_count(1)
    filters.get_by_label("Dataset").select_option("")
    filters.get_by_label("Search").fill("flaky")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=flaky"))

    # The dataset's runs tab sorts too, in place.
    page.get_by_role("link", name="qa", exact=True).first.click()
    page.locator("nav.tabs").get_by_role("link", name="Runs", exact=True).click()
    page.wait_for_url("**/datasets/qa/runs")
    for label, direction in (("Status", "ascending"), ("Created at", "descending")):
        page.locator("#runs thead").get_by_role("link", name=label).click()
        expect(page.locator(f'#runs th[aria-sort="{direction}"]')).to_contain_text(label)
    names = [n for n in _column(page, 2) if n in SEEDED]
    assert names == [n for n in reversed(SEEDED) if n != "billing run"]
    page.get_by_role("link", name="flaky", exact=True).click()

    # Open the failing case of the run and follow it to its trace.
    expect(page.get_by_role("heading", name="flaky")).to_be_visible()
    expect(page.locator("#pass-rate")).to_have_text("75.0 %")
    page.locator("#outcome-tabs").get_by_role("link", name="failed").click()
    rows = page.locator("tr.result")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("FAIL")
    rows.first.get_by_role("link", name="open result 1").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.locator("#result-input")).to_contain_text("q1")
    expect(page.locator("#result-expected")).to_contain_text("echo: q1")
    expect(page.locator("#result-output")).to_contain_text("no idea")
    expect(page.locator("#result-scores tr[data-score=exact_match]")).to_contain_text("0.000")
    page.locator("#result-facts").get_by_role("link", name="View trace").click()
    page.wait_for_url("**/traces/*")
    expect(page.locator("main")).to_contain_text("no idea")

    # An evaluator from the library, with a variable mapping and a threshold, attached.
    page.goto("/datasets/qa")
    page.locator("nav.tabs").get_by_role("link", name="Evaluators").click()
    page.get_by_role("link", name="Add evaluator from the library").click()
    page.wait_for_url("**/evaluators/new")  # loaded: the scorer select is live
    with page.expect_response(lambda r: "/evaluators/new?kind=" in r.url):
        page.get_by_label("Scorer from the library").select_option("contains")
    page.get_by_label("Name (saving a name again").fill("mentions-question")
    expect(page.locator("label[data-param='value']")).to_be_visible()  # empty: the expected
    page.locator("textarea[name=mapping]").fill("expected_output = input.q")
    page.get_by_label("Pass/fail threshold").select_option("gte")
    page.get_by_label("Threshold value").fill("1")
    page.get_by_label("attach to qa").check()
    page.get_by_role("button", name="Save evaluator").click()
    row = page.locator("tr.evaluator", has_text="mentions-question")
    expect(row).to_contain_text('"gte": 1.0')
    expect(row).to_contain_text("input.q")

    # Score a run with it from the runs list's row menu; the run page shows the scores.
    page.goto("/runs?q=flaky")
    menu = _open_menu(page, "flaky")
    menu.get_by_role("menuitem", name="Score this run…").click()
    expect(page.get_by_role("heading", name="Score run flaky")).to_be_visible()
    page.get_by_label(re.compile("mentions-question")).check()
    page.get_by_role("button", name="Score this run").click()
    report = page.locator("#score-report")
    expect(report).to_contain_text(f"Scored {N} results with mentions-question")
    expect(report).to_contain_text("3 passed, 1 failed")
    report.get_by_role("link", name="Open the run").click()
    expect(page.get_by_role("heading", name="flaky")).to_be_visible()
    expect(page.locator("#results thead")).to_contain_text("mentions-question")
    expect(page.locator("tr.result").first).to_contain_text("mentions-question: 1.000")
    failed = page.locator("tr.result", has_text="no idea")
    expect(failed).to_contain_text("mentions-question: 0.000")
    expect(failed).to_contain_text("missing 'q1'")  # the question, as mapped, not "echo: q1"


WATCH = """() => { window.__seen = [];
  const note = () => { const el = document.getElementById("progress-text");
    const text = el ? el.textContent.trim() : null;
    if (text && window.__seen[window.__seen.length - 1] !== text) { window.__seen.push(text); } };
  note(); new MutationObserver(note).observe(document.body, {subtree: true, childList: true,
    characterData: true}); }"""


def test_seed_002_run_from_a_prompt_watched_live(page: Page, site: Site) -> None:
    page.goto("/prompts")
    page.get_by_role("link", name="live", exact=True).click()
    version = page.locator("#version-1")
    version.locator("form.run-on-dataset").get_by_label("Dataset").select_option("qa")
    version.get_by_role("button", name="Run version 1 on dataset").click()
    expect(page).to_have_url(re.compile(r"/datasets/qa/runs\?"))
    form = page.locator("#run-form")
    expect(form).to_be_visible()  # the form is open, with the prompt chosen
    expect(form.locator("select[name=prompt_name]")).to_have_value("live")
    expect(form.locator("input[name=prompt_version]")).to_have_value("1")

    site.live.clear()  # the provider holds its replies until the page has shown the start
    try:
        run_id = _create_run(page, "live run", base_url=site.fake.openai_url)
        page.evaluate(WATCH)
        page.evaluate("window.__sameDocument = true")
        expect(page.locator("#progress-text")).to_have_text(f"0 of {N} done")
        expect(page.locator("#run-progress .badge")).not_to_have_text("COMPLETED")
    finally:
        site.live.set()
    expect(page.locator("#progress-text")).to_have_text(f"{N} of {N} done")
    expect(page.locator("#run-progress .badge")).to_have_text("COMPLETED")
    expect(page.locator("tr.result[data-status=completed]")).to_have_count(N)
    seen = page.evaluate("window.__seen")  # what the same page showed, in order
    assert f"0 of {N} done" in seen
    assert seen[-1] == f"{N} of {N} done"
    assert page.evaluate("window.__sameDocument") is True  # never reloaded

    # Details: what ran it, then notes edited in place.
    details = page.locator("#run-details")
    details.get_by_text("Show details").click()
    expect(_detail(page, "Prompt")).to_have_text("live")
    expect(_detail(page, "Prompt version")).to_have_text("v1")
    expect(details).to_contain_text("gpt-4o-mini")
    expect(page.locator("#notes-text")).to_have_text("No notes yet.")
    details.get_by_role("button", name="Edit notes").click()
    details.get_by_label("Run notes").fill("First run of the live prompt.")
    details.get_by_role("button", name="Save notes").click()
    expect(page.locator("#notes-text")).to_have_text("First run of the live prompt.")
    page.reload()
    page.locator("#run-details").get_by_text("Show details").click()
    expect(page.locator("#notes-text")).to_have_text("First run of the live prompt.")

    # Export as CSV from the run page.
    with page.expect_download() as download:
        page.get_by_role("link", name="export CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(r["output"] for r in rows) == [f"echo: q{i}" for i in range(N)]
    assert {r.get("experiment_id", run_id) for r in rows} == {run_id}


def test_a_run_where_every_item_errored(page: Page, site: Site) -> None:
    page.goto("/runs?q=all+errors")
    page.get_by_role("link", name="all errors", exact=True).click()
    expect(page.get_by_role("heading", name="all errors")).to_be_visible()
    expect(page.locator("#pass-rate")).to_have_text("—")
    expect(page.locator("#pass-rate-basis")).to_contain_text(f"{N} errored")
    page.locator("#outcome-tabs").get_by_role("link", name="errors").click()
    expect(page).to_have_url(re.compile(r"outcome=errors"))
    rows = page.locator("tr.result")
    expect(rows).to_have_count(N)
    expect(rows.first.locator(".result-error")).to_contain_text("upstream refused q0")
    rows.first.get_by_role("link", name="View trace").click()
    page.wait_for_url("**/traces/*")
    expect(page.locator("main")).to_contain_text("upstream refused q0")
