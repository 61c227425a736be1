"""Item input keys: what uploads naming items by input look them up with.

The key is 64 bits of SHA-256 over the dataset id and the input's sorted-key JSON, in one small
single-column index; a match is confirmed by comparing the inputs themselves.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from alembic.script import ScriptDirectory
from sqlalchemy import column, event, inspect, select, table

import assay.store.migrate
from assay.domain import DatasetCreate, DatasetRunCreate, ItemCreate, ItemUpdate, RunItemCreate
from assay.store import Database, Store
from assay.store.item_rows import InputKeys
from assay.store.migrate import downgrade, upgrade
from assay.store.tables import dataset_items, datasets, projects
from assay.store.types import Json, UtcDateTime


def _stored_keys(store: Store, dataset_id: str) -> list[tuple[Any, int]]:
    c = dataset_items.c
    with store.db.read() as conn:
        rows = conn.execute(
            select(c.input, c.input_key).where(c.dataset_id == dataset_id).order_by(c.row_id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def test_keys_depend_on_the_dataset_and_the_input_not_its_key_order() -> None:
    keys = InputKeys("dataset-a")
    assert keys({"q": "x", "lang": "en"}) == keys({"lang": "en", "q": "x"})
    assert keys({"q": "x"}) != keys({"q": "y"})
    assert keys("text") != keys(["text"])
    assert keys({"q": "x"}) != InputKeys("dataset-b")({"q": "x"})
    assert -(2**63) <= keys("x") < 2**63  # a signed 64-bit column on both databases


def test_every_write_stores_the_key_of_its_input(store: Store) -> None:
    dataset = store.datasets.create(DatasetCreate(name="keys"))
    store.datasets.add_items(
        dataset.id, [ItemCreate(input={"q": "one", "lang": "en"}), ItemCreate(input="two")]
    )
    item = store.datasets.list_items(dataset.id).items[0]
    store.datasets.update_item(dataset.id, item.id, ItemUpdate(input={"q": "three"}))
    store.datasets.tag_items(dataset.id, "t", [item.id])  # a copied state keeps its key
    keys = InputKeys(dataset.id)
    stored = _stored_keys(store, dataset.id)
    assert [value for value, _ in stored] == [
        {"q": "one", "lang": "en"},
        "two",
        {"q": "three"},
        {"q": "three"},
    ]
    assert [key for _, key in stored] == [keys(value) for value, _ in stored]


def _plans(store: Store, statements: list[tuple[str, Any]]) -> list[str]:
    explain = "EXPLAIN QUERY PLAN " if store.db.is_sqlite else "EXPLAIN "
    with store.db.read() as conn:
        return [
            " ".join(str(r[-1]) for r in conn.exec_driver_sql(explain + sql, params))
            for sql, params in statements
        ]


def test_uploads_find_items_by_input_through_the_key_index(store: Store) -> None:
    inputs = [{"q": f"question {n}", "n": n} for n in range(12_000)]
    for name in ("other", "qa"):  # the same inputs in another dataset stay out of the way
        store.datasets.create(DatasetCreate(name=name))
        store.datasets.add_items(name, [ItemCreate(input=i) for i in inputs])
    items = {i.input["n"]: i.id for i in store.datasets.iter_items("qa")}
    run = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="upload"))
    uploads = [
        RunItemCreate(input={"n": 7, "q": "question 7"}, output="a"),  # keys in another order
        RunItemCreate(input=inputs[11_000], output="b"),
        RunItemCreate(dataset_item_id=items[3], output="c"),
    ]
    lookups: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if "FROM dataset_items" in sql and " IN (" in sql:
            lookups.append((sql, params))

    event.listen(store.db.engine, "before_cursor_execute", capture)
    try:
        result = store.dataset_runs.add_items(run.id, uploads, score=False)
    finally:
        event.remove(store.db.engine, "before_cursor_execute", capture)
    results = store.experiments.results(run.id).results
    by_result = {r.id: r.item_id for r in results}
    assert [by_result[i] for i in result.result_ids] == [items[7], items[11_000], items[3]]

    plans = _plans(store, lookups)
    assert len(plans) == 2
    assert "ix_dataset_items_id_valid_to" in plans[0], plans[0]
    assert "ix_dataset_items_input_key" in plans[1], plans[1]


_KEYS = "b8e3f6a2"  # the migration to input keys


def _before_keys() -> str:
    """The revision before input keys, when items held a hex SHA-256 of their input."""
    scripts = ScriptDirectory(str(Path(assay.store.migrate.__file__).parent / "migrations"))
    down = scripts.get_revision(_KEYS).down_revision
    assert isinstance(down, str)
    return down


def _legacy_items() -> Any:
    return table(
        "dataset_items",
        column("row_id"),
        column("id"),
        column("dataset_id"),
        column("valid_from"),
        column("input", Json()),
        column("metadata", Json()),
        column("tags", Json()),
        column("source"),
        column("sort_order"),
        column("created_at", UtcDateTime()),
        column("updated_at", UtcDateTime()),
        column("input_hash"),
    )


def _hex(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def test_migration_fills_the_keys_of_existing_items_and_back(empty_db: Database) -> None:
    before = _before_keys()
    upgrade(empty_db, before)
    now = datetime.now(UTC)
    inputs = [{"q": "x", "lang": "en"}, "plain text", {"q": "x", "lang": "en"}]
    items = _legacy_items()
    with empty_db.write() as conn:
        conn.execute(projects.insert().values(id="p", name="p", created_at=now))
        for name in ("a", "b"):
            conn.execute(
                datasets.insert().values(
                    id=f"ds-{name}",
                    project_id="p",
                    name=name,
                    tags=[],
                    metadata={},
                    version=1,
                    item_count=3,
                    next_sort_order=3,
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                items.insert(),
                [
                    {
                        "id": f"{name}{n}",
                        "dataset_id": f"ds-{name}",
                        "valid_from": 1,
                        "input": value,
                        "metadata": {},
                        "tags": [],
                        "source": "manual",
                        "sort_order": n,
                        "created_at": now,
                        "updated_at": now,
                        "input_hash": _hex(value),
                    }
                    for n, value in enumerate(inputs)
                ],
            )

    upgrade(empty_db)
    schema = inspect(empty_db.engine)
    assert "input_hash" not in {c["name"] for c in schema.get_columns("dataset_items")}
    indexes = {i["name"] for i in schema.get_indexes("dataset_items")}
    assert "ix_dataset_items_input_key" in indexes
    assert "ix_dataset_items_dataset_id_input_hash" not in indexes
    c = dataset_items.c
    with empty_db.read() as conn:
        rows = conn.execute(select(c.dataset_id, c.input, c.input_key).order_by(c.row_id)).all()
    assert len(rows) == 6
    assert [r[2] for r in rows] == [InputKeys(r[0])(r[1]) for r in rows]
    assert rows[0][2] != rows[3][2]  # the same input in two datasets: two keys

    store = Store(empty_db, "p")  # an upload finds a migrated item by its input
    run = store.dataset_runs.create(DatasetRunCreate(dataset_name="b", name="up"))
    found = store.dataset_runs.add_items(
        run.id, [RunItemCreate(input="plain text", output="o")], score=False
    )
    assert [r.item_id for r in store.experiments.results(run.id).results] == ["b1"]
    assert found.created == 1

    downgrade(empty_db, before)
    with empty_db.read() as conn:
        back = conn.execute(
            select(items.c.input, items.c.input_hash).order_by(items.c.row_id)
        ).all()
    assert [r[1] for r in back] == [_hex(r[0]) for r in back]
