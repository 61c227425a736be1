"""Uploaded results waiting for the dataset's attached evaluators, and the ledger that makes
their scoring exactly once.

- **Queued.** An upload (``POST /dataset-runs/{id}/items/``, the CSV upload) writes, in its own
  transaction, one ``upload_scoring`` row per (completed result, attached evaluator version)
  whose score the upload did not carry. The key is (result, evaluator version): uploading the
  same batch again queues nothing new.
- **Claimed.** A worker takes a batch of rows with a lease (``claimed_by``, ``claimed_until``):
  under SQLite's single writer, or ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers
  never take one row. A claim expires after its lease, and the claims of a process that died on
  this host are taken back at once.
- **Done once.** A batch's scores are written with ``done_at`` in one transaction, and only for
  rows still without ``done_at``: a second attempt (an expired lease, a restart) stores nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, tuple_, update

from assay.domain import ResultStatus, RunScoring, ScoreCreate, ScoreSource
from assay.store.claims import claim_rows, free_dead_claims
from assay.store.db import Database
from assay.store.scores import StoredResult, replace_scores
from assay.store.sql import upsert
from assay.store.tables import (
    dataset_evaluators,
    dataset_items,
    evaluators,
    experiments,
    results,
    scores,
    upload_scoring,
)
from assay.store.types import utcnow

_CHUNK = 500
u = upload_scoring.c


@dataclass(frozen=True, slots=True)
class ScoringJob:
    """One claimed (result, evaluator version)."""

    project_id: str
    experiment_id: str
    result_id: str
    evaluator_id: str


def queue_scoring(
    conn: Connection,
    dialect: str,
    project_id: str,
    run: Any,
    wanted: Mapping[str, set[str]],
) -> int:
    """Queue (inside an upload's transaction) each completed result of ``wanted`` (result id →
    score names the upload carried) for every evaluator attached to the run's dataset whose
    name is not among them. Returns how many jobs were new."""
    if not wanted or run.dataset_id is None:
        return 0
    attached = conn.execute(
        select(evaluators.c.id, evaluators.c.name)
        .join(dataset_evaluators, dataset_evaluators.c.evaluator_id == evaluators.c.id)
        .where(dataset_evaluators.c.dataset_id == run.dataset_id)
    ).all()
    if not attached:
        return 0
    now = utcnow()
    rows = [
        {
            "result_id": rid,
            "evaluator_id": evaluator_id,
            "project_id": project_id,
            "experiment_id": run.id,
            "queued_at": now,
        }
        for rid, given in wanted.items()
        for evaluator_id, name in attached
        if name not in given
    ]
    if not rows:
        return 0
    before = _count(conn, run.id)
    statement = upsert(upload_scoring, dialect).on_conflict_do_nothing()
    for start in range(0, len(rows), 5000):
        conn.execute(statement, rows[start : start + 5000])
    return _count(conn, run.id) - before


def _count(conn: Connection, run_id: str) -> int:
    return int(conn.execute(select(func.count()).where(u.experiment_id == run_id)).scalar_one())


def run_scoring(conn: Connection, run_id: str) -> RunScoring:
    """How many of a run's jobs wait and how many are done."""
    rows = conn.execute(
        select(u.done_at.is_(None), func.count())
        .where(u.experiment_id == run_id)
        .group_by(u.done_at.is_(None))
    ).all()
    counts = {bool(waiting): int(n) for waiting, n in rows}
    results_waiting = 0
    if counts.get(True):
        results_waiting = int(
            conn.execute(
                select(func.count(u.result_id.distinct())).where(
                    u.experiment_id == run_id, u.done_at.is_(None)
                )
            ).scalar_one()
        )
    return RunScoring(
        pending=counts.get(True, 0), done=counts.get(False, 0), pending_results=results_waiting
    )


