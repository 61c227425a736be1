"""How long a run has been running: the sum of its active periods, not the wall clock.

A run that is interrupted (cancelled, or its process dies) and resumed later has an idle gap
between the two. Each run keeps ``active_s``, the seconds of its ended periods, and
``resumed_at``, the start of the current one (None while it is not running). A period ends
when the run finishes or is cancelled, or, when its process died, at its last heartbeat (the
next runner to take it over closes it there).

Runs recorded before these columns existed have neither: they count as one period from
``started_at`` (to ``finished_at`` when they have ended).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from assay.store.types import utcnow


def active_periods(row: Any) -> tuple[float, datetime | None]:
    """The seconds of the run's ended periods and the start of its current one, if any."""
    if row.active_s is not None or row.resumed_at is not None:
        return float(row.active_s or 0.0), row.resumed_at
    if row.started_at is None:
        return 0.0, None
    if row.finished_at is not None:
        return _seconds(row.started_at, row.finished_at), None
    return 0.0, row.started_at


def close_period(row: Any, end: datetime | None = None) -> float:
    """The active seconds once the current period (if any) ends at ``end`` (default: now)."""
    done, current = active_periods(row)
    if current is None:
        return done
    return done + _seconds(current, end or utcnow())


def duration_s(row: Any) -> float | None:
    """Seconds the run has been active so far (None if it never started)."""
    if row.started_at is None and row.active_s is None:
        return None
    done, current = active_periods(row)
    return done if current is None else done + _seconds(current, utcnow())


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)
