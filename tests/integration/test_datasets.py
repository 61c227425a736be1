"""Datasets and versioned items on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from assay.domain import DatasetCreate, DatasetUpdate, ItemCreate, ItemSource, ItemUpdate
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import Store


def items(n: int, start: int = 0, **extra: object) -> list[ItemCreate]:
    return [
        ItemCreate(input={"q": f"question {i}"}, expected_output=f"answer {i}", **extra)  # type: ignore[arg-type]
        for i in range(start, start + n)
    ]


@pytest.fixture
def qa(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa", description="golden set", tags=["support"]))
    return "qa"


def test_create_get_by_name_and_id(store: Store, qa: str) -> None:
    ds = store.datasets.get(qa)
    assert ds.name == "qa"
    assert ds.description == "golden set"
    assert ds.version == 0
    assert ds.item_count == 0
    assert store.datasets.get(ds.id) == ds


def test_names_are_unique_per_project(store: Store, qa: str) -> None:
    with pytest.raises(Conflict, match="already exists"):
        store.datasets.create(DatasetCreate(name=qa))


def test_other_projects_do_not_see_the_dataset(store: Store, qa: str) -> None:
    other = Store(store.db, "another-project-id")
    with pytest.raises(NotFound):
        other.datasets.get(qa)


def test_every_change_creates_exactly_one_version(store: Store, qa: str) -> None:
    first = store.datasets.add_items(qa, items(3))
    assert (first.version, first.added, first.item_count) == (1, 3, 3)
    page = store.datasets.list_items(qa)
    target = page.items[0]
    store.datasets.update_item(qa, target.id, ItemUpdate(expected_output="fixed"))
    store.datasets.delete_item(qa, page.items[1].id)
    store.datasets.add_items(qa, items(2, start=3))

    versions = store.datasets.versions(qa)
    assert [v.version for v in versions] == [4, 3, 2, 1]
    assert [(v.added, v.changed, v.removed, v.item_count) for v in versions] == [
        (2, 0, 0, 4),
        (0, 0, 1, 2),
        (0, 1, 0, 3),
        (3, 0, 0, 3),
    ]
    assert store.datasets.get(qa).version == 4


def test_items_as_of_any_version(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(3))
    first = store.datasets.list_items(qa).items[0]
    store.datasets.update_item(qa, first.id, ItemUpdate(expected_output="v2 answer"))
    store.datasets.delete_item(qa, first.id)

    assert store.datasets.get_item(qa, first.id, version=1).expected_output == "answer 0"
    assert store.datasets.get_item(qa, first.id, version=2).expected_output == "v2 answer"
    with pytest.raises(NotFound, match="at version 3"):
        store.datasets.get_item(qa, first.id, version=3)
    assert len(store.datasets.list_items(qa, version=0).items) == 0
    assert len(store.datasets.list_items(qa, version=1).items) == 3
    assert len(store.datasets.list_items(qa, version=3).items) == 2
    streamed = [i.expected_output for i in store.datasets.iter_items(qa, version=2)]
    assert streamed == ["v2 answer", "answer 1", "answer 2"]
    with pytest.raises(NotFound, match="no version 9"):
        store.datasets.list_items(qa, version=9)


def test_diff_between_versions(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(3))
    a, b, _c = store.datasets.list_items(qa).items
    store.datasets.update_item(qa, a.id, ItemUpdate(tags=["hard"]))
    store.datasets.delete_item(qa, b.id)
    store.datasets.add_items(qa, items(1, start=10))

    diff = store.datasets.diff(qa, 1, 4)
    assert (diff.added, diff.changed, diff.removed) == (1, 1, 1)
    by_kind = {c.kind: c for c in diff.changes}
    assert by_kind["changed"].item_id == a.id
    assert by_kind["changed"].fields == ["tags"]
    assert by_kind["removed"].before is not None
    assert by_kind["removed"].before.id == b.id
    assert by_kind["added"].after is not None
    assert by_kind["added"].after.input == {"q": "question 10"}
    # Reversed direction is not a thing; a diff of a version with itself is empty.
    assert store.datasets.diff(qa, 2, 2).changes == []
    # Changing an item twice between the two versions is still one change.
    store.datasets.update_item(qa, a.id, ItemUpdate(tags=["easy"]))
    assert store.datasets.diff(qa, 1).changed == 1


def test_update_that_changes_nothing_creates_no_version(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(1))
    item = store.datasets.list_items(qa).items[0]
    store.datasets.update_item(qa, item.id, ItemUpdate(expected_output="answer 0"))
    assert store.datasets.get(qa).version == 1


def test_archive_hides_item_but_keeps_it(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(2))
    item = store.datasets.list_items(qa).items[0]
    archived = store.datasets.update_item(qa, item.id, ItemUpdate(archived=True))
    assert archived.archived
    assert store.datasets.get(qa).item_count == 1
    assert len(store.datasets.list_items(qa).items) == 1
    assert len(store.datasets.list_items(qa, include_archived=True).items) == 2


def test_sort_order_is_auto_assigned_and_explicit_values_kept(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(2))
    store.datasets.add_items(qa, [ItemCreate(input="x", sort_order=10), ItemCreate(input="y")])
    orders = [(i.input, i.sort_order) for i in store.datasets.list_items(qa).items]
    assert orders == [
        ({"q": "question 0"}, 0),
        ({"q": "question 1"}, 1),
        ("x", 10),
        ("y", 11),
    ]


def test_keyset_pagination_walks_every_item_once(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(23))
    for sort in ("sort_order", "-sort_order", "created_at", "-created_at"):
        seen: list[str] = []
        cursor = None
        while True:
            page = store.datasets.list_items(qa, limit=5, cursor=cursor, sort=sort)  # type: ignore[arg-type]
            seen += [i.id for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(seen) == 23
        assert len(set(seen)) == 23


def test_search_and_tag_filter(store: Store, qa: str) -> None:
    store.datasets.add_items(
        qa,
        [
            ItemCreate(input={"q": "reset my password"}, tags=["account"]),
            ItemCreate(input={"q": "pricing plans"}, tags=["billing", "sales"]),
            ItemCreate(input="Refund 100%", tags=["billing"]),
        ],
    )
    assert [i.input for i in store.datasets.list_items(qa, search="PASSWORD").items] == [
        {"q": "reset my password"}
    ]
    assert len(store.datasets.list_items(qa, tag="billing").items) == 2
    assert len(store.datasets.list_items(qa, tag="bill").items) == 0
    # LIKE wildcards in the search text are literal.
    assert len(store.datasets.list_items(qa, search="100%").items) == 1
    assert len(store.datasets.list_items(qa, search="_").items) == 0


def test_list_datasets_with_search_tag_sort_and_pages(store: Store) -> None:
    for name in ["beta", "alpha", "gamma", "delta"]:
        store.datasets.create(DatasetCreate(name=name, tags=["greek"] if name != "delta" else []))
    page = store.datasets.list(sort="name", limit=3)
    assert [d.name for d in page.items] == ["alpha", "beta", "delta"]
    assert page.next_cursor is not None
    rest = store.datasets.list(sort="name", limit=3, cursor=page.next_cursor)
    assert [d.name for d in rest.items] == ["gamma"]
    assert rest.next_cursor is None
    assert {d.name for d in store.datasets.list(tag="greek").items} == {"alpha", "beta", "gamma"}
    assert [d.name for d in store.datasets.list(search="ELT").items] == ["delta"]
    newest = store.datasets.list(sort="-created_at", limit=2)
    older = store.datasets.list(sort="-created_at", limit=2, cursor=newest.next_cursor)
    assert [d.name for d in newest.items + older.items] == ["delta", "gamma", "alpha", "beta"]


def test_update_dataset_metadata(store: Store, qa: str) -> None:
    updated = store.datasets.update(qa, DatasetUpdate(name="qa-v2", tags=["x"]))
    assert (updated.name, updated.tags, updated.description) == ("qa-v2", ["x"], "golden set")
    store.datasets.create(DatasetCreate(name="other"))
    with pytest.raises(Conflict):
        store.datasets.update("other", DatasetUpdate(name="qa-v2"))


def test_delete_dataset_removes_items_and_versions(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(3))
    store.datasets.delete(qa)
    with pytest.raises(NotFound):
        store.datasets.get(qa)
    store.datasets.create(DatasetCreate(name=qa))
    assert store.datasets.versions(qa) == []


def test_schema_violation_rejects_the_whole_batch(store: Store) -> None:
    store.datasets.create(
        DatasetCreate(
            name="typed",
            input_schema={
                "type": "object",
                "required": ["query"],
                "properties": {"query": {"type": "string"}},
            },
        )
    )
    good = ItemCreate(input={"query": "ok"})
    bad = ItemCreate(input={"query": 42})
    with pytest.raises(InvalidInput, match=r"row 2: input.query does not match") as info:
        store.datasets.add_items("typed", [good, bad, good])
    assert info.value.row == 2
    assert info.value.field == "input.query"
    assert store.datasets.get("typed").version == 0
    assert store.datasets.list_items("typed").items == []


def test_invalid_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        DatasetCreate(name="x", input_schema={"type": "nonsense"})


def test_import_into_missing_dataset_with_create_is_atomic(store: Store) -> None:
    def stream() -> object:
        yield 1, ItemCreate(input="fine", source=ItemSource.import_)
        raise InvalidInput("row 3: broken", row=3)

    with pytest.raises(InvalidInput, match="row 3"):
        store.datasets.import_items("fresh", stream(), create=DatasetCreate(name="fresh"))  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.datasets.get("fresh")

    change = store.datasets.import_items(
        "fresh", [(1, ItemCreate(input="a"))], create=DatasetCreate(name="fresh")
    )
    assert (change.version, change.added) == (1, 1)


def test_empty_add_is_an_error(store: Store, qa: str) -> None:
    with pytest.raises(InvalidInput, match="no items"):
        store.datasets.add_items(qa, [])


def test_malformed_cursor_and_limit(store: Store, qa: str) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        store.datasets.list_items(qa, cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="limit"):
        store.datasets.list_items(qa, limit=0)


def test_item_count_follows_every_kind_of_change(store: Store, qa: str) -> None:
    store.datasets.add_items(qa, items(4))
    a, b, c, _d = store.datasets.list_items(qa).items
    store.datasets.update_item(qa, a.id, ItemUpdate(archived=True))
    store.datasets.update_item(qa, a.id, ItemUpdate(tags=["still archived"]))
    store.datasets.update_item(qa, b.id, ItemUpdate(archived=True))
    store.datasets.update_item(qa, b.id, ItemUpdate(archived=False))
    store.datasets.delete_item(qa, a.id)  # archived: the live count does not move
    store.datasets.delete_item(qa, c.id)
    live = len(store.datasets.list_items(qa).items)
    assert live == 2
    assert store.datasets.get(qa).item_count == live
    assert [v.item_count for v in store.datasets.versions(qa)] == [2, 3, 3, 2, 3, 3, 4]


def test_a_bad_row_after_batches_were_written_leaves_nothing(store: Store) -> None:
    def stream() -> object:
        for n in range(1, 8):
            yield n, ItemCreate(input=f"q{n}", source=ItemSource.import_)
        raise InvalidInput("row 8: broken", row=8)

    with pytest.raises(InvalidInput, match="row 8"):
        store.datasets.import_items(
            "late",
            stream(),  # type: ignore[arg-type]
            create=DatasetCreate(name="late"),
            batch_size=2,  # three batches are inserted before the error
        )
    with pytest.raises(NotFound):
        store.datasets.get("late")
    change = store.datasets.import_items(
        "late",
        [(n, ItemCreate(input=f"q{n}")) for n in range(5)],
        create=DatasetCreate(name="late"),
        batch_size=2,
    )
    assert (change.version, change.added) == (1, 5)
    listed = store.datasets.list_items("late").items
    assert [i.input for i in listed] == [f"q{n}" for n in range(5)]
    ids = [i.id for i in listed]
    assert ids[:2] == sorted(ids[:2])  # in order within each batch
    assert ids[2:4] == sorted(ids[2:4])


def test_bulk_written_rows_carry_the_write_s_shared_values(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    started = datetime.now(UTC)
    store.datasets.create(DatasetCreate(name="shared"))
    store.datasets.add_items("shared", items(2))
    change = store.datasets.import_items(
        "shared", [(n, item) for n, item in enumerate(items(5, start=2), start=1)], batch_size=2
    )
    dataset = store.datasets.get("shared")
    listed = store.datasets.list_items("shared").items
    assert change.version == dataset.version == 2
    assert [i.version for i in listed] == [1, 1, 2, 2, 2, 2, 2]
    assert {i.dataset_id for i in listed} == {dataset.id}
    assert not any(i.archived for i in listed)
    written = [i for i in listed if i.version == 2]
    assert len({i.created_at for i in written}) == 1  # one stamp for the whole write
    for item in written:
        assert item.created_at == item.updated_at
        assert item.created_at.tzinfo is not None
        assert started - timedelta(seconds=1) <= item.created_at <= datetime.now(UTC)
        assert store.datasets.get_item("shared", item.id) == item


def test_batches_with_columns_null_in_every_row_store_the_same_values(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="nulls"))
    items = [
        ItemCreate(input="a"),  # the first batch: no expected output, context or trace
        ItemCreate(input="b"),
        ItemCreate(input="c", expected_output="C"),  # the second: one of each column set
        ItemCreate(input="d", context={"k": 1}, source_trace_id="t0"),
        ItemCreate(input="e", expected_output=["E"], context="x", source_trace_id="t1"),
        ItemCreate(input="f", expected_output={"F": None}, context=[], source_trace_id="t2"),
    ]
    store.datasets.import_items("nulls", list(enumerate(items, 1)), batch_size=2)
    got = [
        (i.input, i.expected_output, i.context, i.source_trace_id)
        for i in store.datasets.iter_items("nulls")
    ]
    assert got == [
        ("a", None, None, None),
        ("b", None, None, None),
        ("c", "C", None, None),
        ("d", None, {"k": 1}, "t0"),
        ("e", ["E"], "x", "t1"),
        ("f", {"F": None}, [], "t2"),
    ]


def test_bulk_writes_size_the_sqlite_cache_only_while_they_write(store: Store) -> None:
    from datetime import UTC, datetime

    from assay.store.bulk import ItemWriter, item_batch, item_row
    from assay.store.db import SQLITE_BULK_CACHE_KIB, SQLITE_CACHE_KIB
    from assay.store.item_rows import InputKeys

    if store.db.dialect != "sqlite":
        pytest.skip("a SQLite pragma")
    dataset = store.datasets.create(DatasetCreate(name="cache")).id
    with store.db.write() as conn:
        writer = ItemWriter(
            conn, dataset_id=dataset, version=1, now=datetime.now(UTC), batch_size=2
        )

        def cache() -> object:
            return conn.exec_driver_sql("PRAGMA cache_size").scalar()

        key = InputKeys(dataset).of_canonical
        rows = [item_row(ItemCreate(input=t), k, k + 1, key) for k, t in enumerate("abc")]
        try:
            writer.insert(item_batch(rows[:2]))
            assert cache() == -SQLITE_CACHE_KIB  # one batch: no bulk write yet
            writer.insert(item_batch(rows[2:]))
            assert cache() == -SQLITE_BULK_CACHE_KIB
        finally:
            writer.close()
        assert cache() == -SQLITE_CACHE_KIB
