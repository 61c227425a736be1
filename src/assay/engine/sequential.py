"""Sequential early stopping: a run stops once its comparison with a baseline run is settled.

A run planned with ``sequential`` (:class:`~assay.domain.SequentialSettings`) records the
settings, with the seed of its item order, in its metadata under ``"sequential"``. The runner
executes its items in that seeded random order (:func:`draw_order`: a hash of the seed and the
item id, so a resumed run keeps the order of what is left). :class:`Watch` pairs each finished
item with the baseline's result for the same item and keeps the running sum of the
differences; after each item it checks the normal-mixture confidence sequence of
:mod:`assay.analysis.planning`, which is valid at every sample size at once, so looking after
every item does not inflate the error rate. Items are counted in draw order only (the longest
finished prefix), so an item that happens to finish sooner, or later, than the ones drawn
before it cannot bias the sample.

Once the sequence settles the comparison (better, worse, or within the margin) the runner stops
taking items: those left are cancelled and the run completes; its metadata's
``sequential.outcome`` says why (``stopped early at n=…: non-inferior``).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from assay.domain import (
    PASS_METRIC,
    Experiment,
    ExperimentStatus,
    ResultStatus,
    SequentialSettings,
    WorkItem,
)
from assay.errors import InvalidInput, NotFound
from assay.store import Completion, Store
from assay.store.run_pages import result_pages

_W = TypeVar("_W", bound=Iterable[WorkItem])  # a list, or work streamed from the store

#: Where a run keeps its sequential settings and outcome.
KEY = "sequential"
_LABELS = {"better": "better", "worse": "worse", "non_inferior": "non-inferior"}
#: Names of the pass rate (comparisons call it ``passed``).
PASS_NAMES = ("pass_rate", PASS_METRIC)


def draw_key(seed: int, item_id: str) -> bytes:
    """An item's place in the random order of a run with ``seed``."""
    return hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=16).digest()


def draw_order(item_ids: Iterable[str], seed: int) -> list[str]:
    """Distinct ``item_ids`` in the random order a sequential run with ``seed`` draws them."""
    return sorted(dict.fromkeys(item_ids), key=lambda item: draw_key(seed, item))


_FINISHED = (ResultStatus.completed.value, ResultStatus.failed.value)


def _result_value(metric: str, status: str, passed: Any, score: float | None) -> float | None:
    """One result's value of ``metric``: pass rate 1/0 (a failed call fails), or ``score``,
    the value of its score of that name (None: it has none)."""
    if status not in _FINISHED:
        return None
    if metric in PASS_NAMES:
        return 1.0 if passed else 0.0  # a stored flag may be 0/1
    return None if score is None else float(score)


def _value(metric: str, status: str, passed: bool | None, scores: Iterable[Any]) -> float | None:
    """:func:`_result_value` of a finished call, its scores as the scorers returned them."""
    score = next((s.numeric_value for s in scores if s.name == metric), None)
    return _result_value(metric, status, passed, score)


def _stored_values(
    store: Store, experiment_id: str, metric: str
) -> Iterator[tuple[str, str, float | None]]:
    """(result id, item id, value of ``metric``) of each stored result of a run that has an
    item, a page of plain rows at a time: no result records, no outputs. Of several scores of
    the metric's name on one result (from different sources), the first by source name."""
    by_score = metric not in PASS_NAMES
    for rows, score_rows in result_pages(store.db, experiment_id):
        found: dict[str, tuple[str, float | None]] = {}
        if by_score:
            for result_id, name, value, _, source, _ in score_rows:
                if name == metric and (result_id not in found or source < found[result_id][0]):
                    found[result_id] = (source, value)
        for result_id, item_id, _, status, passed, *_ in rows:
            if item_id is not None:
                score = found.get(result_id)
                value = _result_value(metric, status, passed, None if score is None else score[1])
                yield result_id, item_id, value


