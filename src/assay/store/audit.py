"""The audit log: each destructive or security-relevant action is recorded by the repository
that does it, in the same transaction, so an action and its record commit (or not) together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from assay.domain import AuditEntry, Page
from assay.errors import InvalidInput
from assay.ids import new_id
from assay.store.db import Database
from assay.store.sql import after_keyset, decode_cursor, encode_cursor
from assay.store.tables import audit_log
from assay.store.types import utcnow


def record(
    conn: Connection,
    project_id: str,
    actor: str,
    action: str,
    target_kind: str,
    target_id: str,
    **details: Any,
) -> None:
    """Write one entry on ``conn`` (inside the transaction of the action it records)."""
    conn.execute(
        audit_log.insert().values(
            id=new_id(),
            project_id=project_id,
            at=utcnow(),
            actor=actor,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            details={k: v for k, v in details.items() if v is not None},
        )
    )


def _entry(row: Row[Any]) -> AuditEntry:
    m = row._mapping
    return AuditEntry.model_construct(**{k: m[k] for k in AuditEntry.model_fields})


class AuditLog:
    """The audit entries of one project, newest first."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def list(
        self, *, action: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[AuditEntry]:
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        c = audit_log.c
        query = select(audit_log).where(c.project_id == self.project_id)
        if action:
            query = query.where(c.action == action)
        if cursor:
            at, last_id = decode_cursor(cursor, 2)
            try:
                stamp = datetime.fromisoformat(at)
            except (TypeError, ValueError):
                raise InvalidInput("malformed pagination cursor", field="cursor") from None
            query = query.where(after_keyset([c.at, c.id], [stamp, last_id], descending=True))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(c.at.desc(), c.id.desc()).limit(limit + 1)).all()
        items = [_entry(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(items[-1].at.isoformat(), items[-1].id)
        return Page[AuditEntry](items=items, next_cursor=next_cursor)
