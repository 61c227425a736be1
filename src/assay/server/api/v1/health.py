"""``/health``: liveness plus a database round trip."""

from __future__ import annotations

from fastapi import APIRouter, Request

from assay import __version__
from assay.domain import Health
from assay.server.auth import Public

router = APIRouter(tags=["health"])


@router.get("/health", dependencies=[Public])
def health(request: Request) -> Health:
    """The server is up and its database answers."""
    state = request.app.state.assay
    state.db.ping()
    return Health(
        status="ok", version=__version__, database=state.db.dialect, auth=state.settings.auth
    )
