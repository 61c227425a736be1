"""Whole-run aggregates kept in memory while the run's data is unchanged.

A run page reads the same summary and distributions of a finished run over and over, and each
one scans every result or score row. Like the stored run frames (:mod:`assay.store.run_frames`),
an aggregate is kept under the run's ``data_revision``, which every write to the run's results
or scores bumps in its transaction: a cached value is served only at the revision it was
computed at, so it is never stale. The revision is read in the caller's read transaction
before the aggregate, so a value is never older than the revision it is filed under. An
aggregate given a ``stored`` model is also read from, and stored into, the database once the
run has stopped (see :mod:`assay.store.run_aggregates`).

Values are shared between requests and threads, so they must be treated as read-only.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, select

from assay.domain import ExperimentStatus
from assay.store import run_aggregates
from assay.store.tables import experiments

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
#: Aggregates kept per database; the least recently used go first.
MAX_ENTRIES = 512

_lock = threading.Lock()
_caches: weakref.WeakKeyDictionary[Engine, OrderedDict[Hashable, Any]] = weakref.WeakKeyDictionary()


def cached(conn: Connection, experiment_id: str, what: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` (an aggregate of run ``experiment_id`` read through ``conn``), or the value
    it gave at the run's current data revision. ``what`` names the aggregate and its options."""
    key = (experiment_id, _state(conn, experiment_id)[0], what)
    found = _remembered(conn.engine, key)
    if found is not None:
        return found[0]  # type: ignore[no-any-return]
    value = compute()
    _remember(conn.engine, key, value)
    return value


def cached_model(
    conn: Connection, experiment_id: str, what: Hashable, compute: Callable[[], M], stored: type[M]
) -> M:
    """:func:`cached` for a model that a stopped run also keeps in the database: read from
    there when it was stored at the current revision, and noted for storing when computed while
    :func:`assay.store.run_aggregates.store_aggregates` collects."""
    data_revision, stopped = _state(conn, experiment_id)
    key = (experiment_id, data_revision, what)
    found = _remembered(conn.engine, key)
    if found is not None:
        value: M = found[0]
    else:
        name = run_aggregates.name_of(what)
        text = run_aggregates.load(conn, experiment_id, name, data_revision) if stopped else None
        if text is not None:
            value = stored.model_validate_json(text)
            _remember(conn.engine, key, value)
            return value
        value = compute()
        _remember(conn.engine, key, value)
    if stopped:
        run_aggregates.collect(experiment_id, data_revision, run_aggregates.name_of(what), value)
    return value


def _state(conn: Connection, experiment_id: str) -> tuple[int, bool]:
    """The run's data revision, and whether it has stopped (nothing writes to it)."""
    found = conn.execute(
        select(experiments.c.data_revision, experiments.c.status).where(
            experiments.c.id == experiment_id
        )
    ).first()
    if found is None:
        return 0, False
    return int(found[0] or 0), ExperimentStatus(found[1]).stopped


def _remembered(engine: Engine, key: Hashable) -> tuple[Any] | None:
    with _lock:
        entries = _caches.setdefault(engine, OrderedDict())
        if key in entries:
            entries.move_to_end(key)
            return (entries[key],)
    return None


def _remember(engine: Engine, key: Hashable, value: Any) -> None:
    with _lock:
        entries = _caches.setdefault(engine, OrderedDict())
        entries[key] = value
        while len(entries) > MAX_ENTRIES:
            entries.popitem(last=False)


def clear() -> None:
    """Forget every cached aggregate (for a process that changes data behind the store)."""
    with _lock:
        _caches.clear()
