"""A run the engine plans itself writes each result once, whole, when it finishes: no pending
rows. While it runs (or after its process died) the results without a row are counted and
listed from the plan, and a runner taking it up derives them; when it ends, is cancelled or
loses its dataset, they get their rows."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from sqlalchemy import event, func, select

from assay.domain import (
    DatasetCreate,
    ExperimentCreate,
    ExperimentStatus,
    ItemCreate,
    ResultStatus,
    Selection,
    WorkItem,
)
from assay.engine import RunOptions, plan, resume
from assay.scorers import exact_match
from assay.store import Completion, Store, unwritten
from assay.store.experiment_plans import PlannedRun
from assay.store.lease import FIRST_LEASE, Lease
from assay.store.planning import worker_id
from assay.store.tables import experiments, results
from assay.targets import FunctionTarget

N = 12
DEAD = f"{socket.gethostname()}:999999999:gone"  # a runner on this host whose process is gone


def _dataset(store: Store, n: int = N) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa",
        [
            ItemCreate(
                input={"q": f"q{i}"},
                expected_output=f"Q{i}",
                context=[f"c{i}"],
                metadata={"i": i},
                tags=["t"],
            )
            for i in range(n)
        ],
    )


def _rows(store: Store, experiment_id: str) -> list[tuple[Any, ...]]:
    with store.db.read() as conn:
        query = (
            select(results.c.id, results.c.item_id, results.c.repetition, results.c.status)
            .where(results.c.experiment_id == experiment_id)
            .order_by(results.c.id)
        )
        return [tuple(r) for r in conn.execute(query)]


def _unwritten_base(store: Store, experiment_id: str) -> str | None:
    with store.db.read() as conn:
        query = select(experiments.c.unwritten_base).where(experiments.c.id == experiment_id)
        return conn.execute(query).scalar_one()  # type: ignore[no-any-return]


def _finished(w: WorkItem) -> Completion:
    return Completion(w.result_id, "completed", output=w.expected_output, attempts=1, item=w)


def _key(w: WorkItem) -> tuple[Any, ...]:
    return (w.result_id, w.item_id, w.repetition, w.input, w.expected_output, w.context)


def upper(x: dict[str, str]) -> str:
    return x["q"].upper()


def test_a_run_writes_only_finished_results_and_counts_the_rest(store: Store) -> None:
    _dataset(store)
    seen: dict[str, Any] = {}

    async def task(x: dict[str, str]) -> str:
        if x["q"] == "q6":  # the first six are recorded: look at the store mid-run
            while prepared.runner.progress.written < 6:
                await asyncio.sleep(0.005)
            run_id = prepared.experiment.id
            seen["rows"] = await asyncio.to_thread(_rows, store, run_id)
            seen["counts"] = await asyncio.to_thread(store.experiments.counts, [run_id])
            seen["summary"] = await asyncio.to_thread(store.experiments.summary, run_id)
            seen["overview"] = await asyncio.to_thread(store.experiments.overview, [run_id])
        return x["q"].upper()

    options = RunOptions(concurrency=1, flush_interval=0.001)
    prepared = plan(
        store, dataset="qa", target=FunctionTarget(task), scorers=[exact_match()],
        options=options, defer=True,
    )  # fmt: skip
    run = asyncio.run(prepared.run())
    assert [r[3] for r in seen["rows"]] == ["completed"] * 6
    assert seen["counts"][run.id] == {"completed": 6, "pending": N - 6}
    assert (seen["summary"].total, seen["summary"].pending) == (N, N - 6)
    assert seen["overview"][run.id]["items"] == N
    rows = _rows(store, run.id)
    assert [r[3] for r in rows] == ["completed"] * N
    assert len({(r[1], r[2]) for r in rows}) == N
    assert _unwritten_base(store, run.id) is None
    assert store.experiments.summary(run.id).total == N


def test_a_cancelled_run_has_a_row_for_what_did_not_run_and_resumes_exactly_that(
    store: Store,
) -> None:
    _dataset(store)
    calls: list[str] = []

    async def task(x: dict[str, str]) -> str:
        calls.append(x["q"])
        if len(calls) == 4:
            prepared.runner.cancel()  # graceful: what started finishes, nothing new starts
        await asyncio.sleep(0)
        return x["q"].upper()

    options = RunOptions(concurrency=1)
    prepared = plan(
        store, dataset="qa", target=FunctionTarget(task), scorers=[exact_match()], trials=2,
        options=options, defer=True,
    )  # fmt: skip
    planned_ids = [w.result_id for w in prepared.work or []]
    run = asyncio.run(prepared.run())
    assert run.status is ExperimentStatus.cancelled
    rows = _rows(store, run.id)
    assert [r[0] for r in rows] == planned_ids  # every planned result, once, with its own id
    done = [r for r in rows if r[3] == "completed"]
    assert len(done) == len(calls)
    assert {r[3] for r in rows} == {"completed", "cancelled"}
    assert store.experiments.summary(run.id).cancelled == 2 * N - len(calls)
    left = {r[0] for r in rows if r[3] == "cancelled"}
    _, work = store.experiments.unfinished(run.id)
    assert {w.result_id for w in work} == left
    calls.clear()
    again = asyncio.run(
        resume(store, run.id, target=FunctionTarget(task), scorers=[exact_match()]).run()
    )
    assert again.status is ExperimentStatus.completed
    assert len(calls) == len(left)
    rows = _rows(store, run.id)
    assert [r[0] for r in rows] == planned_ids
    assert {r[3] for r in rows} == {"completed"}


def _died(
    store: Store, data: ExperimentCreate, *, stream: bool
) -> tuple[PlannedRun, list[WorkItem]]:
    """A run planned without pending rows whose runner recorded three results and died."""
    planned = store.experiments.prepare(data, stream=stream)
    planned.commit(worker=DEAD, write_pending=False)
    work = list(planned.work)
    lease = Lease(planned.experiment.id, DEAD, FIRST_LEASE)
    written = store.experiments.record(
        planned.experiment.id, [_finished(w) for w in work[:3]], lease=lease, fresh=True
    )
    assert written == 3
    return planned, work


PLANS: dict[str, tuple[dict[str, Any], bool]] = {
    "whole version": ({}, True),
    "trials": ({"trials": 2}, True),
    "unseeded sample": ({"selection": Selection(sample=7), "trials": 2}, False),
    "tags, first": ({"selection": Selection(tags=["t"], first=5)}, False),
}


@pytest.mark.parametrize("case", PLANS)
def test_a_dead_runs_missing_results_are_counted_then_derived_when_taken_up(
    store: Store, case: str
) -> None:
    _dataset(store)
    extra, stream = PLANS[case]
    data = ExperimentCreate(name="r", dataset="qa", **extra)
    planned, work = _died(store, data, stream=stream)
    run_id = planned.experiment.id
    assert len(_rows(store, run_id)) == 3
    run = store.experiments.get(run_id)
    assert run.status is ExperimentStatus.interrupted
    if "sample" in case:  # the drawn seed is recorded: the plan can be drawn again
        assert run.selection is not None
        assert isinstance(run.selection.get("seed"), int)
    assert store.experiments.counts([run_id])[run_id] == {
        "completed": 3,
        "pending": len(work) - 3,
    }
    assert store.experiments.summary(run_id).total == len(work)
    # Listed in plan order, what has no row as pending: the plan's own ids and items.
    listed = store.experiments.results(run_id, limit=1000).results
    assert [(r.id, r.item_id, r.repetition, r.input) for r in listed] == [
        (w.result_id, w.item_id, w.repetition, w.input) for w in work
    ]
    assert [r.status.value for r in listed] == ["completed"] * 3 + ["pending"] * (len(work) - 3)
    # Taken up again: nothing is written; what is left is derived from the plan.
    store.experiments.claim_lease(run_id, worker_id())
    assert _unwritten_base(store, run_id) is not None
    assert len(_rows(store, run_id)) == 3
    _, left = store.experiments.unfinished(run_id)
    assert [_key(w) for w in left] == [_key(w) for w in work[3:]]
    assert [(w.metadata, w.tags) for w in left] == [(w.metadata, w.tags) for w in work[3:]]


@pytest.mark.parametrize("case", PLANS)
def test_work_taken_up_is_made_page_by_page_without_the_finished_results(
    store: Store, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unwritten, "PAGE", 4)  # items per page: the results below span pages
    _dataset(store, 17)
    extra, stream = PLANS[case]
    data = ExperimentCreate(name="r", dataset="qa", **extra)
    planned = store.experiments.prepare(data, stream=stream)
    planned.commit(worker=DEAD, write_pending=False)
    run_id, work = planned.experiment.id, list(planned.work)
    finished = {work[k].result_id for k in (0, 3, 4, len(work) - 1)}
    failed = work[2]
    lease = Lease(run_id, DEAD, FIRST_LEASE)
    batch = [_finished(w) for w in work if w.result_id in finished]
    batch.append(Completion(failed.result_id, "failed", error="boom", attempts=1, item=failed))
    store.experiments.record(run_id, batch, lease=lease, fresh=True)
    store.experiments.claim_lease(run_id, worker_id())
    for retry_errors in (False, True):
        done = finished if retry_errors else finished | {failed.result_id}
        expected = [_key(w) for w in work if w.result_id not in done]
        _, left = store.experiments.unfinished(run_id, retry_errors=retry_errors)
        assert isinstance(left, unwritten.UnwrittenWork)
        assert len(left) == len(expected)
        assert [_key(w) for w in left] == expected
        pages = list(left._pages())  # made a page of the plan at a time, not held whole
        assert len(pages) > 1
        assert all(len(p) <= 4 * planned.experiment.trials for p in pages)


def test_cancelling_a_dead_run_writes_its_missing_results_cancelled(store: Store) -> None:
    _dataset(store)
    planned, work = _died(store, ExperimentCreate(name="r", dataset="qa", trials=2), stream=True)
    run_id = planned.experiment.id
    cancelled = store.experiments.request_cancel(run_id)
    assert cancelled.status is ExperimentStatus.cancelled
    rows = _rows(store, run_id)
    assert [r[0] for r in rows] == [w.result_id for w in work]
    assert [r[3] for r in rows] == ["completed"] * 3 + ["cancelled"] * (len(work) - 3)
    assert store.experiments.counts([run_id])[run_id] == {
        "completed": 3,
        "cancelled": len(work) - 3,
    }


def test_resuming_a_dead_run_runs_each_missing_result_once(store: Store) -> None:
    _dataset(store)
    ran: list[str] = []

    def task(x: dict[str, str]) -> str:
        ran.append(x["q"])
        return x["q"].upper()

    prepared = plan(
        store, dataset="qa", target=FunctionTarget(task), scorers=[exact_match()], defer=True
    )
    assert prepared.planned is not None
    prepared.planned.commit(worker=DEAD, write_pending=False)  # then the process died
    work = list(prepared.planned.work)
    lease = Lease(prepared.experiment.id, DEAD, FIRST_LEASE)
    store.experiments.record(
        prepared.experiment.id, [_finished(w) for w in work[:5]], lease=lease, fresh=True
    )
    again = resume(
        store, prepared.experiment.id, target=FunctionTarget(task), scorers=[exact_match()]
    )
    finished = asyncio.run(again.run())
    assert finished.status is ExperimentStatus.completed
    assert sorted(ran) == sorted(w.input["q"] for w in work[5:])
    rows = _rows(store, finished.id)
    assert [r[0] for r in rows] == [w.result_id for w in work]
    assert {r[3] for r in rows} == {"completed"}


def test_a_deleted_dataset_leaves_its_runs_rows_and_the_runner_writes_each_once(
    store: Store,
) -> None:
    _dataset(store)
    planned = store.experiments.prepare(ExperimentCreate(name="r", dataset="qa"), stream=True)
    me = worker_id()
    planned.commit(worker=me, write_pending=False)
    run_id = planned.experiment.id
    work = list(planned.work)
    lease = Lease(run_id, me, FIRST_LEASE)
    assert (
        store.experiments.record(run_id, [_finished(w) for w in work[:2]], lease=lease, fresh=True)
        == 2
    )
    store.datasets.delete("qa")  # the plan cannot be derived once the items are gone
    assert [r[3] for r in _rows(store, run_id)] == ["completed"] * 2 + ["pending"] * (N - 2)
    # The runner, still going, meets rows where it expected none: written once, the checked way.
    batch = [_finished(w) for w in work[1:4]]
    assert store.experiments.record(run_id, batch, lease=lease, fresh=True) == 2
    store.experiments.finish(run_id, ExperimentStatus.cancelled, None, lease=lease)
    rows = _rows(store, run_id)
    assert [r[3] for r in rows] == ["completed"] * 4 + ["cancelled"] * (N - 4)
    with store.db.read() as conn:
        count = select(func.count()).where(results.c.experiment_id == run_id)
        assert conn.execute(count).scalar_one() == N
    assert store.experiments.result(run_id, work[3].result_id).input == work[3].input


def test_runs_planned_with_their_rows_are_unchanged(store: Store) -> None:
    """Runs awaiting uploads write the pending rows with the plan."""
    _dataset(store)
    experiment, work = store.experiments.create(ExperimentCreate(name="api", dataset="qa"))
    assert _unwritten_base(store, experiment.id) is None
    assert [r[3] for r in _rows(store, experiment.id)] == [ResultStatus.pending.value] * N
    assert len(work) == N


def _counts_of_results(store: Store, act: Any) -> tuple[Any, int]:
    """``act()`` and how many statements it ran that count a run's result rows."""
    counted: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "count(" in statement.lower() and "results" in statement:
            counted.append(statement)

    event.listen(store.db.engine, "before_cursor_execute", note)
    try:
        return act(), len(counted)
    finally:
        event.remove(store.db.engine, "before_cursor_execute", note)


