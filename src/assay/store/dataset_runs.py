"""Dataset runs with uploaded outputs: external experiments, by dataset name.

A run pins the dataset's current version. Each uploaded item becomes the run's result for a
(dataset item, repetition): the item given by id, or found by an equal ``input`` through the
items' indexed input key (the first such item without that repetition yet, so trials and
items with equal inputs each get theirs). Uploading a result id again, or for the same item and
repetition, replaces its output (its recorded times stay), so a retried upload never
duplicates. Items matching no dataset item are
kept without an item id (they are listed and exported, not aligned in comparisons).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.exc import IntegrityError

from assay.domain import (
    DatasetRun,
    DatasetRunCreate,
    ExperimentStatus,
    Page,
    ResultStatus,
    RunItemCreate,
    RunItemsResult,
    RunTag,
    ScoreCreate,
)
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.client_ids import check, unusable
from assay.store.datasets import Datasets
from assay.store.db import Database
from assay.store.item_rows import InputKeys, alive_at, canonical_json
from assay.store.planning import PlannedItem
from assay.store.run_frames import touch
from assay.store.scores import replace_scores
from assay.store.tables import dataset_items, datasets, experiments, results
from assay.store.types import utcnow
from assay.store.upload_scoring import queue_scoring, run_scoring

_TAGS = uuid.UUID("6f1c1b9e-4d1e-4f43-9b38-6a7d9e0b1c2a")


def tag_id(project_id: str, dataset_id: str | None, name: str) -> str:
    """The stable id of a run tag: the same name on the same dataset is the same tag."""
    return str(uuid.uuid5(_TAGS, f"{project_id}:{dataset_id}:{name}"))


class DatasetRuns:
    """External runs within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id
        self._datasets = Datasets(db, project_id)

    def create(self, data: DatasetRunCreate) -> DatasetRun:
        """A new run; with a client-chosen ``id`` already used here, that run (idempotent)."""
        return self.create_once(data)[0]

    def create_once(self, data: DatasetRunCreate) -> tuple[DatasetRun, bool]:
        """``(run, created)``: a new run, or, for a client-chosen ``id`` this project already
        has with the same dataset, name, description, tag and metadata (a retried or concurrent
        identical create), that run. Other fields under that id are a Conflict; an id that
        cannot be used (malformed, or held outside this project) is refused as malformed."""
        dataset = self._datasets.get(data.dataset_name)
        version = dataset.version if data.dataset_version is None else data.dataset_version
        if version > dataset.version:
            raise NotFound(
                f"dataset {dataset.name!r} has no version {version} (latest {dataset.version})",
                field="dataset_version",
            )
        if data.id is not None:
            check("id", data.id)
            found = self._same_run(data, dataset.id)
            if found is not None:
                return found, False
        now = utcnow()
        values: dict[str, Any] = {
            "id": data.id or new_id(),
            "project_id": self.project_id,
            "dataset_id": dataset.id,
            "dataset_version": version,
            "name": data.name,
            "description": data.description,
            "config": {},
            "config_hash": None,
            "selection": None,
            "evaluator_ids": [],
            "scorers": [],
            "concurrency": 1,
            "trials": 1,
            "run_tag": data.tag,
            "tags": [data.tag] if data.tag else [],
            "metadata": data.metadata,
            "notes": None,
            "external": True,
            "status": ExperimentStatus.completed.value,
            "created_at": now,
            "started_at": now,
            "finished_at": now,
        }
        with self.db.write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(experiments.insert().values(values))
            except IntegrityError:
                pass  # the id is taken: below, by whom
            else:
                return self._run(conn, self._row(conn, values["id"])), True
        assert data.id is not None  # a new id is never taken
        found = self._same_run(data, dataset.id)  # an identical create won the race here
        if found is not None:
            return found, False
        raise unusable("id", data.id)

    def _same_run(self, data: DatasetRunCreate, dataset_id: str) -> DatasetRun | None:
        """This project's run of id ``data.id``, if it has one; Conflict if it differs."""
        with self.db.read() as conn:
            found = conn.execute(
                select(experiments).where(
                    experiments.c.project_id == self.project_id, experiments.c.id == data.id
                )
            ).first()
            if found is None:
                return None
            same = (
                found.dataset_id == dataset_id
                and found.external
                and (found.name, found.description, found.run_tag, found.metadata)
                == (data.name, data.description, data.tag, data.metadata)
                and data.dataset_version in (None, found.dataset_version)
            )
            if not same:
                raise Conflict(f"id {data.id!r} is another run", field="id")
            return self._run(conn, found)

    def get(self, ref: str) -> DatasetRun:
        with self.db.read() as conn:
            return self._run(conn, self._row(conn, ref))

    def tagged(self, dataset: str, tag: str) -> DatasetRun | None:
        """The newest external run of a dataset under a run tag, if any."""
        dataset_id = self._datasets.get(dataset).id
        with self.db.read() as conn:
            row = conn.execute(
                select(experiments)
                .where(
                    experiments.c.project_id == self.project_id,
                    experiments.c.dataset_id == dataset_id,
                    experiments.c.run_tag == tag,
                    experiments.c.external.is_(True),
                )
                .order_by(experiments.c.created_at.desc())
                .limit(1)
            ).first()
            return None if row is None else self._run(conn, row)

    def list(self, dataset: str, *, limit: int = 50, offset: int = 0) -> Page[DatasetRun]:
        """Every run (external or executed) of a dataset, newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        dataset_id = self._datasets.get(dataset).id
        where = (
            experiments.c.project_id == self.project_id,
            experiments.c.dataset_id == dataset_id,
        )
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).where(*where)).scalar_one()
            rows = conn.execute(
                select(experiments)
                .where(*where)
                .order_by(experiments.c.created_at.desc(), experiments.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            items = [self._run(conn, r) for r in rows]
        return Page[DatasetRun](items=items, total=int(total))

    def add_items(
        self,
        ref: str,
        items: Sequence[RunItemCreate],
        *,
        dataset_name: str | None = None,
        score: bool = True,
    ) -> RunItemsResult:
        """Record uploaded outputs, all or nothing; errors name the item (``items[i]``).

        With ``score``, the completed outputs are queued, in the same transaction, for the
        dataset's attached evaluators whose score they do not carry (``store/upload_scoring.py``).
        """
        for i, item in enumerate(items):
            if item.id is not None:
                check(f"items[{i}].id", item.id)
        with self.db.read() as conn:
            run = self._row(conn, ref)
        if dataset_name is not None and self._datasets.get(dataset_name).id != run.dataset_id:
            raise InvalidInput(
                f"run {run.id} belongs to another dataset than {dataset_name!r}",
                field="dataset_name",
            )
        with self.db.write() as conn:
            run = self._row(conn, ref)
            if not run.external:
                raise Conflict(
                    f"run {run.id} is executed by Assay; outputs are uploaded to external runs",
                    field="dataset_run_id",
                )
            found_items = self._items(conn, run, items)
            matches = _Matches(
                found_items,
                self._recorded(conn, run.id, list(found_items.by_id)),
                self._by_result_id(conn, run.id, [i.id for i in items if i.id]),
            )
            now = utcnow()
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            ids: list[str] = []
            scored: dict[str, list[ScoreCreate]] = {}
            wanted: dict[str, set[str]] = {}
            for i, item in enumerate(items):
                item_id, repetition, current = matches.resolve(i, item, run.dataset_version)
                found = found_items.by_id.get(item_id) if item_id else None
                values = {
                    "status": (
                        ResultStatus.failed.value if item.error else ResultStatus.completed.value
                    ),
                    "input": item.input
                    if item.input is not None
                    else (found.input if found else None),
                    "expected_output": item.expected_output
                    if item.expected_output is not None
                    else (found.expected_output if found else None),
                    "output": item.output,
                    "error": item.error,
                    "latency_ms": item.latency_ms,
                    "tokens_in": item.tokens_in,
                    "tokens_out": item.tokens_out,
                    "cost": item.cost,
                    "attempts": 1,
                    "trace_id": item.trace_id,
                    "observation_id": item.observation_id,
                }
                # Times are the first upload's (or the client's): a replay does not move them.
                if item.started_at is not None or current is None:
                    values["started_at"] = item.started_at or now
                if item.finished_at is not None or current is None:
                    values["finished_at"] = item.finished_at or item.started_at or now
                if current is not None:
                    updates.append({"rid": current, **values})
                    rid = current
                else:
                    rid = item.id or new_id()
                    inserts.append(
                        {
                            "id": rid,
                            "experiment_id": run.id,
                            "item_id": item_id,
                            "repetition": repetition,
                        }
                        | values
                    )
                ids.append(rid)
                if item.scores is not None:
                    scored[rid] = [s.as_score() for s in item.scores]
                if not item.error:
                    wanted[rid] = {s.name for s in item.scores or ()}
            if inserts:
                try:
                    with conn.begin_nested():
                        conn.execute(results.insert(), inserts)
                except IntegrityError:
                    raise self._taken(conn, items, [r["id"] for r in inserts]) from None
            for u in updates:
                rid = u.pop("rid")
                conn.execute(update(results).where(results.c.id == rid).values(**u))
            if run.status == ExperimentStatus.pending.value:  # created awaiting its outputs
                conn.execute(
                    update(experiments)
                    .where(experiments.c.id == run.id)
                    .values(
                        status=ExperimentStatus.completed.value, started_at=now, finished_at=now
                    )
                )
            touch(conn, [run.id])
            replace_scores(conn, self.project_id, run.id, scored)
            queued = (
                queue_scoring(conn, self.db.dialect, self.project_id, run, wanted) if score else 0
            )
        return RunItemsResult(
            dataset_run_id=run.id,
            created=len(inserts),
            updated=len(updates),
            result_ids=ids,
            queued=queued,
        )

    def _items(self, conn: Connection, run: Row[Any], items: Sequence[RunItemCreate]) -> _Found:
        """The dataset items the upload names, by id or by input: indexed reads of those
        items only (inputs through their key, ``InputKeys``), never the whole dataset."""
        if run.dataset_id is None:
            return _Found(None)
        input_keys = InputKeys(run.dataset_id)
        found = _Found(input_keys)
        c = dataset_items.c
        wanted = list({i.dataset_item_id for i in items if i.dataset_item_id})
        keys = list({input_keys(i.input) for i in items if not i.dataset_item_id})
        # The dataset is named through an expression no index serves: without statistics
        # SQLite would rather read the dataset's own indexes (every item of it) than the id or
        # key index. No ORDER BY either: it would lead the planner to scan the dataset.
        in_dataset = c.dataset_id.concat("") == run.dataset_id
        rows: list[Row[Any]] = []
        for column, values in ((c.id, wanted), (c.input_key, keys)):
            for start in range(0, len(values), 5000):
                rows.extend(
                    conn.execute(
                        select(c.id, c.input, c.expected_output, c.input_key, c.sort_order).where(
                            in_dataset,
                            column.in_(values[start : start + 5000]),
                            alive_at(run.dataset_version, indexed=False),
                            c.archived.is_(False),
                        )
                    ).all()
                )
        for r in sorted(rows, key=lambda r: (r[4], r[0])):  # dataset order
            found.add(PlannedItem(r[0], r[1], r[2], None, {}, []), r[3])
        return found

    def _taken(
        self, conn: Connection, items: Sequence[RunItemCreate], ids: builtins.list[str]
    ) -> Exception:
        """The error for result ids held by other runs: a Conflict naming them when the runs
        are this project's, else the error of a malformed id (nothing said about others)."""
        held: set[str] = set()
        own: set[str] = set()
        for start in range(0, len(ids), 5000):
            rows = conn.execute(
                select(results.c.id, experiments.c.project_id)
                .join(experiments, experiments.c.id == results.c.experiment_id)
                .where(results.c.id.in_(ids[start : start + 5000]))
            ).all()
            held.update(r[0] for r in rows)
            own.update(r[0] for r in rows if r[1] == self.project_id)
        if own:
            return Conflict(
                f"result ids used by another run of this project: {', '.join(sorted(own))}",
                field="items",
            )
        for i, item in enumerate(items):
            if item.id is not None and item.id in held:
                return unusable(f"items[{i}].id", item.id)
        return Conflict("the run was written concurrently; retry", field="items")

    def _by_result_id(
        self, conn: Connection, run_id: str, ids: builtins.list[str]
    ) -> dict[str, tuple[str | None, int]]:
        """Uploaded result ids already recorded in the run: their (item id, repetition)."""
        out: dict[str, tuple[str | None, int]] = {}
        for start in range(0, len(ids), 5000):
            rows = conn.execute(
                select(results.c.id, results.c.item_id, results.c.repetition).where(
                    results.c.experiment_id == run_id, results.c.id.in_(ids[start : start + 5000])
                )
            )
            out.update({r[0]: (r[1], int(r[2])) for r in rows})
        return out

    def _recorded(
        self, conn: Connection, run_id: str, item_ids: builtins.list[str]
    ) -> dict[tuple[str, int], str]:
        """Result ids already recorded for these items, by (item, repetition)."""
        out: dict[tuple[str, int], str] = {}
        for start in range(0, len(item_ids), 5000):
            rows = conn.execute(
                select(results.c.item_id, results.c.repetition, results.c.id).where(
                    results.c.experiment_id == run_id,
                    results.c.item_id.in_(item_ids[start : start + 5000]),
                )
            )
            out.update({(r[0], int(r[1])): r[2] for r in rows})
        return out

    # ------------------------------------------------------------------ rows
    def _row(self, conn: Connection, ref: str) -> Row[Any]:
        row = conn.execute(
            select(experiments)
            .where(experiments.c.project_id == self.project_id, experiments.c.id == ref)
            .limit(1)
        ).first()
        if row is None:
            raise NotFound(f"dataset run {ref!r} not found", field="dataset_run_id")
        return row

    def _run(self, conn: Connection, row: Row[Any]) -> DatasetRun:
        dataset_name = None
        if row.dataset_id is not None:
            dataset_name = conn.execute(
                select(datasets.c.name).where(datasets.c.id == row.dataset_id)
            ).scalar_one_or_none()
        count = conn.execute(
            select(func.count()).where(results.c.experiment_id == row.id)
        ).scalar_one()
        if row.unwritten_base is not None:  # its results without a row count too
            count = max(int(count), int(row.plan_size or 0))
        names = list(dict.fromkeys(([row.run_tag] if row.run_tag else []) + list(row.tags)))
        return DatasetRun(
            id=row.id,
            name=row.name,
            description=row.description,
            dataset_id=row.dataset_id,
            dataset_name=dataset_name,
            status=ExperimentStatus(row.status),
            external=row.external,
            tags=[RunTag(id=tag_id(self.project_id, row.dataset_id, n), name=n) for n in names],
            metadata=row.metadata,
            item_count=int(count),
            created_at=row.created_at,
            scoring=run_scoring(conn, row.id),
        )


