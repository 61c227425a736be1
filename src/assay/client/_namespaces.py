"""The client's namespaces (``client.datasets``, ``client.experiments``…), one declaration
for both clients: each method is a request spec of ``_calls`` / ``_run_calls`` (see
:mod:`._methods`)."""

from __future__ import annotations

from typing import Any

from assay.client import _calls as calls
from assay.client import _run_calls as run_calls
from assay.client._methods import M, Method, Namespace, Runner, Streamed
from assay.client._tracing import link_trace


class Datasets(Namespace[M]):
    create = Method(calls.dataset_create)
    get = Method(calls.dataset_get)
    list = Method(calls.dataset_list)
    update = Method(calls.dataset_update)
    delete = Method(calls.dataset_delete)
    create_item = Method(calls.item_create)
    create_items = Method(calls.items_create)
    items = Method(calls.item_list)
    get_item = Method(calls.item_get)
    update_item = Method(calls.item_update)
    delete_item = Method(calls.item_delete)
    import_ = Method(calls.dataset_import)
    from_run = Method(calls.item_from_run)
    from_traces = Method(calls.items_from_traces)
    plan = Method(calls.dataset_plan)
    item_signal = Method(calls.dataset_item_signal)
    versions = Method(calls.dataset_versions)
    diff = Method(calls.dataset_diff)
    export = Method(calls.dataset_export)
    export_to = Streamed(calls.dataset_export_to)


class Prompts(Namespace[M]):
    create = Method(calls.prompt_create)
    get = Method(calls.prompt_get)
    list = Method(calls.prompt_list)
    versions = Method(calls.prompt_versions)
    set_labels = Method(calls.prompt_set_labels)


class Endpoints(Namespace[M]):
    create = Method(calls.endpoint_create)
    get = Method(calls.endpoint_get)
    list = Method(calls.endpoint_list)
    update = Method(calls.endpoint_update)
    delete = Method(calls.endpoint_delete)


class Traces(Namespace[M]):
    ingest = Method(calls.trace_ingest)
    get = Method(calls.trace_get)
    list = Method(calls.trace_list)
    sessions = Method(calls.session_list)


class Experiments(Namespace[M]):
    """Experiments run by the server's workers: create, start, watch, compare, gate."""

    create = Method(run_calls.experiment_create)
    get = Method(run_calls.experiment_get)
    list = Method(run_calls.experiment_list)
    start = Method(run_calls.experiment_start)
    cancel = Method(run_calls.experiment_cancel)
    results = Method(run_calls.experiment_results)
    export = Method(run_calls.experiment_export)
    set_notes = Method(run_calls.experiment_notes)
    delete = Method(run_calls.experiment_delete)
    compare = Method(run_calls.experiment_compare)
    gate = Method(run_calls.experiment_gate)
    gate_items = Method(run_calls.experiment_gate_items)
    gate_regressions = Method(run_calls.experiment_gate_regressions)
    compare_prompt_versions = Method(run_calls.compare_prompt_versions)


def _link_items(client: Runner, arguments: dict[str, Any]) -> None:
    """Uploaded ``items`` linked to the trace the client started last (see ``link_trace``)."""
    if "items" in arguments:
        arguments["items"] = link_trace(client, arguments["items"])


class DatasetRuns(Namespace[M]):
    """Runs whose outputs you upload, by dataset name."""

    create = Method(run_calls.dataset_run_create)
    create_items = Method(run_calls.dataset_run_items, prepare=_link_items)
    score = Method(run_calls.dataset_run_score)
    results = Method(run_calls.dataset_run_results)
    get = Method(run_calls.dataset_run_get)
    list = Method(run_calls.dataset_run_list)


class Evaluators(Namespace[M]):
    """Saved scorer configurations and the evaluators attached to datasets."""

    create = Method(run_calls.evaluator_create)
    get = Method(run_calls.evaluator_get)
    list = Method(run_calls.evaluator_list)
    delete = Method(run_calls.evaluator_delete)
    attach = Method(run_calls.evaluator_attach)
    detach = Method(run_calls.evaluator_detach)


class Scores(Namespace[M]):
    """Human and API scores on experiment results or traces."""

    create = Method(run_calls.score_add)
    list = Method(run_calls.score_list)
    get = Method(run_calls.score_get)
    delete = Method(run_calls.score_delete)
