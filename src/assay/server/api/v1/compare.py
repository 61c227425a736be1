"""Comparison, gate and prompt-version comparison routes over experiments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from assay.domain import (
    GATE_LIMIT,
    PASS_METRIC,
    Agreement,
    ExperimentComparison,
    Frontier,
    GateVerdict,
    ItemOutcome,
    ItemRegression,
    JsonObject,
    LinkedExperiment,
    OutcomeFilter,
    PAdjust,
    Page,
    PromptVersionComparison,
)
from assay.errors import InvalidInput
from assay.server.auth import ProjectStore
from assay.service.compare import (
    GATE_PAGE_MAX,
    MAX_EXPERIMENTS,
    compare,
    gate,
    gate_items,
    gate_regressions,
)
from assay.service.experiments import ExperimentBody, launch_pair

router = APIRouter(tags=["experiments"])


class CompareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[str] = Field(
        min_length=2, max_length=MAX_EXPERIMENTS, description="The first is the baseline."
    )
    offset: int = Field(default=0, ge=0, le=10_000_000)
    limit: int = Field(default=100, ge=1, le=1000)
    margin: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Non-inferiority and equivalence margin for every metric: points for pass "
        "rates (2 = two points), the scorer's units for numeric scores.",
    )
    margins: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = Field(
        default=None,
        description="Margin per metric in the metric's own units (0.02 = two points of pass "
        "rate); overrides margin.",
    )
    p_adjust: PAdjust = Field(
        default="holm", description="Multiplicity adjustment of the p-values: holm, bh or none."
    )


@router.post("/experiments/compare/")
def compare_experiments(store: ProjectStore, body: CompareBody) -> ExperimentComparison:
    """Experiments side by side, aligned by dataset item, with paired statistics; with a
    margin, non-inferiority and equivalence per metric."""
    return compare(
        store,
        body.experiment_ids,
        offset=body.offset,
        limit=body.limit,
        margin=body.margin,
        margins=body.margins,
        p_adjust=body.p_adjust,
    )


@router.get("/experiments/compare/")
def compare_experiments_get(
    store: ProjectStore,
    experiment_ids: Annotated[str, Query(min_length=1, description="Comma-separated ids.")],
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    margin: Annotated[float | None, Query(gt=0, allow_inf_nan=False)] = None,
    p_adjust: PAdjust = "holm",
) -> ExperimentComparison:
    """The same comparison, addressable as a link (``compare_url``)."""
    ids = [part.strip() for part in experiment_ids.split(",") if part.strip()]
    if not 2 <= len(ids) <= MAX_EXPERIMENTS:
        raise InvalidInput(
            f"experiment_ids: give between 2 and {MAX_EXPERIMENTS} comma-separated ids",
            field="experiment_ids",
        )
    return compare(store, ids, offset=offset, limit=limit, margin=margin, p_adjust=p_adjust)


_ONLY = "Which outcomes to list: `all`, or `failing` (those that did not pass)."


@router.get("/experiments/{experiment_id}/gate/")
def gate_experiment(
    store: ProjectStore,
    experiment_id: str,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    limit: Annotated[int, Query(ge=0, le=GATE_PAGE_MAX)] = GATE_LIMIT,
    only: Annotated[OutcomeFilter, Query(description=_ONLY)] = "all",
) -> GateVerdict:
    """Pass or fail a completed run (the verdict of ``assay gate``): the dataset's stored
    regression policy, against ``baseline`` (id or name) or the newest completed run tagged
    ``baseline_tag`` on its dataset, else the policy's own baseline.

    ``items`` and ``regressions`` list the first ``limit`` of each (``items_total``,
    ``items_failing`` and ``regressions_total`` count them all; ``only=failing`` lists failing
    outcomes only); when there are more, ``items_next_cursor`` and ``regressions_next_cursor``
    continue them at ``gate/items/`` (with the same ``only``) and ``gate/regressions/``."""
    return gate(
        store,
        experiment_id,
        baseline=baseline,
        baseline_tag=baseline_tag,
        limit=limit,
        only=only,
    )


PageLimit = Annotated[int, Query(ge=1, le=GATE_PAGE_MAX)]


@router.get("/experiments/{experiment_id}/gate/items/")
def gate_experiment_items(
    store: ProjectStore,
    experiment_id: str,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    cursor: str | None = None,
    limit: PageLimit = GATE_LIMIT,
    only: Annotated[OutcomeFilter, Query(description=_ONLY)] = "all",
) -> Page[ItemOutcome]:
    """One page of the gate's outcomes (one per item and repetition, in run order;
    ``only=failing``: those that did not pass) without its statistics; ``total`` counts the
    listing, follow ``next_cursor``. A cursor keeps the baseline it was issued for, pages only
    the listing it was issued for (422 otherwise), and is refused (409) when either run's
    results or scores changed since."""
    return gate_items(
        store,
        experiment_id,
        baseline=baseline,
        baseline_tag=baseline_tag,
        cursor=cursor,
        limit=limit,
        only=only,
    )


@router.get("/experiments/{experiment_id}/gate/regressions/")
def gate_experiment_regressions(
    store: ProjectStore,
    experiment_id: str,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    cursor: str | None = None,
    limit: PageLimit = GATE_LIMIT,
) -> Page[ItemRegression]:
    """One page of the gate's regressed items (once each, in run order); as ``gate/items/``."""
    return gate_regressions(
        store,
        experiment_id,
        baseline=baseline,
        baseline_tag=baseline_tag,
        cursor=cursor,
        limit=limit,
    )


class PromptVersionsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_name: str = Field(min_length=1)
    version_a: int = Field(ge=1, le=2**31 - 1)
    version_b: int = Field(ge=1, le=2**31 - 1)
    model: str | None = Field(default=None, min_length=1)
    provider: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    base_url: str | None = None
    evaluator_ids: list[str] | None = None
    scorers: list[JsonObject] = Field(default_factory=list)
    concurrency: int = Field(default=10, ge=1, le=1000)


@router.post("/datasets/{dataset_id}/compare-prompt-versions/", status_code=201)
def compare_prompt_versions(
    store: ProjectStore, request: Request, dataset_id: str, body: PromptVersionsBody
) -> PromptVersionComparison:
    """Create and start two linked experiments, one per prompt version, on this dataset."""
    if body.version_a == body.version_b:
        raise InvalidInput("version_a and version_b must differ", field="version_b")
    dataset = store.datasets.get(dataset_id)
    settings = request.app.state.assay.settings
    stem = f"{body.prompt_name}-v{body.version_a}-vs-v{body.version_b}"
    bodies = []
    for side, version in (("a", body.version_a), ("b", body.version_b)):
        config: dict[str, Any] = {"prompt_name": body.prompt_name, "prompt_version": version}
        for key in ("model", "provider", "temperature", "base_url"):
            if getattr(body, key) is not None:
                config[key] = getattr(body, key)
        bodies.append(
            ExperimentBody(
                name=f"{stem}-{side}",
                dataset_id=dataset.id,
                config=config,
                evaluator_ids=body.evaluator_ids,
                scorers=body.scorers,
                concurrency=body.concurrency,
                metadata={"compare_prompt_versions": stem, "side": side},
            )
        )
    a, b = launch_pair(store, settings, bodies[0], bodies[1])
    return PromptVersionComparison(
        experiment_a=LinkedExperiment(id=a.id, name=a.name, version=body.version_a),
        experiment_b=LinkedExperiment(id=b.id, name=b.name, version=body.version_b),
        compare_url=f"/api/v1/experiments/compare/?experiment_ids={a.id},{b.id}",
    )


@router.get("/datasets/{dataset_id}/frontier/")
def dataset_frontier(
    store: ProjectStore,
    dataset_id: str,
    metric: Annotated[str, Query(min_length=1, max_length=200)] = PASS_METRIC,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    run_tag: Annotated[str | None, Query(max_length=200)] = None,
) -> Frontier:
    """The dataset's last finished runs by cost per item and quality (the metric's mean with
    a 95 % interval), cheapest first; ``on_front`` marks the cheapest run at each quality."""
    from assay.analysis.frontier import frontier

    return frontier(store, dataset_id, metric=metric, limit=limit, run_tag=run_tag)


@router.get("/evaluators/{evaluator_id}/agreement/")
def evaluator_agreement(store: ProjectStore, evaluator_id: str) -> list[Agreement]:
    """Per version and score name, how the evaluator's scores agree with human scores of the
    same results: Cohen's kappa (categorical, pass/fail) or Pearson and Spearman (numeric)."""
    from assay.analysis.agreement import evaluator_agreement as agreement

    return agreement(store, evaluator_id)
