"""A plan over a whole dataset version is read from the store in pages, never held as a list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ExperimentCreate, ItemCreate, ItemUpdate, Selection
from assay.scorers import exact_match
from assay.store import Store, open_store
from assay.store.plan_stream import HeldWork, StreamedWork
from assay.store.planning import (
    PlannedItem,
    _item_query,
    _page_query,
    _planned,
    count_items,
    item_pages,
    selected_items,
)
from assay.store.tables import dataset_items


def _key(i: PlannedItem) -> tuple[Any, ...]:
    return (i.id, i.input, i.expected_output, i.context, i.metadata, i.tags)


def _whole(conn: Connection, dataset_id: str, version: int) -> list[PlannedItem]:
    """Every live item of a version in dataset order, read in one sorted query (not by pages)."""
    c = dataset_items.c
    query = _item_query(conn, dataset_id, version).order_by(c.sort_order, c.id)
    return _planned(conn, conn.execute(query))


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


@pytest.mark.parametrize(
    ("page", "first"), [(1, None), (2, None), (5, None), (100, None), (4, 1), (3, 2), (2, 5)]
)
def test_pages_give_every_version_in_dataset_order(
    store: Store, edited: str, page: int, first: int | None
) -> None:
    for version in range(1, store.datasets.get(edited).version + 1):
        with store.db.read() as conn:
            whole = [_key(i) for i in _whole(conn, edited, version)]
            assert count_items(conn, edited, version) == len(whole)
        pages = list(item_pages(store.db, edited, version, page=page, first=first))
        paged = [_key(i) for p in pages for i in p]
        assert paged == whole, f"version {version}"
        assert len(paged) == len({k[0] for k in paged})
        sizes = [len(p) for p in pages]
        head = min(first or page, page, len(whole))
        assert sizes[0] == head, f"version {version}"
        assert all(n == page for n in sizes[1:-1]), f"version {version}"


def test_pages_read_in_a_transaction_stop_early_and_leave_it_usable(
    store: Store, edited: str
) -> None:
    """A selection stops reading at its ``first``-th item, inside the transaction of a writer
    (a run ending, a dataset being deleted): the rest of that transaction still runs."""
    for version in range(1, store.datasets.get(edited).version + 1):
        with store.db.read() as conn:
            whole = [_key(i) for i in _whole(conn, edited, version)]
        with store.db.write() as conn:
            pages = item_pages(conn, edited, version, page=2)
            head = [_key(i) for _ in range(2) for i in next(pages)]
            pages.close()
            chosen = selected_items(conn, edited, version, Selection(first=5))
            assert count_items(conn, edited, version) == len(whole)
            in_transaction = [_key(i) for p in item_pages(conn, edited, version) for i in p]
        assert head == whole[:4], f"version {version}"
        assert [_key(i) for i in chosen] == whole[:5], f"version {version}"
        assert in_transaction == whole, f"version {version}"


def test_sqlite_reads_a_first_page_off_the_index_in_order(tmp_path: Path) -> None:
    """SQLite plans without statistics: a first page must come off the (dataset_id, valid_to,
    sort_order, id) index in order, not from sorting every item of the dataset."""
    store = open_store(Settings(home=tmp_path))
    store.datasets.create(DatasetCreate(name="big"))
    store.datasets.add_items("big", [ItemCreate(input={"q": f"q{i}"}) for i in range(50)])
    dataset = store.datasets.get("big")
    for open_rows in (True, False):
        with store.db.read() as conn:
            query = _page_query(conn, dataset.id, dataset.version, open_rows, None).limit(5)
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
        assert "USING INDEX ix_dataset_items_dataset_id_valid_to_sort_order_id" in plan[0], plan
        if open_rows:  # closed rows (few) are sorted
            assert len(plan) == 1, plan
    store.close()


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
    # A selection is applied to the items as they are read; its work items are made as taken.
    chosen = store.experiments.prepare(
        ExperimentCreate(name="s", dataset="qa", selection=Selection(first=2)), stream=True
    )
    assert isinstance(chosen.work, HeldWork)
    every = store.experiments.prepare(ExperimentCreate(name="all", dataset="qa")).work
    assert [w.item_id for w in chosen.work] == [w.item_id for w in every][:2]


def test_evaluate_over_an_edited_dataset_runs_each_item_once(store: Store, edited: str) -> None:
    run = assay.evaluate("qa", lambda x: x["q"], [exact_match()], store=store, quiet=True)
    rows = run.rows
    assert len(rows) == run.summary.completed == 9
    assert len({r.item_id for r in rows}) == 9
