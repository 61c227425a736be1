"""``@assay.observe()``: sync and async functions and generators, nesting, errors, and a
decorated function that behaves exactly as before when tracing cannot record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.client import Assay, _observe
from tests.unit.tracing_support import FakeTraceServer, refused


@pytest.fixture
def server() -> FakeTraceServer:
    return FakeTraceServer()


@pytest.fixture
def client(server: FakeTraceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Assay:
    monkeypatch.setattr(_observe, "_default", None)
    made = assay.configure(server.client(tmp_path))
    yield made
    made.close()


def by_name(server: FakeTraceServer) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in server.observations.values()}


@assay.observe()
def retrieve(query: str, k: int = 2) -> list[str]:
    return [f"{query}-{i}" for i in range(k)]


@assay.observe(as_type="generation", name="llm")
def generate(question: str, docs: list[str]) -> str:
    assay.current_observation().update(
        model="gpt-4o-mini", usage={"prompt_tokens": 10, "completion_tokens": 2}
    )
    return f"answer to {question}"


@assay.observe
def pipeline(question: str) -> str:
    return generate(question, retrieve(question))


def test_nested_calls_make_one_trace(client: Assay, server: FakeTraceServer) -> None:
    assert pipeline("why") == "answer to why"
    client.flush()
    (trace,) = server.traces.values()
    assert trace["name"] == "pipeline"
    assert trace["input"] == {"question": "why"}
    assert trace["output"] == "answer to why"
    steps = by_name(server)
    assert set(steps) == {"pipeline", "retrieve", "llm"}
    assert steps["retrieve"]["parent_id"] == steps["pipeline"]["id"]
    assert steps["llm"]["parent_id"] == steps["pipeline"]["id"]
    assert steps["retrieve"]["input"] == {"query": "why"}
    assert steps["retrieve"]["output"] == ["why-0", "why-1"]
    assert steps["llm"]["type"] == "generation"
    assert (steps["llm"]["model"], steps["llm"]["tokens_in"], steps["llm"]["tokens_out"]) == (
        "gpt-4o-mini",
        10,
        2,
    )
    assert {o["trace_id"] for o in server.observations.values()} == set(server.traces)


class Agent:
    @assay.observe()
    def act(self, goal: str, *extra: str, **options: Any) -> str:
        return goal


def test_methods_leave_self_out(client: Assay, server: FakeTraceServer) -> None:
    Agent().act("g", "x", "y", fast=True)
    client.flush()
    (obs,) = server.observations.values()
    assert obs["input"] == {"goal": "g", "extra": ["x", "y"], "fast": True}


@assay.observe()
def explode(x: int) -> int:
    raise ValueError(f"bad {x}")


def test_errors_are_recorded_and_raised(client: Assay, server: FakeTraceServer) -> None:
    with pytest.raises(ValueError, match="bad 3"):
        explode(3)
    client.flush()
    (obs,) = server.observations.values()
    assert obs["level"] == "ERROR"
    assert obs["status_message"] == "ValueError: bad 3"
    assert "output" not in obs


@assay.observe()
async def fetch(n: int) -> int:
    await asyncio.sleep(0)
    return n * 2


@assay.observe()
async def gather(n: int) -> list[int]:
    return list(await asyncio.gather(*(fetch(i) for i in range(n))))


def test_async_calls_nest_across_tasks(client: Assay, server: FakeTraceServer) -> None:
    assert asyncio.run(gather(3)) == [0, 2, 4]
    client.flush()
    root = next(o for o in server.observations.values() if o["name"] == "gather")
    children = [o for o in server.observations.values() if o["name"] == "fetch"]
    assert len(children) == 3
    assert all(c["parent_id"] == root["id"] for c in children)
    assert sorted(c["output"] for c in children) == [0, 2, 4]


@assay.observe(as_type="generation")
def stream(prompt: str) -> Iterator[str]:
    yield from ("Hello", ", ", "world")
    retrieve("inside")  # the body runs inside the observation


@assay.observe()
async def astream(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i
        await fetch(i)


def test_generators_record_what_they_yield(client: Assay, server: FakeTraceServer) -> None:
    assert "".join(stream("p")) == "Hello, world"
    assert retrieve("outside") == ["outside-0", "outside-1"]  # the context did not leak

    async def consume() -> list[int]:
        return [i async for i in astream(3)]

    assert asyncio.run(consume()) == [0, 1, 2]
    client.flush()
    observations = list(server.observations.values())
    gen = next(o for o in observations if o["name"] == "stream")
    assert gen["output"] == "Hello, world"
    assert gen["type"] == "generation"
    inner = next(o for o in observations if o["input"] == {"query": "inside"})
    assert inner["parent_id"] == gen["id"]
    outside = next(o for o in observations if o["input"] == {"query": "outside"})
    assert outside.get("parent_id") is None
    agen = next(o for o in observations if o["name"] == "astream")
    assert agen["output"] == [0, 1, 2]
    assert sum(o.get("parent_id") == agen["id"] for o in observations) == 3


def test_a_generator_closed_early_is_still_recorded(client: Assay, server: FakeTraceServer) -> None:
    words = stream("p")
    assert next(words) == "Hello"
    words.close()
    client.flush()
    (obs,) = server.observations.values()
    assert obs["output"] == "Hello"
    assert "end_time" in obs


def test_observe_inside_a_client_trace_nests_under_it(
    client: Assay, server: FakeTraceServer
) -> None:
    with client.trace(name="request") as trace, trace.span(name="step") as step:
        retrieve("q")
    client.flush()
    assert set(server.traces) == {trace.id}
    inner = next(o for o in server.observations.values() if o["name"] == "retrieve")
    assert inner["parent_id"] == step.id


def test_without_a_client_nothing_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_observe, "_default", None)
    monkeypatch.delenv("ASSAY_URL", raising=False)
    assert pipeline("why") == "answer to why"
    assert assay.current_observation().trace_id == ""  # updates to it go nowhere


def test_a_down_server_never_reaches_the_caller(
    client: Assay, server: FakeTraceServer, tmp_path: Path
) -> None:
    server.fail = refused
    for _ in range(50):
        assert pipeline("q") == "answer to q"
    client.flush()
    assert client.tracing_stats().journaled > 0
    server.fail = lambda: None
    client.flush()
    assert len(server.traces) == 50
    assert len(server.observations) == 150


def test_capture_can_be_turned_off(
    client: Assay, server: FakeTraceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    @assay.observe(capture_input=False, capture_output=False)
    def secret(token: str) -> str:
        return token

    assert secret("s3cr3t") == "s3cr3t"
    client.flush()
    assert "s3cr3t" not in str(server.observations) + str(server.traces)


def test_a_client_made_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_observe, "_default", None)
    monkeypatch.setenv("ASSAY_URL", "http://127.0.0.1:9")
    made = assay.client.get_client()
    assert made is not None
    assert made.config.base_url == "http://127.0.0.1:9"
    made.configure_tracing(enabled=False)
    made.close()
