"""Migrations go up, down and up again on SQLite and PostgreSQL, and match the tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
from tests.conftest import scratch_pg_database


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


def _schema(db: Database) -> dict[str, object]:
    """Every table's columns, keys and indexes as reflected, defaults written alike."""
    found = inspect(db.engine)

    def default(text: str | None) -> str | None:
        return None if text is None else text.strip("()'").lower()

    return {
        table: {
            "columns": sorted(  # in any order: migrations add columns at the end
                (c["name"], str(c["type"]), c["nullable"], default(c.get("default")))
                for c in found.get_columns(table)
            ),
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (
                    fk["name"] or "",
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                    fk.get("options", {}).get("ondelete"),
                )
                for fk in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"] or "", i["column_names"], bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", u["column_names"]) for u in found.get_unique_constraints(table)
            ),
        }
        for table in sorted(found.get_table_names())
    }


def test_a_new_database_gets_the_schema_the_migrations_build(
    empty_db: Database, db_kind: str, tmp_path: Path
) -> None:
    ensure_schema(empty_db)  # no table yet: created from the definitions, then stamped
    assert current_revision(empty_db) == head_revision()
    with _another_empty(db_kind, tmp_path) as migrated:
        upgrade(migrated)
        assert _schema(empty_db) == _schema(migrated)


@contextmanager
def _another_empty(db_kind: str, tmp_path: Path) -> Iterator[Database]:
    if db_kind == "postgresql":
        with scratch_pg_database("assay_migrate_b") as db:
            yield db
        return
    db = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        yield db
    finally:
        db.dispose()