class _Found:
    """Dataset items an upload names: by id, and the ids of each input (in dataset order)."""

    def __init__(self, keys: InputKeys | None) -> None:
        self.keys = keys
        self.by_id: dict[str, PlannedItem] = {}
        self.by_key: dict[int, list[str]] = {}

    def add(self, item: PlannedItem, key: int | None) -> None:
        if item.id in self.by_id:
            return
        self.by_id[item.id] = item
        if key is not None:
            self.by_key.setdefault(key, []).append(item.id)

    def with_input(self, value: Any) -> list[str]:
        """Items whose input equals ``value`` (the key finds them; equality confirms)."""
        if self.keys is None:
            return []
        text = canonical_json(value)
        found = self.by_key.get(self.keys.of_canonical(text), [])
        return [i for i in found if canonical_json(self.by_id[i].input) == text]


class _Matches:
    """Which result each uploaded item is: the same result id again (a replay), the named
    dataset item, or the first item with an equal input not yet holding this repetition, so
    trials and items with equal inputs each get their own result."""

    def __init__(
        self,
        found: _Found,
        recorded: dict[tuple[str, int], str],
        by_result: dict[str, tuple[str | None, int]],
    ) -> None:
        self.found = found
        self.recorded = recorded
        self.by_result = by_result
        self.taken: dict[tuple[str, int], int] = {}

    def resolve(
        self, i: int, item: RunItemCreate, version: int | None
    ) -> tuple[str | None, int, str | None]:
        """(dataset item id, repetition, result id to replace or None) of ``items[i]``."""
        repetition = item.repetition
        current: str | None = None
        if item.id is not None and item.id in self.by_result:
            item_id, repetition = self.by_result[item.id]
            current = item.id
        elif item.dataset_item_id is not None:
            if item.dataset_item_id not in self.found.by_id:
                raise NotFound(
                    f"items[{i}]: dataset item {item.dataset_item_id!r} is not in the "
                    f"run's dataset (version {version})",
                    field=f"items[{i}].datasetItemId",
                    row=i,
                )
            item_id = item.dataset_item_id
        elif item.input is not None:
            item_id = self._by_input(item, repetition)
        else:
            raise InvalidInput(
                f"items[{i}]: give datasetItemId or input", field=f"items[{i}].input", row=i
            )
        if item_id is None:
            return None, repetition, current
        slot = (item_id, repetition)
        if slot in self.taken:
            raise InvalidInput(
                f"items[{i}]: the same dataset item and repetition as items[{self.taken[slot]}]",
                field=f"items[{i}]",
                row=i,
            )
        self.taken[slot] = i
        return item_id, repetition, current or self.recorded.get(slot)

    def _by_input(self, item: RunItemCreate, repetition: int) -> str | None:
        candidates = self.found.with_input(item.input)
        free = [c for c in candidates if (c, repetition) not in self.taken]
        if item.expected_output is not None:  # among equal inputs, the same expected output
            key = canonical_json(item.expected_output)
            same = [c for c in free if canonical_json(self.found.by_id[c].expected_output) == key]
            free = same or free
        unused = [c for c in free if (c, repetition) not in self.recorded]
        chosen = unused or free or candidates  # none free: refused as a duplicate
        return chosen[0] if chosen else None
