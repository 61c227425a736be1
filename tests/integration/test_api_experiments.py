"""Experiments through the API: create, start, worker, results, export, notes, cancel."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import orjson
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import EndpointCreate
from assay.server import create_app
from assay.service.worker import Worker
from assay.store import Store
from tests.fakes.provider import FakeProvider
from tests.integration.conftest import CLIENT_HEADER
from tests.integration.experiment_support import prompt_body, run_worker


def test_lifecycle_create_start_run_results(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    created = http.post("/api/v1/experiments/", json=prompt_body(qa, fake))
    assert created.status_code == 201, created.text
    exp = created.json()
    assert exp["status"] == "pending"
    assert exp["counts"] == {"pending": 3}
    assert exp["config"]["prompt_version"] == 1  # the label is pinned to its version
    assert fake.requests == []

    started = http.post(f"/api/v1/experiments/{exp['id']}/start/")
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["status"], body["runs_created"], body["name"]) == ("running", 3, exp["name"])
    assert body["started_at"]
    again = http.post(f"/api/v1/experiments/{exp['id']}/start/")
    assert again.status_code == 409

    assert run_worker(store, api_settings).runs == 1
    assert len(fake.requests) == 3
    sent = fake.requests[0].body
    assert sent["model"] == "gpt-4o"
    assert sent["temperature"] == 0.3

    results = http.get(f"/api/v1/experiments/{exp['id']}/results/").json()
    assert results["status"] == "completed"
    assert results["dataset_name"] == "Support Agent QA"
    summary = results["summary"]
    assert (summary["total"], summary["completed"], summary["failed"]) == (3, 3, 0)
    assert results["total"] == 3
    first = results["results"][0]
    assert first["output"] == "echo: Answer: reset password"
    assert first["item_input"] == {"query": "reset password"}
    # the seed's names on the wire, and no error as ""
    assert {"dataset_item_id", "item_input", "item_expected_output"} <= set(first)
    assert not {"item_id", "input", "expected_output"} & set(first)
    assert (first["error"], first["experiment_id"]) == ("", exp["id"])
    assert first["tokens_in"] > 0
    assert [s["name"] for s in first["scores"]] == ["contains"]

    page = http.get(f"/api/v1/experiments/{exp['id']}/results/", params={"limit": 2}).json()
    assert len(page["results"]) == 2
    assert page["next_cursor"]
    rest = http.get(
        f"/api/v1/experiments/{exp['id']}/results/",
        params={"limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [r["item_input"]["query"] for r in rest["results"]] == ["contact support"]
    lean = http.get(
        f"/api/v1/experiments/{exp['id']}/results/",
        params={"limit": 2, "cursor": page["next_cursor"], "include_summary": False},
    ).json()
    assert lean["summary"] is None
    assert lean["results"] == rest["results"]
    assert (page["total"], rest["total"]) == (3, None)  # counted on the first page only
    assert rest["next_cursor"] is None

    detail = http.get(f"/api/v1/experiments/{exp['id']}/").json()
    assert detail["summary"]["completed"] == 3
    assert detail["counts"] == {"completed": 3}
    listed = http.get("/api/v1/experiments/", params={"dataset_id": qa, "status": "completed"})
    assert [e["id"] for e in listed.json()["items"]] == [exp["id"]]
    assert http.get("/api/v1/experiments/", params={"status": "failed"}).json()["items"] == []
    assert http.post(f"/api/v1/experiments/{exp['id']}/cancel/").status_code == 409


def test_export_and_notes(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    exp = http.post("/api/v1/experiments/", json=prompt_body(qa, fake)).json()
    http.post(f"/api/v1/experiments/{exp['id']}/start/")
    run_worker(store, api_settings)
    url = f"/api/v1/experiments/{exp['id']}/export/"

    lines = http.get(url, params={"format": "jsonl"}).text.splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [r["input"]["query"] for r in records] == [
        "reset password",
        "pricing plans",
        "contact support",
    ]
    assert records[0]["scores"] == {"contains": 1.0}
    assert orjson.loads(http.get(url, params={"format": "json"}).content) == records
    rows = list(csv.DictReader(io.StringIO(http.get(url, params={"format": "csv"}).text)))
    assert len(rows) == 3
    assert orjson.loads(rows[1]["input"]) == {"query": "pricing plans"}
    assert rows[0]["score.contains"] == "1.0"
    assert http.get(url, params={"format": "xml"}).status_code == 422

    noted = http.put(f"/api/v1/experiments/{exp['id']}/notes/", json={"notes": "mini is fine"})
    assert noted.json()["notes"] == "mini is fine"
    assert http.get(f"/api/v1/experiments/{exp['id']}/").json()["notes"] == "mini is fine"
    assert http.put(f"/api/v1/experiments/{exp['id']}/notes/", json={}).status_code == 422

    assert http.delete(f"/api/v1/experiments/{exp['id']}/").status_code == 204
    assert http.get(f"/api/v1/experiments/{exp['id']}/").status_code == 404


def test_bad_config_is_refused_with_nothing_stored(
    http: TestClient, qa: str, fake: FakeProvider
) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"prompt_name": "support-system-prompt", "endpoint_id": "x"}, 422, "config"),
        ({"prompt_name": "missing-prompt", "model": "m"}, 404, "config.prompt_name"),
        ({"endpoint_id": "missing-endpoint"}, 404, "config.endpoint_id"),
        ({"prompt_name": "support-system-prompt"}, 422, "config.model"),
        (
            {"prompt_name": "support-system-prompt", "prompt_version": 1, "prompt_label": "x"},
            422,
            "config.prompt_label",
        ),
        ({"prompt_name": "support-system-prompt", "model": "m", "colour": 1}, 422, "config.colour"),
        ({"endpoint": {"url": "ftp://example.com/"}}, 422, "target.url"),
    ]
    for config, status, field in cases:
        response = http.post(
            "/api/v1/experiments/", json={"name": "bad", "dataset_id": qa, "config": config}
        )
        assert response.status_code == status, (config, response.text)
        assert response.json()["error"]["details"].get("field") == field, response.text
    unknown = prompt_body(qa, fake, evaluator_ids=["no-such-evaluator"])
    assert http.post("/api/v1/experiments/", json=unknown).status_code == 404
    no_dataset = prompt_body("no-such-dataset", fake)
    assert http.post("/api/v1/experiments/", json=no_dataset).status_code == 404
    assert http.get("/api/v1/experiments/").json()["items"] == []


def test_cancel_pending_and_started_before_a_worker_takes_it(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    pending = http.post("/api/v1/experiments/", json=prompt_body(qa, fake)).json()
    cancelled = http.post(f"/api/v1/experiments/{pending['id']}/cancel/").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts"] == {"cancelled": 3}
    assert http.post(f"/api/v1/experiments/{pending['id']}/start/").status_code == 409

    queued = http.post("/api/v1/experiments/", json=prompt_body(qa, fake)).json()
    http.post(f"/api/v1/experiments/{queued['id']}/start/")
    assert http.delete(f"/api/v1/experiments/{queued['id']}/").status_code == 409
    assert http.post(f"/api/v1/experiments/{queued['id']}/cancel/").json()["status"] == (
        "cancelled"
    )
    assert run_worker(store, api_settings).runs == 0
    assert fake.requests == []


def test_saved_endpoint_sends_secret_headers_never_shown(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    endpoint = store.endpoints.create(
        EndpointCreate(
            name="agent",
            url=f"{fake.url}/echo",
            secret_headers={"Authorization": "Bearer s3cret"},
            body_template='{"q": "{{ input.query }}"}',
            output_path="answer",
        )
    )
    exp = http.post(
        "/api/v1/experiments/",
        json={"name": "agent run", "dataset_id": qa, "config": {"endpoint_id": "agent"}},
    ).json()
    assert exp["config"] == {"endpoint_id": endpoint.id}
    http.post(f"/api/v1/experiments/{exp['id']}/start/")
    run_worker(store, api_settings)
    assert [
        {k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in fake.requests
    ] == ["Bearer s3cret"] * 3
    results = http.get(f"/api/v1/experiments/{exp['id']}/results/").text
    assert "s3cret" not in results
    assert '"completed":3' in results.replace(" ", "")


def test_evaluators_attached_to_the_dataset_score_by_default(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    from assay.domain import EvaluatorCreate

    saved = store.evaluators.create(
        EvaluatorCreate(name="says-echo", kind="contains", params={"value": "echo"})
    )
    store.evaluators.attach(qa, saved.id)
    body = prompt_body(qa, fake)
    del body["scorers"]
    exp = http.post("/api/v1/experiments/", json=body).json()
    assert exp["evaluator_ids"] == [saved.id]
    http.post(f"/api/v1/experiments/{exp['id']}/start/")
    run_worker(store, api_settings)
    scores = http.get(f"/api/v1/experiments/{exp['id']}/results/").json()["results"][0]["scores"]
    assert [(s["name"], s["evaluator_id"]) for s in scores] == [("says-echo", saved.id)]


def test_the_server_runs_started_experiments_itself(
    api_settings: Settings, store: Store, qa: str, fake: FakeProvider
) -> None:
    settings = api_settings.model_copy(update={"serve_worker": True, "worker_poll_interval": 0.05})
    app = create_app(settings)
    try:
        with TestClient(app, base_url="http://testserver", headers=CLIENT_HEADER) as http:
            exp = http.post("/api/v1/experiments/", json=prompt_body(qa, fake)).json()
            http.post(f"/api/v1/experiments/{exp['id']}/start/")
            status = "running"
            for _ in range(400):
                status = http.get(f"/api/v1/experiments/{exp['id']}/").json()["status"]
                if status not in ("running", "scoring"):
                    break
                app.state.assay.worker.stopping.wait(0.05)
            assert status == "completed"
            assert len(fake.requests) == 3
    finally:
        app.state.assay.worker.stop(timeout=120)  # its last poll may still hold a connection
        app.state.assay.db.dispose()


def test_cancel_between_claim_and_run_is_kept(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    exp = http.post("/api/v1/experiments/", json=prompt_body(qa, fake)).json()
    http.post(f"/api/v1/experiments/{exp['id']}/start/")
    worker = Worker(api_settings, store.db, project_ids=[store.project_id])
    claim = worker.queue.claim_next(worker.me, stale_after=30)
    assert claim is not None
    assert claim.experiment_id == exp["id"]
    assert worker.queue.claim_next("other:1:x", stale_after=30) is None  # held by a live worker
    requested = http.post(f"/api/v1/experiments/{exp['id']}/cancel/").json()
    assert requested["status"] == "running"  # the holder is alive: it must stop the run
    asyncio.run(worker.run_claim(claim))
    assert http.get(f"/api/v1/experiments/{exp['id']}/").json()["status"] == "cancelled"
    assert fake.requests == []


def test_listing_sorts_by_each_documented_field_both_ways(
    http: TestClient, qa: str, fake: FakeProvider
) -> None:
    ids = {}
    for name in ("bravo", "alpha", "charlie"):
        created = http.post("/api/v1/experiments/", json=prompt_body(qa, fake, name=name))
        ids[name] = created.json()["id"]
    http.post(f"/api/v1/experiments/{ids['alpha']}/start/")  # running
    http.post(f"/api/v1/experiments/{ids['charlie']}/cancel/")  # cancelled; bravo pending

    def names(sort: str, limit: int = 1000) -> list[str]:
        out: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = http.get("/api/v1/experiments/", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            out += [e["name"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    assert names("name") == ["alpha", "bravo", "charlie"]
    assert names("-name") == ["charlie", "bravo", "alpha"]
    assert names("created_at") == ["bravo", "alpha", "charlie"]
    assert names("-created_at") == ["charlie", "alpha", "bravo"]
    assert names("status") == ["charlie", "bravo", "alpha"]  # cancelled, pending, running
    assert names("-status") == ["alpha", "bravo", "charlie"]
    default = http.get("/api/v1/experiments/").json()["items"]
    assert [e["name"] for e in default] == names("-created_at")
    for sort in ("name", "-name", "created_at", "-created_at", "status", "-status"):
        assert names(sort, limit=1) == names(sort), sort  # cursors continue the same order

    assert http.get("/api/v1/experiments/", params={"sort": "-cost"}).status_code == 200
    bad = http.get("/api/v1/experiments/", params={"sort": "size"})
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["details"]["field"] == "sort"
    for allowed in ("created_at", "-created_at", "name", "-name", "pass_rate", "-latency"):
        assert f"'{allowed}'" in error["message"], error["message"]


def test_detail_lists_the_runs(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    exp = http.post("/api/v1/experiments/", json=prompt_body(qa, fake, trials=2)).json()
    pending = http.get(f"/api/v1/experiments/{exp['id']}/").json()
    assert [r["status"] for r in pending["runs"]] == ["pending"] * 6
    assert pending["runs_next_cursor"] is None
    http.post(f"/api/v1/experiments/{exp['id']}/start/")
    run_worker(store, api_settings)

    detail = http.get(f"/api/v1/experiments/{exp['id']}/").json()
    runs = detail["runs"]
    results = http.get(f"/api/v1/experiments/{exp['id']}/results/").json()["results"]
    assert runs == results
    assert [(r["item_input"]["query"], r["repetition"]) for r in runs] == [
        (q, rep) for q in ("reset password", "pricing plans", "contact support") for rep in (0, 1)
    ]
    assert all(r["status"] == "completed" and r["output"].startswith("echo") for r in runs)
    assert all(r["dataset_item_id"] and r["scores"] for r in runs)

    paged: list[dict[str, Any]] = []
    params: dict[str, Any] = {"runs_limit": 4}
    while True:
        page = http.get(f"/api/v1/experiments/{exp['id']}/", params=params).json()
        paged += page["runs"]
        if page["runs_next_cursor"] is None:
            break
        params["runs_cursor"] = page["runs_next_cursor"]
    assert paged == runs
    lean = http.get(f"/api/v1/experiments/{exp['id']}/", params={"runs_limit": 0}).json()
    assert (lean["runs"], lean["summary"]["completed"]) == ([], 6)
    bad = http.get(f"/api/v1/experiments/{exp['id']}/", params={"runs_cursor": "!!!"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "runs_cursor"


def test_experiment_without_config_awaits_uploaded_outputs(
    http: TestClient, store: Store, api_settings: Settings, qa: str
) -> None:
    body = {
        "name": "my pipeline on Support QA",
        "dataset_id": qa,
        "metadata": {"hypothesis": "the pipeline is good enough"},
    }
    created = http.post("/api/v1/experiments/", json=body)
    assert created.status_code == 201, created.text
    exp = created.json()
    assert (exp["status"], exp["external"], exp["config"]) == ("pending", True, {})
    assert exp["counts"] == {"pending": 3}
    assert exp["evaluator_ids"] == []
    refused = http.post(f"/api/v1/experiments/{exp['id']}/start/")
    assert refused.status_code == 409
    assert f"/dataset-runs/{exp['id']}/items/" in refused.json()["error"]["message"]
    assert run_worker(store, api_settings).runs == 0  # no worker takes it

    uploaded = http.post(
        f"/api/v1/dataset-runs/{exp['id']}/items/",
        json={"items": [{"input": {"query": "reset password"}, "output": "Go to Settings"}]},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["created"], uploaded.json()["updated"]) == (0, 1)
    detail = http.get(f"/api/v1/experiments/{exp['id']}/").json()
    assert detail["status"] == "completed"
    assert detail["counts"] == {"completed": 1, "pending": 2}
    assert [r["output"] for r in detail["runs"]] == ["Go to Settings", None, None]

    for field, value in (("evaluator_ids", ["x"]), ("scorers", [{"name": "contains"}]),
                         ("trials", 2)):  # fmt: skip
        response = http.post("/api/v1/experiments/", json={**body, field: value})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == field
    null_config = http.post("/api/v1/experiments/", json={**body, "config": None})
    assert null_config.status_code == 201
    empty = http.post("/api/v1/experiments/", json={**body, "config": {}})
    assert empty.status_code == 422  # an empty config is a config naming no target
    assert len(http.get("/api/v1/experiments/").json()["items"]) == 2
