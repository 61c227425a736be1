"""Online evaluation rules of a project, and their scores over time.

Checking that a rule's evaluators exist and its filter and mapping make sense is the use
case's job (``assay.service.online.check_rule``), done before anything here is called.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    case,
    cast,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from assay.domain import CLI_ACTOR, ScoreSource
from assay.domain.online import (
    JudgeCostPoint,
    OnlineEvaluatorRef,
    OnlinePoint,
    OnlineRule,
    OnlineRuleCreate,
    OnlineRuleUpdate,
    OnlineScores,
    OnlineSeries,
    TraceFilter,
)
from assay.errors import Conflict, NotFound
from assay.ids import new_id
from assay.store.audit import record
from assay.store.db import Database
from assay.store.tables import online_rules, scores
from assay.store.types import utcnow

#: The key of an online score's metadata that names the rule that wrote it.
RULE_KEY = "online_rule_id"


def _rule(row: Row[Any]) -> OnlineRule:
    m = row._mapping
    return OnlineRule.model_construct(
        id=m["id"],
        project_id=m["project_id"],
        name=m["name"],
        enabled=bool(m["enabled"]),
        filter=TraceFilter.model_validate(m["filter"] or {}),
        sample_rate=float(m["sample_rate"]),
        evaluators=[OnlineEvaluatorRef.model_validate(e) for e in m["evaluators"] or []],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _stored(data: OnlineRuleCreate | OnlineRuleUpdate) -> dict[str, Any]:
    """The columns a create or an update sets."""
    values: dict[str, Any] = {}
    given = data.model_fields_set if isinstance(data, OnlineRuleUpdate) else type(data).model_fields
    for key in given:
        value = getattr(data, key)
        if value is None and key != "filter":
            continue
        if key == "filter":
            value = (value or TraceFilter()).model_dump(exclude_defaults=True)
        elif key == "evaluators":
            value = [e.model_dump(exclude_defaults=True) for e in value]
        values[key] = value
    return values


def rule_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """The rule id in a score's metadata, as text."""
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(column, RULE_KEY)
    return func.json_extract(column, f"$.{RULE_KEY}")


