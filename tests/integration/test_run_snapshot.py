"""The snapshot the engine writes from the store in pages reads back like the frame-built one."""

from __future__ import annotations

import pytest

import assay
from assay.analysis import service, snapshot
from assay.analysis.frame import RunFrame
from assay.analysis.frame_read import read_frame
from assay.domain import DatasetCreate, ItemCreate, ScoreCreate, ScoreSource
from assay.engine import snapshot as streamed
from assay.scorers import contains
from assay.store import Store, run_frames
from assay.store.run_columns import judge_spreads
from tests.integration.run_support import mixed_run
from tests.unit.analysis_support import assert_same_frame


def _same(a: RunFrame, b: RunFrame) -> None:
    assert_same_frame(a, b, ("repetition", "status", "passed", "latency_ms", "cost", "judge_cost"))
    assert a.judge_spreads == b.judge_spreads


@pytest.mark.parametrize("n", [1, 23])
def test_the_streamed_snapshot_equals_the_frame_built_one(store: Store, n: int) -> None:
    run_id = mixed_run(store, n)
    rows = list(store.experiments.iter_results(run_id))
    # Scores from several sources on one result (people overrule the API and evaluators), a
    # score on only some results, and a judge's cost.
    store.scores.upsert(
        ScoreCreate(name="exact_match", value=0.25, source=ScoreSource.human),
        result_id=rows[0].id,
    )
    store.scores.upsert(
        ScoreCreate(name="helpful", value=0.5, source=ScoreSource.api, cost=0.01),
        result_id=rows[-1].id,
    )
    # A judge's verdict repeated three times: its spread travels with the snapshot.
    store.scores.upsert(
        ScoreCreate(
            name="judged",
            value=0.6,
            source=ScoreSource.api,
            metadata={"repetitions": 3, "std": 0.2},
            cost=0.03,
        ),
        result_id=rows[1].id,
    )
    experiment = store.experiments.get(run_id)
    spreads = judge_spreads(store.db, run_id)
    assert spreads == {"judged": (pytest.approx(0.04), 3, 1)}
    expected = service._frame(store, experiment, outputs=False, spreads=spreads)
    data = streamed.build(store, run_id, page=5)  # several pages, a partial last one
    got = snapshot.loads(data, experiment)
    assert got is not None
    _same(got, expected)
    _same(got, snapshot.loads(snapshot.dumps(expected), experiment) or expected)
    # Read a few results at a time, the frame is the same.
    _same(read_frame(store, experiment, outputs=False, page=3, spreads=spreads), expected)
    with_outputs = read_frame(store, experiment, outputs=True, page=3, spreads=spreads)
    _same(with_outputs, expected)
    assert with_outputs.outputs == [r.output for r in rows if r.item_id is not None]


def test_a_finished_run_stores_the_streamed_snapshot(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"q{i}"}) for i in range(7)])
    run = assay.evaluate("qa", lambda x: x["q"], [contains("q")], store=store, quiet=True)
    data = run_frames.load(store.db, run.id)
    assert data is not None
    experiment = store.experiments.get(run.id)
    loaded = snapshot.loads(data, experiment)
    assert loaded is not None
    assert loaded.judge_spreads == {}  # no judge repeated: known, nothing to read again
    _same(loaded, service._frame(store, experiment, outputs=False, spreads={}))
