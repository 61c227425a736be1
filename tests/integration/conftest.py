"""API fixtures: the app on the test database, reached through the real SDK client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.client import Assay, AsyncAssay
from assay.config import Settings
from assay.server import create_app
from assay.store import Store
from assay.store.projects import get_project

BASE = "http://testserver"


@pytest.fixture
def api_settings(settings: Settings, store: Store) -> Settings:
    """Single-user settings whose default project is the test's own project."""
    name = get_project(store.db, store.project_id).name
    return settings.model_copy(update={"project": name, "auth": "none"})


@pytest.fixture
def app(api_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(api_settings)
    yield application
    application.state.assay.db.dispose()


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as client:
        yield client


@pytest.fixture
def client(http: TestClient) -> Assay:
    return Assay(base_url=BASE, http_client=http, max_retries=0)


@pytest.fixture
async def aclient(app: FastAPI) -> AsyncIterator[AsyncAssay]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield AsyncAssay(base_url=BASE, http_client=http, max_retries=0)


@pytest.fixture
def keyed_app(settings: Settings, store: Store) -> Iterator[FastAPI]:
    """The app with API-key authentication on."""
    name = get_project(store.db, store.project_id).name
    application = create_app(settings.model_copy(update={"project": name, "auth": "keys"}))
    yield application
    application.state.assay.db.dispose()
