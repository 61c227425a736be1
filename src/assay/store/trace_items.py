"""Traces chosen by id or filter, and dataset items added from them once per trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, cast, func, select

from assay.domain import ItemCreate, Observation, Trace
from assay.domain.trace_items import TraceFilter
from assay.errors import NotFound
from assay.store.datasets import Datasets
from assay.store.db import Database
from assay.store.item_import import write_items
from assay.store.item_rows import alive_at
from assay.store.sql import json_array_contains
from assay.store.tables import dataset_items, observations, traces
from assay.store.traces import _observation, _trace
from assay.store.versioning import VersionChange, commit_version, unchanged

_CHUNK = 500
_PAGE = 500


def contains(value: Any, wanted: Any) -> bool:
    """``wanted`` is part of ``value``: objects key by key (recursively), the rest equal."""
    if isinstance(wanted, dict):
        return isinstance(value, dict) and all(
            k in value and contains(value[k], v) for k, v in wanted.items()
        )
    return bool(value == wanted)


def _filtered(db: Database, project_id: str, where: TraceFilter | None) -> Select[Any]:
    query = select(traces).where(traces.c.project_id == project_id)
    if where is None:
        return query
    if where.name is not None:
        query = query.where(traces.c.name == where.name)
    for tag in where.tags:
        query = query.where(json_array_contains(traces.c.tags, tag, db.dialect))
    if where.session_id is not None:
        query = query.where(traces.c.session_id == where.session_id)
    if where.user_id is not None:
        query = query.where(traces.c.user_id == where.user_id)
    started = func.coalesce(traces.c.start_time, traces.c.created_at)
    if where.since is not None:
        query = query.where(started >= where.since)
    if where.until is not None:
        query = query.where(started < where.until)
    if where.metadata and db.dialect == "postgresql":  # a coarse pre-filter; exact below
        from sqlalchemy.dialects.postgresql import JSONB

        query = query.where(cast(traces.c.metadata, JSONB).contains(where.metadata))
    return query


def select_traces(
    db: Database,
    project_id: str,
    *,
    ids: Sequence[str] | None,
    where: TraceFilter | None,
    limit: int,
) -> list[Trace]:
    """Traces named by ``ids`` (in that order; all must exist) and/or matching ``where``
    (newest first), at most ``limit``."""
    query = _filtered(db, project_id, where)
    wanted = where.metadata if where is not None else {}
    found: list[Trace] = []
    with db.read() as conn:
        if ids is not None:
            by_id: dict[str, Trace] = {}
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), _CHUNK):
                chunk = query.where(traces.c.id.in_(unique[start : start + _CHUNK]))
                by_id.update({r.id: _trace(r) for r in conn.execute(chunk)})
            if where is None:
                missing = [i for i in unique if i not in by_id]
                if missing:
                    raise NotFound(
                        f"no trace {', '.join(map(repr, missing[:5]))}", field="trace_ids"
                    )
            found = [by_id[i] for i in unique if i in by_id and contains(by_id[i].metadata, wanted)]
            return found[:limit]
        ordered = query.order_by(traces.c.created_at.desc(), traces.c.id.desc())
        offset = 0
        while len(found) < limit:
            rows = conn.execute(ordered.limit(_PAGE).offset(offset)).all()
            found.extend(t for t in map(_trace, rows) if contains(t.metadata, wanted))
            if len(rows) < _PAGE:
                break
            offset += _PAGE
    return found[:limit]


def first_spans_named(
    db: Database, project_id: str, trace_ids: Sequence[str], name: str
) -> dict[str, Observation]:
    """Per trace, its first-started observation called ``name``."""
    out: dict[str, Observation] = {}
    with db.read() as conn:
        for start in range(0, len(trace_ids), _CHUNK):
            query = (
                select(observations)
                .where(
                    observations.c.project_id == project_id,
                    observations.c.trace_id.in_(trace_ids[start : start + _CHUNK]),
                    observations.c.name == name,
                )
                .order_by(observations.c.start_time, observations.c.id)
            )
            for row in conn.execute(query):
                out.setdefault(row.trace_id, _observation(row))
    return out


def add_once(
    datasets: Datasets, ref: str, items: list[ItemCreate], *, message: str | None
) -> tuple[VersionChange, list[ItemCreate]]:
    """Add the items whose ``source_trace_id`` is not yet in the dataset, as one new version
    (none when there is nothing new). Returns the change and the items added."""
    with datasets.db.write() as conn:
        row, version = datasets._begin_version(conn, ref)
        sources = [i.source_trace_id for i in items if i.source_trace_id is not None]
        present: set[str] = set()
        for start in range(0, len(sources), _CHUNK):
            query = select(dataset_items.c.source_trace_id).where(
                dataset_items.c.dataset_id == row.id,
                alive_at(None),
                dataset_items.c.source_trace_id.in_(sources[start : start + _CHUNK]),
            )
            present.update(conn.execute(query).scalars())
        new: list[ItemCreate] = []
        for item in items:
            if item.source_trace_id not in present:
                new.append(item)
                present.add(str(item.source_trace_id))
        if not new:
            return unchanged(row), []
        numbered = enumerate(new, start=1)
        _, sort_order = write_items(conn, row, version, numbered, own_sort_order=False)
        change = commit_version(
            conn,
            row,
            version,
            added=len(new),
            live_delta=len(new),
            next_sort_order=sort_order,
            message=message,
        )
    return change, new
