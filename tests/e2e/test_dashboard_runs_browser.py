"""The runs table's actions, uploads with a preview, evaluators and endpoints in Chromium
against ``assay serve`` (a fresh server per module, seeded like the other browser tests)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.scorers import exact_match
from assay.store import open_store
from tests.e2e.test_dashboard_browser import UNSET
from tests.e2e.test_serve import start
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e

N = 4


def answer(x: dict[str, str]) -> str:
    return f"A{x['q'][1:]}"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("runs-table") / "home"
    store = open_store(Settings(home=home))
    try:
        store.datasets.create(DatasetCreate(name="qa"))
        store.datasets.add_items(
            "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"A{i}") for i in range(N)]
        )
        assay.evaluate("qa", answer, [exact_match()], name="base", run_tag="main", store=store)
        assay.evaluate("qa", answer, [exact_match()], name="doomed", store=store)
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc, url = start({**env, "ASSAY_HOME": str(home), "ASSAY_AUTH": "none"})
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    context = browser.new_context(base_url=site, accept_downloads=True)
    context.set_default_timeout(30_000)  # generous: a loaded machine is only slower
    yield context.new_page()
    context.close()


def _items(site: str) -> list[dict[str, str]]:
    response = httpx.get(f"{site}/api/v1/datasets/qa/items/", timeout=10, follow_redirects=True)
    assert response.status_code == 200
    return list(response.json()["items"])


def test_export_csv_and_json_from_the_row_menu(page: Page) -> None:
    page.goto("/datasets/qa/runs")
    row = page.locator("#runs tr", has=page.get_by_role("link", name="base", exact=True))
    row.get_by_label("Actions for base").click()
    with page.expect_download() as csv_download:
        row.get_by_role("menuitem", name="Export as CSV").click()
    csv_text = Path(csv_download.value.path()).read_text()
    header = csv_text.splitlines()[0].split(",")
    assert "output" in header
    assert "score.exact_match" in header
    assert len(csv_text.strip().splitlines()) == N + 1
    with page.expect_download() as json_download:
        row.get_by_role("menuitem", name="Export as JSON").click()
    rows = json.loads(Path(json_download.value.path()).read_text())
    assert isinstance(rows, list)
    assert len(rows) == N


def test_delete_with_confirmation(page: Page, site: str) -> None:
    page.goto("/datasets/qa/runs")
    row = page.locator("#runs tr", has=page.get_by_role("link", name="doomed", exact=True))
    row.get_by_label("Actions for doomed").click()
    button = row.get_by_role("menuitem", name="Delete permanently")
    expect(button).to_be_hidden()  # a confirmation step comes first
    row.get_by_role("menuitem", name="Delete…").click()
    expect(row.get_by_text("Permanently delete run doomed")).to_be_visible()
    button.click()
    expect(page).to_have_url(f"{site}/datasets/qa/runs")
    expect(page.get_by_role("link", name="doomed", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="base", exact=True)).to_be_visible()


def test_evaluator_upload_preview_commit_and_score(page: Page, tmp_path: Path) -> None:
    page.goto("/datasets/qa/evaluators")
    page.get_by_role("link", name="Add evaluator from the library").click()
    page.wait_for_url("**/evaluators/new")  # loaded: the scorer select is live
    for kind in ("length", "exact_match"):  # the parameters follow the chosen scorer
        with page.expect_response(lambda r: "/evaluators/new?kind=" in r.url):
            page.get_by_label("Scorer from the library").select_option(kind)
        expect(page.locator("#params legend")).to_have_text(f"Parameters of {kind}")
    expect(page.locator("label[data-param='unit']")).to_have_count(0)
    expect(page.locator("label[data-param='ignore_case']")).to_be_visible()
    page.get_by_label("Name (saving a name again").fill("exact")
    page.locator("label[data-param='ignore_case'] select").select_option("true")
    page.locator("textarea[name=mapping]").fill("expected_output = expected_output")
    page.get_by_label("Pass/fail threshold").select_option("gte")
    page.get_by_label("Threshold value").fill("1")
    page.get_by_role("button", name="Save evaluator").click()
    expect(page.locator("tr.evaluator")).to_contain_text("exact")
    expect(page.locator("tr.evaluator")).to_contain_text('"gte": 1.0')

    items = _items(page.url.split("/datasets")[0])
    lines = ["dataset_item_id,output"] + [
        f"{it['id']},{'wrong' if k == 0 else it['expected_output']}" for k, it in enumerate(items)
    ]
    csv_path = tmp_path / "outputs.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    page.goto("/datasets/qa/runs")
    page.get_by_text("Upload dataset run (CSV)").click()
    page.get_by_label("Run tag (type a new name").fill("nightly")
    page.locator("#upload-run input[type=file]").set_input_files(str(csv_path))
    page.get_by_role("button", name="Preview upload").click()
    preview = page.locator("#upload-preview")
    expect(preview).to_contain_text(f"{N} rows will go into a new run tagged nightly")
    expect(preview.locator("tr.preview-row")).to_have_count(N)
    expect(page.get_by_role("link", name="nightly", exact=True)).to_have_count(0)  # not yet
    page.get_by_role("button", name=f"Confirm upload of {N} rows").click()
    status = page.locator("#upload-run .ok-box")
    expect(status).to_contain_text(f"{N} rows into run")
    expect(status).to_contain_text(f"Scored with exact: {N - 1} passed, 1 failed")

    page.goto("/datasets/qa/runs")
    row = page.locator("#runs tr", has=page.get_by_role("link", name="nightly", exact=True))
    expect(row.locator("[data-score='exact']")).to_contain_text("exact: 0.750")
    row.get_by_label("Actions for nightly").click()
    row.get_by_role("menuitem", name="Score this run…").click()
    page.get_by_role("button", name="Score this run").click()
    expect(page.locator("#score-report")).to_contain_text(f"Scored {N} results with exact")


def test_create_and_test_an_endpoint_then_run_it(page: Page, fake: FakeProvider) -> None:
    page.goto("/endpoints")
    page.get_by_text("New endpoint").click()
    page.get_by_label("Name", exact=True).fill("echo")
    page.get_by_label("URL (may use").fill(f"{fake.url}/echo")
    page.locator("textarea[name=secret_headers]").fill("Authorization: Bearer s3cret")
    page.locator("textarea[name=body_template]").fill('{"q": "{{ input.q }}"}')
    page.get_by_label("Output path").fill("answer")
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("heading", name="echo")).to_be_visible()
    expect(page.locator("#stored-secrets")).to_contain_text("Authorization: ••••••")
    assert "s3cret" not in page.content()

    page.locator("textarea[name=sample]").fill('{"q": "hello"}')
    page.get_by_role("button", name="Send test request").click()
    expect(page.locator("#trial-output")).to_have_text("echo: hello")
    expect(page.locator("#trial-response")).to_contain_text('"echo"')
    assert fake.requests[-1].headers["Authorization"] == "Bearer s3cret"

    page.goto("/datasets/qa/runs")
    page.get_by_text("Create dataset run").click()
    form = page.locator("#run-form")
    form.get_by_label("Run name").fill("api record run")
    form.get_by_label("Generate outputs with").select_option("endpoint")
    form.locator("select[name=endpoint_id]").select_option(label=f"echo (POST {fake.url}/echo)")
    form.get_by_role("button", name="Execute dataset run").click()
    expect(page.get_by_role("heading", name="api record run")).to_be_visible()
    run_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator(".badge").first).to_have_text("COMPLETED")  # the server's worker ran it
    results = httpx.get(f"{page.url.split('/runs/')[0]}/api/v1/experiments/{run_id}/results/")
    assert sorted(r["output"] for r in results.json()["results"]) == [
        f"echo: q{i}" for i in range(N)
    ]
    page.reload()
    expect(page.get_by_text("echo: q1").first).to_be_visible()
