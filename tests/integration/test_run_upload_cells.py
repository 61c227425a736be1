"""One CSV reader: a CSV of outputs uploaded through the API or the dashboard reads its cells
exactly as a dataset import of the same file does (``42`` stays text, ``{...}`` is JSON)."""

from __future__ import annotations

import base64
import io
from typing import Any

from fastapi.testclient import TestClient

from assay.io import import_stream
from assay.store import Store

CSV = 'input,expected_output,output\n42,true,42\n"{""q"": ""x""}",[1],"{""a"": 1}"\n" text ",,-7\n'


def _results(http: TestClient, run_id: str) -> dict[str, dict[str, Any]]:
    rows = http.get(f"/api/v1/experiments/{run_id}/results/").json()["results"]
    return {r["dataset_item_id"]: r for r in rows}


def test_the_same_csv_reads_the_same_everywhere(http: TestClient, store: Store) -> None:
    import_stream(store, io.BytesIO(CSV.encode()), format="csv", dataset="parity", create=True)
    items = store.datasets.list_items("parity").items
    assert [i.input for i in items] == ["42", {"q": "x"}, "text"]
    assert [i.expected_output for i in items] == ["true", [1], None]
    imported = {i.id: i.metadata["output"] for i in items}  # "output" lands in metadata
    assert list(imported.values()) == ["42", {"a": 1}, "-7"]

    api = http.post(
        "/api/v1/dataset-runs/upload/",
        params={"dataset_name": "parity", "tag": "api"},
        content=CSV,
        headers={"content-type": "text/csv"},
    )
    assert api.status_code == 200, api.text
    web = http.post(  # the dashboard commits exactly the file it previewed
        "/datasets/parity/runs/upload",
        data={"tag": "web", "step": "commit", "data": base64.b64encode(CSV.encode()).decode()},
        headers={"HX-Request": "true"},
    )
    assert web.status_code == 200, web.text
    web_run = store.dataset_runs.tagged("parity", "web")
    assert web_run is not None
    for run_id in (api.json()["dataset_run"]["id"], web_run.id):
        results = _results(http, run_id)
        assert set(results) == set(imported)  # every row found its item by input
        assert {k: r["output"] for k, r in results.items()} == imported


def test_upload_cell_errors_name_the_row_and_column(http: TestClient, store: Store) -> None:
    import_stream(store, io.BytesIO(CSV.encode()), format="csv", dataset="parity", create=True)
    bad = http.post(
        "/api/v1/dataset-runs/upload/",
        params={"dataset_name": "parity", "tag": "bad"},
        content='input,output\n42,"{not json"\n',
        headers={"content-type": "text/csv"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["message"].startswith('row 2, column "output": invalid JSON cell')
    latin = http.post(
        "/api/v1/dataset-runs/upload/",
        params={"dataset_name": "parity", "tag": "bad"},
        content="input,output\n42,caf\xe9\n".encode("latin-1"),
        headers={"content-type": "text/csv"},
    )
    assert latin.status_code == 422
    assert "row 2: not valid UTF-8" in latin.json()["error"]["message"]