def _check_range(metric: str, value: float, where: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(
            f"sequential.metric: {metric!r} has the value {value:g} in {where}; sequential "
            "stopping needs values in [0, 1] (a pass rate, or a score scaled to that range)",
            field="sequential.metric",
        )


def _means(store: Store, experiment_id: str, metric: str, where: str) -> dict[str, float]:
    """Per item: the mean of ``metric`` over the run's finished results."""
    sums: dict[str, list[float]] = {}
    for _, item_id, value in _stored_values(store, experiment_id, metric):
        if value is not None:
            _check_range(metric, value, where)
            sums.setdefault(item_id, []).append(value)
    return {item: sum(v) / len(v) for item, v in sums.items()}


def plan_record(store: Store, settings: SequentialSettings, dataset_id: str) -> dict[str, Any]:
    """The settings a sequential run records (baseline resolved, seed drawn), checked first:
    the baseline must be a completed run of the same dataset with values of the metric."""
    try:
        baseline = store.experiments.get(settings.baseline)
    except NotFound:
        raise InvalidInput(
            f"sequential.baseline: no run {settings.baseline!r}", field="sequential.baseline"
        ) from None
    if baseline.status is not ExperimentStatus.completed:
        raise InvalidInput(
            f"sequential.baseline: run {baseline.name!r} is {baseline.status.value}; the "
            "baseline must have completed",
            field="sequential.baseline",
        )
    if baseline.dataset_id != dataset_id:
        raise InvalidInput(
            f"sequential.baseline: run {baseline.name!r} ran another dataset; the baseline "
            "must have run the same items",
            field="sequential.baseline",
        )
    values = _means(store, baseline.id, settings.metric, f"run {baseline.name!r}")
    if not values:
        raise InvalidInput(
            f"sequential.metric: the baseline {baseline.name!r} has no value of "
            f"{settings.metric!r}",
            field="sequential.metric",
        )
    seed = settings.seed if settings.seed is not None else secrets.randbelow(2**53)
    return {
        "baseline": baseline.id,
        "baseline_name": baseline.name,
        "metric": settings.metric,
        "margin": settings.margin,
        "alpha": settings.alpha,
        "seed": seed,
    }


class Watch:
    """The confidence sequence of a sequential run, updated with each finished result."""

    def __init__(
        self,
        spec: dict[str, Any],
        baseline: dict[str, float],
        order: Sequence[str],
        repetitions: dict[str, int],
        item_of: dict[str, str],
    ) -> None:
        from assay.analysis.planning import default_rho  # NumPy: only for sequential runs

        self.spec = spec
        self.metric = str(spec["metric"])
        self.margin = float(spec.get("margin") or 0.0)
        self.alpha = float(spec.get("alpha") or 0.05)
        self._rho = default_rho(self.alpha)
        self._baseline = baseline
        self._order = list(order)
        self._repetitions = repetitions
        self._item_of = item_of
        self._values: dict[str, list[float | None]] = {}
        self._next = 0
        self.n = 0
        self.total = 0.0
        self.low = -math.inf
        self.high = math.inf
        self.results = 0
        self.verdict: str | None = None
        self.reason: str = ""
        self.problem: str | None = None

    @property
    def settled(self) -> bool:
        return self.verdict is not None

    def seen(self, item_id: str, value: float | None) -> None:
        """A result of ``item_id`` that finished before this run (a resumed run's)."""
        self._values.setdefault(item_id, []).append(value)

    def add(self, completion: Completion) -> bool:
        """Count a finished result; True when this one settled the comparison."""
        self.results += 1
        item = self._item_of.get(completion.result_id)
        if item is None or self.settled or self.problem is not None:
            return False
        value = _value(self.metric, completion.status, completion.passed, completion.scores)
        if value is not None and not 0.0 <= value <= 1.0:
            self.problem = f"{self.metric!r} gave {value:g}, outside [0, 1]: not monitored"
            return False
        self._values.setdefault(item, []).append(value)
        return self.advance()

    def advance(self) -> bool:
        """Take the finished items at the front of the draw order; True once settled."""
        from assay.analysis.planning import mixture_radius, settle

        while self._next < len(self._order):
            item = self._order[self._next]
            got = self._values.get(item, [])
            if len(got) < self._repetitions.get(item, 1):
                return False
            self._next += 1
            base = self._baseline.get(item)
            own = [v for v in got if v is not None]
            if base is None or len(own) < len(got):
                continue  # no pair for this item
            self.n += 1
            self.total += sum(own) / len(own) - base
            radius = float(mixture_radius(self.n, self.alpha, self._rho))
            mean = self.total / self.n
            self.low, self.high = max(-1.0, mean - radius), min(1.0, mean + radius)
            verdict = settle(self.low, self.high, self.margin)
            if verdict is not None:
                self.verdict = verdict
                what = _LABELS[verdict]
                if verdict == "non_inferior":
                    what += f" (margin {self.margin:g})"
                self.reason = f"stopped early at n={self.n}: {what}"
                return True
        return False

    def outcome(self) -> dict[str, Any]:
        """What the run records under ``sequential`` when it ends."""
        mean = self.total / self.n if self.n else None
        out: dict[str, Any] = {
            "verdict": self.verdict or "open",
            "stopped": self.settled,
            "n": self.n,
            "mean_difference": mean,
            "lower": None if not self.n else self.low,
            "upper": None if not self.n else self.high,
            "results": self.results,
            "reason": self.reason or self.problem or f"not settled at n={self.n}",
        }
        return {KEY: {**self.spec, "outcome": out}}


def watch(
    store: Store, experiment: Experiment, work: _W, *, fresh: bool
) -> tuple[_W | list[WorkItem], Watch | None]:
    """``work`` in the run's draw order and the watch of a sequential run; the work unchanged
    and None for any other run. ``fresh``: nothing of the run finished before."""
    spec = experiment.metadata.get(KEY)
    if not isinstance(spec, dict) or "outcome" in spec or "seed" not in spec:
        return work, None
    seed = int(spec["seed"])
    ordered = sorted(work, key=lambda w: (draw_key(seed, w.item_id or ""), w.repetition))
    metric = str(spec["metric"])
    baseline_id = store.experiments.get(str(spec["baseline"])).id  # NotFound: it was deleted
    baseline = _means(store, baseline_id, metric, "baseline")
    repetitions: dict[str, int] = {}
    item_of: dict[str, str] = {}
    earlier: list[tuple[str, float | None]] = []
    if not fresh:  # what finished before: its values; what did not has a row or is planned
        pending = {w.result_id for w in ordered}
        for result_id, item_id, value in _stored_values(store, experiment.id, metric):
            repetitions[item_id] = repetitions.get(item_id, 0) + 1
            item_of[result_id] = item_id
            if result_id not in pending:
                earlier.append((item_id, value))
    for w in ordered:
        if w.item_id is not None and w.result_id not in item_of:
            repetitions[w.item_id] = repetitions.get(w.item_id, 0) + 1
            item_of[w.result_id] = w.item_id
    watcher = Watch(spec, baseline, draw_order(repetitions, seed), repetitions, item_of)
    for item_id, value in earlier:
        watcher.seen(item_id, value)
    if watcher.advance():  # settled by what ran before an interruption: nothing is left
        return [], watcher
    return ordered, watcher
