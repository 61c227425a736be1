"""Every result the engine records carries a trace of its target call (both databases)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import assay
from assay.domain import DatasetCreate, DatasetRunCreate, ItemCreate, RunItemCreate, TraceCreate
from assay.engine import RunOptions, plan, resume
from assay.errors import NotFound
from assay.scorers import exact_match
from assay.store import Store
from assay.targets import FunctionTarget, HttpTarget, PromptTarget, TargetOutput
from tests.fakes.provider import FakeProvider

FAST = {"poll_interval": 0.05, "backoff_base": 0.01, "max_retries": 0}
DOWN = {"q2"}  # inputs whose lookup fails


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def _dataset(store: Store, n: int = 4) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(n)]
    )
    return "qa"


def _run(store: Store, target: Any, **options: Any) -> str:
    prepared = plan(
        store,
        dataset="qa" if store.datasets.list().items else _dataset(store),
        target=target,
        scorers=[exact_match()],
        name="traced",
        options=RunOptions(**{**FAST, **options}),
    )
    return asyncio.run(prepared.run()).id


def agent(x: dict[str, str]) -> TargetOutput:
    """Uppercases, calling a 'lookup' tool first; fails on the inputs in DOWN."""
    if x["q"] in DOWN:
        raise RuntimeError("lookup service down")
    return TargetOutput(
        x["q"].upper(), tool_calls=[{"name": "lookup", "arguments": {"key": x["q"]}}]
    )


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_function_runs_record_a_trace_per_result(store: Store, writer: str) -> None:
    run_id = _run(store, FunctionTarget(agent), writer=writer)
    results = list(store.experiments.iter_results(run_id))
    assert len(results) == 4
    for r in results:
        assert r.trace_id == r.id
        trace = store.traces.get(r.id)
        assert trace.session_id == run_id  # the run's traces form one session
        assert trace.name == "traced"
        assert trace.input == r.input
        assert trace.metadata["dataset_item_id"] == r.item_id
        assert trace.start_time is not None
        assert trace.end_time is not None
        call = next(o for o in trace.observations if o.name == "target")
        assert call.type.value == "span"  # a function, not a model call
        if r.status.value == "failed":
            assert call.level == "ERROR"
            assert "lookup service down" in (call.status_message or "")
            assert len(trace.observations) == 1
        else:
            assert trace.output == r.output
            tool = next(o for o in trace.observations if o.type.value == "tool")
            assert (tool.name, tool.parent_id) == ("lookup", call.id)
            assert tool.input == {"key": r.input["q"]}  # type: ignore[index]
    listed = store.traces.list(session_id=run_id, limit=10).items
    assert {t.id for t in listed} == {r.id for r in results}


def test_prompt_runs_trace_the_model_call(store: Store, fake: FakeProvider) -> None:
    target = PromptTarget(
        model="gpt-4o-mini",
        prompt="Answer {{ q }}",
        base_url=fake.openai_url,
        api_key="sk-test",
        params={"temperature": 0.2},
    )
    run_id = _run(store, target)
    result = next(store.experiments.iter_results(run_id))
    trace = store.traces.get(result.trace_id or "")
    (call,) = trace.observations
    assert call.type.value == "generation"
    assert call.model == "gpt-4o-mini"
    assert call.model_parameters == {"temperature": 0.2}
    assert call.input == [{"role": "user", "content": "Answer q0"}]  # what was sent
    assert call.output == "echo: Answer q0"
    assert call.tokens_in is not None
    assert call.tokens_in > 0
    assert call.cost == result.cost


def test_endpoint_runs_trace_the_request_without_secrets(store: Store, fake: FakeProvider) -> None:
    target = HttpTarget(
        f"{fake.url}/echo",
        secret_headers={"authorization": "Bearer sk-secret"},
        body={"q": "{{ input.q }}"},
        output_path="answer",
    )
    run_id = _run(store, target)
    result = next(store.experiments.iter_results(run_id))
    (call,) = store.traces.get(result.trace_id or "").observations
    assert call.input == {"method": "POST", "url": f"{fake.url}/echo", "body": {"q": "q0"}}
    assert call.output == "echo: q0"
    assert "sk-secret" not in str(store.traces.get(result.id).model_dump())


def test_a_plain_function_call_is_the_trace_alone(store: Store) -> None:
    run_id = _run(store, FunctionTarget(shout))
    result = next(store.experiments.iter_results(run_id))
    trace = store.traces.get(result.trace_id or "")
    assert trace.output == result.output
    assert trace.observations == []  # the trace already says all the call does


def shout(x: dict[str, str]) -> str:
    return x["q"].upper()


def test_traces_can_be_turned_off(store: Store) -> None:
    run_id = _run(store, FunctionTarget(agent), traces=False)
    results = list(store.experiments.iter_results(run_id))
    assert all(r.trace_id is None for r in results)
    assert store.traces.list(session_id=run_id).items == []


def test_a_retried_result_replaces_its_failed_trace(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _run(store, FunctionTarget(agent))
    failed = next(r for r in store.experiments.iter_results(run_id) if r.status.value == "failed")
    monkeypatch.setattr(f"{__name__}.DOWN", set())  # the lookup service is back
    prepared = resume(
        store,
        run_id,
        target=FunctionTarget(agent),
        scorers=[exact_match()],
        options=RunOptions(**{**FAST, "retry_errors": True}),
    )
    assert asyncio.run(prepared.run()).status.value == "completed"
    trace = store.traces.get(failed.id)
    assert trace.output == "Q2"
    calls = [o for o in trace.observations if o.name == "target"]
    assert [c.level for c in calls] == ["DEFAULT"]  # the failed try's call is gone


def test_deleting_a_run_deletes_its_traces_not_the_applications(store: Store) -> None:
    run_id = _run(store, FunctionTarget(agent))
    traced = [r.id for r in store.experiments.iter_results(run_id)]
    store.traces.ingest([TraceCreate(id="app-trace", name="production call")])
    uploaded = store.dataset_runs.create(DatasetRunCreate(dataset_name="qa", name="uploaded"))
    item = store.datasets.list_items("qa").items[0]
    store.dataset_runs.add_items(
        uploaded.id, [RunItemCreate(dataset_item_id=item.id, output="x", trace_id="app-trace")]
    )
    store.experiments.delete(run_id)
    for trace_id in traced:
        with pytest.raises(NotFound):
            store.traces.get(trace_id)
    store.experiments.delete(uploaded.id)
    assert store.traces.get("app-trace").name == "production call"


def research(x: dict[str, str]) -> str:
    """An agent: plans with a model call, then searches with a tool; q1's search fails."""
    with assay.span("plan", type="generation", model="planner-1", input=x["q"]) as plan_step:
        plan_step.update(output=f"search {x['q']}", tokens_in=3, tokens_out=2, cost=0.001)
    with assay.span("search", type="tool", input={"query": x["q"]}) as search:
        if x["q"] == "q1":
            raise LookupError("index offline")
        with assay.span("rank"):
            search.update(output=["doc"])
    return x["q"].upper()


