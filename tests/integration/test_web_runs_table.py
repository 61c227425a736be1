"""The dataset runs table (seed 000): columns, the row actions menu, uploads with a preview,
scoring a run from the dashboard and comparisons of runs that have no scores."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

import assay
from assay.domain import (
    DatasetCreate,
    DatasetRunCreate,
    EvaluatorCreate,
    ItemCreate,
    RunItemCreate,
)
from assay.errors import InvalidInput
from assay.scorers import exact_match
from assay.service.compare import gate
from assay.store import Store

HX = {"HX-Request": "true"}
N = 6


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def answer(x: dict[str, str]) -> str:
    return x["q"].upper()


@pytest.fixture
def qa(store: Store) -> dict[str, Any]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(N)]
    )
    base = assay.evaluate("qa", answer, [exact_match()], name="base", run_tag="main", store=store)
    items = store.datasets.list_items("qa").items
    uploaded = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="up", tag="up"))
    store.dataset_runs.add_items(
        uploaded.id,
        [
            RunItemCreate(dataset_item_id=i.id, output=f"Q{k}", cost=0.000123, latency_ms=250)
            for k, i in enumerate(items)
        ],
    )
    return {"base": base.id, "uploaded": uploaded.id, "items": items}


def test_columns_menu_tags_and_costs(http: TestClient, qa: dict[str, Any]) -> None:
    page = http.get("/datasets/qa/runs").text
    header = _text(page[page.index("<thead>") : page.index("</thead>")])
    for column in (
        "Run name",
        "Version",
        "Status",
        "Error",
        "Created at",
        "Count run items",
        "Avg latency",
        "Avg total cost",
        "Scores",
        "Tags",
        "Linked experiments",
    ):
        assert column in header
    assert "$0.000123" in page  # the average cost per item, readable
    for run in (qa["base"], qa["uploaded"]):
        assert f'href="/api/v1/experiments/{run}/export/?format=csv"' in page
        assert f'href="/api/v1/experiments/{run}/export/?format=json"' in page
        assert f'hx-post="/run-actions/{run}/delete"' in page
    assert '<summary aria-label="Actions for base">Actions</summary>' in page
    assert 'data-score="exact_match"' in page
    assert "no scores" in _text(page)  # the uploaded run
    assert '<option value="main">' in page  # the tag pickers offer tags already used
    assert '<option value="up">' in page


def test_linked_experiments(http: TestClient, store: Store, qa: dict[str, Any]) -> None:
    assay.evaluate(
        "qa", answer, [exact_match()], name="rerun", metadata={"baseline": qa["base"]}, store=store
    )
    page = http.get("/datasets/qa/runs").text
    row = page[page.index('aria-label="select base"') :]
    row = row[: row.index("</tr>")]
    assert "references" in row
    assert ">rerun</a>" in row


def test_export_json_is_an_array(http: TestClient, qa: dict[str, Any]) -> None:
    for run in (qa["base"], qa["uploaded"]):
        exported = http.get(f"/api/v1/experiments/{run}/export/", params={"format": "json"})
        assert exported.status_code == 200
        rows = json.loads(exported.text)
        assert isinstance(rows, list)
        assert len(rows) == N
        csv_text = http.get(f"/api/v1/experiments/{run}/export/", params={"format": "csv"}).text
        assert csv_text.count("\r\n") == N + 1


def test_delete_needs_confirmation(http: TestClient, store: Store, qa: dict[str, Any]) -> None:
    url = f"/run-actions/{qa['uploaded']}/delete"
    assert http.post(url, data={"confirm": "yes"}).status_code == 403  # not from the dashboard
    refused = http.post(url, data={"back": "/datasets/qa/runs"}, headers=HX)
    assert refused.status_code == 422
    assert "confirm it first" in html.unescape(refused.text)
    assert store.experiments.get(qa["uploaded"]).name == "up"  # still there
    done = http.post(url, data={"confirm": "yes", "back": "/datasets/qa/runs"}, headers=HX)
    assert done.headers["HX-Redirect"] == "/datasets/qa/runs"
    assert http.get(f"/runs/{qa['uploaded']}").status_code == 404
    other = http.post(
        f"/run-actions/{qa['base']}/delete",
        data={"confirm": "yes", "back": "//evil.example.com/"},
        headers=HX,
    )
    assert other.headers["HX-Redirect"] == "/runs"  # never another host
    assert http.post(url, data={"confirm": "yes"}, headers=HX).status_code == 404


def _data(page: str) -> str:
    found = re.search(r'name="data" value="([^"]+)"', page)
    assert found is not None, page
    return found[1]


def test_upload_preview_then_commit_scores_with_attached_evaluators(
    http: TestClient, store: Store, qa: dict[str, Any]
) -> None:
    items = qa["items"]
    evaluator = store.evaluators.create(EvaluatorCreate(name="exact", kind="exact_match"))
    store.evaluators.attach("qa", evaluator.id)
    url = "/datasets/qa/runs/upload"
    good = "dataset_item_id,output,cost\n" + "".join(
        f"{i.id},{'Q' + str(k) if k else 'wrong'},0.0005\n" for k, i in enumerate(items)
    )
    preview = http.post(
        url,
        data={"tag": "nightly"},
        files={"file": ("out.csv", good.encode(), "text/csv")},
        headers=HX,
    )
    assert preview.status_code == 200, preview.text
    text = _text(preview.text)
    assert f"{N} rows will go into a new run tagged nightly" in text
    assert "Columns found: dataset_item_id , output , cost" in text
    assert preview.text.count('<tr class="preview-row">') == N
    assert "nothing is stored yet" in text
    assert store.dataset_runs.tagged("qa", "nightly") is None  # a preview writes nothing

    committed = http.post(
        url, data={"tag": "nightly", "step": "commit", "data": _data(preview.text)}, headers=HX
    )
    assert committed.status_code == 200, committed.text
    assert f"{N} rows into run" in _text(committed.text)
    assert f"Scored with exact: {N - 1} passed, 1 failed" in _text(committed.text)
    run = store.dataset_runs.tagged("qa", "nightly")
    assert run is not None
    assert run.item_count == N
    summary = store.experiments.summary(run.id)
    assert [s.name for s in summary.scores] == ["exact"]
    assert summary.passed == N - 1


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("dataset_item_id,output,latency_ms\n{id},fine,12\n{id},fine,soon\n", "row 3"),
        ("colour\nred\n", "unknown CSV column 'colour'"),
        ("dataset_item_id,output\n{id},a,b\n", "row 2"),
    ],
)
def test_upload_preview_names_the_bad_row_and_column(
    http: TestClient, store: Store, qa: dict[str, Any], csv_text: str, message: str
) -> None:
    body = csv_text.format(id=qa["items"][0].id)
    refused = http.post(
        "/datasets/qa/runs/upload",
        data={"tag": "broken"},
        files={"file": ("bad.csv", body.encode(), "text/csv")},
        headers=HX,
    )
    assert refused.status_code == 422
    assert "Nothing was uploaded" in refused.text
    assert message in html.unescape(refused.text)
    assert store.dataset_runs.tagged("qa", "broken") is None


def test_upload_commit_with_an_unknown_item_stores_nothing(
    http: TestClient, store: Store, qa: dict[str, Any]
) -> None:
    body = f"dataset_item_id,output\n{qa['items'][0].id},fine\nno-such-item,lost\n"
    preview = http.post(
        "/datasets/qa/runs/upload",
        data={"tag": "partial"},
        files={"file": ("x.csv", body.encode(), "text/csv")},
        headers=HX,
    )
    assert "no-such-item: not in this dataset" in preview.text  # seen before committing
    refused = http.post(
        "/datasets/qa/runs/upload",
        data={"tag": "partial", "step": "commit", "data": _data(preview.text)},
        headers=HX,
    )
    assert refused.status_code == 422
    assert "items[1]" in refused.text
    assert store.dataset_runs.tagged("qa", "partial") is None
    missing = http.post("/datasets/qa/runs/upload", data={"tag": "x"}, headers=HX)
    assert "file: choose a CSV file" in missing.text
    damaged = http.post(
        "/datasets/qa/runs/upload", data={"tag": "x", "step": "commit", "data": "%%"}, headers=HX
    )
    assert "choose it again" in damaged.text


def test_import_preview_writes_nothing_and_names_the_bad_row(
    http: TestClient, store: Store, qa: dict[str, Any]
) -> None:
    version = store.datasets.get("qa").version
    good = "input,expected_output,tags\nnew question,new answer,fresh\n"
    preview = http.post(
        "/datasets/qa/import",
        files={"file": ("more.csv", good.encode(), "text/csv")},
        headers=HX,
    )
    assert preview.status_code == 200, preview.text
    text = _text(preview.text)
    assert f"1 item will be added as version {version + 1}" in text
    assert "Columns found: input , expected_output , tags" in text
    assert "new question" in text
    assert store.datasets.get("qa").version == version
    bad = "input,sort_order\nfine,1\nworse,soon\n"
    refused = http.post(
        "/datasets/qa/import", files={"file": ("bad.csv", bad.encode(), "text/csv")}, headers=HX
    )
    assert refused.status_code == 422
    assert "row 3" in html.unescape(refused.text)
    assert "sort_order" in refused.text
    committed = http.post(
        "/datasets/qa/import",
        data={"step": "commit", "data": _data(preview.text), "filename": "more.csv"},
        headers=HX,
    )
    assert "Imported 1 item" in committed.text
    assert store.datasets.get("qa").version == version + 1


def test_unscored_runs_are_named_then_scored_from_the_dashboard(
    http: TestClient, store: Store, qa: dict[str, Any]
) -> None:
    up = qa["uploaded"]
    second = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="up2", tag="up2"))
    store.dataset_runs.add_items(
        second.id, [RunItemCreate(dataset_item_id=i.id, output="x") for i in qa["items"]]
    )
    compared = http.get("/compare", params={"runs": [up, second.id]})
    assert compared.status_code == 200
    text = _text(compared.text)
    assert "run 'up' has no scores; score it first" in text
    assert "run 'up2' has no scores; score it first" in text
    assert "PASSED" not in text
    assert "No score statistics until every run is scored" in text
    with pytest.raises(InvalidInput, match="has no scores; score it first"):
        gate(store, second.id, baseline=up)

    saved = store.evaluators.create(EvaluatorCreate(name="exact", kind="exact_match"))
    form = http.get(f"/run-actions/{up}/score", params={"back": "/datasets/qa/runs"})
    assert f'value="{saved.id}"' in form.text
    empty = http.post(f"/run-actions/{up}/score", data={}, headers=HX)
    assert empty.status_code == 422
    assert "choose at least one evaluator" in empty.text
    for run in (up, second.id):
        done = http.post(
            f"/run-actions/{run}/score", data={"evaluator_ids": [saved.id]}, headers=HX
        )
        assert done.status_code == 200, done.text
        assert f"Scored {N} results with exact" in _text(done.text)
    assert [s.name for s in store.experiments.summary(up).scores] == ["exact"]
    again = _text(http.get("/compare", params={"runs": [up, second.id]}).text)
    assert "has no scores" not in again
    verdict = gate(store, second.id, baseline=up)
    assert verdict.passed is False  # every answer of up2 is wrong: a real regression
    assert 'data-score="exact"' in http.get("/datasets/qa/runs").text
