"""Planning routes over a dataset's history: the next run's plan, and the items' signal."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from assay.domain import ItemsSignal, RunPlan
from assay.server.auth import ProjectStore

router = APIRouter(tags=["datasets"])


@router.get("/datasets/{dataset_id}/plan/")
def dataset_plan(
    request: Request,
    store: ProjectStore,
    dataset_id: str,
    pilot: Annotated[str | None, Query(max_length=200, description="Plan from this run.")] = None,
    items: Annotated[int | None, Query(ge=2, le=100_000_000)] = None,
    trials: Annotated[int | None, Query(ge=1, le=1000)] = None,
    difference: Annotated[
        float | None,
        Query(
            gt=0,
            description="Difference to detect: points for pass rates (2 = two points), the "
            "scorer's units for numeric scores.",
        ),
    ] = None,
    power: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    model: Annotated[
        str | None, Query(max_length=200, description="provider:model to price the calls.")
    ] = None,
    concurrency: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    metric: Annotated[list[str] | None, Query(description="Only these metrics.")] = None,
) -> RunPlan:
    """The next run of the dataset: per metric, the minimum detectable difference at
    ``items`` x ``trials`` (and the items or trials ``difference`` needs), with the
    estimated cost (target and judge calls) and time, from the dataset's finished runs or
    from ``pilot``."""
    from assay.analysis.run_plan import plan_run
    from assay.targets import PriceTable

    settings = request.app.state.assay.settings
    return plan_run(
        store,
        dataset_id,
        pilot=pilot,
        items=items,
        trials=trials,
        difference=difference,
        power=power,
        alpha=alpha,
        model=model,
        concurrency=concurrency,
        metrics=metric,
        prices=PriceTable.load(settings.price_table) if model else None,
    )


@router.get("/datasets/{dataset_id}/item-signal/")
def dataset_item_signal(
    store: ProjectStore,
    dataset_id: str,
    metric: Annotated[
        str, Query(max_length=200, description="pass_rate, or a scorer of the runs.")
    ] = "pass_rate",
    last: Annotated[int, Query(ge=2, le=200, description="Finished runs to read.")] = 20,
    method: Annotated[
        Literal["auto", "embeddings", "token_jaccard"],
        Query(description="How near-duplicate inputs are found."),
    ] = "auto",
    threshold: Annotated[float | None, Query(gt=0, le=1)] = None,
    min_items: Annotated[int, Query(ge=1, le=10_000_000)] = 30,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
) -> ItemsSignal:
    """Which items separate the dataset's runs (one per distinct configuration), which inputs
    are near-duplicates, and the smallest subset found that keeps every consecutive pair's
    verdict, checked with the paired comparison."""
    from assay.analysis.item_signal import item_signal

    return item_signal(
        store,
        dataset_id,
        metric=metric,
        last=last,
        method=method,
        threshold=threshold,
        min_items=min_items,
        alpha=alpha,
    )
