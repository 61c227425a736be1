"""Datasets from production: recorded traces become dataset items, each trace at most once.

Traces are chosen by id, by filter (name, tags, session, user, time range, metadata) or both;
a mapping says where each item field comes from (the trace's or a named span's input, output
or metadata, optionally one key of it). Items keep ``source_trace_id``, and a trace already in
the dataset (or named twice) is not added again. Everything new is one dataset version.
"""

from __future__ import annotations

from typing import Any

from assay.domain import ItemCreate, ItemSource, Observation, Trace
from assay.domain.trace_items import FromTracesRequest, FromTracesResult, TraceField
from assay.store import Store

Spans = dict[str, dict[str, Observation]]  # span name -> trace id -> its first such span


def _read(trace: Trace, spans: Spans, where: TraceField) -> Any:
    source: Trace | Observation | None = trace
    if where.span is not None:
        source = spans[where.span].get(trace.id)
    if source is None:
        return None
    value = getattr(source, where.field)
    if where.key is not None:
        return value.get(where.key) if isinstance(value, dict) else None
    return value


def _item(trace: Trace, spans: Spans, request: FromTracesRequest) -> ItemCreate | None:
    mapping = request.mapping
    value = _read(trace, spans, mapping.input)
    if value is None or value == "" or value == {}:
        return None
    if not isinstance(value, dict | str):
        value = {"input": value}
    expected = _read(trace, spans, mapping.expected_output) if mapping.expected_output else None
    metadata = _read(trace, spans, mapping.metadata) if mapping.metadata else None
    if metadata is not None and not isinstance(metadata, dict):
        metadata = {"value": metadata}
    return ItemCreate(
        input=value,
        expected_output=expected,
        metadata=metadata or {},
        source=ItemSource.trace,
        source_trace_id=trace.id,
    )


def add_from_traces(store: Store, dataset: str, request: FromTracesRequest) -> FromTracesResult:
    """Add the chosen traces to ``dataset`` as items, as one new version."""
    from assay.store.trace_items import add_once, first_spans_named, select_traces

    target = store.datasets.get(dataset)  # a missing dataset is a 404 before any scan
    chosen = select_traces(
        store.db,
        store.project_id,
        ids=request.trace_ids,
        where=request.filter,
        limit=request.limit,
    )
    mapping = request.mapping
    fields = [f for f in (mapping.input, mapping.expected_output, mapping.metadata) if f]
    names = {f.span for f in fields if f.span is not None}
    ids = [t.id for t in chosen]
    spans = {name: first_spans_named(store.db, store.project_id, ids, name) for name in names}
    items = [item for t in chosen if (item := _item(t, spans, request)) is not None]
    change, added = add_once(store.datasets, target.id, items, message=request.message)
    return FromTracesResult(
        dataset_id=change.dataset_id,
        version=change.version,
        added=len(added),
        duplicates=len(items) - len(added),
        skipped=len(chosen) - len(items),
        total_items=change.item_count,
        trace_ids=[str(i.source_trace_id) for i in added],
    )
