"""Planning an experiment: its dataset version pinned, its items selected, its rows built.

:class:`ExperimentPlans` builds a :class:`PlannedRun` (the experiment row and one result row per
(item, repetition), validated and built, not yet written) and commits it in one transaction.
A run executed by the engine (in process, queued for a worker, or as shards on a Ray cluster)
commits the experiment row alone: its results are inserted as they finish (see
:mod:`assay.store.unwritten`).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assay.domain import (
    Experiment,
    ExperimentCreate,
    ExperimentStatus,
    ResultStatus,
    WorkItem,
)
from assay.errors import InvalidInput
from assay.ids import id_base, new_id, sequential_ids
from assay.store.experiment_rows import ExperimentRows
from assay.store.lease import FIRST_LEASE
from assay.store.plan_stream import PAGE, HeldWork, StreamedWork, rows_of_pages, work_items
from assay.store.planning import (
    PlannedItem,
    count_items,
    item_pages,
    select_items,
    select_read,
)
from assay.store.staged_list import StagedList
from assay.store.tables import experiments
from assay.store.types import utcnow

PENDING = ResultStatus.pending.value


@dataclass
class PlannedRun:
    """An experiment and its result rows, validated and built, not yet written.

    ``commit()`` writes the experiment row and every result row in one transaction. A runner
    may commit from its writer thread while it starts executing the items (the writer commits
    the plan before any result), so planning and execution overlap.
    """

    _owner: ExperimentPlans
    experiment: Experiment
    work: list[WorkItem] | StreamedWork | HeldWork
    _values: dict[str, Any]
    _items: Sequence[PlannedItem] | None  # None: streamed (``work.rows()``)
    _base: int  # the id base: the plan's k-th result is ``base + k``
    _staged: StagedList | None = None  # the dataset, written with the plan

    @property
    def first_result_id(self) -> str:
        """The id of the plan's first result (the others follow it in plan order)."""
        return sequential_ids(1, self._base)[0]

    def commit(self, *, worker: str | None = None, write_pending: bool = True) -> None:
        """Write the plan; ``worker``: the runner that executes it (the run is born running).

        Without ``write_pending`` only the experiment row is written: the runner inserts each
        result whole as it finishes, and the planned results without a row are derived from
        the plan until the run ends (see :mod:`assay.store.unwritten`)."""
        values = self._values
        pages: Iterable[Sequence[tuple[Any, ...]]] = ()
        if not write_pending:
            values = {**values, "unwritten_base": sequential_ids(1, self._base)[0]}
        elif isinstance(self.work, StreamedWork):
            pages = self.work.rows()
        else:
            items = self._items or []
            chunks = (items[k : k + PAGE] for k in range(0, len(items), PAGE))
            trials, experiment_id = self.experiment.trials, self.experiment.id
            pages = rows_of_pages(chunks, experiment_id, trials, self._base, PENDING)
        self._owner._commit_plan(values, pages, worker, self._staged)


