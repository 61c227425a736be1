"""Uploaded runs scored in the background by the dataset's attached evaluators, on both
databases: queued with the upload, uploaded scores kept, exactly once with racing workers,
expired and dead claims, the opt-out, and a direct scoring call closing the queue."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from assay.client import Assay
from assay.config import Settings
from assay.domain import EvaluatorCreate, RunScoreRequest, ScoreCreate
from assay.scoring import registry
from assay.service.scoring import score_run_now
from assay.service.upload_scoring import UploadScorer
from assay.store import Store
from assay.store.tables import upload_scoring
from assay.store.upload_scoring import UploadScoringQueue

CALLS: Counter[str] = Counter()
_LOCK = threading.Lock()


def _counting(**_: Any) -> Any:
    class Counting:
        """Passes outputs that mention Settings, and counts what it scored."""

        name = "counted"

        def score(self, sample: Any) -> Any:
            with _LOCK:
                CALLS[str(sample.output)] += 1
            return "Settings" in str(sample.output)

    return Counting()


def _explodes(**_: Any) -> Any:
    class Explodes:
        name = "explodes"

        def score(self, sample: Any) -> Any:
            raise RuntimeError("the scorer broke")

    return Explodes()


@pytest.fixture(autouse=True)
def _test_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    """This module's scorers, registered only while its tests run."""
    monkeypatch.setitem(registry._REGISTRY, "test_upload_counting", _counting)
    monkeypatch.setitem(registry._REGISTRY, "test_upload_explodes", _explodes)


def _attach(store: Store, dataset: str, name: str, kind: str, **fields: Any) -> None:
    store.evaluators.create(EvaluatorCreate(name=name, kind=kind, **fields))
    store.evaluators.attach(dataset, name)


def _drain(settings: Settings, store: Store, worker: str = "host:1:w") -> int:
    scorer = UploadScorer(settings, store.db, worker=worker, project_ids=[store.project_id])
    jobs = 0
    while (done := asyncio.run(scorer.run_once(limit=7))).jobs:
        jobs += done.jobs
    return jobs


