"""Analytics computed in SQL: dataset trends, score distributions, latency, dataset health.

Every function aggregates in the database (GROUP BY, bucketed counts, ORDER BY … OFFSET for
percentiles) and returns domain records, so the API, CLI and dashboard share one definition.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    or_,
    select,
)

from assay.domain import (
    DatasetHealth,
    Histogram,
    HistogramBin,
    ItemHealth,
    LatencyStats,
    ScorerPoint,
    TrendPoint,
)
from assay.domain.analytics import HealthKind
from assay.errors import InvalidInput, NotFound
from assay.store.db import Database
from assay.store.run_cache import cached_model
from assay.store.sql import driver_cursor
from assay.store.summary import between
from assay.store.tables import datasets, experiments, results, scores

_FINISHED = ("completed", "failed", "cancelled")
#: Bins of a run page's latency and score histograms.
LATENCY_BINS = 20
SCORE_BINS = 10


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def configurations(runs: Sequence[Any]) -> dict[str, int]:
    """A configuration number per run (``id``, ``config_hash``, ``run_tag``): runs sharing a
    config hash or a run tag, directly or through other runs, are one configuration; a run
    with neither is its own."""
    parent = list(range(len(runs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, run in enumerate(runs):
        for key in (("hash", run.config_hash), ("tag", run.run_tag)):
            if key[1] is None:
                continue
            j = first.setdefault(key, i)
            parent[root(i)] = root(j)
    return {run.id: root(i) for i, run in enumerate(runs)}


def quantile(
    conn: Connection, where: ColumnElement[bool], column: Any, n: int, q: float
) -> float | None:
    """The q-quantile of ``column`` over ``n`` matching rows, interpolated like numpy's default."""
    if n == 0:
        return None
    rank = q * (n - 1)
    low = math.floor(rank)
    values = (
        conn.execute(
            select(column).where(where, column.is_not(None)).order_by(column).limit(2).offset(low)
        )
        .scalars()
        .all()
    )
    return between(values, rank)


