"""The run page opens whatever happened to a run, follows a live one, and shows what made it."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, EndpointCreate, ItemCreate
from assay.errors import AllItemsFailedWarning
from assay.scorers import exact_match, scorer
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker

N = 6
HX = {"HX-Request": "true"}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _basis(page: str) -> str:
    """The pass rate's stated denominator."""
    found = re.search(r'id="pass-rate-basis">(.*?)</div>', page, re.S)
    assert found is not None
    return " ".join(html.unescape(found.group(1)).split())


def upper(x: dict[str, str]) -> str:
    return x["q"].upper()


def broken(x: dict[str, str]) -> str:
    raise RuntimeError(f"no answer for {x['q']}")


def half_broken(x: dict[str, str]) -> str:
    if int(x["q"][1:]) % 2:
        raise RuntimeError(f"no answer for {x['q']}")
    return x["q"].upper() if int(x["q"][1:]) % 4 == 0 else "wrong"


@scorer
def unscoreable(output: str) -> float:
    raise ValueError("judge unavailable")


@pytest.fixture
def letters(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="letters"))
    items = [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(N)]
    store.datasets.add_items("letters", items)
    return "letters"


def test_all_errors_each_with_its_text_and_trace(
    http: TestClient, store: Store, letters: str
) -> None:
    with pytest.warns(AllItemsFailedWarning):
        run = assay.evaluate(letters, broken, [exact_match()], name="errored", store=store)
    page = http.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert _basis(page.text) == f"no scored results; {N} errored, not scored"
    assert re.search(r'id="pass-rate">—<', page.text)
    assert re.search(rf'id="error-count">{N}<', page.text)
    assert f"{N} of {N}</strong> done" in page.text
    assert "Cancel run" not in page.text
    assert "Delete run" in page.text
    assert 'hx-trigger="every' not in page.text  # a stopped run is not polled

    errors = http.get(f"/runs/{run.id}", params={"outcome": "errors"}).text
    rows = errors.split('<tr class="result"')[1:]
    assert len(rows) == N
    for row, result in zip(rows, store.experiments.iter_results(run.id), strict=True):
        assert "ERROR" in row
        assert "error, not scored" in row
        assert f"RuntimeError: no answer for {result.input['q']}" in row
        assert result.trace_id is not None
        assert f'<a href="/traces/{result.trace_id}">View trace</a>' in row
    trace = http.get(f"/traces/{next(store.experiments.iter_results(run.id)).trace_id}")
    assert trace.status_code == 200
    assert "no answer for q0" in trace.text


def test_mixed_run_states_the_denominator(http: TestClient, store: Store, letters: str) -> None:
    run = assay.evaluate(letters, half_broken, [exact_match()], name="mixed", store=store)
    page = http.get(f"/runs/{run.id}").text
    # q0 and q4 right, q2 wrong, q1 q3 q5 errored
    assert _basis(page) == "2 of 3 scored results passed; 3 errored, not scored"
    assert re.search(r'id="pass-rate">66.7 %<', page)
    assert "2 of 3 scored passed" in page  # the evaluator's own pass rate
    assert store.experiments.summary(run.id).judged == 3


def test_no_scores_at_all(http: TestClient, store: Store, letters: str) -> None:
    run = assay.evaluate(letters, upper, [], name="unscored", store=store)
    page = http.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert _basis(page.text) == f"no scored results; {N} completed without a verdict"
    assert page.text.count("no verdict</span>") == N
    assert 'id="scorer-stats"' not in page.text
    assert "Evaluators</dt><dd>none" in page.text


def test_a_scorer_that_failed_everywhere(http: TestClient, store: Store, letters: str) -> None:
    run = assay.evaluate(letters, upper, [unscoreable()], name="judge down", store=store)
    page = http.get(f"/runs/{run.id}")
    assert page.status_code == 200
    stats = page.text.split('id="scorer-stats"')[1].split("</table>")[0]
    assert f"0 / {N}" in stats
    assert f'title="the scorer raised or could not score">{N}<' in stats
    assert f"failed on all {N}" in stats
    assert f"{N} scorer errors" in _text(page.text)
    assert _basis(page.text) == f"no scored results; {N} completed without a verdict"
    assert "judge unavailable" in page.text  # each score says why it has no value


