"""Endpoints (API records): HTTP targets an experiment can call.

Secret headers are write-only: stored sealed with the server key (see ``store/sealing.py``) for
the engine (``secrets()``), never part of the record.
Changing an endpoint's URL drops its secret headers unless new ones come with the change, so a
secret cannot be redirected to a different host.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from assay.domain import CLI_ACTOR, Endpoint, EndpointCreate, EndpointUpdate, Page
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.audit import record
from assay.store.db import Database
from assay.store.sql import after_keyset, decode_cursor, encode_cursor, text_contains
from assay.store.tables import endpoints
from assay.store.types import utcnow


def _endpoint(row: Row[Any]) -> Endpoint:
    m = row._mapping
    return Endpoint.model_construct(
        **{k: m[k] for k in Endpoint.model_fields if k != "secret_header_names"},
        secret_header_names=sorted(m["secret_headers"]),
    )


class Endpoints:
    """Endpoint records within one project."""

    def __init__(self, db: Database, project_id: str, actor: str = CLI_ACTOR) -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor  # who the audit log records for deletes

    def create(self, data: EndpointCreate) -> Endpoint:
        now = utcnow()
        values = {
            "id": new_id(),
            "project_id": self.project_id,
            **data.model_dump(),
            "secret_headers": self._seal(data.secret_headers),
            "created_at": now,
            "updated_at": now,
        }
        with self.db.write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(endpoints.insert().values(values))
            except IntegrityError:
                raise Conflict(f"endpoint {data.name!r} already exists", field="name") from None
            return _endpoint(self._row(conn, values["id"]))

    def create_once(self, data: EndpointCreate) -> tuple[Endpoint, bool]:
        """Create the endpoint, or, when one of that name already has exactly these fields (a
        retried or concurrent identical create), return it: ``(endpoint, created)``. An endpoint
        of that name that differs is a Conflict, and so is one with secret headers: matching
        them would let a caller confirm a guess of a secret it may not read."""
        try:
            return self.create(data), True
        except Conflict:
            with self.db.read() as conn:
                row = conn.execute(
                    select(endpoints).where(
                        endpoints.c.project_id == self.project_id, endpoints.c.name == data.name
                    )
                ).first()
            if row is None or not self._same(row, data):
                raise
            return _endpoint(row), False

    @staticmethod
    def _same(row: Row[Any], data: EndpointCreate) -> bool:
        if row.secret_headers or data.secret_headers:
            return False
        sent = data.model_dump(exclude={"secret_headers"})
        return all(row._mapping[k] == v for k, v in sent.items())

    def get(self, ref: str) -> Endpoint:
        """An endpoint by id or name."""
        with self.db.read() as conn:
            return _endpoint(self._row(conn, ref))

    def secrets(self, ref: str) -> dict[str, str]:
        """The secret headers, for the code that calls the endpoint."""
        with self.db.read() as conn:
            stored = dict(self._row(conn, ref).secret_headers)
        keyring = self.db.keyring
        return {name: keyring.unseal(value) for name, value in stored.items()}

    def _seal(self, headers: dict[str, str] | None) -> dict[str, str]:
        keyring = self.db.keyring
        return {name: keyring.seal(value) for name, value in (headers or {}).items()}

    def list(
        self, *, search: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Endpoint]:
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        query = select(endpoints).where(endpoints.c.project_id == self.project_id)
        if search:
            query = query.where(
                or_(text_contains(endpoints.c.name, search), text_contains(endpoints.c.url, search))
            )
        if cursor:
            name, last_id = decode_cursor(cursor, 2)
            query = query.where(
                after_keyset([endpoints.c.name, endpoints.c.id], [name, last_id], False)
            )
        with self.db.read() as conn:
            rows = conn.execute(
                query.order_by(endpoints.c.name, endpoints.c.id).limit(limit + 1)
            ).all()
        items = [_endpoint(r) for r in rows[:limit]]
        next_cursor = encode_cursor(items[-1].name, items[-1].id) if len(rows) > limit else None
        return Page[Endpoint](items=items, next_cursor=next_cursor)

    def update(self, ref: str, data: EndpointUpdate) -> Endpoint:
        changes = data.model_dump(exclude_unset=True)
        for field in ("name", "url", "method", "headers", "secret_headers", "timeout_s"):
            if field in changes and changes[field] is None:
                raise InvalidInput(f"{field} cannot be null", field=field)
        with self.db.write() as conn:
            row = self._row(conn, ref)
            if "url" in changes and changes["url"] != row.url and "secret_headers" not in changes:
                changes["secret_headers"] = {}
            if changes.get("secret_headers"):
                changes["secret_headers"] = self._seal(changes["secret_headers"])
            if changes:
                changes["updated_at"] = utcnow()
                try:
                    with conn.begin_nested():
                        conn.execute(
                            update(endpoints).where(endpoints.c.id == row.id).values(changes)
                        )
                except IntegrityError:
                    raise Conflict(
                        f"endpoint {changes['name']!r} already exists", field="name"
                    ) from None
            return _endpoint(self._row(conn, row.id))

    def delete(self, ref: str) -> None:
        with self.db.write() as conn:
            row = self._row(conn, ref)
            conn.execute(delete(endpoints).where(endpoints.c.id == row.id))
            record(
                conn,
                self.project_id,
                self.actor,
                "endpoint.delete",
                "endpoint",
                row.id,
                name=row.name,
            )

    def _row(self, conn: Connection, ref: str) -> Row[Any]:
        row = conn.execute(
            select(endpoints).where(
                endpoints.c.project_id == self.project_id,
                or_(endpoints.c.id == ref, endpoints.c.name == ref),
            )
        ).first()
        if row is None:
            raise NotFound(f"endpoint {ref!r} not found", field="endpoint")
        return row
