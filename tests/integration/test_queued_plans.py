"""A run queued through the API is planned without result rows: the experiment row alone.

Until a worker has run it, its planned results are counted and listed from the plan (pending);
the worker derives what to run from the plan and inserts each result whole as it finishes, and
a worker taking over from a dead one writes each result once."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from assay.config import Settings
from assay.domain import (
    DatasetCreate,
    ExperimentCreate,
    ExperimentStatus,
    ItemCreate,
    ItemUpdate,
    ResultStatus,
    WorkItem,
)
from assay.errors import InvalidInput
from assay.store import Completion, Store
from assay.store.lease import LeaseLost
from assay.store.queue import RunQueue
from assay.store.sql import encode_cursor
from assay.store.tables import experiments, results
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import prompt_body, run_worker

N = 23
DEAD = f"{socket.gethostname()}:999999999:gone"  # a worker on this host whose process is gone


def _items(store: Store, n: int = N) -> str:
    dataset = store.datasets.create(DatasetCreate(name="many"))
    queries = [f"question {i}" for i in range(n)]
    store.datasets.add_items(dataset.id, [ItemCreate(input={"query": q}) for q in queries])
    return dataset.id


def _rows(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    with store.db.read() as conn:
        query = (
            select(results.c.id, results.c.item_id, results.c.repetition, results.c.status)
            .where(results.c.experiment_id == run_id)
            .order_by(results.c.id)
        )
        return [tuple(r) for r in conn.execute(query)]


def _unwritten_base(store: Store, run_id: str) -> str | None:
    with store.db.read() as conn:
        query = select(experiments.c.unwritten_base).where(experiments.c.id == run_id)
        return conn.execute(query).scalar_one()  # type: ignore[no-any-return]


def _listing(http: TestClient, run_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every result of the results API, page by page."""
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 10, "include_summary": False, **params}
    while True:
        page = http.get(f"/api/v1/experiments/{run_id}/results/", params=query).json()
        out += page["results"]
        if page["next_cursor"] is None:
            return out
        query["cursor"] = page["next_cursor"]


def _done(w: WorkItem, output: str) -> Completion:
    return Completion(w.result_id, "completed", output=output, attempts=1, item=w)


