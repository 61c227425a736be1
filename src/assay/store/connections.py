"""Stored provider connections. API keys are write-only (records say only whether one is set)
and stored sealed with the server key (see ``store/sealing.py``)."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.exc import IntegrityError

from assay.domain import Connection, Credentials
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.tables import connections
from assay.store.types import utcnow

PROVIDERS = ("openai", "anthropic")


def _record(row: Row[Any]) -> Connection:
    m = row._mapping
    return Connection.model_construct(
        id=m["id"],
        project_id=m["project_id"],
        name=m["name"],
        provider=m["provider"],
        base_url=m["base_url"],
        has_api_key=bool(m["api_key"]),
        created_at=m["created_at"],
    )


class Connections:
    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def create(
        self, name: str, provider: str, *, base_url: str | None = None, api_key: str | None = None
    ) -> Connection:
        if provider not in PROVIDERS:
            raise InvalidInput(
                f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}",
                field="provider",
            )
        values: dict[str, Any] = {
            "id": new_id(),
            "project_id": self.project_id,
            "name": name,
            "provider": provider,
            "base_url": base_url,
            "api_key": api_key,
            "created_at": utcnow(),
        }
        sealed = {**values, "api_key": self.db.keyring.seal(api_key) if api_key else api_key}
        try:
            with self.db.write() as conn:
                conn.execute(connections.insert().values(sealed))
        except IntegrityError:
            raise Conflict(f"connection {name!r} already exists", field="name") from None
        return Connection.model_construct(
            **{k: v for k, v in values.items() if k != "api_key"}, has_api_key=bool(api_key)
        )

    def _row(self, ref: str) -> Row[Any]:
        with self.db.read() as conn:
            row = conn.execute(
                select(connections).where(
                    connections.c.project_id == self.project_id,
                    or_(connections.c.id == ref, connections.c.name == ref),
                )
            ).first()
        if row is None:
            raise NotFound(f"connection {ref!r} not found", field="connection")
        return row

    def get(self, ref: str) -> Connection:
        return _record(self._row(ref))

    def list(self) -> builtins.list[Connection]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(connections)
                .where(connections.c.project_id == self.project_id)
                .order_by(connections.c.name)
            ).all()
        return [_record(r) for r in rows]

    def credentials(self, ref: str) -> Credentials:
        row = self._row(ref)
        key = self.db.keyring.unseal(row.api_key) if row.api_key else row.api_key
        return Credentials(row.provider, row.base_url, key)