def test_a_run_its_writer_wrote_whole_ends_without_counting_its_rows(store: Store) -> None:
    _dataset(store)
    prepared = plan(
        store, dataset="qa", target=FunctionTarget(upper), scorers=[exact_match()], trials=2,
        options=RunOptions(concurrency=3), defer=True,
    )  # fmt: skip
    finishes: list[int] = []
    finish = store.experiments.finish

    def counted_finish(*args: Any, **kwargs: Any) -> None:
        finishes.append(_counts_of_results(store, lambda: finish(*args, **kwargs))[1])

    store.experiments.finish = counted_finish  # type: ignore[method-assign]
    run = asyncio.run(prepared.run())
    assert run.status is ExperimentStatus.completed
    assert finishes == [0]
    assert [r[3] for r in _rows(store, run.id)] == ["completed"] * 2 * N
    assert _unwritten_base(store, run.id) is None


@pytest.mark.parametrize("written", [0, 2 * N - 1])
def test_finish_counts_and_fills_a_plan_its_writer_did_not_cover(
    store: Store, written: int
) -> None:
    """A count of written results short of the plan: the rows are counted, and every planned
    result without one gets its row."""
    _dataset(store)
    me = worker_id()
    planned = store.experiments.prepare(ExperimentCreate(name="short", dataset="qa", trials=2))
    planned.commit(worker=me, write_pending=False)
    lease = Lease(planned.experiment.id, me, FIRST_LEASE)
    work = list(planned.work)
    finished = [_finished(w) for w in work[:5]]
    store.experiments.record(planned.experiment.id, finished, lease=lease, fresh=True)
    _, counts = _counts_of_results(
        store,
        lambda: store.experiments.finish(
            planned.experiment.id, ExperimentStatus.completed, None, lease=lease, written=written
        ),
    )
    assert counts == 1
    rows = _rows(store, planned.experiment.id)
    assert [r[0] for r in rows] == [w.result_id for w in work]
    assert [r[3] for r in rows] == ["completed"] * 5 + ["cancelled"] * (2 * N - 5)


def test_each_page_reads_its_finished_results_by_their_id_range(store: Store) -> None:
    """Not through an index of the experiment: that read every row the run had written so far
    for each page, and a queued run of a million items took twice as long as it should."""
    if store.db.dialect != "sqlite":
        pytest.skip("SQLite's query plan")
    _dataset(store, 6)
    planned = store.experiments.prepare(ExperimentCreate(name="r", dataset="qa"), stream=True)
    planned.commit(worker=DEAD, write_pending=False)
    run_id, work = planned.experiment.id, list(planned.work)
    store.experiments.claim_lease(run_id, worker_id())
    _, left = store.experiments.unfinished(run_id)
    assert isinstance(left, unwritten.UnwrittenWork)
    with store.db.read() as conn:
        query = left._done(work)
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    assert plan == ["SEARCH results USING INDEX sqlite_autoindex_results_1 (id>? AND id<?)"]
