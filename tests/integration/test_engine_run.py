"""End-to-end runs through ``assay.evaluate`` with function targets."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest

import assay
from assay.domain import DatasetCreate, ExperimentStatus, ItemCreate, ResultStatus, WorkItem
from assay.engine import RunOptions, outcomes
from assay.engine import writer as writer_module
from assay.errors import Conflict, InvalidInput
from assay.scorers import contains, exact_match, scorer
from assay.store import Store
from assay.store.recording import Rows
from assay.targets import TargetOutput

ITEMS = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(6)]


def upper(x: dict[str, str]) -> str:
    return x["q"].upper()


def test_evaluate_list_data_sync_function(store: Store) -> None:
    result = assay.evaluate(ITEMS, upper, [exact_match()], name="upper", store=store)
    assert result.status == "completed"
    assert result.summary.completed == 6
    assert result.summary.pass_rate == 1.0
    rows = result.rows
    assert [r.output for r in rows] == [f"Q{i}" for i in range(6)]
    assert all(r.attempts == 1 and r.passed for r in rows)
    assert len(result) == 6
    dicts = result.to_dicts()
    assert dicts[0]["score.exact_match"] == 1.0
    assert dicts[0]["input"] == {"q": "q0"}
    assert "upper" in repr(result)
    # the data was saved as a dataset the experiment pins
    assert store.datasets.get(result.experiment.dataset_id or "").item_count == 6


def test_async_function_item_argument_usage_and_trials(store: Store) -> None:
    seen: list[int] = []

    async def task(x: dict[str, str], item: WorkItem) -> TargetOutput:
        seen.append(item.repetition)
        await asyncio.sleep(0)
        return TargetOutput(output=x["q"].upper(), tokens_in=3, tokens_out=2, cost=0.5)

    result = assay.evaluate(ITEMS[:2], task, [exact_match()], trials=3, store=store)
    assert result.summary.total == 6
    assert sorted(seen) == [0, 0, 1, 1, 2, 2]
    assert result.summary.total_cost == pytest.approx(3.0)
    assert result.summary.tokens_in == 18


def test_scores_gate_passed_and_failures_are_data(store: Store) -> None:
    def task(x: dict[str, str]) -> str:
        if x["q"] == "q1":
            raise ValueError("no answer for q1")
        return x["q"].upper() if x["q"] != "q2" else "wrong"

    @scorer
    def short(output: str) -> dict[str, Any]:
        return {"value": len(output), "passed": len(output) < 10}

    result = assay.evaluate(ITEMS[:3], task, [exact_match(), short()], store=store)
    rows = {r.input["q"]: r for r in result.rows}  # type: ignore[index]
    assert rows["q0"].passed is True
    assert rows["q2"].passed is False  # one failing scorer fails the result
    assert rows["q1"].status == ResultStatus.failed
    assert rows["q1"].error == "ValueError: no answer for q1"
    assert rows["q1"].attempts == 1  # plain exceptions are not retried
    assert rows["q1"].scores == []
    assert result.status == "completed"
    stats = {s.name: s for s in result.summary.scores}
    assert stats["short"].mean == pytest.approx(3.5)  # len("Q0"), len("wrong")


def test_all_failed_run_ends_failed_with_the_first_error(store: Store) -> None:
    def broken(x: Any) -> Any:
        raise KeyError("api_key")

    with pytest.warns(assay.AllItemsFailedWarning, match="KeyError: 'api_key'") as caught:
        result = assay.evaluate(ITEMS[:2], broken, store=store)
    assert caught[0].filename == __file__  # points at the caller's evaluate() line
    assert result.status == "failed"
    assert "all 2 results failed" in (result.experiment.error or "")


def test_retryable_function_errors_use_backoff(store: Store) -> None:
    calls: dict[str, int] = {}

    def flaky(x: dict[str, str]) -> str:
        calls[x["q"]] = calls.get(x["q"], 0) + 1
        if calls[x["q"]] < 3:
            raise ConnectionError("reset by peer")
        return x["q"].upper()

    options = RunOptions(concurrency=2, max_retries=5, backoff_base=0.001, backoff_max=0.01)
    result = assay.evaluate(ITEMS[:3], flaky, [exact_match()], options=options, store=store)
    assert [r.attempts for r in result.rows] == [3, 3, 3]
    assert result.summary.pass_rate == 1.0


def test_resume_runs_only_unfinished_and_refuses_changed_config(store: Store) -> None:
    gate = threading.Event()
    calls: list[str] = []

    def task(x: dict[str, str]) -> str:
        calls.append(x["q"])
        return x["q"].upper()

    store.datasets.create(DatasetCreate(name="six"))
    store.datasets.add_items("six", [ItemCreate(**i) for i in ITEMS])  # type: ignore[arg-type]
    first = assay.evaluate("six", task, [exact_match()], first=4, store=store)
    assert first.summary.completed == 4
    # pretend two results were lost in a crash: back to pending
    ids = [r.id for r in first.rows[:2]]
    from assay.store.tables import results, scores

    with store.db.write() as conn:
        conn.execute(scores.delete().where(scores.c.result_id.in_(ids)))
        conn.execute(
            results.update().where(results.c.id.in_(ids)).values(status="pending", output=None)
        )
    calls.clear()
    resumed = assay.evaluate(None, task, [exact_match()], resume=first.id, store=store)
    assert sorted(calls) == ["q0", "q1"]
    assert resumed.id == first.id
    assert resumed.summary.completed == 4
    assert resumed.summary.scores[0].count == 4  # one score per result, none duplicated
    with pytest.raises(Conflict, match="different target or scorers"):
        assay.evaluate(None, task, [contains()], resume=first.id, store=store)
    with pytest.raises(Conflict, match="different target or scorers"):
        assay.evaluate(None, upper, [exact_match()], resume=first.id, store=store)
    gate.set()


def test_retry_errors_on_resume(store: Store) -> None:
    fail = {"on": True}

    def task(x: dict[str, str]) -> str:
        if fail["on"] and x["q"] == "q1":
            raise RuntimeError("transient")
        return x["q"].upper()

    first = assay.evaluate(ITEMS[:3], task, [exact_match()], store=store)
    assert first.summary.failed == 1
    fail["on"] = False
    again = assay.evaluate(None, task, [exact_match()], resume=first.id, store=store)
    assert again.summary.failed == 1  # failed results are kept unless asked
    fixed = assay.evaluate(
        None, task, [exact_match()], resume=first.id, retry_errors=True, store=store
    )
    assert fixed.summary.failed == 0
    assert fixed.summary.completed == 3


def test_cost_budget_stops_the_run(store: Store) -> None:
    def pricey(x: Any) -> TargetOutput:
        return TargetOutput(output="x", cost=1.0)

    data = [{"input": str(i)} for i in range(50)]
    result = assay.evaluate(data, pricey, concurrency=1, max_cost=3.0, store=store)
    assert result.status == "failed"
    assert "cost budget" in (result.experiment.error or "")
    assert 3 <= result.summary.completed < 50
    assert result.summary.cancelled == 50 - result.summary.completed


def test_response_cache_skips_calls_on_rerun(store: Store) -> None:
    calls: list[Any] = []

    def task(x: dict[str, str]) -> TargetOutput:
        calls.append(x)
        return TargetOutput(output=x["q"].upper(), tokens_in=1, tokens_out=1, cost=0.25)

    store.datasets.create(DatasetCreate(name="cached"))
    store.datasets.add_items("cached", [ItemCreate(**i) for i in ITEMS[:3]])  # type: ignore[arg-type]
    assay.evaluate("cached", task, [exact_match()], cache=True, store=store)
    assert len(calls) == 3
    second = assay.evaluate("cached", task, [exact_match()], cache=True, store=store)
    assert len(calls) == 3
    assert [r.attempts for r in second.rows] == [0, 0, 0]
    assert [r.output for r in second.rows] == ["Q0", "Q1", "Q2"]
    assert second.summary.pass_rate == 1.0


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_cache_is_looked_up_a_page_at_a_time_as_the_run_takes_items(
    store: Store, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outcomes, "CACHE_PAGE", 4)
    calls: list[str] = []
    lookups: list[int] = []
    get_many = store.cache.get_many

    def spy(keys: Any) -> Any:
        lookups.append(len(keys))
        return get_many(keys)

    monkeypatch.setattr(store.cache, "get_many", spy)

    def task(x: dict[str, str]) -> str:
        calls.append(x["q"])
        return x["q"].upper()

    async def atask(x: dict[str, str]) -> str:
        return task(x)

    fn = task if kind == "sync" else atask
    rows = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(11)]
    store.datasets.create(DatasetCreate(name="cached"))
    store.datasets.add_items("cached", [ItemCreate(**r) for r in rows[:7]])  # type: ignore[arg-type]
    assay.evaluate("cached", fn, [exact_match()], cache=True, trials=2, store=store)
    assert len(calls) == 14  # nothing cached yet: each repetition calls
    store.datasets.add_items("cached", [ItemCreate(**r) for r in rows[7:]])  # type: ignore[arg-type]
    calls.clear()
    lookups.clear()
    again = assay.evaluate("cached", fn, [exact_match()], cache=True, trials=2, store=store)
    assert sorted(calls) == sorted([f"q{i}" for i in range(7, 11)] * 2)  # only the new items
    assert lookups == [4, 4, 4, 4, 4, 2]  # 22 results, looked up four at a time
    by_item = sorted((r.input["q"], r.repetition, r.attempts, r.output) for r in again.rows)
    assert by_item == sorted(
        (f"q{i}", rep, 0 if i < 7 else 1, f"Q{i}") for i in range(11) for rep in range(2)
    )
    assert again.summary.pass_rate == 1.0


async def test_evaluate_inside_a_running_loop(store: Store) -> None:
    async def task(x: dict[str, str]) -> str:
        return x["q"].upper()

    native = await assay.evaluate_async(ITEMS[:2], task, [exact_match()], store=store)
    assert native.summary.completed == 2
    nested = assay.evaluate(ITEMS[:2], task, [exact_match()], store=store)  # helper thread
    assert nested.summary.completed == 2


def test_bad_input_is_precise_and_leaves_nothing(store: Store) -> None:
    before = len(store.experiments.list().items)
    with pytest.raises(InvalidInput, match="row 2: each item needs an 'input'"):
        assay.evaluate([{"input": "1"}, {"question": 2}], upper, store=store)
    with pytest.raises(InvalidInput, match=r"call it: exact_match\(\)"):
        assay.evaluate(ITEMS, upper, [exact_match], store=store)
    with pytest.raises(InvalidInput, match="unknown scorer"):
        assay.evaluate(ITEMS, upper, ["nope"], store=store)
    with pytest.raises(InvalidInput, match=r"target\.type"):
        assay.evaluate(ITEMS, {"type": "carrier-pigeon"}, store=store)
    assert len(store.experiments.list().items) == before
    assert store.datasets.list().items == []


def test_concurrency_limit_for_sync_functions(store: Store) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def task(x: Any) -> Any:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        threading.Event().wait(0.002)
        with lock:
            state["now"] -= 1
        return x

    assay.evaluate([{"input": str(i)} for i in range(60)], task, concurrency=3, store=store)
    assert 1 <= state["peak"] <= 3


def test_cancelled_before_start_ends_cancelled(store: Store) -> None:
    def task(x: Any) -> Any:
        return x

    from assay.engine import plan
    from assay.targets import FunctionTarget

    store.datasets.create(DatasetCreate(name="c"))
    store.datasets.add_items("c", [ItemCreate(input=str(i)) for i in range(5)])  # type: ignore[arg-type]
    prepared = plan(store, dataset="c", target=FunctionTarget(task))
    prepared.runner.cancel()
    experiment = asyncio.run(prepared.run())
    assert experiment.status == ExperimentStatus.cancelled
    assert store.experiments.summary(experiment.id).cancelled == 5


def test_writer_process_records_everything(store: Store) -> None:
    data = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(300)]
    options = RunOptions(concurrency=4, writer="process", batch_size=50)
    result = assay.evaluate(data, upper, [exact_match()], options=options, store=store)
    assert result.status == "completed"
    assert result.summary.completed == 300
    assert result.summary.pass_rate == 1.0
    assert result.summary.scores[0].count == 300


def _note_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Note each writer process started."""
    started: list[str] = []
    start = writer_module.ChildWriter.__init__

    def noted(self: writer_module.ChildWriter, *args: Any, **kwargs: Any) -> None:
        started.append("process")
        start(self, *args, **kwargs)

    monkeypatch.setattr(writer_module.ChildWriter, "__init__", noted)
    return started