async def research_async(x: dict[str, str]) -> str:
    """The same steps from async code: children across awaits and tasks keep their parent."""
    with assay.span("fan out"):
        await asyncio.gather(*(_lookup(x["q"], k) for k in range(2)))
    return x["q"].upper()


async def _lookup(query: str, k: int) -> None:
    with assay.span(f"lookup {k}", type="tool", input=query):
        await asyncio.sleep(0)


def test_spans_a_task_records_go_under_its_trace(store: Store) -> None:
    run_id = _run(store, FunctionTarget(research))
    by_item = {r.input["q"]: r for r in store.experiments.iter_results(run_id)}  # type: ignore[index]
    trace = store.traces.get(by_item["q0"].id)
    steps = {o.name: o for o in trace.observations}
    assert set(steps) == {"target", "plan", "search", "rank"}
    assert steps["plan"].parent_id == steps["target"].id
    assert steps["plan"].type.value == "generation"
    assert (steps["plan"].model, steps["plan"].tokens_in, steps["plan"].cost) == (
        "planner-1",
        3,
        0.001,
    )
    assert steps["plan"].output == "search q0"
    assert steps["search"].output == ["doc"]
    assert steps["rank"].parent_id == steps["search"].id
    assert steps["search"].start_time is not None
    assert steps["search"].end_time is not None
    assert steps["search"].start_time <= steps["search"].end_time

    failed = store.traces.get(by_item["q1"].id)
    search = next(o for o in failed.observations if o.name == "search")
    assert search.level == "ERROR"
    assert search.status_message == "LookupError: index offline"
    assert by_item["q1"].status.value == "failed"


