"""``assay keys``: create, list and revoke a project's keys on the server's database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from assay.cli.keys import parse_duration
from assay.cli.main import app
from assay.config import Settings
from assay.store import Database
from assay.store.keys import authenticate

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI and the checks read the server key (it peppers key hashes) from this home."""
    monkeypatch.setenv("ASSAY_HOME", str(settings.home))


def test_create_list_revoke(settings: Settings, db_url: str) -> None:
    project = f"cli-{uuid.uuid4().hex[:10]}"
    created = runner.invoke(
        app, ["--db", db_url, "keys", "create", "--project", project, "--name", "ci", "--json"]
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    assert key["public_key"].startswith("pk-")
    assert key["secret_key"].startswith("sk-")

    db = Database(db_url)
    try:
        assert authenticate(db, public_key=None, secret=key["secret_key"]).name == project
        listed = runner.invoke(
            app, ["--db", db_url, "keys", "list", "--project", project, "--json"]
        )
        assert [k["name"] for k in json.loads(listed.output)] == ["ci"]
        assert key["secret_key"] not in listed.output

        revoked = runner.invoke(
            app, ["--db", db_url, "keys", "revoke", key["public_key"], "--project", project]
        )
        assert revoked.exit_code == 0, revoked.output
        listed = runner.invoke(
            app, ["--db", db_url, "keys", "list", "--project", project, "--json"]
        )
        assert json.loads(listed.output) == []
    finally:
        db.dispose()


def test_revoking_another_projects_key_fails(settings: Settings, db_url: str) -> None:
    owner, other = (f"cli-{uuid.uuid4().hex[:10]}" for _ in range(2))
    created = runner.invoke(app, ["--db", db_url, "keys", "create", "--project", owner, "--json"])
    public_key = json.loads(created.output)["public_key"]
    result = runner.invoke(app, ["--db", db_url, "keys", "revoke", public_key, "--project", other])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "not found" in str(result.exception)


def _cli(db_url: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db_url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_roles_expiry_and_the_audit_list(settings: Settings, db_url: str) -> None:
    project = f"cli-{uuid.uuid4().hex[:10]}"
    scope = ["--project", project]
    reader = json.loads(
        _cli(db_url, "keys", "create", *scope, "--role", "read", "--expires-in", "30d", "--json")
    )
    assert reader["role"] == "read"
    expires = datetime.fromisoformat(reader["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    plain = json.loads(_cli(db_url, "keys", "create", *scope, "--json"))
    assert (plain["role"], plain["expires_at"]) == ("write", None)

    listed = {
        k["public_key"]: k for k in json.loads(_cli(db_url, "keys", "list", *scope, "--json"))
    }
    assert listed[reader["public_key"]]["role"] == "read"
    assert listed[reader["public_key"]]["expires_at"] is not None
    table = _cli(db_url, "keys", "list", *scope)
    for shown in ("Role", "Expires", "never", "read"):
        assert shown in table

    _cli(db_url, "keys", "set-role", plain["public_key"], "admin", *scope)
    _cli(db_url, "keys", "revoke", reader["public_key"], *scope)
    entries = json.loads(_cli(db_url, "audit", "list", *scope, "--json"))["items"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("key.revoke", "cli"),
        ("key.role", "cli"),
        ("key.create", "cli"),
        ("key.create", "cli"),
    ]
    assert "key.role" in _cli(db_url, "audit", "list", *scope)


@pytest.mark.parametrize("given", ["30", "0d", "3y", "-1d", "1000000w"])
def test_bad_durations_are_refused(settings: Settings, db_url: str, given: str) -> None:
    result = runner.invoke(app, ["--db", db_url, "keys", "create", "--expires-in", given])
    assert result.exit_code != 0
    assert "expires-in" in (result.output + str(result.exception))


@pytest.mark.parametrize(
    ("given", "length"),
    [("12h", timedelta(hours=12)), ("30d", timedelta(days=30)), ("2w", timedelta(weeks=2))],
)
def test_durations(given: str, length: timedelta) -> None:
    assert parse_duration(given) == length
