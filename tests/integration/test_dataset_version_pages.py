"""Reading a dataset at older versions: pages of its items (every item alive then, in sort
order, each once, however they are paged) and diffs between versions, off the version indexes
on SQLite rather than a pass over every item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, ItemUpdate
from assay.store import Store, open_store
from assay.store.dataset_diff import pair_changes
from assay.store.tables import dataset_items


def _edited(store: Store) -> str:
    """A dataset whose versions hold open rows and rows closed later: items added, changed,
    archived, deleted, tagged and added again, with a search word and a tag on some."""
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa",
        [
            ItemCreate(
                input={"q": f"q{i}" + (" refund" if i % 3 == 0 else "")}, tags=["t"] * (i % 2)
            )
            for i in range(12)
        ],
    )
    first = [i.id for i in store.datasets.iter_items("qa")]
    store.datasets.update_item("qa", first[2], ItemUpdate(expected_output="changed"))
    store.datasets.update_item("qa", first[5], ItemUpdate(archived=True))
    store.datasets.delete_item("qa", first[7])
    store.datasets.update_item("qa", first[0], ItemUpdate(tags=["t"]))
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"new{i} refund"}) for i in range(4)])
    store.datasets.delete_item("qa", first[10])
    return "qa"


def _paged(store: Store, **query: object) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.datasets.list_items("qa", cursor=cursor, **query)  # type: ignore[arg-type]
        ids.extend(i.id for i in page.items)
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
@pytest.mark.parametrize("sort", ["sort_order", "-sort_order"])
@pytest.mark.parametrize(
    "filters",
    [{}, {"include_archived": True}, {"search": "refund"}, {"tag": "t"}],
    ids=["live", "archived", "search", "tag"],
)
def test_pages_at_a_version_are_the_items_alive_then(
    store: Store, limit: int, sort: str, filters: dict[str, object]
) -> None:
    _edited(store)
    for version in range(store.datasets.get("qa").version + 1):
        # The same listing through the general query: rows alive at the version, sorted.
        with store.db.read() as conn:
            query = store.datasets._items_query(
                store.datasets.get("qa").id,
                version,
                **filters,  # type: ignore[arg-type]
            )
            c = dataset_items.c
            order = [c.sort_order, c.id]
            if sort.startswith("-"):
                order = [c.sort_order.desc(), c.id.desc()]
            expected = [r.id for r in conn.execute(query.order_by(*order))]
        paged = _paged(store, version=version, sort=sort, limit=limit, **filters)
        assert paged == expected, f"version {version}"
    assert len(expected) > 0


def test_a_version_page_reads_the_index_in_order_on_sqlite(tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path))
    _edited(store)
    dataset = store.datasets.get("qa")
    query = store.datasets._version_page(dataset.id, 2, None, None, False, None, False, 50)
    with store.db.read() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    scans = [p for p in plan if "dataset_items" in p]
    assert len(scans) == 2, plan
    assert all("ix_dataset_items_dataset_id_valid_to_sort_order_id" in p for p in scans), plan
    assert "valid_to=?" in scans[0], plan  # open rows: an equality on valid_to, read in order
    store.close()


def test_a_diff_between_any_two_versions_is_what_their_items_show(store: Store) -> None:
    _edited(store)
    last = store.datasets.get("qa").version
    at = {
        v: {i.id: i for i in store.datasets.iter_items("qa", version=v, include_archived=True)}
        for v in range(last + 1)
    }
    for a in range(last + 1):
        for b in range(a, last + 1):
            expected = pair_changes(at[a], at[b])
            diff = store.datasets.diff("qa", a, b)
            got = [(ch.kind, ch.item_id, ch.fields) for ch in diff.changes]
            assert got == [(ch.kind, ch.item_id, ch.fields) for ch in expected], (a, b)


def test_a_diff_reads_index_ranges_on_sqlite(tmp_path: Path) -> None:
    """Both reads of a diff are ranges of a version index, not a pass over every item."""
    store = open_store(Settings(home=tmp_path))
    _edited(store)
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM dataset_items" in statement:
            seen.append((statement, params))

    event.listen(store.db.engine, "before_cursor_execute", note)
    store.datasets.diff("qa", 1, store.datasets.get("qa").version)
    event.remove(store.db.engine, "before_cursor_execute", note)
    assert len(seen) == 2
    with store.db.read() as conn:
        for statement, params in seen:
            plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
            assert len(plan) == 1, plan
            assert ("valid_to>? AND valid_to<?" in plan[0]) or (
                "valid_from>? AND valid_from<?" in plan[0]
            ), plan
    store.close()
