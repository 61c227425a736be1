"""Security tests share the API fixtures (the app on SQLite and PostgreSQL, a fake provider)
and add a keyed client: a tenant holding one project's API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.store import Store
from tests.integration import conftest as api

BASE = api.BASE
aclient = api.aclient
api_settings = api.api_settings
app = api.app
http = api.http
client = api.client
keyed_app = api.keyed_app
fake = api.fake
qa = api.qa


@pytest.fixture
def tenant(keyed_app: FastAPI, store: Store) -> Iterator[TestClient]:
    """A raw HTTP client authenticated with a project key, as a tenant's script would be."""
    created = store.keys.create("tenant")
    headers = {"Authorization": f"Bearer {created.secret_key}"}
    with TestClient(keyed_app, base_url="http://testserver", headers=headers) as raw:
        yield raw


@pytest.fixture
def server_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The operator's provider keys, in the server's environment."""
    keys = {"OPENAI_API_KEY": "sk-operator-openai", "ANTHROPIC_API_KEY": "sk-operator-anthropic"}
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    return keys
