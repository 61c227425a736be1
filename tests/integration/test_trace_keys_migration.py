"""Migration b3f1c0d7 keeps existing traces and observations and gives each its project."""

from __future__ import annotations

from sqlalchemy import text

from assay.store import Database
from assay.store.migrate import downgrade, upgrade


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
