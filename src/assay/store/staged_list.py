"""An inline list's new dataset, built and checked now, written when its run starts.

``evaluate()`` saves an inline list as a dataset version, then plans the run from that version.
When no dataset of that name exists yet, everything the save would check (each item's JSON, NUL
characters) and everything the plan would read back (the items' ids in dataset order, their
values as stored) is known without the database. :func:`stage_list` builds it all; the run's
calls start at once, and :meth:`~assay.store.datasets.Datasets.write_staged` writes the dataset
in the plan's own transaction, before any result: a failed write stores neither. A dataset of
the same name made meanwhile (another process running the same list) leaves the list its alias,
the name with the list's hash appended, when its name was not the caller's choice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from assay.domain import Dataset, DatasetCreate
from assay.domain.item_values import NewItem
from assay.ids import new_id
from assay.interpreter import relaxed_gc
from assay.store.bulk import item_row, new_ids
from assay.store.item_rows import InputKeys
from assay.store.plan_stream import PAGE
from assay.store.planning import PlannedItem, planned_from_json
from assay.store.types import utcnow

#: Lists up to this long are staged. A longer one is saved first and its run reads the items back
#: page by page, so the run holds nothing per item beyond the caller's own list.
STAGE_MAX = 100_000


class StagedItems(Sequence[PlannedItem]):
    """A staged list's planned items in dataset order, made from its item rows a slice at a
    time as they are taken: each value parsed back from the JSON text written, as the store
    would give it. The run's first calls need not wait for every item to be made."""

    def __init__(self, ids: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.ids = ids
        self.rows = rows

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> PlannedItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[PlannedItem]: ...

    def __getitem__(self, index: int | slice) -> PlannedItem | list[PlannedItem]:
        if isinstance(index, slice):
            ids, rows = self.ids[index], self.rows[index]
            return planned_from_json((i, *r[:5]) for i, r in zip(ids, rows, strict=True))
        return planned_from_json([(self.ids[index], *self.rows[index][:5])])[0]

    def __iter__(self) -> Iterator[PlannedItem]:
        for start in range(0, len(self.ids), PAGE):
            yield from self[start : start + PAGE]


@dataclass(frozen=True)
class StagedList:
    """A new dataset of one version holding a list of items, not written yet."""

    dataset: Dataset  # as it is once written: version 1, holding the items
    create: DatasetCreate
    message: str | None
    alias: str | None  # its name if ``create.name`` is taken when it is written
    items: StagedItems  # in dataset order, with their ids and their values as stored
    rows: list[tuple[Any, ...]]  # the item rows as the bulk writer inserts them, without ids


def stage_list(
    project_id: str,
    items: Sequence[NewItem],
    create: DatasetCreate,
    message: str | None,
    alias: str | None = None,
) -> StagedList:
    """The dataset ``create`` holding ``items`` (in their order) as its first version, built
    and checked as saving it would; raises :class:`~assay.errors.InvalidInput` naming the first
    row the database cannot hold. ``alias``: the name it takes if a dataset of its own name is
    made before it is written (by another process running the same list, say)."""
    dataset_id = new_id()
    key = InputKeys(dataset_id).of_canonical
    with relaxed_gc():  # every row and item made here is kept
        rows = [item_row(item, order, order + 1, key) for order, item in enumerate(items)]
    planned = StagedItems(new_ids(len(rows)), rows)
    now = utcnow()
    dataset = Dataset.model_construct(
        id=dataset_id,
        project_id=project_id,
        **create.model_dump(),
        version=1,
        item_count=len(rows),
        created_at=now,
        updated_at=now,
    )
    return StagedList(dataset, create, message, alias, planned, rows)
