"""Every API request the SDK makes for datasets, prompts, endpoints and traces, as data.

Each function takes the arguments of the client method of the same purpose (its signature
and docstring are that method's, see :mod:`._methods`) and returns the :class:`Call` to send;
the sync and async clients execute them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from assay.client._base import Call, dump, model, nothing, path, raw
from assay.client._methods import Download
from assay.domain import (
    Dataset,
    DatasetDetail,
    DatasetDiff,
    DatasetVersion,
    Endpoint,
    ImportResult,
    Item,
    ItemsSignal,
    Page,
    Project,
    Prompt,
    RunPlan,
    SessionSummary,
    TraceDetail,
    TraceIngestResult,
    TracePage,
    TraceQuery,
)
from assay.domain.trace_items import FromTracesResult, TraceFilter, TraceMapping

ItemLike = Mapping[str, Any] | Any
FileLike = str | Path | tuple[str, bytes | BinaryIO]
_parse = model  # for the specs that take an argument named ``model``


def _versions(response: Any) -> list[DatasetVersion]:
    return Page[DatasetVersion].model_validate_json(response.content).items


def _prompt_versions(response: Any) -> list[Prompt]:
    return Page[Prompt].model_validate_json(response.content).items


# ---------------------------------------------------------------------- datasets
def dataset_create(
    name: str,
    description: str | None = None,
    *,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    input_schema: Mapping[str, Any] | None = None,
    expected_output_schema: Mapping[str, Any] | None = None,
) -> Call[Dataset]:
    body: dict[str, Any] = {"name": name, "description": description, "tags": list(tags or [])}
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if input_schema is not None:
        body["input_schema"] = dict(input_schema)
    if expected_output_schema is not None:
        body["expected_output_schema"] = dict(expected_output_schema)
    return Call("POST", path("datasets"), model(Dataset), json=body)


def dataset_get(dataset: str) -> Call[DatasetDetail]:
    """A dataset by id or name, with its most recent items."""
    return Call("GET", path("datasets", dataset), model(DatasetDetail))


def dataset_list(
    *,
    search: str | None = None,
    tag: str | None = None,
    sort: str = "-created_at",
    limit: int = 50,
    cursor: str | None = None,
) -> Call[Page[Dataset]]:
    params = {"search": search, "tags": tag, "sort": sort, "limit": limit, "cursor": cursor}
    return Call("GET", path("datasets"), model(Page[Dataset]), params=params)


def dataset_update(dataset: str, **changes: Any) -> Call[Dataset]:
    return Call("PUT", path("datasets", dataset), model(Dataset), json=dump(dict(changes)))


def dataset_delete(dataset: str) -> Call[None]:
    return Call("DELETE", path("datasets", dataset), nothing)


def item_create(dataset: str, item: ItemLike) -> Call[Item]:
    return Call("POST", path("datasets", dataset, "items"), model(Item), json=dump(item))


def items_create(dataset_name: str, items: Sequence[ItemLike]) -> Call[ImportResult]:
    """Add items (``input``, ``expected_output`` / ``expectedOutput``, …) as one version."""
    body = {"datasetName": dataset_name, "items": [dump(i) for i in items]}
    return Call("POST", path("dataset-items"), model(ImportResult), json=body)


def item_list(
    dataset: str,
    *,
    version: int | None = None,
    search: str | None = None,
    tag: str | None = None,
    sort: str = "sort_order",
    limit: int = 50,
    cursor: str | None = None,
) -> Call[Page[Item]]:
    params = {
        "version": version,
        "search": search,
        "tag": tag,
        "sort": sort,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", path("datasets", dataset, "items"), model(Page[Item]), params=params)


def item_get(dataset: str, item_id: str, *, version: int | None = None) -> Call[Item]:
    return Call(
        "GET",
        path("datasets", dataset, "items", item_id),
        model(Item),
        params={"version": version},
    )


def item_update(dataset: str, item_id: str, **changes: Any) -> Call[Item]:
    return Call("PUT", path("datasets", dataset, "items", item_id), model(Item), json=dump(changes))


def item_delete(dataset: str, item_id: str) -> Call[None]:
    return Call("DELETE", path("datasets", dataset, "items", item_id), nothing)


def dataset_import(
    dataset: str,
    *,
    items: Sequence[ItemLike] | None = None,
    file: FileLike | None = None,
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> Call[ImportResult]:
    """Append ``items`` or a CSV/JSON/JSONL ``file`` as one new version, all or nothing."""
    if (items is None) == (file is None):
        raise ValueError("give either items or file")
    if items is not None:
        body = {"items": [dump(i) for i in items]}
        return Call("POST", path("datasets", dataset, "import"), model(ImportResult), json=body)
    assert file is not None
    if isinstance(file, str | Path):
        source = Path(file)
        upload: tuple[str, bytes | BinaryIO] = (source.name, source.read_bytes())
    else:
        upload = file
    data: dict[str, Any] = {}
    if format is not None:
        data["format"] = format
    if mapping:
        data["map"] = [f"{column}={target}" for column, target in mapping.items()]
    return Call(
        "POST",
        path("datasets", dataset, "import"),
        model(ImportResult),
        files={"file": upload},
        data=data or None,
    )


def item_from_run(dataset: str, run_id: str) -> Call[Item]:
    """Turn a recorded trace into an item of ``dataset``."""
    return Call("POST", path("datasets", dataset, "from-run"), model(Item), json={"run_id": run_id})


def items_from_traces(
    dataset: str,
    *,
    trace_ids: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    limit: int = 1000,
    message: str | None = None,
) -> Call[FromTracesResult]:
    """Add recorded traces (by id and/or ``filter``) to ``dataset`` as one new version.

    ``mapping`` says where each item field comes from, e.g. ``{"input": {"span":
    "retrieve", "field": "input"}, "expected_output": {"field": "output"}}``; a trace
    already in the dataset is not added again.
    """
    body: dict[str, Any] = {"limit": limit, "message": message}
    if trace_ids is not None:
        body["trace_ids"] = list(trace_ids)
    if filter is not None:
        chosen = TraceFilter.model_validate(filter)
        body["filter"] = chosen.model_dump(mode="json", exclude_unset=True)
    if mapping is not None:
        fields = TraceMapping.model_validate(mapping)
        body["mapping"] = fields.model_dump(mode="json", exclude_unset=True)
    return Call(
        "POST",
        path("datasets", dataset, "items", "from-traces"),
        model(FromTracesResult),
        json=body,
    )


def dataset_plan(
    dataset: str,
    *,
    pilot: str | None = None,
    items: int | None = None,
    trials: int | None = None,
    difference: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    model: str | None = None,
    concurrency: int | None = None,
    metrics: Sequence[str] | None = None,
) -> Call[RunPlan]:
    """The next run of ``dataset``: per metric the minimum detectable difference at
    ``items`` x ``trials``, the items or trials ``difference`` needs (points for pass
    rates), and the estimated cost and time, from its finished runs or from ``pilot``."""
    params = {
        "pilot": pilot,
        "items": items,
        "trials": trials,
        "difference": difference,
        "power": power,
        "alpha": alpha,
        "model": model,
        "concurrency": concurrency,
        "metric": None if metrics is None else list(metrics),
    }
    return Call("GET", path("datasets", dataset, "plan"), _parse(RunPlan), params=params)


def dataset_item_signal(
    dataset: str,
    *,
    metric: str = "pass_rate",
    last: int = 20,
    method: str = "auto",
    threshold: float | None = None,
    min_items: int = 30,
    alpha: float = 0.05,
) -> Call[ItemsSignal]:
    """Which items of ``dataset`` separate its runs, its near-duplicate inputs, and the
    smallest subset found that keeps every consecutive pair of runs' verdict."""
    params = {
        "metric": metric,
        "last": last,
        "method": method,
        "threshold": threshold,
        "min_items": min_items,
        "alpha": alpha,
    }
    return Call("GET", path("datasets", dataset, "item-signal"), model(ItemsSignal), params=params)