def _scores(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """Each result's evaluator scores by output, then by name."""
    out: dict[str, dict[str, Any]] = {}
    for r in store.experiments.iter_results(run_id):
        out[str(r.output)] = {s.name: s for s in r.scores}
    return out


def _upload(client: Assay, run_id: str, n: int, **kw: Any) -> Any:
    items = [{"input": {"q": i}, "output": f"answer {i}" + " Settings" * (i % 2)} for i in range(n)]
    return client.dataset_runs.create_items(dataset_run_id=run_id, items=items, **kw)


def test_uploaded_outputs_are_scored_in_the_background(
    client: Assay, http: TestClient, store: Store, settings: Settings, qa: str
) -> None:
    _attach(store, qa, "mentions", "contains", params={"value": "Settings"})
    _attach(store, qa, "short", "length", params={}, threshold={"lte": 20})
    run = client.dataset_runs.create(dataset_name="Support Agent QA", name="pipeline")
    items = [
        {"input": {"query": "reset password"}, "output": "Go to Settings"},
        {  # the uploader scored "mentions" itself: kept, not recomputed
            "input": {"query": "pricing plans"},
            "output": "Free, Pro and Enterprise, see the pricing page",
            "scores": [{"name": "mentions", "value": 0.25, "reason": "mine"}],
        },
        {"input": {"query": "contact support"}, "output": None, "error": "timeout"},
        {"id": str(uuid.uuid4()), "input": {"query": "not in the dataset"}, "output": "Settings"},
    ]
    added = client.dataset_runs.create_items(dataset_run_id=run.id, items=items)
    assert added.queued == 5  # 3 completed outputs by 2 evaluators, less the uploaded score
    assert client.dataset_runs.get(run.id).scoring.model_dump() == {
        "pending": 5,
        "done": 0,
        "pending_results": 3,
    }
    assert http.get(f"/api/v1/dataset-runs/{run.id}/").json()["scoring"]["pending"] == 5

    assert _drain(settings, store) == 5
    assert client.dataset_runs.get(run.id).scoring.model_dump() == {
        "pending": 0,
        "done": 5,
        "pending_results": 0,
    }
    scores = _scores(store, run.id)
    settings_answer = scores["Go to Settings"]
    assert settings_answer["mentions"].passed is True
    assert settings_answer["short"].passed is True
    assert settings_answer["mentions"].evaluator_version == 1
    pricing = scores["Free, Pro and Enterprise, see the pricing page"]
    assert (pricing["mentions"].numeric_value, pricing["mentions"].reason) == (0.25, "mine")
    assert pricing["short"].passed is False
    assert scores["None"] == {}  # a failed output is not scored
    assert scores["Settings"]["mentions"].passed is True  # matched no item: scored all the same
    summary = client.experiments.results(run.id).summary
    assert summary is not None
    by_name = {s.name: s for s in summary.scores}
    assert by_name["short"].count == 3

    # The same batch again (a retry): nothing new is queued, nothing is scored twice.
    again = client.dataset_runs.create_items(dataset_run_id=run.id, items=items)
    assert (again.queued, again.updated) == (0, 4)
    assert _drain(settings, store) == 0
    assert _scores(store, run.id)["Go to Settings"]["mentions"].id == settings_answer["mentions"].id


def test_csv_upload_queues_unless_told_not_to(
    http: TestClient, store: Store, settings: Settings, qa: str
) -> None:
    _attach(store, qa, "mentions", "contains", params={"value": "Settings"})
    csv = b'input,output\n"{""query"": ""reset password""}",Open Settings\n'
    params = {"dataset_name": "Support Agent QA", "tag": "quiet", "score": "false"}
    quiet = http.post("/api/v1/dataset-runs/upload/", params=params, content=csv)
    assert quiet.status_code == 200, quiet.text
    assert quiet.json()["written"]["queued"] == 0
    assert quiet.json()["dataset_run"]["scoring"]["pending"] == 0
    params = {"dataset_name": "Support Agent QA", "tag": "scored"}
    scored = http.post("/api/v1/dataset-runs/upload/", params=params, content=csv).json()
    assert scored["dataset_run"]["scoring"]["pending"] == 1
    assert _drain(settings, store) == 1
    run_id = scored["dataset_run"]["id"]
    assert _scores(store, run_id)["Open Settings"]["mentions"].passed is True
    assert _scores(store, quiet.json()["dataset_run"]["id"])["Open Settings"] == {}


def test_racing_workers_score_each_result_once(
    client: Assay, store: Store, settings: Settings, qa: str
) -> None:
    _attach(store, qa, "counted", "test_upload_counting")
    _attach(store, qa, "short", "length", params={}, threshold={"lte": 20})
    run = client.dataset_runs.create(dataset_name="Support Agent QA", name="race")
    assert _upload(client, run.id, 30).queued == 60
    CALLS.clear()
    start = threading.Barrier(3)
    taken: list[int] = []

    def work(name: str) -> None:
        scorer = UploadScorer(settings, store.db, worker=name, project_ids=[store.project_id])
        start.wait()
        while (done := asyncio.run(scorer.run_once(limit=7))).jobs:
            taken.append(done.jobs)

    threads = [threading.Thread(target=work, args=(f"host:1:{n}",)) for n in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(taken) == 60  # every job taken by exactly one worker
    assert sorted(CALLS.values()) == [1] * 30  # every output scored once by the counter
    scores = _scores(store, run.id)
    assert all(sorted(s) == ["counted", "short"] for s in scores.values())
    assert client.dataset_runs.get(run.id).scoring.pending == 0


def test_a_late_finish_stores_nothing_and_dead_claims_come_back(
    client: Assay, store: Store, settings: Settings, qa: str
) -> None:
    _attach(store, qa, "mentions", "contains", params={"value": "Settings"})
    run = client.dataset_runs.create(dataset_name="Support Agent QA", name="late")
    _upload(client, run.id, 2)
    queue = UploadScoringQueue(store.db)
    dead = f"{socket.gethostname()}:999999999:gone"
    first = queue.claim(dead, lease_s=3600, project_ids=[store.project_id])
    assert len(first) == 2
    assert _drain(settings, store) == 2  # unexpired, but its process is gone: taken back
    late = {(j.result_id, j.evaluator_id): [ScoreCreate(name="mentions", value=0.5)] for j in first}
    results: list[tuple[int, list[str]]] = []
    gate = threading.Barrier(3)

    def finish() -> None:
        gate.wait()
        results.append(queue.finish(first, late))

    threads = [threading.Thread(target=finish) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(0, [])] * 3  # done before: the late scores are not stored
    assert all(s["mentions"].numeric_value != 0.5 for s in _scores(store, run.id).values())

    _upload(client, run.id, 2)  # two more results (inputs that match no item)
    assert len(queue.claim("elsewhere:1:x", lease_s=3600, project_ids=[store.project_id])) == 2
    assert _drain(settings, store) == 0  # another host's live claim is respected
    with store.db.write() as conn:  # its lease runs out
        conn.execute(update(upload_scoring).values(claimed_until=None))
    assert _drain(settings, store) == 2


def test_failures_opt_out_and_a_direct_scoring_call(
    client: Assay, store: Store, settings: Settings, qa: str
) -> None:
    _attach(store, qa, "explodes", "test_upload_explodes")
    _attach(store, qa, "mentions", "contains", params={"value": "Settings"})
    run = client.dataset_runs.create(dataset_name="Support Agent QA", name="mixed")
    assert _upload(client, run.id, 2, score=False).queued == 0
    assert client.dataset_runs.get(run.id).scoring.pending == 0
    assert _upload(client, run.id, 3).queued == 6
    assert _drain(settings, store) == 6
    for scores in _scores(store, run.id).values():
        assert scores["explodes"].numeric_value is None
        assert (scores["explodes"].reason or "").startswith("scorer error:")
        assert "the scorer broke" in (scores["explodes"].reason or "")

    other = client.dataset_runs.create(dataset_name="Support Agent QA", name="direct")
    _upload(client, other.id, 3)
    report = score_run_now(store, other.id, RunScoreRequest(evaluators=["mentions"]))
    assert report.results == 3
    assert client.dataset_runs.get(other.id).scoring.model_dump() == {
        "pending": 3,
        "done": 3,
        "pending_results": 3,
    }
    assert _drain(settings, store) == 3  # only the evaluator the call did not apply
    assert client.dataset_runs.get(other.id).scoring.pending == 0


def test_the_run_page_says_scoring_until_done(
    client: Assay, http: TestClient, store: Store, settings: Settings, qa: str
) -> None:
    _attach(store, qa, "mentions", "contains", params={"value": "Settings"})
    _attach(store, qa, "short", "length", params={}, threshold={"lte": 20})
    run = client.dataset_runs.create(dataset_name="Support Agent QA", name="page")
    _upload(client, run.id, 3)
    page = http.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert "scoring 3 results…" in page.text
    assert f'hx-get="/runs/{run.id}/scoring"' in page.text
    fragment = http.get(f"/runs/{run.id}/scoring", headers={"HX-Request": "true"})
    assert "scoring 3 results…" in fragment.text
    assert "HX-Refresh" not in fragment.headers
    _drain(settings, store)
    done = http.get(f"/runs/{run.id}/scoring", headers={"HX-Request": "true"})
    assert done.headers["HX-Refresh"] == "true"  # the page reloads with the new figures
    assert "scoring" not in done.text.replace('id="run-scoring"', "")
    page = http.get(f"/runs/{run.id}")
    assert "results…" not in page.text
    assert "mentions" in page.text
    assert "short" in page.text
