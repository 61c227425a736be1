"""Variable mapping: an evaluator's variables read from fields of the sample by path.

A path starts at a sample field (``input``, ``output``, ``expected_output``, ``context``,
``metadata``, ``trace``, ``tool_calls``, ``latency_ms``, …) and descends with ``.key``,
``[index]`` (negative counts from the end) or ``["key with spaces"]``::

    input.query   expected_output.answer   context.docs[0]   metadata.category
    trace.observations[-1].output   output["final answer"]

Text that holds JSON is parsed when a path descends into it. A path ending in ``?`` is
optional: a missing value becomes ``None`` instead of an error. Mapped variables named after a
sample field replace that field; any other name lands in ``Sample.variables``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from assay.errors import InvalidInput
from assay.scoring.base import SAMPLE_FIELDS, Sample, ScoreOutput, Scorer
from assay.scoring.values import NotJson, parse_json

_STEP = re.compile(
    r"""\.(?P<key>[^.\[\]"']+)|\[(?P<index>-?\d+)\]|\[(?P<q>["'])(?P<quoted>(?:(?!(?P=q)).)*)(?P=q)\]"""
)
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Step = str | int


class MappingError(InvalidInput):
    """A mapped path cannot be read from a sample."""


@dataclasses.dataclass(frozen=True, slots=True)
class Path:
    """A parsed field path."""

    text: str
    root: str
    steps: tuple[Step, ...]
    optional: bool = False

    @classmethod
    def parse(cls, text: str, *, field: str = "mapping") -> Path:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"{field}: a path must be non-empty text", field=field)
        raw = text.strip()
        optional = raw.endswith("?")
        body = raw[:-1] if optional else raw
        root = _ROOT.match(body)
        if root is None or root.group(0) not in SAMPLE_FIELDS:
            start = root.group(0) if root else body[:20]
            raise InvalidInput(
                f"{field}: path {raw!r} must start with one of "
                f"{', '.join(sorted(SAMPLE_FIELDS))} (not {start!r})",
                field=field,
            )
        steps: list[Step] = []
        pos = root.end()
        while pos < len(body):
            step = _STEP.match(body, pos)
            if step is None:
                raise InvalidInput(
                    f"{field}: cannot read path {raw!r} at character {pos + 1} "
                    f'({body[pos : pos + 10]!r}); use .key, [0] or ["key"]',
                    field=field,
                )
            if step.group("key") is not None:
                steps.append(step.group("key"))
            elif step.group("index") is not None:
                steps.append(int(step.group("index")))
            else:
                steps.append(step.group("quoted"))
            pos = step.end()
        return cls(raw, root.group(0), tuple(steps), optional)

    def resolve(self, sample: Sample) -> Any:
        """The value at this path in ``sample``; :class:`MappingError` names what is missing."""
        value: Any = getattr(sample, self.root)
        where = self.root
        for step in self.steps:
            try:
                value = _descend(value, step, where)
            except MappingError:
                if self.optional:
                    return None
                raise
            where += f"[{step}]" if isinstance(step, int) else f".{step}"
        return value


def _descend(value: Any, step: Step, where: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            value = parse_json(value)
        except NotJson:
            raise MappingError(f"{where} is text, not JSON, so it has no {_show(step)}") from None
    if value is None:
        raise MappingError(f"{where} is empty (null), so it has no {_show(step)}")
    if isinstance(step, int):
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            if -len(value) <= step < len(value):
                return value[step]
            raise MappingError(f"{where} has {len(value)} element(s), no index {step}")
        if isinstance(value, Mapping) and str(step) in value:
            return value[str(step)]
        raise MappingError(f"{where} is {_kind(value)}, not a list, so it has no [{step}]")
    if isinstance(value, Mapping):
        if step in value:
            return value[step]
        keys = ", ".join(sorted(map(str, value))[:10]) or "none"
        raise MappingError(f"{where} has no key {step!r} (keys: {keys})")
    if not step.startswith("_") and hasattr(value, step) and not callable(getattr(value, step)):
        return getattr(value, step)
    raise MappingError(f"{where} is {_kind(value)}, so it has no key {step!r}")


def _show(step: Step) -> str:
    return f"[{step}]" if isinstance(step, int) else f"key {step!r}"


def _kind(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def parse_mapping(mapping: Mapping[str, str] | None) -> dict[str, Path]:
    """Check a mapping ``{variable: path}`` and parse its paths; errors name the variable."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise InvalidInput("mapping must be an object of variable → path", field="mapping")
    parsed: dict[str, Path] = {}
    for variable, path in mapping.items():
        if not isinstance(variable, str) or not _VARIABLE.match(variable):
            raise InvalidInput(
                f"mapping: variable name {variable!r} must be an identifier", field="mapping"
            )
        parsed[variable] = Path.parse(path, field=f"mapping.{variable}")
    return parsed


def apply_mapping(sample: Sample, paths: Mapping[str, Path]) -> Sample:
    """A copy of ``sample`` with mapped fields and variables filled in."""
    fields: dict[str, Any] = {}
    variables: dict[str, Any] = dict(sample.variables)
    for variable, path in paths.items():
        try:
            value = path.resolve(sample)
        except MappingError as exc:
            raise MappingError(
                f"mapping {variable!r} → {path.text!r}: {exc.message}",
                field=f"mapping.{variable}",
            ) from None
        if variable in SAMPLE_FIELDS and variable != "variables":
            fields[variable] = value
        else:
            variables[variable] = value
    if isinstance(fields.get("tool_calls"), Mapping):  # one call mapped on its own
        fields["tool_calls"] = [fields["tool_calls"]]
    return dataclasses.replace(sample, **fields, variables=variables)


class MappedScorer:
    """Runs ``inner`` on the sample as seen through a variable mapping."""

    def __init__(self, inner: Scorer, mapping: Mapping[str, str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.paths = parse_mapping(mapping)

    def score(self, sample: Sample) -> ScoreOutput | Awaitable[ScoreOutput]:
        return self.inner.score(apply_mapping(sample, self.paths))
