"""Migration b3f1c0d7 keeps existing traces and observations and gives each its project."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from assay.store import Database
from assay.store.migrate import downgrade, upgrade


def pg_url() -> str:
    return os.environ.get(
        "ASSAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


@pytest.fixture
def empty_db(db_kind: str, tmp_path: Path) -> Iterator[Database]:
    if db_kind == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'm.db'}")
        yield db
        db.dispose()
        return
    name = f"assay_trace_keys_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = Database(pg_url().rsplit("/", 1)[0] + f"/{name}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def test_existing_rows_survive_up_and_down(empty_db: Database) -> None:
    upgrade(empty_db, "0001")
    with empty_db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, name, created_at) "
                "VALUES ('p1', 'one', '2026-01-01T00:00:00.000000Z')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO traces (id, project_id, metadata, tags, created_at) "
                "VALUES ('t1', 'p1', '{}', '[]', '2026-01-01T00:00:00.000000Z')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO observations (id, trace_id, type, metadata) "
                "VALUES ('o1', 't1', 'span', '{}')"
            )
        )
    upgrade(empty_db)
    with empty_db.read() as conn:
        row = conn.execute(text("SELECT project_id, trace_id FROM observations")).one()
    assert tuple(row) == ("p1", "t1")
    downgrade(empty_db, "0001")
    with empty_db.read() as conn:
        assert conn.execute(text("SELECT id, trace_id FROM observations")).all() == [("o1", "t1")]
