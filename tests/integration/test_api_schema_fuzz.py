"""Generated requests over the whole OpenAPI schema: no 5xx, responses match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import checks

from assay.config import Settings
from assay.server import create_app
from assay.store import Store
from assay.store.projects import get_project

pytestmark = pytest.mark.slow

CHECKS = (
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
)


@pytest.fixture
def fuzz_secret(store: Store) -> str:
    return store.keys.create("fuzz").secret_key


@pytest.fixture
def api_schema(settings: Settings, store: Store, fuzz_secret: str) -> Iterator[Any]:
    name = get_project(store.db, store.project_id).name
    app = create_app(settings.model_copy(update={"project": name, "auth": "keys"}))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.assay.db.dispose()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests(case: Any, fuzz_secret: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {fuzz_secret}"})
    case.validate_response(response, checks=CHECKS)
