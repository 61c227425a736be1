"""A run's progress from its result counts by status: done of total, throughput and ETA.

The run page polls this while a run is live, so it reads only the counts (one grouped query),
never the results themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from assay.domain import Experiment, ResultStatus


@dataclass(frozen=True)
class Progress:
    """Where a run stands: results by status, the share done, speed and time left."""

    total: int
    completed: int
    errored: int
    cancelled: int
    running: int
    pending: int
    elapsed_s: float | None
    throughput: float | None
    eta_s: float | None

    @property
    def done(self) -> int:
        """Results that will not change any more: completed, errored or cancelled."""
        return self.completed + self.errored + self.cancelled

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    @property
    def eta(self) -> str:
        return duration(self.eta_s)

    @property
    def took(self) -> str:
        return duration(self.elapsed_s)


def progress(run: Experiment, counts: dict[str, int], now: datetime | None = None) -> Progress:
    """``counts`` are the run's results by status (``store.experiments.counts``).

    Throughput is results finished (completed or errored) per second since the run started;
    the ETA divides what is left (pending and running) by it. Both are None before a result
    finishes; a run that stopped has no ETA.
    """
    completed = counts.get(ResultStatus.completed.value, 0)
    errored = counts.get(ResultStatus.failed.value, 0)
    cancelled = counts.get(ResultStatus.cancelled.value, 0)
    running = counts.get(ResultStatus.running.value, 0)
    pending = counts.get(ResultStatus.pending.value, 0)
    end = run.finished_at if run.status.finished and run.finished_at else now or datetime.now(UTC)
    elapsed = None
    if run.started_at is not None:
        elapsed = max((end - run.started_at).total_seconds(), 0.0)
    finished = completed + errored
    throughput = finished / elapsed if elapsed and finished else None
    left = pending + running
    eta = left / throughput if throughput and not run.status.stopped else None
    return Progress(
        total=sum(counts.values()),
        completed=completed,
        errored=errored,
        cancelled=cancelled,
        running=running,
        pending=pending,
        elapsed_s=elapsed,
        throughput=throughput,
        eta_s=eta,
    )


def duration(seconds: float | None) -> str:
    """12 → '12 s', 135 → '2 min 15 s', 4000 → '1 h 6 min'."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
