"""The scorer protocol, the ``@scorer`` decorator and the sample a scorer sees.

A scorer turns one :class:`Sample` (input, output, expected output, context, …) into one or
more :class:`~assay.domain.ScoreCreate`. ``score`` may be sync or async; the engine awaits
whatever is awaitable. Built-ins and plugins register through the same registry.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from assay.domain import ScoreCreate, ScoreDataType, ScoreSource
from assay.domain.scores import infer_data_type
from assay.errors import InvalidInput

ScoreOutput = ScoreCreate | list[ScoreCreate]


@dataclass(slots=True, frozen=True)
class Sample:
    """Everything known about one result when it is scored."""

    input: Any
    output: Any
    expected_output: Any = None
    context: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    item_id: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    cost: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tool_calls: list[Mapping[str, Any]] = field(default_factory=list)
    trace: Any = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    """Extra named values an evaluator's mapping supplies (e.g. a judge rubric's variables)."""


SAMPLE_FIELDS = frozenset(f.name for f in fields(Sample))


@runtime_checkable
class Scorer(Protocol):
    """Anything with a ``name`` and a ``score(sample)`` method (sync or async)."""

    name: str

    def score(self, sample: Sample) -> ScoreOutput | Awaitable[ScoreOutput]: ...


def make_score(
    name: str,
    value: float | bool | str | None,
    *,
    passed: bool | None = None,
    reason: str | None = None,
    data_type: ScoreDataType | None = None,
    metadata: dict[str, Any] | None = None,
) -> ScoreCreate:
    """A score record built without validation (the hot path of every built-in).

    Every field is given, so the record is filled in directly: what ``model_construct`` does,
    without its per-field look-ups of defaults and aliases."""
    score = _new_score(ScoreCreate)
    _set(
        score,
        "__dict__",
        {
            "name": name,
            "value": value,
            "data_type": data_type or infer_data_type(value),
            "passed": passed,
            "reason": reason,
            "source": ScoreSource.evaluator,
            "evaluator_id": None,
            "evaluator_version": None,
            "cost": None,
            "tokens_in": None,
            "tokens_out": None,
            "latency_ms": None,
            "metadata": metadata if metadata is not None else {},
        },
    )
    _set(score, "__pydantic_fields_set__", set(_SCORE_FIELDS))
    _set(score, "__pydantic_extra__", None)
    _set(score, "__pydantic_private__", None)
    return score


_new_score = ScoreCreate.__new__
_set = object.__setattr__
_SCORE_FIELDS = frozenset(ScoreCreate.model_fields)


def as_list(output: ScoreOutput) -> list[ScoreCreate]:
    """One score or several, always as a list."""
    return output if isinstance(output, list) else [output]


#: Who a score came from, for error messages; a callable is asked only when there is an error.
Origin = str | Callable[[], str | None] | None


def normalise(name: str, out: Any, *, origin: Origin = None) -> list[ScoreCreate]:
    """Score records from whatever a scorer returned (scores, numbers, bools, dicts, lists)."""
    if isinstance(out, ScoreCreate):
        return [out]
    if isinstance(out, list) and all(isinstance(s, ScoreCreate) for s in out):
        return out
    return as_list(to_score(name, out, origin=origin))


def _who(name: str, origin: Origin) -> str:
    found = origin() if callable(origin) else origin
    return found or f"scorer {name!r}"


def to_score(
    name: str, value: Any, passed: bool | None = None, *, origin: Origin = None
) -> ScoreOutput:
    """Normalise what a scorer function returned into score records; an error names
    ``origin`` (the user's function) when given, else the scorer."""
    if isinstance(value, ScoreCreate):
        return value
    if isinstance(value, list):
        return [s for v in value for s in as_list(to_score(name, v, origin=origin))]
    if isinstance(value, dict):
        fields = {"name": name, **value}
        if "passed" not in fields and isinstance(fields.get("value"), bool):
            fields["passed"] = fields["value"]
        try:
            return ScoreCreate(**fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "score"
            raise InvalidInput(
                f"{_who(name, origin)} returned an invalid score: {where}: {first['msg']}",
                field="scorer",
            ) from None
    if value is None or isinstance(value, bool | int | float | str):
        if passed is None and isinstance(value, bool):
            passed = value
        return ScoreCreate(name=name, value=value, passed=passed)
    raise InvalidInput(
        f"{_who(name, origin)} returned {type(value).__name__}; expected a number, bool, str, "
        "dict, ScoreCreate or a list of them",
        field="scorer",
    )


def _qualified(fn: Any) -> str:
    """``module.QualName`` of a function (or of a callable's class)."""
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None) or type(fn).__module__
    return f"{module}.{qualname}"


def origin(scorer_: Scorer) -> str | None:
    """The user's code behind a scorer, for error messages: ``function mod.check`` or
    ``scorer class mod.Check``; None for Assay's own scorers, whose errors speak for them."""
    if isinstance(scorer_, FunctionScorer):
        return f"function {_qualified(scorer_.fn)}"
    inner = getattr(scorer_, "inner", None)
    if inner is not None and hasattr(inner, "score"):  # a wrapper: thresholds, renames, …
        return origin(inner)
    kind = type(scorer_)
    if kind.__module__ == "assay" or kind.__module__.startswith("assay."):
        return None
    return f"scorer class {_qualified(kind)}"


class FunctionScorer:
    """Adapts a plain function whose parameters are named after :class:`Sample` fields."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.origin = f"function {_qualified(fn)}"
        params = inspect.signature(fn).parameters
        unknown = [p for p in params if p not in SAMPLE_FIELDS and p != "sample"]
        if unknown:
            raise InvalidInput(
                f"scorer {self.name!r} ({self.origin}) asks for unknown field(s) {unknown}; "
                f"available: sample, {', '.join(sorted(SAMPLE_FIELDS))}",
                field="scorer",
            )
        self._params = list(params)
        self._async = inspect.iscoroutinefunction(fn)

    def _kwargs(self, sample: Sample) -> dict[str, Any]:
        return {p: sample if p == "sample" else getattr(sample, p) for p in self._params}

    def score(self, sample: Sample) -> ScoreOutput | Awaitable[ScoreOutput]:
        if self._async:
            return self._score_async(sample)
        return to_score(self.name, self.fn(**self._kwargs(sample)), origin=self.origin)

    async def _score_async(self, sample: Sample) -> ScoreOutput:
        return to_score(self.name, await self.fn(**self._kwargs(sample)), origin=self.origin)


def scorer(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, register: bool = False
) -> Any:
    """Turn a function into a scorer factory: ``@scorer`` or ``@scorer(name="...")``.

    The function's parameters pick the sample fields it needs (``input``, ``output``,
    ``expected_output``, ``context``, ``metadata``, …, or ``sample`` for all of them). It may be
    sync or async and return a number, bool, string, dict, a score, or a list of them. Calling
    the decorated name returns a :class:`Scorer`, so it is used like a built-in: ``my_check()``
    (``my_check(name="other")`` renames it). With ``register=True`` it is also added to the
    registry under its name, so run configs and saved evaluators can refer to it.
    """

    def wrap(f: Callable[..., Any]) -> Callable[..., FunctionScorer]:
        FunctionScorer(f, name)  # check the signature now, not at the first score

        def factory(*, name: str | None = name) -> FunctionScorer:
            return FunctionScorer(f, name)

        factory.__name__ = f.__name__
        factory.__qualname__ = f.__qualname__
        factory.__doc__ = f.__doc__
        if register:
            from assay.scoring.registry import register as add

            add(name or f.__name__, factory)
        return factory

    return wrap(fn) if fn is not None else wrap


async def run_scorer(scorer_: Scorer, sample: Sample) -> list[ScoreCreate]:
    """Score one sample; a failure inside the scorer becomes a score with value None.

    Scores that do not report their own latency get the scorer's wall time in milliseconds.
    """
    start = time.perf_counter()
    try:
        out = scorer_.score(sample)
        if type(out) is not ScoreCreate and inspect.isawaitable(out):
            out = await out
        scores = normalise(scorer_.name, out, origin=lambda: origin(scorer_))
    except Exception as exc:  # a broken scorer is data on the result, not a crash
        why = str(exc) or type(exc).__name__
        who = origin(scorer_)
        if who is not None and who not in why:  # the user's code raised: say whose, and what
            why = f"{who} raised {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
        scores = [ScoreCreate(name=scorer_.name, value=None, reason=f"scorer error: {why}")]
    elapsed = round((time.perf_counter() - start) * 1000, 3)
    for score in scores:
        if score.latency_ms is None:
            # what ``score.latency_ms = elapsed`` does (no validation on assignment), directly
            score.__dict__["latency_ms"] = elapsed
            score.__pydantic_fields_set__.add("latency_ms")
    return scores
