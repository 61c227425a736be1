"""Deterministic built-in scorers."""

from __future__ import annotations

import re
import string
from typing import Any

import orjson

from assay.domain import ScoreCreate, ScoreDataType, ScoreSource
from assay.scoring.base import Sample
from assay.scoring.registry import registered

_PUNCT = str.maketrans("", "", string.punctuation)
_SPACE = re.compile(r"\s+")


def as_text(value: Any) -> str:
    """Text form of any output: strings as they are, everything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def normalize(
    text: str, *, ignore_case: bool, ignore_whitespace: bool, ignore_punctuation: bool
) -> str:
    if ignore_case:
        text = text.casefold()
    if ignore_punctuation:
        text = text.translate(_PUNCT)
    if ignore_whitespace:
        text = _SPACE.sub(" ", text).strip()
    return text


class ExactMatch:
    """1 when the output equals the expected output (after optional normalisation)."""

    def __init__(
        self,
        *,
        name: str = "exact_match",
        ignore_case: bool = False,
        ignore_whitespace: bool = True,
        ignore_punctuation: bool = False,
    ) -> None:
        self.name = name
        self._norm = {
            "ignore_case": ignore_case,
            "ignore_whitespace": ignore_whitespace,
            "ignore_punctuation": ignore_punctuation,
        }

    def score(self, sample: Sample) -> ScoreCreate:
        out, exp = sample.output, sample.expected_output
        if isinstance(out, str) or isinstance(exp, str) or out is None or exp is None:
            equal = normalize(as_text(out), **self._norm) == normalize(as_text(exp), **self._norm)
        else:
            equal = out == exp
        return ScoreCreate.model_construct(
            name=self.name,
            value=equal,
            data_type=ScoreDataType.boolean,
            passed=equal,
            reason=None,
            source=ScoreSource.evaluator,
            metadata={},
        )


class Contains:
    """Passes when the output contains the expected text (or all of a list of texts)."""

    def __init__(
        self,
        value: str | list[str] | None = None,
        *,
        name: str = "contains",
        ignore_case: bool = False,
    ) -> None:
        self.name = name
        self.value = value
        self.ignore_case = ignore_case

    def _needles(self, sample: Sample) -> list[str]:
        target = self.value if self.value is not None else sample.expected_output
        if isinstance(target, dict) and "should_contain" in target:
            target = target["should_contain"]
        if isinstance(target, list):
            return [as_text(t) for t in target]
        return [as_text(target)]

    def score(self, sample: Sample) -> ScoreCreate:
        text = as_text(sample.output)
        needles = self._needles(sample)
        if self.ignore_case:
            text = text.casefold()
            needles = [n.casefold() for n in needles]
        missing = [n for n in needles if n not in text]
        passed = not missing
        return ScoreCreate.model_construct(
            name=self.name,
            value=passed,
            data_type=ScoreDataType.boolean,
            passed=passed,
            reason=None if passed else f"missing: {', '.join(map(repr, missing))}",
            source=ScoreSource.evaluator,
            metadata={},
        )


@registered()
def exact_match(**params: Any) -> ExactMatch:
    """Output equals expected output; options ignore_case, ignore_whitespace, ignore_punctuation."""
    return ExactMatch(**params)


@registered()
def contains(value: str | list[str] | None = None, **params: Any) -> Contains:
    """Output contains ``value`` (default: the expected output, or its ``should_contain`` list)."""
    return Contains(value, **params)
