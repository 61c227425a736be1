"""The response cache: target outputs keyed by a hash of (target config, item input).

Used only when a run asks for it, to make re-runs cheap while developing. Entries are looked up
in bulk before a run and written by the result writer; the first write for a key wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from assay.store.db import Database
from assay.store.sql import upsert
from assay.store.tables import response_cache
from assay.store.types import utcnow


@dataclass(frozen=True, slots=True)
class CachedResponse:
    key: str
    output: Any
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency_ms: float | None = None


class ResponseCache:
    """Cached target responses within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def get_many(self, keys: Sequence[str]) -> dict[str, CachedResponse]:
        found: dict[str, CachedResponse] = {}
        unique = list(dict.fromkeys(keys))
        with self.db.read() as conn:
            for start in range(0, len(unique), 900):
                rows = conn.execute(
                    select(response_cache).where(
                        response_cache.c.project_id == self.project_id,
                        response_cache.c.key.in_(unique[start : start + 900]),
                    )
                )
                for r in rows:
                    found[r.key] = CachedResponse(
                        r.key, r.output, r.tokens_in, r.tokens_out, r.cost, r.latency_ms
                    )
        return found

    def put_many(self, entries: Sequence[CachedResponse]) -> None:
        if not entries:
            return
        now = utcnow()
        rows = [
            {
                "project_id": self.project_id,
                "key": e.key,
                "output": e.output,
                "tokens_in": e.tokens_in,
                "tokens_out": e.tokens_out,
                "cost": e.cost,
                "latency_ms": e.latency_ms,
                "created_at": now,
            }
            for e in {e.key: e for e in entries}.values()
        ]
        stmt = upsert(response_cache, self.db.dialect).on_conflict_do_nothing()
        with self.db.write() as conn:
            conn.execute(stmt, rows)

    def clear(self) -> int:
        """Drop every cached response of the project; returns how many there were."""
        with self.db.write() as conn:
            return conn.execute(
                response_cache.delete().where(response_cache.c.project_id == self.project_id)
            ).rowcount
