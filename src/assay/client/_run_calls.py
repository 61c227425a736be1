"""API requests for experiments, dataset runs, evaluators and scores, as data (see
``_calls``)."""

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
    ItemOutcome,
    ItemRegression,
    OutcomeFilter,
    Page,
    PromptVersionComparison,
    ResultsPage,
    RunItemsResult,
    RunScoreReport,
    Score,
)


# ---------------------------------------------------------------------- experiments
def experiment_create(
    name: str,
    dataset_id: str,
    config: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Call[ExperimentView]:
    """Plan an experiment (``pending``); ``config`` is the prompt or endpoint form.

    Without ``config`` it runs nothing: its results await outputs uploaded with
    ``dataset_runs.create_items``.
    """
    body: dict[str, Any] = {"name": name, "dataset_id": dataset_id, **fields}
    if config is not None:
        body["config"] = dict(config)
    return Call("POST", path("experiments"), model(ExperimentView), json=dump(body))


def experiment_get(experiment: str) -> Call[ExperimentDetail]:
    return Call("GET", path("experiments", experiment), model(ExperimentDetail))


def experiment_list(
    *,
    dataset_id: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Call[Page[ExperimentView]]:
    params = {
        "dataset_id": dataset_id,
        "status": status,
        "sort": sort,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", path("experiments"), model(Page[ExperimentView]), params=params)


def experiment_start(experiment: str) -> Call[ExperimentStarted]:
    return Call("POST", path("experiments", experiment, "start"), model(ExperimentStarted))


def experiment_cancel(experiment: str) -> Call[ExperimentView]:
    return Call("POST", path("experiments", experiment, "cancel"), model(ExperimentView))


def experiment_results(
    experiment: str,
    *,
    status: str | None = None,
    passed: bool | None = None,
    limit: int = 100,
    cursor: str | None = None,
    include_summary: bool = True,
) -> Call[ResultsPage]:
    """One page of results (:class:`~assay.domain.Result`, plan order) with the summary;
    pass ``next_cursor`` back as ``cursor`` (and ``include_summary=False``) for the next."""
    return _results("experiments", experiment, status, passed, limit, cursor, include_summary)


def _results(
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


def experiment_export(experiment: str, *, format: str = "jsonl") -> Call[bytes]:
    return Call("GET", path("experiments", experiment, "export"), raw, params={"format": format})


def experiment_notes(experiment: str, notes: str | None) -> Call[ExperimentView]:
    return Call(
        "PUT",
        path("experiments", experiment, "notes"),
        model(ExperimentView),
        json={"notes": notes},
    )


def experiment_delete(experiment: str) -> Call[None]:
    return Call("DELETE", path("experiments", experiment), nothing)


def experiment_compare(
    experiment_ids: Sequence[str], *, offset: int = 0, limit: int = 100
) -> Call[ExperimentComparison]:
    """Side by side per dataset item (one page of ``limit`` rows from ``offset``), with
    paired statistics over every item in ``statistics`` (the first is the baseline)."""
    body = {"experiment_ids": list(experiment_ids), "offset": offset, "limit": limit}
    return Call(
        "POST",
        path("experiments", "compare"),
        model(ExperimentComparison),
        json=body,
        idempotent=True,
    )


def experiment_gate(
    experiment: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    limit: int | None = None,
    only: OutcomeFilter | None = None,
) -> Call[GateVerdict]:
    """The verdict ``assay gate`` gives, under the dataset's stored regression policy:
    against ``baseline`` (id or name), else the newest completed run tagged
    ``baseline_tag``, else the policy's own baseline. It lists the first ``limit`` outcomes
    (``only="failing"``: of those that did not pass) and regressions (the server's default:
    1,000); :meth:`gate_items` (with the same ``only``) and :meth:`gate_regressions` page the
    rest from its ``*_next_cursor``."""
    params = {"baseline": baseline, "baseline_tag": baseline_tag, "limit": limit, "only": only}
    return Call("GET", path("experiments", experiment, "gate"), model(GateVerdict), params=params)


def experiment_gate_items(
    experiment: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    only: OutcomeFilter | None = None,
) -> Call[Page[ItemOutcome]]:
    """One page of the gate's outcomes (one per item and repetition, in run order;
    ``only="failing"``: those that did not pass, ``total`` of them); pass ``next_cursor`` (or
    the verdict's ``items_next_cursor``) back as ``cursor`` with the same ``only``."""
    params = {
        "baseline": baseline,
        "baseline_tag": baseline_tag,
        "cursor": cursor,
        "limit": limit,
        "only": only,
    }
    return Call(
        "GET",
        path("experiments", experiment, "gate", "items"),
        model(Page[ItemOutcome]),
        params=params,
    )


def experiment_gate_regressions(
    experiment: str,
    *,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Call[Page[ItemRegression]]:
    """One page of the gate's regressed items (once each, in run order); as
    :meth:`gate_items`, from the verdict's ``regressions_next_cursor``."""
    params = {"baseline": baseline, "baseline_tag": baseline_tag, "cursor": cursor, "limit": limit}
    return Call(
        "GET",
        path("experiments", experiment, "gate", "regressions"),
        model(Page[ItemRegression]),
        params=params,
    )


def compare_prompt_versions(
    dataset_id: str, prompt_name: str, version_a: int, version_b: int, **fields: Any
) -> Call[PromptVersionComparison]:
    """Create and start two linked experiments, one per prompt version; pass their ids
    to :meth:`compare` (or open ``compare_url``) once they finish."""
    body = {
        "prompt_name": prompt_name,
        "version_a": version_a,
        "version_b": version_b,
        **fields,
    }
    return Call(
        "POST",
        path("datasets", dataset_id, "compare-prompt-versions"),
        model(PromptVersionComparison),
        json=dump(body),
    )


# ---------------------------------------------------------------------- dataset runs
def dataset_run_create(
    *,
    dataset_name: str,
    name: str,
    description: str | None = None,
    tag: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    id: str | None = None,
    dataset_version: int | None = None,
) -> Call[DatasetRun]:
    """A run to upload outputs into; with your own ``id``, creating again is harmless.

    ``dataset_version`` pins an earlier version of the dataset (default: the current)."""
    body: dict[str, Any] = {"datasetName": dataset_name, "name": name}
    fields = (
        ("description", description),
        ("tag", tag),
        ("metadata", metadata),
        ("id", id),
        ("datasetVersion", dataset_version),
    )
    for key, value in fields:
        if value is not None:
            body[key] = dict(value) if isinstance(value, Mapping) else value
    return Call("POST", path("dataset-runs"), model(DatasetRun), json=body)


def dataset_run_items(
    *,
    dataset_run_id: str,
    items: Sequence[Any],
    dataset_name: str | None = None,
    score: bool = True,
) -> Call[RunItemsResult]:
    """Upload outputs (``input``/``datasetItemId``, ``output``, ``traceId``, …); the
    server's workers score them with the dataset's attached evaluators unless ``score``
    is false (the run's ``scoring.pending`` counts what is left).

    One item without a ``traceId`` is linked to the trace this client started last in
    this context, unless already linked (see ``docs/tracing.md``)."""
    body: dict[str, Any] = {"items": [dump(i) for i in items]}
    if not score:
        body["score"] = False
    if dataset_name is not None:
        body["datasetName"] = dataset_name
    # Uploading an item again replaces its output: a retry cannot duplicate it.
    return Call(
        "POST",
        path("dataset-runs", dataset_run_id, "items"),
        model(RunItemsResult),
        json=body,
        idempotent=True,
    )


def dataset_run_score(
    dataset_run_id: str,
    *,
    evaluators: Sequence[str] | None = None,
    skip: Sequence[str] = (),
    concurrency: int = 8,
    timeout: float | None = 600.0,
) -> Call[RunScoreReport]:
    """Score the run's outputs on the server with saved evaluators (``None``: the
    dataset's attached ones); evaluators named in ``skip`` are left out. Judges run on
    the server with its keys; this waits until scoring is done (up to ``timeout``)."""
    body = {
        "evaluators": None if evaluators is None else list(evaluators),
        "skip": list(skip),
        "concurrency": concurrency,
    }
    # Scoring again replaces the scores of the same names: a retry cannot duplicate them.
    return Call(
        "POST",
        path("dataset-runs", dataset_run_id, "score"),
        model(RunScoreReport),
        json=body,
        idempotent=True,
        timeout=timeout,
    )


def dataset_run_results(
    dataset_run_id: str,
    *,
    status: str | None = None,
    passed: bool | None = None,
    limit: int = 100,
    cursor: str | None = None,
    include_summary: bool = True,
) -> Call[ResultsPage]:
    """One page of the run's results, as :meth:`Experiments.results` gives them."""
    return _results("dataset-runs", dataset_run_id, status, passed, limit, cursor, include_summary)


def dataset_run_get(dataset_run_id: str) -> Call[DatasetRun]:
    return Call("GET", path("dataset-runs", dataset_run_id), model(DatasetRun))


def dataset_run_list(
    *, dataset_name: str, limit: int = 50, offset: int = 0
) -> Call[Page[DatasetRun]]:
    params = {"dataset_name": dataset_name, "limit": limit, "offset": offset}
    return Call("GET", path("dataset-runs"), model(Page[DatasetRun]), params=params)


# ---------------------------------------------------------------------- evaluators
def evaluator_create(name: str, kind: str, **fields: Any) -> Call[Evaluator]:
    body = {"name": name, "kind": kind, **fields}
    return Call("POST", path("evaluators"), model(Evaluator), json=dump(body))


def evaluator_get(evaluator: str, *, version: int | None = None) -> Call[Evaluator]:
    params = {"version": version}
    return Call("GET", path("evaluators", evaluator), model(Evaluator), params=params)


def evaluator_list(*, search: str | None = None, kind: str | None = None) -> Call[Page[Evaluator]]:
    params = {"search": search, "kind": kind}
    return Call("GET", path("evaluators"), model(Page[Evaluator]), params=params)


def evaluator_delete(evaluator: str, *, version: int | None = None) -> Call[None]:
    return Call("DELETE", path("evaluators", evaluator), nothing, params={"version": version})


def evaluator_attach(
    dataset: str, evaluator: str, *, version: int | None = None
) -> Call[Evaluator]:
    body = {"evaluator_id": evaluator, "version": version}
    return Call("POST", path("datasets", dataset, "evaluators"), model(Evaluator), json=body)


def evaluator_detach(dataset: str, evaluator: str) -> Call[None]:
    return Call("DELETE", path("datasets", dataset, "evaluators", evaluator), nothing)


# ---------------------------------------------------------------------- scores
def score_add(
    name: str,
    value: float | bool | str,
    *,
    result_id: str | None = None,
    trace_id: str | None = None,
    source: str = "api",
    **fields: Any,
) -> Call[Score]:
    """Add a score, or replace the one with the same name and source on that target."""
    body = {"name": name, "value": value, "source": source, **fields}
    body.update({k: v for k, v in (("result_id", result_id), ("trace_id", trace_id)) if v})
    # Adding the same (target, name, source) again replaces the score: safe to retry.
    return Call("POST", path("scores"), model(Score), json=body, idempotent=True)


def score_list(**filters: Any) -> Call[Page[Score]]:
    """Filters: result_id, trace_id, experiment_id, name, source, limit, offset."""
    return Call("GET", path("scores"), model(Page[Score]), params=filters)


def score_get(score_id: str) -> Call[Score]:
    return Call("GET", path("scores", score_id), model(Score))


def score_delete(score_id: str) -> Call[None]:
    return Call("DELETE", path("scores", score_id), nothing)
