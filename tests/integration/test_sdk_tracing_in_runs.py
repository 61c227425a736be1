"""Inside an ``evaluate()`` target, ``@assay.observe`` and ``client.trace`` record under the
result's trace (with ``assay.span`` steps), add their usage to the result, and export nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.client import Assay, _observe
from assay.domain import DatasetCreate, ItemCreate
from assay.engine import RunOptions, plan
from assay.store import Store
from assay.targets import FunctionTarget
from tests.unit.tracing_support import FakeTraceServer

FAST = {"poll_interval": 0.05, "backoff_base": 0.01, "max_retries": 0}


@pytest.fixture
def exported() -> FakeTraceServer:
    return FakeTraceServer()


@pytest.fixture
def client(
    exported: FakeTraceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Assay]:
    monkeypatch.setattr(_observe, "_default", None)
    made = assay.configure(exported.client(tmp_path))
    yield made
    made.close()


def run(store: Store, target: Any) -> dict[str, Any]:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"q{i}"}) for i in range(2)])
    prepared = plan(store, dataset="qa", target=target, name="sdk", options=RunOptions(**FAST))
    run_id = asyncio.run(prepared.run()).id
    return {r.input["q"]: r for r in store.experiments.iter_results(run_id)}  # type: ignore[index]


@assay.observe(as_type="generation")
def call_model(prompt: str) -> str:
    assay.current_observation().update(model="m-1", usage={"input": 4, "output": 2}, cost=0.5)
    with assay.span("tokenize", type="tool"):
        pass
    return prompt.upper()


@assay.observe()
def agent(x: dict[str, str]) -> str:
    with assay.span("plan"):
        draft = call_model(x["q"])
    if x["q"] == "q1":
        raise RuntimeError("gave up")
    return draft


def test_observed_calls_are_steps_of_the_result_trace(
    store: Store, client: Assay, exported: FakeTraceServer
) -> None:
    results = run(store, FunctionTarget(agent))
    trace = store.traces.get(results["q0"].id)
    steps = {o.name: o for o in trace.observations}
    assert set(steps) == {"target", "agent", "plan", "call_model", "tokenize"}
    assert steps["agent"].parent_id == steps["target"].id
    assert steps["agent"].input == {"x": {"q": "q0"}}
    assert steps["agent"].output == "Q0"
    assert steps["plan"].parent_id == steps["agent"].id
    assert steps["call_model"].parent_id == steps["plan"].id
    assert steps["call_model"].type.value == "generation"
    assert (steps["call_model"].model, steps["call_model"].tokens_in) == ("m-1", 4)
    assert steps["tokenize"].parent_id == steps["call_model"].id
    assert (results["q0"].cost, results["q0"].tokens_in, results["q0"].tokens_out) == (0.5, 4, 2)

    failed = {o.name: o for o in store.traces.get(results["q1"].id).observations}
    assert failed["agent"].level == "ERROR"
    assert failed["agent"].status_message == "RuntimeError: gave up"

    client.flush()
    assert exported.requests == 0  # stored with the results, not exported again


def test_client_traces_are_steps_of_the_result_trace(
    store: Store, client: Assay, exported: FakeTraceServer
) -> None:
    def target(x: dict[str, str]) -> str:
        trace = client.trace(name="answer", input=x, tags=["t"])
        generation = trace.start_generation(name="llm", model="m-2", prompt=x["q"])
        generation.update(output="A", usage={"prompt_tokens": 3, "completion_tokens": 1})
        generation.end()
        trace.update(output="A")
        return "A"

    results = run(store, FunctionTarget(target))
    steps = {o.name: o for o in store.traces.get(results["q0"].id).observations}
    assert steps["answer"].parent_id == steps["target"].id
    assert (steps["answer"].input, steps["answer"].output) == ({"q": "q0"}, "A")
    assert steps["answer"].metadata == {"tags": ["t"]}
    assert steps["llm"].parent_id == steps["answer"].id
    assert (steps["llm"].input, steps["llm"].output, steps["llm"].tokens_in) == ("q0", "A", 3)
    assert results["q0"].tokens_in == 3
    client.flush()
    assert exported.requests == 0
