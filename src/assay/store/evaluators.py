"""Saved evaluators (versioned scorer configurations) and datasets' default evaluators.

Saving an evaluator under an existing name appends its next version; older versions stay, so
experiments that recorded an evaluator id keep pointing at the configuration they used. A
dataset's defaults are attached evaluator versions; saving a new version of an attached
evaluator moves the attachment to it, so future runs use the latest configuration.

Checking that ``kind``, ``params`` and ``mapping`` make a working scorer is the scoring layer's
job (``assay.scoring.check``), done before :meth:`Evaluators.create` by the API and the SDK.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from assay.domain import CLI_ACTOR, Evaluator, EvaluatorCreate
from assay.errors import Conflict, NotFound
from assay.ids import new_id
from assay.store.audit import record
from assay.store.db import Database
from assay.store.sealing import has_sealed
from assay.store.sql import text_contains
from assay.store.tables import dataset_evaluators, datasets, evaluators
from assay.store.types import utcnow

_RETRIES = 10


def _evaluator(row: Row[Any]) -> Evaluator:
    return Evaluator.model_construct(**row._mapping)


class Evaluators:
    """Evaluator operations within one project."""

    def __init__(self, db: Database, project_id: str, actor: str = CLI_ACTOR) -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor  # who the audit log records for deletes

    def _open(self, row: Row[Any]) -> Evaluator:
        """The record of a row, its sealed parameters opened (for the scorer that needs them)."""
        evaluator = _evaluator(row)
        if not has_sealed(evaluator.params):
            return evaluator
        return evaluator.model_copy(
            update={"params": self.db.keyring.unseal_tree(evaluator.params)}
        )

    # ------------------------------------------------------------------ evaluators
    def create(self, data: EvaluatorCreate, *, move_attachments: bool = True) -> Evaluator:
        """Save a new evaluator, or the next version of the one with the same name."""
        for attempt in range(_RETRIES):
            try:
                with self.db.write() as conn:
                    return self._create(conn, data, move_attachments)
            except IntegrityError:  # a concurrent save took the same version number
                if attempt == _RETRIES - 1:
                    raise Conflict(
                        f"evaluator {data.name!r} was saved concurrently; try again", field="name"
                    ) from None
        raise AssertionError("unreachable")

    def _create(self, conn: Connection, data: EvaluatorCreate, move: bool) -> Evaluator:
        latest = conn.execute(
            self._by_name(data.name).order_by(evaluators.c.version.desc()).limit(1)
        ).first()
        values: dict[str, Any] = {
            "id": new_id(),
            "project_id": self.project_id,
            "name": data.name,
            "version": 1 if latest is None else latest.version + 1,
            "kind": data.kind,
            "params": data.params,
            "mapping": data.mapping,
            "threshold": data.threshold,
            "created_at": utcnow(),
        }
        sealed = {**values, "params": self.db.keyring.seal_tree(data.params)}
        conn.execute(evaluators.insert().values(sealed))
        if latest is not None and move:
            conn.execute(
                update(dataset_evaluators)
                .where(dataset_evaluators.c.evaluator_id == latest.id)
                .values(evaluator_id=values["id"])
            )
        return Evaluator.model_construct(**values)

    def _by_name(self, name: str) -> Any:
        return select(evaluators).where(
            evaluators.c.project_id == self.project_id, evaluators.c.name == name
        )

    def _ids_named(self, name: str) -> Any:
        return select(evaluators.c.id).where(
            evaluators.c.project_id == self.project_id, evaluators.c.name == name
        )

    def _row(self, conn: Connection, ref: str, version: int | None = None) -> Row[Any]:
        """An evaluator by id, or by name (its latest version, or ``version``)."""
        by_id = conn.execute(
            select(evaluators).where(
                evaluators.c.project_id == self.project_id, evaluators.c.id == ref
            )
        ).first()
        if by_id is not None:
            if version is not None and by_id.version != version:
                raise NotFound(
                    f"evaluator {ref!r} is version {by_id.version}, not {version}",
                    field="version",
                )
            return by_id
        query = self._by_name(ref)
        if version is not None:
            query = query.where(evaluators.c.version == version)
        row = conn.execute(query.order_by(evaluators.c.version.desc()).limit(1)).first()
        if row is None:
            what = f"evaluator {ref!r}" + (f" version {version}" if version is not None else "")
            raise NotFound(f"{what} not found", field="evaluator")
        return row

    def get(self, ref: str, *, version: int | None = None) -> Evaluator:
        """An evaluator by id, or by name (latest version unless ``version`` is given)."""
        with self.db.read() as conn:
            return self._open(self._row(conn, ref, version))

    def list(
        self, *, search: str | None = None, kind: str | None = None
    ) -> builtins.list[Evaluator]:
        """The latest version of every evaluator, by name."""
        latest = (
            select(evaluators.c.name, func.max(evaluators.c.version).label("version"))
            .where(evaluators.c.project_id == self.project_id)
            .group_by(evaluators.c.name)
            .subquery()
        )
        query = select(evaluators).join(
            latest,
            and_(evaluators.c.name == latest.c.name, evaluators.c.version == latest.c.version),
        )
        query = query.where(evaluators.c.project_id == self.project_id)
        if search:
            query = query.where(
                or_(
                    text_contains(evaluators.c.name, search),
                    text_contains(evaluators.c.kind, search),
                )
            )
        if kind:
            query = query.where(evaluators.c.kind == kind)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(evaluators.c.name)).all()
        return [self._open(r) for r in rows]

    def versions(self, ref: str) -> builtins.list[Evaluator]:
        """Every version of an evaluator (by id or name), newest first."""
        with self.db.read() as conn:
            name = self._row(conn, ref).name
            rows = conn.execute(self._by_name(name).order_by(evaluators.c.version.desc())).all()
        return [self._open(r) for r in rows]

    def delete(self, ref: str, *, version: int | None = None) -> int:
        """Delete an evaluator: one version (an id, or a name with ``version``) or, for a
        name alone, all its versions. Returns how many versions were deleted; dataset
        attachments to them go too."""
        with self.db.write() as conn:
            row = self._row(conn, ref, version)
            if row.id == ref or version is not None:
                ids = [row.id]
            else:
                ids = list(conn.execute(self._ids_named(row.name)).scalars())
            conn.execute(
                delete(dataset_evaluators).where(dataset_evaluators.c.evaluator_id.in_(ids))
            )
            conn.execute(delete(evaluators).where(evaluators.c.id.in_(ids)))
            for gone in ids:
                record(
                    conn,
                    self.project_id,
                    self.actor,
                    "evaluator.delete",
                    "evaluator",
                    gone,
                    name=row.name,
                )
            return len(ids)

    # ------------------------------------------------------------------ dataset defaults
    def _dataset_id(self, conn: Connection, ref: str) -> str:
        row = conn.execute(
            select(datasets.c.id).where(
                datasets.c.project_id == self.project_id,
                or_(datasets.c.id == ref, datasets.c.name == ref),
            )
        ).first()
        if row is None:
            raise NotFound(f"dataset {ref!r} not found", field="dataset")
        return str(row.id)

    def attach(self, dataset: str, evaluator: str, *, version: int | None = None) -> Evaluator:
        """Make an evaluator one of a dataset's defaults (replacing another version of it).

        By name, the latest version is attached (or ``version``); by id, that exact version.
        Attaching what is already attached changes nothing.
        """
        with self.db.write() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            row = self._row(conn, evaluator, version)
            same_name = self._ids_named(row.name)
            conn.execute(
                delete(dataset_evaluators).where(
                    dataset_evaluators.c.dataset_id == dataset_id,
                    dataset_evaluators.c.evaluator_id.in_(same_name),
                    dataset_evaluators.c.evaluator_id != row.id,
                )
            )
            exists = conn.execute(
                select(dataset_evaluators.c.evaluator_id).where(
                    dataset_evaluators.c.dataset_id == dataset_id,
                    dataset_evaluators.c.evaluator_id == row.id,
                )
            ).first()
            if exists is None:
                conn.execute(
                    dataset_evaluators.insert().values(
                        dataset_id=dataset_id, evaluator_id=row.id, created_at=utcnow()
                    )
                )
            return self._open(row)

    def detach(self, dataset: str, evaluator: str) -> None:
        """Remove an evaluator (any of its versions, by name or id) from a dataset's defaults."""
        with self.db.write() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            name = self._row(conn, evaluator).name
            same_name = self._ids_named(name)
            removed = conn.execute(
                delete(dataset_evaluators).where(
                    dataset_evaluators.c.dataset_id == dataset_id,
                    dataset_evaluators.c.evaluator_id.in_(same_name),
                )
            ).rowcount
            if not removed:
                raise NotFound(
                    f"evaluator {name!r} is not attached to dataset {dataset!r}", field="evaluator"
                )

    def defaults(self, dataset: str) -> builtins.list[Evaluator]:
        """The evaluators attached to a dataset, in the order they were attached."""
        with self.db.read() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            rows = conn.execute(
                select(evaluators)
                .join(dataset_evaluators, dataset_evaluators.c.evaluator_id == evaluators.c.id)
                .where(dataset_evaluators.c.dataset_id == dataset_id)
                .order_by(dataset_evaluators.c.created_at, evaluators.c.name)
            ).all()
        return [self._open(r) for r in rows]
