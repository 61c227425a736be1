"""The engine's stopping rule (:class:`assay.engine.sequential.Watch`) on simulated paired
streams, looked at after every single item: it keeps its error rate without a difference and
stops early with one."""

from __future__ import annotations

import numpy as np

from assay.engine.sequential import Watch, draw_order
from assay.store import Completion

STREAMS = 60
ITEMS = 1500


def _stream(rng: np.random.Generator, p_base: float, p_new: float, margin: float = 0.0) -> Watch:
    """One run of ITEMS items against a baseline: correlated pass/fail per item (a shared
    difficulty, redrawn for the new system one time in three). Stops as the runner does."""
    difficulty = rng.random(ITEMS)
    redraw = rng.random(ITEMS) < 1 / 3
    new = np.where(redraw, rng.random(ITEMS), difficulty)
    ids = [f"item-{i:05d}" for i in range(ITEMS)]
    baseline = {ids[i]: float(difficulty[i] < p_base) for i in range(ITEMS)}
    spec = {"baseline": "b", "metric": "pass_rate", "margin": margin, "alpha": 0.05, "seed": 7}
    order = draw_order(ids, 7)
    watch = Watch(spec, baseline, order, dict.fromkeys(ids, 1), {i: i for i in ids})
    index = {item: k for k, item in enumerate(ids)}
    for item in order:
        passed = bool(new[index[item]] < p_new)
        if watch.add(Completion(item, "completed", passed=passed)):
            break
    return watch


def test_a_real_difference_stops_early_and_no_difference_rarely_does() -> None:
    rng = np.random.default_rng(11)
    better = [_stream(rng, 0.6, 0.75) for _ in range(STREAMS)]
    assert all(w.verdict == "better" for w in better)
    sizes = np.array([w.n for w in better])
    assert 60 < sizes.mean() < 600  # the figure docs/statistics.md reports (bench/sequential.py)
    assert all(w.outcome()["sequential"]["outcome"]["stopped"] for w in better)
    same = [_stream(rng, 0.6, 0.6) for _ in range(STREAMS)]
    false_stops = sum(w.settled for w in same)
    assert false_stops <= 0.05 * STREAMS + 2
    unsettled = next(w for w in same if not w.settled)
    assert unsettled.n == ITEMS
    assert unsettled.outcome()["sequential"]["outcome"]["verdict"] == "open"


def test_a_margin_settles_equal_systems_as_non_inferior() -> None:
    rng = np.random.default_rng(5)
    watches = [_stream(rng, 0.7, 0.7, margin=0.1) for _ in range(20)]
    assert sum(w.verdict == "non_inferior" for w in watches) >= 18
    assert all(w.n < ITEMS for w in watches if w.settled)


def test_items_count_in_draw_order_only() -> None:
    ids = ["a", "b", "c"]
    order = draw_order(ids, 1)
    spec = {"baseline": "b", "metric": "pass_rate", "margin": 0.0, "alpha": 0.05, "seed": 1}
    watch = Watch(spec, dict.fromkeys(ids, 0.0), order, dict.fromkeys(ids, 1), {i: i for i in ids})
    watch.add(Completion(order[2], "completed", passed=True))
    watch.add(Completion(order[1], "completed", passed=True))
    assert watch.n == 0  # the first drawn item has not finished: nothing counts yet
    watch.add(Completion(order[0], "failed"))
    assert watch.n == 3
    assert watch.total == 2.0
    assert draw_order(ids, 1) == order
    assert draw_order(reversed(ids), 1) == order
