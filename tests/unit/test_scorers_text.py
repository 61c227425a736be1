"""Text scorers: exact match, contains family, regex, prefixes/suffixes and length."""

from __future__ import annotations

from typing import Any

import pytest

from assay.domain import ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scorers import (
    contains,
    contains_all,
    contains_any,
    ends_with,
    exact_match,
    icontains,
    length,
    regex,
    starts_with,
)
from assay.scoring import Sample, Scorer, run_scorer
from assay.scoring.text import MissingValue

LONG = "lorem ipsum dolor sit amet " * 20_000  # ~540k characters


def one(scorer: Scorer, output: Any, expected: Any = None, **kw: Any) -> ScoreCreate:
    out = scorer.score(Sample(input="q", output=output, expected_output=expected, **kw))
    assert isinstance(out, ScoreCreate)
    return out


# ---------------------------------------------------------------- exact_match
@pytest.mark.parametrize(
    ("output", "expected", "options", "equal"),
    [
        ("Paris", "Paris", {}, True),
        ("Paris", "paris", {}, False),
        ("Paris", "paris", {"ignore_case": True}, True),
        ("  Paris \n", "Paris", {}, True),
        ("  Paris \n", "Paris", {"ignore_whitespace": False}, False),
        ("Paris!", "paris", {"ignore_case": True, "ignore_punctuation": True}, True),
        ("ÉCOLE", "école", {"ignore_case": True}, True),
        ("Straße", "STRASSE", {"ignore_case": True}, True),
        (42, 42, {}, True),
        (42, 42.0, {}, True),
        (True, 1, {}, False),
        (42, "42", {}, True),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, {}, True),
        ({"a": 1}, {"a": 2}, {}, False),
        ({"b": 1, "a": 2}, '{"a":2,"b":1}', {}, True),
        ('{"a": [1, 2]}', {"a": [1, 2]}, {}, True),
        ('```json\n{"a": 1}\n```', {"a": 1}, {}, True),
        ("[1, 2]", [2, 1], {}, False),
        ("not json", {"a": 1}, {}, False),
        ("true", True, {}, True),
        (None, "", {}, True),
        (None, "x", {}, False),
        (LONG, LONG, {}, True),
        (LONG, LONG + "x", {}, False),
    ],
)
def test_exact_match(output: Any, expected: Any, options: dict[str, Any], equal: bool) -> None:
    score = one(exact_match(**options), output, expected)
    assert score.value is equal
    assert score.passed is equal
    assert score.data_type == ScoreDataType.boolean
    assert (score.reason is None) is equal


def test_exact_match_value_parameter_and_missing_expected() -> None:
    assert one(exact_match("yes"), "yes").passed is True
    with pytest.raises(MissingValue, match="no expected output"):
        one(exact_match(), "anything")


async def test_missing_expected_becomes_an_error_score() -> None:
    (score,) = await run_scorer(exact_match(), Sample(input="q", output="a"))
    assert score.value is None
    assert score.passed is None
    assert score.reason is not None
    assert "no expected output" in score.reason


# ---------------------------------------------------------------- contains
def test_contains_seed_should_contain_format() -> None:
    expected = {"should_contain": ["algorithm", "data", "patterns"]}
    good = one(contains(), "An algorithm learns patterns from data.", expected)
    assert good.passed is True
    assert good.metadata == {"found": 3, "total": 3}
    bad = one(contains(), "An Algorithm learns from data.", expected)
    assert bad.passed is False
    assert bad.reason == "missing 'algorithm', 'patterns'"
    assert bad.metadata == {"found": 1, "total": 3}


@pytest.mark.parametrize(
    ("scorer", "output", "passed"),
    [
        (contains("cat"), "concatenate", True),
        (contains("Cat"), "concatenate", False),
        (icontains("Cat"), "conCATenate", True),
        (contains(["a", "b"]), "a only", False),
        (contains_all(["a", "o"]), "a only", True),
        (contains_any(["x", "y", "only"]), "a only", True),
        (contains_any(["x", "z"]), "a only", False),
        (contains_any(["X"], ignore_case=True), "xylophone", True),
        (contains("日本"), "私は日本語を話します", True),
        (contains("42"), 1425, True),
        (contains('"k"'), {"k": 1}, True),
        (contains("x"), None, False),
        (contains("needle"), LONG + "needle", True),
    ],
)
def test_contains_family(scorer: Scorer, output: Any, passed: bool) -> None:
    assert one(scorer, output).passed is passed


