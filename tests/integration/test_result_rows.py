"""A run's results and scores go to SQLite in statements of many rows; a column that is None
in every row of one statement is written as NULL by the statement itself. Whichever columns
each statement leaves out, every stored value is the one recorded."""

from __future__ import annotations

from typing import Any

import assay
from assay.domain import DatasetCreate, ItemCreate
from assay.scoring import scorer
from assay.store import Store

N = 300  # statements of 128 rows, then the rest row by row


def reply(question: dict[str, str]) -> str:
    k = int(question["q"][1:])
    if 130 <= k < 140:  # errors in the second statement only
        raise ValueError(f"cannot answer {k}")
    return question["q"].upper()


@scorer
def noted(output: Any) -> dict[str, Any]:
    k = int(output[1:])
    reason = f"item {k}" if k % 50 == 7 else None
    return {"value": k / N, "passed": k % 3 == 0, "reason": reason}


def test_every_value_is_stored_whichever_columns_a_statement_writes_as_null(
    store: Store,
) -> None:
    store.datasets.create(DatasetCreate(name="rows"))
    store.datasets.add_items("rows", [ItemCreate(input={"q": f"q{k}"}) for k in range(N)])
    run = assay.evaluate("rows", reply, [noted()], name="rows", store=store, concurrency=1)
    stored = {r.input["q"]: r for r in store.experiments.iter_results(run.id)}
    assert len(stored) == N
    for k in range(N):
        result = stored[f"q{k}"]
        failed = 130 <= k < 140
        assert result.output == (None if failed else f"Q{k}")
        if failed:  # a failed call keeps its error and is not scored
            assert f"cannot answer {k}" in (result.error or "")
            assert result.scores == []
            assert result.passed is None
            continue
        assert result.error is None
        [score] = result.scores
        assert score.numeric_value == k / N
        assert score.passed is (k % 3 == 0)
        assert result.passed is (k % 3 == 0)
        assert score.reason == (f"item {k}" if k % 50 == 7 else None)
