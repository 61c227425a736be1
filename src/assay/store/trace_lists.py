"""Trace lists: filters in SQL, keyset pages both ways, per-trace and per-session totals.

The page is chosen on ``traces`` alone (newest first on ``(project_id, created_at)``, the
indexed order); what observations and scores add up to is read afterwards for the page's
traces only, through the ``(project_id, trace_id, …)`` and ``trace_id`` indexes. Filters on
observations (model, errors) and scores are ``EXISTS`` subqueries correlated on those indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)

from assay.domain import Score, SessionSummary, TraceQuery, TraceSummary
from assay.errors import InvalidInput
from assay.store.scores import score_record
from assay.store.sql import after_keyset, encode_cursor, json_array_contains, text_contains
from assay.store.tables import observations, scores, traces

_CHUNK = 500
ERROR = "ERROR"


def started() -> ColumnElement[Any]:
    """When a trace started: its start time, or when it was recorded if it has none."""
    return func.coalesce(traces.c.start_time, traces.c.created_at)


def _json_text(column: ColumnElement[Any], key: str, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return cast(column, JSONB).op("->>")(key)
    return func.json_extract(column, f"$.{key}")


def _observed(project_id: str, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(
        select(observations.c.id).where(
            observations.c.project_id == project_id,
            observations.c.trace_id == traces.c.id,
            *conditions,
        )
    )


def filtered(project_id: str, where: TraceQuery, dialect: str) -> Select[Any]:
    """This project's traces that meet every condition of ``where``."""
    query = select(traces).where(traces.c.project_id == project_id)
    if where.search:
        query = query.where(
            or_(
                text_contains(traces.c.name, where.search), text_contains(traces.c.id, where.search)
            )
        )
    if where.name:
        query = query.where(traces.c.name == where.name)
    if where.session_id:
        query = query.where(traces.c.session_id == where.session_id)
    if where.user_id:
        query = query.where(traces.c.user_id == where.user_id)
    for tag in where.tags:
        query = query.where(json_array_contains(traces.c.tags, tag, dialect))
    if where.since is not None:
        query = query.where(started() >= where.since)
    if where.until is not None:
        query = query.where(started() < where.until)
    if where.model:
        query = query.where(_observed(project_id, observations.c.model == where.model))
    if where.errors:
        query = query.where(
            or_(
                _observed(project_id, observations.c.level == ERROR),
                _json_text(traces.c.metadata, "level", dialect) == ERROR,
            )
        )
    if where.score_name:
        conditions = [scores.c.name == where.score_name]
        if where.score_min is not None:
            conditions.append(scores.c.numeric_value >= where.score_min)
        if where.score_max is not None:
            conditions.append(scores.c.numeric_value <= where.score_max)
        query = query.where(
            exists(
                select(scores.c.id).where(
                    scores.c.trace_id == traces.c.id, scores.c.project_id == project_id, *conditions
                )
            )
        )
    return query


@dataclass(frozen=True)
class Keyset:
    """Where a page starts: after (``forward``) or before a trace, in newest-first order."""

    forward: bool
    created_at: datetime
    trace_id: str

    def encode(self) -> str:
        return encode_cursor(
            "n" if self.forward else "p", self.created_at.isoformat(), self.trace_id
        )

    @classmethod
    def decode(cls, cursor: str) -> Keyset:
        from assay.store.sql import decode_cursor

        values = decode_cursor(cursor, 3)
        direction, when, trace_id = values
        try:
            at = datetime.fromisoformat(when)
        except (TypeError, ValueError):
            raise InvalidInput("malformed pagination cursor", field="cursor") from None
        if direction not in ("n", "p") or not isinstance(trace_id, str):
            raise InvalidInput("malformed pagination cursor", field="cursor")
        return cls(direction == "n", at, trace_id)