class Analytics:
    """Read-only aggregates within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def _dataset_id(self, conn: Connection, ref: str) -> str:
        found = conn.execute(
            select(datasets.c.id).where(
                datasets.c.project_id == self.project_id,
                or_(datasets.c.id == ref, datasets.c.name == ref),
            )
        ).scalar()
        if found is None:
            raise NotFound(f"dataset {ref!r} not found", field="dataset")
        return str(found)

    def _experiment_id(self, conn: Connection, ref: str) -> str:
        found = conn.execute(
            select(experiments.c.id)
            .where(
                experiments.c.project_id == self.project_id,
                or_(experiments.c.id == ref, experiments.c.name == ref),
            )
            .order_by(experiments.c.created_at.desc())
        ).scalar()
        if found is None:
            raise NotFound(f"experiment {ref!r} not found", field="experiment")
        return str(found)

    # ------------------------------------------------------------------ trend
    def trend(
        self, dataset: str, *, limit: int = 100, run_tag: str | None = None
    ) -> list[TrendPoint]:
        """The last ``limit`` experiments on a dataset, oldest first, with their aggregates."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        with self.db.read() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            query = select(experiments).where(
                experiments.c.project_id == self.project_id,
                experiments.c.dataset_id == dataset_id,
            )
            if run_tag:
                query = query.where(experiments.c.run_tag == run_tag)
            runs = conn.execute(query.order_by(experiments.c.created_at.desc()).limit(limit)).all()[
                ::-1
            ]
            return self._points(conn, runs)

    def points(self, experiment_ids: Sequence[str]) -> list[TrendPoint]:
        """The aggregates of chosen experiments (of this project), in the order given."""
        if not experiment_ids:
            return []
        with self.db.read() as conn:
            found = {
                r.id: r
                for r in conn.execute(
                    select(experiments).where(
                        experiments.c.project_id == self.project_id,
                        experiments.c.id.in_(list(experiment_ids)),
                    )
                )
            }
            return self._points(conn, [found[i] for i in experiment_ids if i in found])

    @staticmethod
    def _points(conn: Connection, runs: Sequence[Any]) -> list[TrendPoint]:
        ids = [r.id for r in runs]
        if not ids:
            return []
        completed = results.c.status == "completed"
        agg = {
            row.experiment_id: row
            for row in conn.execute(
                select(
                    results.c.experiment_id,
                    func.count().label("total"),
                    _count_if(completed).label("completed"),
                    _count_if(results.c.status == "failed").label("failed"),
                    _count_if(results.c.passed.is_(True)).label("passed"),
                    _count_if(results.c.passed.is_not(None)).label("judged"),
                    func.avg(case((completed, results.c.latency_ms))).label("avg_latency"),
                    func.count(case((completed, results.c.latency_ms))).label("n_latency"),
                    func.coalesce(func.sum(results.c.cost), 0.0).label("cost"),
                    func.count(results.c.cost).label("n_cost"),
                )
                .where(results.c.experiment_id.in_(ids))
                .group_by(results.c.experiment_id)
            )
        }
        per_scorer: dict[str, dict[str, ScorerPoint]] = defaultdict(dict)
        judge_cost: dict[str, float] = defaultdict(float)
        for row in conn.execute(
            select(
                scores.c.experiment_id,
                scores.c.name,
                func.count().label("n"),
                func.avg(scores.c.numeric_value).label("mean"),
                _count_if(scores.c.passed.is_(True)).label("passed"),
                _count_if(scores.c.passed.is_not(None)).label("judged"),
                func.coalesce(func.sum(scores.c.cost), 0.0).label("cost"),
            )
            .where(scores.c.experiment_id.in_(ids))
            .group_by(scores.c.experiment_id, scores.c.name)
        ):
            judge_cost[row.experiment_id] += float(row.cost)
            per_scorer[row.experiment_id][row.name] = ScorerPoint(
                count=row.n,
                mean=None if row.mean is None else float(row.mean),
                pass_rate=_ratio(row.passed, row.judged),
            )
        points = []
        for run in runs:
            a = agg.get(run.id)
            total = a.total if a else 0
            done = a.completed if a else 0
            failed = a.failed if a else 0
            p95 = (
                quantile(
                    conn,
                    and_(results.c.experiment_id == run.id, completed),
                    results.c.latency_ms,
                    a.n_latency,
                    0.95,
                )
                if a
                else None
            )
            points.append(
                TrendPoint(
                    experiment_id=run.id,
                    name=run.name,
                    run_tag=run.run_tag,
                    status=run.status,
                    dataset_version=run.dataset_version,
                    created_at=run.created_at,
                    total=total,
                    completed=done,
                    failed=failed,
                    error_rate=_ratio(failed, done + failed),
                    pass_rate=_ratio(a.passed, a.judged) if a else None,
                    avg_latency_ms=None if not a or a.avg_latency is None else float(a.avg_latency),
                    p95_latency_ms=p95,
                    total_cost=float(a.cost) if a else 0.0,
                    avg_cost=float(a.cost) / a.n_cost if a and a.n_cost else None,
                    judge_cost=judge_cost.get(run.id, 0.0),
                    scores=per_scorer.get(run.id, {}),
                )
            )
        return points

    # ------------------------------------------------------------------ distributions
    def score_distribution(
        self, experiment: str, name: str, *, bins: int = SCORE_BINS
    ) -> Histogram:
        """Histogram of one score's numeric values (and counts of categorical values); empty
        when every value is missing (the scorer failed), NotFound for a score never given.
        Kept while the run's data is unchanged (see :mod:`assay.store.run_cache`)."""
        if not 1 <= bins <= 200:
            raise InvalidInput("bins must be between 1 and 200", field="bins")
        with self.db.read() as conn:
            experiment_id = self._experiment_id(conn, experiment)
            return cached_model(
                conn,
                experiment_id,
                ("score_distribution", name, bins),
                lambda: self._score_histogram(conn, experiment_id, name, bins),
                Histogram,
            )

    def _score_histogram(
        self, conn: Connection, experiment_id: str, name: str, bins: int
    ) -> Histogram:
        where = and_(scores.c.experiment_id == experiment_id, scores.c.name == name)
        categories = {
            str(value): int(n)
            for value, n in conn.execute(
                select(scores.c.string_value, func.count())
                .where(where, scores.c.numeric_value.is_(None), scores.c.string_value.is_not(None))
                .group_by(scores.c.string_value)
            )
        }
        if not categories and conn.execute(select(func.count()).where(where)).scalar() == 0:
            raise NotFound(f"no score {name!r} in experiment {experiment_id}", field="name")
        return self._histogram(
            conn, experiment_id, name, where, scores.c.numeric_value, bins, categories
        )

    def latency_distribution(self, experiment: str, *, bins: int = LATENCY_BINS) -> Histogram:
        """Histogram of completed results' latency; empty (no bins) when none completed. Kept
        while the run's data is unchanged (see :mod:`assay.store.run_cache`)."""
        with self.db.read() as conn:
            experiment_id = self._experiment_id(conn, experiment)
            return cached_model(
                conn,
                experiment_id,
                ("latency_distribution", bins),
                lambda: self._latency_histogram(conn, experiment_id, bins),
                Histogram,
            )

    def _latency_histogram(self, conn: Connection, experiment_id: str, bins: int) -> Histogram:
        where = results.c.experiment_id == experiment_id
        statuses = select(results.c.status).where(where).group_by(results.c.status)
        if set(conn.execute(statuses).scalars()) - {"completed"}:
            where = and_(where, results.c.status == "completed")
        # else every result completed: the rows are read off the (run, latency) index alone
        return self._histogram(
            conn, experiment_id, "latency_ms", where, results.c.latency_ms, bins, {}
        )

    def _histogram(
        self,
        conn: Connection,
        experiment_id: str,
        name: str,
        where: ColumnElement[bool],
        column: Any,
        bins: int,
        categories: dict[str, int],
    ) -> Histogram:
        n, low, high, mean = conn.execute(
            select(func.count(column), func.min(column), func.max(column), func.avg(column)).where(
                where
            )
        ).one()
        return histogram(
            experiment_id,
            name,
            (int(n), low, high, mean),
            bins,
            lambda bounds: _bin_counts(conn, column, where, bounds, bins),
            categories,
        )

    def latency(self, experiment: str) -> LatencyStats:
        """Latency percentiles of an experiment's completed results."""
        with self.db.read() as conn:
            experiment_id = self._experiment_id(conn, experiment)
            where = and_(results.c.experiment_id == experiment_id, results.c.status == "completed")
            col = results.c.latency_ms
            n, mean, top = conn.execute(
                select(func.count(col), func.avg(col), func.max(col)).where(where)
            ).one()
            q = {p: quantile(conn, where, col, n, p / 100) for p in (50, 90, 95, 99)}
        return LatencyStats(
            experiment_id=experiment_id,
            count=n,
            mean=None if mean is None else float(mean),
            p50=q[50],
            p90=q[90],
            p95=q[95],
            p99=q[99],
            max=None if top is None else float(top),
        )

    # ------------------------------------------------------------------ health
    def dataset_health(self, dataset: str, *, last: int = 20, min_runs: int = 2) -> DatasetHealth:
        """Classify items by their pass/fail history over the last ``last`` finished experiments.

        An item is *flaky* when its outcome varies for one configuration: across the trials of
        a run, or across runs of the same configuration (the same config hash or the same run
        tag). Different systems disagreeing on an item is not flakiness: such an item is
        seen but not classified.
        """
        with self.db.read() as conn:
            dataset_id = self._dataset_id(conn, dataset)
            recent = conn.execute(
                select(experiments.c.id, experiments.c.config_hash, experiments.c.run_tag)
                .where(
                    experiments.c.project_id == self.project_id,
                    experiments.c.dataset_id == dataset_id,
                    experiments.c.status.in_(_FINISHED),
                )
                .order_by(experiments.c.created_at.desc())
                .limit(last)
            ).all()
            n_runs = len(recent)
            rows = self._health_rows(conn, configurations(recent)) if recent else []
        items: list[ItemHealth] = []
        for row in rows:
            runs = row.passes + row.fails
            if runs < min_runs:
                continue
            kind: HealthKind | None = (
                "flaky"
                if row.varies
                else "always_pass"
                if not row.fails
                else "always_fail"
                if not row.passes
                else None  # passes with some configurations, fails with others
            )
            if kind is None:
                continue
            items.append(
                ItemHealth(
                    item_id=row.item_id, kind=kind, runs=runs, passes=row.passes, fails=row.fails
                )
            )
        order = {"flaky": 0, "always_fail": 1, "always_pass": 2}
        items.sort(key=lambda h: (order[h.kind], -min(h.passes, h.fails), h.item_id))
        return DatasetHealth(
            dataset_id=dataset_id,
            experiments=n_runs,
            items_seen=len(rows),
            always_fail=sum(h.kind == "always_fail" for h in items),
            always_pass=sum(h.kind == "always_pass" for h in items),
            flaky=sum(h.kind == "flaky" for h in items),
            items=items,
        )

    @staticmethod
    def _health_rows(conn: Connection, groups: dict[str, int]) -> list[Any]:
        """Per item: passes, fails, and whether both occur within one configuration."""
        passes = _count_if(results.c.passed.is_(True))
        fails = _count_if(results.c.passed.is_(False))
        group = case(groups, value=results.c.experiment_id, else_=-1)
        per_config = (
            select(
                results.c.item_id,
                group.label("configuration"),
                passes.label("passes"),
                fails.label("fails"),
            )
            .where(
                results.c.experiment_id.in_(list(groups)),
                results.c.passed.is_not(None),
                results.c.item_id.is_not(None),
            )
            .group_by(results.c.item_id, "configuration")
        ).subquery()
        both = case((and_(per_config.c.passes > 0, per_config.c.fails > 0), 1), else_=0)
        return list(
            conn.execute(
                select(
                    per_config.c.item_id,
                    func.sum(per_config.c.passes).label("passes"),
                    func.sum(per_config.c.fails).label("fails"),
                    func.max(both).label("varies"),
                ).group_by(per_config.c.item_id)
            ).all()
        )


