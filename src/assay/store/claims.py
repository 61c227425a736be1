"""Leased claims on queue rows: what the online evaluator and the upload scorer share.

A queue table has ``claimed_by`` and ``claimed_until`` columns. A worker takes rows nobody
holds (or whose lease ran out) with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, under SQLite's
single writer otherwise, and stamps them with its id and a lease. Claims of a worker whose
process is gone from this host are released at once rather than when their lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Table, and_, bindparam, select, update

from assay.store.db import Database
from assay.store.planning import worker_alive
from assay.store.types import utcnow


def claim_rows(
    db: Database,
    table: Table,
    query: Select[Any],
    keys: Sequence[str],
    *,
    worker: str,
    lease_s: float,
    now: datetime,
) -> list[Row[Any]]:
    """The rows ``query`` selects (it must select the ``keys`` columns), claimed by ``worker``
    for ``lease_s`` seconds in the same transaction."""
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    with db.write() as conn:
        rows = conn.execute(query).all()
        if rows:
            where = and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
            conn.execute(
                update(table)
                .where(where)
                .values(claimed_by=worker, claimed_until=now + timedelta(seconds=lease_s)),
                [{f"k_{k}": getattr(r, k) for k in keys} for r in rows],
            )
    return list(rows)


def free_dead_claims(db: Database, table: Table, *open_: ColumnElement[bool]) -> None:
    """Release the unexpired claims (of rows matching ``open_``) of workers whose process is
    gone from this host."""
    c = table.c
    now = utcnow()
    with db.read() as conn:
        holders = conn.execute(
            select(c.claimed_by).where(c.claimed_until >= now, *open_).distinct()
        ).scalars()
        dead = [h for h in holders if not worker_alive(h, now, 1e9)]
    if dead:
        with db.write() as conn:
            conn.execute(
                update(table)
                .where(c.claimed_by.in_(dead), *open_)
                .values(claimed_by=None, claimed_until=None)
            )
