"""SDK namespaces for experiments, dataset runs and evaluators (synchronous client)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from assay.client import _run_calls as calls
from assay.client._tracing import link_trace
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

if TYPE_CHECKING:
    from assay.client._sync import Assay


class Experiments:
    """Experiments run by the server's workers: create, start, watch, compare, gate."""

    def __init__(self, client: Assay) -> None:
        self._c = client

    def create(
        self,
        name: str,
        dataset_id: str,
        config: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> ExperimentView:
        """Plan an experiment (``pending``); ``config`` is the prompt or endpoint form.

        Without ``config`` it runs nothing: its results await outputs uploaded with
        ``dataset_runs.create_items``.
        """
        body: dict[str, Any] = {"name": name, "dataset_id": dataset_id, **fields}
        if config is not None:
            body["config"] = dict(config)
        return self._c._run(calls.experiment_create(body))

    def get(self, experiment: str) -> ExperimentDetail:
        return self._c._run(calls.experiment_get(experiment))

    def list(
        self,
        *,
        dataset_id: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ExperimentView]:
        return self._c._run(calls.experiment_list(dataset_id, status, limit, cursor, sort))

    def start(self, experiment: str) -> ExperimentStarted:
        return self._c._run(calls.experiment_start(experiment))

    def cancel(self, experiment: str) -> ExperimentView:
        return self._c._run(calls.experiment_cancel(experiment))

    def results(
        self,
        experiment: str,
        *,
        status: str | None = None,
        passed: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_summary: bool = True,
    ) -> ResultsPage:
        """One page of results (:class:`~assay.domain.Result`, plan order) with the summary;
        pass ``next_cursor`` back as ``cursor`` (and ``include_summary=False``) for the next."""
        call = calls.results_page(
            "experiments", experiment, status, passed, limit, cursor, include_summary
        )
        return self._c._run(call)

    def export(self, experiment: str, *, format: str = "jsonl") -> bytes:
        return self._c._run(calls.experiment_export(experiment, format))

    def set_notes(self, experiment: str, notes: str | None) -> ExperimentView:
        return self._c._run(calls.experiment_notes(experiment, notes))

    def delete(self, experiment: str) -> None:
        self._c._run(calls.experiment_delete(experiment))

    def compare(
        self, experiment_ids: Sequence[str], *, offset: int = 0, limit: int = 100
    ) -> ExperimentComparison:
        """Side by side per dataset item (one page of ``limit`` rows from ``offset``), with
        paired statistics over every item in ``statistics`` (the first is the baseline)."""
        return self._c._run(calls.experiment_compare(experiment_ids, offset, limit))

    def gate(
        self, experiment: str, *, baseline: str | None = None, baseline_tag: str | None = None
    ) -> GateVerdict:
        """The verdict ``assay gate`` gives, under the dataset's stored regression policy:
        against ``baseline`` (id or name), else the newest completed run tagged
        ``baseline_tag``, else the policy's own baseline."""
        return self._c._run(calls.experiment_gate(experiment, baseline, baseline_tag))

    def compare_prompt_versions(
        self, dataset_id: str, prompt_name: str, version_a: int, version_b: int, **fields: Any
    ) -> PromptVersionComparison:
        """Create and start two linked experiments, one per prompt version; pass their ids
        to :meth:`compare` (or open ``compare_url``) once they finish."""
        body = {
            "prompt_name": prompt_name,
            "version_a": version_a,
            "version_b": version_b,
            **fields,
        }
        return self._c._run(calls.compare_prompt_versions(dataset_id, body))


class DatasetRuns:
    """Runs whose outputs you upload, by dataset name."""

    def __init__(self, client: Assay) -> None:
        self._c = client

    def create(
        self,
        *,
        dataset_name: str,
        name: str,
        description: str | None = None,
        tag: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        id: str | None = None,
        dataset_version: int | None = None,
    ) -> DatasetRun:
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
        return self._c._run(calls.dataset_run_create(body))

    def create_items(
        self,
        *,
        dataset_run_id: str,
        items: Sequence[Any],
        dataset_name: str | None = None,
        score: bool = True,
    ) -> RunItemsResult:
        """Upload outputs (``input``/``datasetItemId``, ``output``, ``traceId``, …); the
        server's workers score them with the dataset's attached evaluators unless ``score``
        is false (the run's ``scoring.pending`` counts what is left).

        One item without a ``traceId`` is linked to the trace this client started last in
        this context, unless already linked (see ``docs/tracing.md``)."""
        items = link_trace(self._c, items)
        return self._c._run(calls.dataset_run_items(dataset_name, dataset_run_id, items, score))

    def score(
        self,
        dataset_run_id: str,
        *,
        evaluators: Sequence[str] | None = None,
        skip: Sequence[str] = (),
        concurrency: int = 8,
        timeout: float | None = 600.0,
    ) -> RunScoreReport:
        """Score the run's outputs on the server with saved evaluators (``None``: the
        dataset's attached ones); evaluators named in ``skip`` are left out. Judges run on
        the server with its keys; this waits until scoring is done (up to ``timeout``)."""
        call = calls.dataset_run_score(dataset_run_id, evaluators, skip, concurrency, timeout)
        return self._c._run(call)

    def results(
        self,
        dataset_run_id: str,
        *,
        status: str | None = None,
        passed: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_summary: bool = True,
    ) -> ResultsPage:
        """One page of the run's results, as :meth:`Experiments.results` gives them."""
        call = calls.results_page(
            "dataset-runs", dataset_run_id, status, passed, limit, cursor, include_summary
        )
        return self._c._run(call)

    def get(self, dataset_run_id: str) -> DatasetRun:
        return self._c._run(calls.dataset_run_get(dataset_run_id))

    def list(self, *, dataset_name: str, limit: int = 50, offset: int = 0) -> Page[DatasetRun]:
        return self._c._run(calls.dataset_run_list(dataset_name, limit, offset))


class Evaluators:
    """Saved scorer configurations and the evaluators attached to datasets."""

    def __init__(self, client: Assay) -> None:
        self._c = client

    def create(self, name: str, kind: str, **fields: Any) -> Evaluator:
        return self._c._run(calls.evaluator_create({"name": name, "kind": kind, **fields}))

    def get(self, evaluator: str, *, version: int | None = None) -> Evaluator:
        return self._c._run(calls.evaluator_get(evaluator, version))

    def list(self, *, search: str | None = None, kind: str | None = None) -> Page[Evaluator]:
        return self._c._run(calls.evaluator_list(search, kind))

    def delete(self, evaluator: str, *, version: int | None = None) -> None:
        self._c._run(calls.evaluator_delete(evaluator, version))

    def attach(self, dataset: str, evaluator: str, *, version: int | None = None) -> Evaluator:
        return self._c._run(calls.evaluator_attach(dataset, evaluator, version))

    def detach(self, dataset: str, evaluator: str) -> None:
        self._c._run(calls.evaluator_detach(dataset, evaluator))


class Scores:
    """Human and API scores on experiment results or traces."""

    def __init__(self, client: Assay) -> None:
        self._c = client

    def create(
        self,
        name: str,
        value: float | bool | str,
        *,
        result_id: str | None = None,
        trace_id: str | None = None,
        source: str = "api",
        **fields: Any,
    ) -> Score:
        """Add a score, or replace the one with the same name and source on that target."""
        body = {"name": name, "value": value, "source": source, **fields}
        body.update({k: v for k, v in (("result_id", result_id), ("trace_id", trace_id)) if v})
        return self._c._run(calls.score_add(body))

    def list(self, **filters: Any) -> Page[Score]:
        """Filters: result_id, trace_id, experiment_id, name, source, limit, offset."""
        return self._c._run(calls.score_list(filters))

    def get(self, score_id: str) -> Score:
        return self._c._run(calls.score_get(score_id))

    def delete(self, score_id: str) -> None:
        self._c._run(calls.score_delete(score_id))


__all__ = ["DatasetRuns", "Evaluators", "Experiments", "Scores"]
