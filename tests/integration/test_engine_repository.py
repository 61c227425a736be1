"""The experiments repository: planning, recording, summaries, listing, cancel and claim."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from assay.domain import (
    DatasetCreate,
    ExperimentCreate,
    ExperimentStatus,
    ItemCreate,
    ResultStatus,
    ScoreCreate,
    Selection,
)
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import Completion, Store
from assay.store.planning import worker_id
from assay.store.recording import RunTrace
from assay.store.tables import experiments, traces


def make(store: Store, n: int = 5, name: str = "qa") -> None:
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(
        name,
        [
            ItemCreate(
                input={"q": f"q{i}"},
                expected_output=f"a{i}",
                tags=["even" if i % 2 == 0 else "odd"],
            )
            for i in range(n)
        ],
    )


def create(store: Store, **kw: object) -> tuple[str, list[str]]:
    data = ExperimentCreate(name="exp", dataset="qa", **kw)  # type: ignore[arg-type]
    experiment, work = store.experiments.create(data, config_hash="h")
    return experiment.id, [w.result_id for w in work]


def done(rid: str, latency: float, *, passed: bool = True, cost: float = 0.01) -> Completion:
    return Completion(
        rid,
        "completed",
        output="out",
        latency_ms=latency,
        tokens_in=10,
        tokens_out=5,
        cost=cost,
        attempts=1,
        passed=passed,
        scores=[ScoreCreate(name="exact_match", value=passed, passed=passed)],
    )


def test_plan_pins_version_and_creates_one_row_per_item_and_repetition(store: Store) -> None:
    make(store, 4)
    exp_id, rids = create(store, trials=3)
    experiment = store.experiments.get(exp_id)
    assert experiment.dataset_version == 1
    assert experiment.status == ExperimentStatus.pending
    assert len(rids) == 12 == len(set(rids))
    assert rids == sorted(rids)  # plan order is id order
    summary = store.experiments.summary(exp_id)
    assert summary.total == 12
    assert summary.pending == 12
    # a later dataset change does not touch the pinned run
    store.datasets.add_items("qa", [ItemCreate(input="new")])
    _, work = store.experiments.unfinished(exp_id)
    assert len(work) == 12
    assert {w.repetition for w in work} == {0, 1, 2}


def test_selection_and_bad_input_leave_nothing_behind(store: Store) -> None:
    make(store, 6)
    _, rids = create(store, selection=Selection(tags=["even"]))
    assert len(rids) == 3
    _, rids = create(store, selection=Selection(sample=2, seed=7))
    _, _again = create(store, selection=Selection(sample=2, seed=7))
    first = [
        w.item_id for w in store.experiments.unfinished(store.experiments.list().items[1].id)[1]
    ]
    second = [
        w.item_id for w in store.experiments.unfinished(store.experiments.list().items[0].id)[1]
    ]
    assert first == second
    assert len(first) == 2
    before = len(store.experiments.list().items)
    with pytest.raises(InvalidInput, match=r"selection\.ids"):
        create(store, selection=Selection(ids=["nope"]))
    with pytest.raises(InvalidInput, match="no items matching"):
        create(store, selection=Selection(tags=["none"]))
    with pytest.raises(InvalidInput, match="no version 9"):
        create(store, dataset_version=9)
    with pytest.raises(NotFound):
        store.experiments.create(ExperimentCreate(name="x", dataset="missing"))
    assert len(store.experiments.list().items) == before


def test_record_never_completes_a_result_twice(store: Store) -> None:
    make(store, 2)
    exp_id, rids = create(store)
    assert store.experiments.record(exp_id, [done(rids[0], 5.0)]) == 1
    # a second completion (e.g. a duplicate run) is ignored, scores included
    assert (
        store.experiments.record(exp_id, [done(rids[0], 9.0, passed=False), done(rids[1], 7.0)])
        == 1
    )
    page = store.experiments.results(exp_id)
    first = page.results[0]
    assert first.latency_ms == 5.0
    assert first.passed is True
    assert [s.numeric_value for s in first.scores] == [1.0]
    assert page.summary.completed == 2


def test_a_fresh_batch_meeting_a_recorded_result_is_written_once(store: Store) -> None:
    """A batch written as fresh (planned by its runner) that meets a result already completed
    is rolled back and written the checked way: one completion, one score, one trace."""
    make(store, 3)
    exp_id, rids = create(store)
    _, lease = store.experiments.claim_lease(exp_id, worker_id())

    def traced(rid: str, latency: float, passed: bool = True) -> Completion:
        completion = done(rid, latency, passed=passed)
        completion.trace = RunTrace("exp", exp_id, {"q": rid}, metadata={"attempts": 1})
        return completion

    assert store.experiments.record(exp_id, [traced(rids[0], 5.0)], lease=lease, fresh=True) == 1
    again = [traced(rids[0], 9.0, passed=False), traced(rids[1], 7.0), traced(rids[2], 8.0)]
    assert store.experiments.record(exp_id, again, lease=lease, fresh=True) == 2
    page = store.experiments.results(exp_id)
    by_id = {r.id: r for r in page.results}
    assert by_id[rids[0]].latency_ms == 5.0
    assert by_id[rids[0]].passed is True
    assert [len(by_id[r].scores) for r in rids] == [1, 1, 1]
    with store.db.read() as conn:
        count = select(func.count()).select_from(traces).where(traces.c.id.in_(rids))
        assert conn.execute(count).scalar_one() == 3
    assert page.summary.completed == 3


def test_a_batch_of_several_statements_records_each_result_once(store: Store) -> None:
    """More results than one multi-row statement holds (SQLite writes 128 rows a statement,
    the rest row by row): every chunk and the rest record their results, scores and traces,
    and the result completed before is left as it was."""
    make(store, 1_203)
    exp_id, rids = create(store)
    _, lease = store.experiments.claim_lease(exp_id, worker_id())
    assert store.experiments.record(exp_id, [done(rids[700], 1.0)], lease=lease) == 1

    def traced(k: int, rid: str) -> Completion:
        completion = done(rid, float(k), passed=k % 2 == 0)
        completion.trace = RunTrace("exp", exp_id, {"q": k}, metadata={"attempts": 1})
        return completion

    batch = [traced(k, rid) for k, rid in enumerate(rids)]
    assert store.experiments.record(exp_id, batch, lease=lease, fresh=True) == 1_202
    results = {r.id: r for r in store.experiments.iter_results(exp_id)}
    assert results[rids[700]].latency_ms == 1.0
    assert [results[rid].latency_ms for rid in (rids[0], rids[127], rids[1_200], rids[-1])] == [
        0.0,
        127.0,
        1_200.0,
        1_202.0,
    ]
    assert results[rids[3]].passed is False
    with store.db.read() as conn:
        count = select(func.count()).select_from(traces).where(traces.c.id.in_(rids[:900]))
        assert conn.execute(count).scalar_one() == 899  # not the result completed before
    summary = store.experiments.summary(exp_id)
    assert summary.completed == 1_203


def test_failed_results_can_be_recorded_again(store: Store) -> None:
    make(store, 1)
    exp_id, rids = create(store)
    store.experiments.record(exp_id, [Completion(rids[0], "failed", error="boom", attempts=3)])
    assert store.experiments.unfinished(exp_id)[1] == []
    retry = store.experiments.unfinished(exp_id, retry_errors=True)[1]
    assert [w.result_id for w in retry] == rids
    store.experiments.record(exp_id, [done(rids[0], 1.0)])
    assert store.experiments.results(exp_id).results[0].status == ResultStatus.completed


def test_summary_is_computed_in_sql(store: Store) -> None:
    make(store, 5)
    exp_id, rids = create(store)
    latencies = [10.0, 20.0, 30.0, 40.0]
    store.experiments.record(
        exp_id,
        [
            done(r, lat, passed=i != 0)
            for i, (r, lat) in enumerate(zip(rids, latencies, strict=False))
        ]
        + [Completion(rids[4], "failed", error="x", attempts=1)],
    )
    s = store.experiments.summary(exp_id)
    assert (s.total, s.completed, s.failed, s.pending) == (5, 4, 1, 0)
    assert s.avg_latency_ms == pytest.approx(25.0)
    assert s.p50_latency_ms == pytest.approx(25.0)  # linear interpolation, like numpy
    assert s.p95_latency_ms == pytest.approx(38.5)
    assert s.total_cost == pytest.approx(0.04)
    assert s.avg_cost == pytest.approx(0.01)
    assert (s.tokens_in, s.tokens_out) == (40, 20)
    assert s.passed == 3
    assert s.pass_rate == pytest.approx(0.75)
    (scorer,) = s.scores
    assert (scorer.name, scorer.passed, scorer.failed) == ("exact_match", 3, 1)
    assert scorer.mean == pytest.approx(0.75)


def test_results_page_with_cursor_and_filters(store: Store) -> None:
    make(store, 5)
    exp_id, rids = create(store)
    store.experiments.record(exp_id, [done(r, 1.0, passed=i % 2 == 0) for i, r in enumerate(rids)])
    first = store.experiments.results(exp_id, limit=2)
    assert [r.id for r in first.results] == rids[:2]
    assert first.dataset_name == "qa"
    assert first.experiment_name == "exp"
    assert first.results[0].input == {"q": "q0"}
    assert first.results[0].expected_output == "a0"
    second = store.experiments.results(exp_id, limit=2, cursor=first.next_cursor)
    assert [r.id for r in second.results] == rids[2:4]
    failing = store.experiments.results(exp_id, passed=False)
    assert [r.id for r in failing.results] == [rids[1], rids[3]]
    assert [r.id for r in store.experiments.iter_results(exp_id, batch_size=2)] == rids
    with pytest.raises(InvalidInput, match="cursor"):
        store.experiments.results(exp_id, cursor="!!")


def test_cancel_pending_run_and_claims(store: Store) -> None:
    make(store, 3)
    exp_id, _ = create(store)
    cancelled = store.experiments.request_cancel(exp_id)
    assert cancelled.status == ExperimentStatus.cancelled
    assert store.experiments.summary(exp_id).cancelled == 3
    with pytest.raises(Conflict, match="already cancelled"):
        store.experiments.request_cancel(exp_id)

    exp_id, _ = create(store)
    me = worker_id()
    assert store.experiments.claim(exp_id, me).status == ExperimentStatus.running
    with pytest.raises(Conflict, match="running in another process"):
        store.experiments.claim(exp_id, worker_id())
    # a live runner is asked to stop; the flag is what it polls
    assert store.experiments.request_cancel(exp_id).status == ExperimentStatus.running
    assert store.experiments.cancel_requested(exp_id)
    # a runner whose process is gone does not block a new claim
    with store.db.write() as conn:
        conn.execute(
            experiments.update()
            .where(experiments.c.id == exp_id)
            .values(worker_id="elsewhere:999999999:dead", cancel_requested=False)
        )
    stale = store.experiments.claim(exp_id, me, stale_after=0.0)
    assert stale.status == ExperimentStatus.running


def test_list_and_counts(store: Store) -> None:
    make(store, 2)
    ids = [create(store)[0] for _ in range(3)]
    page = store.experiments.list(limit=2)
    assert [e.id for e in page.items] == ids[::-1][:2]
    rest = store.experiments.list(limit=2, cursor=page.next_cursor)
    assert [e.id for e in rest.items] == [ids[0]]
    assert store.experiments.counts(ids)[ids[0]] == {"pending": 2}
    _, rids = (
        store.experiments.unfinished(ids[1])[0].id,
        [w.result_id for w in store.experiments.unfinished(ids[1])[1]],
    )
    store.experiments.record(
        ids[1], [done(rids[0], 10.0, cost=0.5), done(rids[1], 30.0, passed=False)]
    )
    overview = store.experiments.overview(ids)
    assert overview[ids[1]]["items"] == 2
    assert overview[ids[1]]["avg_latency_ms"] == pytest.approx(20.0)
    assert overview[ids[1]]["avg_cost"] == pytest.approx(0.255)
    assert overview[ids[1]]["pass_rate"] == pytest.approx(0.5)
    assert overview[ids[0]]["pass_rate"] is None
    assert store.experiments.list(dataset="qa", status=ExperimentStatus.pending).items
    store.experiments.delete(ids[0])
    with pytest.raises(NotFound):
        store.experiments.get(ids[0])
