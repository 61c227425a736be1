"""``/api/v1/scores/``: human and API scores on a result or a trace (evaluator scores come
from runs). Adding a score with the name and source of an existing one replaces it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from assay.domain import Page, Score, ScoreCreate, ScoreDataType, ScoreSource
from assay.errors import from_validation
from assay.server.auth import ProjectStore

router = APIRouter(tags=["scores"])


class ScoreBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result_id: str | None = Field(default=None, description="An experiment result (run item).")
    trace_id: str | None = Field(default=None, description="Or a trace.")
    name: str = Field(min_length=1, max_length=200)
    value: float | bool | str
    data_type: ScoreDataType | None = None
    passed: bool | None = None
    reason: str | None = Field(default=None, max_length=10_000)
    source: ScoreSource = ScoreSource.api
    metadata: dict[str, JsonValue] = Field(default_factory=dict)


@router.post("/scores/", status_code=201)
def add_score(store: ProjectStore, body: ScoreBody) -> Score:
    """Add a score (``source`` human or api), or replace the one with its name and source."""
    fields = body.model_dump(exclude={"result_id", "trace_id"})
    try:
        data = ScoreCreate(**fields)
    except ValidationError as exc:
        raise from_validation(exc) from None
    return store.scores.upsert(data, result_id=body.result_id, trace_id=body.trace_id)


@router.get("/scores/")
def list_scores(
    store: ProjectStore,
    result_id: str | None = None,
    trace_id: str | None = None,
    experiment_id: str | None = None,
    name: str | None = None,
    source: ScoreSource | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[Score]:
    items = store.scores.list(
        result_id=result_id,
        trace_id=trace_id,
        experiment_id=experiment_id,
        name=name,
        source=source,
        limit=limit,
        offset=offset,
    )
    return Page[Score](items=items)


@router.get("/scores/{score_id}/")
def get_score(store: ProjectStore, score_id: str) -> Score:
    return store.scores.get(score_id)


@router.delete("/scores/{score_id}/", status_code=204)
def delete_score(store: ProjectStore, score_id: str) -> Response:
    store.scores.delete(score_id)
    return Response(status_code=204)
