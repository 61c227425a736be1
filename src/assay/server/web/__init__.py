"""The web dashboard: server-rendered pages (Jinja2 + HTMX) over the same core as the API.

Each page module has a ``router`` whose routes take ``ProjectStore``, call store or analysis
functions the API also calls, and render a template. Static files are the stylesheet and the
vendored HTMX; nothing is fetched from another host.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, RedirectResponse

from assay.errors import NotFound
from assay.server.auth import ProjectStore, Public
from assay.server.web import (
    compare,
    dataset_history,
    dataset_runs,
    datasets,
    prompts,
    runs,
    traces,
)
from assay.server.web.templating import STATIC

router = APIRouter(include_in_schema=False)

_STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()}
_MEDIA = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}


@router.get("/")
def home(_store: ProjectStore) -> RedirectResponse:
    return RedirectResponse("/datasets", status_code=302)


@router.get("/static/{name}", dependencies=[Public])
def static(name: Annotated[str, Path(max_length=100)]) -> FileResponse:
    """A file shipped with the package (cached for a day: names carry versions)."""
    path = _STATIC_FILES.get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(
        path,
        media_type=_MEDIA.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=86400"},
    )


for module in (datasets, dataset_runs, dataset_history, runs, compare, traces, prompts):
    router.include_router(module.router)

__all__ = ["router"]
