"""Projects and their API keys.

A key is a public part (``pk-…``, stored as is) and a secret (``sk-…``, 256 random bits, stored
only as its HMAC-SHA256 keyed by the server's pepper, ``h1:<hex>``; see ``store/sealing.py``).
Keys hashed before the pepper (a bare SHA-256) still authenticate, and their hash is replaced
by the peppered one when they do. Secrets are shown once, when created; a revoked key never
authenticates, nor does one past its ``expires_at``.

Each key has a role (``read``, ``write``, ``admin``; see ``KeyRole``). Creating and revoking
keys and changing their roles are recorded in the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, or_, select, update

from assay.domain import CLI_ACTOR, ApiKey, ApiKeyCreated, KeyRole, Project
from assay.errors import NotFound, Unauthorized
from assay.ids import new_id
from assay.store.audit import record
from assay.store.db import Database
from assay.store.tables import api_keys, projects
from assay.store.types import utcnow

_TOUCH_EVERY = timedelta(minutes=1)


_PEPPERED = "h1:"


def hash_secret(secret: str) -> str:
    """The unpeppered hash of keys created before the pepper (accepted, then upgraded)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def peppered_hash(db: Database, secret: str) -> str:
    return _PEPPERED + db.keyring.pepper(secret)


def _key(row: Row[Any]) -> ApiKey:
    m = row._mapping
    values = {k: m[k] for k in ApiKey.model_fields}
    return ApiKey.model_construct(**{**values, "role": KeyRole(values["role"])})


class Keys:
    """API keys of one project; ``actor`` is who the audit log records for changes."""

    def __init__(self, db: Database, project_id: str, actor: str = CLI_ACTOR) -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor

    def create(
        self,
        name: str | None = None,
        *,
        role: KeyRole = KeyRole.write,
        expires_at: datetime | None = None,
    ) -> ApiKeyCreated:
        """A new key pair; it stops authenticating at ``expires_at`` (default: never)."""
        public = f"pk-{secrets.token_hex(16)}"
        secret = f"sk-{secrets.token_urlsafe(32)}"
        key = ApiKey(
            id=new_id(),
            project_id=self.project_id,
            name=name,
            public_key=public,
            role=KeyRole(role),
            created_at=utcnow(),
            expires_at=expires_at,
            last_used_at=None,
            revoked_at=None,
        )
        with self.db.write() as conn:
            conn.execute(
                api_keys.insert().values(
                    **key.model_dump(), secret_hash=peppered_hash(self.db, secret)
                )
            )
            self._audit(
                conn,
                "key.create",
                key.public_key,
                role=key.role.value,
                expires_at=expires_at.isoformat() if expires_at else None,
            )
        return ApiKeyCreated(key=key, secret_key=secret)

    def _audit(self, conn: Connection, action: str, public_key: str, **details: Any) -> None:
        record(conn, self.project_id, self.actor, action, "key", public_key, **details)

    def _find(self, conn: Connection, ref: str) -> Row[Any]:
        row = conn.execute(
            select(api_keys).where(
                api_keys.c.project_id == self.project_id,
                or_(api_keys.c.id == ref, api_keys.c.public_key == ref),
            )
        ).first()
        if row is None:
            raise NotFound(f"API key {ref!r} not found", field="key")
        return row

    def set_role(self, ref: str, role: KeyRole) -> ApiKey:
        """Change a key's role (by id or public key); it applies from the next request."""
        role = KeyRole(role)
        with self.db.write() as conn:
            row = self._find(conn, ref)
            if row.role != role.value:
                conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(role=role))
                self._audit(conn, "key.role", row.public_key, previous=row.role, role=role.value)
            return _key(conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one())

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = select(api_keys).where(api_keys.c.project_id == self.project_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(api_keys.c.created_at, api_keys.c.id)).all()
        return [_key(r) for r in rows]

    def revoke(self, ref: str) -> ApiKey:
        """Revoke a key by its id or public key; revoking twice keeps the first time."""
        with self.db.write() as conn:
            row = self._find(conn, ref)
            if row.revoked_at is None:
                conn.execute(
                    update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=utcnow())
                )
                self._audit(conn, "key.revoke", row.public_key)
            found = conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one()
        return _key(found)


def authenticate(db: Database, *, public_key: str | None, secret: str) -> Project:
    """The project a (public key, secret) pair or a bare secret belongs to; else Unauthorized."""
    return authenticate_key(db, public_key=public_key, secret=secret)[0]


def authenticate_key(
    db: Database, *, public_key: str | None, secret: str, now: datetime | None = None
) -> tuple[Project, ApiKey]:
    """The project and the key of a (public key, secret) pair or a bare secret; Unauthorized
    when none matches, the key is revoked, or it expired (then the message says so)."""
    digest, legacy = peppered_hash(db, secret), hash_secret(secret)
    query = select(
        api_keys,
        projects.c.name.label("project_name"),
        projects.c.created_at.label("project_created_at"),
    ).join(projects, projects.c.id == api_keys.c.project_id)
    if public_key is not None:
        query = query.where(api_keys.c.public_key == public_key)
    else:
        query = query.where(api_keys.c.secret_hash.in_([digest, legacy]))
    with db.read() as conn:
        row = conn.execute(query).first()
    stored = "" if row is None else row.secret_hash
    upgrade = hmac.compare_digest(stored, legacy)
    if (
        row is None
        or row.revoked_at is not None
        or not (hmac.compare_digest(stored, digest) or upgrade)
    ):
        raise Unauthorized("invalid or revoked API key")
    now = now or utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized(
            f"API key {row.public_key} expired at {row.expires_at.isoformat(timespec='seconds')}:"
            " create a new one"
        )
    changes: dict[str, Any] = {"secret_hash": digest} if upgrade else {}
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        changes["last_used_at"] = now
    if changes:
        with db.write() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(**changes))
    project = Project(id=row.project_id, name=row.project_name, created_at=row.project_created_at)
    return project, _key(row)
