"""Prompt pages: every prompt (and a form for a new one), one prompt's versions with their
labels, a new version, moving labels between versions, deleting a version or the prompt, and
starting a run of a version on a dataset."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from assay.domain import PromptCreate, PromptLabels
from assay.errors import InvalidInput, NotFound, from_validation
from assay.server.auth import ProjectStore
from assay.server.limits import MAX_VERSION
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
    used = {version for _, version in store.prompts.used_by(name)}
    datasets = [d.name for d in store.datasets.list(limit=1000).items]
    return render(
        request,
        "prompt.html",
        {
            "section": "prompts",
            "name": name,
            "versions": versions,
            "used": used,
            "datasets": datasets,
            "form": form,
            "error": None,
        },
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


@router.post("/prompts/{name}/delete", dependencies=[FormGuard])
def delete_prompt(store: ProjectStore, name: str) -> HTMLResponse:
    """Delete every version and label of the prompt (refused while a run refers to one)."""
    store.prompts.delete(name)
    return HTMLResponse("", headers={"HX-Redirect": "/prompts"})


@router.post("/prompts/{name}/versions/{version}/delete", dependencies=[FormGuard])
def delete_version(
    store: ProjectStore, name: str, version: Annotated[int, Path(ge=1, le=MAX_VERSION)]
) -> HTMLResponse:
    """Delete one version and its labels (refused while a run refers to it)."""
    store.prompts.delete(name, version)
    try:
        store.prompts.versions(name)
    except NotFound:  # that was its last version
        return HTMLResponse("", headers={"HX-Redirect": "/prompts"})
    url = f"/prompts/{quote(name)}"
    return HTMLResponse("", headers={"HX-Redirect": url})


@router.get("/prompts/{name}/run")
def run_on_dataset(
    store: ProjectStore,
    name: str,
    version: Annotated[int, Query(ge=1, le=MAX_VERSION)],
    dataset: Annotated[str, Query(min_length=1, max_length=200)],
) -> RedirectResponse:
    """The dataset's *Create dataset run* form, open, with this prompt version chosen."""
    store.prompts.get(name, version=version)
    target = store.datasets.get(dataset)
    query = f"prompt={quote(name)}&version={version}"
    return RedirectResponse(f"/datasets/{quote(target.name)}/runs?{query}#create-run-box", 303)
