"""OpenTelemetry spans made inside an experiment's target calls are stored under each result's
trace, nested as they were made, with their usage in the result; other spans are left alone."""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
import time
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

import assay
from assay.domain import Observation
from assay.engine import otel_capture
from assay.scorers import tool_arguments, tool_sequence, tool_used
from assay.store import Store
from assay.targets import FunctionTarget, TargetOutput
from assay.targets import spans as steps
from assay.targets.pricing import PriceTable
from tests.integration.otel_support import no_global_provider, processors, run, user_provider


def by_name(store: Store, result_id: str) -> dict[str, Observation]:
    found = {o.name: o for o in store.traces.get(result_id).observations}
    assert all(o.trace_id == result_id for o in found.values())
    return found  # type: ignore[return-value]


def assert_removed(provider: Any = None) -> None:
    assert otel_capture.installed() is None
    assert steps.otel_parent is None
    if provider is not None:
        assert [type(p).__name__ for p in processors(provider)] == ["SimpleSpanProcessor"]


def test_nested_spans_from_threads_and_tasks(store: Store) -> None:
    with user_provider() as (provider, exporter):
        tracer = trace.get_tracer("agent")

        async def agent(x: dict[str, str]) -> str:
            with tracer.start_as_current_span("agent") as root:
                root.set_attribute("input.value", x["q"])
                parent = otel_context.get_current()

                def in_thread() -> None:  # a plain thread: the parent's context passed by hand
                    with (
                        tracer.start_as_current_span("thread-step", context=parent),
                        tracer.start_as_current_span("thread-child"),
                    ):
                        pass

                worker = threading.Thread(target=in_thread)
                worker.start()
                worker.join()

                async def in_task() -> None:
                    await asyncio.sleep(0)
                    with (
                        tracer.start_as_current_span("task-step"),
                        assay.span("assay-step"),
                        tracer.start_as_current_span("task-child"),
                    ):
                        pass

                await asyncio.create_task(in_task())
                root.set_attribute("output.value", x["q"].upper())
            return x["q"]

        with tracer.start_as_current_span("outside") as outside:  # not inside any target call
            results = run(store, FunctionTarget(agent), 3)
        outside_id = outside.get_span_context().span_id

        for q, result in results.items():
            steps_ = by_name(store, result.id)
            assert set(steps_) == {
                "target",
                "agent",
                "thread-step",
                "thread-child",
                "task-step",
                "assay-step",
                "task-child",
            }
            assert steps_["agent"].parent_id == steps_["target"].id
            assert (steps_["agent"].input, steps_["agent"].output) == (q, q.upper())
            assert steps_["thread-step"].parent_id == steps_["agent"].id
            assert steps_["thread-child"].parent_id == steps_["thread-step"].id
            assert steps_["task-step"].parent_id == steps_["agent"].id
            assert steps_["assay-step"].parent_id == steps_["task-step"].id
            assert steps_["task-child"].parent_id == steps_["assay-step"].id
            otel = steps_["task-child"].metadata["otel"]
            assert (otel["span_kind"], otel["status"]) == ("internal", "unset")
            assert otel["scope"]["name"] == "agent"
            assert steps_["agent"].start_time is not None
            assert steps_["agent"].end_time is not None

        # The user's exporter received every span, the one outside the run too.
        exported = exporter.get_finished_spans()
        assert len(exported) == 1 + 3 * 5
        agents = [s for s in exported if s.name == "agent"]
        assert all(s.parent is not None and s.parent.span_id == outside_id for s in agents)
        stored_ids = {
            by_name(store, r.id)["agent"].metadata["otel"]["span_id"] for r in results.values()
        }
        assert stored_ids == {f"{s.context.span_id:016x}" for s in agents}
        assert_removed(provider)