def dataset_versions(dataset: str) -> Call[list[DatasetVersion]]:
    return Call("GET", path("datasets", dataset, "versions"), _versions)


def dataset_diff(
    dataset: str, from_version: int, to_version: int | None = None
) -> Call[DatasetDiff]:
    params = {"from": from_version, "to": to_version}
    return Call("GET", path("datasets", dataset, "diff"), model(DatasetDiff), params=params)


def dataset_export(
    dataset: str, *, format: str = "jsonl", version: int | None = None
) -> Call[bytes]:
    """The items as CSV, JSON or JSONL bytes (``export_to`` streams into a file)."""
    params = {"format": format, "version": version}
    return Call("GET", path("datasets", dataset, "export"), raw, params=params)


def dataset_export_to(
    dataset: str, out: BinaryIO, *, format: str = "jsonl", version: int | None = None
) -> Download:
    """Stream the export into ``out`` chunk by chunk; returns the bytes written."""
    return Download(dataset_export(dataset, format=format, version=version), out)


# ---------------------------------------------------------------------- prompts
def prompt_create(
    name: str,
    *,
    template: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    model_config: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
) -> Call[Prompt]:
    """Store the next version of ``name``."""
    body: dict[str, Any] = {
        "name": name,
        "model_config": dict(model_config or {}),
        "labels": list(labels or []),
    }
    if template is not None:
        body["template"] = template
    if messages is not None:
        body["messages"] = [dict(m) for m in messages]
    return Call("POST", path("prompts"), model(Prompt), json=body)


