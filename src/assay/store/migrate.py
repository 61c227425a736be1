"""Schema migrations: Alembic scripts shipped inside the package, applied on first use.

Opening a store checks the schema on every start, so the check is cheap when the database is
current: the stored revision is compared with the newest script's, read from the scripts' text,
and Alembic is imported only when they differ (or either cannot be read plainly). A database
with no tables at all is given the newest schema straight from the table definitions and
stamped with the newest revision, rather than replaying every migration: a new store opens in
milliseconds. ``tests/integration/test_migrations.py`` holds the two schemas equal.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.exc import DBAPIError

from assay.store.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPTS = Path(__file__).parent / "migrations"
_PG_LOCK = 7_311_946  # advisory lock id: one migrator at a time on PostgreSQL
_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*[\"']([\w-]+)[\"']\s*$", re.M)
# Alembic's own version table, as it creates it.
_VERSION = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
_DOWN = re.compile(
    r"^down_revision(?:\s*:\s*str\s*\|\s*None)?\s*=\s*(?:None|[\"']([\w-]+)[\"'])\s*$", re.M
)


def _config(conn: Connection | None = None, db: Database | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")  # NNNN_slug.py with --rev-id NNNN
    cfg.attributes["connection"] = conn
    if db is not None:  # migrations that seal stored secrets use the database's server key
        cfg.attributes["keyring"] = db.keyring
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def scripted_head() -> str | None:
    """The newest revision, read from the scripts' text; None if that is not plain.

    Every script must state one ``revision`` and one ``down_revision`` (a string or None) in
    the form Alembic's template writes, and exactly one revision must have no successor.
    Anything else (merges, hand-written forms) gives None, and callers ask Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_SCRIPTS / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _stored_revision(db: Database) -> str | None:
    """The revision in ``alembic_version`` if there is exactly one; None otherwise."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no version table yet, or no database: the full check will tell
        return None
    return rows[0][0] if len(rows) == 1 else None


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    from alembic import command

    _run(db, lambda cfg: command.upgrade(cfg, revision))


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    _run(db, lambda cfg: command.downgrade(cfg, revision))


def ensure_schema(db: Database) -> None:
    """Apply pending migrations if the database is behind; cheap when it is current."""
    head = scripted_head()
    if head is not None and _stored_revision(db) == head:
        return
    if head is not None and _created(db, head):
        return
    if current_revision(db) != head_revision():
        upgrade(db)


def _created(db: Database, head: str) -> bool:
    """Create the newest schema, stamped ``head``, if the database has no table at all."""
    from assay.store.tables import metadata

    with db.write() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        if inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        _VERSION.create(conn)
        conn.execute(_VERSION.insert().values(version_num=head))
    return True


def _run(db: Database, action: object) -> None:
    assert callable(action)
    with db.write() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        action(_config(conn, db))
