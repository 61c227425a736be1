"""A finished run's page aggregates stored next to it, so a page's first view reads them.

The run page shows a summary and histograms that each scan every result or score row: over
100,000 results, the better part of a second. They are kept in memory per data revision
(:mod:`assay.store.run_cache`), but the first view after a run ends, or after a restart, would
still pay for them. So when a run stops, :func:`store_aggregates` computes them once, through
the very functions the pages call, and stores each as JSON stamped with the data revision it
was computed at; a page then reads the stored value while the revision is current. A write to
the run's results or scores bumps the revision, so a stored value is never served stale.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import Connection, select

from assay.errors import NotFound
from assay.store.run_frames import revision
from assay.store.sql import upsert
from assay.store.tables import run_aggregates
from assay.store.types import utcnow

if TYPE_CHECKING:
    from assay.store import Store

log = logging.getLogger(__name__)

#: (experiment id, data revision, name, JSON) of the aggregates computed while storing them.
_Row = tuple[str, int, str, str]
_collecting: ContextVar[list[_Row] | None] = ContextVar("run_aggregates", default=None)


def name_of(what: Hashable) -> str:
    """The stored name of an aggregate's cache key (a string, or a tuple of plain values)."""
    return what if isinstance(what, str) else json.dumps(what)


def load(conn: Connection, experiment_id: str, name: str, data_revision: int) -> str | None:
    """The aggregate's JSON if it was stored at ``data_revision``, else None."""
    found = conn.execute(
        select(run_aggregates.c.value).where(
            run_aggregates.c.experiment_id == experiment_id,
            run_aggregates.c.name == name,
            run_aggregates.c.data_revision == data_revision,
        )
    ).scalar()
    return None if found is None else str(found)


def collect(experiment_id: str, data_revision: int, name: str, value: BaseModel) -> None:
    """Note an aggregate just read, when :func:`store_aggregates` is collecting them."""
    rows = _collecting.get()
    if rows is not None:
        rows.append((experiment_id, data_revision, name, value.model_dump_json()))


@contextmanager
def _collected() -> Iterator[list[_Row]]:
    rows: list[_Row] = []
    token = _collecting.set(rows)
    try:
        yield rows
    finally:
        _collecting.reset(token)


def store_aggregates(store: Store, experiment_id: str) -> None:
    """Compute and store a stopped run's summary and histograms (what its page shows). Only a
    cache: a failure is logged, never raised."""
    try:
        with _collected() as rows:
            summary = store.experiments.summary(experiment_id)
            store.analytics.latency_distribution(experiment_id)
            for scorer in summary.scores:
                with suppress(NotFound):  # only errors under that name: nothing to draw
                    store.analytics.score_distribution(experiment_id, scorer.name)
        _save(store, rows)
    except Exception:
        log.warning("could not store the aggregates of run %s", experiment_id, exc_info=True)


def store_counted(
    store: Store, experiment_id: str, data_revision: int, values: list[tuple[Hashable, BaseModel]]
) -> None:
    """Store aggregates counted elsewhere (:mod:`assay.store.run_tally`) as computed at
    ``data_revision``, in place of :func:`store_aggregates`. Only a cache: a failure is logged,
    never raised."""
    try:
        _save(
            store,
            [(experiment_id, data_revision, name_of(k), v.model_dump_json()) for k, v in values],
        )
    except Exception:
        log.warning("could not store the aggregates of run %s", experiment_id, exc_info=True)


def _save(store: Store, rows: list[_Row]) -> None:
    """Upsert ``rows``, one statement for all, leaving out those of a run that changed since
    (their values are stale already)."""
    with store.db.write() as conn:
        current: dict[str, int] = {}
        now = utcnow()
        params = []
        for experiment_id, data_revision, name, value in rows:
            if experiment_id not in current:
                current[experiment_id] = revision(conn, experiment_id)
            if current[experiment_id] == data_revision:
                params.append(
                    {
                        "experiment_id": experiment_id,
                        "name": name,
                        "data_revision": data_revision,
                        "value": value,
                        "created_at": now,
                    }
                )
        if params:
            statement = upsert(run_aggregates, store.db.dialect)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[run_aggregates.c.experiment_id, run_aggregates.c.name],
                    set_={
                        k: statement.excluded[k] for k in ("data_revision", "value", "created_at")
                    },
                ),
                params,
            )