def test_sync_target_on_pool_threads_and_failures(store: Store) -> None:
    with user_provider() as (provider, exporter):
        tracer = trace.get_tracer("agent")

        def agent(x: dict[str, str]) -> str:
            with tracer.start_as_current_span("work") as span:
                span.set_attribute("item", x["q"])
                context = contextvars.copy_context()  # Assay's and OpenTelemetry's context
                worker = threading.Thread(target=context.run, args=(_child, tracer, x["q"]))
                worker.start()
                worker.join()
                if x["q"] == "q3":
                    raise RuntimeError("gave up")
            return x["q"]

        results = run(store, FunctionTarget(agent), 20)
        for q, result in results.items():
            steps_ = by_name(store, result.id)
            assert steps_["work"].metadata["attributes"]["item"] == q
            assert steps_["copied"].metadata["attributes"]["item"] == q
            assert steps_["copied"].parent_id == steps_["work"].id
        failed = by_name(store, results["q3"].id)
        assert results["q3"].status.value == "failed"
        assert (failed["work"].level, failed["work"].status_message) == (
            "ERROR",
            "RuntimeError: gave up",
        )
        assert len(exporter.get_finished_spans()) == 40
        assert_removed(provider)


def _child(tracer: trace.Tracer, q: str) -> None:
    with tracer.start_as_current_span("copied") as span:
        span.set_attribute("item", q)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_concurrent_items_never_share_spans(store: Store, kind: str) -> None:
    with user_provider() as (provider, _):
        tracer = trace.get_tracer("agent")

        def sync_agent(x: dict[str, str]) -> str:
            for step in range(3):
                with tracer.start_as_current_span(f"step-{step}") as span:
                    span.set_attribute("item", x["q"])
                    time.sleep(random.random() / 500)
            return x["q"]

        async def async_agent(x: dict[str, str]) -> str:
            for step in range(3):
                with tracer.start_as_current_span(f"step-{step}") as span:
                    span.set_attribute("item", x["q"])
                    await asyncio.sleep(random.random() / 500)
            return x["q"]

        task = sync_agent if kind == "sync" else async_agent
        results = run(store, FunctionTarget(task), 50, concurrency=10)
        assert len(results) == 50
        for q, result in results.items():
            observed = store.traces.get(result.id).observations
            otel = [o for o in observed if o.name != "target"]
            assert sorted(o.name for o in otel) == ["step-0", "step-1", "step-2"]
            assert {o.metadata["attributes"]["item"] for o in otel} == {q}
            assert {o.parent_id for o in otel} == {f"{result.id}:call"}
        assert_removed(provider)


def test_tool_spans_checked_by_agent_scorers(store: Store) -> None:
    with user_provider() as (provider, _):
        tracer = trace.get_tracer("agent")

        def tool(name: str, arguments: str) -> None:
            with tracer.start_as_current_span(f"execute_tool {name}") as span:
                span.set_attribute("gen_ai.operation.name", "execute_tool")
                span.set_attribute("gen_ai.tool.name", name)
                span.set_attribute("gen_ai.tool.call.arguments", arguments)
                if name == "fetch":
                    span.set_status(Status(StatusCode.ERROR, "timed out"))

        def agent(x: dict[str, str]) -> str:
            with tracer.start_as_current_span("agent"):
                tool("search", f'{{"query": "{x["q"]}"}}')
                if x["q"] == "q0":
                    tool("fetch", '{"url": "https://example.com"}')
            return "done"

        scorers: list[Any] = [
            tool_used("search"),
            tool_sequence(["search", "fetch"]),
            tool_arguments("search", {"query": "q0"}),
        ]
        results = run(store, FunctionTarget(agent), 2, scorers=scorers)
        verdicts = {
            q: {s.name: s.passed for s in store.scores.list(result_id=r.id)}
            for q, r in results.items()
        }
        assert verdicts["q0"] == {"tool_used": True, "tool_sequence": True, "tool_arguments": True}
        assert verdicts["q1"] == {
            "tool_used": True,
            "tool_sequence": False,
            "tool_arguments": False,
        }
        fetch = by_name(store, results["q0"].id)["execute_tool fetch"]
        assert fetch.type.value == "tool"
        assert (fetch.level, fetch.status_message) == ("ERROR", "timed out")
        assert fetch.input == {"url": "https://example.com"}
        assert_removed(provider)


def _generation(tracer: trace.Tracer, tokens_in: int = 1000, tokens_out: int = 100) -> None:
    with tracer.start_as_current_span("chat gpt-4o") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.system", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.request.temperature", 0.2)
        span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", tokens_out)


