"""An experiment's summary, computed in SQL: counts, latency percentiles, cost, tokens, pass rates.

Percentiles are portable: count the latencies, then read the one or two rows around the rank
with ``ORDER BY latency_ms LIMIT 2 OFFSET k`` (read in order from the (experiment_id,
latency_ms, id) index), and interpolate linearly between them (numpy's default definition).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, case, func, or_, select

from assay.domain import ExperimentSummary, ResultStatus, ScorerStats
from assay.store.active_time import duration_s
from assay.store.run_cache import cached_model
from assay.store.tables import results, scores


def _sum_true(column: Any) -> Any:
    return func.coalesce(func.sum(case((column.is_(True), 1), else_=0)), 0)


def _sum_false(column: Any) -> Any:
    return func.coalesce(func.sum(case((column.is_(False), 1), else_=0)), 0)


def percentile(
    conn: Connection, experiment_id: str, n: int, q: float, *, every_completed: bool = False
) -> float | None:
    """The q-quantile of completed results' latency (linear interpolation), or None.

    ``every_completed`` (no result has another status) leaves the status out of the query, so
    that the rows are counted off the (experiment_id, latency_ms) index alone."""
    if n == 0:
        return None
    rank = q * (n - 1)
    low = math.floor(rank)
    where = [results.c.experiment_id == experiment_id, results.c.latency_ms.is_not(None)]
    if not every_completed:
        where.append(results.c.status == ResultStatus.completed.value)
    values = (
        conn.execute(
            select(results.c.latency_ms)
            .where(*where)
            .order_by(results.c.latency_ms)
            .limit(2)
            .offset(low)
        )
        .scalars()
        .all()
    )
    return between(values, rank)


def between(values: Sequence[float], rank: float) -> float | None:
    """The value at fractional ``rank`` of sorted values, given the one at its floor and the
    next (``values``: those one or two, or none), interpolated linearly like numpy's default."""
    if not values:
        return None
    low = math.floor(rank)
    if len(values) == 1 or rank == low:
        return float(values[0])
    return float(values[0] + (values[1] - values[0]) * (rank - low))


def summarize(conn: Connection, experiment: Row[Any]) -> ExperimentSummary:
    """The run's summary; its data part is kept while the run's data is unchanged (see
    :mod:`assay.store.run_cache`), its active time is read from the run itself."""
    data = cached_model(
        conn, experiment.id, "summary", lambda: _summarize(conn, experiment.id), ExperimentSummary
    )
    # active time: a resumed run's idle gap is left out
    update: dict[str, Any] = {"duration_s": duration_s(experiment)}
    if experiment.unwritten_base is not None:  # planned results without a row are pending
        missing = max(int(experiment.plan_size or 0) - data.total, 0)
        update |= {"total": data.total + missing, "pending": data.pending + missing}
    return data.model_copy(update=update)


def _summarize(conn: Connection, experiment_id: str) -> ExperimentSummary:
    counts: dict[str, int] = {}
    for status, count in conn.execute(
        select(results.c.status, func.count())
        .where(results.c.experiment_id == experiment_id)
        .group_by(results.c.status)
    ):
        counts[status] = count
    completed = results.c.status == ResultStatus.completed.value
    agg = conn.execute(
        select(
            func.avg(case((completed, results.c.latency_ms))),
            func.count(case((completed, results.c.latency_ms))),
            func.coalesce(func.sum(results.c.cost), 0.0),
            func.count(results.c.cost),
            func.coalesce(func.sum(results.c.tokens_in), 0),
            func.coalesce(func.sum(results.c.tokens_out), 0),
            _sum_true(results.c.passed),
            _sum_false(results.c.passed),
        ).where(results.c.experiment_id == experiment_id)
    ).one()
    only = set(counts) == {ResultStatus.completed.value}
    n_latency = int(agg[1])
    scorer_rows = conn.execute(
        select(
            scores.c.name,
            func.count(),
            func.count(
                case(
                    (
                        or_(
                            scores.c.numeric_value.is_not(None), scores.c.string_value.is_not(None)
                        ),
                        1,
                    )
                )
            ),
            _sum_true(scores.c.passed),
            _sum_false(scores.c.passed),
            func.avg(scores.c.numeric_value),
            func.coalesce(func.sum(scores.c.cost), 0.0),
            func.coalesce(func.sum(scores.c.latency_ms), 0.0),
        )
        .where(scores.c.experiment_id == experiment_id)
        .group_by(scores.c.name)
    ).all()
    return summary_of(
        counts,
        tuple(agg),
        [tuple(r) for r in scorer_rows],
        percentile(conn, experiment_id, n_latency, 0.5, every_completed=only),
        percentile(conn, experiment_id, n_latency, 0.95, every_completed=only),
    )


def _name(row: tuple[Any, ...]) -> str:
    return str(row[0])


def summary_of(
    counts: dict[str, int],
    agg: tuple[Any, ...],
    scorer_rows: list[tuple[Any, ...]],
    p50: float | None,
    p95: float | None,
) -> ExperimentSummary:
    """The summary's data part from its aggregates, however they were counted (in SQL here,
    from the rows a run's writer wrote in :mod:`assay.store.run_tally`): result ``counts`` by
    status; ``agg``: completed results' mean latency and how many have one, total cost and how
    many have one, tokens in and out, results passed and not passed; per score name (listed
    in code point order, whatever the database's collation), (name, rows, rows with a
    value, passed, not passed, mean value, cost, latency)."""
    avg_latency, _, total_cost, n_cost, tokens_in, tokens_out, passed, not_passed = agg
    stats = [
        ScorerStats(
            name=name,
            count=count,
            scored=int(scored),
            passed=int(ok),
            failed=int(ko),
            pass_rate=(int(ok) / (int(ok) + int(ko))) if ok or ko else None,
            mean=float(mean) if mean is not None else None,
        )
        for name, count, scored, ok, ko, mean, _, _ in sorted(scorer_rows, key=_name)
    ]
    judge_cost = sum(float(r[6]) for r in scorer_rows)
    judge_latency = sum(float(r[7]) for r in scorer_rows)
    scorer_errors = sum(s.count - s.scored for s in stats)
    return ExperimentSummary(
        total=sum(counts.values()),
        pending=counts.get(ResultStatus.pending.value, 0),
        running=counts.get(ResultStatus.running.value, 0),
        completed=counts.get(ResultStatus.completed.value, 0),
        failed=counts.get(ResultStatus.failed.value, 0),
        cancelled=counts.get(ResultStatus.cancelled.value, 0),
        passed=int(passed),
        judged=int(passed) + int(not_passed),
        pass_rate=(int(passed) / (int(passed) + int(not_passed))) if passed or not_passed else None,
        avg_latency_ms=float(avg_latency) if avg_latency is not None else None,
        p50_latency_ms=p50,
        p95_latency_ms=p95,
        total_cost=float(total_cost),
        avg_cost=float(total_cost) / n_cost if n_cost else None,
        judge_cost=judge_cost,
        judge_latency_ms=judge_latency,
        tokens_in=int(tokens_in),
        tokens_out=int(tokens_out),
        duration_s=None,
        scores=stats,
        scorer_errors=scorer_errors,
        errors=counts.get(ResultStatus.failed.value, 0) + scorer_errors,
    )
