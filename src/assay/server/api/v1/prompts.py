"""``/api/v1/prompts/``: prompt versions and labels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from assay.domain import Page, Prompt, PromptCreate, PromptLabels
from assay.server.auth import ProjectStore
from assay.server.limits import MAX_VERSION

router = APIRouter(tags=["prompts"])


@router.get("/prompts/")
def list_prompts(
    store: ProjectStore,
    search: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[Prompt]:
    """The newest version of every prompt, by name."""
    return store.prompts.list(search=search, limit=limit, cursor=cursor)


@router.post("/prompts/", status_code=201)
def create_prompt(store: ProjectStore, body: PromptCreate) -> Prompt:
    """Create the next version (1, 2, …) of the prompt ``name``; its labels move to it."""
    return store.prompts.create(body)


@router.get("/prompts/{name}/")
def get_prompt(
    store: ProjectStore,
    name: str,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    label: str | None = None,
) -> Prompt:
    """One version by number or label (default: the newest)."""
    return store.prompts.get(name, version=version, label=label)


@router.get("/prompts/{name}/versions/")
def list_prompt_versions(store: ProjectStore, name: str) -> Page[Prompt]:
    """Every version of the prompt, newest first."""
    return Page[Prompt](items=store.prompts.versions(name))


@router.put("/prompts/{name}/versions/{version}/labels/")
def set_prompt_labels(
    store: ProjectStore,
    name: str,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    body: PromptLabels,
) -> Prompt:
    """Make ``labels`` exactly this version's labels; each listed label moves here."""
    return store.prompts.set_labels(name, version, body.labels)


@router.delete("/prompts/{name}/", status_code=204)
def delete_prompt(store: ProjectStore, name: str) -> None:
    """Delete every version of the prompt and its labels; 409 while a run refers to one."""
    store.prompts.delete(name)


@router.delete("/prompts/{name}/versions/{version}/", status_code=204)
def delete_prompt_version(
    store: ProjectStore, name: str, version: Annotated[int, Path(ge=1, le=MAX_VERSION)]
) -> None:
    """Delete one version and the labels pointing at it; 409 while a run refers to it. The
    other versions keep their numbers."""
    store.prompts.delete(name, version)