def test_pending_then_cancelled_before_any_item(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    body = {
        "name": "waiting",
        "dataset_id": qa,
        "config": {
            "type": "prompt",
            "prompt": "support-system-prompt",
            "model": "gpt-4o",
            "base_url": fake.openai_url,
        },
    }
    created = http.post("/api/v1/experiments/", json=body)
    assert created.status_code in (200, 201), created.text
    run_id = created.json()["id"]

    page = http.get(f"/runs/{run_id}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "PENDING" in text
    assert "0 of 3 done" in text
    assert "ETA waiting to start" in text
    assert "Cancel run" in page.text
    assert _basis(page.text) == "no scored results; 3 not run yet"
    assert page.text.count('data-status="pending"') == 3
    assert "No results yet." not in page.text
    live = http.get(f"/runs/{run_id}/progress", headers=HX).text
    assert 'hx-trigger="every 1s"' in live
    assert "hx-swap-oob" not in live
    cell = http.get(f"/runs/{run_id}/status-cell", headers=HX).text
    assert cell.lstrip().startswith(f'<td class="run-status" id="status-{run_id}" hx-get=')
    assert "0/3" in cell
    listing = http.get("/runs").text
    assert f'hx-get="/runs/{run_id}/status-cell" hx-trigger="every 1s"' in listing
    dataset_runs = http.get(f"/datasets/{store.datasets.get(qa).name}/runs").text
    assert f'hx-get="/runs/{run_id}/status-cell"' in dataset_runs

    assert http.post(f"/runs/{run_id}/cancel", headers=HX).status_code == 200
    assert fake.requests == []
    page = http.get(f"/runs/{run_id}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "CANCELLED" in text
    assert "3 of 3 done" in text
    assert "3 cancelled" in text
    assert _basis(page.text) == "no scored results; 3 cancelled"
    assert "no result completed, so there is no latency to draw" in text
    final = http.get(f"/runs/{run_id}/progress", headers=HX).text
    assert "hx-trigger" not in final.split('id="run-actions"')[0]  # polling ends
    assert '<span id="run-actions" hx-swap-oob="true">' in final
    assert "Delete run" in final
    assert "Cancel run" not in final
    cell = http.get(f"/runs/{run_id}/status-cell", headers=HX).text
    assert "hx-get" not in cell
    assert "CANCELLED" in cell
    assert f'hx-get="/runs/{run_id}/status-cell"' not in http.get("/runs").text


def test_live_run_rows_and_progress_follow_the_worker(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    body = {
        "name": "live",
        "dataset_id": qa,
        "config": {
            "type": "prompt",
            "prompt": "support-system-prompt",
            "label": "production",
            "model": "gpt-4o",
            "base_url": fake.openai_url,
        },
    }
    run_id = http.post("/api/v1/experiments/", json=body).json()["id"]
    assert http.post(f"/api/v1/experiments/{run_id}/start/").status_code == 200
    rows = http.get(f"/runs/{run_id}", headers={**HX, "HX-Target": "results"}).text
    assert rows.lstrip().startswith(f'<div id="results" hx-get="/runs/{run_id}?outcome=all"')
    assert rows.count('data-status="pending"') == 3

    assert run_worker(store, api_settings).runs == 1
    rows = http.get(f"/runs/{run_id}", headers={**HX, "HX-Target": "results"}).text
    assert rows.lstrip().startswith('<div id="results">')  # no trigger: the refresh stops
    assert rows.count('data-status="completed"') == 3
    summary = http.get(f"/runs/{run_id}", headers={**HX, "HX-Target": "run-summary"}).text
    assert summary.lstrip().startswith('<section id="run-summary" >')
    progress = http.get(f"/runs/{run_id}/progress", headers=HX).text
    assert "3 of 3</strong> done" in progress
    assert "items/s" in progress


def test_details_show_what_produced_the_run_and_no_secret(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    store.endpoints.create(
        EndpointCreate(
            name="support-bot",
            url=f"{fake.url}/echo",
            secret_headers={"Authorization": "Bearer s3cret-token"},
            body_template='{"q": "{{ input.query }}"}',
            output_path="answer",
        )
    )
    body: dict[str, Any] = {
        "name": "endpoint run",
        "dataset_id": qa,
        "config": {"type": "endpoint", "endpoint": "support-bot"},
        "concurrency": 4,
        "trials": 2,
        "timeout": 12.5,
        "max_cost": 3.0,
        "metadata": {"model": "gpt-4o-2024", "commit": "9f1c2ab", "api_key": "sk-hidden"},
    }
    made = http.post("/api/v1/experiments/", json=body)
    assert made.status_code in (200, 201), made.text
    page = http.get(f"/runs/{made.json()['id']}").text
    details = _text(page.split('id="run-details"')[1].split("</details>")[0])
    for shown in (
        "Target kind endpoint",
        "Endpoint support-bot",
        f"URL POST {fake.url}/echo",
        "Dataset Support Agent QA · version",
        "Concurrency 4",
        "Trials 2",
        "timeout 12.5",
        "max cost 3.0",
        "commit 9f1c2ab",
        "model gpt-4o-2024",
    ):
        assert shown in details, shown
    assert "s3cret" not in page
    assert "sk-hidden" not in page

    prompt_run = http.post(
        "/api/v1/experiments/",
        json={
            "name": "prompt run",
            "dataset_id": qa,
            "config": {
                "type": "prompt",
                "prompt": "support-system-prompt",
                "label": "production",
                "model": "gpt-4o",
                "temperature": 0.2,
                "base_url": fake.openai_url,
            },
        },
    ).json()
    details = _text(http.get(f"/runs/{prompt_run['id']}").text.split('id="run-details"')[1])
    for shown in (
        "Target kind prompt",
        "Prompt support-system-prompt",
        "Prompt version v1",
        "Prompt label production",
        "model gpt-4o",
        "temperature 0.2",
        f"base_url {fake.openai_url}",
    ):
        assert shown in details, shown


def test_notes_are_edited_in_place(http: TestClient, store: Store, letters: str) -> None:
    run = assay.evaluate(letters, upper, [exact_match()], name="noted", store=store)
    url = f"/runs/{run.id}/notes"
    assert "No notes yet." in http.get(f"/runs/{run.id}").text
    form = http.get(url, params={"edit": "true"}, headers=HX).text
    assert form.lstrip().startswith('<div id="run-notes">')
    assert "<textarea" in form
    assert http.post(url, data={"notes": "baseline"}).status_code == 403  # not from the page

    saved = http.post(url, data={"notes": "Baseline for <v2>.\nKeep."}, headers=HX)
    assert saved.status_code == 200
    assert "Baseline for &lt;v2&gt;.\nKeep." in saved.text
    assert "Edit notes" in saved.text
    assert store.experiments.get(run.id).notes == "Baseline for <v2>.\nKeep."
    api = http.get(f"/api/v1/experiments/{run.id}").json()
    assert api["notes"] == "Baseline for <v2>.\nKeep."

    too_long = http.post(url, data={"notes": "x" * 100_001}, headers=HX)
    assert too_long.status_code == 422
    assert "notes: at most 100,000 characters (got 100,001)" in too_long.text
    assert "<textarea" in too_long.text  # the form stays open with what was typed
    assert store.experiments.get(run.id).notes == "Baseline for <v2>.\nKeep."

    cleared = http.post(url, data={"notes": "  "}, headers=HX)
    assert "No notes yet." in cleared.text
    assert store.experiments.get(run.id).notes is None
    refused = http.put(f"/api/v1/experiments/{run.id}/notes/", json={"notes": "y" * 100_001})
    assert refused.status_code == 422
