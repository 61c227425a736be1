"""The traces waiting for online evaluation, and the ledger that makes it exactly once.

- **Waiting.** Every ingestion (the trace API, the SDK, OTLP) marks the traces it wrote in
  ``online_pending`` with the time (``touched_at``), in its own transaction, while the project
  has an enabled rule. A later batch of the same trace moves ``touched_at`` on, so a trace is
  *ready* once nothing arrived for it during the settle time.
- **Claiming.** A worker takes ready traces with a lease (``claimed_by``, ``claimed_until``):
  under SQLite's single writer, or ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers
  never take one trace. A claim expires after its lease, and the claims of a process that died
  on this host are taken back at once, so a restart loses nothing.
- **Exactly once.** Each score is stored together with an ``online_evaluations`` row keyed by
  (rule, evaluator, trace) in one transaction; a second attempt finds the key taken and
  stores nothing, whoever makes it and however late.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, exists, or_, select, update

from assay.domain import ScoreCreate, ScoreDataType, ScoreSource
from assay.ids import new_id
from assay.store.claims import claim_rows, free_dead_claims
from assay.store.db import Database
from assay.store.sql import upsert
from assay.store.tables import online_evaluations, online_pending, online_rules, scores
from assay.store.types import utcnow


@dataclass(frozen=True, slots=True)
class PendingTrace:
    """A claimed trace: which one, and the ingestion its evaluation answers."""

    project_id: str
    trace_id: str
    touched_at: datetime


@dataclass(slots=True)
class Evaluated:
    """The scores one evaluator gave one trace for one rule."""

    rule_id: str
    evaluator: str
    scores: list[ScoreCreate]


@dataclass(slots=True)
class TraceOutcome:
    """A claimed trace and what its evaluators gave it (nothing: released unscored)."""

    pending: PendingTrace
    done: list[Evaluated]
    retry: bool = False  # its evaluation broke: left claimed until the lease ends


def mark_pending(
    conn: Connection, dialect: str, project_id: str, trace_ids: Iterable[str], now: datetime
) -> None:
    """Record (inside an ingestion's transaction) that these traces changed, if the project
    has an enabled online rule."""
    ids = sorted(set(trace_ids))
    if not ids:
        return
    active = conn.execute(
        select(online_rules.c.id)
        .where(online_rules.c.project_id == project_id, online_rules.c.enabled.is_(True))
        .limit(1)
    ).first()
    if active is None:
        return
    statement = upsert(online_pending, dialect)
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "trace_id"],
        set_={"touched_at": statement.excluded.touched_at},
    )
    conn.execute(
        statement, [{"project_id": project_id, "trace_id": i, "touched_at": now} for i in ids]
    )


class OnlineQueue:
    """Ready traces handed to workers, across every project."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(
        self,
        worker: str,
        *,
        settle_s: float,
        lease_s: float,
        limit: int = 50,
        project_ids: Sequence[str] | None = None,
    ) -> list[PendingTrace]:
        """Take up to ``limit`` traces untouched for ``settle_s`` seconds that no live worker
        holds, oldest first, for ``lease_s`` seconds."""
        self._free_dead_claims()
        now = utcnow()
        p = online_pending.c
        query = (
            select(p.project_id, p.trace_id, p.touched_at)
            .where(
                p.touched_at <= now - timedelta(seconds=settle_s),
                or_(p.claimed_until.is_(None), p.claimed_until < now),
            )
            .order_by(p.touched_at, p.trace_id)
            .limit(limit)
        )
        if project_ids is not None:
            query = query.where(p.project_id.in_(list(project_ids)))
        rows = claim_rows(
            self.db,
            online_pending,
            query,
            ("project_id", "trace_id"),
            worker=worker,
            lease_s=lease_s,
            now=now,
        )
        return [PendingTrace(r.project_id, r.trace_id, r.touched_at) for r in rows]

    def _free_dead_claims(self) -> None:
        free_dead_claims(self.db, online_pending)

    def release(self, worker: str, done: PendingTrace) -> bool:
        """Drop a trace evaluated by ``worker``; one ingested again meanwhile stays, free for
        the next look. Returns whether it was dropped."""
        with self.db.write() as conn:
            return _release(conn, worker, done)

    def pending(self, project_id: str | None = None) -> int:
        """How many traces wait (ready or not)."""
        query = select(online_pending.c.trace_id)
        if project_id is not None:
            query = query.where(online_pending.c.project_id == project_id)
        with self.db.read() as conn:
            return len(conn.execute(query).all())

    def evaluated(self, project_id: str, trace_id: str) -> set[tuple[str, str]]:
        """The (rule id, evaluator) pairs that already scored this trace."""
        e = online_evaluations.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(e.rule_id, e.evaluator).where(
                    e.project_id == project_id, e.trace_id == trace_id
                )
            ).all()
        return {(r.rule_id, r.evaluator) for r in rows}

    def evaluated_many(
        self, project_id: str, trace_ids: Sequence[str]
    ) -> dict[str, set[tuple[str, str]]]:
        """:meth:`evaluated` for many traces of a project, in one read."""
        e = online_evaluations.c
        ids = sorted(set(trace_ids))
        out: dict[str, set[tuple[str, str]]] = {i: set() for i in ids}
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                for r in conn.execute(
                    select(e.trace_id, e.rule_id, e.evaluator).where(
                        e.project_id == project_id, e.trace_id.in_(ids[start : start + 500])
                    )
                ):
                    out[r.trace_id].add((r.rule_id, r.evaluator))
        return out

    def store_batch(self, worker: str, batch: Sequence[TraceOutcome]) -> tuple[int, int]:
        """:meth:`store` for a batch of claimed traces in one transaction: every claim is
        released (those with nothing to store too), and each (rule, evaluator, trace) not
        stored before gets its scores. Returns (scores stored, evaluations skipped)."""
        if not batch:
            return 0, 0
        now = utcnow()
        stored = skipped = 0
        p = online_pending.c
        e = online_evaluations.c
        with self.db.write() as conn:
            keys = [
                {"pid": o.pending.project_id, "tid": o.pending.trace_id, "at": o.pending.touched_at}
                for o in batch
                if not o.retry
            ]
            mine = and_(
                p.project_id == bindparam("pid"),
                p.trace_id == bindparam("tid"),
                p.claimed_by == worker,
            )
            if keys:
                conn.execute(
                    delete(online_pending).where(mine, p.touched_at == bindparam("at")), keys
                )
                conn.execute(  # ingested again meanwhile: kept, free for the next look
                    update(online_pending).where(mine).values(claimed_by=None, claimed_until=None),
                    [{"pid": k["pid"], "tid": k["tid"]} for k in keys],
                )
            rules = sorted({d.rule_id for o in batch for d in o.done})
            live = (
                set(
                    conn.execute(select(online_rules.c.id).where(online_rules.c.id.in_(rules)))
                    .scalars()
                    .all()
                )
                if rules
                else set()
            )
            wanted: dict[tuple[str, str, str], tuple[TraceOutcome, Evaluated]] = {}
            for outcome in batch:
                for evaluated in outcome.done:
                    key = (evaluated.rule_id, evaluated.evaluator, outcome.pending.trace_id)
                    if evaluated.rule_id not in live or key in wanted:
                        skipped += 1  # the rule was deleted while the scorer ran
                        continue
                    wanted[key] = (outcome, evaluated)
            ledger = [
                {
                    "rule_id": rule_id,
                    "evaluator": evaluator,
                    "trace_id": trace_id,
                    "project_id": outcome.pending.project_id,
                    "score_id": None,
                    "ingested_at": outcome.pending.touched_at,
                    "created_at": now,
                }
                for (rule_id, evaluator, trace_id), (outcome, _) in wanted.items()
            ]
            taken: set[tuple[str, str, str]] = set()
            for start in range(0, len(ledger), 500):  # one multi-row INSERT … RETURNING
                statement = (
                    upsert(online_evaluations, self.db.dialect)
                    .values(ledger[start : start + 500])
                    .on_conflict_do_nothing()
                    .returning(e.rule_id, e.evaluator, e.trace_id)
                )
                taken.update((r[0], r[1], r[2]) for r in conn.execute(statement))
            skipped += len(wanted) - len(taken)
            rows: list[dict[str, Any]] = []
            firsts: list[dict[str, Any]] = []
            for key in sorted(taken):
                outcome, evaluated = wanted[key]
                ids = [new_id() for _ in evaluated.scores]
                rows.extend(
                    _score_row(s, i, outcome.pending.project_id, key[2], key[0], now)
                    for s, i in zip(evaluated.scores, ids, strict=True)
                )
                if ids:
                    firsts.append({"r": key[0], "ev": key[1], "t": key[2], "sid": ids[0]})
            if rows:
                conn.execute(scores.insert(), rows)
                conn.execute(
                    update(online_evaluations)
                    .where(
                        e.rule_id == bindparam("r"),
                        e.evaluator == bindparam("ev"),
                        e.trace_id == bindparam("t"),
                    )
                    .values(score_id=bindparam("sid")),
                    firsts,
                )
            stored = len(rows)
        return stored, skipped

    def store(
        self,
        project_id: str,
        trace_id: str,
        ingested_at: datetime,
        done: Sequence[Evaluated],
        *,
        release: tuple[str, PendingTrace] | None = None,
    ) -> tuple[int, int]:
        """Store each evaluator's scores on the trace unless that (rule, evaluator, trace)
        was stored before, and ``release`` (worker, claim) the trace; one transaction.
        Returns (scores stored, evaluations skipped)."""
        stored = skipped = 0
        now = utcnow()
        rules = {d.rule_id for d in done}
        with self.db.write() as conn:
            if release is not None:
                _release(conn, *release)
            live = set(
                conn.execute(
                    select(online_rules.c.id).where(online_rules.c.id.in_(sorted(rules)))
                ).scalars()
            )
            for evaluated in done:
                if evaluated.rule_id not in live:  # deleted while the scorer ran
                    skipped += 1
                    continue
                ids = [new_id() for _ in evaluated.scores]
                claim = upsert(online_evaluations, self.db.dialect).on_conflict_do_nothing()
                taken = conn.execute(
                    claim.values(
                        rule_id=evaluated.rule_id,
                        evaluator=evaluated.evaluator,
                        trace_id=trace_id,
                        project_id=project_id,
                        score_id=None,
                        ingested_at=ingested_at,
                        created_at=now,
                    ).returning(online_evaluations.c.rule_id)
                ).first()
                if taken is None:
                    skipped += 1
                    continue
                if ids:
                    conn.execute(
                        scores.insert(),
                        [
                            _score_row(s, i, project_id, trace_id, evaluated.rule_id, now)
                            for s, i in zip(evaluated.scores, ids, strict=True)
                        ],
                    )
                    conn.execute(
                        update(online_evaluations)
                        .where(
                            online_evaluations.c.rule_id == evaluated.rule_id,
                            online_evaluations.c.evaluator == evaluated.evaluator,
                            online_evaluations.c.trace_id == trace_id,
                        )
                        .values(score_id=ids[0])
                    )
                stored += len(ids)
        return stored, skipped

    def has_enabled_rules(self) -> bool:
        with self.db.read() as conn:
            return bool(
                conn.execute(select(exists().where(online_rules.c.enabled.is_(True)))).scalar()
            )


