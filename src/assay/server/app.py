"""The app factory: one FastAPI app per Settings, migrations applied before it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assay import __version__
from assay.config import Settings
from assay.domain import ImportRequest
from assay.outbound import server_policy
from assay.server import docs, errors
from assay.server.api.v1 import router as v1_router
from assay.server.api.v1.health import router as health_router
from assay.server.guards import OutboundScope, RequestGuard
from assay.server.limits import BodySizeLimit
from assay.server.otlp import router as otlp_router
from assay.server.web import router as web_router
from assay.service.worker import Worker
from assay.store import Database, ensure_project, ensure_schema, load_keyring

DESCRIPTION = """\
Datasets of test cases, prompts, endpoints and traces for evaluating LLM applications.

Authenticate with an API key pair as HTTP Basic (`public_key:secret_key`) or with
`Authorization: Bearer <secret_key>`. Errors are `{"error": {"code", "message", "details"}}`.
"""


@dataclass(frozen=True)
class AppState:
    """What every request needs: settings, the database, and the single-user project."""

    settings: Settings
    db: Database
    default_project_id: str
    worker: Worker | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: open the database, apply pending migrations, mount the routers."""
    settings = settings or Settings()
    db = Database(
        settings.resolved_database_url,
        echo=settings.echo_sql,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    db.keyring = load_keyring(settings)
    ensure_schema(db)
    default = ensure_project(db, settings.project)

    worker = Worker(settings, db) if settings.serve_worker else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start_thread()
        yield
        # A worker still inside a run keeps its connections: the process exit closes them.
        if worker is None or worker.stop():
            db.dispose()

    app = FastAPI(
        title="Assay",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by assay.server.docs, without a CDN
        redoc_url=None,
    )
    app.state.assay = AppState(
        settings=settings, db=db, default_project_id=default.id, worker=worker
    )
    errors.install(app)
    app.add_middleware(OutboundScope, policy=server_policy(settings))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestGuard, loopback_only=settings.auth == "none")  # outermost
    app.include_router(health_router)
    app.include_router(docs.router)
    app.include_router(v1_router, prefix="/api/v1", responses=errors.ERROR_RESPONSES)
    app.include_router(otlp_router)  # /v1/traces, where OpenTelemetry exporters post
    app.include_router(web_router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the API-key security schemes."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        # Bodies parsed by hand (JSON or multipart import) still need their schemas listed.
        for extra in (ImportRequest,):
            body = extra.model_json_schema(ref_template="#/components/schemas/{model}")
            components.setdefault("schemas", {}).update(body.pop("$defs", {}))
            components["schemas"][extra.__name__] = body
        components["securitySchemes"] = {
            "apiKeyPair": {
                "type": "http",
                "scheme": "basic",
                "description": "public key as user name, secret key as password",
            },
            "secretKey": {"type": "http", "scheme": "bearer"},
        }
        for path, operations in schema.get("paths", {}).items():
            if path.startswith(("/api/", "/v1/")):
                for operation in operations.values():
                    operation["security"] = [{"apiKeyPair": []}, {"secretKey": []}]
        app.openapi_schema = schema
    return app.openapi_schema