class OnlineRules:
    """Online rule operations within one project."""

    def __init__(self, db: Database, project_id: str, actor: str = CLI_ACTOR) -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor

    def _row(self, conn: Connection, ref: str) -> Row[Any]:
        row = conn.execute(
            select(online_rules).where(
                online_rules.c.project_id == self.project_id,
                or_(online_rules.c.id == ref, online_rules.c.name == ref),
            )
        ).first()
        if row is None:
            raise NotFound(f"online rule {ref!r} not found", field="rule")
        return row

    def create(self, data: OnlineRuleCreate) -> OnlineRule:
        now = utcnow()
        values = {
            "id": new_id(),
            "project_id": self.project_id,
            **_stored(data),
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.db.write() as conn:
                conn.execute(online_rules.insert().values(values))
                return _rule(self._row(conn, values["id"]))
        except IntegrityError:
            raise Conflict(
                f"an online rule named {data.name!r} already exists", field="name"
            ) from None

    def get(self, ref: str) -> OnlineRule:
        """A rule by id or name."""
        with self.db.read() as conn:
            return _rule(self._row(conn, ref))

    def list(self, *, enabled: bool | None = None) -> builtins.list[OnlineRule]:
        """The project's rules by name."""
        query = select(online_rules).where(online_rules.c.project_id == self.project_id)
        if enabled is not None:
            query = query.where(online_rules.c.enabled.is_(enabled))
        with self.db.read() as conn:
            return [_rule(r) for r in conn.execute(query.order_by(online_rules.c.name))]

    def update(self, ref: str, changes: OnlineRuleUpdate) -> OnlineRule:
        values = _stored(changes)
        try:
            with self.db.write() as conn:
                row = self._row(conn, ref)
                if values:
                    conn.execute(
                        online_rules.update()
                        .where(online_rules.c.id == row.id)
                        .values(**values, updated_at=utcnow())
                    )
                return _rule(self._row(conn, row.id))
        except IntegrityError:
            raise Conflict(
                f"an online rule named {changes.name!r} already exists", field="name"
            ) from None

    def delete(self, ref: str) -> None:
        """Delete a rule; the scores it wrote stay on their traces."""
        with self.db.write() as conn:
            row = self._row(conn, ref)
            conn.execute(delete(online_rules).where(online_rules.c.id == row.id))
            record(
                conn,
                self.project_id,
                self.actor,
                "online_rule.delete",
                "online_rule",
                row.id,
                name=row.name,
            )

    # ------------------------------------------------------------------ over time
    def scores_over_time(
        self, *, since: datetime, bucket_s: int, rule_id: str | None = None
    ) -> OnlineScores:
        """Count, mean and pass rate of each online score name per bucket of ``bucket_s``
        seconds since ``since``, and what their scorers cost; oldest first."""
        if rule_id is not None:
            rule_id = self.get(rule_id).id
        c = scores.c
        bucket = _bucket(c.created_at, self.db.dialect, bucket_s).label("bucket")
        where = [c.project_id == self.project_id, c.source == ScoreSource.online.value]
        where.append(c.created_at >= since)
        if rule_id is not None:
            where.append(rule_of(c.metadata, self.db.dialect) == rule_id)
        broken = (c.numeric_value.is_(None)) & (c.string_value.is_(None))
        query = (
            select(
                c.name,
                bucket,
                func.count().label("n"),
                func.avg(c.numeric_value).label("mean"),
                func.sum(case((c.passed.is_(True), 1), else_=0)).label("passed"),
                func.sum(case((c.passed.is_(False), 1), else_=0)).label("failed"),
                func.sum(case((broken, 1), else_=0)).label("errors"),
                func.sum(func.coalesce(c.cost, 0.0)).label("cost"),
                func.sum(func.coalesce(c.tokens_in, 0)).label("tokens_in"),
                func.sum(func.coalesce(c.tokens_out, 0)).label("tokens_out"),
            )
            .where(*where)
            .group_by(c.name, bucket)
            .order_by(c.name, bucket)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        series: dict[str, builtins.list[OnlinePoint]] = {}
        costs: dict[int, builtins.list[float]] = {}
        for r in rows:
            start = int(r.bucket) * bucket_s
            verdicts = int(r.passed) + int(r.failed)
            series.setdefault(r.name, []).append(
                OnlinePoint(
                    start=datetime.fromtimestamp(start, UTC),
                    count=int(r.n),
                    mean=None if r.mean is None else float(r.mean),
                    passed=int(r.passed),
                    failed=int(r.failed),
                    pass_rate=int(r.passed) / verdicts if verdicts else None,
                    errors=int(r.errors),
                )
            )
            total = costs.setdefault(start, [0, 0.0, 0, 0])
            total[0] += int(r.n)
            total[1] += float(r.cost)
            total[2] += int(r.tokens_in)
            total[3] += int(r.tokens_out)
        return OnlineScores(
            rule_id=rule_id,
            bucket_s=bucket_s,
            since=since,
            series=[OnlineSeries(name=n, points=p) for n, p in series.items()],
            judge_cost=[
                JudgeCostPoint(
                    start=datetime.fromtimestamp(start, UTC),
                    scores=int(t[0]),
                    cost=round(t[1], 10),
                    tokens_in=int(t[2]),
                    tokens_out=int(t[3]),
                )
                for start, t in sorted(costs.items())
            ],
        )


def _bucket(column: Any, dialect: str, width: int) -> ColumnElement[Any]:
    """``column``'s bucket number: whole ``width``-second periods since the Unix epoch."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column) / width)
    # SQLite stores "YYYY-MM-DDTHH:MM:SS.ffffffZ", which strftime reads as UTC.
    return cast(func.strftime("%s", column), Integer) // width
