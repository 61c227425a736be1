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
from assay.server.worker import Worker
from assay.store import Store
from tests.fakes.provider import FakeProvider
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
    first = results["results"][0]
    assert first["output"] == "echo: Answer: reset password"
    assert first["item_input"] == {"query": "reset password"}
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
        with TestClient(app, base_url="http://testserver") as http:
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
