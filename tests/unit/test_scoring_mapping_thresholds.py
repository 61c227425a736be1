"""Variable mapping by path, and thresholds turning values into pass/fail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from assay.domain import ScoreCreate, Trace
from assay.errors import InvalidInput
from assay.scorers import exact_match, similarity
from assay.scoring import (
    MappedScorer,
    MappingError,
    Sample,
    Threshold,
    ThresholdScorer,
    apply_mapping,
    item_passed,
    make_score,
    parse_mapping,
    run_scorer,
)
from assay.scoring.mapping import Path

TRACE = Trace(
    id="t1",
    project_id="p",
    name="agent",
    input={"q": "hi"},
    output="done",
    metadata={"env": "prod"},
    tags=[],
    session_id=None,
    user_id=None,
    start_time=None,
    end_time=None,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)

SAMPLE = Sample(
    input={"query": "capital of France?", "user": {"name": "Zoë"}},
    output='{"answer": "Paris", "sources": ["wiki"]}',
    expected_output={"answer": "Paris", "aliases": ["Paname"]},
    context={"docs": ["Paris is the capital.", "Lyon is a city."], "odd key": 1},
    metadata={"category": "geo"},
    latency_ms=12.0,
    tool_calls=[{"name": "search"}],
    trace=TRACE,
)


# ---------------------------------------------------------------- paths
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("input.query", "capital of France?"),
        ("input.user.name", "Zoë"),
        ("expected_output.answer", "Paris"),
        ("expected_output.aliases[0]", "Paname"),
        ("output", '{"answer": "Paris", "sources": ["wiki"]}'),
        ("output.answer", "Paris"),  # JSON text is parsed when a path descends into it
        ("output.sources[-1]", "wiki"),
        ("context.docs[0]", "Paris is the capital."),
        ("context.docs[1]", "Lyon is a city."),
        ('context["odd key"]', 1),
        ("context['odd key']", 1),
        ("metadata.category", "geo"),
        ("latency_ms", 12.0),
        ("tool_calls[0].name", "search"),
        ("trace.name", "agent"),
        ("trace.metadata.env", "prod"),
        ("trace.input.q", "hi"),
        (" input.query ", "capital of France?"),
        ("metadata.missing?", None),
        ("context.docs[9]?", None),
    ],
)
def test_path_resolution(path: str, value: Any) -> None:
    assert Path.parse(path).resolve(SAMPLE) == value


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("input.missing", "input has no key 'missing' (keys: query, user)"),
        ("context.docs[5]", "context.docs has 2 element(s), no index 5"),
        ("input.query.deeper", "input.query is text, not JSON, so it has no key 'deeper'"),
        ("latency_ms.x", "latency_ms is a number, so it has no key 'x'"),
        ("metadata.category[0]", "metadata.category is text, not JSON, so it has no [0]"),
        ("input[0]", "input is a dict, not a list, so it has no [0]"),
        ("error.x", "error is empty (null), so it has no key 'x'"),
        ("trace.nope", "trace is a Trace, so it has no key 'nope'"),
    ],
)
def test_missing_paths_are_named(path: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        Path.parse(path).resolve(SAMPLE)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "a path must be non-empty text"),
        ("answer.x", "must start with one of"),
        ("input..x", "cannot read path 'input..x' at character 6"),
        ("input[abc]", "cannot read path"),
        ("input.x[", "cannot read path"),
        ("input['unclosed]", "cannot read path"),
    ],
)
def test_bad_path_syntax(path: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("(", r"\(")):
        Path.parse(path, field="mapping.x")


def test_parse_mapping_names_the_variable() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_mapping({"output": "outptu.answer"})
    assert info.value.field == "mapping.output"
    with pytest.raises(InvalidInput, match="identifier"):
        parse_mapping({"bad name": "output"})
    with pytest.raises(InvalidInput, match="object"):
        parse_mapping(["output"])  # type: ignore[arg-type]
    assert parse_mapping(None) == {}


def test_apply_mapping_sets_fields_and_variables() -> None:
    mapped = apply_mapping(
        SAMPLE,
        parse_mapping(
            {
                "output": "output.answer",
                "expected_output": "expected_output.answer",
                "question": "input.query",
                "tool_calls": "tool_calls[0]",
            }
        ),
    )
    assert mapped.output == "Paris"
    assert mapped.expected_output == "Paris"
    assert mapped.variables == {"question": "capital of France?"}
    assert mapped.tool_calls == [{"name": "search"}]
    assert mapped.input == SAMPLE.input  # untouched
    assert SAMPLE.output.startswith("{")  # the original is not modified


async def test_mapped_scorer_and_error_naming_the_path() -> None:
    scorer = MappedScorer(
        exact_match(), {"output": "output.answer", "expected_output": "expected_output.answer"}
    )
    (score,) = await run_scorer(scorer, SAMPLE)
    assert score.passed is True
    broken = MappedScorer(exact_match(), {"expected_output": "expected_output.final"})
    (score,) = await run_scorer(broken, SAMPLE)
    assert score.value is None
    assert score.reason == (
        "scorer error: mapping 'expected_output' → 'expected_output.final': "
        "expected_output has no key 'final' (keys: aliases, answer)"
    )


# ---------------------------------------------------------------- thresholds
@pytest.mark.parametrize(
    ("threshold", "value", "passed"),
    [
        ({"gte": 0.8}, 0.8, True),
        ({"gte": 0.8}, 0.79, False),
        ({"gt": 0.8}, 0.8, False),
        ({"lte": 500}, 500, True),
        ({"lt": 500}, 500, False),
        ({"gte": 0.2, "lte": 0.9}, 0.5, True),
        ({"gte": 0.2, "lte": 0.9}, 0.95, False),
        ({"gte": 1}, True, True),
        ({"gte": 0.5}, "high", False),
        ({"equals": True}, True, True),
        ({"equals": True}, 1, False),
        ({"equals": False}, False, True),
        ({"equals": 3}, 3.0, True),
        ({"equals": "yes"}, "yes", True),
        ({"in": ["good", "great"]}, "great", True),
        ({"in": ["good", "great"]}, "bad", False),
        ({"in": [1, 2]}, 2.0, True),
        ({"gte": 0}, None, False),
        ({"equals": True}, None, False),
    ],
)
def test_threshold_check(threshold: dict[str, Any], value: Any, passed: bool) -> None:
    parsed = Threshold.parse(threshold)
    assert parsed is not None
    assert parsed.check(value)[0] is passed


@pytest.mark.parametrize(
    ("threshold", "field", "message"),
    [
        ({}, "threshold", "give gte/gt/lte/lt, equals or in"),
        ({"gte": 1, "equals": 2}, "threshold", "not several"),
        ({"gte": 5, "lte": 1}, "threshold", "above upper bound"),
        ({"gte": "high"}, "threshold.gte", "valid number"),
        ({"in": []}, "threshold.in", "at least 1"),
        ({"min": 1}, "threshold.min", "Extra inputs"),
        ({"gte": 1, "gating": "no"}, "threshold.gating", "valid boolean"),
    ],
)
def test_threshold_errors_name_the_field(
    threshold: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        Threshold.parse(threshold)
    assert info.value.field == field


def test_threshold_parse_passthrough_and_type_check() -> None:
    assert Threshold.parse(None) is None
    t = Threshold(gte=1)
    assert Threshold.parse(t) is t
    with pytest.raises(InvalidInput, match="must be an object"):
        Threshold.parse(0.8)  # type: ignore[arg-type]


async def test_threshold_scorer_sets_passed_and_reason() -> None:
    scorer = ThresholdScorer(similarity(), Threshold(gte=0.9))
    (good,) = await run_scorer(scorer, Sample(input=None, output="abcd", expected_output="abcd"))
    assert good.passed is True
    (bad,) = await run_scorer(scorer, Sample(input=None, output="abcd", expected_output="abce"))
    assert bad.passed is False
    assert bad.reason == "threshold: 0.75 is not >= 0.9"
    assert bad.value == 0.75


def test_threshold_apply_keeps_reason_and_marks_non_gating() -> None:
    score = make_score("x", None, reason="scorer error: boom")
    applied = Threshold(gte=0.5).apply(score)
    assert applied.passed is False
    assert applied.reason == "scorer error: boom; threshold: no value"
    soft = Threshold.model_validate({"gte": 0.5, "gating": False}).apply(make_score("x", 0.1))
    assert soft.metadata == {"gating": False}


def test_item_passed() -> None:
    ok, fail = make_score("a", 1.0, passed=True), make_score("b", 0.0, passed=False)
    soft_fail = ScoreCreate(name="c", value=0.0, passed=False, metadata={"gating": False})
    info = make_score("d", 0.3)
    assert item_passed([ok, info]) is True
    assert item_passed([ok, fail]) is False
    assert item_passed([ok, soft_fail]) is True
    assert item_passed([info]) is None
    assert item_passed([]) is None
