"""A run's progress from its counts: done of total, items per second, time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assay.domain import Experiment, ExperimentStatus
from assay.server.web.run_progress import duration, progress

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def run(status: ExperimentStatus, *, started: bool = True, finished_after: float = 0) -> Experiment:
    return Experiment.model_construct(
        id="r",
        status=status,
        started_at=T0 if started else None,
        finished_at=T0 + timedelta(seconds=finished_after) if finished_after else None,
    )


def test_live_run_throughput_and_eta() -> None:
    counts = {"completed": 6, "failed": 2, "running": 2, "pending": 10}
    p = progress(run(ExperimentStatus.running), counts, now=T0 + timedelta(seconds=4))
    assert (p.total, p.done, p.percent) == (20, 8, 40.0)
    assert p.throughput == 2.0  # 8 finished in 4 s
    assert p.eta_s == 6.0  # 12 left at 2 per second
    assert p.eta == "6 s"


def test_nothing_finished_yet_has_no_speed_or_eta() -> None:
    p = progress(run(ExperimentStatus.pending, started=False), {"pending": 3}, now=T0)
    assert (p.done, p.total, p.throughput, p.eta_s, p.elapsed_s) == (0, 3, None, None, None)
    assert p.percent == 0.0


def test_finished_run_measures_to_its_end_and_has_no_eta() -> None:
    counts = {"completed": 9, "cancelled": 1}
    p = progress(run(ExperimentStatus.cancelled, finished_after=3), counts, now=T0 + timedelta(1))
    assert (p.done, p.elapsed_s, p.throughput, p.eta_s) == (10, 3.0, 3.0, None)
    assert p.took == "3 s"
    empty = progress(run(ExperimentStatus.completed, finished_after=1), {}, now=T0)
    assert (empty.total, empty.percent) == (0, 0.0)


def test_durations_read_naturally() -> None:
    assert [duration(s) for s in (None, 0.4, 59.6, 135, 4000)] == [
        "—", "0 s", "1 min 0 s", "2 min 15 s", "1 h 6 min"
    ]  # fmt: skip
