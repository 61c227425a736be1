"""Run results export through one writer: the CLI, both API routes and the dashboard's link
write the same columns, and every CSV neutralises formulas while JSON and JSONL keep them."""

from __future__ import annotations

import csv
import io
import os
import re

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assay.cli.main import app
from assay.client import Assay
from assay.config import Settings
from assay.io import RESULT_COLUMNS
from assay.store import Store
from assay.store.projects import get_project

FORMULA = '=HYPERLINK("http://x","y")'


def _run(http: TestClient, store: Store, qa: str) -> str:
    """An uploaded run whose first output is a spreadsheet formula."""
    items = store.datasets.list_items(qa).items
    run = http.post("/api/v1/dataset-runs/", json={"datasetName": qa, "name": "r"}).json()
    body = {
        "items": [
            {
                "datasetItemId": items[0].id,
                "output": FORMULA,
                "scores": [{"name": "ok", "value": 1.0}],
            },
            {"datasetItemId": items[1].id, "output": {"answer": "-1"}, "latencyMs": 12},
        ]
    }
    added = http.post(f"/api/v1/dataset-runs/{run['id']}/items/", json=body)
    assert added.status_code == 201, added.text
    return str(run["id"])


def _csv(data: str | bytes) -> list[dict[str, str]]:
    text = data.decode() if isinstance(data, bytes) else data
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _check_csv(data: str | bytes) -> None:
    rows = _csv(data)
    assert list(rows[0]) == [*RESULT_COLUMNS, "score.ok"]
    by_output = {r["output"]: r for r in rows}
    assert "'" + FORMULA in by_output  # neutralised, as dataset export does it
    assert FORMULA not in by_output
    (other,) = (r for r in rows if r["output"].startswith("{"))
    assert orjson.loads(other["output"]) == {"answer": "-1"}
    assert other["latency_ms"] == "12.0"
    assert by_output["'" + FORMULA]["score.ok"] == "1.0"


def _check_raw(jsonl: bytes, json_doc: bytes) -> None:
    records = [orjson.loads(line) for line in jsonl.splitlines()]
    assert FORMULA in [r["output"] for r in records]  # JSON keeps the value as it is
    assert orjson.loads(json_doc) == records
    assert list(records[0]) == [*RESULT_COLUMNS, "scores"]


def test_api_experiment_and_dataset_run_exports(http: TestClient, store: Store, qa: str) -> None:
    run = _run(http, store, qa)
    for url in (f"/api/v1/experiments/{run}/export/", f"/api/v1/dataset-runs/{run}/export/"):
        got = http.get(url, params={"format": "csv"})
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/csv")
        _check_csv(got.content)
        _check_raw(
            http.get(url, params={"format": "jsonl"}).content,
            http.get(url, params={"format": "json"}).content,
        )
    assert http.get("/api/v1/dataset-runs/nope/export/").status_code == 404
    assert http.get("/api/v1/experiments/nope/export/").status_code == 404


def test_sdk_export(http: TestClient, store: Store, qa: str, client: Assay) -> None:
    run = _run(http, store, qa)
    _check_csv(client.experiments.export(run, format="csv"))
    _check_raw(
        client.experiments.export(run, format="jsonl"),
        client.experiments.export(run, format="json"),
    )


def test_dashboard_export_link(http: TestClient, store: Store, qa: str) -> None:
    run = _run(http, store, qa)
    page = http.get(f"/runs/{run}").text
    links = re.findall(r'href="([^"]*/export/\?format=(?:csv|jsonl))"', page)
    assert len(links) == 2
    csv_link, jsonl_link = sorted(links)
    _check_csv(http.get(csv_link).content)
    lines = http.get(jsonl_link).content.splitlines()
    assert FORMULA in [orjson.loads(line)["output"] for line in lines]


def test_cli_runs_export(
    http: TestClient, store: Store, settings: Settings, qa: str, tmp_path: os.PathLike[str]
) -> None:
    run = _run(http, store, qa)
    env = {
        "ASSAY_DATABASE_URL": settings.resolved_database_url,
        "ASSAY_PROJECT": get_project(store.db, store.project_id).name,
    }
    runner = CliRunner()
    out = os.path.join(tmp_path, "r.csv")
    done = runner.invoke(app, ["runs", "export", run, "-f", "csv", "-o", out], env=env)
    assert done.exit_code == 0, done.output
    assert "exported 2 results" in done.output
    with open(out, "rb") as f:
        _check_csv(f.read())
    to_stdout = runner.invoke(app, ["runs", "export", run, "-f", "csv"], env=env)
    assert to_stdout.exit_code == 0, to_stdout.output
    _check_csv(to_stdout.stdout_bytes)
    jsonl = runner.invoke(app, ["runs", "export", run, "-f", "jsonl"], env=env).stdout_bytes
    as_json = runner.invoke(app, ["runs", "export", run, "-f", "json"], env=env).stdout_bytes
    _check_raw(jsonl, as_json)
