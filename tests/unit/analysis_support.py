"""Builders for analysis tests: runs as columns, or as stored result records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.analysis import RunFrame, ScoreColumn
from assay.analysis.frame import COLUMNS, COMPLETED
from assay.domain import (
    Experiment,
    ExperimentStatus,
    Result,
    ResultStatus,
    Score,
    ScoreDataType,
    ScoreSource,
)
from assay.ids import new_id

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def frame(
    run_id: str,
    passed: npt.ArrayLike,
    *,
    items: Sequence[str] | None = None,
    repetition: npt.ArrayLike | None = None,
    scores: Mapping[str, npt.ArrayLike] | None = None,
    pass_fail_scores: Mapping[str, npt.ArrayLike] | None = None,
) -> RunFrame:
    """A completed run whose rows are items ``i0, i1, ...`` unless ``items`` is given."""
    p = np.asarray(passed, dtype=np.float64)
    n = p.size
    ids = np.array(items if items is not None else [f"i{k}" for k in range(n)], dtype=np.str_)
    columns: dict[str, ScoreColumn] = {}
    for name, values in (scores or {}).items():
        columns[name] = ScoreColumn(np.asarray(values, dtype=np.float64), np.full(n, np.nan))
    for name, flags in (pass_fail_scores or {}).items():
        f = np.asarray(flags, dtype=np.float64)
        columns[name] = ScoreColumn(f.copy(), f)
    return RunFrame(
        run_id=run_id,
        name=run_id,
        item_ids=ids,
        repetition=(
            np.zeros(n, dtype=np.int64)
            if repetition is None
            else np.asarray(repetition, dtype=np.int64)
        ),
        status=np.full(n, COMPLETED, dtype=np.int8),
        passed=p,
        latency_ms=np.full(n, np.nan),
        cost=np.full(n, np.nan),
        judge_cost=np.full(n, np.nan),
        scores=columns,
    )


def score(name: str, value: float | bool | None, passed: bool | None = None, **kw: Any) -> Score:
    numeric = float(value) if isinstance(value, int | float) else None
    return Score(
        id=new_id(),
        name=name,
        data_type=ScoreDataType.boolean if isinstance(value, bool) else ScoreDataType.numeric,
        numeric_value=numeric,
        string_value=None,
        passed=passed,
        reason=None,
        source=kw.pop("source", ScoreSource.evaluator),
        result_id=None,
        trace_id=None,
        evaluator_id=None,
        evaluator_version=None,
        cost=kw.pop("cost", None),
        tokens_in=None,
        tokens_out=None,
        latency_ms=None,
        metadata={},
        created_at=NOW,
    )


def result(
    experiment_id: str,
    item_id: str | None,
    *,
    repetition: int = 0,
    status: ResultStatus = ResultStatus.completed,
    passed: bool | None = True,
    output: Any = "ok",
    scores: Sequence[Score] = (),
    latency_ms: float | None = 100.0,
    cost: float | None = 0.01,
    error: str | None = None,
) -> Result:
    return Result(
        id=new_id(),
        experiment_id=experiment_id,
        item_id=item_id,
        repetition=repetition,
        status=status,
        input={"q": item_id},
        expected_output=None,
        output=output,
        error=error,
        latency_ms=latency_ms,
        tokens_in=None,
        tokens_out=None,
        cost=cost,
        attempts=1,
        passed=passed,
        trace_id=None,
        observation_id=None,
        started_at=None,
        finished_at=None,
        scores=list(scores),
    )


def experiment(
    eid: str, *, name: str | None = None, version: int = 1, selection: dict[str, Any] | None = None
) -> Experiment:
    """A completed experiment record of dataset ``d`` at ``version``."""
    return Experiment(
        id=eid,
        project_id="p",
        dataset_id="d",
        dataset_version=version,
        name=name or f"exp {eid}",
        description=None,
        config={},
        config_hash=None,
        selection=selection,
        evaluator_ids=[],
        scorers=[],
        concurrency=1,
        trials=1,
        run_tag=None,
        tags=[],
        metadata={},
        notes=None,
        external=False,
        status=ExperimentStatus.completed,
        error=None,
        created_at=NOW,
        started_at=None,
        finished_at=None,
    )


def assert_same_frame(a: RunFrame, b: RunFrame, columns: Sequence[str] = COLUMNS) -> None:
    """The two frames hold the same rows: ids, ``columns``, errors and scores, with dtypes."""
    assert a.id_list() == b.id_list()
    for column in columns:
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column))
        assert getattr(a, column).dtype == getattr(b, column).dtype
    assert list(a.errors or ()) == list(b.errors or ())
    assert list(a.scores) == list(b.scores)
    for name in a.scores:
        np.testing.assert_array_equal(a.scores[name].value, b.scores[name].value)
        np.testing.assert_array_equal(a.scores[name].passed, b.scores[name].passed)
    assert a.unaligned == b.unaligned
