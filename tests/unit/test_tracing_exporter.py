"""The trace exporter: bounded queue, sampling, masking, journaling and replay, and never an
exception into the caller's code."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from assay.client import TracingConfig
from assay.client._handles import usage_tokens
from tests.unit.tracing_support import FakeTraceServer, down, refused


@pytest.fixture
def server() -> FakeTraceServer:
    return FakeTraceServer()


def test_the_seed_calls_send_one_trace_with_its_generation(
    server: FakeTraceServer, tmp_path: Path
) -> None:
    client = server.client(tmp_path)
    trace = client.trace(
        name="trivia-answer",
        input={"q": "Capital of Japan?"},
        metadata={"env": "test"},
        tags=["qa"],
        user_id="u1",
        session_id="s1",
    )
    generation = trace.start_generation(
        name="answer",
        model="gpt-4o-mini",
        prompt=[{"role": "user", "content": "Capital of Japan?"}],
        model_parameters={"temperature": 0},
    )
    generation.update(output={"response": "Tokyo"}, usage={"input": 12, "output": 3}, cost=0.01)
    generation.end()
    trace.update(output={"answer": "Tokyo"})
    assert server.requests == 0  # nothing leaves on the caller's thread
    client.flush()

    stored = server.traces[trace.id]
    assert stored["name"] == "trivia-answer"
    assert stored["output"] == {"answer": "Tokyo"}
    assert (stored["tags"], stored["user_id"], stored["session_id"]) == (["qa"], "u1", "s1")
    obs = server.observations[generation.id]
    assert obs["trace_id"] == trace.id
    assert obs["type"] == "generation"
    assert obs["input"] == [{"role": "user", "content": "Capital of Japan?"}]
    assert obs["output"] == {"response": "Tokyo"}
    assert (obs["tokens_in"], obs["tokens_out"], obs["cost"]) == (12, 3, 0.01)
    assert obs["model_parameters"] == {"temperature": 0}
    assert obs["start_time"] <= obs["end_time"]
    assert server.requests == 1  # the trace's three states and its generation: one request
    client.close()


def test_values_are_recorded_as_they_were_when_sent(
    server: FakeTraceServer, tmp_path: Path
) -> None:
    client = server.client(tmp_path)
    messages = [{"role": "user", "content": "hi"}]
    trace = client.trace(name="chat")
    trace.generation(name="turn", input=messages).end(output="hello")
    messages.append({"role": "assistant", "content": "hello"})
    client.flush()
    (obs,) = server.observations.values()
    assert obs["input"] == [{"role": "user", "content": "hi"}]
    client.close()


def test_nested_spans_keep_their_parents(server: FakeTraceServer, tmp_path: Path) -> None:
    client = server.client(tmp_path)
    trace = client.trace(name="agent")
    with trace.span(name="plan") as plan:
        tool = plan.span(name="search", input="q")
        tool.end(output=["doc"])
        plan.event(name="decided", metadata={"k": 1})
    client.flush()
    assert server.observations[plan.id].get("parent_id") is None
    assert server.observations[tool.id]["parent_id"] == plan.id
    assert {o["type"] for o in server.observations.values()} == {"span", "event"}
    client.close()


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input": 5, "output": 7}, (5, 7, None)),
        ({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}, (5, 7, None)),
        ({"input_tokens": 5, "output_tokens": 7, "total_cost": 0.5}, (5, 7, 0.5)),
        ({"promptTokens": 5.0, "completionTokens": -1}, (5, None, None)),
        (None, (None, None, None)),
    ],
)
def test_usage_shapes_map_to_tokens(
    usage: object, expected: tuple[int | None, int | None, float | None]
) -> None:
    assert usage_tokens(usage) == expected


def test_openai_usage_objects_map_to_tokens() -> None:
    class Usage:
        prompt_tokens = 9
        completion_tokens = 4

    assert usage_tokens(Usage()) == (9, 4, None)


def test_a_full_queue_drops_and_counts(
    server: FakeTraceServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = server.client(tmp_path, max_queue=5)
    trace = client.trace(name="busy")  # 1 record
    for i in range(9):  # 4 fit
        trace.span(name=f"s{i}").end()
    stats = client.tracing_stats()
    assert stats.dropped == 5
    with caplog.at_level(logging.WARNING, logger="assay.client.tracing"):
        client.flush()
    assert len(server.observations) == 4
    assert "dropped 5 trace records" in caplog.text
    client.close()


def test_sampling_keeps_whole_traces(server: FakeTraceServer, tmp_path: Path) -> None:
    client = server.client(tmp_path, sample_rate=0.5)
    traces = []
    for _ in range(400):
        trace = client.trace(name="t")
        trace.span(name="a").end()
        trace.span(name="b").end()
        traces.append(trace)
    client.flush()
    kept = set(server.traces)
    assert 0 < len(kept) < 400
    assert kept == {t.id for t in traces if client._tracer().sampled(t.id)}
    assert len(server.observations) == 2 * len(kept)
    assert {o["trace_id"] for o in server.observations.values()} == kept
    client.close()


def test_sample_rate_zero_sends_nothing(server: FakeTraceServer, tmp_path: Path) -> None:
    client = server.client(tmp_path, sample_rate=0.0)
    client.trace(name="t").span(name="a").end()
    client.flush()
    assert server.requests == 0
    client.close()


def test_masking_runs_before_anything_leaves(server: FakeTraceServer, tmp_path: Path) -> None:
    def mask(value: object) -> object:
        if isinstance(value, dict) and "password" in value:
            return {**value, "password": "***"}
        return value

    client = server.client(tmp_path, mask=mask)
    trace = client.trace(name="login", input={"user": "ann", "password": "hunter2"})
    trace.span(name="check", metadata={"password": "hunter2"}).end(output="ok")
    client.flush()
    assert server.traces[trace.id]["input"] == {"user": "ann", "password": "***"}
    (obs,) = server.observations.values()
    assert obs["metadata"] == {"password": "***"}
    assert obs["output"] == "ok"
    client.close()


def test_a_failing_mask_hides_the_value(server: FakeTraceServer, tmp_path: Path) -> None:
    def mask(value: object) -> object:
        raise RuntimeError("bug in the mask")

    client = server.client(tmp_path, mask=mask)
    trace = client.trace(name="t", input={"secret": 1})
    client.flush()
    assert "secret" not in str(server.traces[trace.id])
    assert client.tracing_stats().mask_errors == 1
    client.close()


@pytest.mark.parametrize("failure", [down(503), down(500), refused])
def test_an_unreachable_server_journals_then_replays_once(
    server: FakeTraceServer, tmp_path: Path, failure: object
) -> None:
    server.fail = failure  # type: ignore[assignment]
    client = server.client(tmp_path)
    trace = client.trace(name="t", input=1)
    spans = [trace.span(name=f"s{i}") for i in range(20)]
    for s in spans:
        s.end()  # the caller never sees the failure
    client.flush()
    stats = client.tracing_stats()
    assert stats.journaled == 1
    assert stats.sent == 0
    assert list(tmp_path.glob("*.jsonl"))
    assert not server.observations

    trace.span(name="later").end()  # while the journal waits, new batches queue behind it
    client.flush()
    assert client.tracing_stats().journaled == 2

    server.fail = lambda: None
    client.flush()
    assert client.tracing_stats().replayed == 2
    assert len(server.observations) == 21
    assert not list(tmp_path.glob("*.jsonl"))
    client.close()


def test_a_lost_answer_is_replayed_and_stored_once(server: FakeTraceServer, tmp_path: Path) -> None:
    server.store_then_fail = httpx.Response(502)
    client = server.client(tmp_path)
    trace = client.trace(name="t")
    ids = [trace.span(name=f"s{i}").end().id for i in range(5)]
    client.flush()
    assert client.tracing_stats().journaled == 1
    server.store_then_fail = None
    client.flush()
    assert sorted(server.observations) == sorted(ids)
    client.close()


def test_a_journal_left_by_another_process_is_replayed(
    server: FakeTraceServer, tmp_path: Path
) -> None:
    server.fail = down()
    first = server.client(tmp_path)
    first.trace(name="t").span(name="s").end()
    first.shutdown()  # journaled at exit
    assert len(list(tmp_path.glob("*.jsonl"))) == 1

    server.fail = lambda: None
    second = server.client(tmp_path)
    second.flush()
    assert len(server.observations) == 1
    assert not list(tmp_path.glob("*.jsonl"))
    first.close()
    second.close()


def test_a_refused_batch_is_dropped_and_counted(server: FakeTraceServer, tmp_path: Path) -> None:
    server.fail = down(422)
    client = server.client(tmp_path)
    client.trace(name="t")
    client.flush()
    stats = client.tracing_stats()
    assert (stats.rejected, stats.journaled) == (1, 0)
    assert not list(tmp_path.glob("*.jsonl"))
    client.close()


def test_user_values_that_do_not_serialize_are_recorded_as_text(
    server: FakeTraceServer, tmp_path: Path
) -> None:
    client = server.client(tmp_path)
    loop: list[object] = []
    loop.append(loop)
    trace = client.trace(name="odd", input={"when": object(), 1: "int key"}, metadata=[1])
    trace.span(name="cycle", input=loop).end()
    client.flush()
    stored = server.traces[trace.id]
    assert stored["input"]["1"] == "int key"
    assert stored["input"]["when"].startswith("<object object")
    assert stored["metadata"] == {"value": [1]}
    (obs,) = server.observations.values()
    assert isinstance(obs["input"], str)
    client.close()


def test_long_names_are_cut_to_what_the_server_takes(
    server: FakeTraceServer, tmp_path: Path
) -> None:
    client = server.client(tmp_path)
    trace = client.trace(name="n" * 1000)
    client.flush()
    assert len(server.traces[trace.id]["name"]) == 300
    client.close()


def test_the_background_thread_sends_full_batches(server: FakeTraceServer, tmp_path: Path) -> None:
    client = server.client(tmp_path, batch_size=10)
    trace = client.trace(name="t")
    for i in range(25):
        trace.span(name=f"s{i}").end()
    client.shutdown()  # whatever the thread did not send yet goes now
    assert len(server.observations) == 25
    trace.span(name="after").end()  # after shutdown: dropped, not raised
    assert client.tracing_stats().dropped == 1
    client.close()


def test_tracing_can_be_turned_off(
    server: FakeTraceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_TRACING", "0")
    client = server.client(tmp_path)
    client.trace(name="t").span(name="s").end()
    client.flush()
    assert server.requests == 0
    client.close()


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        TracingConfig(sample_rate=2)
    assert TracingConfig(batch_size=5000).batch_size == 1000
