"""The comparison page: statistics of two or more runs, then their items side by side."""

from __future__ import annotations

import math
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from assay.analysis.service import SharedFrames
from assay.domain import ItemFilter
from assay.errors import InvalidInput, NotFound
from assay.server.auth import ProjectStore
from assay.server.web.compare_figures import compare_figures
from assay.server.web.query import literal
from assay.server.web.templating import render
from assay.service.compare import (
    MAX_EXPERIMENTS,
    compare_runs,
    gates_against,
    inputs_of,
    no_scores_message,
    unscored,
)
from assay.store import Store

router = APIRouter()

PAGE = 50


def _dataset_name(store: Store, dataset_id: str | None) -> str | None:
    if dataset_id is None:
        return None
    try:
        return store.datasets.get(dataset_id).name
    except NotFound:
        return None


def _margin(text: str | None) -> float | None:
    """The margin typed in the form (points for pass rates, units for scores); blank: none."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"margin must be a number, not {text!r}", field="margin") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput("margin must be a positive number", field="margin")
    return value


@router.get("/compare", response_model=None)
def compare_page(
    request: Request,
    store: ProjectStore,
    runs: Annotated[list[str], Query(max_length=MAX_EXPERIMENTS)] = [],  # noqa: B006
    only: Annotated[str | None, Query(max_length=20)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    order: Literal["given", "oldest"] = "given",
    margin: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Runs in the order given, the first being the baseline; ``order=oldest`` (what the runs
    tables send) puts the oldest selected run first and redirects to that address."""
    if len(runs) < 2:
        raise InvalidInput(
            "select at least two runs to compare (the first is the baseline)", field="runs"
        )
    experiments = [store.experiments.get(ref) for ref in runs]
    if order == "oldest":
        experiments.sort(key=lambda e: (e.created_at, e.id))
        return RedirectResponse(
            "/compare?" + "&".join(f"runs={e.id}" for e in experiments), status_code=303
        )
    show = cast(ItemFilter | None, literal(ItemFilter, only, "only"))
    ids = [e.id for e in experiments]
    within = _margin(margin)
    shared = SharedFrames()  # each run is read once for the statistics, gates and charts
    comparison = compare_runs(
        store,
        ids,
        only=show,
        tag=tag or None,
        offset=offset,
        limit=PAGE,
        margin=within,
        shared=shared,
    )
    base = experiments[0]
    gates = gates_against(store, base.id, ids[1:], shared=shared)
    missing = [{"run": e, "message": no_scores_message(e)} for e in unscored(store, ids)]
    items = inputs_of(store, ids, {r.item_id for r in comparison.items})
    query = "&".join(f"runs={e.id}" for e in experiments)
    charts = {}
    if request.headers.get("hx-request") != "true":  # a page of items alone needs none
        charts = {"charts": compare_figures(store, comparison, experiments, shared)}
    return render(
        request,
        "compare.html",
        {
            "section": "runs",
            "experiments": experiments,
            "names": {e.id: e.name for e in experiments},
            "cmp": comparison,
            "gates": gates,
            "unscored": missing,
            "items": items,
            "dataset_name": _dataset_name(store, base.dataset_id),
            "only": show or "",
            "tag": tag or "",
            "offset": offset,
            "limit": PAGE,
            "query": query + (f"&margin={within:g}" if within is not None else ""),
            "margin": within,
        }
        | charts,
        block="items",
    )
