"""A new inline list's dataset is written by its run, in the plan's transaction, while the calls
start: the run and the dataset are the same as when the list is saved first, a failed write
stores neither, and a long list is still saved first."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import assay
import assay.evaluation.datasets as inline_data
from assay.config import Settings
from assay.domain import DatasetCreate, Selection
from assay.engine import RunOptions
from assay.errors import Conflict, InvalidInput, NotFound
from assay.evaluation.datasets import dataset_ref
from assay.evaluation.run import _prepare
from assay.scorers import exact_match
from assay.store import Store


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "input": {"q": f"q{i}", "n": [i, {"deep": i}]},
            "expected_output": f"q{i}",
            "context": [f"c{i}"] if i % 2 else None,
            "metadata": {"i": i} if i % 3 else {},
            "tags": ["odd"] if i % 2 else [],
        }
        for i in range(n)
    ]


def _task(x: dict[str, Any]) -> str:
    return str(x["q"])


def _items(store: Store, dataset: str) -> list[tuple[Any, ...]]:
    return [
        (i.id, i.input, i.expected_output, i.context, i.metadata, i.tags, i.sort_order)
        for i in store.datasets.list_items(dataset, limit=500).items
    ]


def test_a_new_list_is_staged_and_saved_first_alike(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(60)
    assert dataset_ref(rows, store, "staged", stage=True).staged is not None
    with pytest.raises(NotFound):
        store.datasets.get("staged")  # staged: nothing written yet

    staged = assay.evaluate(rows, _task, [exact_match()], store=store, name="a", quiet=True)
    monkeypatch.setattr(inline_data, "STAGE_MAX", 59)  # one item too many: saved first
    copy = [{**r, "metadata": {**r["metadata"], "copy": True}} for r in rows]  # new content
    assert dataset_ref(copy, store, "b", stage=True).staged is None
    assert store.datasets.get("b").item_count == 60  # saved by that call
    store.datasets.delete("b")
    saved = assay.evaluate(copy, _task, [exact_match()], store=store, name="b", quiet=True)

    for run in (staged, saved):
        assert run.summary.completed == 60
        assert run.summary.passed == 60
        dataset = store.datasets.get(run.experiment.dataset_id)
        assert (dataset.version, dataset.item_count) == (1, 60)
        assert run.experiment.dataset_version == 1
        versions = store.datasets.versions(dataset.id)
        assert [(v.version, v.added, v.item_count) for v in versions] == [(1, 60, 60)]
        assert versions[0].message is not None
        assert versions[0].message.startswith("assay.evaluate content sha256:")
        items = _items(store, dataset.id)
        assert [i[1:6] for i in items] == [
            (r["input"], r["expected_output"], r["context"], r["metadata"], r["tags"])
            for r in (rows if run is staged else copy)
        ]
        assert [i[6] for i in items] == list(range(60))  # dataset order: the list's
        results = sorted(run.rows, key=lambda r: r.item_id or "")
        assert [(r.item_id, r.input) for r in results] == [(i[0], i[1]) for i in items]
    # the staged list's content is found again: the same dataset version, nothing written
    again = assay.evaluate(rows, _task, store=store, name="c", quiet=True)
    assert again.experiment.dataset_id == staged.experiment.dataset_id
    assert len(store.datasets.versions(staged.experiment.dataset_id)) == 1
    assert store.datasets.get(staged.experiment.dataset_id).name == "a"  # named as if saved


def test_a_staged_list_runs_with_a_selection_and_trials(store: Store) -> None:
    rows = _rows(30)
    run = assay.evaluate(
        rows, _task, [exact_match()], store=store, tags=["odd"], first=5, trials=2, quiet=True
    )
    assert run.summary.total == 10
    items = {i[0]: i[1]["q"] for i in _items(store, run.experiment.dataset_id)}
    assert len(items) == 30  # the whole list is the dataset; the selection is the run's
    chosen = sorted({(items[r.item_id or ""], r.repetition) for r in run.rows})
    odd = [f"q{i}" for i in (1, 3, 5, 7, 9)]
    assert chosen == sorted((q, rep) for q in odd for rep in (0, 1))


def test_the_task_gets_the_values_as_stored_and_cannot_change_them(store: Store) -> None:
    rows = [{"input": {"q": f"q{i}", "pair": (1, 2)}, "expected_output": f"q{i}"} for i in range(8)]
    seen: list[Any] = []

    def task(x: dict[str, Any]) -> str:
        seen.append(x["pair"])
        x["q"] = "changed by the task"  # its own copy: neither the list nor the dataset
        return "out"

    run = assay.evaluate(rows, task, store=store, name="mutating", quiet=True)
    assert seen == [[1, 2]] * 8  # as read back from the store: a list
    assert all(r["input"]["q"] != "changed by the task" for r in rows)
    stored = _items(store, run.experiment.dataset_id)
    assert [i[1]["q"] for i in stored] == [f"q{i}" for i in range(8)]


def test_a_bad_row_of_a_staged_list_is_named_and_nothing_is_saved(store: Store) -> None:
    rows = _rows(40)
    rows[30] = {"input": {"q": "nul \x00 here"}}
    with pytest.raises(InvalidInput) as caught:
        assay.evaluate(rows, _task, store=store, name="bad", quiet=True)
    assert caught.value.row == 31
    assert "NUL" in caught.value.message
    assert store.datasets.list().items == []
    assert store.experiments.list().items == []


def _prepared(store: Store, rows: list[dict[str, Any]], dataset: str | None = None) -> Any:
    prepared = _prepare(
        store,
        Settings(),
        rows,
        _task,
        [exact_match()],
        name="late",
        description=None,
        trials=1,
        metadata=None,
        run_tag=None,
        resume_id=None,
        selection=Selection(),
        dataset_version=None,
        options=RunOptions(concurrency=4),
        dataset_name=dataset,
    )
    assert prepared.planned is not None  # staged: nothing written yet
    return prepared


def test_a_list_named_like_a_dataset_made_meanwhile_is_saved_beside_it(store: Store) -> None:
    rows = _rows(20)
    prepared = _prepared(store, rows)
    store.datasets.create(DatasetCreate(name="late"))  # e.g. the same list run elsewhere
    experiment = asyncio.run(prepared.run())
    assert experiment.status.value == "completed"
    dataset = store.datasets.get(experiment.dataset_id)
    assert re.fullmatch(r"late [0-9a-f]{8}", dataset.name)  # the list's hash, suffixed
    assert [i[1] for i in _items(store, dataset.id)] == [r["input"] for r in rows]
    other = store.datasets.get("late")
    assert (other.version, other.item_count) == (0, 0)  # left alone


def test_a_named_dataset_made_meanwhile_fails_the_run_and_nothing_is_stored(
    store: Store,
) -> None:
    prepared = _prepared(store, _rows(20), dataset="chosen")
    store.datasets.create(DatasetCreate(name="chosen"))
    with pytest.raises(Conflict, match="dataset 'chosen' already exists"):
        asyncio.run(prepared.run())
    assert store.experiments.list().items == []
    (dataset,) = store.datasets.list().items
    assert (dataset.name, dataset.version, dataset.item_count) == ("chosen", 0, 0)
