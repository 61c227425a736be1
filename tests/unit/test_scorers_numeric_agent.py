"""Numeric closeness, latency/cost/token ceilings and tool-call checks."""

from __future__ import annotations

from typing import Any

import pytest

from assay.domain import ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scorers import (
    cost,
    latency,
    numeric_close,
    token_count,
    tool_arguments,
    tool_sequence,
    tool_used,
)
from assay.scoring import Sample, Scorer
from assay.scoring.agent import call_arguments, call_name
from assay.scoring.text import MissingValue


def one(scorer: Scorer, output: Any = None, expected: Any = None, **kw: Any) -> ScoreCreate:
    out = scorer.score(Sample(input=None, output=output, expected_output=expected, **kw))
    assert isinstance(out, ScoreCreate)
    return out


# ---------------------------------------------------------------- numeric_close
@pytest.mark.parametrize(
    ("scorer", "output", "expected", "passed"),
    [
        (numeric_close(), 42, 42, True),
        (numeric_close(), "42", 42, True),
        (numeric_close(), " 42.0 ", "42", True),
        (numeric_close(), "1,234.5", 1234.5, True),
        (numeric_close(), 42.1, 42, False),
        (numeric_close(abs_tol=0.5), 42.4, 42, True),
        (numeric_close(rel_tol=0.01), 101, 100, True),
        (numeric_close(rel_tol=0.01), 102, 100, False),
        (numeric_close(), "1e3", 1000, True),
        (numeric_close(), "about 42", 42, False),
        (numeric_close(extract=True), "about 42 km", 42, True),
        (numeric_close(extract=True), "-3.5 degrees", -3.5, True),
        (numeric_close(extract=True), "no digits", 1, False),
        (numeric_close(), True, 1, False),
        (numeric_close(), None, 0, False),
        (numeric_close(), "nan", 0, False),
        (numeric_close(), "inf", 0, False),
        (numeric_close(), {"v": 1}, 1, False),
        (numeric_close(7), 7, None, True),
    ],
)
def test_numeric_close(scorer: Scorer, output: Any, expected: Any, passed: bool) -> None:
    assert one(scorer, output, expected).passed is passed


def test_numeric_close_details_and_errors() -> None:
    score = one(numeric_close(), 45, 42)
    assert score.metadata == {"actual": 45.0, "expected": 42.0, "difference": 3.0}
    assert score.reason == "45 is 3 away from 42"
    assert one(numeric_close(), "ten", 10).reason == "output 'ten' is not a number"
    with pytest.raises(MissingValue, match="not a number"):
        one(numeric_close(), 1, "one")
    with pytest.raises(MissingValue):
        one(numeric_close(), 1)
    with pytest.raises(InvalidInput, match="abs_tol"):
        numeric_close(abs_tol=-1)
    with pytest.raises(InvalidInput, match="rel_tol"):
        numeric_close(rel_tol="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="value"):
        numeric_close("x")  # type: ignore[arg-type]


# ---------------------------------------------------------------- ceilings
def test_latency_cost_and_token_ceilings() -> None:
    fast = one(latency(max=500), latency_ms=120.5)
    assert (fast.value, fast.passed, fast.data_type) == (120.5, True, ScoreDataType.numeric)
    slow = one(latency(max=500), latency_ms=900)
    assert slow.passed is False
    assert slow.reason == "900 ms > max 500"
    assert one(latency(max=500), latency_ms=500).passed is True
    assert one(cost(max=0.01), cost=0.02).passed is False
    assert one(cost(max=0.01), cost=0.0).passed is True
    tokens = one(token_count(max=100), tokens_in=60, tokens_out=50)
    assert (tokens.value, tokens.passed) == (110.0, False)
    assert one(token_count(max=100), tokens_out=5).value == 5.0
    for scorer in (latency(max=1), cost(max=1), token_count(max=1)):
        with pytest.raises(MissingValue, match="no recorded"):
            one(scorer)
    with pytest.raises(InvalidInput, match="max"):
        latency(max=-5)
    with pytest.raises(TypeError):
        latency()  # type: ignore[call-arg]


# ---------------------------------------------------------------- tool calls
CALLS: list[dict[str, Any]] = [
    {"name": "search", "arguments": {"query": "weather Paris", "limit": 5}},
    {"type": "function", "function": {"name": "fetch", "arguments": '{"url": "https://x"}'}},
    {"tool": "search", "args": {"query": "weather Lyon", "opts": {"lang": "fr", "n": 1}}},
    {"tool_name": "answer", "input": "Sunny"},
]


def test_call_name_and_arguments_formats() -> None:
    assert [call_name(c) for c in CALLS] == ["search", "fetch", "search", "answer"]
    assert call_arguments(CALLS[1]) == {"url": "https://x"}
    assert call_arguments(CALLS[3]) == "Sunny"
    assert call_name(42) is None
    assert call_name({"function": "x"}) is None
    assert call_arguments({"arguments": "{not json"}) == "{not json"


@pytest.mark.parametrize(
    ("scorer", "value", "passed"),
    [
        (tool_used("search"), 2, True),
        (tool_used("search", min_calls=3), 2, False),
        (tool_used("search", max_calls=1), 2, False),
        (tool_used("delete", max_calls=0), 0, True),
        (tool_used("fetch", max_calls=0), 1, False),
        (tool_used("missing"), 0, False),
    ],
)
def test_tool_used(scorer: Scorer, value: int, passed: bool) -> None:
    score = one(scorer, tool_calls=CALLS)
    assert (score.value, score.passed) == (value, passed)


def test_tool_used_edges() -> None:
    assert one(tool_used("x")).passed is False  # no calls recorded
    assert one(tool_used(), expected="fetch", tool_calls=CALLS).passed is True
    assert "at least 3" in (one(tool_used("search", min_calls=3), tool_calls=CALLS).reason or "")
    with pytest.raises(MissingValue, match="must be a list"):
        one(tool_used("x"), tool_calls="search")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="min_calls"):
        tool_used("x", min_calls=-1)