class UploadScoringQueue:
    """Scoring jobs handed to workers, across every project."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(
        self,
        worker: str,
        *,
        lease_s: float,
        limit: int = 100,
        project_ids: Sequence[str] | None = None,
    ) -> list[ScoringJob]:
        """Take up to ``limit`` jobs no live worker holds, oldest first, for ``lease_s``."""
        self._free_dead_claims()
        now = utcnow()
        query = (
            select(u.project_id, u.experiment_id, u.result_id, u.evaluator_id)
            .where(u.done_at.is_(None), or_(u.claimed_until.is_(None), u.claimed_until < now))
            .order_by(u.queued_at, u.result_id, u.evaluator_id)
            .limit(limit)
        )
        if project_ids is not None:
            query = query.where(u.project_id.in_(list(project_ids)))
        rows = claim_rows(
            self.db,
            upload_scoring,
            query,
            ("result_id", "evaluator_id"),
            worker=worker,
            lease_s=lease_s,
            now=now,
        )
        return [
            ScoringJob(r.project_id, r.experiment_id, r.result_id, r.evaluator_id) for r in rows
        ]

    def _free_dead_claims(self) -> None:
        free_dead_claims(self.db, upload_scoring, u.done_at.is_(None))

    def results(self, jobs: Sequence[ScoringJob]) -> dict[str, StoredResult]:
        """The claimed jobs' completed results (with their items' context and metadata), by
        id, in one read per chunk."""
        ids = sorted({j.result_id for j in jobs})
        out: dict[str, StoredResult] = {}
        item = dataset_items.alias("item")
        version = experiments.c.dataset_version
        alive = and_(
            item.c.id == results.c.item_id,
            or_(version.is_(None), item.c.valid_from <= version),
            or_(item.c.valid_to.is_(None), and_(version.is_not(None), item.c.valid_to > version)),
        )
        with self.db.read() as conn:
            for start in range(0, len(ids), _CHUNK):
                rows = conn.execute(
                    select(results, item.c.context.label("ctx"), item.c.metadata.label("m"))
                    .select_from(
                        results.join(
                            experiments, experiments.c.id == results.c.experiment_id
                        ).outerjoin(item, alive)
                    )
                    .where(
                        results.c.id.in_(ids[start : start + _CHUNK]),
                        results.c.status == ResultStatus.completed.value,
                    )
                ).all()
                for r in rows:
                    out[r.id] = StoredResult(
                        r.id,
                        r.item_id,
                        r.repetition,
                        r.input,
                        r.expected_output,
                        r.output,
                        r.latency_ms,
                        r.cost,
                        r.tokens_in,
                        r.tokens_out,
                        r.ctx,
                        dict(r.m or {}),
                    )
        return out

    def uploaded(self, result_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(result id, score name) of the evaluator scores an uploader sent (they carry no
        evaluator id): an evaluator of that name leaves such a result alone."""
        ids = sorted(set(result_ids))
        found: set[tuple[str, str]] = set()
        with self.db.read() as conn:
            for start in range(0, len(ids), _CHUNK):
                found.update(
                    (r.result_id, r.name)
                    for r in conn.execute(
                        select(scores.c.result_id, scores.c.name).where(
                            scores.c.result_id.in_(ids[start : start + _CHUNK]),
                            scores.c.source == ScoreSource.evaluator.value,
                            scores.c.evaluator_id.is_(None),
                        )
                    )
                )
        return found

    def finish(
        self, jobs: Sequence[ScoringJob], scored: Mapping[tuple[str, str], list[ScoreCreate]]
    ) -> tuple[int, builtins.list[str]]:
        """Mark ``jobs`` done and store the scores of those not done before (``scored`` by
        (result id, evaluator id); a job without an entry is done without a score), in one
        transaction. Returns (scores stored, runs whose last job this was)."""
        now = utcnow()
        stored = 0
        runs: dict[tuple[str, str], dict[str, builtins.list[ScoreCreate]]] = {}
        with self.db.write() as conn:
            keys = [(j.result_id, j.evaluator_id) for j in jobs]
            fresh: set[tuple[str, str]] = set()
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                fresh.update(
                    (r.result_id, r.evaluator_id)
                    for r in conn.execute(
                        select(u.result_id, u.evaluator_id).where(
                            tuple_(u.result_id, u.evaluator_id).in_(chunk), u.done_at.is_(None)
                        )
                    )
                )
            if not fresh:
                return 0, []
            conn.execute(
                update(upload_scoring)
                .where(u.result_id == bindparam("rid"), u.evaluator_id == bindparam("eid"))
                .values(done_at=now, claimed_by=None, claimed_until=None),
                [{"rid": r, "eid": e} for r, e in sorted(fresh)],
            )
            for job in jobs:
                key = (job.result_id, job.evaluator_id)
                if key not in fresh or key not in scored:
                    continue
                fresh.discard(key)  # a job listed twice stores once
                by_result = runs.setdefault((job.project_id, job.experiment_id), {})
                by_result.setdefault(job.result_id, []).extend(scored[key])
            for (project_id, run_id), by_result in runs.items():
                # replace_scores replaces the names it is given on every result it is given:
                # one call per set of names, so a result keeps the scores it was not given.
                groups: dict[frozenset[str], dict[str, builtins.list[ScoreCreate]]] = {}
                for rid, given in by_result.items():
                    groups.setdefault(frozenset(s.name for s in given), {})[rid] = given
                for group in groups.values():
                    replace_scores(conn, project_id, run_id, group)
                stored += sum(len(v) for v in by_result.values())
            touched = sorted({j.experiment_id for j in jobs})
            finished = [
                run_id
                for run_id in touched
                if conn.execute(
                    select(u.result_id)
                    .where(u.experiment_id == run_id, u.done_at.is_(None))
                    .limit(1)
                ).first()
                is None
            ]
        return stored, finished

    def mark_done(
        self, run_id: str, evaluator_ids: Sequence[str], *, queued_before: datetime
    ) -> int:
        """Close a run's jobs of these evaluators queued before ``queued_before`` (the run was
        scored by a direct call that started then)."""
        if not evaluator_ids:
            return 0
        with self.db.write() as conn:
            done = conn.execute(
                update(upload_scoring)
                .where(
                    u.experiment_id == run_id,
                    u.evaluator_id.in_(list(evaluator_ids)),
                    u.done_at.is_(None),
                    u.queued_at <= queued_before,
                )
                .values(done_at=utcnow(), claimed_by=None, claimed_until=None)
            )
        return int(done.rowcount or 0)

    def release(self, worker: str, jobs: Sequence[ScoringJob]) -> None:
        """Give jobs back unfinished (a failed pass), free for the next look."""
        with self.db.write() as conn:
            conn.execute(
                update(upload_scoring)
                .where(
                    u.result_id == bindparam("rid"),
                    u.evaluator_id == bindparam("eid"),
                    u.claimed_by == worker,
                    u.done_at.is_(None),
                )
                .values(claimed_by=None, claimed_until=None),
                [{"rid": j.result_id, "eid": j.evaluator_id} for j in jobs],
            )