def _release(conn: Connection, worker: str, done: PendingTrace) -> bool:
    p = online_pending.c
    mine = and_(
        p.project_id == done.project_id, p.trace_id == done.trace_id, p.claimed_by == worker
    )
    gone = conn.execute(delete(online_pending).where(mine, p.touched_at == done.touched_at))
    if not gone.rowcount:
        conn.execute(update(online_pending).where(mine).values(claimed_by=None, claimed_until=None))
    return bool(gone.rowcount)


def _score_row(
    s: ScoreCreate, score_id: str, project_id: str, trace_id: str, rule_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": score_id,
        "project_id": project_id,
        "experiment_id": None,
        "result_id": None,
        "trace_id": trace_id,
        "name": s.name,
        "data_type": (s.data_type or ScoreDataType.categorical).value,
        "numeric_value": s.numeric_value,
        "string_value": s.string_value,
        "passed": s.passed,
        "reason": s.reason,
        "source": ScoreSource.online.value,
        "evaluator_id": s.evaluator_id,
        "evaluator_version": s.evaluator_version,
        "cost": s.cost,
        "tokens_in": s.tokens_in,
        "tokens_out": s.tokens_out,
        "latency_ms": s.latency_ms,
        "metadata": {**s.metadata, "online_rule_id": rule_id},
        "created_at": now,
        "updated_at": now,
    }
