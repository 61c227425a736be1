"""A large import refreshes PostgreSQL's planner statistics for the items table."""

from __future__ import annotations

from sqlalchemy import text

from assay.domain import DatasetCreate, ItemCreate
from assay.store import Store


def test_large_import_analyzes_items_on_postgresql(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="big"))
    items = ((n, ItemCreate(input={"n": n})) for n in range(10_000))
    change = store.datasets.import_items("big", items)
    assert change.item_count == 10_000
    if store.db.dialect != "postgresql":
        return
    with store.db.read() as conn:
        analyzed = conn.execute(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'dataset_items'")
        ).scalar_one()
    assert analyzed is not None
