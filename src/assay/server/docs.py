"""The API reference at ``/docs``: Swagger UI served from the package, never from a CDN.

The Swagger UI bundle, stylesheet and icon come from the ``fastapi-offline`` distribution (a
dependency of ``assay[server]``) and are served under ``/static/swagger/``, so the page works
on a machine without internet access and loads nothing from another host.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from assay.server.auth import Public
from assay.server.static import static_file

#: Where the Swagger UI files are served.
SWAGGER_STATIC = "/static/swagger"
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def _assets() -> dict[str, FilePath]:
    """The Swagger UI files shipped by ``fastapi-offline`` (located without importing it)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the API docs need the fastapi-offline package: pip install 'assay[server]'"
        )
    static = FilePath(next(iter(spec.submodule_search_locations))) / "static"
    return {name: static / name for name in _FILES}


_ASSETS = _assets()

router = APIRouter(include_in_schema=False)


@router.get("/docs", dependencies=[Public])
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, its scripts and styles served by this server."""
    root = request.scope.get("root_path", "")
    app = request.app
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{SWAGGER_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{SWAGGER_STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{SWAGGER_STATIC}/favicon.png",
    )


@router.get(SWAGGER_STATIC + "/{name}", dependencies=[Public])
def swagger_asset(name: Annotated[str, Path(max_length=100)]) -> FileResponse:
    """One Swagger UI file."""
    return static_file(_ASSETS, name)
