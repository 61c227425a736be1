"""Uploads that used to be refused forever: trials, and dataset items with equal inputs.

The journal sends each result with its id and repetition; the server gives each trial, and
each of several items with one input, its own result, and a replay of a stored batch changes
nothing (not even the recorded times).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import assay
from assay.client import Assay
from assay.client.journal import Journal, send
from assay.config import Settings
from assay.domain import DatasetCreate, DatasetRunCreate, ItemCreate, RunItemCreate
from assay.store import Store
from assay.store.dataset_runs import DatasetRuns
from tests.integration.conftest import BASE


def answer(x: dict[str, Any]) -> str:
    return str(x["q"]).upper()


def exported(client: Assay, run_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(r) for r in client.experiments.export(run_id).splitlines()]


def test_trials_upload_each_repetition(app: FastAPI, tmp_path: Path) -> None:
    data = [{"input": {"q": f"q{n}"}, "expected_output": f"Q{n}"} for n in range(3)]
    with TestClient(app, base_url=BASE) as http:
        client = Assay(base_url=BASE, http_client=http, max_retries=0)
        result = assay.evaluate(
            data,
            answer,
            ["exact_match"],
            trials=2,
            settings=Settings(home=tmp_path / "local"),
            server=client,
        )
        assert result.upload is not None
        assert result.upload.error is None
        assert result.upload.done
        rows = exported(client, result.id)
        assert len(rows) == 6
        assert len({(r["item_id"], r["repetition"]) for r in rows}) == 6
        assert all(r["item_id"] for r in rows)


def test_items_with_equal_inputs_upload_each(app: FastAPI, tmp_path: Path) -> None:
    data = [
        {"input": {"q": "same"}, "expected_output": "SAME"},
        {"input": {"q": "same"}, "expected_output": "other"},
        {"input": {"q": "single"}, "expected_output": "SINGLE"},
    ]
    with TestClient(app, base_url=BASE) as http:
        client = Assay(base_url=BASE, http_client=http, max_retries=0)
        result = assay.evaluate(
            data, answer, ["exact_match"], settings=Settings(home=tmp_path / "l"), server=client
        )
        assert result.upload is not None
        assert result.upload.error is None
        assert result.upload.done
        rows = exported(client, result.id)
        assert len(rows) == 3
        assert len({r["item_id"] for r in rows}) == 3  # each output on its own item


def test_a_replayed_batch_keeps_the_recorded_times(app: FastAPI, tmp_path: Path) -> None:
    with TestClient(app, base_url=BASE) as http:
        client = Assay(base_url=BASE, http_client=http, max_retries=0)
        result = assay.evaluate(
            [{"input": {"q": "a"}}], answer, settings=Settings(home=tmp_path / "l"), server=client
        )
        assert result.upload is not None
        assert result.upload.done
        before = exported(client, result.id)
        journal = Journal(tmp_path / "l" / "uploads" / f"{result.id}.jsonl")
        journal.acked.clear()  # as if the answer to the batch had been lost
        assert send(client, journal).done
        assert exported(client, result.id) == before


def test_an_upload_without_ids_for_trials_of_one_item(store: Store) -> None:
    dataset = store.datasets.create(DatasetCreate(name="d"))
    store.datasets.add_items(dataset.id, [ItemCreate(input={"q": "x"})] * 2)
    run = store.dataset_runs.create(DatasetRunCreate(dataset_name="d", name="r"))
    items = [
        RunItemCreate(input={"q": "x"}, output=f"o{rep}-{k}", repetition=rep)
        for k in range(2)
        for rep in range(2)
    ]
    written = store.dataset_runs.add_items(run.id, items)
    assert written.created == 4
    again = store.dataset_runs.add_items(run.id, items)  # replaced, not refused
    assert (again.created, again.updated) == (0, 4)
    assert again.result_ids == written.result_ids


def test_matching_by_input_reads_only_the_uploaded_items(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = store.datasets.create(DatasetCreate(name="big"))
    store.datasets.add_items(dataset.id, [ItemCreate(input={"q": f"q{n}"}) for n in range(2000)])
    run = store.dataset_runs.create(DatasetRunCreate(dataset_name="big", name="r"))
    read: list[int] = []
    original = DatasetRuns._items

    def counting(self: DatasetRuns, *args: Any) -> Any:
        found = original(self, *args)
        read.append(len(found.by_id))
        return found

    monkeypatch.setattr(DatasetRuns, "_items", counting)
    items = [RunItemCreate(input={"q": f"q{n * 37}"}, output="o") for n in range(10)]
    assert store.dataset_runs.add_items(run.id, items).created == 10
    assert read == [10]  # the ten items named, not the dataset's 2,000
