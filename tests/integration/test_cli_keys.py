"""``assay keys``: create, list and revoke a project's keys on the server's database."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

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