class ExperimentPlans(ExperimentRows):
    """Planning and writing experiments (a base of the experiments repository)."""

    def create(
        self, data: ExperimentCreate, *, config_hash: str | None = None, external: bool = False
    ) -> tuple[Experiment, list[WorkItem]]:
        """Pin the dataset version, select items and plan every result row, all or nothing.

        ``external``: nothing runs it; its planned results await uploaded outputs.
        """
        planned = self.prepare(data, config_hash=config_hash, external=external)
        planned.commit()
        assert isinstance(planned.work, list)  # not streamed
        return planned.experiment, planned.work

    def create_queued(
        self, data: ExperimentCreate, *, config_hash: str | None = None
    ) -> Experiment:
        """Plan a run a worker executes later: the dataset version pinned and the selection
        drawn as :meth:`create` does, but only the experiment row is written (no pending row
        per result), so the time it takes does not grow with the plan. The worker derives the
        results to run from the plan and inserts each one whole when it finishes."""
        planned = self.prepare(data, config_hash=config_hash, stream=True)
        planned.commit(write_pending=False)
        return planned.experiment

    def prepare(
        self,
        data: ExperimentCreate,
        *,
        config_hash: str | None = None,
        external: bool = False,
        stream: bool = False,
        staged: StagedList | None = None,
    ) -> PlannedRun:
        """Everything :meth:`create` does except the write: ``commit()`` it (once) later.

        With ``stream`` and no item selection, the plan's work is read from the store page by
        page (by the commit and by the runner) instead of being held as a list; with a
        selection, its work items are made as the run takes them. A ``staged`` list is the
        dataset (``data.dataset`` names it): the plan holds its items, and the commit writes
        it first."""
        dataset = staged.dataset if staged is not None else self._datasets.get(data.dataset)
        version = dataset.version if data.dataset_version is None else data.dataset_version
        if not 0 <= version <= dataset.version:
            raise InvalidInput(
                f"dataset {dataset.name!r} has no version {version} (current is {dataset.version})",
                field="dataset_version",
            )
        selection = data.selection
        if selection is not None and selection.sample is not None and selection.seed is None:
            # the drawn seed is recorded, so the same sample can be drawn again
            selection = selection.model_copy(update={"seed": secrets.randbelow(2**53)})
        streamed = stream and selection is None and staged is None
        if staged is not None:
            # the whole list: its items are made as the run takes them
            items = staged.items if selection is None else select_items(staged.items, selection)
            live = len(items)
        elif streamed:
            with self.db.read() as conn:
                live = count_items(conn, dataset.id, version)
            items = []
        else:  # read page by page, keeping only the chosen items
            first = None if selection is None else selection.first

            def read() -> Iterator[PlannedItem]:
                pages = item_pages(self.db, dataset.id, version, first=first)
                return itertools.chain.from_iterable(pages)

            candidates = None  # a sample of every item draws from the version's count
            if (
                selection is not None
                and selection.sample is not None
                and selection.ids is None
                and selection.tags is None
            ):
                with self.db.read() as conn:
                    candidates = count_items(conn, dataset.id, version)
            items = select_read(read, selection, candidates)
            live = len(items)
        if not live:
            raise InvalidInput(
                f"nothing to run: dataset {dataset.name!r} version {version} has no items"
                + (" matching the selection" if selection else ""),
                field="selection" if selection else "dataset",
            )
        now = utcnow()
        values: dict[str, Any] = {
            "id": new_id(),
            "project_id": self.project_id,
            "dataset_id": dataset.id,
            "dataset_version": version,
            "name": data.name,
            "description": data.description,
            "config": data.config,
            "config_hash": config_hash,
            "selection": selection.model_dump(exclude_none=True) if selection else None,
            "evaluator_ids": data.evaluator_ids,
            "scorers": data.scorers,
            "concurrency": data.concurrency,
            "trials": data.trials,
            "run_tag": data.run_tag,
            "tags": data.tags,
            "metadata": data.metadata,
            "notes": None,
            "external": external,
            "status": ExperimentStatus.pending.value,
            "error": None,
            "cancel_requested": False,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "plan_size": live * data.trials,
        }
        experiment_id = values["id"]
        record = {k: v for k, v in values.items() if k not in ("cancel_requested", "plan_size")}
        record["status"] = ExperimentStatus.pending
        keyring = self.db.keyring  # secrets in the config are stored sealed
        values["config"] = keyring.seal_tree(data.config)
        values["scorers"] = keyring.seal_tree(data.scorers)
        experiment = Experiment.model_construct(**record)
        base = id_base()
        if streamed:
            work = StreamedWork(
                self.db, dataset.id, version, experiment_id, data.trials, base, live
            )
            return PlannedRun(self, experiment, work, values, None, base)
        if stream or staged is not None:  # made as the run takes them
            held = HeldWork(items, data.trials, base)
            return PlannedRun(self, experiment, held, values, items, base, staged)
        ids = sequential_ids(len(items) * data.trials, base)
        listed = list(work_items(items, data.trials, ids))
        return PlannedRun(self, experiment, listed, values, items, base)

    def _commit_plan(
        self,
        values: dict[str, Any],
        pages: Iterable[Sequence[tuple[Any, ...]]],
        worker: str | None,
        staged: StagedList | None = None,
    ) -> None:
        if worker is not None:  # planned by the runner that executes it: born running
            now = utcnow()
            values = {
                **values,
                "status": ExperimentStatus.running.value,
                "worker_id": worker,
                "heartbeat_at": now,
                "started_at": now,
                "active_s": 0.0,
                "resumed_at": now,
                "lease": FIRST_LEASE,
            }
        with self.db.write() as conn:
            if staged is not None:
                self._datasets.write_staged(conn, staged)
            conn.execute(experiments.insert().values(values))
            for rows in pages:
                self._bulk.insert_results(conn, rows)
