"""Thresholds turn a score's value into pass/fail.

A threshold is a small object, as saved on an evaluator::

    {"gte": 0.8}                 numeric: value >= 0.8 (also "gt", "lte", "lt")
    {"gte": 0.2, "lte": 0.9}     numeric range
    {"equals": true}             boolean (or any exact value)
    {"in": ["good", "great"]}    categorical pass set
    {"gte": 0.5, "gating": false}  recorded, but does not decide whether the item passes

A score without a value (the scorer failed) never passes. An item passes when every gating
score with a pass/fail verdict passed.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from assay.domain import ScoreCreate
from assay.errors import InvalidInput, from_validation
from assay.scoring.base import Sample, ScoreOutput, Scorer, normalise, origin

Number = float
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    gte: Number | None = None
    gt: Number | None = None
    lte: Number | None = None
    lt: Number | None = None
    equals: bool | float | str | None = None
    in_: list[bool | float | str] | None = Field(default=None, alias="in", min_length=1)
    gating: StrictBool = True

    @model_validator(mode="after")
    def _one_kind(self) -> Threshold:
        numeric = [v for v in (self.gte, self.gt, self.lte, self.lt) if v is not None]
        kinds = bool(numeric) + (self.equals is not None) + (self.in_ is not None)
        if kinds == 0:
            raise ValueError("give gte/gt/lte/lt, equals or in")
        if kinds > 1:
            raise ValueError("use numeric bounds, equals or in — not several of them")
        low = self.gte if self.gte is not None else self.gt
        high = self.lte if self.lte is not None else self.lt
        if low is not None and high is not None and low > high:
            raise ValueError(f"lower bound {low} is above upper bound {high}")
        return self

    @classmethod
    def parse(cls, value: Mapping[str, Any] | Threshold | None) -> Threshold | None:
        """A threshold from its saved form, with an error naming the bad field."""
        if value is None or isinstance(value, Threshold):
            return value
        if not isinstance(value, Mapping):
            raise InvalidInput(
                'threshold must be an object such as {"gte": 0.8}', field="threshold"
            )
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            raise from_validation(exc, prefix="threshold.") from None

    def check(self, value: float | bool | str | None) -> tuple[bool, str | None]:
        """Whether ``value`` passes, and why not."""
        if value is None:
            return False, "no value"
        if self.in_ is not None:
            ok = any(_same(value, allowed) for allowed in self.in_)
            return ok, None if ok else f"{value!r} not in {self.in_}"
        if self.equals is not None:
            ok = _same(value, self.equals)
            return ok, None if ok else f"{value!r} != {self.equals!r}"
        if isinstance(value, str):
            return False, f"{value!r} is not a number"
        number = float(value)
        for bound, sign in ((self.gte, ">="), (self.gt, ">"), (self.lte, "<="), (self.lt, "<")):
            if bound is not None and not _OPS[sign](number, bound):
                return False, f"{number:g} is not {sign} {bound:g}"
        return True, None

    def apply(self, score: ScoreCreate) -> ScoreCreate:
        """The score with ``passed`` set by this threshold (and the reason when it fails)."""
        passed, why = self.check(score.value)
        reason = score.reason
        if not passed and why:
            reason = f"{reason}; threshold: {why}" if reason else f"threshold: {why}"
        metadata = score.metadata if self.gating else {**score.metadata, "gating": False}
        return score.model_copy(update={"passed": passed, "reason": reason, "metadata": metadata})


def _same(value: Any, target: Any) -> bool:
    if isinstance(value, bool) or isinstance(target, bool):
        return value is target
    if isinstance(value, int | float) and isinstance(target, int | float):
        return float(value) == float(target)
    return bool(value == target)


class ThresholdScorer:
    """Runs ``inner`` and sets ``passed`` on its score from a threshold.

    When the scorer returns several scores, the one named like the scorer is thresholded
    (a composite's parts keep their own verdicts); if none is, all of them are.
    """

    def __init__(self, inner: Scorer, threshold: Threshold) -> None:
        self.inner = inner
        self.name = inner.name
        self.threshold = threshold

    def score(self, sample: Sample) -> ScoreOutput | Awaitable[ScoreOutput]:
        out = self.inner.score(sample)
        if inspect.isawaitable(out):
            return self._apply_async(out)
        return self._apply(out)

    async def _apply_async(self, out: Awaitable[ScoreOutput]) -> ScoreOutput:
        return self._apply(await out)

    def _apply(self, out: ScoreOutput) -> ScoreOutput:
        """Threshold the scorer's own score (named like it); if it has none, every score."""
        scores = normalise(self.name, out, origin=lambda: origin(self.inner))
        own = any(s.name == self.name for s in scores)
        applied = [self.threshold.apply(s) if not own or s.name == self.name else s for s in scores]
        return applied if isinstance(out, list) else applied[0]


class _Verdict(Protocol):
    @property
    def passed(self) -> bool | None: ...

    @property
    def metadata(self) -> dict[str, Any]: ...


def item_passed(scores: Iterable[_Verdict]) -> bool | None:
    """True when every gating score with a verdict passed; ``None`` when none has a verdict."""
    verdicts = [s.passed for s in scores if s.passed is not None and s.metadata.get("gating", True)]
    return all(verdicts) if verdicts else None
