"""Every API request the SDK makes, as data; the sync and async clients execute them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from assay.client._base import Call, dump, model, nothing, path, raw
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


def _versions(response: Any) -> list[DatasetVersion]:
    return Page[DatasetVersion].model_validate_json(response.content).items


def _prompt_versions(response: Any) -> list[Prompt]:
    return Page[Prompt].model_validate_json(response.content).items


# ---------------------------------------------------------------------- datasets
def dataset_create(
    name: str,
    description: str | None,
    tags: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    input_schema: Mapping[str, Any] | None,
    expected_output_schema: Mapping[str, Any] | None,
) -> Call[Dataset]:
    body: dict[str, Any] = {"name": name, "description": description, "tags": list(tags or [])}
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if input_schema is not None:
        body["input_schema"] = dict(input_schema)
    if expected_output_schema is not None:
        body["expected_output_schema"] = dict(expected_output_schema)
    return Call("POST", path("datasets"), model(Dataset), json=body)


def dataset_get(ref: str) -> Call[DatasetDetail]:
    return Call("GET", path("datasets", ref), model(DatasetDetail))


def dataset_list(
    search: str | None, tag: str | None, sort: str, limit: int, cursor: str | None
) -> Call[Page[Dataset]]:
    params = {"search": search, "tags": tag, "sort": sort, "limit": limit, "cursor": cursor}
    return Call("GET", path("datasets"), model(Page[Dataset]), params=params)


def dataset_update(ref: str, changes: Mapping[str, Any]) -> Call[Dataset]:
    return Call("PUT", path("datasets", ref), model(Dataset), json=dump(dict(changes)))


def dataset_delete(ref: str) -> Call[None]:
    return Call("DELETE", path("datasets", ref), nothing)


def dataset_versions(ref: str) -> Call[list[DatasetVersion]]:
    return Call("GET", path("datasets", ref, "versions"), _versions)


def dataset_diff(ref: str, from_version: int, to_version: int | None) -> Call[DatasetDiff]:
    params = {"from": from_version, "to": to_version}
    return Call("GET", path("datasets", ref, "diff"), model(DatasetDiff), params=params)


def dataset_plan(ref: str, params: Mapping[str, Any]) -> Call[RunPlan]:
    return Call("GET", path("datasets", ref, "plan"), model(RunPlan), params=dict(params))


def dataset_item_signal(ref: str, params: Mapping[str, Any]) -> Call[ItemsSignal]:
    return Call(
        "GET", path("datasets", ref, "item-signal"), model(ItemsSignal), params=dict(params)
    )


def dataset_export(ref: str, format: str, version: int | None) -> Call[bytes]:
    params = {"format": format, "version": version}
    return Call("GET", path("datasets", ref, "export"), raw, params=params)


def items_create(dataset_name: str, items: Sequence[ItemLike]) -> Call[ImportResult]:
    body = {"datasetName": dataset_name, "items": [dump(i) for i in items]}
    return Call("POST", path("dataset-items"), model(ImportResult), json=body)


def import_items(ref: str, items: Sequence[ItemLike]) -> Call[ImportResult]:
    body = {"items": [dump(i) for i in items]}
    return Call("POST", path("datasets", ref, "import"), model(ImportResult), json=body)


def import_file(
    ref: str, file: FileLike, format: str | None, mapping: Mapping[str, str] | None
) -> Call[ImportResult]:
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
        path("datasets", ref, "import"),
        model(ImportResult),
        files={"file": upload},
        data=data or None,
    )


def item_create(ref: str, item: ItemLike) -> Call[Item]:
    return Call("POST", path("datasets", ref, "items"), model(Item), json=dump(item))


def item_list(
    ref: str,
    version: int | None,
    search: str | None,
    tag: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> Call[Page[Item]]:
    params = {
        "version": version,
        "search": search,
        "tag": tag,
        "sort": sort,
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", path("datasets", ref, "items"), model(Page[Item]), params=params)


def item_get(ref: str, item_id: str, version: int | None) -> Call[Item]:
    return Call(
        "GET", path("datasets", ref, "items", item_id), model(Item), params={"version": version}
    )


def item_update(ref: str, item_id: str, changes: Mapping[str, Any]) -> Call[Item]:
    return Call("PUT", path("datasets", ref, "items", item_id), model(Item), json=dump(changes))


def item_delete(ref: str, item_id: str) -> Call[None]:
    return Call("DELETE", path("datasets", ref, "items", item_id), nothing)


def item_from_run(ref: str, run_id: str) -> Call[Item]:
    return Call("POST", path("datasets", ref, "from-run"), model(Item), json={"run_id": run_id})


def items_from_traces(
    ref: str,
    trace_ids: Sequence[str] | None,
    filter: Mapping[str, Any] | None,
    mapping: Mapping[str, Any] | None,
    limit: int,
    message: str | None,
) -> Call[FromTracesResult]:
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
        "POST", path("datasets", ref, "items", "from-traces"), model(FromTracesResult), json=body
    )


# ---------------------------------------------------------------------- prompts
def prompt_create(
    name: str,
    template: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    model_config: Mapping[str, Any] | None,
    labels: Sequence[str] | None,
) -> Call[Prompt]:
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


def prompt_get(name: str, version: int | None, label: str | None) -> Call[Prompt]:
    params = {"version": version, "label": label}
    return Call("GET", path("prompts", name), model(Prompt), params=params)


def prompt_list(search: str | None, limit: int, cursor: str | None) -> Call[Page[Prompt]]:
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
def endpoint_create(body: Mapping[str, Any]) -> Call[Endpoint]:
    return Call("POST", path("endpoints"), model(Endpoint), json=dump(dict(body)))


def endpoint_get(ref: str) -> Call[Endpoint]:
    return Call("GET", path("endpoints", ref), model(Endpoint))


def endpoint_list(search: str | None, limit: int, cursor: str | None) -> Call[Page[Endpoint]]:
    params = {"search": search, "limit": limit, "cursor": cursor}
    return Call("GET", path("endpoints"), model(Page[Endpoint]), params=params)


def endpoint_update(ref: str, changes: Mapping[str, Any]) -> Call[Endpoint]:
    return Call("PUT", path("endpoints", ref), model(Endpoint), json=dump(dict(changes)))


def endpoint_delete(ref: str) -> Call[None]:
    return Call("DELETE", path("endpoints", ref), nothing)


# ---------------------------------------------------------------------- traces
def trace_ingest(traces: Sequence[ItemLike]) -> Call[TraceIngestResult]:
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


def trace_list(where: TraceQuery, limit: int, cursor: str | None) -> Call[TracePage]:
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
    return Call("GET", path("traces"), model(TracePage), params=params)


def session_list(
    search: str | None, user_id: str | None, limit: int, cursor: str | None
) -> Call[Page[SessionSummary]]:
    params = {"search": search, "user_id": user_id, "limit": limit, "cursor": cursor}
    return Call("GET", path("sessions"), model(Page[SessionSummary]), params=params)


def project_current() -> Call[Project]:
    return Call("GET", path("projects", "current"), model(Project))
