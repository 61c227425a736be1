"""Whole-run aggregates kept in memory while the run's data is unchanged.

A run page reads the same summary and distributions of a finished run over and over, and each
one scans every result or score row. Like the stored run frames (:mod:`assay.store.run_frames`),
an aggregate is kept under the run's ``data_revision``, which every write to the run's results
or scores bumps in its transaction: a cached value is served only at the revision it was
computed at, so it is never stale. The revision is read in the caller's read transaction
before the aggregate, so a value is never older than the revision it is filed under.

Values are shared between requests and threads, so they must be treated as read-only.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from assay.store.run_frames import revision

T = TypeVar("T")
#: Aggregates kept per database; the least recently used go first.
MAX_ENTRIES = 512

_lock = threading.Lock()
_caches: weakref.WeakKeyDictionary[Engine, OrderedDict[Hashable, Any]] = weakref.WeakKeyDictionary()


def cached(conn: Connection, experiment_id: str, what: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` (an aggregate of run ``experiment_id`` read through ``conn``), or the value
    it gave at the run's current data revision. ``what`` names the aggregate and its options."""
    key = (experiment_id, revision(conn, experiment_id), what)
    with _lock:
        entries = _caches.setdefault(conn.engine, OrderedDict())
        if key in entries:
            entries.move_to_end(key)
            return entries[key]  # type: ignore[no-any-return]
    value = compute()
    with _lock:
        entries[key] = value
        while len(entries) > MAX_ENTRIES:
            entries.popitem(last=False)
    return value


def clear() -> None:
    """Forget every cached aggregate (for a process that changes data behind the store)."""
    with _lock:
        _caches.clear()
