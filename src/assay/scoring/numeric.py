"""Numeric scorers: closeness to an expected number, and latency / cost / token ceilings."""

from __future__ import annotations

import math
from typing import Any

from assay.domain import ScoreCreate, ScoreDataType
from assay.scoring.base import Sample, make_score
from assay.scoring.text import MissingValue, expected_or
from assay.scoring.values import require, to_number


def _non_negative(value: Any, param: str) -> float:
    require(
        isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
        param,
        "must be a number >= 0",
    )
    return float(value)


class NumericClose:
    """True when the output's number is within ``abs_tol`` or ``rel_tol`` of the expected one.

    The output may be a number or numeric text; with ``extract`` the first number inside a
    longer text counts. Metadata holds the absolute difference.
    """

    def __init__(
        self,
        value: float | None = None,
        *,
        abs_tol: float = 0.0,
        rel_tol: float = 0.0,
        extract: bool = False,
        name: str = "numeric_close",
    ) -> None:
        self.name = name
        self.abs_tol = _non_negative(abs_tol, "abs_tol")
        self.rel_tol = _non_negative(rel_tol, "rel_tol")
        if value is not None:
            require(to_number(value) is not None, "value", "must be a number")
        self.value = value
        self.extract = extract

    def score(self, sample: Sample) -> ScoreCreate:
        raw = expected_or(self.value, sample)
        expected = to_number(raw)
        if expected is None:
            raise MissingValue(f"expected output {_short(raw)} is not a number")
        actual = to_number(sample.output, extract=self.extract)
        if actual is None:
            return make_score(
                self.name,
                False,
                passed=False,
                reason=f"output {_short(sample.output)} is not a number",
            )
        close = math.isclose(actual, expected, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        diff = abs(actual - expected)
        return make_score(
            self.name,
            close,
            passed=close,
            reason=None if close else f"{actual:g} is {diff:g} away from {expected:g}",
            metadata={"actual": actual, "expected": expected, "difference": diff},
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Ceiling:
    """A measured quantity of the run (latency, cost, tokens) and whether it stays under a limit.

    The value is the measurement itself, so thresholds and summaries can use it; it passes when
    the measurement is at most ``max``. A result without the measurement cannot be scored.
    """

    def __init__(self, measure: str, unit: str, max_value: Any, name: str) -> None:
        self.name = name
        self.measure = measure
        self.unit = unit
        self.max = _non_negative(max_value, "max")

    def _measure(self, sample: Sample) -> float | None:
        if self.measure == "tokens":
            if sample.tokens_in is None and sample.tokens_out is None:
                return None
            return float((sample.tokens_in or 0) + (sample.tokens_out or 0))
        value: float | None = getattr(sample, self.measure)
        return value

    def score(self, sample: Sample) -> ScoreCreate:
        measured = self._measure(sample)
        if measured is None:
            raise MissingValue(f"the result has no recorded {self.measure}")
        passed = measured <= self.max
        return make_score(
            self.name,
            measured,
            passed=passed,
            reason=None if passed else f"{measured:g} {self.unit} > max {self.max:g}",
            data_type=ScoreDataType.numeric,
        )


def latency(*, max: float, name: str = "latency") -> Ceiling:
    """The target's latency in milliseconds; passes at or under ``max`` ms."""
    return Ceiling("latency_ms", "ms", max, name)


def cost(*, max: float, name: str = "cost") -> Ceiling:
    """The target's cost in USD; passes at or under ``max``."""
    return Ceiling("cost", "USD", max, name)


def token_count(*, max: int, name: str = "tokens") -> Ceiling:
    """Tokens in plus tokens out; passes at or under ``max``."""
    return Ceiling("tokens", "tokens", max, name)


numeric_close = NumericClose