def test_contains_uses_expected_text_and_rejects_bad_values() -> None:
    assert one(contains(), "the answer is 4", "4").passed is True
    assert one(contains(), "x", ["x", "y"]).passed is False
    with pytest.raises(MissingValue, match="empty"):
        one(contains(), "x", [])
    with pytest.raises(InvalidInput, match="mode") as info:
        contains("x", mode="some")  # type: ignore[arg-type]
    assert info.value.field == "params.mode"
    with pytest.raises(InvalidInput, match="value"):
        contains(5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- regex
@pytest.mark.parametrize(
    ("scorer", "output", "passed"),
    [
        (regex(r"\d{3}-\d{4}"), "call 555-1234 now", True),
        (regex(r"\d{3}-\d{4}", full_match=True), "call 555-1234 now", False),
        (regex(r"^yes$", ignore_case=True), "YES", True),
        (regex(r"^b$", multiline=True), "a\nb\nc", True),
        (regex(r"a.c", dotall=True), "a\nc", True),
        (regex(r"\w+"), None, False),
    ],
)
def test_regex(scorer: Scorer, output: Any, passed: bool) -> None:
    assert one(scorer, output).passed is passed


def test_regex_records_match_and_uses_expected_as_pattern() -> None:
    score = one(regex(r"[A-Z]\w+"), "hello World")
    assert score.metadata == {"match": "World"}
    assert one(regex(), "order #123", r"#\d+").passed is True
    with pytest.raises(MissingValue, match="not a valid pattern"):
        one(regex(), "x", "(")


def test_regex_bad_pattern_is_a_parameter_error() -> None:
    with pytest.raises(InvalidInput, match="pattern: not a valid regular expression") as info:
        regex("(unclosed")
    assert info.value.field == "params.pattern"


# ---------------------------------------------------------------- starts/ends with
@pytest.mark.parametrize(
    ("scorer", "output", "expected", "passed"),
    [
        (starts_with("Dear"), "  Dear customer,", None, True),
        (starts_with("Dear", strip=False), "  Dear customer,", None, False),
        (starts_with("dear"), "Dear customer", None, False),
        (starts_with("dear", ignore_case=True), "Dear customer", None, True),
        (ends_with("Regards."), "Kind Regards.\n", None, True),
        (ends_with(), "Thank you 🙏", "🙏", True),
        (ends_with("x"), None, None, False),
        (starts_with(), "{}", {}, True),
    ],
)
def test_affixes(scorer: Scorer, output: Any, expected: Any, passed: bool) -> None:
    score = one(scorer, output, expected)
    assert score.passed is passed
    assert score.name in ("starts_with", "ends_with")


# ---------------------------------------------------------------- length
@pytest.mark.parametrize(
    ("scorer", "output", "value", "passed"),
    [
        (length(max=5), "hello", 5, True),
        (length(max=4), "hello", 5, False),
        (length(min=2, max=3, unit="words"), "one two three four", 4, False),
        (length(min=2, unit="words"), "naïve café", 2, True),
        (length(max=2, unit="lines"), "a\nb\nc", 3, False),
        (length(min=1), None, 0, False),
        (length(max=10), 123456, 6, True),
        (length(max=1_000_000), LONG, len(LONG), True),
    ],
)
def test_length(scorer: Scorer, output: Any, value: int, passed: bool) -> None:
    score = one(scorer, output)
    assert score.value == value
    assert score.passed is passed
    assert score.data_type == ScoreDataType.numeric


def test_length_reason_and_parameter_checks() -> None:
    assert one(length(min=10), "short").reason == "5 chars < min 10"
    with pytest.raises(InvalidInput, match="min: must not exceed max"):
        length(min=5, max=1)
    with pytest.raises(InvalidInput, match="unit"):
        length(unit="bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="max: must be a whole number"):
        length(max=1.5)  # type: ignore[arg-type]
