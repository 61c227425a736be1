"""Migrations go up, down and up again on SQLite and PostgreSQL, and match the tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from assay.store import Database
from assay.store.migrate import (
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    scripted_head,
    upgrade,
)
from assay.store.tables import metadata


def tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_up_down_up(empty_db: Database) -> None:
    assert current_revision(empty_db) is None
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()
    assert tables(empty_db) == set(metadata.tables)

    downgrade(empty_db, "base")
    assert current_revision(empty_db) is None
    assert tables(empty_db) == set()

    upgrade(empty_db)
    assert tables(empty_db) == set(metadata.tables)


def test_migrations_match_the_table_definitions(empty_db: Database) -> None:
    upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_ensure_schema_is_idempotent(empty_db: Database) -> None:
    ensure_schema(empty_db)
    ensure_schema(empty_db)
    assert current_revision(empty_db) == head_revision()


def test_scripted_head_is_alembics_head() -> None:
    assert scripted_head() is not None
    assert scripted_head() == head_revision()


def test_ensure_schema_upgrades_a_database_behind_the_head(empty_db: Database) -> None:
    upgrade(empty_db, "0001")
    ensure_schema(empty_db)
    assert current_revision(empty_db) == head_revision()
    assert tables(empty_db) == set(metadata.tables)
