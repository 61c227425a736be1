"""Every item of a dataset version in sort order, read in batches: what exports stream."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import literal, select, tuple_

from assay.domain import Item
from assay.store.bulk import fetch_items
from assay.store.db import Database
from assay.store.tables import dataset_items


def stream_items(
    db: Database, dataset_id: str, version: int, *, include_archived: bool, batch_size: int
) -> Iterator[Item]:
    """Stream the items alive at ``version`` in (sort_order, id) order, one short read per
    batch.

    Each batch is two index range scans in (sort_order, id) order: rows still open, and rows
    closed after ``version`` (empty unless reading an older version or writes landed
    meanwhile). Neither rescans the dataset, so a batch costs the same at the start and at the
    end of a million-item export.
    """
    c = dataset_items.c
    # ``valid_from + 0`` keeps planners on the (dataset_id, valid_to, sort_order, id) index.
    base = select(dataset_items).where(c.dataset_id == dataset_id, (c.valid_from + 0) <= version)
    if not include_archived:
        base = base.where(c.archived.is_(False))
    keys = (c.sort_order, c.id)
    # Open rows are also ordered by valid_to (NULL for all of them): naming it lets
    # PostgreSQL read the index in order instead of sorting the rest of the dataset.
    parts = [
        (base.where(c.valid_to.is_(None)), (c.valid_to, *keys)),
        (base.where(c.valid_to > version), keys),
    ]
    last: tuple[int, str] | None = None
    while True:
        batch: list[Item] = []
        with db.read() as conn:
            for part, order in parts:
                if last is not None:
                    part = part.where(tuple_(*keys) > tuple_(literal(last[0]), literal(last[1])))
                batch.extend(fetch_items(conn, part.order_by(*order).limit(batch_size)))
        batch.sort(key=lambda i: (i.sort_order, i.id))
        yield from batch[:batch_size]
        if len(batch) < batch_size:
            return
        last = (batch[batch_size - 1].sort_order, batch[batch_size - 1].id)