def test_usage_adds_up_once(store: Store) -> None:
    price = PriceTable.load().cost("openai", "gpt-4o", 1000, 100)
    assert price
    with user_provider() as (provider, _):
        tracer = trace.get_tracer("agent")

        def agent(x: dict[str, str]) -> Any:
            if x["q"] == "q0":  # priced from the table
                _generation(tracer)
                _generation(tracer)
            elif x["q"] == "q1":  # an SDK step reporting the call covers the span inside it
                with assay.span("llm", type="generation", tokens_in=1000, tokens_out=100, cost=0.5):
                    _generation(tracer)
            else:  # the task reports its own usage: taken to include its spans'
                _generation(tracer)
                return TargetOutput("done", tokens_in=7, tokens_out=3, cost=2.0)
            return "done"

        results = run(store, FunctionTarget(agent), 3)
        q0 = results["q0"]
        assert (q0.tokens_in, q0.tokens_out) == (2000, 200)
        assert q0.cost == pytest.approx(2 * price)
        generation = by_name(store, q0.id)["chat gpt-4o"]
        assert generation.type.value == "generation"
        assert generation.model == "gpt-4o"
        assert (generation.tokens_in, generation.tokens_out) == (1000, 100)
        assert generation.cost == pytest.approx(price)
        assert generation.model_parameters == {"temperature": 0.2}
        assert (results["q1"].cost, results["q1"].tokens_in) == (0.5, 1000)
        assert by_name(store, results["q1"].id)["chat gpt-4o"].parent_id == (
            by_name(store, results["q1"].id)["llm"].id
        )
        assert (results["q2"].cost, results["q2"].tokens_in) == (2.0, 7)
        assert_removed(provider)


def test_openai_client_instrumented_with_openinference(store: Store) -> None:
    import openai
    from openinference.instrumentation.openai import OpenAIInstrumentor

    from tests.fakes.provider import FakeProvider

    with no_global_provider(), FakeProvider() as fake:
        # No provider of the user's: the instrumentation's tracer reaches Assay's during the run.
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument()
        llm = openai.OpenAI(base_url=fake.openai_url, api_key="sk-fake", max_retries=0)
        try:

            def agent(x: dict[str, str]) -> str:
                reply = llm.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "Answer briefly."},
                        {"role": "user", "content": f"question {x['q']}"},
                    ],
                    temperature=0,
                )
                return reply.choices[0].message.content or ""

            results = run(store, FunctionTarget(agent), 2)
            after = llm.chat.completions.create(  # after the run: nothing captured, no error
                model="gpt-4o-mini", messages=[{"role": "user", "content": "later"}]
            )
            assert after.choices[0].message.content == "echo: later"
        finally:
            instrumentor.uninstrument()
            llm.close()
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        assert_removed()

    for q, result in results.items():
        assert result.output == f"echo: question {q}"
        generations = [
            o for o in store.traces.get(result.id).observations if o.type.value == "generation"
        ]
        assert len(generations) == 1
        llm_obs = generations[0]
        assert llm_obs.model == "gpt-4o-mini"
        assert llm_obs.input == [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"question {q}"},
        ]
        assert llm_obs.output == {"role": "assistant", "content": f"echo: question {q}"}
        assert (llm_obs.tokens_in, llm_obs.tokens_out) == (4, 3)
        expected = PriceTable.load().cost("openai", "gpt-4o-mini", 4, 3)
        assert expected
        assert llm_obs.cost == pytest.approx(expected)
        assert llm_obs.model_parameters is not None
        assert llm_obs.model_parameters["temperature"] == 0
        assert (result.tokens_in, result.tokens_out) == (4, 3)
        assert result.cost == pytest.approx(expected)


def test_a_provider_set_while_a_run_goes_on_gets_the_capture_too() -> None:
    """A long run (a server's worker) still going when the process sets another global
    provider: the next run captures on the new provider, not the replaced one."""
    with user_provider() as (first, _):
        otel_capture.acquire()  # the run still going
        try:
            assert otel_capture.installed() in processors(first)
            with user_provider() as (second, _):
                otel_capture.acquire()  # the next run
                try:
                    assert otel_capture.installed() in processors(second)
                    assert otel_capture.installed() not in processors(first)
                finally:
                    otel_capture.release()
        finally:
            otel_capture.release()
    assert otel_capture.installed() is None