def histogram(
    experiment_id: str,
    name: str,
    stats: tuple[int, Any, Any, Any],
    bins: int,
    counts: Callable[[tuple[float, float, float]], dict[int, int]],
    categories: dict[str, int],
) -> Histogram:
    """A histogram of ``stats`` (how many numeric values, the lowest, the highest, their mean)
    in ``bins`` equal bins, ``counts`` giving the values per bin for (low, high, width)."""
    n, low, high, mean = stats
    out_bins: list[HistogramBin] = []
    if n:
        low, high = float(low), float(high)
        width = (high - low) / bins if high > low else 1.0
        count_of = counts((low, high, width))
        edges = [low + i * width for i in range(bins + 1)]
        if high > low:
            out_bins = [
                HistogramBin(lower=edges[i], upper=edges[i + 1], count=count_of.get(i, 0))
                for i in range(bins)
            ]
        else:
            out_bins = [HistogramBin(lower=low, upper=high, count=n)]
    return Histogram(
        experiment_id=experiment_id,
        name=name,
        count=n + sum(categories.values()),
        min=None if not n else float(low),
        max=None if not n else float(high),
        mean=None if mean is None else float(mean),
        bins=out_bins,
        categories=categories,
    )


def bin_counts(
    values: Iterable[float], bounds: tuple[float, float, float], bins: int
) -> dict[int, int]:
    """How many of ``values`` fall in each of ``bins`` bins (see :func:`_bin_counts`)."""
    low, high, width = bounds
    counts = [0] * bins
    last = bins - 1
    for value in values:
        counts[last if value >= high else int((value - low) / width)] += 1
    return {i: n for i, n in enumerate(counts) if n}


def _bin_counts(
    conn: Connection,
    column: Any,
    where: ColumnElement[bool],
    bounds: tuple[float, float, float],
    bins: int,
) -> dict[int, int]:
    """How many non-null values of ``column`` fall in each of ``bins`` bins: ``bounds`` are
    the lowest value, the highest (counted in the last bin) and the bins' width. PostgreSQL
    groups them on the server. SQLite runs in this process, and its ``GROUP BY`` on a
    computed bin sorts every row in memory first (about 60 MB over a million values): there
    the values are counted here, a chunk at a time straight off the driver's cursor."""
    low, high, width = bounds
    if conn.dialect.name != "sqlite":
        index = case((column >= high, bins - 1), else_=func.floor((column - low) / width))
        grouped = select(index.label("b"), func.count()).where(where, column.is_not(None))
        return {int(b): int(n) for b, n in conn.execute(grouped.group_by("b"))}
    with driver_cursor(conn, select(column).where(where, column.is_not(None))) as cursor:
        chunks = iter(lambda: cursor.fetchmany(_CHUNK), [])
        return bin_counts((value for chunk in chunks for (value,) in chunk), bounds, bins)


_CHUNK = 10_000
