"""A run frame read from its result and score rows a page at a time is the same whatever the
page size, and follows a frame's rules: people overrule the API, which overrules evaluators
(other sources rank above those), judge costs add up per result, a score name first seen on a
later page is NaN before it, results without an item id are counted rather than aligned (and
their scores left out)."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import insert, select, update

from assay.analysis.frame import RunFrame
from assay.analysis.frame_read import read_frame
from assay.domain import (
    DatasetRunCreate,
    RunItemCreate,
    ScoreCreate,
    ScoreSource,
)
from assay.errors import InvalidInput
from assay.ids import new_id
from assay.store import Store
from assay.store.tables import results, scores
from assay.store.types import utcnow
from tests.integration.run_support import mixed_run
from tests.unit.analysis_support import assert_same_frame

PAGES = (1, 2, 3, 5, 1_000)


def _score_row(store: Store, run_id: str, result_id: str, name: str, **values: object) -> None:
    """A score row as any writer may leave it (a source the API does not take)."""
    project_id = store.experiments.get(run_id).project_id
    with store.db.write() as conn:
        conn.execute(
            insert(scores).values(
                id=new_id(),
                project_id=project_id,
                experiment_id=run_id,
                result_id=result_id,
                name=name,
                data_type="numeric",
                metadata={},
                created_at=utcnow(),
                updated_at=utcnow(),
                **values,
            )
        )


@pytest.fixture
def engine_run(store: Store) -> str:
    run_id = mixed_run(store, 5)
    rows = list(store.experiments.iter_results(run_id))
    first, second, third, last = rows[0].id, rows[1].id, rows[3].id, rows[-1].id
    for source, value in ((ScoreSource.api, 0.75), (ScoreSource.human, 0.25)):
        store.scores.upsert(
            ScoreCreate(name="exact_match", value=value, source=source), result_id=first
        )
    _score_row(store, run_id, second, "exact_match", numeric_value=0.5, source="online")
    # A source no writer of this version uses: the page holding it is read as plain rows.
    _score_row(store, run_id, rows[2].id, "exact_match", numeric_value=0.125, source="zeta")
    for source, cost in (("api", 0.1), ("human", 0.2), ("online", 0.3)):
        _score_row(store, run_id, third, "judged", numeric_value=cost, source=source, cost=cost)
    store.scores.upsert(
        ScoreCreate(name="late", value=1.0, source=ScoreSource.api, cost=0.01), result_id=last
    )
    return run_id


@pytest.fixture
def external_run(store: Store, engine_run: str) -> str:
    run = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="external"))
    item_ids = [i.id for i in store.datasets.list_items("qa").items]
    items = [
        RunItemCreate(dataset_item_id=item_ids[0], output="a", cost=0.5),
        RunItemCreate(output="not aligned", input={"q": "elsewhere"}),
        RunItemCreate(dataset_item_id=item_ids[1], output="b", error="slow"),
        RunItemCreate(output="not aligned either", input={"q": "nowhere"}),
    ]
    store.dataset_runs.add_items(run.id, items)
    for result in store.experiments.iter_results(run.id):
        name = "orphan" if result.item_id is None else "kept"
        store.scores.upsert(
            ScoreCreate(name=name, value=0.5, source=ScoreSource.api, cost=0.02),
            result_id=result.id,
        )
    return run.id


def _frames(store: Store, run_id: str) -> list[RunFrame]:
    experiment = store.experiments.get(run_id)
    return [read_frame(store, experiment, outputs=False, page=page) for page in PAGES]


def _keys(store: Store, run_id: str) -> list[tuple[str, int]]:
    """The run's (item, repetition) keys in plan order (whatever its scores' sources)."""
    query = (
        select(results.c.item_id, results.c.repetition)
        .where(results.c.experiment_id == run_id)
        .order_by(results.c.id)
    )
    with store.db.read() as conn:
        return [(item, repetition) for item, repetition in conn.execute(query)]


def _row(frame: RunFrame, key: tuple[str, int]) -> int:
    row = frame.row_of(*key)
    assert row is not None
    return row


def test_the_frame_is_the_same_whatever_the_page_size(store: Store, engine_run: str) -> None:
    frames = _frames(store, engine_run)
    for frame in frames[1:]:
        assert_same_frame(frame, frames[0])
    assert list(frames[0].scores) == ["contains", "exact_match", "judged", "late"]
    with_outputs = read_frame(store, store.experiments.get(engine_run), outputs=True, page=3)
    assert_same_frame(with_outputs, frames[0])


def test_sources_rank_and_costs_add_up(store: Store, engine_run: str) -> None:
    frame = _frames(store, engine_run)[1]
    keys = _keys(store, engine_run)
    first, second, third, last = (_row(frame, keys[k]) for k in (0, 1, 3, -1))
    exact = frame.scores["exact_match"].value
    assert exact[first] == 0.25  # a person's score overrules the API's and the evaluator's
    assert exact[second] == 0.5  # a source not listed ranks above the listed ones
    assert exact[_row(frame, keys[2])] == 0.125
    assert frame.scores["judged"].value[third] == 0.3
    assert frame.judge_cost[third] == pytest.approx(0.6)
    assert frame.judge_cost[last] == 0.01
    assert math.isnan(frame.judge_cost[first])
    late = frame.scores["late"].value
    assert late[last] == 1.0
    assert sum(not math.isnan(v) for v in late) == 1


def test_results_without_an_item_id_are_counted_not_aligned(
    store: Store, external_run: str
) -> None:
    frames = _frames(store, external_run)
    for frame in frames[1:]:
        assert_same_frame(frame, frames[0])
    frame = frames[0]
    assert (len(frame), frame.unaligned) == (2, 2)
    first, second = (frame.row_of(i.id) for i in store.datasets.list_items("qa").items[:2])
    assert first is not None
    assert second is not None
    assert frame.cost[first] == 0.5
    assert math.isnan(frame.cost[second])
    assert list(frame.errors or ()) == [None if row == first else "slow" for row in (0, 1)]
    assert frame.judge_cost.tolist() == [0.02, 0.02]
    # Their scores are left out with them (as in the snapshot a run stores when it ends).
    assert list(frame.scores) == ["kept"]


def test_an_unknown_status_is_refused(store: Store, engine_run: str) -> None:
    with store.db.write() as conn:
        conn.execute(
            update(results).where(results.c.experiment_id == engine_run).values(status="lost")
        )
    with pytest.raises(InvalidInput, match="unknown result status 'lost'"):
        _frames(store, engine_run)
