"""A plan over a whole dataset version is read from the store in pages, never held as a list."""

from __future__ import annotations

from typing import Any

import pytest

import assay
from assay.domain import DatasetCreate, ExperimentCreate, ItemCreate, ItemUpdate, Selection
from assay.scorers import exact_match
from assay.store import Store
from assay.store.plan_stream import StreamedWork
from assay.store.planning import PlannedItem, item_pages, load_items


def _key(i: PlannedItem) -> tuple[Any, ...]:
    return (i.id, i.input, i.expected_output, i.context, i.metadata, i.tags)


@pytest.fixture
def edited(store: Store) -> str:
    """A dataset with four versions: items added, one changed, one deleted, more added."""
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(7)]
    )
    first = [i.id for i in store.datasets.iter_items("qa")]
    store.datasets.update_item("qa", first[2], ItemUpdate(expected_output="changed"))
    store.datasets.delete_item("qa", first[4])
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"new{i}"}) for i in range(3)])
    return store.datasets.get("qa").id


@pytest.mark.parametrize("page", [1, 2, 5, 100])
def test_pages_give_every_version_in_dataset_order(store: Store, edited: str, page: int) -> None:
    for version in range(1, store.datasets.get(edited).version + 1):
        with store.db.read() as conn:
            whole = [_key(i) for i in load_items(conn, edited, version)]
        paged = [_key(i) for p in item_pages(store.db, edited, version, page=page) for i in p]
        assert paged == whole, f"version {version}"
        assert len(paged) == len({k[0] for k in paged})


def test_a_streamed_plan_writes_and_runs_the_rows_a_listed_plan_would(
    store: Store, edited: str
) -> None:
    data = ExperimentCreate(name="r", dataset="qa", dataset_version=2, trials=2)
    streamed = store.experiments.prepare(data, stream=True)
    listed = store.experiments.prepare(data, stream=False)
    assert isinstance(streamed.work, StreamedWork)
    assert isinstance(listed.work, list)
    assert len(streamed.work) == len(listed.work) == 14
    a, b = list(streamed.work), listed.work
    assert [(w.item_id, w.repetition, w.input, w.expected_output) for w in a] == [
        (w.item_id, w.repetition, w.input, w.expected_output) for w in b
    ]
    assert [w.result_id for w in a] == sorted(w.result_id for w in a)
    assert [w.result_id for w in a] == [w.result_id for w in streamed.work]  # same ids again
    streamed.commit()
    _, pending = store.experiments.unfinished(streamed.experiment.id)
    assert [w.result_id for w in pending] == [w.result_id for w in a]
    assert [(w.input, w.expected_output) for w in pending] == [
        (w.input, w.expected_output) for w in a
    ]
    # A selection is applied to the listed items.
    chosen = store.experiments.prepare(
        ExperimentCreate(name="s", dataset="qa", selection=Selection(first=2)), stream=True
    )
    assert isinstance(chosen.work, list)
    assert len(chosen.work) == 2


def test_evaluate_over_an_edited_dataset_runs_each_item_once(store: Store, edited: str) -> None:
    run = assay.evaluate("qa", lambda x: x["q"], [exact_match()], store=store, quiet=True)
    rows = run.rows
    assert len(rows) == run.summary.completed == 9
    assert len({r.item_id for r in rows}) == 9
