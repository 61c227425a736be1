"""Settings, ids, the error tree and cursor helpers."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from assay.config import Settings
from assay.errors import AssayError, Conflict, InvalidInput, NotFound, from_validation
from assay.ids import new_id
from assay.store import Database
from assay.store.db import SQLITE_PAGE_SIZE
from assay.store.sql import decode_cursor, encode_cursor


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path))
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'assay.db'}"
    monkeypatch.setenv("ASSAY_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_ids_are_uuid7_and_time_ordered() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert len(set(ids)) == 1000
    # Milliseconds lead, so ids made in later milliseconds sort later.
    assert ids[0][:13] <= ids[-1][:13]


def test_error_tree_carries_status_and_code() -> None:
    err = InvalidInput("row 3: bad cell", row=3, field="input.query")
    assert isinstance(err, AssayError)
    assert (err.status, err.code) == (422, "invalid_input")
    assert err.to_dict() == {
        "code": "invalid_input",
        "message": "row 3: bad cell",
        "details": {"row": 3, "field": "input.query"},
    }
    assert (NotFound("x").status, Conflict("x").status) == (404, 409)


def test_validation_errors_become_invalid_input() -> None:
    class M(BaseModel):
        name: str

    with pytest.raises(ValidationError) as info:
        M(name=None)  # type: ignore[arg-type]
    err = from_validation(info.value, row=4)
    assert err.row == 4
    assert err.field == "name"
    assert err.message.startswith("row 4: name: ")


def test_cursor_round_trip_and_tampering() -> None:
    cursor = encode_cursor(12, "abc")
    assert decode_cursor(cursor, 2) == [12, "abc"]
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, 3)
    with pytest.raises(InvalidInput):
        decode_cursor("%%%", 2)


def test_database_url_is_checked() -> None:
    with pytest.raises(InvalidInput, match="unsupported database"):
        Database("mysql://x@y/z")
    with pytest.raises(InvalidInput, match="not a database URL"):
        Database("::::")


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == SQLITE_PAGE_SIZE
    db.dispose()


def test_an_existing_sqlite_database_keeps_its_page_size(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA journal_mode=WAL")  # created with the default 4 KiB pages
    old.execute("CREATE TABLE t (x)")
    old.execute("INSERT INTO t VALUES (1)")
    old.commit()
    old.close()
    db = Database(f"sqlite:///{path}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
    db.dispose()
