"""Client-chosen ids: identical creates (sequential or racing) return the existing object, and
an id another project holds is refused exactly like a malformed id."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import (
    ApiKeyCreated,
    DatasetCreate,
    DatasetRunCreate,
    ItemCreate,
    KeyRole,
    ObservationCreate,
    RunItemCreate,
    TraceCreate,
)
from assay.store import Store, open_store

BASE = "http://testserver"
T = TypeVar("T")


def basic(key: ApiKeyCreated) -> dict[str, str]:
    token = base64.b64encode(f"{key.key.public_key}:{key.secret_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def keyed(keyed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(keyed_app, base_url=BASE) as http:
        yield http


@pytest.fixture
def other_store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings, project=f"other-{uuid.uuid4().hex[:12]}")
    yield s
    s.close()


def race(call: Callable[[], T], n: int = 2) -> list[T]:
    """Run ``call`` in ``n`` threads released together; their results (or their error)."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = call()
        except Exception as exc:  # reported to the test below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in out if isinstance(r, Exception)]
    if errors:
        raise errors[0]
    return out


# ---------------------------------------------------------------------- identical creates
def test_identical_dataset_creates_return_the_existing_one(keyed: TestClient, store: Store) -> None:
    key = store.keys.create()
    body = {"name": f"d-{uuid.uuid4().hex}", "description": "same", "tags": ["a"]}
    first = keyed.post("/api/v1/datasets/", headers=basic(key), json=body)
    again = keyed.post("/api/v1/datasets/", headers=basic(key), json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = keyed.post("/api/v1/datasets/", headers=basic(key), json={**body, "tags": ["b"]})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"


def test_racing_identical_dataset_creates_make_one(store: Store) -> None:
    data = DatasetCreate(name=f"race-{uuid.uuid4().hex}", metadata={"k": 1})
    results = race(lambda: store.datasets.create_once(data), n=4)
    assert len({dataset.id for dataset, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]


def test_identical_endpoint_creates_return_the_existing_one(
    keyed: TestClient, store: Store
) -> None:
    key = store.keys.create()
    name = f"ep-{uuid.uuid4().hex}"
    body = {"name": name, "url": "https://93.184.215.14/", "headers": {"X": "1"}}
    first = keyed.post("/api/v1/endpoints/", headers=basic(key), json=body)
    again = keyed.post("/api/v1/endpoints/", headers=basic(key), json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    changed = {**body, "url": "https://93.184.215.15/"}
    assert keyed.post("/api/v1/endpoints/", headers=basic(key), json=changed).status_code == 409
    # With secret headers an identical create is still a conflict: a 200 would confirm a guess.
    secret = {**body, "name": f"s-{uuid.uuid4().hex}", "secret_headers": {"Authorization": "x"}}
    assert keyed.post("/api/v1/endpoints/", headers=basic(key), json=secret).status_code == 201
    assert keyed.post("/api/v1/endpoints/", headers=basic(key), json=secret).status_code == 409


def test_identical_dataset_run_creates_return_the_existing_one(
    keyed: TestClient, store: Store
) -> None:
    key = store.keys.create()
    dataset = store.datasets.create(DatasetCreate(name=f"d-{uuid.uuid4().hex}"))
    body = {"datasetName": dataset.name, "id": str(uuid.uuid4()), "name": "r", "tag": "t"}
    first = keyed.post("/api/v1/dataset-runs/", headers=basic(key), json=body)
    again = keyed.post("/api/v1/dataset-runs/", headers=basic(key), json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] == body["id"]
    renamed = keyed.post("/api/v1/dataset-runs/", headers=basic(key), json={**body, "name": "x"})
    assert renamed.status_code == 409


def test_racing_identical_dataset_runs_make_one(store: Store) -> None:
    dataset = store.datasets.create(DatasetCreate(name=f"d-{uuid.uuid4().hex}"))
    data = DatasetRunCreate(dataset_name=dataset.name, id=str(uuid.uuid4()), name="r")
    results = race(lambda: store.dataset_runs.create_once(data), n=3)
    assert {run.id for run, _ in results} == {data.id}
    assert sorted(created for _, created in results) == [False, False, True]


def test_racing_trace_ingests_of_one_id_both_succeed(store: Store) -> None:
    trace_id = f"t-{uuid.uuid4().hex}"
    batch = [TraceCreate(id=trace_id, input="q", observations=[ObservationCreate(id="o-1")])]
    results = race(lambda: store.traces.ingest(batch), n=3)
    assert sum(r.created for r in results) == 1
    assert sum(r.updated for r in results) == 2
    assert [o.id for o in store.traces.get(trace_id).observations] == ["o-1"]


# ---------------------------------------------------------------------- existence oracle
def _refusal(response: Any, sent: str) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"].replace(repr(sent), "<id>")


def test_another_projects_run_and_result_ids_are_refused_like_malformed_ones(
    keyed: TestClient, store: Store, other_store: Store
) -> None:
    # Project A holds a run id and a result id.
    a_set = store.datasets.create(DatasetCreate(name="shared-name"))
    store.datasets.add_item(a_set.id, ItemCreate(input="q"))
    run_id, result_id = str(uuid.uuid4()), str(uuid.uuid4())
    store.dataset_runs.create(DatasetRunCreate(dataset_name=a_set.name, id=run_id, name="a"))
    store.dataset_runs.add_items(run_id, [RunItemCreate(id=result_id, input="q", output="a")])

    # Project B, with an admin key, tries the same ids.
    b_key = other_store.keys.create(role=KeyRole.admin)
    b_set = other_store.datasets.create(DatasetCreate(name="shared-name"))
    taken = keyed.post(
        "/api/v1/dataset-runs/",
        headers=basic(b_key),
        json={"datasetName": b_set.name, "id": run_id, "name": "b"},
    )
    malformed = keyed.post(
        "/api/v1/dataset-runs/",
        headers=basic(b_key),
        json={"datasetName": b_set.name, "id": "not an id!", "name": "b"},
    )
    assert taken.status_code == 422
    assert _refusal(taken, run_id) == _refusal(malformed, "not an id!")
    assert run_id not in taken.text.replace(repr(run_id), "")

    b_run = keyed.post(
        "/api/v1/dataset-runs/",
        headers=basic(b_key),
        json={"datasetName": b_set.name, "name": "b"},
    ).json()
    url = f"/api/v1/dataset-runs/{b_run['id']}/items/"
    taken = keyed.post(url, headers=basic(b_key), json={"items": [{"id": result_id, "input": "q"}]})
    malformed = keyed.post(url, headers=basic(b_key), json={"items": [{"id": "a/b", "input": "q"}]})
    assert taken.status_code == 422
    assert _refusal(taken, result_id) == _refusal(malformed, "a/b")
    assert taken.json()["error"]["details"] == malformed.json()["error"]["details"]
    # Nothing was written to B's run, and A's result is untouched.
    assert other_store.dataset_runs.get(b_run["id"]).item_count == 0
    assert store.dataset_runs.get(run_id).item_count == 1
    # A fresh id works in B.
    fresh = {"items": [{"id": str(uuid.uuid4()), "input": "q", "output": "b"}]}
    written = keyed.post(url, headers=basic(b_key), json=fresh)
    assert written.status_code == 201, written.text


def test_own_projects_other_runs_ids_are_a_conflict(store: Store) -> None:
    from assay.errors import Conflict

    dataset = store.datasets.create(DatasetCreate(name="d"))
    first = store.dataset_runs.create(DatasetRunCreate(dataset_name="d", name="one"))
    second = store.dataset_runs.create(DatasetRunCreate(dataset_name="d", name="two"))
    rid = str(uuid.uuid4())
    store.dataset_runs.add_items(first.id, [RunItemCreate(id=rid, input="q", output="x")])
    with pytest.raises(Conflict, match=rid):
        store.dataset_runs.add_items(second.id, [RunItemCreate(id=rid, input="q", output="y")])
    assert dataset.name == "d"