@pytest.mark.parametrize(("concurrency", "process"), [(8, False), (999, False), (1000, True)])
def test_auto_writes_from_a_process_only_for_a_large_run_at_high_concurrency(
    store: Store, monkeypatch: pytest.MonkeyPatch, concurrency: int, process: bool
) -> None:
    """``auto`` is the default: a run with enough results at concurrency 1,000 or more gets a
    writer process, any other run the writer thread."""
    started = _note_started(monkeypatch)
    data = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(40)]
    options = RunOptions(concurrency=concurrency, process_writer_min=20)
    assert options.writer == "auto"
    result = assay.evaluate(data, upper, [exact_match()], options=options, store=store)
    assert result.summary.completed == 40
    assert started == (["process"] if process else [])


def test_auto_writes_from_the_thread_where_no_process_can_start(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer process ``auto`` chose that cannot start leaves the run to the writer thread;
    one asked for by name fails the run before anything is stored."""

    def unable(self: writer_module.ChildWriter, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("no new processes here")

    monkeypatch.setattr(writer_module.ChildWriter, "__init__", unable)
    data = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(40)]
    options = RunOptions(concurrency=1000, process_writer_min=20)
    result = assay.evaluate(data, upper, [exact_match()], options=options, store=store)
    assert (result.summary.completed, result.summary.pass_rate) == (40, 1.0)
    assert "writing from a thread instead" in caplog.text
    before = len(store.experiments.list().items)
    with pytest.raises(PermissionError):
        assay.evaluate(
            data,
            upper,
            [exact_match()],
            options=RunOptions(concurrency=1000, writer="process"),
            store=store,
        )
    assert len(store.experiments.list().items) == before


@pytest.mark.parametrize(
    ("frozen", "executable"),
    [(True, sys.executable), (False, "/usr/bin/uwsgi"), (False, ""), (False, "C:\\App\\app.exe")],
)
def test_auto_starts_a_writer_process_only_where_the_executable_is_python(
    store: Store, monkeypatch: pytest.MonkeyPatch, frozen: bool, executable: str
) -> None:
    """A frozen application's executable, or that of a program embedding Python, would not run
    ``-m assay.store.writer_process``: ``auto`` keeps the writer thread there."""
    started = _note_started(monkeypatch)
    monkeypatch.setattr("sys.frozen", frozen, raising=False)
    monkeypatch.setattr("sys.executable", executable)
    data = [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(40)]
    options = RunOptions(concurrency=1000, process_writer_min=20)
    result = assay.evaluate(data, upper, [exact_match()], options=options, store=store)
    assert result.summary.completed == 40
    assert started == []


def test_a_batch_the_writer_process_never_wrote_is_cancelled_at_the_end(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run ends knowing what its writer process committed, not what was sent to it: a
    batch that never reached the store gets its rows, cancelled, and nothing goes missing."""
    sent: list[int] = []
    send = writer_module.ChildWriter.send

    def lossy(self: writer_module.ChildWriter, rows: Rows, cached: list[Any]) -> None:
        sent.append(len(rows.results))
        if len(sent) != 2:  # the second batch is lost on its way
            send(self, rows, cached)

    monkeypatch.setattr(writer_module.ChildWriter, "send", lossy)
    data = [{"input": {"q": f"q{i}"}} for i in range(300)]
    options = RunOptions(concurrency=4, writer="process", batch_size=50)
    result = assay.evaluate(data, upper, [exact_match()], options=options, store=store)
    lost = sent[1]
    summary = store.experiments.summary(result.id)
    assert (summary.total, summary.completed, summary.cancelled) == (300, 300 - lost, lost)
    assert summary.pending == 0
    assert len(list(store.experiments.iter_results(result.id))) == 300


def test_to_pandas_or_a_clear_error(store: Store) -> None:
    result = assay.evaluate(ITEMS[:2], upper, [exact_match()], store=store)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput, match=r"assay\[pandas\]"):
            result.to_pandas()
    else:
        frame = result.to_pandas()
        assert list(frame["output"]) == ["Q0", "Q1"]
        assert list(frame["score.exact_match"]) == [1.0, 1.0]