def prompt_get(name: str, *, version: int | None = None, label: str | None = None) -> Call[Prompt]:
    params = {"version": version, "label": label}
    return Call("GET", path("prompts", name), model(Prompt), params=params)


def prompt_list(
    *, search: str | None = None, limit: int = 50, cursor: str | None = None
) -> Call[Page[Prompt]]:
    params = {"search": search, "limit": limit, "cursor": cursor}
    return Call("GET", path("prompts"), model(Page[Prompt]), params=params)


def prompt_versions(name: str) -> Call[list[Prompt]]:
    return Call("GET", path("prompts", name, "versions"), _prompt_versions)


def prompt_set_labels(name: str, version: int, labels: Sequence[str]) -> Call[Prompt]:
    return Call(
        "PUT",
        path("prompts", name, "versions", str(version), "labels"),
        model(Prompt),
        json={"labels": list(labels)},
    )


# ---------------------------------------------------------------------- endpoints
def endpoint_create(name: str, url: str, **fields: Any) -> Call[Endpoint]:
    """Save an endpoint; ``secret_headers`` are stored but never returned."""
    body = {"name": name, "url": url, **fields}
    return Call("POST", path("endpoints"), model(Endpoint), json=dump(body))


def endpoint_get(endpoint: str) -> Call[Endpoint]:
    return Call("GET", path("endpoints", endpoint), model(Endpoint))


def endpoint_list(
    *, search: str | None = None, limit: int = 50, cursor: str | None = None
) -> Call[Page[Endpoint]]:
    params = {"search": search, "limit": limit, "cursor": cursor}
    return Call("GET", path("endpoints"), model(Page[Endpoint]), params=params)


def endpoint_update(endpoint: str, **changes: Any) -> Call[Endpoint]:
    return Call("PUT", path("endpoints", endpoint), model(Endpoint), json=dump(dict(changes)))


def endpoint_delete(endpoint: str) -> Call[None]:
    return Call("DELETE", path("endpoints", endpoint), nothing)


# ---------------------------------------------------------------------- traces
def trace_ingest(traces: Sequence[ItemLike]) -> Call[TraceIngestResult]:
    """Send traces with their observations; safe to retry (idempotent by id)."""
    body = {"traces": [dump(t) for t in traces]}
    # Ingestion is idempotent by id: give every trace an id so a retry cannot duplicate it.
    for trace in body["traces"]:
        if isinstance(trace, dict) and not trace.get("id"):
            trace["id"] = str(uuid.uuid4())
    return Call("POST", path("traces"), model(TraceIngestResult), json=body, idempotent=True)


def trace_batch(traces: list[dict[str, Any]]) -> Call[TraceIngestResult]:
    """The exporter's batch: traces with ids (and ``orjson.Fragment`` values), encoded once."""
    body = orjson.dumps({"traces": traces})
    return Call(
        "POST",
        path("traces"),
        model(TraceIngestResult),
        content=body,
        content_type="application/json",
        idempotent=True,
    )


def trace_get(trace_id: str) -> Call[TraceDetail]:
    return Call("GET", path("traces", trace_id), model(TraceDetail))


def trace_list(
    *,
    search: str | None = None,
    name: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    tag: str | None = None,
    tags: Sequence[str] = (),
    model: str | None = None,
    errors: bool = False,
    score_name: str | None = None,
    score_min: float | None = None,
    score_max: float | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Call[TracePage]:
    """Traces, newest first, with their totals and scores; every filter given must hold
    (``tags``: all of them; ``model``: a generation used it; ``errors``: only traces with
    an error; ``score_min``/``score_max`` bound the score ``score_name``)."""
    where = TraceQuery(
        search=search,
        name=name,
        session_id=session_id,
        user_id=user_id,
        tags=[*tags, *([tag] if tag else [])],
        model=model,
        errors=errors,
        score_name=score_name,
        score_min=score_min,
        score_max=score_max,
        since=since,
        until=until,
    )
    params: dict[str, Any] = {
        "search": where.search,
        "name": where.name,
        "session_id": where.session_id,
        "user_id": where.user_id,
        "tag": where.tags or None,
        "model": where.model,
        "errors": "true" if where.errors else None,
        "score_name": where.score_name,
        "score_min": where.score_min,
        "score_max": where.score_max,
        "since": where.since.isoformat() if where.since else None,
        "until": where.until.isoformat() if where.until else None,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", path("traces"), _parse(TracePage), params=params)


def session_list(
    *,
    search: str | None = None,
    user_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Call[Page[SessionSummary]]:
    """Sessions (traces sharing a session id), the latest active first, with totals."""
    params = {"search": search, "user_id": user_id, "limit": limit, "cursor": cursor}
    return Call("GET", path("sessions"), model(Page[SessionSummary]), params=params)


def project_current() -> Call[Project]:
    return Call("GET", path("projects", "current"), model(Project))
