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
from assay.domain import KeyRole
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
    return store.keys.create("fuzz", role=KeyRole.admin).secret_key  # every route is reached


@pytest.fixture
def api_schema(settings: Settings, store: Store, fuzz_secret: str) -> Iterator[Any]:
    name = get_project(store.db, store.project_id).name
    app = create_app(
        settings.model_copy(
            # Bad credentials are fuzzed on purpose: no failed-login limit (tested on its own).
            update={
                "project": name,
                "auth": "keys",
                "serve_worker": False,
                "rate_limit_auth_failures": 0,
            }
        )
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.assay.db.dispose()


@pytest.fixture(autouse=True)
def _legacy_node_id(request: pytest.FixtureRequest) -> None:
    """Give the test item the ``_nodeid`` attribute schemathesis' pytest plugin reads.

    schemathesis (4.32 at least) reads and rewrites ``request.node._nodeid`` to name each API
    operation in reports; pytest 9.2 keeps the id in ``_id`` (a ``NodeId``) and has no
    ``_nodeid`` any more. A plain string attribute is enough: on pytest 9.2 the rewritten value
    is only cosmetic, on older pytest the attribute already exists and is left alone.
    """
    node = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests(case: Any, fuzz_secret: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {fuzz_secret}"})
    case.validate_response(response, checks=CHECKS)