@pytest.mark.parametrize("writer", ["thread", "process"])
async def test_cancelling_the_caller_cancels_the_run(store: Store, writer: str) -> None:
    never = asyncio.Event()

    async def slow(x: Any) -> Any:
        if int(x) >= 10:  # the rest never answers: only the cancel can end the run
            await never.wait()
        await asyncio.sleep(0.02)
        return x

    data = [{"input": str(i)} for i in range(200)]
    task = asyncio.create_task(
        assay.evaluate_async(
            data,
            slow,
            name="interrupted",
            store=store,
            options=RunOptions(concurrency=2, writer=writer),
        )
    )
    while (
        not store.experiments.list().items
        or not store.experiments.summary(store.experiments.list().items[0].id).completed
    ):
        await asyncio.sleep(0.02)
    task.cancel()  # what Ctrl+C does to asyncio.run(evaluate_async(...))
    with pytest.raises(asyncio.CancelledError):
        await task
    (experiment,) = store.experiments.list().items
    assert experiment.status == ExperimentStatus.cancelled
    summary = store.experiments.summary(experiment.id)
    assert 1 <= summary.completed <= 10
    assert summary.completed + summary.cancelled == 200


async def test_stopping_ends_a_retry_wait_and_leaves_the_item_unfinished(store: Store) -> None:
    from assay.engine import plan
    from assay.targets import FunctionTarget, TargetError

    failed = asyncio.Event()

    async def busy(x: Any) -> Any:
        failed.set()
        raise TargetError("busy", retryable=True, retry_after=600)  # a wait only a stop ends

    store.datasets.create(DatasetCreate(name="busy"))
    store.datasets.add_items("busy", [ItemCreate(input="x")])
    prepared = plan(
        store,
        dataset="busy",
        target=FunctionTarget(busy),
        options=RunOptions(max_retries=3, poll_interval=0.05),
    )
    run = asyncio.create_task(prepared.run())
    await failed.wait()
    prepared.runner.cancel()
    experiment = await run
    assert experiment.status == ExperimentStatus.cancelled
    summary = store.experiments.summary(experiment.id)
    assert (summary.failed, summary.cancelled) == (0, 1)  # not recorded as failed
    assert prepared.runner.progress.retries == 1


def test_interpreter_and_event_loop_of_a_run(store: Store) -> None:
    """Async calls run on uvloop under a 1 ms switch interval; sync ones keep the default."""
    import sys

    before = sys.getswitchinterval()
    seen: dict[str, tuple[float, str]] = {}

    async def on_the_loop(x: dict[str, str]) -> str:
        loop = type(asyncio.get_running_loop()).__module__
        seen["async"] = (sys.getswitchinterval(), loop)
        return x["q"]

    def on_a_thread(x: dict[str, str]) -> str:
        seen["sync"] = (sys.getswitchinterval(), "")
        return x["q"]

    assay.evaluate(ITEMS[:1], on_the_loop, store=store, quiet=True)
    assay.evaluate(ITEMS[:1], on_a_thread, store=store, quiet=True)
    assert seen["async"][0] == pytest.approx(0.001)
    assert seen["async"][1].startswith("uvloop")
    assert seen["sync"][0] == before
    assert sys.getswitchinterval() == before
