"""API fixtures: the app on the test database, reached through the real SDK client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assay.client import Assay, AsyncAssay
from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, PromptCreate
from assay.server import create_app
from assay.store import Store
from assay.store.projects import get_project
from tests.fakes.provider import FakeProvider

BASE = "http://testserver"
#: What a script (not a web page) sends with a change that is not JSON.
CLIENT_HEADER = {"X-Assay-Client": "tests"}


@pytest.fixture
def api_settings(settings: Settings, store: Store) -> Settings:
    """Single-user settings whose default project is the test's own project."""
    name = get_project(store.db, store.project_id).name
    return settings.model_copy(update={"project": name, "auth": "none", "serve_worker": False})


@pytest.fixture
def app(api_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(api_settings)
    yield application
    application.state.assay.db.dispose()


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE, headers=CLIENT_HEADER) as client:
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
    application = create_app(
        settings.model_copy(update={"project": name, "auth": "keys", "serve_worker": False})
    )
    yield application
    application.state.assay.db.dispose()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def qa(store: Store) -> str:
    dataset = store.datasets.create(DatasetCreate(name="Support Agent QA"))
    store.datasets.add_items(
        dataset.id,
        [
            ItemCreate(input={"query": q}, expected_output={"answer": f"echo: {q}"})
            for q in ("reset password", "pricing plans", "contact support")
        ],
    )
    store.prompts.create(
        PromptCreate(
            name="support-system-prompt",
            template="Answer: {{ input.query }}",
            labels=["production"],
        )
    )
    return dataset.id
