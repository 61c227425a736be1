"""``/api/v1/endpoints/``: HTTP endpoints (API records). Secret headers are write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from assay.domain import Endpoint, EndpointCreate, EndpointUpdate, Page
from assay.outbound import server_policy
from assay.server.auth import ProjectStore

router = APIRouter(tags=["endpoints"])


def _check_outbound(request: Request, url: str | None) -> None:
    """An endpoint may not point into the server's own network (``ASSAY_OUTBOUND_ALLOW``)."""
    if url is not None:
        server_policy(request.app.state.assay.settings).screen_url(url)


@router.get("/endpoints/")
def list_endpoints(
    store: ProjectStore,
    search: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[Endpoint]:
    return store.endpoints.list(search=search, limit=limit, cursor=cursor)


@router.post(
    "/endpoints/",
    status_code=201,
    responses={200: {"model": Endpoint, "description": "An identical endpoint already existed."}},
)
def create_endpoint(
    store: ProjectStore, request: Request, body: EndpointCreate, response: Response
) -> Endpoint:
    """Save an endpoint; only the names of ``secret_headers`` ever come back. Saving it again
    with the same fields and no secret headers returns it (200); otherwise a name in use is a
    conflict (409)."""
    _check_outbound(request, body.url)
    endpoint, created = store.endpoints.create_once(body)
    if not created:
        response.status_code = 200
    return endpoint


@router.get("/endpoints/{endpoint_id}/")
def get_endpoint(store: ProjectStore, endpoint_id: str) -> Endpoint:
    return store.endpoints.get(endpoint_id)


@router.put("/endpoints/{endpoint_id}/")
def update_endpoint(
    store: ProjectStore, request: Request, endpoint_id: str, body: EndpointUpdate
) -> Endpoint:
    """Change an endpoint; a new URL drops the stored secret headers unless new ones are sent."""
    store.endpoints.get(endpoint_id)  # another project's endpoint is a 404, not a URL error
    _check_outbound(request, body.url)
    return store.endpoints.update(endpoint_id, body)


@router.delete("/endpoints/{endpoint_id}/", status_code=204)
def delete_endpoint(store: ProjectStore, endpoint_id: str) -> Response:
    store.endpoints.delete(endpoint_id)
    return Response(status_code=204)
