"""Prompt pages: every prompt (and a form for a new one), one prompt's versions with their
labels, a new version, and moving labels between versions."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain import PromptCreate, PromptLabels
from assay.errors import InvalidInput, from_validation
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.query import json_field
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
        request,
        "prompts.html",
        {"section": "prompts", "page": page, "q": q or "", "form": {}, "error": None},
        block="table",
    )


@router.get("/prompts/{name}", response_class=HTMLResponse)
def prompt_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    versions = store.prompts.versions(name)
    newest = versions[0]
    form = {
        "name": name,
        "template": newest.template or "",
        "messages": json.dumps(newest.messages, indent=2) if newest.messages else "",
        "config": json.dumps(newest.model_config_, indent=2) if newest.model_config_ else "",
    }
    return render(
        request,
        "prompt.html",
        {"section": "prompts", "name": name, "versions": versions, "form": form, "error": None},
    )


@router.post("/prompts", response_class=HTMLResponse, dependencies=[FormGuard])
def create_version(
    request: Request,
    store: ProjectStore,
    name: Annotated[str, Form()] = "",
    template: Annotated[str, Form()] = "",
    messages: Annotated[str, Form()] = "",
    config: Annotated[str, Form()] = "",
    labels: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Save a new version of a prompt (a new prompt when the name is new)."""
    form = {
        "name": name,
        "template": template,
        "messages": messages,
        "config": config,
        "labels": labels,
    }
    try:
        created = store.prompts.create(
            PromptCreate(
                name=name,
                template=template if template.strip() else None,
                messages=json_field(messages, default=None, field="messages"),
                model_config_=json_field(config, default={}, field="config"),
                labels=[label.strip() for label in labels.split(",") if label.strip()],
            )
        )
    except ValidationError as exc:
        error = from_validation(exc).message
    except InvalidInput as exc:
        error = exc.message
    else:
        url = f"/prompts/{quote(created.name)}#version-{created.version}"
        return HTMLResponse("", headers={"HX-Redirect": url})
    return render(request, "prompt_form.html", {"form": form, "error": error}, status=422)


@router.post("/prompts/{name}/labels", dependencies=[FormGuard])
def set_labels(
    store: ProjectStore,
    name: str,
    version: Annotated[int, Form(ge=1)],
    labels: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Make these labels (comma-separated) point at ``version``; others there are removed."""
    try:
        chosen = PromptLabels(labels=[x.strip() for x in labels.split(",") if x.strip()])
    except ValidationError as exc:
        raise from_validation(exc) from None
    store.prompts.set_labels(name, version, chosen.labels)
    return HTMLResponse("", headers={"HX-Redirect": f"/prompts/{quote(name)}#version-{version}"})
