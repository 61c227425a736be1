"""A gated run's per-item outcomes, kept as columns and made into records a chunk at a time.

A gate of a 1,000,000-result run used to build one :class:`~assay.domain.ItemOutcome` per
result (about 3 GB). :class:`GateOutcomes` keeps what the outcomes need as arrays over the
candidate's rows (passed, regressed, the rows of each regressed item and, once listed, the
rows that did not pass), counts them with NumPy, and yields the records in chunks of
:data:`CHUNK` for whatever reads them: a verdict's first page, the JUnit report (written as it
is read), an API page.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from functools import cached_property

import numpy as np
import numpy.typing as npt

from assay.analysis.frame import STATUSES, RunFrame, align, item_codes
from assay.analysis.item_keys import IntArray, decode
from assay.analysis.items import paused_gc
from assay.domain import ItemOutcome, ItemRegression
from assay.errors import InvalidInput

#: Outcomes made into records at a time.
CHUNK = 10_000
_STATUS = np.array([s.value for s in STATUSES], dtype=object)


def check_only(only: str) -> None:
    """Refuse an outcome filter (:data:`~assay.domain.OutcomeFilter`) other than ``all`` and
    ``failing``."""
    if only not in ("all", "failing"):
        raise InvalidInput(f"only must be 'all' or 'failing', not {only!r}", field="only")


class GateOutcomes:
    """The outcomes of ``candidate`` gated against ``baseline`` (None: no baseline).

    A row *regressed* when it did not pass and the baseline's row of the same (item,
    repetition) passed; an item regressed when one of its rows did, and counts the rows it has
    in common with the baseline as its trials. Frames are read-only, so this holds them as
    they are."""

    def __init__(self, candidate: RunFrame, baseline: RunFrame | None) -> None:
        self.candidate = candidate
        self.baseline_id = None if baseline is None else baseline.run_id
        n = len(candidate)
        self.passed: npt.NDArray[np.bool_] = candidate.pass_metric() == 1.0
        self.regressed = np.zeros(n, dtype=np.bool_)
        compared: IntArray = np.empty(0, dtype=np.intp)
        if baseline is not None:
            rows_b, compared = align(baseline, candidate)
            self.regressed[compared] = baseline.pass_metric()[rows_b] == 1.0
            self.regressed &= ~self.passed
        self.total = n
        self.failing_total = n - int(np.count_nonzero(self.passed))
        self._regressions(compared)

    def _regressions(self, compared: IntArray) -> None:
        """Each regressed item's first regressed row, its regressed rows and its trials."""
        rows = np.flatnonzero(self.regressed)
        if not self.candidate.repeated:  # one row per item: each regressed row is an item
            self.regressed_rows: IntArray = rows
            self.regressed_counts = np.ones(rows.size, dtype=np.int64)
            self.regressed_trials = np.ones(rows.size, dtype=np.int64)
            return
        codes = self.codes
        trials = np.bincount(codes[compared], minlength=int(codes.max(initial=-1)) + 1)
        counts = np.bincount(codes[rows], minlength=trials.size)
        _, first = np.unique(codes[rows], return_index=True)
        self.regressed_rows = rows[np.sort(first)]
        regressed_codes = codes[self.regressed_rows]
        self.regressed_counts = counts[regressed_codes]
        self.regressed_trials = trials[regressed_codes]

    def __deepcopy__(self, memo: dict[int, object]) -> GateOutcomes:
        return self  # read-only columns: a copy of a verdict shares them

    @cached_property
    def codes(self) -> IntArray:
        """One integer per row naming its item (rows of the same item share it)."""
        return item_codes(self.candidate)

    @cached_property
    def failing_rows(self) -> IntArray:
        """The rows that did not pass, in run order: found once, when first listed."""
        return np.flatnonzero(~self.passed)

    @property
    def regressions_total(self) -> int:
        return int(self.regressed_rows.size)

    @cached_property
    def digest(self) -> str:
        """A short digest of the rows' keys and outcomes: a page cursor carries it, so a run
        changed between two pages is noticed rather than paged inconsistently."""
        run = self.candidate
        h = hashlib.blake2b(digest_size=8)
        columns = [run.item_ids, *([run.repetition] if run.repeated else [])]
        for column in [*columns, np.packbits(self.passed), np.packbits(self.regressed)]:
            for start in range(0, column.size, CHUNK):  # no copy of a whole column
                h.update(np.ascontiguousarray(column[start : start + CHUNK]).view(np.uint8).data)
        return h.hexdigest()

    # ------------------------------------------------------------------ records
    def items(self, start: int = 0, stop: int | None = None) -> Iterator[ItemOutcome]:
        """The outcomes of rows ``start`` to ``stop`` (None: the end), in run order."""
        stop = self.total if stop is None else min(stop, self.total)
        for first in range(max(start, 0), stop, CHUNK):
            yield from self.outcomes(np.arange(first, min(first + CHUNK, stop), dtype=np.intp))

    def failing(self, start: int = 0, stop: int | None = None) -> Iterator[ItemOutcome]:
        """The outcomes that did not pass, ``start`` to ``stop`` of them (None: the end), in
        run order."""
        rows = self.failing_rows
        stop = rows.size if stop is None else min(stop, rows.size)
        for first in range(max(start, 0), stop, CHUNK):
            yield from self.outcomes(rows[first : min(first + CHUNK, stop)])

    def trials(self) -> Iterator[list[ItemOutcome]]:
        """Each item's outcomes (its trials in run order), items in order of first appearance."""
        if not self.candidate.repeated:
            for outcome in self.items():
                yield [outcome]
            return
        codes = self.codes
        _, first = np.unique(codes, return_index=True)
        rank = np.empty(first.size, dtype=np.intp)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        order = np.argsort(rank[codes], kind="stable")  # rows grouped by item, run order kept
        del rank, first
        group: list[ItemOutcome] = []
        current = -1
        for start in range(0, order.size, CHUNK):
            rows = order[start : start + CHUNK]
            for code, outcome in zip(codes[rows].tolist(), self.outcomes(rows), strict=True):
                if code != current and group:
                    yield group
                    group = []
                current = code
                group.append(outcome)
        if group:
            yield group

    def regressions(self, start: int = 0, stop: int | None = None) -> Iterator[ItemRegression]:
        """The regressed items ``start`` to ``stop`` (None: the end), in run order."""
        total = self.regressions_total
        stop = total if stop is None else min(stop, total)
        for first in range(max(start, 0), stop, CHUNK):
            last = min(first + CHUNK, stop)
            ids = decode(self.candidate.item_ids[self.regressed_rows[first:last]])
            counts = self.regressed_counts[first:last].tolist()
            trials = self.regressed_trials[first:last].tolist()
            with paused_gc():
                chunk = [
                    ItemRegression.model_construct(item_id=i, regressed=c, trials=t)
                    for i, c, t in zip(ids, counts, trials, strict=True)
                ]
            yield from chunk

    def outcomes(self, rows: IntArray) -> list[ItemOutcome]:
        """The outcome records of ``rows``."""
        run = self.candidate
        ids = decode(run.item_ids[rows])
        reps = run.repetition[rows].tolist()
        status = _STATUS[run.status[rows]].tolist()
        latency = [None if math.isnan(v) else v for v in run.latency_ms[rows].tolist()]
        failing: list[list[str]] = [[] for _ in range(rows.size)]
        for name, column in run.scores.items():
            for k in np.flatnonzero(column.passed[rows] == 0.0).tolist():
                failing[k].append(name)
        errors = run.errors
        row_list = rows.tolist()
        texts = [None] * rows.size if errors is None else [errors[r] for r in row_list]
        passed = self.passed[rows].tolist()
        regressed = self.regressed[rows].tolist()
        with paused_gc():
            return [
                ItemOutcome.model_construct(
                    item_id=ids[k],
                    repetition=reps[k],
                    status=status[k],
                    passed=passed[k],
                    error=texts[k],
                    failing_scores=failing[k],
                    latency_ms=latency[k],
                    regressed=regressed[k],
                )
                for k in range(rows.size)
            ]


__all__ = ["CHUNK", "GateOutcomes", "check_only"]