def page_rows(
    conn: Connection,
    query: Select[Any],
    *,
    limit: int,
    cursor: str | None,
    oldest_first: bool = False,
) -> tuple[list[Any], str | None, str | None]:
    """One page of ``query``'s rows with the cursors before and after it."""
    keys = [traces.c.created_at, traces.c.id]
    newest_first = not oldest_first
    at = Keyset.decode(cursor) if cursor else None
    forward = at is None or at.forward
    descending = newest_first if forward else not newest_first
    if at is not None:
        query = query.where(after_keyset(keys, [at.created_at, at.trace_id], descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    rows = list(conn.execute(query.order_by(*order).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    if not rows:
        return rows, None, None
    first, last = rows[0], rows[-1]
    has_before = at is not None if forward else more
    has_after = more if forward else True
    prev = Keyset(False, first.created_at, first.id).encode() if has_before else None
    after = Keyset(True, last.created_at, last.id).encode() if has_after else None
    return rows, prev, after


def summaries(
    conn: Connection, project_id: str, rows: Sequence[Any], trace: Any
) -> list[TraceSummary]:
    """The traces of ``rows`` with their observations' and scores' totals."""
    ids = [r.id for r in rows]
    totals: dict[str, Any] = {}
    found: dict[str, list[Score]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = (
            select(
                observations.c.trace_id,
                func.count().label("n"),
                func.sum(observations.c.tokens_in).label("tokens_in"),
                func.sum(observations.c.tokens_out).label("tokens_out"),
                func.sum(observations.c.cost).label("cost"),
                func.min(observations.c.start_time).label("first"),
                func.max(observations.c.end_time).label("last"),
                func.max(case((observations.c.level == ERROR, 1), else_=0)).label("error"),
            )
            .where(observations.c.project_id == project_id, observations.c.trace_id.in_(chunk))
            .group_by(observations.c.trace_id)
        )
        totals.update({r.trace_id: r for r in conn.execute(query)})
        query = (
            select(scores)
            .where(scores.c.project_id == project_id, scores.c.trace_id.in_(chunk))
            .order_by(scores.c.name, scores.c.created_at)
        )
        for r in conn.execute(query):
            found.setdefault(r.trace_id, []).append(score_record(r._mapping))
    out = []
    for row in rows:
        t = trace(row)
        agg = totals.get(row.id)
        starts = [x for x in (t.start_time, agg.first if agg else None) if x is not None]
        ends = [x for x in (t.end_time, agg.last if agg else None) if x is not None]
        duration = None
        if starts and ends and max(ends) >= min(starts):
            duration = (max(ends) - min(starts)).total_seconds() * 1000
        level = str((t.metadata or {}).get("level", "")).upper()
        out.append(
            TraceSummary.model_construct(
                **t.__dict__,
                observation_count=int(agg.n) if agg else 0,
                tokens_in=_int(agg.tokens_in) if agg else None,
                tokens_out=_int(agg.tokens_out) if agg else None,
                cost=float(agg.cost) if agg and agg.cost is not None else None,
                duration_ms=duration,
                error=bool(agg and agg.error) or level == ERROR,
                scores=found.get(row.id, []),
            )
        )
    return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def session_page(
    conn: Connection,
    project_id: str,
    *,
    search: str | None,
    user_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[SessionSummary], str | None]:
    """Sessions, the one with the latest trace first, with their totals."""
    from assay.store.sql import decode_cursor

    last = func.max(started())
    query = (
        select(
            traces.c.session_id,
            func.count().label("n"),
            func.min(started()).label("first"),
            last.label("last"),
            func.max(traces.c.user_id).label("user_id"),
        )
        .where(traces.c.project_id == project_id, traces.c.session_id.is_not(None))
        .group_by(traces.c.session_id)
    )
    if search:
        query = query.where(text_contains(traces.c.session_id, search))
    if user_id:
        query = query.where(traces.c.user_id == user_id)
    if cursor:
        when, session = decode_cursor(cursor, 2)
        try:
            at = datetime.fromisoformat(when)
        except (TypeError, ValueError):
            raise InvalidInput("malformed pagination cursor", field="cursor") from None
        query = query.having(after_keyset([last, traces.c.session_id], [at, session], True))
    rows = conn.execute(
        query.order_by(last.desc(), traces.c.session_id.desc()).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    names = [r.session_id for r in rows]
    totals: dict[str, Any] = {}
    for start in range(0, len(names), _CHUNK):
        sums = (
            select(
                traces.c.session_id,
                func.sum(observations.c.tokens_in).label("tokens_in"),
                func.sum(observations.c.tokens_out).label("tokens_out"),
                func.sum(observations.c.cost).label("cost"),
            )
            .select_from(
                traces.join(
                    observations,
                    and_(
                        observations.c.project_id == traces.c.project_id,
                        observations.c.trace_id == traces.c.id,
                    ),
                )
            )
            .where(
                traces.c.project_id == project_id,
                traces.c.session_id.in_(names[start : start + _CHUNK]),
            )
            .group_by(traces.c.session_id)
        )
        totals.update({r.session_id: r for r in conn.execute(sums)})
    items = []
    for r in rows:
        agg = totals.get(r.session_id)
        items.append(
            SessionSummary.model_construct(
                session_id=r.session_id,
                trace_count=int(r.n),
                first_time=r.first,
                last_time=r.last,
                user_id=r.user_id,
                tokens_in=_int(agg.tokens_in) if agg else None,
                tokens_out=_int(agg.tokens_out) if agg else None,
                cost=float(agg.cost) if agg and agg.cost is not None else None,
            )
        )
    next_cursor = None
    if more and items:
        next_cursor = encode_cursor(items[-1].last_time.isoformat(), items[-1].session_id)
    return items, next_cursor
