"""Configured scorers from saved evaluators and run configs.

:func:`build` is what the engine and the API call: it turns an evaluator record (kind + params +
mapping + threshold), a spec object or a bare scorer name into a ready :class:`Scorer` whose
scores carry the evaluator's name, id and version.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.domain import Evaluator, JsonObject, ScoreCreate
from assay.errors import InvalidInput, from_validation
from assay.scoring.base import Sample, ScoreOutput, Scorer, normalise, origin
from assay.scoring.composite import Composite, Mode
from assay.scoring.mapping import MappedScorer
from assay.scoring.registry import create, factory
from assay.scoring.thresholds import Threshold, ThresholdScorer


class ScorerSpec(BaseModel):
    """A scorer configuration, as in a run config or the body of a saved evaluator."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, description="Registered scorer name, e.g. exact_match.")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    params: JsonObject = Field(default_factory=dict)
    mapping: dict[str, str] = Field(default_factory=dict)
    threshold: JsonObject | None = None


SpecLike = Evaluator | ScorerSpec | Mapping[str, Any] | str | Scorer


def _spec(value: Evaluator | ScorerSpec | Mapping[str, Any] | str) -> ScorerSpec:
    if isinstance(value, ScorerSpec):
        return value
    if isinstance(value, str):
        return ScorerSpec(kind=value)
    if isinstance(value, Evaluator):
        return ScorerSpec(
            kind=value.kind,
            name=value.name,
            params=value.params,
            mapping=value.mapping,
            threshold=value.threshold,
        )
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"a scorer is a name, a scorer object or a spec object, not {type(value).__name__}",
            field="scorer",
        )
    try:
        return ScorerSpec.model_validate(dict(value))
    except ValidationError as exc:
        raise from_validation(exc) from None


def build(value: SpecLike) -> Scorer:
    """A ready scorer from a saved evaluator, a spec (object or mapping), a name or a scorer.

    Errors are :class:`~assay.errors.InvalidInput` naming the field at fault
    (``kind``, ``params.<name>``, ``mapping.<variable>``, ``threshold.<field>``).
    """
    if not isinstance(value, Evaluator | ScorerSpec | Mapping | str) and isinstance(value, Scorer):
        return value
    spec = _spec(value)
    params = dict(spec.params)
    if spec.name is not None and "name" not in params and _accepts_name(spec.kind):
        params["name"] = spec.name
    scorer: Scorer = create(spec.kind, **params)
    if spec.name is not None and scorer.name != spec.name:
        scorer = _Renamed(scorer, spec.name)
    if spec.mapping:
        scorer = MappedScorer(scorer, spec.mapping)
    threshold = Threshold.parse(spec.threshold)
    if threshold is not None:
        scorer = ThresholdScorer(scorer, threshold)
    if isinstance(value, Evaluator):
        scorer = EvaluatorScorer(scorer, value.id, value.version)
    return scorer


def build_all(values: Sequence[SpecLike]) -> list[Scorer]:
    """Build several scorers; score names must be distinct (they key the stored scores)."""
    scorers = []
    for i, value in enumerate(values):
        try:
            scorers.append(build(value))
        except InvalidInput as exc:
            raise InvalidInput(f"scorer {i}: {exc.message}", **exc.details) from None
    names = [s.name for s in scorers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(
            f"two scorers are named {', '.join(map(repr, dupes))}; give one a distinct name",
            field="scorers",
        )
    return scorers


def check(value: SpecLike) -> None:
    """Validate a configuration by building it (used before saving an evaluator)."""
    build(value)


def _accepts_name(kind: str) -> bool:
    try:
        params = inspect.signature(factory(kind)).parameters
    except (TypeError, ValueError):
        return False
    return "name" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class _Renamed:
    """Gives the first score of a scorer that ignores ``name`` the configured name."""

    def __init__(self, inner: Scorer, name: str) -> None:
        self.inner = inner
        self.name = name

    def score(self, sample: Sample) -> ScoreOutput | Awaitable[ScoreOutput]:
        out = self.inner.score(sample)
        if inspect.isawaitable(out):
            return self._later(out)
        return self._rename(out)

    async def _later(self, out: Awaitable[ScoreOutput]) -> ScoreOutput:
        return self._rename(await out)

    def _rename(self, out: ScoreOutput) -> ScoreOutput:
        scores = normalise(self.inner.name, out, origin=lambda: origin(self.inner))
        if scores and scores[0].name == self.inner.name:
            scores = [scores[0].model_copy(update={"name": self.name}), *scores[1:]]
        return scores if isinstance(out, list) else scores[0]


class EvaluatorScorer:
    """Stamps the saved evaluator's id and version on every score."""

    def __init__(self, inner: Scorer, evaluator_id: str, version: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.evaluator_id = evaluator_id
        self.version = version

    def score(self, sample: Sample) -> ScoreOutput | Awaitable[ScoreOutput]:
        out = self.inner.score(sample)
        if inspect.isawaitable(out):
            return self._later(out)
        return self._stamp(out)

    async def _later(self, out: Awaitable[ScoreOutput]) -> ScoreOutput:
        return self._stamp(await out)

    def _stamp(self, out: ScoreOutput) -> ScoreOutput:
        update = {"evaluator_id": self.evaluator_id, "evaluator_version": self.version}
        scores = normalise(self.name, out, origin=lambda: origin(self.inner))
        stamped: list[ScoreCreate] = [s.model_copy(update=update) for s in scores]
        return stamped if isinstance(out, list) else stamped[0]


def composite(
    scorers: Sequence[SpecLike],
    *,
    mode: Mode = "weighted_mean",
    weights: Sequence[float] | None = None,
    include_parts: bool = False,
    name: str = "composite",
) -> Composite:
    """Several scorers combined into one score: ``weighted_mean``, ``all`` or ``any``."""
    if not isinstance(scorers, Sequence) or isinstance(scorers, str):
        raise InvalidInput("scorers must be a list of scorer specs", field="params.scorers")
    parts = []
    for i, part in enumerate(scorers):
        try:
            parts.append(build(part))
        except InvalidInput as exc:
            raise InvalidInput(
                f"params.scorers[{i}]: {exc.message}",
                field=f"params.scorers[{i}].{exc.field}" if exc.field else f"params.scorers[{i}]",
            ) from None
    return Composite(parts, mode=mode, weights=weights, include_parts=include_parts, name=name)


def weighted_mean(
    *scorers: SpecLike, weights: Sequence[float] | None = None, name: str = "weighted_mean"
) -> Composite:
    """The weighted mean of several scorers' values."""
    return composite(scorers, mode="weighted_mean", weights=weights, name=name)


def all_of(*scorers: SpecLike, name: str = "all_of") -> Composite:
    """Passes when every scorer passes."""
    return composite(scorers, mode="all", name=name)


def any_of(*scorers: SpecLike, name: str = "any_of") -> Composite:
    """Passes when at least one scorer passes."""
    return composite(scorers, mode="any", name=name)
