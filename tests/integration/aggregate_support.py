"""Whether a stopped run's stored page aggregates are what SQL computes from its rows."""

from __future__ import annotations

import json
import math
from typing import Any

from assay.domain import ExperimentSummary, Histogram
from assay.store import Store, run_aggregates, run_frames
from assay.store.analytics import LATENCY_BINS, SCORE_BINS
from assay.store.summary import _summarize


def _same(counted: Any, computed: Any, where: str = "") -> None:
    """Equal, floats to within rounding (exact sums against SQL's in scan order)."""
    if isinstance(computed, float) and isinstance(counted, float):
        assert math.isclose(counted, computed, rel_tol=1e-12, abs_tol=1e-12), where
    elif isinstance(computed, dict):
        assert isinstance(counted, dict), where
        assert counted.keys() == computed.keys(), where
        for key in computed:
            _same(counted[key], computed[key], f"{where}.{key}")
    elif isinstance(computed, list):
        assert isinstance(counted, list), where
        assert len(counted) == len(computed), where
        for k, (a, b) in enumerate(zip(counted, computed, strict=True)):
            _same(a, b, f"{where}[{k}]")
    else:
        assert counted == computed, where


def _stored(store: Store, experiment_id: str, what: Any) -> Any:
    with store.db.read() as conn:
        revision = run_frames.revision(conn, experiment_id)
        text = run_aggregates.load(conn, experiment_id, run_aggregates.name_of(what), revision)
    assert text is not None, f"{what} was not stored at revision {revision}"
    return json.loads(text)


def _in_sql(store: Store, experiment_id: str) -> dict[Any, Any]:
    """Every aggregate as SQL computes it from the stored rows, under its cache key."""
    analytics = store.analytics
    with store.db.read() as conn:
        summary = _summarize(conn, experiment_id)
        out: dict[Any, Any] = {
            "summary": summary,
            ("latency_distribution", LATENCY_BINS): analytics._latency_histogram(
                conn, experiment_id, LATENCY_BINS
            ),
        }
        for s in summary.scores:
            out[("score_distribution", s.name, SCORE_BINS)] = analytics._score_histogram(
                conn, experiment_id, s.name, SCORE_BINS
            )
    return out


def stored_aggregates_are_computed(store: Store, experiment_id: str) -> None:
    for what, model in _in_sql(store, experiment_id).items():
        assert isinstance(model, ExperimentSummary | Histogram)
        _same(_stored(store, experiment_id, what), model.model_dump(mode="json"), str(what))
