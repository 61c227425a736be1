"""Prompt pages: every prompt, and one prompt's versions with their labels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.server.auth import ProjectStore
from assay.server.web.templating import render

router = APIRouter()


@router.get("/prompts", response_class=HTMLResponse)
def prompts_page(
    request: Request,
    store: ProjectStore,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    page = store.prompts.list(search=q or None, limit=50, cursor=cursor)
    return render(
        request, "prompts.html", {"section": "prompts", "page": page, "q": q or ""}, block="table"
    )


@router.get("/prompts/{name}", response_class=HTMLResponse)
def prompt_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    versions = store.prompts.versions(name)
    return render(
        request, "prompt.html", {"section": "prompts", "name": name, "versions": versions}
    )
