"""Shared fixtures: a fresh store per test on SQLite, PostgreSQL, or both (``--db``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from assay.config import Settings
from assay.store import Database, Store, open_store
from assay.store.migrate import upgrade

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql", "all"],
        default=os.environ.get("ASSAY_TEST_DB", "sqlite"),
        help="Database(s) for tests that take the `store` fixture (default: sqlite).",
    )


def pg_url() -> str:
    return os.environ.get("ASSAY_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        kinds = ["sqlite", "postgresql"] if choice == "all" else [choice]
        marks = {"postgresql": [pytest.mark.postgres], "sqlite": []}
        metafunc.parametrize(
            "db_kind", [pytest.param(k, marks=marks[k], id=k) for k in kinds], scope="session"
        )


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[Database]:
    """A new, empty PostgreSQL database next to the configured one, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = Database(str(make_url(pg_url()).set(database=name).render_as_string(hide_password=False)))
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Database]:
    """A private PostgreSQL database for this test session, migrated once and dropped after.

    Created next to the configured one (``ASSAY_TEST_POSTGRES_URL``, database ``test`` by
    default), so concurrent test sessions on one server never see each other's schema.
    """
    with scratch_pg_database("assay_test") as db:
        upgrade(db)
        yield db


@pytest.fixture
def empty_db(db_kind: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database with no schema, for migration tests."""
    if db_kind == "postgresql":
        with scratch_pg_database("assay_migrate") as db:
            yield db
        return
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    yield db
    db.dispose()


@pytest.fixture
def db_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if db_kind == "postgresql":
        db: Database = request.getfixturevalue("pg_database")
        return db.url.render_as_string(hide_password=False)
    return f"sqlite:///{tmp_path / 'assay.db'}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """A store in its own project: tests never see each other's rows, on either database."""
    s = open_store(settings, project=f"test-{uuid.uuid4().hex[:12]}")
    yield s
    s.close()
