"""The web dashboard: server-rendered pages (Jinja2 + HTMX) over the same core as the API.

Each page module has a ``router`` whose routes take ``ProjectStore``, call store or analysis
functions the API also calls, and render a template. Static files are the stylesheet and the
vendored HTMX; nothing is fetched from another host.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, RedirectResponse

from assay.server.auth import ProjectStore, Public
from assay.server.static import static_file
from assay.server.web import (
    compare,
    dataset_history,
    dataset_runs,
    datasets,
    endpoints,
    evaluators,
    online,
    prompt_compare,
    prompts,
    result_detail,
    run_actions,
    run_estimate,
    runs,
    sessions,
    traces,
    traces_add,
    uploads,
)
from assay.server.web.templating import STATIC

router = APIRouter(include_in_schema=False)

_STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()}


@router.get("/")
def home(_store: ProjectStore) -> RedirectResponse:
    return RedirectResponse("/datasets", status_code=302)


@router.get("/static/{name}", dependencies=[Public])
def static(name: Annotated[str, Path(max_length=100)]) -> FileResponse:
    """A file shipped with the package (the stylesheet, the vendored HTMX, the icon)."""
    return static_file(_STATIC_FILES, name)


for module in (
    datasets,
    uploads,
    run_estimate,
    dataset_runs,
    dataset_history,
    evaluators,
    run_actions,
    runs,
    result_detail,
    compare,
    traces_add,
    traces,
    sessions,
    prompts,
    endpoints,
    prompt_compare,
    online,
):
    router.include_router(module.router)

__all__ = ["router"]
