"""A dataset write's version bookkeeping: the new version's row and the dataset's counters.

Every change to a dataset's items is one write transaction that locks the dataset row, takes
``version + 1``, writes item states, and then records the version here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, update

from assay.store.tables import dataset_versions, datasets
from assay.store.types import utcnow


@dataclass(frozen=True)
class VersionChange:
    """What one write did to a dataset."""

    dataset_id: str
    version: int
    added: int
    changed: int
    removed: int
    item_count: int


def unchanged(row: Row[Any]) -> VersionChange:
    """The answer of a write that found nothing to change: the current version, no version
    made."""
    return VersionChange(row.id, row.version, 0, 0, 0, row.item_count)


def commit_version(
    conn: Connection,
    row: Row[Any],
    version: int,
    *,
    added: int = 0,
    changed: int = 0,
    removed: int = 0,
    live_delta: int,
    next_sort_order: int | None = None,
    message: str | None = None,
) -> VersionChange:
    """Record the version; ``live_delta`` is how the count of live (unarchived) items moved.

    ``row`` was read under the write lock, so its count plus the delta is exact without
    recounting the dataset.
    """
    now = utcnow()
    item_count = row.item_count + live_delta
    conn.execute(
        dataset_versions.insert().values(
            dataset_id=row.id,
            version=version,
            created_at=now,
            item_count=item_count,
            added=added,
            changed=changed,
            removed=removed,
            message=message,
        )
    )
    values: dict[str, Any] = {"version": version, "item_count": item_count, "updated_at": now}
    if next_sort_order is not None:
        values["next_sort_order"] = next_sort_order
    conn.execute(update(datasets).where(datasets.c.id == row.id).values(values))
    return VersionChange(row.id, version, added, changed, removed, item_count)