@pytest.mark.parametrize(
    ("scorer", "passed"),
    [
        (tool_arguments("search", {"query": "weather Lyon"}), True),
        (tool_arguments("search", {"opts": {"lang": "fr"}}), True),
        (tool_arguments("search", {"opts": {"lang": "de"}}), False),
        (tool_arguments("search", {"query": "weather Paris"}, mode="exact"), False),
        (tool_arguments("search", {"query": "weather Paris", "limit": 5}, mode="exact"), True),
        (tool_arguments("fetch", {"url": "https://x"}), True),
        (tool_arguments("answer", "Sunny"), True),  # type: ignore[arg-type]
        (tool_arguments("nope", {}), False),
    ],
)
def test_tool_arguments(scorer: Scorer, passed: bool) -> None:
    assert one(scorer, tool_calls=CALLS).passed is passed


def test_tool_arguments_reason_and_expected_output() -> None:
    score = one(tool_arguments("fetch", {"url": "y"}), tool_calls=CALLS)
    assert score.reason is not None
    assert "no call to 'fetch' had matching arguments" in score.reason
    assert one(tool_arguments("fetch"), expected={"url": "https://x"}, tool_calls=CALLS).passed
    assert one(tool_arguments("nope", {}), tool_calls=CALLS).reason == "'nope' not called"


@pytest.mark.parametrize(
    ("scorer", "value", "passed"),
    [
        (tool_sequence(["search", "answer"]), 1.0, True),
        (tool_sequence(["answer", "search"]), 0.5, False),
        (tool_sequence(["search", "fetch", "search", "answer"], mode="exact"), 1.0, True),
        (tool_sequence(["search", "fetch"], mode="exact"), 1.0, False),
        (tool_sequence(["search", "fetch"], mode="prefix"), 1.0, True),
        (tool_sequence(["fetch"], mode="prefix"), 1.0, False),
        (tool_sequence([]), 1.0, True),
    ],
)
def test_tool_sequence(scorer: Scorer, value: float, passed: bool) -> None:
    score = one(scorer, tool_calls=CALLS)
    assert (score.value, score.passed) == (value, passed)


def test_tool_sequence_from_expected_calls_and_errors() -> None:
    expected = [{"name": "search"}, {"function": {"name": "fetch"}}]
    assert one(tool_sequence(), expected=expected, tool_calls=CALLS).passed is True
    with pytest.raises(MissingValue, match="needs a tool name"):
        one(tool_sequence(), expected=[{"x": 1}], tool_calls=CALLS)
    with pytest.raises(MissingValue, match="must be a list"):
        one(tool_sequence(), expected="search", tool_calls=CALLS)
    with pytest.raises(InvalidInput, match="mode"):
        tool_sequence(["a"], mode="any")  # type: ignore[arg-type]
    long_calls = [{"name": f"t{i % 3}"} for i in range(10_000)]
    assert one(tool_sequence(["t0", "t1", "t2"] * 3000), tool_calls=long_calls).passed is True
