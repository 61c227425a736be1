"""API requests for experiments, dataset runs and evaluators, as data (see ``_calls``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assay.client._base import Call, dump, model, nothing, path, raw
from assay.domain import (
    DatasetRun,
    Evaluator,
    ExperimentComparison,
    ExperimentDetail,
    ExperimentStarted,
    ExperimentView,
    GateVerdict,
    Page,
    PromptVersionComparison,
    ResultsPage,
    RunItemsResult,
    RunScoreReport,
    Score,
)


# ---------------------------------------------------------------------- experiments
def experiment_create(body: Mapping[str, Any]) -> Call[ExperimentView]:
    return Call("POST", path("experiments"), model(ExperimentView), json=dump(dict(body)))


def experiment_get(ref: str) -> Call[ExperimentDetail]:
    return Call("GET", path("experiments", ref), model(ExperimentDetail))


def experiment_list(
    dataset_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    sort: str | None = None,
) -> Call[Page[ExperimentView]]:
    params = {
        "dataset_id": dataset_id,
        "status": status,
        "sort": sort,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", path("experiments"), model(Page[ExperimentView]), params=params)


def experiment_start(ref: str) -> Call[ExperimentStarted]:
    return Call("POST", path("experiments", ref, "start"), model(ExperimentStarted))


def experiment_cancel(ref: str) -> Call[ExperimentView]:
    return Call("POST", path("experiments", ref, "cancel"), model(ExperimentView))


def results_page(
    kind: str,
    ref: str,
    status: str | None,
    passed: bool | None,
    limit: int,
    cursor: str | None,
    include_summary: bool,
) -> Call[ResultsPage]:
    """A page of an experiment's (``kind="experiments"``) or a dataset run's results."""
    params = {
        "status": status,
        "passed": passed,
        "limit": limit,
        "cursor": cursor,
        "include_summary": include_summary,
    }
    return Call("GET", path(kind, ref, "results"), model(ResultsPage), params=params)


def experiment_export(ref: str, format: str) -> Call[bytes]:
    return Call("GET", path("experiments", ref, "export"), raw, params={"format": format})


def experiment_notes(ref: str, notes: str | None) -> Call[ExperimentView]:
    return Call(
        "PUT", path("experiments", ref, "notes"), model(ExperimentView), json={"notes": notes}
    )


def experiment_delete(ref: str) -> Call[None]:
    return Call("DELETE", path("experiments", ref), nothing)


def experiment_compare(ids: Sequence[str], offset: int, limit: int) -> Call[ExperimentComparison]:
    body = {"experiment_ids": list(ids), "offset": offset, "limit": limit}
    return Call(
        "POST",
        path("experiments", "compare"),
        model(ExperimentComparison),
        json=body,
        idempotent=True,
    )


def experiment_gate(ref: str, baseline: str | None, baseline_tag: str | None) -> Call[GateVerdict]:
    params = {"baseline": baseline, "baseline_tag": baseline_tag}
    return Call("GET", path("experiments", ref, "gate"), model(GateVerdict), params=params)


def compare_prompt_versions(dataset: str, body: Mapping[str, Any]) -> Call[PromptVersionComparison]:
    return Call(
        "POST",
        path("datasets", dataset, "compare-prompt-versions"),
        model(PromptVersionComparison),
        json=dump(dict(body)),
    )


# ---------------------------------------------------------------------- dataset runs
def dataset_run_create(body: Mapping[str, Any]) -> Call[DatasetRun]:
    return Call("POST", path("dataset-runs"), model(DatasetRun), json=dict(body))


def dataset_run_items(
    dataset_name: str | None, run_id: str, items: Sequence[Any], score: bool = True
) -> Call[RunItemsResult]:
    body: dict[str, Any] = {"items": [dump(i) for i in items]}
    if not score:
        body["score"] = False
    if dataset_name is not None:
        body["datasetName"] = dataset_name
    # Uploading an item again replaces its output: a retry cannot duplicate it.
    return Call(
        "POST",
        path("dataset-runs", run_id, "items"),
        model(RunItemsResult),
        json=body,
        idempotent=True,
    )


def dataset_run_score(
    run_id: str,
    evaluators: Sequence[str] | None,
    skip: Sequence[str],
    concurrency: int,
    timeout: float | None,
) -> Call[RunScoreReport]:
    body = {
        "evaluators": None if evaluators is None else list(evaluators),
        "skip": list(skip),
        "concurrency": concurrency,
    }
    # Scoring again replaces the scores of the same names: a retry cannot duplicate them.
    return Call(
        "POST",
        path("dataset-runs", run_id, "score"),
        model(RunScoreReport),
        json=body,
        idempotent=True,
        timeout=timeout,
    )


def dataset_run_get(run_id: str) -> Call[DatasetRun]:
    return Call("GET", path("dataset-runs", run_id), model(DatasetRun))


def dataset_run_list(dataset_name: str, limit: int, offset: int) -> Call[Page[DatasetRun]]:
    params = {"dataset_name": dataset_name, "limit": limit, "offset": offset}
    return Call("GET", path("dataset-runs"), model(Page[DatasetRun]), params=params)


# ---------------------------------------------------------------------- evaluators
def evaluator_create(body: Mapping[str, Any]) -> Call[Evaluator]:
    return Call("POST", path("evaluators"), model(Evaluator), json=dump(dict(body)))


def evaluator_get(ref: str, version: int | None) -> Call[Evaluator]:
    return Call("GET", path("evaluators", ref), model(Evaluator), params={"version": version})


def evaluator_list(search: str | None, kind: str | None) -> Call[Page[Evaluator]]:
    params = {"search": search, "kind": kind}
    return Call("GET", path("evaluators"), model(Page[Evaluator]), params=params)


def evaluator_delete(ref: str, version: int | None) -> Call[None]:
    return Call("DELETE", path("evaluators", ref), nothing, params={"version": version})


def evaluator_attach(dataset: str, evaluator: str, version: int | None) -> Call[Evaluator]:
    body = {"evaluator_id": evaluator, "version": version}
    return Call("POST", path("datasets", dataset, "evaluators"), model(Evaluator), json=body)


def evaluator_detach(dataset: str, evaluator: str) -> Call[None]:
    return Call("DELETE", path("datasets", dataset, "evaluators", evaluator), nothing)


# ---------------------------------------------------------------------- scores
def score_add(body: Mapping[str, Any]) -> Call[Score]:
    # Adding the same (target, name, source) again replaces the score: safe to retry.
    return Call("POST", path("scores"), model(Score), json=dict(body), idempotent=True)


def score_list(params: Mapping[str, Any]) -> Call[Page[Score]]:
    return Call("GET", path("scores"), model(Page[Score]), params=dict(params))


def score_get(score_id: str) -> Call[Score]:
    return Call("GET", path("scores", score_id), model(Score))


def score_delete(score_id: str) -> Call[None]:
    return Call("DELETE", path("scores", score_id), nothing)