def test_a_queued_run_writes_no_rows_yet_counts_and_lists_each_planned_result(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    dataset_id = _items(store)
    created = http.post("/api/v1/experiments/", json=prompt_body(dataset_id, fake, trials=2))
    assert created.status_code == 201, created.text
    run = created.json()
    planned = 2 * N
    assert _rows(store, run["id"]) == []
    assert run["counts"] == {"pending": planned}
    started = http.post(f"/api/v1/experiments/{run['id']}/start/").json()
    assert started["runs_created"] == planned
    summary = http.get(f"/api/v1/experiments/{run['id']}/").json()["summary"]
    assert (summary["total"], summary["pending"], summary["completed"]) == (planned, planned, 0)

    first = http.get(f"/api/v1/experiments/{run['id']}/results/", params={"limit": 10}).json()
    assert first["total"] == planned
    listed = _listing(http, run["id"])
    assert [(r["item_input"]["query"], r["repetition"]) for r in listed] == [
        (f"question {i}", rep) for i in range(N) for rep in (0, 1)
    ]
    assert {r["status"] for r in listed} == {"pending"}
    assert [r["id"] for r in listed] == sorted(r["id"] for r in listed)
    assert _listing(http, run["id"], status="pending") == listed
    completed = {"status": "completed", "limit": 10}
    none = http.get(f"/api/v1/experiments/{run['id']}/results/", params=completed).json()
    assert (none["results"], none["total"]) == ([], 0)
    detail = http.get(f"/api/v1/experiments/{run['id']}/", params={"runs_limit": 7}).json()
    assert detail["runs"] == listed[:7]
    assert store.dataset_runs.get(run["id"]).item_count == planned
    assert _rows(store, run["id"]) == []  # reading wrote nothing

    assert run_worker(store, api_settings).runs == 1
    assert len(fake.requests) == planned
    rows = _rows(store, run["id"])
    assert [r[0] for r in rows] == [r["id"] for r in listed]  # the plan's own ids, once each
    assert {r[3] for r in rows} == {"completed"}
    assert _unwritten_base(store, run["id"]) is None
    done = _listing(http, run["id"])
    assert [(r["id"], r["status"]) for r in done] == [(r["id"], "completed") for r in listed]


def test_the_run_table_lists_stored_results_among_the_derived_ones(store: Store) -> None:
    _items(store, 9)
    queued = store.experiments.create_queued(ExperimentCreate(name="r", dataset="many"))
    RunQueue(store.db).start(store.project_id, queued.id)
    _, lease = store.experiments.claim_lease(queued.id, "w:1:x")
    work = list(store.experiments.unfinished(queued.id)[1])
    ran = [work[k] for k in (1, 4, 5)]
    batch = [_done(w, f"out {w.input['query']}") for w in ran]
    assert store.experiments.record(queued.id, batch, lease=lease) == 3
    ids = [w.result_id for w in work]
    states = ["completed" if k in (1, 4, 5) else "pending" for k in range(9)]
    assert store.experiments.counts([queued.id])[queued.id] == {"completed": 3, "pending": 6}

    def table(**params: Any) -> Any:
        return store.experiments.result_table(queued.id, limit=4, **params)

    pages = [table()]
    while pages[-1].next_cursor:
        pages.append(table(cursor=pages[-1].next_cursor))
    assert pages[0].total == 9
    shown = [r for p in pages for r in p.results]
    assert [(r.id, r.status.value) for r in shown] == list(zip(ids, states, strict=True))
    assert shown[1].output == "out question 1"
    back = table(cursor=pages[2].prev_cursor)
    assert [r.id for r in back.results] == [r.id for r in pages[1].results]
    assert back.prev_cursor is not None
    assert [r.id for r in table(cursor=back.prev_cursor).results] == ids[:4]
    newest = table(sort="-position")
    assert [r.id for r in newest.results] == ids[::-1][:4]
    assert [r.id for r in table(sort="-position", cursor=newest.next_cursor).results] == (
        ids[::-1][4:8]
    )
    pending = store.experiments.results(queued.id, status=ResultStatus.pending, limit=100)
    waiting = [i for i, state in zip(ids, states, strict=True) if state == "pending"]
    assert [r.id for r in pending.results] == waiting
    assert pending.total == 6
    before, beyond = "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"
    assert len(store.experiments.results(queued.id, cursor=encode_cursor(before)).results) == 9
    assert store.experiments.results(queued.id, cursor=encode_cursor(beyond)).results == []
    with pytest.raises(InvalidInput):
        store.experiments.results(queued.id, cursor=encode_cursor("not an id"))
    # Sorted by a value or searched, the results without a row are left out until they finish.
    assert [r.id for r in table(sort="latency").results] == [w.result_id for w in ran]
    assert [r.id for r in table(search="question 4").results] == [ids[4]]


def test_a_worker_taking_over_from_a_dead_one_writes_each_result_once(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    dataset_id = _items(store)
    run = http.post("/api/v1/experiments/", json=prompt_body(dataset_id, fake)).json()
    http.post(f"/api/v1/experiments/{run['id']}/start/")
    claim = RunQueue(store.db).claim_next(DEAD, stale_after=30, project_ids=[store.project_id])
    assert claim is not None
    assert claim.experiment_id == run["id"]
    _, lease = store.experiments.claim_lease(run["id"], DEAD)
    _, taken = store.experiments.unfinished(run["id"])
    assert len(taken) == N
    work = list(taken)
    assert len(work) == N
    store.experiments.record(run["id"], [_done(w, "first worker") for w in work[:4]], lease=lease)
    assert store.experiments.get(run["id"]).status is ExperimentStatus.interrupted

    assert run_worker(store, api_settings).runs == 1
    assert len(fake.requests) == N - 4  # what the dead worker finished is not run again
    rows = _rows(store, run["id"])
    assert [r[0] for r in rows] == [w.result_id for w in work]
    assert len({(r[1], r[2]) for r in rows}) == N
    assert {r[3] for r in rows} == {"completed"}
    outputs = [r.output for r in store.experiments.iter_results(run["id"])]
    assert outputs[:4] == ["first worker"] * 4
    assert all(o.startswith("echo") for o in outputs[4:])
    # A late batch of the dead worker is refused: its lease went with the takeover.
    with pytest.raises(LeaseLost):
        store.experiments.record(run["id"], [_done(work[5], "late")], lease=lease)
    assert store.experiments.result(run["id"], work[5].result_id).output != "late"


def test_a_queued_run_keeps_its_dataset_version_and_survives_the_datasets_deletion(
    http: TestClient, store: Store, api_settings: Settings, qa: str, fake: FakeProvider
) -> None:
    dataset_id = _items(store, 5)
    first = http.post("/api/v1/experiments/", json=prompt_body(dataset_id, fake)).json()
    http.post(f"/api/v1/experiments/{first['id']}/start/")
    items = store.datasets.list_items(dataset_id, limit=10).items
    store.datasets.update_item(dataset_id, items[0].id, ItemUpdate(input={"query": "edited"}))
    store.datasets.delete_item(dataset_id, items[1].id)
    store.datasets.add_items(dataset_id, [ItemCreate(input={"query": "added"})])
    run_worker(store, api_settings)
    asked = [r.body["messages"][-1]["content"] for r in fake.requests]
    assert sorted(asked) == sorted(f"Answer: question {i}" for i in range(5))

    second = http.post("/api/v1/experiments/", json=prompt_body(dataset_id, fake)).json()
    http.post(f"/api/v1/experiments/{second['id']}/start/")
    store.datasets.delete(dataset_id)  # the plan cannot be derived without its items
    assert _unwritten_base(store, second["id"]) is None
    assert [r[3] for r in _rows(store, second["id"])] == ["pending"] * 5
    run_worker(store, api_settings)
    assert [r[3] for r in _rows(store, second["id"])] == ["completed"] * 5


def test_cancelling_and_deleting_a_queued_run(
    http: TestClient, store: Store, qa: str, fake: FakeProvider
) -> None:
    dataset_id = _items(store)
    queued = http.post("/api/v1/experiments/", json=prompt_body(dataset_id, fake)).json()
    http.post(f"/api/v1/experiments/{queued['id']}/start/")
    cancelled = http.post(f"/api/v1/experiments/{queued['id']}/cancel/").json()
    assert (cancelled["status"], cancelled["counts"]) == ("cancelled", {"cancelled": N})
    assert [r[3] for r in _rows(store, queued["id"])] == ["cancelled"] * N
    assert _unwritten_base(store, queued["id"]) is None

    pending = http.post("/api/v1/experiments/", json=prompt_body(dataset_id, fake)).json()
    assert http.delete(f"/api/v1/experiments/{pending['id']}/").status_code == 204
    with store.db.read() as conn:
        left = select(func.count()).where(results.c.experiment_id == pending["id"])
        assert conn.execute(left).scalar_one() == 0
    assert http.get(f"/api/v1/experiments/{pending['id']}/").status_code == 404
    assert fake.requests == []


def test_a_run_awaiting_uploads_keeps_a_pending_row_per_item(
    http: TestClient, store: Store, qa: str
) -> None:
    body = {"name": "uploads", "dataset_id": qa}
    run = http.post("/api/v1/experiments/", json=body).json()
    assert [r[3] for r in _rows(store, run["id"])] == ["pending"] * 3
    assert _unwritten_base(store, run["id"]) is None
