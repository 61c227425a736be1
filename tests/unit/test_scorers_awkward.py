"""Every built-in on awkward samples: it scores, or explains why not — it never crashes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from assay.domain import ScoreCreate
from assay.scoring import Sample, available, build, run_scorer

LONG = "naïve café 東京 🙂 " * 25_000  # ~450k characters

CONFIGS: dict[str, dict[str, Any]] = {
    "exact_match": {},
    "contains": {},
    "icontains": {},
    "contains_any": {},
    "contains_all": {},
    "regex": {"pattern": r"\w+"},
    "starts_with": {},
    "ends_with": {},
    "length": {"max": 100},
    "is_json": {},
    "json_schema": {"schema": {"type": "object"}},
    "json_match": {},
    "levenshtein": {},
    "similarity": {},
    "numeric_close": {"abs_tol": 0.5},
    "token_f1": {},
    "bleu": {},
    "rouge_l": {},
    "latency": {"max": 100},
    "cost": {"max": 0.1},
    "tokens": {"max": 100},
    "tool_used": {"tool": "search"},
    "tool_arguments": {"tool": "search"},
    "tool_sequence": {},
    "composite": {"scorers": ["token_f1", "rouge_l"]},
}

AWKWARD = {
    "none": Sample(input=None, output=None, expected_output=None),
    "none-output": Sample(input="q", output=None, expected_output="expected"),
    "numbers": Sample(input=1, output=42, expected_output=42.0, latency_ms=3.0, cost=0.0),
    "bool": Sample(input="q", output=True, expected_output=False),
    "nested": Sample(
        input={"a": {"b": [1, {"c": None}]}},
        output={"x": [1, [2, [3, {"y": "z"}]]], "n": None},
        expected_output={"x": [1, [2, [3, {"y": "w"}]]], "extra": {"k": [True]}},
        tool_calls=[{"name": "search", "arguments": {"q": [1, {"deep": None}]}}],
    ),
    "unicode": Sample(
        input="ß",
        output="Ünïcödé — 東京 🙂 \u200b\u0301",
        expected_output="ünïcödé \u2013 東京 🙂",
        tool_calls=[{"function": {"name": "search", "arguments": '{"q": "東京"}'}}],
    ),
    "long": Sample(input="q", output=LONG, expected_output=LONG[:-7] + "changed", tokens_in=1),
    "empty": Sample(input="", output="", expected_output="", tool_calls=[]),
    "odd-tool-calls": Sample(
        input="q", output="x", expected_output=["search"], tool_calls=[1, None]
    ),  # type: ignore[list-item]
}

PYTHON_ERRORS = ("object has no attribute", "unsupported operand", "NoneType", "not subscriptable")


def test_every_builtin_is_covered() -> None:
    # llm_judge is exercised on awkward samples against the fake provider in test_judge.py
    assert set(available()) - {"semantic_similarity", "llm_judge"} <= set(CONFIGS)


@pytest.mark.parametrize("sample_name", sorted(AWKWARD))
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_awkward_samples(kind: str, sample_name: str) -> None:
    scorer = build({"kind": kind, "params": CONFIGS[kind]})
    scores = asyncio.run(run_scorer(scorer, AWKWARD[sample_name]))
    assert scores
    for score in scores:
        assert isinstance(score, ScoreCreate)
        if score.value is None:
            assert score.reason is not None
            assert score.reason.startswith(("scorer error: ", "part(s) could not score"))
            assert not any(e in score.reason for e in PYTHON_ERRORS), score.reason
        else:
            assert isinstance(score.value, bool | int | float | str)
        assert len(score.reason or "") < 2_000  # reasons quote values, never whole outputs
