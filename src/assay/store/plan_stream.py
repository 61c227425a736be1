"""A plan read from the store page by page: nothing per item is kept in memory.

A run over a whole dataset version needs no list of its items: the plan's result ids are
``base + k`` for the k-th (item, repetition) in dataset order, so the writer inserting the
planned rows and the runner executing the items each read the items in keyset pages and make
the same ids on their own. The version is pinned, so both reads see the same items.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assay.domain import ResultStatus, WorkItem
from assay.ids import sequential_ids
from assay.store.db import Database
from assay.store.planning import PlannedItem, item_pages
from assay.store.read_ahead import read_ahead

PAGE = 2_000
FIRST_PAGE = 250  # a run's first calls start once this many items are read, not a whole page


def work_items(items: Sequence[PlannedItem], trials: int, ids: Sequence[str]) -> Iterator[WorkItem]:
    """The (item, repetition) pairs of ``items`` in plan order, the n-th with ``ids[n]``."""
    n = 0
    for item in items:
        for rep in range(trials):
            yield WorkItem(
                ids[n],
                item.id,
                rep,
                item.input,
                item.expected_output,
                item.context,
                item.metadata,
                item.tags,
            )
            n += 1


def work_of_pages(
    pages: Iterable[Sequence[PlannedItem]], trials: int, base: int
) -> Iterator[list[WorkItem]]:
    """The work items of a plan whose items come in ``pages`` (in plan order), page by page."""
    k = 0
    for items in pages:
        ids = sequential_ids(len(items) * trials, base, k)
        k += len(ids)
        yield list(work_items(items, trials, ids))


@dataclass(frozen=True)
class StreamedWork:
    """The (item, repetition) pairs of a plan, in plan order; iterable any number of times."""

    db: Database
    dataset_id: str
    version: int
    experiment_id: str
    trials: int
    base: int  # the plan's id base (see :func:`assay.ids.id_base`)
    items: int  # live items of the version, counted when planned
    page: int = PAGE

    def __len__(self) -> int:
        return self.items * self.trials

    def __iter__(self) -> Iterator[WorkItem]:
        for page in read_ahead(self._pages(), depth=1):  # off the caller's thread (a run's loop)
            yield from page

    def _pages(self) -> Iterator[list[WorkItem]]:
        pages = item_pages(self.db, self.dataset_id, self.version, page=self.page, first=FIRST_PAGE)
        return work_of_pages(pages, self.trials, self.base)

    def rows(self, status: str = ResultStatus.pending.value) -> Iterator[list[tuple[Any, ...]]]:
        """The planned result rows, a page at a time (what :class:`Bulk` inserts)."""
        pages = item_pages(self.db, self.dataset_id, self.version, page=self.page, parse=False)
        return rows_of_pages(pages, self.experiment_id, self.trials, self.base, status)


@dataclass(frozen=True)
class HeldWork:
    """The (item, repetition) pairs of planned items held in memory, in plan order, made a
    page at a time as the run takes them; iterable any number of times."""

    items: Sequence[PlannedItem]
    trials: int
    base: int  # the plan's id base (see :func:`assay.ids.id_base`)

    def __len__(self) -> int:
        return len(self.items) * self.trials

    def __iter__(self) -> Iterator[WorkItem]:
        pages = (self.items[k : k + PAGE] for k in range(0, len(self.items), PAGE))
        for page in work_of_pages(pages, self.trials, self.base):
            yield from page


def plan_rows(
    items: Sequence[PlannedItem],
    experiment_id: str,
    trials: int,
    base: int,
    start: int,
    status: str,
) -> list[tuple[Any, ...]]:
    """The result rows of planned items, every repetition of each, the first with the id
    ``base + start``: (id, experiment_id, item_id, repetition, status, input, expected_output,
    raw), as :meth:`~assay.store.run_bulk.Bulk.insert_results` takes them."""
    ids = sequential_ids(len(items) * trials, base, start)
    return [
        (
            ids[i * trials + rep],
            experiment_id,
            item.id,
            rep,
            status,
            item.input,
            item.expected_output,
            item.raw,
        )
        for i, item in enumerate(items)
        for rep in range(trials)
    ]


def rows_of_pages(
    pages: Iterable[Sequence[PlannedItem]], experiment_id: str, trials: int, base: int, status: str
) -> Iterator[list[tuple[Any, ...]]]:
    """The result rows of a plan whose items come in ``pages`` (in plan order), page by page."""
    k = 0
    for items in pages:
        rows = plan_rows(items, experiment_id, trials, base, k, status)
        k += len(rows)
        yield rows