def test_spans_from_async_tasks_keep_their_parent(store: Store) -> None:
    run_id = _run(store, FunctionTarget(research_async))
    result = next(store.experiments.iter_results(run_id))
    steps = {o.name: o for o in store.traces.get(result.id).observations}
    assert steps["lookup 0"].parent_id == steps["fan out"].id
    assert steps["lookup 1"].parent_id == steps["fan out"].id


def test_span_outside_a_run_records_nothing() -> None:
    with assay.span("alone", type="tool") as step:
        step.update(output=1)
    assert step.output == 1
    assert step.parent is None
    with pytest.raises(ValueError, match="span type"), assay.span("bad", type="wrong"):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError, match="cannot be set: name"):
        step.update(name="renamed")


def billed(x: dict[str, str]) -> Any:
    """Model calls recorded as spans with their usage, in the shapes the roll-up handles."""
    q = x["q"]
    if q == "q0":  # two calls side by side: both count
        with assay.span("draft", type="generation", cost=0.001, tokens_in=10, tokens_out=4):
            pass
        with assay.span("polish", type="generation") as step:
            step.update(cost=0.002, tokens_in=20, tokens_out=8)
        return q.upper()
    if q == "q1":  # a step reporting its cost covers the calls inside it; tokens only inside
        with (
            assay.span("agent", cost=0.01),
            assay.span("call", tokens_in=7, tokens_out=3, cost=0.004),
        ):
            pass
        return q.upper()
    if q == "q2":  # the task reports its cost itself: that is the total, not added to
        with assay.span("call", type="generation", cost=0.001, tokens_in=5, tokens_out=1):
            pass
        return TargetOutput(q.upper(), cost=0.5)
    with assay.span("call", type="generation", cost=0.002, tokens_in=9, tokens_out=0):
        pass
    raise RuntimeError("parsing the answer failed")  # q3: the spend before failing counts


def test_span_usage_rolls_up_into_the_result(store: Store) -> None:
    run_id = _run(store, FunctionTarget(billed))
    by_item = {r.input["q"]: r for r in store.experiments.iter_results(run_id)}  # type: ignore[index]

    def usage(q: str) -> tuple[float | None, int | None, int | None]:
        r = by_item[q]
        return (None if r.cost is None else round(r.cost, 6), r.tokens_in, r.tokens_out)

    assert usage("q0") == (0.003, 30, 12)
    assert usage("q1") == (0.01, 7, 3)
    assert usage("q2") == (0.5, 5, 1)
    assert by_item["q3"].status.value == "failed"
    assert usage("q3") == (0.002, 9, 0)
    summary = store.experiments.summary(run_id)
    assert round(summary.total_cost, 6) == 0.515
    assert (summary.tokens_in, summary.tokens_out) == (51, 16)


def test_span_takes_usage_as_arguments() -> None:
    with assay.span("call", type="generation", cost=0.25, tokens_in=3, tokens_out=2) as step:
        pass
    assert (step.cost, step.tokens_in, step.tokens_out) == (0.25, 3, 2)
