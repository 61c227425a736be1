"""A run's page aggregates counted from the rows its writer wrote, instead of read back.

When a run stops, its summary and histograms are computed and stored for its page (see
:mod:`assay.store.run_aggregates`); in SQL each of them scans every result or score row again,
3 to 4 µs a result. A fresh run whose writer held it whole (the snapshot spool,
:class:`assay.engine.snapshot.Spool`) committed every row the store has of it, so the same
figures can be counted as each batch is written and handed over when it ends. They go through
the very functions the SQL path uses (:func:`assay.store.summary.summary_of`,
:func:`assay.store.analytics.histogram`), so only one thing differs: sums are exact
(``math.fsum``), where SQL adds in the order it scans, so a mean may differ from a later
recomputation in its last digit.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Hashable, Sequence
from operator import itemgetter

from pydantic import BaseModel

from assay.domain import Histogram, ResultStatus
from assay.store.analytics import LATENCY_BINS, SCORE_BINS, bin_counts, histogram
from assay.store.recording import Rows
from assay.store.run_columns import JSON_TYPES, spread_of, spreads_of
from assay.store.summary import between, summary_of

_COMPLETED = ResultStatus.completed.value
_STATUS = itemgetter(0)


def _mean(values: array[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


class _Score:
    """One score name's rows: counts, numeric values, categorical values, cost and latency."""

    __slots__ = ("categories", "cost", "failed", "latency", "passed", "rows", "scored", "values")

    def __init__(self) -> None:
        self.rows = self.scored = self.passed = self.failed = 0
        self.values = array("d")
        self.categories: Counter[str] = Counter()
        self.cost = array("d")
        self.latency = array("d")


class RunTally:
    """What a run's summary and histograms count, from each batch of rows its writer commits."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.latency = array("d")  # completed results' latency
        self.cost = array("d")
        self.tokens_in = self.tokens_out = 0
        self.passed = self.not_passed = 0
        self.scores: dict[str, _Score] = {}
        # Per score name graded with repetitions, each score's spread (see
        # :func:`~assay.store.run_columns.judge_spreads`); None once a score's metadata held a
        # value its JSON column would not keep as it is (then they are read back).
        self.spreads: dict[str, list[tuple[float, int]]] | None = {}

    def add(self, rows: Rows) -> None:
        """Count a committed batch (rows as :func:`assay.store.recording.completion_rows`
        flattens them)."""
        self.statuses.update(map(_STATUS, rows.results))
        latency, cost = self.latency, self.cost
        tokens_in = tokens_out = passed = not_passed = 0
        for r in rows.results:
            if r[3] is not None and r[0] == _COMPLETED:
                latency.append(r[3])
            if r[6] is not None:
                cost.append(r[6])
            if r[4]:
                tokens_in += r[4]
            if r[5]:
                tokens_out += r[5]
            if r[8] is True:
                passed += 1
            elif r[8] is False:
                not_passed += 1
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.passed += passed
        self.not_passed += not_passed
        scores = self.scores
        for s in rows.scores:
            score = scores.get(s[1])
            if score is None:
                score = scores[s[1]] = _Score()
            score.rows += 1
            numeric, text = s[3], s[4]
            if numeric is not None:
                score.scored += 1
                score.values.append(numeric)
            elif text is not None:
                score.scored += 1
                score.categories[str(text)] += 1
            if s[5] is True:
                score.passed += 1
            elif s[5] is False:
                score.failed += 1
            if s[10] is not None:
                score.cost.append(s[10])
            if s[13] is not None:
                score.latency.append(s[13])
            if s[14] and "repetitions" in s[14]:
                self._spread(s[1], s[14])

    def _spread(self, name: str, meta: dict[str, object]) -> None:
        if self.spreads is None:
            return
        std = meta.get("std")
        if (
            type(std) not in JSON_TYPES
            or type(meta["repetitions"]) not in JSON_TYPES
            or (type(std) is float and not math.isfinite(std))  # stored as null
        ):
            self.spreads = None
            return
        spread = spread_of(meta)
        if spread is not None:
            self.spreads.setdefault(name, []).append(spread)

    def judge_spreads(self) -> dict[str, tuple[float, int, int]] | None:
        """The run's judge spreads as :func:`~assay.store.run_columns.judge_spreads` reads
        them, or None when they must be read back."""
        return None if self.spreads is None else spreads_of(self.spreads)

    def aggregates(self, experiment_id: str) -> list[tuple[Hashable, BaseModel]]:
        """The summary and histograms a run page reads, each under its cache key (what
        :func:`assay.store.run_aggregates.store_aggregates` computes in SQL)."""
        latency = sorted(self.latency)
        n = len(latency)

        def at(q: float) -> float | None:
            rank = q * (n - 1)
            low = math.floor(rank)
            return between(latency[low : low + 2], rank) if n else None

        summary = summary_of(
            dict(self.statuses),
            (
                _mean(self.latency),
                n,
                math.fsum(self.cost),
                len(self.cost),
                self.tokens_in,
                self.tokens_out,
                self.passed,
                self.not_passed,
            ),
            [
                (
                    name,
                    s.rows,
                    s.scored,
                    s.passed,
                    s.failed,
                    _mean(s.values),
                    math.fsum(s.cost),
                    math.fsum(s.latency),
                )
                for name, s in self.scores.items()
            ],
            at(0.5),
            at(0.95),
        )
        out: list[tuple[Hashable, BaseModel]] = [
            ("summary", summary),
            (
                ("latency_distribution", LATENCY_BINS),
                _histogram(experiment_id, "latency_ms", latency, LATENCY_BINS, {}),
            ),
        ]
        for name, s in sorted(self.scores.items()):
            out.append(
                (
                    ("score_distribution", name, SCORE_BINS),
                    _histogram(experiment_id, name, s.values, SCORE_BINS, dict(s.categories)),
                )
            )
        return out


def _histogram(
    experiment_id: str,
    name: str,
    values: Sequence[float],
    bins: int,
    categories: dict[str, int],
) -> Histogram:
    stats = (
        len(values),
        min(values, default=None),
        max(values, default=None),
        math.fsum(values) / len(values) if values else None,
    )
    return histogram(
        experiment_id,
        name,
        stats,
        bins,
        lambda bounds: bin_counts(values, bounds, bins),
        categories,
    )
