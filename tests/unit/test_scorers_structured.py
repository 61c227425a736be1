"""Structured-output scorers: is_json, json_schema, json_match."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from assay.domain import ScoreCreate
from assay.errors import InvalidInput
from assay.scorers import is_json, json_match, json_schema
from assay.scoring import Sample, Scorer
from assay.scoring.text import MissingValue


def one(scorer: Scorer, output: Any, expected: Any = None) -> ScoreCreate:
    out = scorer.score(Sample(input=None, output=output, expected_output=expected))
    assert isinstance(out, ScoreCreate)
    return out


DEEP: Any = {"leaf": 1}
for _ in range(200):
    DEEP = {"n": DEEP}


# ---------------------------------------------------------------- is_json
@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ('{"a": 1}', True),
        ("[1, 2, 3]", True),
        ("42", True),
        ('"text"', True),
        ("null", True),
        ({"already": "parsed"}, True),
        ([1, 2], True),
        (3.5, True),
        ('```json\n{"a": [1, 2]}\n```', True),
        ("```\n[1]\n```", True),
        ("{'single': 'quotes'}", False),
        ('{"a": 1,}', False),
        ("Sure! Here is the JSON: {}", False),
        ("", False),
        (None, False),
        (orjson.dumps(DEEP).decode(), True),
        ('{"ключ": "значение 🎉"}', True),
    ],
)
def test_is_json(output: Any, passed: bool) -> None:
    score = one(is_json(), output)
    assert score.passed is passed
    assert score.value is passed
    if not passed:
        assert score.reason


def test_is_json_options() -> None:
    assert one(is_json(strip_fences=False), "```json\n{}\n```").passed is False
    assert one(is_json(require_object=True), "[1]").reason == "JSON list, not an object"
    assert one(is_json(require_object=True), '{"a": 1}').passed is True


# ---------------------------------------------------------------- json_schema
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ({"name": "Ada", "age": 36}, True),
        ('{"name": "Ada", "age": 36, "tags": ["math"]}', True),
        ('```json\n{"name": "Zoë", "age": 0}\n```', True),
        ({"name": "Ada"}, False),
        ({"name": "Ada", "age": -1}, False),
        ({"name": "Ada", "age": 36, "tags": [1]}, False),
        ({"name": "Ada", "age": 36, "extra": True}, False),
        ("not json", False),
        (None, False),
        (42, False),
    ],
)
def test_json_schema(output: Any, passed: bool) -> None:
    assert one(json_schema(SCHEMA), output).passed is passed


def test_json_schema_reason_names_the_path() -> None:
    score = one(json_schema(SCHEMA), {"name": "Ada", "age": 36, "tags": ["ok", 5]})
    assert score.reason == "$.tags[1]: 5 is not of type 'string'"
    assert score.metadata == {"errors": 1}
    many = one(json_schema(SCHEMA), {"age": "x", "tags": "no", "a": 1})
    assert many.metadata["errors"] == 4


def test_json_schema_from_expected_output_and_bad_schemas() -> None:
    assert one(json_schema(), [1, 2], {"type": "array"}).passed is True
    with pytest.raises(ValueError, match="not a JSON Schema"):
        one(json_schema(), [1], {"type": "nonsense"})
    with pytest.raises(InvalidInput, match="schema: not a valid JSON Schema") as info:
        json_schema({"type": 12})
    assert info.value.field == "params.schema"


# ---------------------------------------------------------------- json_match
@pytest.mark.parametrize(
    ("output", "expected", "value"),
    [
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, 1.0),
        ({"a": 1, "b": 3}, {"a": 1, "b": 2}, 0.5),
        ({"a": 1}, {"a": 1, "b": 2}, 0.5),
        ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}, 2 / 3),
        ({"a": {"x": 1, "y": [1, 2]}}, {"a": {"x": 1, "y": [1, 3]}}, 2 / 3),
        ([1, 2, 3], [1, 2], 2 / 3),
        ('{"a": 1}', {"a": 1}, 1.0),
        ({"a": 1}, '{"a": 1}', 1.0),
        ("not json", {"a": 1}, 0.0),
        ({"a": True}, {"a": 1}, 0.0),
        ({"a": 1.0}, {"a": 1}, 1.0),
        ({"a": None}, {"a": None}, 1.0),
        ({}, {}, 1.0),
        ([], [], 1.0),
        ({"a": "x"}, {"a": {"deep": 1, "er": 2}}, 0.0),
        ({"ü": "ñ"}, {"ü": "ñ"}, 1.0),
        (DEEP, DEEP, 1.0),
        (None, {"a": 1}, 0.0),
        (5, 5, 1.0),
    ],
)
def test_json_match(output: Any, expected: Any, value: float) -> None:
    score = one(json_match(), output, expected)
    assert score.value == pytest.approx(value, abs=1e-6)
    assert score.passed is (value == 1.0)


def test_json_match_reasons_and_metadata() -> None:
    score = one(json_match(), {"a": 1, "b": {"c": 5}, "z": 0}, {"a": 2, "b": {"c": 5, "d": 1}})
    assert score.metadata == {"matched": 1, "total": 4}
    assert score.reason is not None
    assert "$.a: expected 2, got 1" in score.reason
    assert "$.b.d: missing" in score.reason
    assert "$.z: unexpected" in score.reason


def test_json_match_options() -> None:
    expected = {"items": [{"id": 1}, {"id": 2}], "name": "Ada"}
    shuffled = {"items": [{"id": 2}, {"id": 1}], "name": "ADA", "extra": 1}
    assert one(json_match(), shuffled, expected).value == pytest.approx(0.0)
    loose = json_match(ignore_order=True, ignore_case=True, ignore_extra_keys=True)
    assert one(loose, shuffled, expected).value == 1.0
    assert one(json_match(abs_tol=0.01), {"p": 0.305}, {"p": 0.3}).value == 1.0
    assert one(json_match(abs_tol=0.001), {"p": 0.305}, {"p": 0.3}).value == 0.0
    assert one(json_match({"k": 1}), {"k": 1}).passed is True
    with pytest.raises(InvalidInput, match="abs_tol"):
        json_match(abs_tol=-1)


def test_json_match_needs_a_json_expected_output() -> None:
    with pytest.raises(MissingValue, match="expected output is not valid JSON"):
        one(json_match(), {"a": 1}, "plain words")


def test_json_match_unordered_with_missing_and_extra_elements() -> None:
    score = one(json_match(ignore_order=True), [3, 1, 9], [1, 2, 3])
    assert score.metadata == {"matched": 2, "total": 4}
    assert score.value == 0.5
