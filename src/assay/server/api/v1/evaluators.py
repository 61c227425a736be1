"""``/api/v1/evaluators/``: saved scorer configurations, versioned by name, and the
evaluators attached to a dataset (they score its experiments by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from assay.domain import Evaluator, EvaluatorCreate, Page
from assay.scoring.build import check
from assay.server.auth import ProjectStore

router = APIRouter(tags=["evaluators"])

Version = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


class AttachBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evaluator_id: str = Field(min_length=1, description="Evaluator id or name.")
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Default: latest.")


@router.get("/evaluators/")
def list_evaluators(
    store: ProjectStore, search: str | None = None, kind: str | None = None
) -> Page[Evaluator]:
    """The latest version of every evaluator, by name."""
    return Page[Evaluator](items=store.evaluators.list(search=search, kind=kind), next_cursor=None)


@router.post("/evaluators/", status_code=201)
def create_evaluator(store: ProjectStore, body: EvaluatorCreate) -> Evaluator:
    """Save an evaluator (the next version when the name exists); the config is built first,
    so an unknown kind or a bad parameter is refused with the field at fault."""
    check(body.model_dump(exclude_none=True))
    return store.evaluators.create(body)


@router.get("/evaluators/{evaluator_id}/")
def get_evaluator(store: ProjectStore, evaluator_id: str, version: Version = None) -> Evaluator:
    return store.evaluators.get(evaluator_id, version=version)


@router.get("/evaluators/{evaluator_id}/versions/")
def evaluator_versions(store: ProjectStore, evaluator_id: str) -> list[Evaluator]:
    return store.evaluators.versions(evaluator_id)


@router.delete("/evaluators/{evaluator_id}/", status_code=204)
def delete_evaluator(store: ProjectStore, evaluator_id: str, version: Version = None) -> Response:
    """Delete one version, or every version when none is given."""
    store.evaluators.delete(evaluator_id, version=version)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/evaluators/")
def dataset_evaluators(store: ProjectStore, dataset_id: str) -> list[Evaluator]:
    return store.evaluators.defaults(dataset_id)


@router.post("/datasets/{dataset_id}/evaluators/", status_code=201)
def attach_evaluator(store: ProjectStore, dataset_id: str, body: AttachBody) -> Evaluator:
    return store.evaluators.attach(dataset_id, body.evaluator_id, version=body.version)


@router.delete("/datasets/{dataset_id}/evaluators/{evaluator_id}/", status_code=204)
def detach_evaluator(store: ProjectStore, dataset_id: str, evaluator_id: str) -> Response:
    store.evaluators.detach(dataset_id, evaluator_id)
    return Response(status_code=204)
